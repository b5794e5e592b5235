//! `sealtrail mcp-proxy` with the real MCP Python SDK on both sides (a
//! `MCPServer` and a `Client`, tests/mcp/*.py), the real binary and a real
//! sealtrail server: what the agent sees must not change, and every call
//! must land in the log.
//!
//! The SDK comes from the project venv (`scripts/setup.sh` makes `.venv`);
//! without it these tests are skipped, except in CI (`CI=true`) where a
//! missing venv fails them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sealtrail_testkit::cli::{init, Server};
use serde_json::{json, Value};
use tempfile::TempDir;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

const TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// Fixtures

/// The venv's Python with the `mcp` SDK, or `None` (test skipped) outside CI.
fn python() -> Option<PathBuf> {
    sealtrail_testkit::python::venv_python("mcp_proxy", "mcp", "the `mcp` SDK")
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mcp")
        .join(name)
        .display()
        .to_string()
}

/// A sealtrail server on a fresh data directory.
struct Log {
    dir: TempDir,
    key: String,
    server: Server,
}

impl Log {
    fn start() -> Log {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (key, _) = init(BIN, &data, &[]);
        let server = Server::start(BIN, &data, "1", &[], None);
        Log { dir, key, server }
    }

    fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    /// Every event of `agent`, in log order (the bodies as sent).
    fn events(&self, agent: &str) -> Vec<Value> {
        let out = Command::new(BIN)
            .args([
                "query",
                "--all",
                "--format",
                "jsonl",
                "--include-bodies",
                "--agent",
                agent,
            ])
            .args(["--server", &self.server.url, "--api-key", &self.key])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "query: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].clone())
            .collect()
    }

    /// `mcp-proxy` arguments up to (not including) the transport.
    fn proxy_args(&self, agent: &str) -> Vec<String> {
        proxy_args(&self.server.url, &self.key, agent, &self.spool())
    }
}

fn proxy_args(url: &str, key: &str, agent: &str, spool: &Path) -> Vec<String> {
    [
        "mcp-proxy",
        "--agent",
        agent,
        "--server",
        url,
        "--api-key",
        key,
        "--spool",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        spool.display().to_string(),
        "--flush-timeout".into(),
        "2".into(),
    ])
    .collect()
}

