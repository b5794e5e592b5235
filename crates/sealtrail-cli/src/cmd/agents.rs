//! `sealtrail agents …`: the agent registry over HTTP (docs/access.md):
//! who an agent is, who answers for it, what it may touch, and its status.
//! Every ingested event is checked against its agent's record.

use std::process::ExitCode;

use anyhow::{bail, Context};
use sealtrail_client::{AgentRecord, AgentUpdate};
use serde_json::{Map, Value};

use crate::cmd::access::{call, finish, AccessServer};
use crate::output::json::print_json;
use crate::output::objects::opt_time;
use crate::output::table::{print_fields, print_table};

const RISK_TIERS: [&str; 4] = ["minimal", "limited", "high", "prohibited"];
const ANNEX_III: [&str; 8] = [
    "biometrics",
    "critical_infrastructure",
    "education",
    "employment",
    "essential_services",
    "law_enforcement",
    "migration",
    "justice_democracy",
];
/// Fields `agents update --unset` may clear (sent as `null`).
const UNSETTABLE: [&str; 5] = ["name", "owner", "purpose", "model", "annex_iii"];
const STATUSES: [&str; 3] = ["active", "suspended", "retired"];

/// The agent registry: list, show, register, update, suspend, activate, retire.
#[derive(Debug, clap::Subcommand)]
pub enum AgentsCommand {
    /// List the project's registered agents (needs agents:read).
    List(ListArgs),
    /// Show one agent's record, scope included.
    Show(ShowArgs),
    /// Register an agent (needs agents:write); fails if the id exists.
    Register(RegisterArgs),
    /// Change an agent's record (needs agents:write). Fields not given are
    /// kept; scope flags replace the list they name and keep the others.
    Update(UpdateArgs),
    /// Suspend an agent: its events are still recorded, as `out_of_scope: agent is suspended`.
    Suspend(StatusArgs),
    /// Make a suspended agent active again.
    Activate(StatusArgs),
    /// Retire an agent for good: revokes every key bound to it (and their
    /// session tokens). A retired agent cannot be reactivated. Asks nothing.
    Retire(StatusArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only agents with this status.
    #[arg(long, value_parser = STATUSES, value_name = "STATUS")]
    pub status: Option<String>,
    #[command(flatten)]
    pub server: AccessServer,
    /// Print the records as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The agent id (as events carry it in `agent.id`).
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub server: AccessServer,
    /// Print the record as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The fields `register` and `update` set from flags.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentFields {
    /// Human-readable name.
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    /// The team or person accountable for the agent.
    #[arg(long, value_name = "TEXT")]
    pub owner: Option<String>,
    /// What the agent is for.
    #[arg(long, value_name = "TEXT")]
    pub purpose: Option<String>,
    /// The model it runs on, e.g. openai/gpt-4.1.
    #[arg(long, value_name = "TEXT")]
    pub model: Option<String>,
    /// EU AI Act risk tier (the server's default: minimal).
    #[arg(long, value_parser = RISK_TIERS, value_name = "TIER")]
    pub risk_tier: Option<String>,
    /// EU AI Act Annex III area (only with --risk-tier high).
    #[arg(long, value_parser = ANNEX_III, value_name = "AREA")]
    pub annex_iii: Option<String>,
    /// A tool the agent may call: a glob over `tool.name` (`*` any run of
    /// characters, `?` one; whole string, case-sensitive). Repeat for more.
    /// Without any, tools are not constrained.
    #[arg(long = "allow-tool", value_name = "PATTERN")]
    pub tools: Vec<String>,
    /// An action the agent may take: a glob over `action`. Repeat for more.
    #[arg(long = "allow-action", value_name = "PATTERN")]
    pub actions: Vec<String>,
    /// A resource the agent may touch: a glob over `resource`. Repeat for more.
    #[arg(long = "allow-resource", value_name = "PATTERN")]
    pub resources: Vec<String>,
    /// A data class the agent may handle (pii, pci, phi, …; exact names). Repeat for more.
    #[arg(long = "allow-data-class", value_name = "CLASS")]
    pub data_classes: Vec<String>,
}

impl AgentFields {
    /// The top-level text and enum fields that were given, as JSON members.
    fn members(&self) -> Vec<(&'static str, Value)> {
        [
            ("name", &self.name),
            ("owner", &self.owner),
            ("purpose", &self.purpose),
            ("model", &self.model),
            ("risk_tier", &self.risk_tier),
            ("annex_iii", &self.annex_iii),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, Value::String(v.clone()))))
        .collect()
    }

    /// A `scope` object with each list given on the command line replacing
    /// its own; other members are left as they are (the server judges them).
    fn apply_scope(&self, scope: &mut Map<String, Value>) {
        for (given, name) in [
            (&self.tools, "tools"),
            (&self.actions, "actions"),
            (&self.resources, "resources"),
            (&self.data_classes, "data_classes"),
        ] {
            if !given.is_empty() {
                let list = given.iter().cloned().map(Value::String).collect();
                scope.insert(name.into(), Value::Array(list));
            }
        }
    }

    fn touches_scope(&self) -> bool {
        !(self.tools.is_empty()
            && self.actions.is_empty()
            && self.resources.is_empty()
            && self.data_classes.is_empty())
    }
}

