//! `sealtrail keys …`: API keys over HTTP (docs/access.md). A new key's
//! secret is the only thing printed on stdout (`KEY=$(sealtrail keys create
//! …)`); everything else about it goes to stderr.

use std::process::ExitCode;

use anyhow::bail;
use sealtrail_client::{CreateKey, KeyInfo, KeyUpdate, NewKey, RateLimit};
use sealtrail_core::time::parse_time;

use crate::cmd::access::{call, finish, now_micros, parse_seconds, AccessServer};
use crate::output::json::print_json;
use crate::output::objects::{opt_time, short_time};
use crate::output::table::{print_fields, print_table};

/// Roles a key can have (docs/access.md, "Roles and scopes").
const ROLES: [&str; 6] = ["owner", "admin", "member", "viewer", "auditor", "agent"];

const ROLE_HELP: &str = "owner (everything, server-wide), admin (all but projects and signing), \
member (ingest read bodies proofs export agents:read), viewer (read bodies proofs agents:read), \
auditor (read bodies proofs export agents:read keys:read; must expire within 366 days), \
agent (ingest proofs; bound to one agent id with --agent)";

const SCOPE_HELP: &str = "Only these scopes (a subset of the role's; repeat or comma-separate): \
ingest, read, bodies, proofs, export, agents:read, agents:write, keys:read, keys:write, \
projects, signing. Default: all of the role's";

/// API keys: create, list, rotate and revoke (needs keys:read / keys:write;
/// any key may show, rotate and revoke itself).
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// List the project's keys for an access review: role, state, expiry, last use.
    List(ListArgs),
    /// Show one key's record (never its secret).
    Show(ShowArgs),
    /// Create a key. Prints its secret once on stdout; the record goes to stderr.
    Create(CreateArgs),
    /// Change a key's name, role, scopes, expiry or rate limit (role changes
    /// are logged with before and after).
    Update(UpdateArgs),
    /// Replace a key by a new one (new secret on stdout); the old one keeps
    /// working during the overlap.
    Rotate(RotateArgs),
    /// Revoke a key at once, on every node.
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub server: AccessServer,
    /// Print the records as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The key's id (16 hex digits: the middle part of `stk_<id>_<secret>`).
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub server: AccessServer,
    /// Print the record as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `100:200` (per second : burst) or `100` (burst = rate).