/// Runs tests/mcp/client.py; its JSON transcript.
fn client(py: &Path, args: &[String]) -> Value {
    let out = Command::new(py)
        .arg(fixture("client.py"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn server_stdio(py: &Path) -> Vec<String> {
    vec![
        py.display().to_string(),
        fixture("server.py"),
        "stdio".into(),
    ]
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed when the test ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        self.0.wait().unwrap()
    }
}

/// tests/mcp/server.py over Streamable HTTP; its endpoint URL.
fn http_server(py: &Path, extra: &[&str]) -> (Proc, String) {
    // Port 0: the server binds any free port and names it first on stdout.
    let mut child = Command::new(py)
        .arg(fixture("server.py"))
        .args(["http", "0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("server.py http 0 said {line:?}"));
    let proc = Proc(child);
    wait_for_port(port);
    (proc, format!("http://127.0.0.1:{port}/mcp"))
}

/// `mcp-proxy --listen 127.0.0.1:0 --upstream URL`; its endpoint URL.
fn http_proxy(args: Vec<String>, upstream: &str) -> (Proc, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--upstream", upstream])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("sealtrail mcp-proxy listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (Proc(child), url)
}

/// A stdio MCP peer driven line by line.
struct Peer {
    proc: Proc,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Peer {
    fn spawn(program: &str, args: &[String], envs: &[(&str, &str)]) -> Peer {
        let mut child = Command::new(program)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || loop {
            let mut line = Vec::new();
            match out.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        });
        Peer {
            proc: Proc(child),
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// The next line the peer writes, as bytes.
    fn recv(&mut self) -> Vec<u8> {
        let line = self.lines.recv_timeout(TIMEOUT).expect("no answer line");
        self.seen.extend_from_slice(&line);
        line
    }

    fn call(&mut self, line: &str) -> Value {
        self.send(line);
        serde_json::from_slice(&self.recv()).unwrap()
    }

    /// Closes stdin; everything else written until EOF, and the exit status.
    fn finish(mut self) -> (Vec<u8>, std::process::ExitStatus) {
        drop(self.stdin.take());
        while let Ok(line) = self.lines.recv_timeout(TIMEOUT) {
            self.seen.extend_from_slice(&line);
        }
        let status = self.proc.0.wait().unwrap();
        (std::mem::take(&mut self.seen), status)
    }
}

fn tool_calls(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["kind"] == "tool_call").collect()
}

/// Events of one proxy instance have seq 1..=n, each once.
fn assert_seq_complete(events: &[Value]) {
    let mut by_instance: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in events {
        by_instance
            .entry(e["agent"]["instance"].as_str().unwrap().to_string())
            .or_default()
            .push(e["seq"].as_u64().unwrap());
    }
    for (instance, mut seqs) in by_instance {
        seqs.sort_unstable();
        let want: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, want, "seq of instance {instance}: gaps or duplicates");
    }
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

fn add(id: u32, a: i64, b: i64) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"add","arguments":{"a":a,"b":b}}}).to_string()
}

// ---------------------------------------------------------------------------
// stdio

#[test]
fn stdio_sdk_client_sees_the_same_results_and_every_call_is_logged() {
    let Some(py) = python() else { return };
    let log = Log::start();
    let mut direct = vec!["--sampling".to_string(), "stdio".into(), "--".into()];
    direct.extend(server_stdio(&py));
    let want = client(&py, &direct);

    let mut proxied = vec![
        "--sampling".to_string(),
        "stdio".into(),
        "--".into(),
        BIN.into(),
    ];
    proxied.extend(log.proxy_args("agent-stdio"));
    proxied.push("--".into());
    proxied.extend(server_stdio(&py));
    let got = client(&py, &proxied);
    assert_eq!(
        got, want,
        "the agent must see exactly what it sees without the proxy"
    );

    let events = log.events("agent-stdio");
    assert_seq_complete(&events);
    let init = events
        .iter()
        .find(|e| e["action"] == "initialize")
        .expect("initialize recorded");
    assert_eq!(init["kind"], "agent_lifecycle");
    assert_eq!(
        init["output"]["serverInfo"]["name"],
        "sealtrail-test-server"
    );
    let session = init["session"].as_str().unwrap();
    assert!(
        events.iter().all(|e| e["session"] == session),
        "one stdio run is one session"
    );
    assert!(events
        .iter()
        .any(|e| e["action"] == "tools/list" && e["output"]["tools"].is_array()));

    let calls = tool_calls(&events);
    let by_name = |n: &str| {
        *calls
            .iter()
            .find(|e| e["tool"]["name"] == n)
            .unwrap_or_else(|| panic!("{n} not logged"))
    };
    assert_eq!(
        calls.len(),
        6,
        "add, echo, fail, big, nope, summarize: {calls:#?}"
    );
    assert_sampling(&events, session);
    for c in &calls {
        assert_eq!(
            c["parent"], init["id"],
            "tool calls link to the session's initialize"
        );
        assert_eq!(c["action"], "tools/call");
        assert!(c["attributes"]["duration_ms"].as_f64().unwrap() > 0.0);
        assert!(c["tool"]["call_id"].is_string());
    }
    let add = by_name("add");
    assert_eq!(add["tool"]["arguments"], json!({"a": 2, "b": 3}));
    assert_eq!(
        add["tool"]["result"]["structuredContent"],
        json!({"result": 5})
    );
    assert_eq!(add["outcome"], "success");
    // The recorded result is the server's own (the SDK adds `resultType` on
    // its side of the wire).
    let mut seen = want["add"].clone();
    seen.as_object_mut().unwrap().remove("resultType");
    assert_eq!(add["tool"]["result"], seen);
    assert_eq!(
        by_name("echo")["tool"]["arguments"]["text"],
        "héllo \"world\"\n"
    );
    let fail = by_name("fail");
    assert_eq!(
        (
            fail["outcome"].as_str(),
            fail["tool"]["result"]["isError"].as_bool()
        ),
        (Some("failure"), Some(true))
    );
    assert_eq!(by_name("nope")["outcome"], "failure");
    assert_eq!(
        by_name("big")["tool"]["result"]["content"][0]["text"]
            .as_str()
            .map(str::len),
        Some(20000)
    );

    let read = events
        .iter()
        .find(|e| e["action"] == "resources/read")
        .unwrap();
    assert_eq!(
        (read["kind"].as_str(), read["resource"].as_str()),
        (Some("data_access"), Some("note://alpha"))
    );
    let prompt = events
        .iter()
        .find(|e| e["action"] == "prompts/get")
        .unwrap();
    assert_eq!(
        (prompt["kind"].as_str(), prompt["resource"].as_str()),
        (Some("data_access"), Some("greet"))
    );
    let exit = events.last().unwrap();
    assert_eq!(
        (
            exit["action"].as_str(),
            exit["attributes"]["exit_code"].as_i64()
        ),
        (Some("mcp/server_exit"), Some(0))
    );
}

/// The exact lines of a raw session, and whether each gets an answer.
fn raw_script() -> Vec<(String, bool)> {
    vec![
        (INIT.into(), true),
        (INITIALIZED.into(), false),
        ("{not json".into(), false),
        (add(2, 40, 2), true),
        (r#"{"jsonrpc":"2.0","id":3,"method":"no/such"}"#.into(), true),
        ("[1,2]".into(), false),
        (json!({"jsonrpc":"2.0","id":"é-4","method":"tools/call","params":{"name":"echo","arguments":{"text":"\u{2028}\u{0}é\"\\"}}}).to_string(), true),
        (r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"fail","arguments":{"reason":"r"}}}"#.into(), true),
    ]
}

fn run_raw(program: &str, args: &[String]) -> (Vec<u8>, i32) {
    let mut peer = Peer::spawn(program, args, &[]);
    for (line, answered) in raw_script() {
        peer.send(&line);
        if answered {
            peer.recv();
        }
    }
    let (bytes, status) = peer.finish();
    (bytes, status.code().unwrap_or(-1))
}

#[test]
fn stdio_bytes_are_identical_and_malformed_input_is_answered_as_the_server_would() {
    let Some(py) = python() else { return };
    let log = Log::start();
    let server = server_stdio(&py);
    let (want, want_code) = run_raw(&server[0], &server[1..]);

    let mut args = log.proxy_args("agent-raw");
    args.push("--".into());
    args.extend(server);
    let (got, got_code) = run_raw(BIN, &args);
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want),
        "relayed bytes differ"
    );
    assert_eq!(got, want);
    assert_eq!(got_code, want_code);

    let events = log.events("agent-raw");
    assert_seq_complete(&events);
    let malformed: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "mcp/malformed")
        .collect();
    assert_eq!(
        malformed.len(),
        3,
        "{{not json and both members of [1,2]: {malformed:#?}"
    );
    assert!(malformed
        .iter()
        .all(|e| e["outcome"] == "failure"
            && e["attributes"]["mcp"]["direction"] == "client_to_server"));
    assert!(malformed
        .iter()
        .any(|e| e["attributes"]["message"] == "{not json"));
    let unknown = events.iter().find(|e| e["action"] == "no/such").unwrap();
    assert_eq!(unknown["attributes"]["error"]["code"], -32601);
    let echo = tool_calls(&events)
        .into_iter()
        .find(|e| e["tool"]["name"] == "echo")
        .unwrap();
    assert_eq!(echo["tool"]["call_id"], "é-4");
    assert_eq!(echo["tool"]["arguments"]["text"], "\u{2028}\u{0}é\"\\");
}