#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    /// The agent id, as its events carry it in `agent.id` (may come from --file instead).
    #[arg(value_name = "ID", required_unless_present = "file")]
    pub id: Option<String>,
    #[command(flatten)]
    pub fields: AgentFields,
    /// Start from this JSON record ({"id", "name", "owner", "purpose",
    /// "model", "risk_tier", "annex_iii", "status", "scope": {"tools",
    /// "actions", "resources", "data_classes"}}); flags override its fields.
    /// An empty list (`"tools": []`) allows nothing.
    #[arg(long, value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub server: AccessServer,
    /// Print the new record as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The agent id.
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub fields: AgentFields,
    /// Remove the tools list: any tool is allowed.
    #[arg(long, conflicts_with = "tools")]
    pub clear_tools: bool,
    /// Remove the actions list: any action is allowed.
    #[arg(long, conflicts_with = "actions")]
    pub clear_actions: bool,
    /// Remove the resources list: any resource is allowed.
    #[arg(long, conflicts_with = "resources")]
    pub clear_resources: bool,
    /// Remove the data classes list: any data class is allowed.
    #[arg(long, conflicts_with = "data_classes")]
    pub clear_data_classes: bool,
    /// Clear a field: name, owner, purpose, model or annex_iii (e.g. before
    /// lowering --risk-tier from high). Repeat for more.
    #[arg(long, value_parser = UNSETTABLE, value_name = "FIELD")]
    pub unset: Vec<String>,
    /// Apply the fields of this JSON object (a partial record, without
    /// `id`); flags override its fields.
    #[arg(long, value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub server: AccessServer,
    /// Print the new record as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The agent id.
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub server: AccessServer,
    /// Print the new record as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(c: AgentsCommand) -> anyhow::Result<ExitCode> {
    finish(match c {
        AgentsCommand::List(a) => list(a),
        AgentsCommand::Show(a) => show(a),
        AgentsCommand::Register(a) => register(a),
        AgentsCommand::Update(a) => update(a),
        AgentsCommand::Suspend(a) => set_status(a, "suspended"),
        AgentsCommand::Activate(a) => set_status(a, "active"),
        AgentsCommand::Retire(a) => set_status(a, "retired"),
    })
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "-".into())
}

/// A scope list for people: `any` when absent, `(none)` when empty.
fn scope_list(l: &Option<Vec<String>>) -> String {
    match l {
        None => "any".into(),
        Some(v) if v.is_empty() => "(none)".into(),
        Some(v) => v.join(" "),
    }
}

