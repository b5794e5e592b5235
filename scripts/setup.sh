#!/usr/bin/env bash
# Install what sealtrail needs to build and test. Idempotent: every step checks
# first and does nothing when already satisfied, so a second run takes ~1 s.
#
# Usage: scripts/setup.sh [run|test]
#
#   run    only what running the server needs: the Rust toolchain, the
#          wasm32 target and Node.js/npm (the web console is built into the
#          binary; scripts/run.sh uses this; no PostgreSQL, no test tools)
#   test   (the default) everything the test suite needs: also rustfmt and
#          clippy, cargo-nextest, PostgreSQL, the Python venv with the SDKs
#          and agent frameworks, and Chromium for the console's browser tests
#
# Each concern is one function; scripts/test.sh runs this file first.
# Optional pieces never fail the script: they warn and the step that needs
# them is skipped later (e.g. the wasm32 build).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'setup: %s\n' "$*"; }
warn() { printf 'setup: WARNING: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

# --- Rust toolchain ----------------------------------------------------------

WASM_TARGET=wasm32-unknown-unknown

setup_rust_toolchain() {
    if ! have cargo || ! have rustc; then
        echo "setup: ERROR: cargo/rustc not found; install Rust via https://rustup.rs" >&2
        exit 1
    fi
    # Running needs only cargo and rustc; the lints are for the tests.
    if [ "${1:-test}" = run ]; then
        return 0
    fi
    if ! have rustup; then
        warn "rustup not found; cannot add components or targets, using what is installed"
        return 0
    fi
    # Probe the tools themselves rather than parsing rustup's listing.
    if ! cargo fmt --version >/dev/null 2>&1; then
        log "installing rustup component rustfmt"
        rustup component add rustfmt
    fi
    if ! cargo clippy --version >/dev/null 2>&1; then
        log "installing rustup component clippy"
        rustup component add clippy
    fi
}

setup_wasm_target() {
    if ! have rustup; then
        return 0
    fi
    if rustup target list --installed 2>/dev/null | grep -qx "$WASM_TARGET"; then
        return 0
    fi
    log "installing rustup target ${WASM_TARGET}"
    if ! rustup target add "$WASM_TARGET"; then
        warn "could not install target ${WASM_TARGET}; the wasm build check will be skipped"
    fi
}

# --- Node.js and Chromium (the web console) ------------------------------------
# scripts/build-console.sh builds console/ with npm (Node.js >= 20: Vite,
# React Router and Playwright need it; Debian 13 ships 20, Debian 12 ships 18,
# in which case install a newer one yourself). The browser tests drive
# Debian's chromium through Playwright; Playwright's own browser downloads are
# never used.

NODE_MIN_MAJOR=20

setup_node() {
    if ! have node || ! have npm; then
        log "installing nodejs and npm (apt)"
        pg_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        pg_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null ||
            warn "could not install nodejs/npm: the console cannot be built"
    fi
    if have node; then
        local major
        major=$(node -p 'process.versions.node.split(".")[0]')
        if [ "$major" -lt "$NODE_MIN_MAJOR" ]; then
            warn "Node.js $(node --version) is older than ${NODE_MIN_MAJOR}: the console build will fail; install Node.js ${NODE_MIN_MAJOR} or newer"
        fi
    fi
}

setup_chromium() {
    if have chromium || [ -x /usr/bin/chromium ]; then
        return 0
    fi
    log "installing chromium (apt; the console's browser tests)"
    pg_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    pg_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ||
        warn "could not install chromium: the console's browser tests fail under CI=true and are skipped otherwise"
}

# --- Cargo tools --------------------------------------------------------------

setup_cargo_nextest() {
    if cargo nextest --version >/dev/null 2>&1; then
        return 0
    fi
    log "installing cargo-nextest (one-time, a few minutes)"
    cargo install cargo-nextest --locked
}

# cargo-fuzz is NOT installed here: only scripts/fuzz.sh needs it and it
# installs it itself (scripts/fuzz.sh --install-only does just that).

# --- PostgreSQL (store tests) ---------------------------------------------------
# The PostgreSQL store tests (crates/sealtrail-store/tests) connect to
# "host=/var/run/postgresql user=postgres dbname=test" unless
# SEALTRAIL_TEST_DATABASE_URL says otherwise; they fail when it is unreachable
# (SEALTRAIL_SKIP_POSTGRES=1 skips them). This makes that connection work:
# install, start, create the database, and, as a last resort on a fresh
# install, trust local socket connections of user postgres to database test.
# SEALTRAIL_PG_CLUSTER picks the Debian cluster (default main); PGPORT is
# honoured as by every libpq tool.

PG_SOCKET_DIR=/var/run/postgresql
PG_TEST_DB="test"
PG_TEST_USER="postgres"

pg_test_conn() { echo "host=${PG_SOCKET_DIR} user=${PG_TEST_USER} dbname=${PG_TEST_DB}"; }

# Runs a command as root (directly, or through sudo).
pg_sudo() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif have sudo; then
        sudo "$@"
    else
        echo "setup: ERROR: need root (or sudo) to run: $*" >&2
        return 1
    fi
}

# As the postgres OS user: fresh installs authenticate it by peer.
as_postgres() {
    if [ "$(id -un)" = postgres ]; then
        "$@"
    elif [ "$(id -u)" = 0 ] && have runuser; then
        runuser -u postgres -- "$@"
    elif [ "$(id -u)" = 0 ]; then
        su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    elif have sudo; then
        sudo -u postgres "$@"
    else
        echo "setup: ERROR: need root (or sudo) to run as postgres: $*" >&2
        return 1
    fi
}

