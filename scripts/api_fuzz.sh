#!/usr/bin/env bash
# API fuzzing against the server's own OpenAPI document (schemathesis, from
# PyPI, pinned in requirements-dev.txt): a real `sealtrail serve` on a fresh
# data directory, an owner key, a bounded number of generated requests per
# operation. Fails on any server error (5xx other than a 503 with
# Retry-After), any answer outside its documented status codes, content types
# or schema.
#
# Usage: scripts/api_fuzz.sh [--max-examples N] [--seed S] [--bin PATH]
#   --max-examples  generated cases per operation and phase (default 25;
#                   scripts/test.sh uses the default, longer runs go higher)
#   --seed          fixed by default, so CI runs are reproducible
#   --bin           the sealtrail binary (default target/debug/sealtrail,
#                   built if missing)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

max_examples=25
seed=20261206
bin="$root/target/debug/sealtrail"
while [ $# -gt 0 ]; do
    case "$1" in
    --max-examples) max_examples="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "api_fuzz: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

st="${SEALTRAIL_TEST_PYTHON:-$root/.venv/bin/python}"
if ! "$st" -c 'import schemathesis' 2>/dev/null; then
    if [ "${CI:-}" = true ]; then
        echo "api_fuzz: FAILED: schemathesis is not installed in $st (scripts/setup.sh installs it)" >&2
        exit 1
    fi
    echo "SKIPPED: api_fuzz: schemathesis is not installed in $st (run scripts/setup.sh)"
    exit 0
fi
if [ ! -x "$bin" ]; then
    cargo build --locked -p sealtrail-cli >/dev/null
fi

data="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$data"
}
trap cleanup EXIT

key="$("$bin" init --data "$data" --json | "$st" -c 'import json,sys; print(json.load(sys.stdin)["owner_api_key"])')"
# Port 0 is not offered by `serve`; pick a free one from the kernel.
port="$("$st" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$bin" serve --data "$data" --listen "127.0.0.1:$port" --rate-limit 0 --no-audit-reads \
    >"$data/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
# A few events so reads, proofs and tiles have something to serve.
printf '%s\n' \
    '{"id":"fz-1","agent":{"id":"fuzz-bot"},"session":"s-1","kind":"tool_call","tool":{"name":"crm.lookup"},"outcome":"success"}' \
    '{"id":"fz-2","agent":{"id":"fuzz-bot"},"session":"s-1","kind":"decision","action":"refund","outcome":"denied"}' |
    curl -fsS -H "Authorization: Bearer $key" -H 'Content-Type: application/x-ndjson' \
        --data-binary @- "http://127.0.0.1:$port/v1/events?wait=checkpoint" >/dev/null

# A key may demote, rotate or revoke itself; fuzzing those on the run's own
# key would leave every later request a 401 or 403 and test nothing. So they
# run last, each on a key of its own.
self_changes=("PATCH /v1/keys/{id}" "DELETE /v1/keys/{id}" "POST /v1/keys/{id}/rotate")
excludes=()
for op in "${self_changes[@]}"; do excludes+=(--exclude-name "$op"); done

fuzz() {
    local bearer="$1"
    shift
    "$(dirname "$st")/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
        -H "Authorization: Bearer $bearer" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --max-examples "$max_examples" --seed "$seed" --workers 1 \
        --continue-on-failure --no-color "$@"
}

new_owner_key() {
    curl -fsS -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d "{\"name\":\"api-fuzz-$1\",\"role\":\"owner\"}" "http://127.0.0.1:$port/v1/keys" |
        "$st" -c 'import json,sys; print(json.load(sys.stdin)["key"])'
}

set +e
rc=0
fuzz "$key" "${excludes[@]}" || rc=1
n=0
for op in "${self_changes[@]}"; do
    n=$((n + 1))
    fuzz "$(new_owner_key "$n")" --include-name "$op" || rc=1
done
# Agent keys: session tokens are minted from them, and their events are
# checked against the agent they are bound to.
agent_key="$(curl -fsS -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d '{"name":"api-fuzz-agent","role":"agent","agent":"fuzz-bot"}' "http://127.0.0.1:$port/v1/keys" |
    "$st" -c 'import json,sys; print(json.load(sys.stdin)["key"])')"
fuzz "$agent_key" --include-name "POST /v1/tokens" --include-name "POST /v1/events" \
    --include-name "POST /v1/traces" || rc=1
set -e
if grep -q 'panicked' "$data/server.log"; then
    echo "api_fuzz: the server panicked:" >&2
    grep -A5 'panicked' "$data/server.log" >&2
    rc=1
fi
exit "$rc"