fn list(a: ListArgs) -> anyhow::Result<ExitCode> {
    let client = a.server.client()?;
    let agents = call(
        client.list_agents(a.status.as_deref()),
        "listing agents failed",
    )?;
    if a.json {
        print_json(&serde_json::json!({ "agents": agents }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = agents
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                opt(&r.status),
                opt(&r.risk_tier),
                opt(&r.name),
                opt(&r.owner),
                opt(&r.model),
                r.version.map_or_else(|| "-".into(), |v| v.to_string()),
                opt_time(r.updated, "-"),
            ]
        })
        .collect();
    print_table(
        &[
            "id",
            "status",
            "risk_tier",
            "name",
            "owner",
            "model",
            "version",
            "updated",
        ],
        &rows,
    )?;
    eprintln!("({} agents)", agents.len());
    Ok(ExitCode::SUCCESS)
}

fn print_record(r: &AgentRecord, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(r);
    }
    let mut f = vec![
        ("id", r.id.clone()),
        ("status", opt(&r.status)),
        ("name", opt(&r.name)),
        ("owner", opt(&r.owner)),
        ("purpose", opt(&r.purpose)),
        ("model", opt(&r.model)),
        ("risk_tier", opt(&r.risk_tier)),
        ("annex_iii", opt(&r.annex_iii)),
        ("tools", scope_list(&r.scope.tools)),
        ("actions", scope_list(&r.scope.actions)),
        ("resources", scope_list(&r.scope.resources)),
        ("data_classes", scope_list(&r.scope.data_classes)),
        ("created", opt_time(r.created, "-")),
        ("updated", opt_time(r.updated, "-")),
        (
            "version",
            r.version.map_or_else(|| "-".into(), |v| v.to_string()),
        ),
    ];
    for (k, v) in &r.extra {
        f.push((k.as_str(), crate::output::objects::cell(k, v)));
    }
    print_fields(&f)?;
    Ok(())
}

fn show(a: ShowArgs) -> anyhow::Result<ExitCode> {
    let client = a.server.client()?;
    let r = call(
        client.get_agent(&a.id),
        &format!("reading agent {:?} failed", a.id),
    )?;
    print_record(&r, a.json)?;
    Ok(ExitCode::SUCCESS)
}

/// A JSON object from a file.
fn read_object(path: &std::path::Path) -> anyhow::Result<Map<String, Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    match serde_json::from_str::<Value>(&text)
        .with_context(|| format!("{} is not JSON", path.display()))?
    {
        Value::Object(m) => Ok(m),
        _ => bail!(
            "{} must hold one JSON object (an agent record)",
            path.display()
        ),
    }
}

fn register(a: RegisterArgs) -> anyhow::Result<ExitCode> {
    let mut body = match &a.file {
        Some(path) => read_object(path)?,
        None => Map::new(),
    };
    match (&a.id, body.get("id")) {
        (Some(id), Some(Value::String(file_id))) if id != file_id => {
            bail!("the id {id:?} differs from the file's {file_id:?}")
        }
        (Some(id), _) => {
            body.insert("id".into(), Value::String(id.clone()));
        }
        (None, Some(Value::String(_))) => {}
        (None, _) => bail!("give the agent id (as an argument or \"id\" in --file)"),
    }
    for (k, v) in a.fields.members() {
        body.insert(k.into(), v);
    }
    if a.fields.touches_scope() {
        let mut scope = scope_object(body.remove("scope"))?;
        a.fields.apply_scope(&mut scope);
        body.insert("scope".into(), Value::Object(scope));
    }
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let client = a.server.client()?;
    let r = call(
        client.register_agent_json(&Value::Object(body)),
        &format!("registering agent {id:?} failed"),
    )?;
    print_record(&r, a.json)?;
    if !a.json {
        eprintln!("registered agent {:?}", r.id);
    }
    Ok(ExitCode::SUCCESS)
}

/// A record's `scope` member as an object (absent or null: empty).
fn scope_object(v: Option<Value>) -> anyhow::Result<Map<String, Value>> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(other) => bail!("\"scope\" must be an object, not {other}"),
    }
}

