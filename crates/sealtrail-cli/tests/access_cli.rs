//! `sealtrail whoami | keys | token | agents | projects | log-keys` against
//! a real `sealtrail serve`: keys of every role, refusals with the server's
//! message and exit status 1, usage errors with 2, the agent registry,
//! session tokens, projects and the `--project` flag.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use sealtrail_testkit::cli::{init, Server};
use serde_json::Value;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

/// `sealtrail ARGS` against `server` with `key` (no project unless asked).
fn st(server: &Server, key: &str, args: &[&str]) -> Output {
    st_url(&server.url, key, args)
}

fn st_url(url: &str, key: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("SEALTRAIL_URL", url)
        .env("SEALTRAIL_API_KEY", key)
        .env_remove("SEALTRAIL_PROJECT")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs and requires exit status 0; stdout.
fn ok(server: &Server, key: &str, args: &[&str]) -> String {
    let out = st(server, key, args);
    assert!(
        out.status.success(),
        "sealtrail {args:?} failed ({:?}):\n{}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs with `--json` appended; the parsed stdout.
fn json(server: &Server, key: &str, args: &[&str]) -> Value {
    let out = ok(server, key, &[args, &["--json"]].concat());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// Runs and requires exit status `code`; stderr.
fn fails(server: &Server, key: &str, args: &[&str], code: i32) -> String {
    let out = st(server, key, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "sealtrail {args:?}:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// `keys create ARGS` → the secret (stdout is that one line only).
fn create_key(server: &Server, key: &str, args: &[&str]) -> String {
    let out = st(server, key, &[&["keys", "create"], args].concat());
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "keys create {args:?}: {stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the secret on stdout: {stdout:?}");
    let secret = lines[0].to_string();
    assert!(
        secret.starts_with("stk_") || secret.starts_with("sta_"),
        "{secret}"
    );
    assert!(stderr.contains("shown only this once"), "{stderr}");
    assert!(!stderr.contains(&secret), "the secret is printed once");
    secret
}

fn start(dir: &Path) -> (Server, String) {
    let data = dir.join("data");
    let (owner, _vkey) = init(BIN, &data, &[]);
    let server = Server::start(BIN, &data, "0.2", &[], Some(dir.join("server.log")));
    (server, owner)
}

fn ingest(server: &Server, key: &str, lines: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(["ingest", "-", "--server", &server.url])
        .env("SEALTRAIL_API_KEY", key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn keys_of_every_role_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let (server, owner) = start(dir.path());

    let me = json(&server, &owner, &["whoami"]);
    assert_eq!(me["role"], "owner");
    assert_eq!(me["project"], "default");
    let table = ok(&server, &owner, &["whoami"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("role") && l.ends_with("owner")),
        "{table}"
    );

    // One key of each role; each one sees itself as such.
    let admin = create_key(&server, &owner, &["--name", "alice", "--role", "admin"]);
    let member = create_key(
        &server,
        &admin,
        &[
            "--name",
            "ci",
            "--role",
            "member",
            "--rate-limit",
            "100:200",
        ],
    );
    let viewer = create_key(&server, &admin, &["--name", "dash", "--role", "viewer"]);
    let auditor = create_key(
        &server,
        &admin,
        &[
            "--name",
            "kpmg",
            "--role",
            "auditor",
            "--expires-in",
            "30d",
            "--no-bodies",
        ],
    );
    let agent = create_key(
        &server,
        &admin,
        &["--name", "bot key", "--role", "agent", "--agent", "bot"],
    );
    assert!(agent.starts_with("sta_"), "{agent}");
    for (key, role) in [
        (&admin, "admin"),
        (&member, "member"),
        (&viewer, "viewer"),
        (&auditor, "auditor"),
        (&agent, "agent"),
    ] {
        let me = json(&server, key, &["whoami"]);
        assert_eq!(me["role"], role, "{me}");
    }
    let me = json(&server, &auditor, &["whoami"]);
    let scopes: Vec<&str> = me["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        scopes.contains(&"keys:read") && !scopes.contains(&"bodies"),
        "{scopes:?}"
    );
    assert!(me["expires"].as_u64().is_some(), "{me}");
    assert_eq!(json(&server, &agent, &["whoami"])["agent"], "bot");

    // The access review lists them all; JSON carries ids, never secrets.
    let listed = json(&server, &auditor, &["keys", "list"]);
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 6, "{listed}");
    let raw = listed.to_string();
    for secret in [&owner, &admin, &member, &viewer, &auditor, &agent] {
        assert!(!raw.contains(secret.as_str()));
    }
    let id_of = |name: &str| -> String {
        keys.iter()
            .find(|k| k["name"] == name)
            .and_then(|k| k["id"].as_str())
            .unwrap_or_else(|| panic!("no key {name} in {listed}"))
            .to_string()
    };
    let member_id = id_of("ci");
    let viewer_id = id_of("dash");
    assert_eq!(
        keys.iter().find(|k| k["name"] == "ci").unwrap()["rate_limit"]["burst"],
        200.0
    );
    let table = ok(&server, &owner, &["keys", "list"]);
    assert!(
        table.starts_with("id ") && table.contains("alice") && table.contains(&member_id),
        "{table}"
    );
    assert!(
        member.contains(&member_id),
        "the id is the key's middle part"
    );

    // Refused by the server: exit 1 and its message.
    let err = fails(
        &server,
        &viewer,
        &["keys", "create", "--name", "x", "--role", "viewer"],
        1,
    );
    assert!(
        err.contains("403") && err.contains("lacks the `keys:write` scope"),
        "{err}"
    );
    let err = fails(
        &server,
        &admin,
        &["keys", "create", "--name", "x", "--role", "owner"],
        1,
    );
    assert!(err.contains("cannot create or change owner keys"), "{err}");
    let err = fails(
        &server,
        &admin,
        &["keys", "create", "--name", "x", "--role", "auditor"],
        1,
    );
    assert!(err.contains("time-boxed"), "{err}");
    let err = fails(&server, &member, &["keys", "list"], 1);
    assert!(err.contains("keys:read"), "{err}");

    // Usage errors and no server at all: exit 2.
    fails(
        &server,
        &admin,
        &["keys", "create", "--name", "x", "--role", "wizard"],
        2,
    );
    fails(
        &server,
        &admin,
        &["keys", "create", "--name", "x", "--role", "agent"],
        2,
    );
    fails(
        &server,
        &admin,
        &[
            "keys",
            "create",
            "--name",
            "x",
            "--role",
            "viewer",
            "--expires-in",
            "soon",
        ],
        2,
    );
    fails(&server, &admin, &["keys", "update", &member_id], 2);
    let out = st_url("http://127.0.0.1:1", &owner, &["whoami"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    // Update: a role change, shown by `keys show`.
    let updated = json(
        &server,
        &admin,
        &[
            "keys", "update", &member_id, "--role", "viewer", "--name", "ci-ro",
        ],
    );
    assert_eq!(updated["role"], "viewer");
    let shown = json(&server, &owner, &["keys", "show", &member_id]);
    assert_eq!(
        (&shown["role"], &shown["name"]),
        (&"viewer".into(), &"ci-ro".into())
    );
    let shown = ok(&server, &owner, &["keys", "show", &member_id]);
    assert!(
        shown.contains("ci-ro") && shown.contains("state"),
        "{shown}"
    );

    // Rotate with no overlap: the new secret works, the old one is refused.
    let out = st(
        &server,
        &admin,
        &["keys", "rotate", &member_id, "--overlap", "0"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rotated = text(&out.stdout).trim().to_string();
    assert!(
        rotated.starts_with("stk_") && rotated != member,
        "{rotated}"
    );
    assert_eq!(json(&server, &rotated, &["whoami"])["name"], "ci-ro");
    let err = fails(&server, &member, &["whoami"], 1);
    assert!(err.contains("401"), "{err}");

    // A key may revoke itself; then it is refused.
    let revoked = json(&server, &viewer, &["keys", "revoke", &viewer_id]);
    assert!(revoked["revoked"].as_u64().is_some(), "{revoked}");
    fails(&server, &viewer, &["whoami"], 1);
    let table = ok(&server, &owner, &["keys", "list"]);
    let line = table.lines().find(|l| l.starts_with(&viewer_id)).unwrap();
    assert!(line.contains("revoked"), "{table}");

    // No secret ever reached the server's log.
    let log = server.stderr();
    for secret in [&owner, &admin, &member, &viewer, &auditor, &agent, &rotated] {
        assert!(!log.contains(secret.as_str()), "a secret in the server log");
    }
}

#[test]
fn agents_registry_and_session_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let (server, owner) = start(dir.path());

    let rec = json(
        &server,
        &owner,
        &[
            "agents",
            "register",
            "bot",
            "--name",
            "Billing bot",
            "--owner",
            "team-billing",
            "--purpose",
            "refunds",
            "--model",
            "openai/gpt-4.1",
            "--risk-tier",
            "high",
            "--annex-iii",
            "essential_services",
            "--allow-tool",
            "crm.*",
            "--allow-tool",
            "refund.issue",
            "--allow-data-class",
            "pii",
        ],
    );
    assert_eq!(rec["id"], "bot");
    assert_eq!(rec["status"], "active");
    assert_eq!(rec["version"], 1);
    assert_eq!(
        rec["scope"]["tools"],
        serde_json::json!(["crm.*", "refund.issue"])
    );
    assert!(rec["scope"].get("actions").is_none_or(Value::is_null));

    // From a file, flags overriding it.
    let file = dir.path().join("agent.json");
    std::fs::write(
        &file,
        r#"{"id": "scraper", "owner": "team-data", "risk_tier": "limited", "scope": {"tools": []}}"#,
    )
    .unwrap();
    let rec = json(
        &server,
        &owner,
        &[
            "agents",
            "register",
            "--file",
            file.to_str().unwrap(),
            "--owner",
            "team-web",
        ],
    );
    assert_eq!(
        (&rec["id"], &rec["owner"], &rec["scope"]["tools"]),
        (
            &"scraper".into(),
            &"team-web".into(),
            &serde_json::json!([])
        )
    );
    let err = fails(&server, &owner, &["agents", "register", "bot"], 1);
    assert!(
        err.contains("409") && err.contains("already registered"),
        "{err}"
    );

    let table = ok(&server, &owner, &["agents", "list"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header[..3], ["id", "status", "risk_tier"]);
    assert!(
        table.contains("team-billing") && table.contains("scraper"),
        "{table}"
    );

    // Update one list; the others stay.
    let rec = json(
        &server,
        &owner,
        &["agents", "update", "bot", "--allow-action", "refund.*"],
    );
    assert_eq!(rec["scope"]["actions"], serde_json::json!(["refund.*"]));
    assert_eq!(
        rec["scope"]["tools"],
        serde_json::json!(["crm.*", "refund.issue"])
    );
    assert_eq!(rec["version"], 2);
    let rec = json(
        &server,
        &owner,
        &["agents", "update", "bot", "--clear-tools"],
    );
    assert!(
        rec["scope"].get("tools").is_none_or(Value::is_null),
        "{rec}"
    );
    assert_eq!(rec["scope"]["data_classes"], serde_json::json!(["pii"]));

    // A viewer may read the registry, not change it.
    let viewer = create_key(&server, &owner, &["--name", "v", "--role", "viewer"]);
    assert_eq!(
        json(&server, &viewer, &["agents", "show", "bot"])["owner"],
        "team-billing"
    );
    let err = fails(&server, &viewer, &["agents", "suspend", "bot"], 1);
    assert!(err.contains("403") && err.contains("agents:write"), "{err}");

    // Suspend and activate; list by status.
    let out = ok(&server, &owner, &["agents", "suspend", "bot"]);
    assert!(out.contains("suspended"), "{out}");
    let suspended = json(
        &server,
        &owner,
        &["agents", "list", "--status", "suspended"],
    );
    let ids: Vec<&str> = suspended["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(ids, ["bot"]);
    assert_eq!(
        json(&server, &owner, &["agents", "activate", "bot"])["status"],
        "active"
    );

    // Session tokens come from agent keys only, and write for their session.
    let agent = create_key(
        &server,
        &owner,
        &[
            "--name",
            "bot",
            "--role",
            "agent",
            "--agent",
            "bot",
            "--expires-in",
            "1d",
        ],
    );
    let out = st(
        &server,
        &agent,
        &["token", "--session", "s1", "--ttl", "10m"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_string();
    assert!(token.starts_with("sts_"), "{token}");
    assert!(!text(&out.stderr).contains(&token));
    let me = json(&server, &token, &["whoami"]);
    assert_eq!(
        (&me["agent"], &me["session"]),
        (&"bot".into(), &"s1".into())
    );
    let t = json(&server, &agent, &["token", "--session", "s2"]);
    assert_eq!(t["session"], "s2");
    let err = fails(&server, &owner, &["token", "--session", "s1"], 1);
    assert!(err.contains("403") && err.contains("agent key"), "{err}");
    fails(
        &server,
        &agent,
        &["token", "--session", "s1", "--ttl", "2h30x"],
        2,
    );
    let out = ingest(
        &server,
        &token,
        "{\"agent\":{\"id\":\"bot\"},\"session\":\"s1\",\"kind\":\"tool_call\",\"tool\":{\"name\":\"crm.lookup\"}}\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Retiring is final and revokes the agent's keys and their tokens.
    let out = ok(&server, &owner, &["agents", "retire", "bot"]);
    assert!(out.contains("retired"), "{out}");
    fails(&server, &agent, &["whoami"], 1);
    fails(&server, &token, &["whoami"], 1);
    let err = fails(&server, &owner, &["agents", "activate", "bot"], 1);
    assert!(err.contains("409") && err.contains("retire"), "{err}");
}

#[test]
fn projects_and_the_project_flag() {
    let dir = tempfile::tempdir().unwrap();
    let (server, owner) = start(dir.path());

    let p = json(&server, &owner, &["projects", "create", "billing"]);
    assert_eq!(p["name"], "billing");
    fails(&server, &owner, &["projects", "create", "Bad_Name"], 1);
    let listed = json(&server, &owner, &["projects", "list"]);
    let names: Vec<&str> = listed["projects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["default", "billing"]);
    let table = ok(&server, &owner, &["projects", "list"]);
    assert!(table.starts_with("name "), "{table}");

    // An owner acts on another project with --project (or SEALTRAIL_PROJECT).
    assert_eq!(
        json(&server, &owner, &["whoami", "--project", "billing"])["project"],
        "billing"
    );
    let out = Command::new(BIN)
        .args(["whoami", "--json"])
        .env("SEALTRAIL_URL", &server.url)
        .env("SEALTRAIL_API_KEY", &owner)
        .env("SEALTRAIL_PROJECT", "billing")
        .output()
        .unwrap();
    let me: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(me["project"], "billing");

    // A key made in that project belongs to it, and only to it.
    let member = create_key(
        &server,
        &owner,
        &[
            "--project",
            "billing",
            "--name",
            "billing-ci",
            "--role",
            "member",
        ],
    );
    assert_eq!(json(&server, &member, &["whoami"])["project"], "billing");
    assert_eq!(
        json(&server, &member, &["whoami", "--project", "billing"])["project"],
        "billing"
    );
    let err = fails(&server, &member, &["whoami", "--project", "default"], 1);
    assert!(err.contains("403"), "{err}");
    let in_default = json(&server, &owner, &["keys", "list"]);
    assert_eq!(in_default["keys"].as_array().unwrap().len(), 1);
    let in_billing = json(&server, &owner, &["keys", "list", "--project", "billing"]);
    assert_eq!(in_billing["keys"][0]["name"], "billing-ci");

    // Each project has its own registry.
    json(
        &server,
        &owner,
        &["agents", "register", "bot", "--project", "billing"],
    );
    let default_agents = json(&server, &owner, &["agents", "list"]);
    assert_eq!(default_agents["agents"].as_array().unwrap().len(), 0);
    let billing_agents = json(&server, &owner, &["agents", "list", "--project", "billing"]);
    assert_eq!(billing_agents["agents"][0]["id"], "bot");

    // An event sent with the project's key lands in that project's log:
    // a query there finds it, one in default does not.
    let out = ingest(
        &server,
        &member,
        "{\"agent\":{\"id\":\"bot\"},\"kind\":\"decision\",\"action\":\"refund.approve\"}\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let query = |key: &str| -> Vec<Value> {
        let out = ok(
            &server,
            key,
            &["query", "--action", "refund.approve", "--format", "jsonl"],
        );
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let found = query(&member);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["header"]["scope"], "in_scope");
    assert!(query(&owner).is_empty(), "not in the default project");
    // The owner reaches it with --project, on query and on export.
    let out = ok(
        &server,
        &owner,
        &[
            "query",
            "--project",
            "billing",
            "--action",
            "refund.approve",
            "--format",
            "jsonl",
        ],
    );
    assert_eq!(out.lines().count(), 1, "{out}");
    let bundle = dir.path().join("billing.zip");
    ok(
        &server,
        &owner,
        &[
            "export",
            "--project",
            "billing",
            "--agent",
            "bot",
            "-o",
            bundle.to_str().unwrap(),
        ],
    );
    let verified = Command::new(BIN)
        .arg("verify")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(verified.status.success(), "{}", text(&verified.stdout));

    // The project's log keys, over HTTP.
    let keys = json(
        &server,
        &owner,
        &["log-keys", "list", "--project", "billing"],
    );
    assert_eq!(
        keys["origin"].as_str().map(|o| o.ends_with("/billing")),
        Some(true),
        "{keys}"
    );
    let table = ok(&server, &owner, &["log-keys", "list"]);
    assert!(
        table.starts_with("key_id") && table.contains("primary"),
        "{table}"
    );
    let rotation = json(&server, &owner, &["log-keys", "rotate", "--overlap", "1h"]);
    assert!(rotation["new_vkey"].as_str().is_some(), "{rotation}");
    let table = ok(&server, &owner, &["log-keys", "list"]);
    assert!(
        table.contains("overlap") && table.contains("primary"),
        "{table}"
    );
    let err = fails(&server, &member, &["log-keys", "rotate"], 1);
    assert!(err.contains("403") && err.contains("signing"), "{err}");
}