#[test]
fn stdio_calls_back_to_back_are_each_paired_with_their_answer() {
    let Some(py) = python() else { return };
    let log = Log::start();
    let mut args = log.proxy_args("agent-burst");
    args.push("--".into());
    args.extend(server_stdio(&py));
    let mut peer = Peer::spawn(BIN, &args, &[]);
    peer.call(INIT);
    peer.send(INITIALIZED);
    const N: u32 = 300;
    for i in 0..N {
        peer.send(&add(100 + i, i64::from(i), 1));
    }
    for _ in 0..N {
        peer.recv();
    }
    let (_, status) = peer.finish();
    assert!(status.success());
    let events = log.events("agent-burst");
    assert_seq_complete(&events);
    assert!(
        !events
            .iter()
            .any(|e| e["action"] == "mcp/unmatched_response"),
        "an answer reached the recorder before its request"
    );
    let calls = tool_calls(&events);
    assert_eq!(calls.len(), N as usize);
    for c in calls {
        let a = c["tool"]["arguments"]["a"].as_i64().unwrap();
        assert_eq!(c["tool"]["result"]["structuredContent"]["result"], a + 1);
        assert_eq!(c["tool"]["call_id"], (100 + a).to_string());
    }
}

#[test]
fn stdio_malformed_server_output_is_relayed_and_recorded() {
    let Some(py) = python() else { return };
    let log = Log::start();
    // A server that writes garbage and an answer to an id never asked.
    let script = r#"
import sys
for line in sys.stdin:
    sys.stdout.write("this is not json\n")
    sys.stdout.write('{"jsonrpc":"2.0","id":999,"result":{}}\n')
    sys.stdout.write(line)
    sys.stdout.flush()
"#;
    let mut args = log.proxy_args("agent-bad-server");
    args.extend([
        "--".into(),
        py.display().to_string(),
        "-c".into(),
        script.into(),
    ]);
    let mut peer = Peer::spawn(BIN, &args, &[]);
    peer.send(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    assert_eq!(peer.recv(), b"this is not json\n");
    assert_eq!(
        peer.recv(),
        b"{\"jsonrpc\":\"2.0\",\"id\":999,\"result\":{}}\n"
    );
    assert_eq!(
        peer.recv(),
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n"
    );
    let (_, status) = peer.finish();
    assert!(status.success());

    let events = log.events("agent-bad-server");
    let malformed = events
        .iter()
        .find(|e| e["action"] == "mcp/malformed")
        .unwrap();
    assert_eq!(
        malformed["attributes"]["mcp"]["direction"],
        "server_to_client"
    );
    assert_eq!(malformed["attributes"]["message"], "this is not json");
    let unmatched: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "mcp/unmatched_response")
        .collect();
    assert_eq!(
        unmatched.len(),
        3,
        "id 999 from the server, id 1 from the client and its echo: {unmatched:#?}"
    );
    let directions: Vec<_> = unmatched
        .iter()
        .map(|e| e["attributes"]["mcp"]["direction"].as_str().unwrap())
        .collect();
    assert_eq!(
        directions,
        ["client_to_server", "server_to_client", "server_to_client"]
    );
}

