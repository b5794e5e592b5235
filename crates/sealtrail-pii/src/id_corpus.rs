//! A deterministic corpus of machine identifiers: what agents put in event
//! ids, sessions, trace fields, tool arguments and results. None of them is
//! personal data, so the scanner must report nothing on any of them (issue
//! 14: an audit trail never refuses or hashes an event because of its own
//! identifiers).
//!
//! Used by `tests/identifiers.rs` (a bounded sample in CI),
//! `examples/id_corpus.rs` (the full benchmark, false positives per kind)
//! and the server's redaction tests, through the `id-corpus` feature (test
//! data, so off in every build that ships); it uses nothing else of the
//! crate, so the scanner cannot shape its own test data.

/// SplitMix64: small, fast, and the same sequence on every platform, so a
/// seed names a corpus exactly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (the modulo bias is irrelevant for a corpus).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as u64) as usize]
    }

    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        out
    }

    /// `n` characters drawn from `alphabet`.
    pub fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n).map(|_| *self.pick(alphabet) as char).collect()
    }

    pub fn digits(&mut self, n: usize) -> String {
        self.chars(DIGITS, n)
    }

    pub fn hex(&mut self, n: usize) -> String {
        self.chars(HEX, n)
    }
}

const DIGITS: &[u8] = b"0123456789";
const HEX: &[u8] = b"0123456789abcdef";
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const NANOID: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-";
/// Kubernetes' `rand.String` alphabet (no vowels, no 0/1/3 lookalikes).
const K8S_SUFFIX: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Milliseconds since the epoch between 2015 and 2030: the timestamps that
/// time-ordered ids (UUIDv7, ULID, snowflakes) carry today.
fn recent_ms(r: &mut Rng) -> u64 {
    r.range(1_420_070_400_000, 1_893_456_000_000)
}

