#!/usr/bin/env bash
# Install what sealtrail needs to build and test. Idempotent: every step checks
# first and does nothing when already satisfied, so a second run takes ~1 s.
#
# Usage: scripts/setup.sh
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

# --- Services (later) ----------------------------------------------------------
# Room for: setup_postgres (start a local PostgreSQL for the store tests),
# setup_python_venv (.venv for the Python SDK and conformance tools).

main() {
    setup_rust_toolchain
    setup_wasm_target
    setup_cargo_nextest
    log "ok"
}

main "$@"