#[test]
fn stdio_exit_status_and_eof_propagate() {
    let log = Log::start();
    let mut args = log.proxy_args("agent-exit");
    args.extend(["--".into(), "sh".into(), "-c".into(), "cat; exit 7".into()]);
    let mut peer = Peer::spawn(BIN, &args, &[]);
    // Not JSON-RPC at all: relayed as is, both ways.
    peer.send("hello\r");
    assert_eq!(peer.recv(), b"hello\r\n");
    let (_, status) = peer.finish();
    assert_eq!(
        status.code(),
        Some(7),
        "the server's exit code is the proxy's"
    );

    let mut args = log.proxy_args("agent-exit");
    args.extend([
        "--".into(),
        "sh".into(),
        "-c".into(),
        "kill -TERM $$".into(),
    ]);
    let (_, status) = Peer::spawn(BIN, &args, &[]).finish();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));

    let events = log.events("agent-exit");
    let exits: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "mcp/server_exit")
        .map(|e| (e["outcome"].clone(), e["attributes"]["exit_code"].clone()))
        .collect();
    assert_eq!(
        exits,
        [
            (json!("failure"), json!(7)),
            (json!("failure"), json!(128 + libc::SIGTERM))
        ]
    );
}

#[test]
fn stdio_signals_to_the_proxy_reach_the_server() {
    let log = Log::start();
    let mut args = log.proxy_args("agent-signal");
    // The server answers SIGTERM by exiting 42, once it is ready for it.
    let script = "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done";
    args.extend(["--".into(), "sh".into(), "-c".into(), script.into()]);
    let mut peer = Peer::spawn(BIN, &args, &[]);
    assert_eq!(peer.recv(), b"ready\n");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(peer.proc.0.id() as i32, libc::SIGTERM) };
    let (_, status) = peer.finish();
    assert_eq!(
        status.code(),
        Some(42),
        "the server's own answer to SIGTERM"
    );
}

#[test]
fn stdio_unusable_spool_directory_does_not_stop_the_relay() {
    let log = Log::start();
    let file = log.dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let mut args = proxy_args(
        &log.server.url,
        &log.key,
        "agent-nospool",
        &file.join("spool"),
    );
    args.extend(["--".into(), "cat".into()]);
    let mut peer = Peer::spawn(BIN, &args, &[]);
    peer.send(INITIALIZED);
    assert_eq!(peer.recv(), format!("{INITIALIZED}\n").as_bytes());
    let (_, status) = peer.finish();
    assert!(status.success());
    let events = log.events("agent-nospool");
    assert!(
        events.iter().any(|e| e["action"] == "mcp/server_exit"),
        "{events:#?}"
    );
}

