#!/usr/bin/env bash
# Crash loop at scale: the SIGKILL test (crates/sealtrail-cli/tests/crash.rs)
# with many kills instead of CI's 12. Six writers hammer a real release-built
# `sealtrail serve`; it is SIGKILLed at a random moment (60-460 ms into each
# round), restarted on the same data directory, and killed again, ROUNDS
# times. Then every acknowledged event must be present at its receipt's index
# with its leaf hash, no index acknowledged twice, and fsck must pass.
#
# Usage: bench/crash_loop.sh [ROUNDS]    (default 120)
# Prints the test's summary line: kills, acknowledged events, entries present,
# checkpoints verified, and the time taken.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-120}"
SEALTRAIL_CRASH_ROUNDS="$rounds" cargo test --release --locked -p sealtrail-cli --test crash \
    -- --nocapture 2>&1 | grep -E 'crash test seed|SIGKILLs|test result|panicked|acknowledged'
