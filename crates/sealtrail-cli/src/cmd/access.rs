//! Identity and access commands (docs/access.md): `whoami`, `token`,
//! `projects …` and `log-keys …` here, `keys …` in keys.rs and `agents …` in
//! agents.rs; and what they share: server and project arguments, exit codes
//! and durations (what they print goes through `output/`).
//!
//! Exit codes: 0 done; 1 the server refused (its message is printed, e.g. a
//! `403` naming the missing scope); 2 a usage error or no answer at all.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sealtrail_client::{Client, ClientError, TokenRequest};
use serde_json::Value;

use crate::output::json::print_json;
use crate::output::objects::{opt_time, print_object, print_objects, short_time};
use crate::output::table::print_fields;
use crate::remote::{runtime, ServerArgs};

/// Where the server is, how to authenticate, and which project to act on.
#[derive(Debug, Clone, clap::Args)]
pub struct AccessServer {
    #[command(flatten)]
    pub server: ServerArgs,
}

impl AccessServer {
    pub fn client(&self) -> anyhow::Result<Client> {
        self.server.client()
    }
}

/// Runs one request on a fresh single-threaded runtime.
pub fn call<T>(
    fut: impl std::future::Future<Output = Result<T, ClientError>>,
    what: &str,
) -> anyhow::Result<T> {
    let rt = runtime(0)?;
    rt.block_on(fut).with_context(|| what.to_string())
}

/// Exit code 1 (after printing the server's message) when the server
/// answered with an error; other failures stay errors (exit 2 in main).
pub fn finish(r: anyhow::Result<ExitCode>) -> anyhow::Result<ExitCode> {
    match r {
        Err(e) if server_refused(&e) => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(1))
        }
        other => other,
    }
}

fn server_refused(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<ClientError>(),
            Some(ClientError::Api { .. })
        )
    })
}

/// `30d`, `12h`, `90m`, `3600s`, `1w`, `500ms`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let days = |n: &str, per: u64| -> Result<Duration, String> {
        let n: f64 = n
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a duration (e.g. 30d, 12h, 90m, 3600s)"))?;
        Duration::try_from_secs_f64(n * per as f64).map_err(|_| format!("{s:?} is out of range"))
    };
    if let Some(n) = t.strip_suffix('d') {
        days(n, 86_400)
    } else if let Some(n) = t.strip_suffix('w') {
        days(n, 7 * 86_400)
    } else {
        sealtrail_core::time::parse_duration(t)
            .map_err(|e| format!("{e}; d (days) and w (weeks) work too"))
    }
}

/// A duration that must be a whole number of seconds (what the API takes).
pub fn parse_seconds(s: &str) -> Result<u64, String> {
    let d = parse_duration(s)?;
    if d.subsec_nanos() != 0 {
        return Err(format!("{s:?} is not a whole number of seconds"));
    }
    Ok(d.as_secs())
}

/// Microseconds since the epoch, by this machine's clock.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Column order for projects.
const PROJECT_FIELDS: [&str; 5] = ["name", "created", "created_by", "origin", "vkey"];
/// Column order for the log's signing keys and rotations.
const SIGNING_FIELDS: [&str; 13] = [
    "key_id",
    "role",
    "source",
    "created",
    "overlap_until",
    "retired",
    "replaces",
    "vkey",
    "origin",
    "old_key_id",
    "new_key_id",
    "new_source",
    "time",
];

// ---------------------------------------------------------------------------
// whoami