#[test]
fn stdio_scope_policy_denies_answers_and_records() {
    let Some(py) = python() else { return };
    let log = Log::start();
    let scope = log.dir.path().join("scope.txt");
    std::fs::write(&scope, "# the agent may add and echo\nadd\nech?\n").unwrap();
    let mut args = log.proxy_args("agent-scoped");
    args.extend([
        "--enforce-scope".into(),
        "--scope".into(),
        scope.display().to_string(),
        "--".into(),
    ]);
    args.extend(server_stdio(&py));
    let mut peer = Peer::spawn(BIN, &args, &[]);
    peer.call(INIT);
    peer.send(INITIALIZED);
    let ok = peer.call(&add(2, 1, 1));
    assert_eq!(ok["result"]["structuredContent"]["result"], 2);
    let denied = peer.call(r#"{"jsonrpc":"2.0","id":"d","method":"tools/call","params":{"name":"fail","arguments":{"reason":"x"}}}"#);
    assert_eq!(denied["id"], "d");
    assert_eq!(denied["error"]["code"], -32010);
    assert!(denied["error"]["message"]
        .as_str()
        .unwrap()
        .contains("\"fail\""));
    // Trickery is judged as the server would read it.
    let tricked = peer.call(r#"{"jsonrpc":"2.0","id":4,"method":"tools\/call","params":{"name":"add","name":"fail","arguments":{"reason":"x"}}}"#);
    assert_eq!(tricked["error"]["code"], -32010);
    // A refused call without an id gets no answer, and is still on record.
    peer.send(r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"fail"}}"#);
    assert_eq!(
        peer.call(&add(5, 2, 2))["id"],
        5,
        "nothing was answered to the notification"
    );
    let (_, status) = peer.finish();
    assert!(status.success());

    let events = log.events("agent-scoped");
    let calls = tool_calls(&events);
    let outcomes: Vec<_> = calls
        .iter()
        .map(|e| (e["tool"]["name"].clone(), e["outcome"].clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (json!("add"), json!("success")),
            (json!("fail"), json!("denied")),
            (json!("fail"), json!("denied")),
            (json!("fail"), json!("denied")),
            (json!("add"), json!("success"))
        ]
    );
    assert!(calls[3]["tool"].get("call_id").is_none());
    assert!(calls[1]["attributes"]["error"]["policy"]
        .as_str()
        .unwrap()
        .contains("scope"));
}

// ---------------------------------------------------------------------------
// Outage: sealtrail unreachable

#[test]
fn outage_mid_session_spools_keeps_relaying_and_resends_in_order() {
    let Some(py) = python() else { return };
    let mut log = Log::start();
    let addr: SocketAddr = log
        .server
        .url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let mut args = log.proxy_args("agent-outage");
    args.push("--".into());
    args.extend(server_stdio(&py));
    let mut peer = Peer::spawn(BIN, &args, &[]);
    peer.call(INIT);
    peer.send(INITIALIZED);
    assert_eq!(
        peer.call(&add(2, 1, 1))["result"]["structuredContent"]["result"],
        2
    );

    log.server.kill();
    let mut id = 10;
    for _ in 0..5 {
        let t = Instant::now();
        let r = peer.call(&add(id, id as i64, 1));
        assert_eq!(r["result"]["structuredContent"]["result"], id + 1);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the relay must not wait for sealtrail"
        );
        id += 1;
    }
    // The events wait on disk.
    let deadline = Instant::now() + TIMEOUT;
    while spooled_bytes(&log.spool()) == 0 {
        assert!(Instant::now() < deadline, "nothing was spooled");
        std::thread::sleep(Duration::from_millis(50));
    }

    // sealtrail comes back on the same address; the proxy resends by itself.
    let data = log.dir.path().join("data");
    log.server = serve_at(&data, addr);
    for _ in 0..3 {
        peer.call(&add(id, id as i64, 1));
        id += 1;
    }
    let deadline = Instant::now() + TIMEOUT;
    while tool_calls(&log.events("agent-outage")).len() < 9 {
        assert!(
            Instant::now() < deadline,
            "spooled events were not resent while running"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, status) = peer.finish();
    assert!(status.success());

    let events = log.events("agent-outage");
    assert_seq_complete(&events);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "resent in order: {seqs:?}"
    );
    let args: Vec<i64> = tool_calls(&events)
        .iter()
        .map(|e| e["tool"]["arguments"]["a"].as_i64().unwrap())
        .collect();
    assert_eq!(args, [1, 10, 11, 12, 13, 14, 15, 16, 17]);
    assert_eq!(
        spooled_bytes(&log.spool()),
        0,
        "the spool is empty once delivered"
    );
}