fn parse_rate_limit(s: &str) -> Result<RateLimit, String> {
    let num = |t: &str| -> Result<f64, String> {
        t.trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n > 0.0)
            .ok_or_else(|| {
                format!("{s:?}: give PER_SECOND:BURST with positive numbers, e.g. 100:200")
            })
    };
    let (rate, burst) = match s.split_once(':') {
        Some((r, b)) => (num(r)?, num(b)?),
        None => {
            let r = num(s)?;
            (r, r)
        }
    };
    Ok(RateLimit {
        per_second: rate,
        burst,
    })
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// What the key is for, shown in lists and self-audit events ("ci ingest", "alice").
    #[arg(long, value_name = "NAME")]
    pub name: String,
    #[arg(long, value_name = "ROLE", value_parser = ROLES, long_help = ROLE_HELP, help = "Role: owner, admin, member, viewer, auditor or agent")]
    pub role: String,
    #[arg(long = "scope", value_name = "SCOPE", value_delimiter = ',', help = SCOPE_HELP)]
    pub scopes: Vec<String>,
    /// The agent id an agent key is bound to (required for, and only with, --role agent).
    #[arg(long, value_name = "AGENT_ID")]
    pub agent: Option<String>,
    /// Expire after this long: 30d, 12h, 90m, 3600s… (auditor keys must expire within 366d).
    #[arg(long, value_parser = parse_seconds, value_name = "DURATION", conflicts_with = "expires")]
    pub expires_in: Option<u64>,
    /// Expire at this time (RFC 3339, a date, or µs since the epoch).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub expires: Option<u64>,
    /// Leave the `bodies` scope out: reads and exports show headers only.
    #[arg(long)]
    pub no_bodies: bool,
    /// This key's own rate limit, PER_SECOND:BURST (e.g. 100:200), instead of the server's.
    #[arg(long, value_parser = parse_rate_limit, value_name = "RATE:BURST")]
    pub rate_limit: Option<RateLimit>,
    /// The new key belongs to the project named by --project (owner keys may
    /// name any project); without it, to the calling key's project.
    #[command(flatten)]
    pub server: AccessServer,
    /// Print `{"key", "info"}` as JSON on stdout instead of the bare secret.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The key's id.
    #[arg(value_name = "ID")]
    pub id: String,
    /// A new name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    #[arg(long, value_name = "ROLE", value_parser = ROLES, long_help = ROLE_HELP, help = "New role: owner, admin, member, viewer, auditor or agent")]
    pub role: Option<String>,
    #[arg(
        long = "scope",
        value_name = "SCOPE",
        value_delimiter = ',',
        help = "Replace the scopes with these (repeat or comma-separate)"
    )]
    pub scopes: Vec<String>,
    /// Expire this long from now: 30d, 12h, 90m…
    #[arg(long, value_parser = parse_seconds, value_name = "DURATION", conflicts_with = "expires")]
    pub expires_in: Option<u64>,
    /// Expire at this time (RFC 3339, a date, or µs since the epoch).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub expires: Option<u64>,
    /// A new rate limit, PER_SECOND:BURST.
    #[arg(long, value_parser = parse_rate_limit, value_name = "RATE:BURST")]
    pub rate_limit: Option<RateLimit>,
    #[command(flatten)]
    pub server: AccessServer,
    /// Print the new record as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// The key's id.
    #[arg(value_name = "ID")]
    pub id: String,
    /// How long the old key keeps working: 24h (the server's default), 7d,
    /// 0 (revoke it now)…
    #[arg(long, value_parser = parse_seconds, value_name = "DURATION")]
    pub overlap: Option<u64>,
    #[command(flatten)]
    pub server: AccessServer,
    /// Print `{"key", "info"}` as JSON on stdout instead of the bare secret.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The key's id.
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub server: AccessServer,
    /// Print the revoked record as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(c: KeysCommand) -> anyhow::Result<ExitCode> {
    finish(match c {
        KeysCommand::List(a) => list(a),
        KeysCommand::Show(a) => show(a),
        KeysCommand::Create(a) => create(a),
        KeysCommand::Update(a) => update(a),
        KeysCommand::Rotate(a) => rotate(a),
        KeysCommand::Revoke(a) => revoke(a),
    })
}

fn list(a: ListArgs) -> anyhow::Result<ExitCode> {
    let client = a.server.client()?;
    let keys = call(client.list_keys(), "listing keys failed")?;
    if a.json {
        print_json(&serde_json::json!({ "keys": keys }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let now = now_micros();
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.id.clone(),
                k.name.clone(),
                k.role.clone(),
                k.state(now).to_string(),
                k.agent.clone().unwrap_or_else(|| "-".into()),
                short_time(k.created),
                opt_time(k.expires, "never"),
                opt_time(k.last_used, "never"),
            ]
        })
        .collect();
    print_table(
        &[
            "id",
            "name",
            "role",
            "state",
            "agent",
            "created",
            "expires",
            "last_used",
        ],
        &rows,
    )?;
    eprintln!("({} keys)", keys.len());
    Ok(ExitCode::SUCCESS)
}

/// A key's record as `field  value` lines.
fn fields(k: &KeyInfo) -> Vec<(&'static str, String)> {
    let now = now_micros();
    let mut f = vec![
        ("id", k.id.clone()),
        ("name", k.name.clone()),
        ("role", k.role.clone()),
        ("state", k.state(now).to_string()),
        ("project", k.project.clone()),
        ("scopes", k.scopes.join(" ")),
    ];
    if let Some(agent) = &k.agent {
        f.push(("agent", agent.clone()));
    }
    f.push(("created", short_time(k.created)));
    f.push(("created_by", k.created_by.clone()));
    f.push(("expires", opt_time(k.expires, "never")));
    f.push(("last_used", opt_time(k.last_used, "never")));
    if let Some(t) = k.revoked {
        f.push(("revoked", short_time(t)));
    }
    if let Some(by) = &k.revoked_by {
        f.push(("revoked_by", by.clone()));
    }
    if let Some(id) = &k.rotated_from {
        f.push(("rotated_from", id.clone()));
    }
    if let Some(id) = &k.rotated_to {
        f.push(("rotated_to", id.clone()));
    }
    if let Some(r) = &k.rate_limit {
        f.push(("rate_limit", format!("{}:{}", r.per_second, r.burst)));
    }
    f
}

