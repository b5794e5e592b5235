#!/usr/bin/env bash
# The one test command for sealtrail (CI runs it through .ci/run).
#
# Usage: scripts/test.sh            (from any directory)
#
# Steps, stopping at the first failure:
#   setup      scripts/setup.sh (installs what is missing; fast when done)
#   fmt        cargo fmt --check, plus rustfmt --check on fuzz/fuzz_targets
#   console-build  scripts/build-console.sh: the wasm verifier (wasm32, which
#              also proves sealtrail-core builds for wasm32) and console/dist
#   clippy     all targets, warnings are errors
#   test       cargo nextest (unit, integration, property tests) + doctests
#   console    the web console: unit tests (vitest), the built .wasm under
#              Node (crates/sealtrail-wasm/tests/node), browser tests (Playwright driving Debian's
#              chromium against a real server; console/tests/browser)
#   api-fuzz   schemathesis against /openapi.json on a real server
#              (scripts/api_fuzz.sh, bounded examples, fixed seed)
#   fuzz       optional smoke run, only if SEALTRAIL_FUZZ_SECONDS is set and
#              cargo-fuzz is installed (off by default: it is slow)
#
# Environment:
#   SEALTRAIL_FUZZ_SECONDS=N   run each fuzz target N seconds (scripts/fuzz.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"

START_ALL=$SECONDS
STEP_NAME=""
STEP_START=0
TIMINGS=()

step() {
    end_step
    STEP_NAME="$1"
    STEP_START=$SECONDS
    printf '\n==> %s\n' "$1"
}

end_step() {
    if [[ -n "$STEP_NAME" ]]; then
        TIMINGS+=("$(printf '%-8s %4ds' "$STEP_NAME" $((SECONDS - STEP_START)))")
        STEP_NAME=""
    fi
}

on_exit() {
    local rc=$?
    if [[ $rc -ne 0 && -n "$STEP_NAME" ]]; then
        printf '\n==> FAILED in step: %s (exit %d)\n' "$STEP_NAME" "$rc" >&2
    fi
}
trap on_exit EXIT

locked=()
if [[ -f Cargo.lock ]]; then
    locked=(--locked)
fi

step setup
bash scripts/setup.sh

step fmt
cargo fmt --all -- --check
# The fuzz crate is its own workspace (fuzz/Cargo.toml); check its formatting
# without resolving its dependencies.
shopt -s nullglob
fuzz_sources=(fuzz/fuzz_targets/*.rs)
shopt -u nullglob
if ((${#fuzz_sources[@]})); then
    rustfmt --edition 2021 --check "${fuzz_sources[@]}"
fi

# The console (and the wasm verifier it embeds) is built before the Rust
# tests: the server's asset tests read console/dist, and they fail under
# CI=true when it is missing.
step console-build
bash scripts/build-console.sh

step clippy
cargo clippy --workspace --all-targets "${locked[@]}" -- -D warnings

step test
mkdir -p target
test_log=target/test-output.log
cargo nextest run --workspace "${locked[@]}" --no-fail-fast 2>&1 | tee "$test_log"
# nextest does not run doctests.
cargo test --workspace --doc "${locked[@]}" 2>&1 | tee -a "$test_log"

step console
console_log="$ROOT/target/console-test.log"
(cd console && npx vitest run --reporter=dot) 2>&1 | tee "$console_log"
# The built .wasm itself, through the glue the console bundles (plain Node).
node --test crates/sealtrail-wasm/tests/node/*.test.mjs 2>&1 | tee -a "$console_log"
cargo build -p sealtrail-cli "${locked[@]}"
if [[ -x /usr/bin/chromium ]]; then
    (cd console && SEALTRAIL_BIN="$ROOT/target/debug/sealtrail" npx playwright test) 2>&1 | tee -a "$console_log"
elif [[ "${CI:-}" == true ]]; then
    echo "console: ERROR: /usr/bin/chromium is missing (scripts/setup.sh installs it)" >&2
    exit 1
else
    echo "SKIPPED: console browser tests: /usr/bin/chromium is missing (scripts/setup.sh installs it)"
fi

step api-fuzz
bash scripts/api_fuzz.sh

if [[ -n "${SEALTRAIL_FUZZ_SECONDS:-}" ]]; then
    step fuzz
    if cargo fuzz --version >/dev/null 2>&1; then
        bash scripts/fuzz.sh "$SEALTRAIL_FUZZ_SECONDS"
    else
        echo "SKIPPED: cargo-fuzz is not installed (scripts/fuzz.sh installs it)"
    fi
fi

end_step
printf '\n==> all steps passed in %ds\n' $((SECONDS - START_ALL))
printf '    %s\n' "${TIMINGS[@]}"
# The plain closing line CI reads: every test this run executed (nextest and
# doctests), so the run does not end on a doctest crate that has 0 tests.
passed=$(grep -Eo '[0-9]+ tests run: [0-9]+ passed' "$test_log" | awk '{s+=$4} END {print s+0}')
doc_passed=$(grep -Eo 'test result: ok\. [0-9]+ passed' "$test_log" | awk '{s+=$4} END {print s+0}')
# The console's vitest ("Tests  16 passed") and Playwright ("15 passed") counts.
console_passed=$(sed 's/\x1b\[[0-9;]*m//g' "$ROOT/target/console-test.log" 2>/dev/null |
    grep -Eo '^ *(Tests +)?[0-9]+ passed' | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
# The wasm module's Node tests (TAP: "# pass 6").
node_passed=$(grep -Eo '^# pass [0-9]+' "$ROOT/target/console-test.log" 2>/dev/null | awk '{s+=$3} END {print s+0}')
echo "$((passed + doc_passed + console_passed + node_passed)) passed, 0 failed"