fn uuid_text(b: [u8; 16]) -> String {
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn uuid_v4(r: &mut Rng) -> String {
    let mut b: [u8; 16] = r.bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_text(b)
}

fn uuid_v4_upper(r: &mut Rng) -> String {
    uuid_v4(r).to_ascii_uppercase()
}

fn uuid_v7(r: &mut Rng) -> String {
    let mut b: [u8; 16] = r.bytes();
    b[..6].copy_from_slice(&recent_ms(r).to_be_bytes()[2..]);
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_text(b)
}

fn ulid(r: &mut Rng) -> String {
    let time = recent_ms(r);
    let mut s: String = (0..10)
        .rev()
        .map(|k| CROCKFORD[((time >> (5 * k)) & 31) as usize] as char)
        .collect();
    s.push_str(&r.chars(CROCKFORD, 16));
    s
}

fn sha1(r: &mut Rng) -> String {
    r.hex(40)
}

fn sha256(r: &mut Rng) -> String {
    r.hex(64)
}

fn image_digest(r: &mut Rng) -> String {
    let repo = r.pick(&[
        "ghcr.io/acme/agent",
        "registry.k8s.io/pause",
        "docker.io/library/redis",
    ]);
    format!("{repo}@sha256:{}", r.hex(64))
}

fn git_short_sha(r: &mut Rng) -> String {
    let n = r.range(7, 13) as usize;
    r.hex(n)
}

fn trace_id(r: &mut Rng) -> String {
    r.hex(32)
}

fn span_id(r: &mut Rng) -> String {
    r.hex(16)
}

fn traceparent(r: &mut Rng) -> String {
    format!("00-{}-{}-0{}", r.hex(32), r.hex(16), r.range(0, 2))
}

fn unix_s(r: &mut Rng) -> String {
    (recent_ms(r) / 1000).to_string()
}

fn unix_ms(r: &mut Rng) -> String {
    recent_ms(r).to_string()
}

fn unix_ns(r: &mut Rng) -> String {
    format!("{}{}", recent_ms(r), r.digits(6))
}

/// Slack message timestamps: seconds and microseconds.
fn slack_ts(r: &mut Rng) -> String {
    format!("{}.{}", recent_ms(r) / 1000, r.digits(6))
}

fn rfc3339(r: &mut Rng) -> String {
    let y = r.range(2015, 2031);
    let (mo, d) = (r.range(1, 13), r.range(1, 29));
    let (h, mi, s) = (r.range(0, 24), r.range(0, 60), r.range(0, 60));
    let frac = match r.range(0, 4) {
        0 => String::new(),
        1 => format!(".{}", r.digits(3)),
        2 => format!(".{}", r.digits(6)),
        _ => format!(".{}", r.digits(9)),
    };
    let zone = match r.range(0, 4) {
        0 | 1 => "Z".to_string(),
        2 => format!("+{:02}:{}", r.range(0, 15), r.pick(&["00", "30", "45"])),
        _ => format!("-{:02}:00", r.range(1, 12)),
    };
    let t = *r.pick(&["T", "T", "t", " "]);
    format!("{y:04}-{mo:02}-{d:02}{t}{h:02}:{mi:02}:{s:02}{frac}{zone}")
}

fn order_number(r: &mut Rng) -> String {
    match r.range(0, 6) {
        0 => format!("ORD-{}-{}", r.range(2015, 2031), r.digits(6)),
        // Amazon: 3-7-7 digits.
        1 => format!("{}-{}-{}", r.range(100, 1000), r.digits(7), r.digits(7)),
        2 => format!("INV-{}", r.digits(8)),
        3 => format!("PO-45{}", r.digits(8)),
        4 => format!("#{}", r.range(1_000, 100_000_000)),
        _ => format!("SO{}-{}", r.digits(6), r.digits(4)),
    }
}

fn semver_build(r: &mut Rng) -> String {
    let v = format!("{}.{}.{}", r.range(0, 20), r.range(0, 40), r.range(0, 100));
    match r.range(0, 5) {
        0 => format!("{v}+{}", r.range(1, 10_000_000_000)),
        1 => format!("{v}+build.{}", r.range(1, 100_000_000)),
        2 => format!("{v}-rc.{}+{}", r.range(1, 9), r.digits(9)),
        3 => format!(
            "{v}+{}.{}",
            r.range(2015, 2031) * 10_000 + r.range(101, 1232),
            r.hex(7)
        ),
        _ => format!("{v}-{}+sha.{}", r.digits(8), r.hex(12)),
    }
}

/// Deployment pods (`<name>-<replicaset hash>-<5>`), CronJob pods (the job
/// name carries the schedule time in minutes) and StatefulSet pods.
fn k8s_pod(r: &mut Rng) -> String {
    let app = r.pick(&[
        "billing-api",
        "agent-runner",
        "web",
        "mcp-proxy-gw",
        "llm-router",
    ]);
    match r.range(0, 4) {
        0 | 1 => {
            let hash_len = r.range(8, 11) as usize;
            format!(
                "{app}-{}-{}",
                r.chars(K8S_SUFFIX, hash_len),
                r.chars(K8S_SUFFIX, 5)
            )
        }
        2 => format!("{app}-{}-{}", recent_ms(r) / 60_000, r.chars(K8S_SUFFIX, 5)),
        _ => format!("{app}-{}", r.range(0, 64)),
    }
}

fn ipv6_link_local_zone(r: &mut Rng) -> String {
    let g: Vec<String> = (0..4)
        .map(|_| format!("{:x}", r.range(0, 0x10000)))
        .collect();
    let zone = r.pick(&[
        "eth0",
        "en0",
        "wlan0",
        "ens5",
        "1",
        "12",
        "lo0",
        "enp0s31f6",
    ]);
    format!("fe80::{}%{zone}", g.join(":"))
}

/// Stripe object ids: a type prefix and a base62 body.
fn stripe_id(r: &mut Rng) -> String {
    let prefix = r.pick(&[
        "ch", "cus", "pi", "in", "txn", "sub", "pm", "evt", "re", "acct",
    ]);
    let n = r.range(14, 25) as usize;
    format!("{prefix}_{}", r.chars(BASE62, n))
}

fn aws_arn(r: &mut Rng) -> String {
    let account = r.digits(12);
    let region = r.pick(&["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"]);
    match r.range(0, 4) {
        0 => format!("arn:aws:iam::{account}:role/agent-{}", r.range(1, 100)),
        1 => format!(
            "arn:aws:lambda:{region}:{account}:function:tool-{}",
            r.hex(6)
        ),
        2 => format!("arn:aws:sqs:{region}:{account}:events-{}", r.range(1, 1000)),
        _ => format!(
            "arn:aws:ecs:{region}:{account}:task/cluster-1/{}",
            r.hex(32)
        ),
    }
}

fn aws_resource_id(r: &mut Rng) -> String {
    let prefix = r.pick(&["i", "vol", "sg", "subnet", "vpc", "ami", "eni", "snap"]);
    format!("{prefix}-{}", r.hex(17))
}

fn mongo_object_id(r: &mut Rng) -> String {
    format!("{:08x}{}", recent_ms(r) / 1000, r.hex(16))
}

fn nanoid(r: &mut Rng) -> String {
    r.chars(NANOID, 21)
}

/// Twitter/Discord-style 64-bit snowflakes (time in the high bits).
fn snowflake(r: &mut Rng) -> String {
    let epoch = *r.pick(&[1_288_834_974_657u64, 1_420_070_400_000]);
    let t = recent_ms(r).saturating_sub(epoch);
    ((t << 22) | r.range(0, 1 << 22)).to_string()
}

/// Ids of model providers' objects: completions, messages, tool calls.
fn llm_id(r: &mut Rng) -> String {
    match r.range(0, 5) {
        0 => format!("chatcmpl-{}", r.chars(BASE62, 29)),
        1 => format!("call_{}", r.chars(BASE62, 24)),
        2 => format!("msg_01{}", r.chars(BASE62, 22)),
        3 => format!("toolu_01{}", r.chars(BASE62, 22)),
        _ => format!("resp_{}", r.hex(48)),
    }
}

fn cloud_hostname(r: &mut Rng) -> String {
    match r.range(0, 3) {
        0 => format!(
            "ip-10-{}-{}-{}.eu-west-1.compute.internal",
            r.range(0, 256),
            r.range(0, 256),
            r.range(1, 255)
        ),
        1 => format!("gke-prod-pool-1-{}-{}", r.hex(8), r.chars(K8S_SUFFIX, 4)),
        _ => format!("runner-{}-project-{}-concurrent-0", r.hex(8), r.digits(8)),
    }
}

/// Azure resource ids: a subscription GUID and a resource path.
fn azure_resource_id(r: &mut Rng) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/rg-agents-{}/providers/Microsoft.Web/sites/app-{}",
        uuid_v4(r),
        r.range(1, 100),
        r.hex(6)
    )
}