fn show(a: ShowArgs) -> anyhow::Result<ExitCode> {
    let client = a.server.client()?;
    let k = call(
        client.get_key(&a.id),
        &format!("reading key {} failed", a.id),
    )?;
    if a.json {
        print_json(&k)?;
    } else {
        print_fields(&fields(&k))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The secret on stdout, the rest on stderr (or all of it as JSON on stdout).
fn print_new_key(new: &NewKey, json: bool, what: &str) -> anyhow::Result<()> {
    if json {
        return print_json(new);
    }
    println!("{}", new.key);
    let k = &new.info;
    eprintln!(
        "{what} key {} {:?} ({}) in project {}",
        k.id, k.name, k.role, k.project
    );
    eprintln!("  scopes:  {}", k.scopes.join(" "));
    if let Some(agent) = &k.agent {
        eprintln!("  agent:   {agent}");
    }
    eprintln!("  expires: {}", opt_time(k.expires, "never"));
    eprintln!("The secret (on stdout) is shown only this once: store it now.");
    Ok(())
}

fn create(a: CreateArgs) -> anyhow::Result<ExitCode> {
    if a.role == "agent" && a.agent.is_none() {
        bail!("--role agent needs --agent AGENT_ID (the agent the key is bound to)");
    }
    if a.role != "agent" && a.agent.is_some() {
        bail!("--agent is only for --role agent");
    }
    let req = CreateKey {
        name: a.name.clone(),
        role: a.role.clone(),
        scopes: (!a.scopes.is_empty()).then(|| a.scopes.clone()),
        agent: a.agent.clone(),
        expires_in: a.expires_in,
        expires: a.expires,
        bodies: a.no_bodies.then_some(false),
        project: None,
        rate_limit: a.rate_limit,
    };
    let client = a.server.client()?;
    let new = call(
        client.create_key(&req),
        &format!("creating key {:?} failed", a.name),
    )?;
    print_new_key(&new, a.json, "created")?;
    Ok(ExitCode::SUCCESS)
}

fn update(a: UpdateArgs) -> anyhow::Result<ExitCode> {
    let u = KeyUpdate {
        name: a.name.clone(),
        role: a.role.clone(),
        scopes: (!a.scopes.is_empty()).then(|| a.scopes.clone()),
        expires: a.expires,
        expires_in: a.expires_in,
        rate_limit: a.rate_limit,
    };
    if u.is_empty() {
        bail!("nothing to change: give --name, --role, --scope, --expires(-in) or --rate-limit");
    }
    let client = a.server.client()?;
    let k = call(
        client.update_key(&a.id, &u),
        &format!("updating key {} failed", a.id),
    )?;
    if a.json {
        print_json(&k)?;
    } else {
        print_fields(&fields(&k))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn rotate(a: RotateArgs) -> anyhow::Result<ExitCode> {
    let client = a.server.client()?;
    let new = call(
        client.rotate_key(&a.id, a.overlap),
        &format!("rotating key {} failed", a.id),
    )?;
    print_new_key(&new, a.json, "rotated to")?;
    if !a.json {
        match a.overlap {
            Some(0) => eprintln!("The old key {} is revoked.", a.id),
            Some(secs) => eprintln!(
                "The old key {} keeps working until about {}.",
                a.id,
                short_time(now_micros().saturating_add(secs.saturating_mul(1_000_000)))
            ),
            None => eprintln!(
                "The old key {} keeps working for the server's default overlap (24h).",
                a.id
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn revoke(a: RevokeArgs) -> anyhow::Result<ExitCode> {
    let client = a.server.client()?;
    let k = call(
        client.revoke_key(&a.id),
        &format!("revoking key {} failed", a.id),
    )?;
    if a.json {
        print_json(&k)?;
    } else {
        println!(
            "revoked key {} {:?} ({}) at {}",
            k.id,
            k.name,
            k.role,
            opt_time(k.revoked, "?")
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits() {
        assert_eq!(
            parse_rate_limit("100:200"),
            Ok(RateLimit {
                per_second: 100.0,
                burst: 200.0
            })
        );
        assert_eq!(
            parse_rate_limit("0.5"),
            Ok(RateLimit {
                per_second: 0.5,
                burst: 0.5
            })
        );
        for bad in ["", ":", "a:b", "0:1", "1:-1", "1:inf", "100:200:3"] {
            assert!(parse_rate_limit(bad).is_err(), "{bad}");
        }
    }
}