#[test]
fn outage_for_a_whole_run_is_resent_by_the_next_run() {
    let Some(py) = python() else { return };
    let log = Log::start();
    // Nothing listens here: sealtrail is down for the whole first run.
    let down = format!("http://127.0.0.1:{}", free_port());
    let mut direct = vec!["stdio".to_string(), "--".into()];
    direct.extend(server_stdio(&py));
    let want = client(&py, &direct);

    let mut proxied = vec!["stdio".to_string(), "--".into(), BIN.into()];
    proxied.extend(proxy_args(&down, &log.key, "agent-down", &log.spool()));
    proxied.push("--".into());
    proxied.extend(server_stdio(&py));
    assert_eq!(
        client(&py, &proxied),
        want,
        "an unreachable sealtrail must not change anything for the agent"
    );
    assert!(spooled_bytes(&log.spool()) > 0);
    assert!(log.events("agent-down").is_empty());

    // A later proxy run (any agent, same spool) delivers them.
    let mut args = log.proxy_args("agent-later");
    args.extend(["--".into(), "true".into()]);
    let (_, status) = Peer::spawn(BIN, &args, &[]).finish();
    assert!(status.success());
    let events = log.events("agent-down");
    assert_seq_complete(&events);
    assert_eq!(tool_calls(&events).len(), 5);
    assert_eq!(spooled_bytes(&log.spool()), 0);
}

fn spooled_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "spool"))
        .map(|e| {
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            let sent = std::fs::read_to_string(format!("{}.sent", e.path().display()))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(0);
            len.saturating_sub(sent)
        })
        .sum()
}

/// `sealtrail serve` on a fixed address (a restart on the same port).
fn serve_at(data: &Path, addr: SocketAddr) -> Server {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &addr.to_string(),
            "--checkpoint-interval",
            "1",
            "--data",
        ])
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("serve exited").unwrap();
        if let Some(u) = line.strip_prefix("sealtrail listening on ") {
            break u.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        url,
        log: None,
    }
}

// ---------------------------------------------------------------------------
// Streamable HTTP

fn http_session(
    py: &Path,
    log: &Log,
    agent: &str,
    mode: &str,
    server_flags: &[&str],
    sampling: bool,
) -> Vec<Value> {
    let (_server, upstream) = http_server(py, server_flags);
    let args = |url: String| {
        let mut a = vec!["--mode".to_string(), mode.into()];
        if sampling {
            a.push("--sampling".into());
        }
        a.extend(["http".into(), url]);
        a
    };
    let want = client(py, &args(upstream.clone()));
    let (mut proxy, url) = http_proxy(log.proxy_args(agent), &upstream);
    let got = client(py, &args(url));
    assert_eq!(
        got, want,
        "mode {mode}: the agent must see what it sees without the proxy"
    );
    assert!(proxy.terminate().success());
    let events = log.events(agent);
    assert_seq_complete(&events);
    events
}

/// The server asked the agent's model (MCP sampling) inside `summarize`:
/// a `model_call` from server to client, paired with the agent's answer.
fn assert_sampling(events: &[Value], session: &str) {
    let sample = events
        .iter()
        .find(|e| e["action"] == "sampling/createMessage")
        .expect("sampling recorded");
    assert_eq!(sample["kind"], "model_call");
    assert_eq!(sample["outcome"], "success");
    assert_eq!(sample["session"], session);
    assert_eq!(sample["model"]["name"], "test-model-1");
    assert_eq!(sample["attributes"]["mcp"]["direction"], "server_to_client");
    assert_eq!(sample["input"]["messages"][0]["content"]["text"], "the log");
    assert_eq!(sample["output"]["content"]["text"], "summary of the log");
    let summarize = tool_calls(events)
        .into_iter()
        .find(|e| e["tool"]["name"] == "summarize")
        .unwrap();
    assert_eq!(
        summarize["tool"]["result"]["structuredContent"]["result"],
        "summary of the log"
    );
}

fn assert_http_calls(events: &[Value], n: usize) {
    let calls = tool_calls(events);
    assert_eq!(calls.len(), n, "{calls:#?}");
    let add = calls.iter().find(|e| e["tool"]["name"] == "add").unwrap();
    assert_eq!(add["tool"]["arguments"], json!({"a": 2, "b": 3}));
    assert_eq!(
        add["tool"]["result"]["structuredContent"],
        json!({"result": 5})
    );
    assert_eq!(add["attributes"]["mcp"]["transport"], "streamable_http");
    let fail = calls.iter().find(|e| e["tool"]["name"] == "fail").unwrap();
    assert_eq!(fail["outcome"], "failure");
}