/// CI and build numbers as tools print them.
fn build_ref(r: &mut Rng) -> String {
    match r.range(0, 4) {
        0 => format!(
            "{}.{}",
            r.range(2015, 2031) * 10_000 + r.range(101, 1232),
            r.range(1, 100)
        ),
        1 => format!("run-{}-attempt-{}", r.digits(10), r.range(1, 4)),
        2 => format!("job/{}/{}", r.digits(9), r.range(1, 30)),
        _ => format!("v{}-{}-g{}", r.range(1, 9), r.range(1, 500), r.hex(7)),
    }
}

/// Database serial ids: 6 to 11 digits (11 is the length of a PESEL).
fn db_serial(r: &mut Rng) -> String {
    let n = r.range(6, 12) as usize;
    format!("{}{}", r.range(1, 10), r.digits(n - 1))
}

/// Ids in URL paths and query strings (Shopify's 13-digit ids are in the
/// range of 13-digit Visa numbers).
fn url_with_ids(r: &mut Rng) -> String {
    let big = format!("{}{}", r.range(4, 8), r.digits(12));
    match r.range(0, 4) {
        0 => format!("https://shop.example.net/admin/api/2024-10/orders/{big}.json"),
        1 => format!("gid://shopify/Order/{big}"),
        2 => format!(
            "/v2/users/{}/orders?order_id={big}&page={}",
            r.digits(10),
            r.range(1, 20)
        ),
        _ => format!(
            "https://api.example.net/v1/invoices/{big}/lines/{}",
            r.range(1, 50)
        ),
    }
}

/// One kind of machine identifier.
pub struct Kind {
    pub name: &'static str,
    pub generate: fn(&mut Rng) -> String,
    /// The JSON member name such an id usually sits under.
    pub key: &'static str,
}

