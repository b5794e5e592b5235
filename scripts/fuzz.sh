#!/usr/bin/env bash
# Fuzz sealtrail's parsers and redaction with cargo-fuzz (libFuzzer), on
# the stable toolchain. See docs/fuzzing.md.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#        scripts/fuzz.sh --install-only
#
#   SECONDS_PER_TARGET  default 60
#   TARGET              default: every target in fuzz/fuzz_targets
#
# Environment:
#   SEALTRAIL_FUZZ_SANITIZER  address (default) or none. `address` builds with
#                             -Zsanitizer=address, which stable rustc only
#                             accepts with RUSTC_BOOTSTRAP=1 (set below).
#   SEALTRAIL_FUZZ_JOBS       libFuzzer -fork=N workers per target (default 1)
#
# Crashes are written to fuzz/artifacts/<target>/; the script exits non-zero on
# the first target that fails. The corpus grows under fuzz/corpus/<target>/
# (git-ignored); the seeds written below are re-created on every run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

install_cargo_fuzz() {
    if cargo fuzz --version >/dev/null 2>&1; then
        return 0
    fi
    echo "fuzz: installing cargo-fuzz (one-time, under a minute)"
    cargo install cargo-fuzz --locked
}

if [[ "${1:-}" == "--install-only" ]]; then
    install_cargo_fuzz
    exit 0
fi