#[test]
fn http_sse_sdk_client_through_proxy_is_recorded_per_session() {
    let Some(py) = python() else { return };
    let log = Log::start();
    let events = http_session(&py, &log, "agent-http", "legacy", &[], true);
    assert_http_calls(&events, 6);
    let init = events.iter().find(|e| e["action"] == "initialize").unwrap();
    let session = init["session"].as_str().unwrap();
    assert_eq!(
        session.len(),
        32,
        "the session is the server's Mcp-Session-Id: {session}"
    );
    assert_ne!(session, init["agent"]["instance"].as_str().unwrap());
    for c in tool_calls(&events) {
        assert_eq!(c["session"], session);
        assert_eq!(c["parent"], init["id"]);
        assert_eq!(c["attributes"]["mcp"]["http_status"], 200);
    }
    assert_sampling(&events, session);
    let end = events
        .iter()
        .find(|e| e["action"] == "mcp/session_end")
        .expect("DELETE recorded");
    assert_eq!(end["session"], session);
}

#[test]
fn http_json_responses_and_the_2026_headers() {
    let Some(py) = python() else { return };
    let log = Log::start();
    let events = http_session(&py, &log, "agent-json", "legacy", &["--json"], false);
    assert_http_calls(&events, 5);

    let events = http_session(
        &py,
        &log,
        "agent-modern",
        "2026-07-28",
        &["--stateless"],
        false,
    );
    assert_http_calls(&events, 5);
    let add = tool_calls(&events)
        .into_iter()
        .find(|e| e["tool"]["name"] == "add")
        .unwrap()
        .clone();
    assert_eq!(add["attributes"]["mcp"]["http"]["mcp_method"], "tools/call");
    assert_eq!(add["attributes"]["mcp"]["http"]["mcp_name"], "add");
    assert_eq!(
        add["attributes"]["mcp"]["http"]["protocol_version"],
        "2026-07-28"
    );
    assert!(add["attributes"]["mcp"]["http"]
        .get("header_mismatch")
        .is_none());
    let read = events
        .iter()
        .find(|e| e["action"] == "resources/read")
        .unwrap();
    assert_eq!(
        read["attributes"]["mcp"]["http"]["mcp_name"],
        "note://alpha"
    );
}

/// Raw HTTP/1.1 POST; (status line and the MCP headers, body bytes).
fn post(url: &str, session: Option<&str>, body: &str) -> (String, Option<String>, Vec<u8>) {
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Protocol-Version: 2025-11-25\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(sid) = session {
        req.push_str(&format!("Mcp-Session-Id: {sid}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let lower = head.to_ascii_lowercase();
    if lower.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    let status = head.lines().next().unwrap().to_string();
    let sid = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .starts_with("mcp-session-id:")
            .then(|| l[15..].trim().to_string())
    });
    let ctype = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .starts_with("content-type:")
            .then(|| l[13..].trim().to_string())
    });
    (
        format!("{status} | {}", ctype.unwrap_or_default()),
        sid,
        body,
    )
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        b = &b[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

#[test]
fn http_bytes_are_identical_and_malformed_bodies_get_the_servers_answer() {
    let Some(py) = python() else { return };
    let log = Log::start();
    let (_server, upstream) = http_server(&py, &[]);
    let (mut proxy, url) = http_proxy(log.proxy_args("agent-http-raw"), &upstream);
    let script = |base: &str| {
        let (s0, sid, b0) = post(base, None, INIT);
        let sid = sid.expect("a session id");
        let mut out = vec![(s0, b0)];
        for body in [
            INITIALIZED.to_string(),
            add(2, 40, 2),
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"\u2028é"}}}"#.into(),
            "{not json".into(),
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"fail","arguments":{"reason":"r"}}}"#.into(),
        ] {
            let (s, _, b) = post(base, Some(&sid), &body);
            out.push((s, b));
        }
        out
    };
    let want = script(&upstream);
    let got = script(&url);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w.0, g.0, "status and content type");
        assert_eq!(String::from_utf8_lossy(&w.1), String::from_utf8_lossy(&g.1));
        assert_eq!(w.1, g.1);
    }
    assert!(
        want[4].0.contains(" 400 "),
        "the server refuses invalid JSON: {:?}",
        want[4]
    );
    assert!(proxy.terminate().success());

    let events = log.events("agent-http-raw");
    assert_seq_complete(&events);
    assert_eq!(tool_calls(&events).len(), 3);
    let malformed = events
        .iter()
        .find(|e| e["action"] == "mcp/malformed")
        .unwrap();
    assert_eq!(malformed["attributes"]["message"], "{not json");
    // The server's JSON-RPC parse error (id null) is on record too.
    assert!(events
        .iter()
        .any(|e| e["action"] == "mcp/error" && e["attributes"]["error"]["code"] == -32700));
}