pub const KINDS: &[Kind] = &[
    Kind {
        name: "uuid_v4",
        generate: uuid_v4,
        key: "request_id",
    },
    Kind {
        name: "uuid_v4_upper",
        generate: uuid_v4_upper,
        key: "correlationId",
    },
    Kind {
        name: "uuid_v7",
        generate: uuid_v7,
        key: "event_id",
    },
    Kind {
        name: "ulid",
        generate: ulid,
        key: "run_id",
    },
    Kind {
        name: "sha1_hex",
        generate: sha1,
        key: "commit",
    },
    Kind {
        name: "sha256_hex",
        generate: sha256,
        key: "checksum",
    },
    Kind {
        name: "image_digest",
        generate: image_digest,
        key: "image",
    },
    Kind {
        name: "git_short_sha",
        generate: git_short_sha,
        key: "revision",
    },
    Kind {
        name: "trace_id",
        generate: trace_id,
        key: "trace_id",
    },
    Kind {
        name: "span_id",
        generate: span_id,
        key: "span_id",
    },
    Kind {
        name: "traceparent",
        generate: traceparent,
        key: "traceparent",
    },
    Kind {
        name: "unix_s",
        generate: unix_s,
        key: "ts",
    },
    Kind {
        name: "unix_ms",
        generate: unix_ms,
        key: "timestamp_ms",
    },
    Kind {
        name: "unix_ns",
        generate: unix_ns,
        key: "time_unix_nano",
    },
    Kind {
        name: "slack_ts",
        generate: slack_ts,
        key: "thread_ts",
    },
    Kind {
        name: "rfc3339",
        generate: rfc3339,
        key: "created_at",
    },
    Kind {
        name: "order_number",
        generate: order_number,
        key: "order",
    },
    Kind {
        name: "semver_build",
        generate: semver_build,
        key: "version",
    },
    Kind {
        name: "k8s_pod",
        generate: k8s_pod,
        key: "pod",
    },
    Kind {
        name: "ipv6_link_local_zone",
        generate: ipv6_link_local_zone,
        key: "bind",
    },
    Kind {
        name: "stripe_id",
        generate: stripe_id,
        key: "object",
    },
    Kind {
        name: "aws_arn",
        generate: aws_arn,
        key: "resource_arn",
    },
    Kind {
        name: "aws_resource_id",
        generate: aws_resource_id,
        key: "resource",
    },
    Kind {
        name: "mongo_object_id",
        generate: mongo_object_id,
        key: "_id",
    },
    Kind {
        name: "nanoid",
        generate: nanoid,
        key: "short_id",
    },
    Kind {
        name: "snowflake",
        generate: snowflake,
        key: "message_id",
    },
    Kind {
        name: "llm_object_id",
        generate: llm_id,
        key: "response_id",
    },
    Kind {
        name: "cloud_hostname",
        generate: cloud_hostname,
        key: "node",
    },
    Kind {
        name: "azure_resource_id",
        generate: azure_resource_id,
        key: "scope",
    },
    Kind {
        name: "build_ref",
        generate: build_ref,
        key: "build",
    },
    Kind {
        name: "db_serial",
        generate: db_serial,
        key: "customer_id",
    },
    Kind {
        name: "url_with_ids",
        generate: url_with_ids,
        key: "url",
    },
];

/// `per_kind` identifiers of every kind, kind by kind; each kind draws from
/// its own stream (seed and kind index), so adding a kind or changing
/// `per_kind` leaves the others' first identifiers unchanged.
pub fn corpus(seed: u64, per_kind: usize) -> impl Iterator<Item = (&'static Kind, String)> {
    KINDS.iter().enumerate().flat_map(move |(k, kind)| {
        let mut rng = Rng::new(seed ^ (k as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F));
        (0..per_kind).map(move |_| (kind, (kind.generate)(&mut rng)))
    })
}

/// Whether `s` is accepted as an event `id` (the validator's alphabet).
pub fn valid_event_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// An event that carries `id` everywhere an agent would: its own id (when
/// the validator accepts it), parent, session, agent instance, tool call
/// id, a tool argument under the kind's usual member name, a result, and a
/// sentence.
pub fn event_with(kind: &Kind, id: &str) -> serde_json::Value {
    let mut ev = serde_json::json!({
        "agent": {"id": "billing-bot", "instance": id},
        "kind": "tool_call",
        "session": id,
        "parent": id,
        "tool": {
            "name": "orders.lookup",
            "call_id": id,
            "arguments": {kind.key: id, "ref": id},
            "result": {"items": [{"id": id, "status": "ok"}]}
        },
        "output": format!("looked up {id} and found 3 items"),
    });
    if valid_event_id(id) {
        ev["id"] = serde_json::Value::String(id.to_string());
    }
    // Integer ids travel as JSON numbers too (scanned as their text).
    if let Ok(n) = id.parse::<u64>() {
        if n < (1 << 53) {
            ev["attributes"] = serde_json::json!({ kind.key: n });
        }
    }
    ev
}