pg_test_reachable() { psql "$(pg_test_conn)" -Atqc 'SELECT 1' >/dev/null 2>&1; }

setup_postgres() {
    if [ "${SEALTRAIL_SKIP_POSTGRES:-}" = 1 ]; then
        return 0
    fi
    if [ -n "${SEALTRAIL_TEST_DATABASE_URL:-}" ]; then
        # A server of the caller's choosing: check it, change nothing.
        if ! psql "$SEALTRAIL_TEST_DATABASE_URL" -Atqc 'SELECT 1' >/dev/null 2>&1; then
            warn "SEALTRAIL_TEST_DATABASE_URL is set but unreachable; the PostgreSQL store tests will fail"
        fi
        return 0
    fi
    if pg_test_reachable; then
        return 0
    fi

    if ! have pg_ctlcluster || ! ls /etc/postgresql/*/ >/dev/null 2>&1; then
        log "installing PostgreSQL (apt)"
        pg_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        pg_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    local cluster="${SEALTRAIL_PG_CLUSTER:-main}" version
    # The newest installed major version (directories named 15, 16, …).
    version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)
    if ! pg_isready -q -h "$PG_SOCKET_DIR"; then
        log "starting PostgreSQL ${version}/${cluster}"
        pg_sudo pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start
        local tries=60
        while [ "$tries" -gt 0 ] && ! pg_isready -q -h "$PG_SOCKET_DIR"; do
            tries=$((tries - 1))
            sleep 0.5
        done
        if ! pg_isready -q -h "$PG_SOCKET_DIR"; then
            echo "setup: ERROR: PostgreSQL ${version}/${cluster} did not become ready" >&2
            exit 1
        fi
        if pg_test_reachable; then
            return 0
        fi
    fi

    if [ "$(as_postgres psql -h "$PG_SOCKET_DIR" -d postgres -Atqc \
        "SELECT 1 FROM pg_database WHERE datname = '${PG_TEST_DB}'")" != 1 ]; then
        log "creating database ${PG_TEST_DB}"
        as_postgres createdb -h "$PG_SOCKET_DIR" "$PG_TEST_DB"
    fi
    if pg_test_reachable; then
        return 0
    fi

    # Still refused: a fresh install authenticates by peer (OS user). Trust
    # exactly this user and database on the local socket.
    local hba
    hba=$(as_postgres psql -h "$PG_SOCKET_DIR" -d postgres -Atqc 'SHOW hba_file')
    if ! pg_sudo grep -qx "local ${PG_TEST_DB} ${PG_TEST_USER} trust" "$hba"; then
        log "allowing local socket connections of ${PG_TEST_USER} to ${PG_TEST_DB} (${hba})"
        pg_sudo sed -i "1i local ${PG_TEST_DB} ${PG_TEST_USER} trust" "$hba"
        pg_sudo sed -i "1i # sealtrail scripts/setup.sh: store tests" "$hba"
        as_postgres psql -h "$PG_SOCKET_DIR" -d postgres -Atqc 'SELECT pg_reload_conf()' >/dev/null
    fi
    if ! pg_test_reachable; then
        echo "setup: ERROR: cannot connect with \"$(pg_test_conn)\"; set SEALTRAIL_TEST_DATABASE_URL or SEALTRAIL_SKIP_POSTGRES=1" >&2
        exit 1
    fi
}

# --- Python venv (test fixtures) ----------------------------------------------
# .venv holds requirements-dev.txt (the MCP SDK for the mcp-proxy tests). A
# stamp with the file's hash makes a second run a no-op; the tests look for
# .venv/bin/python (or SEALTRAIL_TEST_PYTHON) and fail in CI without it.

VENV=.venv
VENV_STAMP="${VENV}/.requirements-dev.sha256"

setup_python_venv() {
    local want
    want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
    if [ -x "${VENV}/bin/python" ] && [ "$(cat "$VENV_STAMP" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    if ! have python3 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        log "installing python3 and venv support (apt)"
        pg_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        pg_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
    fi
    if [ ! -x "${VENV}/bin/python" ]; then
        log "creating ${VENV}"
        python3 -m venv "$VENV"
    fi
    log "installing requirements-dev.txt into ${VENV}"
    "${VENV}/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.txt
    echo "$want" >"$VENV_STAMP"
}

main() {
    local mode="${1:-test}"
    case "$mode" in
    run)
        setup_rust_toolchain run
        setup_wasm_target
        setup_node
        log "ok (run)"
        return 0
        ;;
    test) ;;
    *)
        echo "setup: ERROR: unknown mode '$mode'; use 'run' or 'test'" >&2
        exit 2
        ;;
    esac
    setup_rust_toolchain test
    setup_wasm_target
    setup_cargo_nextest
    setup_postgres
    setup_python_venv
    setup_node
    setup_chromium
    python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install -q cryptography || warn "python3 cryptography missing: the independent verifier (verifiers/python) cannot run; SEALTRAIL_SKIP_PYTHON=1 skips its test"
    # The TLS tests (crates/sealtrail-cli/tests/tls.rs) and the bench scripts use curl.
    have curl || pg_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null || warn "curl missing: the TLS tests fail under CI=true"
    log "ok"
}

main "$@"