SECONDS_PER_TARGET="${1:-60}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
fi
shift $(($# > 0 ? 1 : 0))

SANITIZER="${SEALTRAIL_FUZZ_SANITIZER:-address}"
JOBS="${SEALTRAIL_FUZZ_JOBS:-1}"

# cargo-fuzz passes -Z flags (e.g. -Zsanitizer=address) that stable rustc
# rejects unless it is told to behave like nightly. Only this process tree sees
# the variable; the normal build and tests never use it.
export RUSTC_BOOTSTRAP=1

install_cargo_fuzz

if (($# > 0)); then
    targets=("$@")
else
    targets=()
    for f in fuzz/fuzz_targets/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi

# --- Seed corpus ---------------------------------------------------------------
# A few valid inputs per target so libFuzzer starts inside the grammar. Written
# with printf so no binary files live in git. Names are fixed, so re-running
# overwrites the seeds and leaves what libFuzzer added alone.

seed() { # seed TARGET NAME FORMAT [ARGS...]
    local dir="fuzz/corpus/$1" name="$2"
    shift 2
    mkdir -p "$dir"
    # shellcheck disable=SC2059 # the format string is the point
    printf "$@" >"$dir/seed-$name"
}

EM_DASH='\342\200\224' # U+2014, the signature-line prefix of C2SP signed notes
# C2SP signed-note example (verifies with example.com/foo+d8d7a8a7+AUc...).
NOTE_SIG='example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM='
# Syntactically valid signature lines (4-byte key id + 64-byte Ed25519 sig);
# they do not verify, which the parsers must not care about.
SIG_A='obLD1HZy+Ydx8D+P+WkSRlKkm5So4s1jEukT0i33mtLWU5Zh/V4ru0LvQXYeKdEGtOhCW0V8gIH7v17QeSJ5Y6qn1bU='
SIG_B='C63wDVRWnaDpNQJV/haUp2D1/tzTCjT4uDd25WvYIJBTxZcCYA3NGCGG0BBWm56uC/uki2unEt14zTbCe728RvmXEd8='
ROOT0='47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=' # SHA-256 of "" (empty tree)
ROOT1='bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=' # RFC 6962 leaf hash of ""
H1='gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ='
H2='B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA='
H3='EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs='

write_seeds() {
    # note: C2SP signed notes.
    seed note c2sp-example "This is an example message.\n\n${EM_DASH} %s\n" "$NOTE_SIG"
    seed note two-sigs "hello\nworld\n\n${EM_DASH} a.example %s\n${EM_DASH} b.example %s\n" \
        "$SIG_A" "$SIG_B"
    seed note checkpoint "example.com/log\n1\n%s\n\n${EM_DASH} example.com/log %s\n" \
        "$ROOT1" "$SIG_A"

    # checkpoint: tlog-checkpoint bodies (the note text).
    seed checkpoint empty-tree "example.com/log\n0\n%s\n" "$ROOT0"
    seed checkpoint one-leaf "example.com/log\n1\n%s\n" "$ROOT1"
    seed checkpoint extension "example.com/behind-the-sofa\n20852163\n%s\nextension line\n" "$H1"
    seed checkpoint signed "example.com/log\n1\n%s\n\n${EM_DASH} example.com/log %s\n" \
        "$ROOT1" "$SIG_A"

    # tlog_proof: c2sp.org/tlog-proof@v1.
    seed tlog_proof minimal "c2sp.org/tlog-proof@v1\nindex 0\n\nexample.com/log\n1\n%s\n\n${EM_DASH} example.com/log %s\n" \
        "$ROOT1" "$SIG_A"
    seed tlog_proof extra "c2sp.org/tlog-proof@v1\nextra aGVsbG8=\nindex 5\n%s\n%s\n%s\n\nexample.com/log\n8\n%s\n\n${EM_DASH} example.com/log %s\n${EM_DASH} witness.example %s\n" \
        "$H1" "$H2" "$H3" "$ROOT0" "$SIG_A" "$SIG_B"

    # event: sealtrail events (JSON).
    seed event minimal '{"agent":{"id":"a"},"kind":"tool_call"}'
    seed event full '%s' '{"id":"0190d6b4-7c4e-7a1b-9c2d-3e4f5a6b7c8d","agent":{"id":"billing-bot","name":"Billing","version":"1.2.0","instance":"i-1"},"session":"s-42","parent":"0190d6b4-7c4e-7a1b-9c2d-3e4f5a6b7c8c","seq":7,"kind":"tool_call","action":"refund","resource":"invoice/981","outcome":"success","principal":"alice@example.com","subjects":["cust-17"],"data_classes":["pii","financial"],"tool":{"name":"stripe.refund","call_id":"c1","arguments":{"amount":12.5,"currency":"EUR"},"result":{"ok":true}},"occurred_at":"2025-01-02T03:04:05.678Z","attributes":{"x":1e21,"y":-0.0,"z":"\u00e9\ud83d\ude00","n":null}}'
    seed event model-call '%s' '{"agent":{"id":"a"},"kind":"model_call","model":{"provider":"openai","name":"gpt-4o","input_tokens":120,"output_tokens":30,"cost":0.0012},"input":"hi","output":"hello"}'
    seed header minimal '%s' '{"agent":"a","body":"0000000000000000000000000000000000000000000000000000000000000000","index":0,"kind":"tool_call","streams":{"agent":{"n":1}},"time":1,"v":1}'
    seed header linked '%s' '{"agent":"a","body":"0000000000000000000000000000000000000000000000000000000000000000","index":5,"kind":"decision","prev":"1111111111111111111111111111111111111111111111111111111111111111","seq":3,"seq_gap":{"expected":2,"got":3},"session":"s","streams":{"agent":{"n":2,"prev":1},"session":{"n":1}},"time":9,"v":1}'
    seed tiles path 'tile/0/x001/x234/067.p/5'
    seed tiles entries 'tile/entries/x001/002'
    seed keys vkey 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k'
    seed keys skey 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'
    seed registry record '\146%s%b' '{"id":"bot","status":"active","scope":{"tools":["crm.*"],"actions":["lookup"],"data_classes":["pii"]}}' 'crm.lookup\0lookup\0crm:customer/1\0pii'
    seed event review '%s' '{"agent":{"id":"a"},"kind":"human_review","review":{"reviewer":"bob","decision":"approve","reason":"ok"},"change":{"target":"cfg","before":{"a":1},"after":{"a":2},"approved_by":"bob"}}'

    # tile_path: tile names, then NUL and 27 bytes of raw numbers (level 1,
    # index 5, width 256, tree size 70000, hash index 300).
    seed tile_path partial 'tile/0/x001/x234/067.p/5'
    seed tile_path entries 'tile/entries/x001/002'
    seed tile_path numbers 'tile/1/000\000\001\000\000\000\000\000\000\000\005\001\000\000\000\000\000\000\001\021\160\000\000\000\000\000\000\001\054'
    seed tile_path overflow 'tile/0/x018/x446/x744/x073/x709/x551/615'

    # mcp_jsonrpc: messages split by \377; the first byte of each: 0 client,
    # 1 server, 2 HTTP body, 3 denied, 4 end of exchange; +8 a session;
    # +16 per exchange number.
    seed mcp_jsonrpc call '\000%s\377\001%s' \
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1}}}' \
        '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"2"}]}}'
    seed mcp_jsonrpc session '\010%s\377\011%s\377\010%s' \
        '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}' \
        '{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","serverInfo":{"name":"s"}}}' \
        '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":0}}'
    seed mcp_jsonrpc http '\020%s\377\022%s\377\024' \
        '[{"jsonrpc":"2.0","id":"a","method":"resources/read","params":{"uri":"x"}},{"jsonrpc":"2.0","method":"ping"}]' \
        '{"jsonrpc":"2.0","id":"a","error":{"code":-32602,"message":"no"}}'
    seed mcp_jsonrpc denied '\003%s' \
        '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"rm","name":"add"}}'

    # mcp_sse: cut count, cut offsets (/256 of the stream), the stream.
    seed mcp_sse answer '\002\100\200%b' \
        'event: message\r\nid: 1\r\ndata: {"jsonrpc":"2.0","id":1,\r\ndata: "result":{"isError":true}}\r\n\r\n: keep-alive\n\ndata: {"jsonrpc":"2.0","method":"notifications/progress"}\n\n'
    seed mcp_sse cr '\001\200%b' 'data: a\r\rdata: b\r\n\r\ndata: tail'

    # bundle: small real bundles of a synthetic log (a ZIP, and bare
    # members), built by sealtrail-core rather than kept as binaries in git.
    # Outside this script's RUSTC_BOOTSTRAP, so the main build is not redone.
    env -u RUSTC_BOOTSTRAP cargo run --quiet --locked -p sealtrail-core --features zip \
        --example bundle_seeds -- fuzz/corpus/bundle

    # pii_redact: text with entities next to machine identifiers.
    seed pii_redact contact '%s' 'call +49 30 1234-5678 or (030) 1234 5678, mail jane.doe@example.org'
    seed pii_redact card-and-ids '%s' 'card 4111 1111 1111 1111 12/28 for order 05318337-9945-468c-adf5-b1343fcfdbdf, build 1.2.3+4930123456'
    seed pii_redact tokens '%s' 'arn:aws:iam::017646889706:role/x on fe80::1ff:fe23:4567:890a%%eth0, IBAN DE89 3704 0044 0532 0130 00, SSN 536-22-5486'
    seed pii_redact secrets '%s' 'password: hunter2XYZ! api_key=sk-ant-api03-Zq8vN3kR7tW2yB5mL9pX4cJ6hF1dG0sA born 1985-07-30'
    seed pii_redact bare '%s' '4532015112830366'

    # otlp: ExportTraceServiceRequest, protobuf (octal escapes) and OTLP/JSON.
    # A GenAI chat span and an execute_tool child (attributes, an array
    # value, an event, a link, an error status) under one resource and scope:
    seed otlp proto-genai '\012\320\002\012\037\012\035\012\014\163\145\162\166\151\143\145\056\156\141\155\145\022\015\012\013\142\151\154\154\151\156\147\055\142\157\164\022\254\002\012\012\012\003\154\151\142\022\003\061\056\060\022\171\012\020\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020\022\010\001\002\003\004\005\006\007\010\052\013\143\150\141\164\040\147\160\164\055\064\157\060\003\071\000\110\131\343\372\353\157\025\101\000\022\364\036\373\353\157\025\112\031\012\015\147\145\156\137\141\151\056\163\171\163\164\145\155\022\010\012\006\157\160\145\156\141\151\112\037\012\025\147\145\156\137\141\151\056\157\160\145\162\141\164\151\157\156\056\156\141\155\145\022\006\012\004\143\150\141\164\022\242\001\012\020\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020\022\010\011\012\013\014\015\016\017\020\042\010\001\002\003\004\005\006\007\010\052\023\145\170\145\143\165\164\145\137\164\157\157\154\040\154\157\157\153\165\160\112\040\012\020\147\145\156\137\141\151\056\164\157\157\154\056\156\141\155\145\022\014\012\012\143\162\155\056\154\157\157\153\165\160\112\013\012\001\156\022\006\052\004\012\002\030\007\132\016\022\002\145\166\032\010\012\001\153\022\003\012\001\166\152\034\012\020\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\022\010\000\000\000\000\000\000\000\000\172\010\022\004\142\157\157\155\030\002'
    seed otlp proto-empty-spans '\012\010\022\006\022\000\022\000\022\000'
    seed otlp proto-group '\243\006\010\001\244\006\012\004\022\002\022\000'
    seed otlp json-span '%s' '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"bot"}}]},"scopeSpans":[{"scope":{"name":"lib"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"chat","kind":3,"startTimeUnixNano":"1544712660000000000","attributes":[{"key":"gen_ai.system","value":{"stringValue":"openai"}},{"key":"n","value":{"arrayValue":{"values":[{"intValue":"3"},{"kvlistValue":{"values":[{"key":"a","value":{"boolValue":true}}]}}]}}}],"events":[{"name":"e","attributes":[]}],"status":{"code":2,"message":"boom"}}]}]}]}'
}