/// Show the key you are using: its id, name, role, scopes and project.
#[derive(Debug, clap::Args)]
pub struct WhoamiArgs {
    #[command(flatten)]
    pub server: AccessServer,
    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn whoami(a: WhoamiArgs) -> anyhow::Result<ExitCode> {
    finish(run_whoami(a))
}

fn run_whoami(a: WhoamiArgs) -> anyhow::Result<ExitCode> {
    let client = a.server.client()?;
    let me = call(client.whoami(), "whoami failed")?;
    if a.json {
        print_json(&me)?;
    } else {
        let mut fields = vec![
            ("id", me.id.clone()),
            ("name", me.name.clone()),
            ("role", me.role.clone()),
            ("project", me.project.clone()),
            ("scopes", me.scopes.join(" ")),
        ];
        if let Some(agent) = &me.agent {
            fields.push(("agent", agent.clone()));
        }
        if let Some(session) = &me.session {
            fields.push(("session", session.clone()));
        }
        fields.push(("expires", opt_time(me.expires, "never")));
        print_fields(&fields)?;
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------
// token

/// Mint a session token from an agent key (`sta_…`): it may send events of
/// the key's agent and of this session only, and dies when it expires or
/// the agent key is revoked or rotated out. Prints the token on stdout, so
/// `TOKEN=$(sealtrail token --session S)` works.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub server: AccessServer,
    /// The session the token is for (events must carry this `session`).
    #[arg(long, value_name = "SESSION")]
    pub session: String,
    /// Lifetime: 1h, 90m, 3600s… (server default 1h, at most 24h).
    #[arg(long, value_parser = parse_seconds, value_name = "DURATION")]
    pub ttl: Option<u64>,
    /// Print the whole answer (token, expires, agent, session) as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn token(a: TokenArgs) -> anyhow::Result<ExitCode> {
    finish(run_token(a))
}

fn run_token(a: TokenArgs) -> anyhow::Result<ExitCode> {
    let client = a.server.client()?;
    let req = TokenRequest {
        session: a.session.clone(),
        ttl_seconds: a.ttl,
    };
    let t = call(client.mint_token(&req), "minting a session token failed")?;
    if a.json {
        print_json(&t)?;
    } else {
        println!("{}", t.token);
        eprintln!(
            "session token for agent {:?}, session {:?}; expires {}",
            t.agent,
            t.session,
            short_time(t.expires)
        );
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------
// projects

/// Projects: independent logs inside one server (owner keys).
#[derive(Debug, clap::Subcommand)]
pub enum ProjectsCommand {
    /// List the server's projects.
    List(ProjectsListArgs),
    /// Create a project: a new log with its own origin, signing key, keys
    /// and agent registry. Needs the `projects` scope (owner keys).
    Create(ProjectsCreateArgs),
}

#[derive(Debug, clap::Args)]
pub struct ProjectsListArgs {
    #[command(flatten)]
    pub server: AccessServer,
    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ProjectsCreateArgs {
    /// The new project's name: lowercase letters, digits and `-`, starting
    /// with a letter or digit, at most 63 characters.
    #[arg(value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub server: AccessServer,
    /// Print the new project as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn projects(c: ProjectsCommand) -> anyhow::Result<ExitCode> {
    finish(run_projects(c))
}

fn run_projects(c: ProjectsCommand) -> anyhow::Result<ExitCode> {
    match c {
        ProjectsCommand::List(a) => {
            let client = a.server.client()?;
            let projects = call(client.list_projects(), "listing projects failed")?;
            if a.json {
                print_json(&serde_json::json!({ "projects": projects }))?;
            } else {
                let items: Vec<Value> = projects
                    .iter()
                    .map(serde_json::to_value)
                    .collect::<Result<_, _>>()?;
                print_objects(&items, &PROJECT_FIELDS)?;
            }
        }
        ProjectsCommand::Create(a) => {
            let client = a.server.client()?;
            let p = call(
                client.create_project(&a.name),
                &format!("creating project {:?} failed", a.name),
            )?;
            if a.json {
                print_json(&p)?;
            } else {
                print_object(&serde_json::to_value(&p)?, &PROJECT_FIELDS)?;
                eprintln!(
                    "created project {:?}; act on it with --project {} (or SEALTRAIL_PROJECT)",
                    p.name, p.name
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------
// log-keys

/// The log's signing keys on a running server (over HTTP). For offline
/// work on a data directory see `sealtrail signing-key`.
#[derive(Debug, clap::Subcommand)]
pub enum LogKeysCommand {
    /// The signing key history: the primary key, keys still co-signing
    /// during an overlap, retired keys (needs the `proofs` scope).
    List(LogKeysListArgs),
    /// Make a new signing key primary; the old one co-signs every
    /// checkpoint until the overlap ends. Logged as `signing_key.rotate`.
    /// Needs the `signing` scope (owner keys).
    Rotate(LogKeysRotateArgs),
}

#[derive(Debug, clap::Args)]
pub struct LogKeysListArgs {
    #[command(flatten)]
    pub server: AccessServer,
    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct LogKeysRotateArgs {
    #[command(flatten)]
    pub server: AccessServer,
    /// How long the old key keeps co-signing: 24h, 7d, 0 (stop at once)…
    /// Default: the server's.
    #[arg(long, value_parser = parse_seconds, value_name = "DURATION")]
    pub overlap: Option<u64>,
    /// Print the server's answer as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn log_keys(c: LogKeysCommand) -> anyhow::Result<ExitCode> {
    finish(run_log_keys(c))
}

fn run_log_keys(c: LogKeysCommand) -> anyhow::Result<ExitCode> {
    match c {
        LogKeysCommand::List(a) => {
            let client = a.server.client()?;
            let v = call(
                client.signing_keys(),
                "listing the log's signing keys failed",
            )?;
            if a.json {
                print_json(&v)?;
            } else {
                // `history` (this server), `keys`, or a bare list.
                let keys = ["history", "keys"]
                    .iter()
                    .find_map(|k| v.get(k).and_then(Value::as_array))
                    .or_else(|| v.as_array());
                match keys {
                    Some(keys) => {
                        print_objects(keys, &SIGNING_FIELDS)?;
                        if let Some(Value::String(origin)) = v.get("origin") {
                            eprintln!("origin: {origin}");
                        }
                    }
                    _ => print_object(&v, &SIGNING_FIELDS)?,
                }
            }
        }
        LogKeysCommand::Rotate(a) => {
            let client = a.server.client()?;
            let v = call(
                client.rotate_signing_key(a.overlap),
                "rotating the log's signing key failed",
            )?;
            if a.json {
                print_json(&v)?;
            } else {
                print_object(&v, &SIGNING_FIELDS)?;
                eprintln!(
                    "rotated; give verifiers the new key (sealtrail log-keys list) \
                         before the overlap ends"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_seconds("30d"), Ok(30 * 86_400));
        assert_eq!(parse_seconds("12h"), Ok(12 * 3600));
        assert_eq!(parse_seconds("90m"), Ok(90 * 60));
        assert_eq!(parse_seconds("3600s"), Ok(3600));
        assert_eq!(parse_seconds("3600"), Ok(3600));
        assert_eq!(parse_seconds("2w"), Ok(14 * 86_400));
        assert_eq!(parse_seconds("0"), Ok(0));
        assert_eq!(parse_seconds("1.5d"), Ok(129_600));
        assert!(parse_seconds("500ms").is_err());
        assert!(parse_seconds("d").is_err());
        assert!(parse_seconds("5y").is_err());
        assert!(parse_seconds("-1d").is_err());
        assert!(parse_seconds("1e400d").is_err());
    }

    #[test]
    fn refusals_are_told_apart_from_failures() {
        let api = ClientError::Api {
            status: 403,
            error: sealtrail_client::ApiError {
                code: "forbidden".into(),
                message: "no".into(),
                field: None,
            },
            retry_after: None,
        };
        let e = anyhow::Error::from(api).context("creating the key failed");
        assert!(server_refused(&e));
        let t = ClientError::Transport {
            url: "http://x".into(),
            message: "refused".into(),
        };
        assert!(!server_refused(
            &anyhow::Error::from(t).context("whoami failed")
        ));
        assert!(!server_refused(&anyhow::anyhow!("usage")));
    }
}