/// `sealtrail ARGS… --server URL --api-key KEY`; its stdout.
fn cli(log: &Log, key: &str, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .args(["--server", &log.server.url, "--api-key", key])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sealtrail {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn stdio_scope_from_the_registry_with_an_agent_key() {
    let Some(py) = python() else { return };
    let log = Log::start();
    cli(
        &log,
        &log.key,
        &["agents", "register", "agent-reg", "--allow-tool", "add"],
    );
    let agent_key = cli(
        &log,
        &log.key,
        &[
            "keys",
            "create",
            "--name",
            "proxy",
            "--role",
            "agent",
            "--agent",
            "agent-reg",
        ],
    );
    let agent_key = agent_key.trim();
    assert!(agent_key.starts_with("sta_"), "{agent_key}");
    let mut args = proxy_args(&log.server.url, agent_key, "agent-reg", &log.spool());
    args.extend(["--enforce-scope".into(), "--".into()]);
    args.extend(server_stdio(&py));
    let mut peer = Peer::spawn(BIN, &args, &[]);
    peer.call(INIT);
    peer.send(INITIALIZED);
    assert_eq!(
        peer.call(&add(2, 1, 1))["result"]["structuredContent"]["result"],
        2
    );
    let denied = peer.call(r#"{"jsonrpc":"2.0","id":"d","method":"tools/call","params":{"name":"fail","arguments":{"reason":"x"}}}"#);
    assert_eq!(denied["error"]["code"], -32010);
    let (_, status) = peer.finish();
    assert!(status.success());
    // Both calls are on record, with the server's own verdicts in the headers.
    let out = cli(
        &log,
        &log.key,
        &[
            "query",
            "--all",
            "--format",
            "jsonl",
            "--agent",
            "agent-reg",
            "--kind",
            "tool_call",
        ],
    );
    let verdicts: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["header"]["scope"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        verdicts,
        ["in_scope", "out_of_scope: tool \"fail\" not allowed"]
    );

    // An unregistered agent cannot start an enforcing proxy.
    let mut args = proxy_args(&log.server.url, &log.key, "nobody", &log.spool());
    args.extend(["--enforce-scope".into(), "--".into()]);
    args.extend(server_stdio(&py));
    let out = Command::new(BIN)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot read agent \"nobody\" from the registry"));
}

#[test]
fn http_upstream_down_answers_502_and_scope_denials_over_http() {
    let Some(py) = python() else { return };
    let log = Log::start();
    let scope = log.dir.path().join("scope.txt");
    std::fs::write(&scope, "add\n").unwrap();
    let (server, upstream) = http_server(&py, &["--json"]);
    let mut args = log.proxy_args("agent-http-policy");
    args.extend([
        "--enforce-scope".into(),
        "--scope".into(),
        scope.display().to_string(),
    ]);
    let (mut proxy, url) = http_proxy(args, &upstream);

    let (_, sid, _) = post(&url, None, INIT);
    let sid = sid.unwrap();
    let (status, _, body) = post(
        &url,
        Some(&sid),
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"fail","arguments":{"reason":"r"}}}"#,
    );
    assert!(
        status.starts_with("HTTP/1.1 200") && status.contains("application/json"),
        "{status}"
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (v["id"].as_i64(), v["error"]["code"].as_i64()),
        (Some(7), Some(-32010))
    );
    let (_, _, body) = post(&url, Some(&sid), &add(8, 1, 2));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["result"]["structuredContent"]["result"], 3);

    drop(server); // the MCP server goes away
    let (status, _, _) = post(&url, Some(&sid), &add(9, 1, 2));
    assert!(status.starts_with("HTTP/1.1 502"), "{status}");
    assert!(proxy.terminate().success());

    let events = log.events("agent-http-policy");
    let outcomes: Vec<_> = tool_calls(&events)
        .iter()
        .map(|e| (e["tool"]["call_id"].clone(), e["outcome"].clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (json!("7"), json!("denied")),
            (json!("8"), json!("success")),
            (json!("9"), json!("failure"))
        ]
    );
    let down = events
        .iter()
        .find(|e| e["action"] == "mcp/upstream_unreachable")
        .unwrap();
    assert_eq!(down["session"], sid.as_str());
    let nine = tool_calls(&events)
        .into_iter()
        .find(|e| e["tool"]["call_id"] == "9")
        .unwrap();
    assert_eq!(nine["attributes"]["error"]["http_status"], 502);
}