fn update(a: UpdateArgs) -> anyhow::Result<ExitCode> {
    let mut patch = match &a.file {
        Some(path) => read_object(path)?,
        None => Map::new(),
    };
    match patch.remove("id") {
        Some(Value::String(id)) if id != a.id => {
            bail!("the file is for agent {id:?}, not {:?}", a.id)
        }
        _ => {}
    }
    for field in &a.unset {
        patch.insert(field.clone(), Value::Null);
    }
    for (k, v) in a.fields.members() {
        if a.unset.iter().any(|u| u == k) {
            bail!(
                "--{} and --unset {k} contradict each other",
                k.replace('_', "-")
            );
        }
        patch.insert(k.into(), v);
    }
    let clears = a.clear_tools || a.clear_actions || a.clear_resources || a.clear_data_classes;
    let client = a.server.client()?;
    if a.fields.touches_scope() || clears {
        // The whole scope is sent (absent lists as null), so lists not named
        // on the command line are kept whatever the server's patch rules.
        let mut scope = match patch.remove("scope") {
            Some(from_file) => scope_object(Some(from_file))?,
            None => {
                let current = call(
                    client.get_agent(&a.id),
                    &format!("reading agent {:?} failed", a.id),
                )?;
                scope_object(Some(serde_json::to_value(&current.scope)?))?
            }
        };
        a.fields.apply_scope(&mut scope);
        for (clear, name) in [
            (a.clear_tools, "tools"),
            (a.clear_actions, "actions"),
            (a.clear_resources, "resources"),
            (a.clear_data_classes, "data_classes"),
        ] {
            if clear {
                scope.insert(name.into(), Value::Null);
            }
        }
        patch.insert("scope".into(), Value::Object(scope));
    }
    if patch.is_empty() {
        bail!(
            "nothing to change: give a field flag (--name, --risk-tier, --allow-tool, …) or --file"
        );
    }
    let r = call(
        client.update_agent_json(&a.id, &Value::Object(patch)),
        &format!("updating agent {:?} failed", a.id),
    )?;
    print_record(&r, a.json)?;
    Ok(ExitCode::SUCCESS)
}

fn set_status(a: StatusArgs, status: &str) -> anyhow::Result<ExitCode> {
    let client = a.server.client()?;
    let r = call(
        client.update_agent(&a.id, &AgentUpdate::status(status)),
        &format!("setting agent {:?} to {status} failed", a.id),
    )?;
    if a.json {
        print_json(&r)?;
    } else {
        println!(
            "agent {:?} is {} (version {}, risk tier {}, owner {})",
            r.id,
            opt(&r.status),
            r.version.map_or_else(|| "-".into(), |v| v.to_string()),
            opt(&r.risk_tier),
            opt(&r.owner),
        );
        if status == "retired" {
            eprintln!("every key bound to {:?} is revoked", r.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> AgentFields {
        AgentFields {
            name: None,
            owner: None,
            purpose: None,
            model: None,
            risk_tier: Some("high".into()),
            annex_iii: None,
            tools: vec!["search_*".into()],
            actions: vec![],
            resources: vec![],
            data_classes: vec!["pii".into()],
        }
    }

    #[test]
    fn flags_replace_only_the_lists_they_name() {
        let mut scope = scope_object(Some(serde_json::json!({
            "tools": ["old"], "actions": ["read"], "resources": null, "data_classes": [], "typo": 1
        })))
        .unwrap();
        let f = fields();
        assert!(f.touches_scope());
        f.apply_scope(&mut scope);
        assert_eq!(
            Value::Object(scope),
            serde_json::json!({"tools": ["search_*"], "actions": ["read"], "resources": null,
                               "data_classes": ["pii"], "typo": 1})
        );
        assert_eq!(
            f.members(),
            vec![("risk_tier", Value::String("high".into()))]
        );
        assert!(scope_object(None).unwrap().is_empty());
        assert!(scope_object(Some(serde_json::json!([1]))).is_err());
    }

    #[test]
    fn scope_lists_for_people() {
        assert_eq!(scope_list(&None), "any");
        assert_eq!(scope_list(&Some(vec![])), "(none)");
        assert_eq!(scope_list(&Some(vec!["a".into(), "b*".into()])), "a b*");
    }
}
