# Shared by the bench scripts: build the release binary, run a fresh server
# on a throwaway data directory, stop it, clean up on exit.
# Needs: root, port set by the caller. Sets: bin, data, key, server_pid.
# NEW_BIN: a binary built already (the tree's, copied aside): no rebuild.
if [ -n "${NEW_BIN:-}" ]; then
    bin="$NEW_BIN"
else
    cargo build --release --locked -p sealtrail-cli >/dev/null
    bin="$root/target/release/sealtrail"
fi
data="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$data"
}
trap cleanup EXIT

# start_server [serve flags…]: a new log each time.
start_server() {
    rm -rf "${data:?}"/*
    key="$("$bin" init --data "$data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["owner_api_key"])')"
    serve_data "$@"
}

# serve_data [serve flags…]: $bin serves the log already in $data.
serve_data() {
    "$bin" serve --rate-limit 0 --no-audit-reads --data "$data" --listen "127.0.0.1:$port" "$@" >/dev/null 2>&1 &
    server_pid=$!
    for _ in $(seq 50); do
        curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && return 0
        sleep 0.1
    done
    echo "server did not start" >&2
    exit 1
}

stop_server() {
    kill "$server_pid" && wait "$server_pid" || true
    server_pid=""
}