write_seeds

for target in "${targets[@]}"; do
    if [[ ! -f "fuzz/fuzz_targets/${target}.rs" ]]; then
        echo "fuzz: no such target: ${target}" >&2
        exit 2
    fi
done

# With no target named, build them all in one cargo invocation up front;
# `cargo fuzz run` below then only checks freshness (and builds a named one).
if (($# == 0)); then
    printf '==> build all fuzz targets (sanitizer: %s)\n' "$SANITIZER"
    (cd fuzz && cargo fuzz build -s "$SANITIZER")
fi

for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/${target}" "fuzz/artifacts/${target}"
    printf '\n==> fuzz %s for %ss (sanitizer: %s)\n' "$target" "$SECONDS_PER_TARGET" "$SANITIZER"
    fork=()
    if ((JOBS > 1)); then
        fork=("-fork=${JOBS}")
    fi
    if ! (cd fuzz && cargo fuzz run -s "$SANITIZER" "$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -timeout=10 \
        -print_final_stats=1 "${fork[@]}"); then
        echo "fuzz: target ${target} FAILED; reproduce with:" >&2
        echo "  cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s ${SANITIZER} ${target} artifacts/${target}/<crash-file>" >&2
        exit 1
    fi
done

echo "fuzz: all targets ran ${SECONDS_PER_TARGET}s without a failure"
