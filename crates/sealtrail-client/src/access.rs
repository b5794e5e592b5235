//! Identity and access (docs/access.md): who am I, API keys, session tokens,
//! the agent registry, projects and the log's signing keys.
//!
//! Answers are decoded leniently: fields this client does not know are kept
//! in each type's `extra` map (so `--json` output loses nothing a newer
//! server sends), and optional fields may be absent or `null`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sealtrail_client::ClientError> {
//! use sealtrail_client::{Client, CreateKey};
//! let owner = Client::builder("http://127.0.0.1:7700", "stk_…").project("billing").build()?;
//! let new = owner.create_key(&CreateKey::new("ci ingest", "member")).await?;
//! println!("{} (shown once)", new.key);
//! # Ok(())
//! # }
//! ```
//!
//! A request the key's role or scopes do not allow fails with
//! [`ClientError::Api`] of status `403` whose message is the server's
//! explanation (see [`ClientError::is_forbidden`]).

use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::client::Client;
use crate::error::ClientError;

/// Fields of an answer this client has no name for.
pub type Extra = Map<String, Value>;

/// `GET /v1/whoami`: the key making the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Whoami {
    /// The key's public id (16 hex digits; `legacy-…` for a pre-access owner key).
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// `owner`, `admin`, `member`, `viewer`, `auditor` or `agent`.
    pub role: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The project this request acts on.
    #[serde(default)]
    pub project: String,
    /// The agent id an agent key is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// µs since the epoch (a session token's own expiry when one is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// The session a session token is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A key's token bucket (the API's wire type, shared with the server).
pub use sealtrail_api::access::RateLimit;

/// What the server tells about a key: never its secret nor its hash.
/// Times are µs since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub project: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default)]
    pub created: u64,
    /// The id (or description) of the key that created this one.
    #[serde(default)]
    pub created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl KeyInfo {
    /// `revoked`, `expired`, `rotated` (replaced, still in its overlap) or
    /// `active`, as of `now` (µs since the epoch).
    pub fn state(&self, now: u64) -> &'static str {
        if self.revoked.is_some_and(|t| t <= now) {
            "revoked"
        } else if self.expires.is_some_and(|t| t <= now) {
            "expired"
        } else if self.rotated_to.is_some() {
            "rotated"
        } else {
            "active"
        }
    }
}

/// `POST /v1/keys`. Absent fields take the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CreateKey {
    pub name: String,
    pub role: String,
    /// A subset of the role's scopes (default: all of them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Required for, and only allowed with, role `agent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Lifetime in seconds from now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// Expiry, µs since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// `false` leaves the `bodies` scope out (auditors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bodies: Option<bool>,
    /// Owner keys only; default: the request's project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

impl CreateKey {
    /// A key named `name` with every scope of `role`, no expiry.
    pub fn new(name: impl Into<String>, role: impl Into<String>) -> Self {
        CreateKey {
            name: name.into(),
            role: role.into(),
            ..CreateKey::default()
        }
    }
}

/// `PATCH /v1/keys/{id}`: only the fields set are changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KeyUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// µs since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// Expire this many seconds from now (server clock); not with `expires`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

impl KeyUpdate {
    /// `true` when nothing would change.
    pub fn is_empty(&self) -> bool {
        *self == KeyUpdate::default()
    }
}

/// A new key (create or rotate): the secret, shown this once, and its record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewKey {
    pub key: String,
    pub info: KeyInfo,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `POST /v1/tokens` (the API's wire type, shared with the server).
pub use sealtrail_api::access::TokenRequest;

/// A session token (`sts_…`): may send events of its agent and its session only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub token: String,
    /// µs since the epoch.
    #[serde(default)]
    pub expires: u64,
    #[serde(default)]
    pub agent: String,
    #[serde(default)]
    pub session: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// What an agent may do: glob patterns (`*`, `?`, whole-string,
/// case-sensitive) and data class names. `None` does not constrain; an empty
/// list allows nothing.
///
/// Serialised with every list present (`null` for `None`), so a `PATCH`
/// carrying a scope states the whole of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentScope {
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    #[serde(default)]
    pub resources: Option<Vec<String>>,
    #[serde(default)]
    pub data_classes: Option<Vec<String>>,
}

/// An agent registry record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `minimal`, `limited`, `high` or `prohibited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_tier: Option<String>,
    /// An EU AI Act Annex III area (`employment`, `education`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annex_iii: Option<String>,
    /// `active`, `suspended` or `retired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default)]
    pub scope: AgentScope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `POST /v1/agents`: a record without `created`, `updated`, `version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAgent {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annex_iii: Option<String>,
    /// Default (server side): `active`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default)]
    pub scope: AgentScope,
}

impl NewAgent {
    /// An agent with only an id: no constraints.
    pub fn new(id: impl Into<String>) -> Self {
        NewAgent {
            id: id.into(),
            ..NewAgent::default()
        }
    }
}

/// `PATCH /v1/agents/{id}`: only the fields set are sent. A `scope`, when
/// set, is sent whole (see [`AgentScope`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AgentUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annex_iii: Option<String>,
    /// `active`, `suspended` or `retired` (final: revokes the agent's keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<AgentScope>,
}

impl AgentUpdate {
    /// A change of status only.
    pub fn status(status: impl Into<String>) -> Self {
        AgentUpdate {
            status: Some(status.into()),
            ..AgentUpdate::default()
        }
    }

    /// `true` when nothing would change.
    pub fn is_empty(&self) -> bool {
        *self == AgentUpdate::default()
    }
}

/// One project (one independent log in the server).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Project {
    pub name: String,
    /// Whatever else the server says about it (`origin`, `created`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

impl<'de> Deserialize<'de> for Project {
    /// A project object `{"name", …}`, or just its name as a string.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Object {
            name: String,
            #[serde(flatten)]
            extra: Extra,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Name(String),
            Object(Object),
        }
        Ok(match Wire::deserialize(d)? {
            Wire::Name(name) => Project {
                name,
                extra: Extra::new(),
            },
            Wire::Object(o) => Project {
                name: o.name,
                extra: o.extra,
            },
        })
    }
}

#[derive(Deserialize)]
struct KeysAnswer {
    keys: Vec<KeyInfo>,
}

#[derive(Deserialize)]
struct AgentsAnswer {
    agents: Vec<AgentRecord>,
}

#[derive(Deserialize)]
struct ProjectsAnswer {
    projects: Vec<Project>,
}

use sealtrail_api::access::RotateRequest as Overlap;

#[derive(Serialize)]
struct NewProject<'a> {
    name: &'a str,
}

/// No request body.
const NO_BODY: Option<&()> = None;

impl Client {
    /// `GET /v1/whoami`: the key this client uses, as the server sees it.
    pub async fn whoami(&self) -> Result<Whoami, ClientError> {
        let url = self.segments_url(&["v1", "whoami"]);
        self.call_json(Method::GET, url, NO_BODY).await
    }

    /// `GET /v1/keys` (`keys:read`): every key of the project, revoked ones included.
    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>, ClientError> {
        let url = self.segments_url(&["v1", "keys"]);
        let a: KeysAnswer = self.call_json(Method::GET, url, NO_BODY).await?;
        Ok(a.keys)
    }

    /// `GET /v1/keys/{id}`.
    pub async fn get_key(&self, id: &str) -> Result<KeyInfo, ClientError> {
        let url = self.segments_url(&["v1", "keys", id]);
        self.call_json(Method::GET, url, NO_BODY).await
    }

    /// `POST /v1/keys` (`keys:write`): the new key's secret (shown once) and record.
    pub async fn create_key(&self, req: &CreateKey) -> Result<NewKey, ClientError> {
        let url = self.segments_url(&["v1", "keys"]);
        self.call_json(Method::POST, url, Some(req)).await
    }

    /// `PATCH /v1/keys/{id}` (`keys:write`).
    pub async fn update_key(&self, id: &str, update: &KeyUpdate) -> Result<KeyInfo, ClientError> {
        let url = self.segments_url(&["v1", "keys", id]);
        self.call_json(Method::PATCH, url, Some(update)).await
    }

    /// `POST /v1/keys/{id}/rotate` (`keys:write`, or the key itself): a new
    /// key; the old one keeps working for `overlap_seconds` (server default
    /// 86400; 0 revokes it now).
    pub async fn rotate_key(
        &self,
        id: &str,
        overlap_seconds: Option<u64>,
    ) -> Result<NewKey, ClientError> {
        let url = self.segments_url(&["v1", "keys", id, "rotate"]);
        self.call_json(Method::POST, url, Some(&Overlap { overlap_seconds }))
            .await
    }

    /// `DELETE /v1/keys/{id}` (`keys:write`, or the key itself): revoked at
    /// once; the record with `revoked` set.
    pub async fn revoke_key(&self, id: &str) -> Result<KeyInfo, ClientError> {
        let url = self.segments_url(&["v1", "keys", id]);
        self.call_json(Method::DELETE, url, NO_BODY).await
    }

    /// `POST /v1/tokens` (agent keys only): a session token for `session`.
    pub async fn mint_token(&self, req: &TokenRequest) -> Result<Token, ClientError> {
        let url = self.segments_url(&["v1", "tokens"]);
        self.call_json(Method::POST, url, Some(req)).await
    }

    /// `GET /v1/agents[?status=…]` (`agents:read`).
    pub async fn list_agents(&self, status: Option<&str>) -> Result<Vec<AgentRecord>, ClientError> {
        let mut url = self.segments_url(&["v1", "agents"]);
        if let Some(s) = status {
            url.query_pairs_mut().append_pair("status", s);
        }
        let a: AgentsAnswer = self.call_json(Method::GET, url, NO_BODY).await?;
        Ok(a.agents)
    }

    /// `GET /v1/agents/{id}` (`agents:read`).
    pub async fn get_agent(&self, id: &str) -> Result<AgentRecord, ClientError> {
        let url = self.segments_url(&["v1", "agents", id]);
        self.call_json(Method::GET, url, NO_BODY).await
    }

    /// `POST /v1/agents` (`agents:write`); `409` if the id exists.
    pub async fn register_agent(&self, agent: &NewAgent) -> Result<AgentRecord, ClientError> {
        let url = self.segments_url(&["v1", "agents"]);
        self.call_json(Method::POST, url, Some(agent)).await
    }

    /// Like [`Client::register_agent`] with a record given as JSON (e.g.
    /// read from a file), sent as it is.
    pub async fn register_agent_json(&self, agent: &Value) -> Result<AgentRecord, ClientError> {
        let url = self.segments_url(&["v1", "agents"]);
        self.call_json(Method::POST, url, Some(agent)).await
    }

    /// `PATCH /v1/agents/{id}` (`agents:write`): the new record. Retiring is
    /// final and revokes every key bound to the agent.
    pub async fn update_agent(
        &self,
        id: &str,
        update: &AgentUpdate,
    ) -> Result<AgentRecord, ClientError> {
        self.update_agent_json(id, update).await
    }

    /// Like [`Client::update_agent`] with any JSON patch body.
    pub async fn update_agent_json(
        &self,
        id: &str,
        patch: &(impl Serialize + ?Sized),
    ) -> Result<AgentRecord, ClientError> {
        let url = self.segments_url(&["v1", "agents", id]);
        self.call_json(Method::PATCH, url, Some(patch)).await
    }

    /// `GET /v1/projects`: the server's projects.
    pub async fn list_projects(&self) -> Result<Vec<Project>, ClientError> {
        let url = self.segments_url(&["v1", "projects"]);
        let a: ProjectsAnswer = self.call_json(Method::GET, url, NO_BODY).await?;
        Ok(a.projects)
    }

    /// `POST /v1/projects` (`projects`, owner keys) with `{"name"}`.
    pub async fn create_project(&self, name: &str) -> Result<Project, ClientError> {
        let url = self.segments_url(&["v1", "projects"]);
        self.call_json(Method::POST, url, Some(&NewProject { name }))
            .await
    }

    /// `GET /v1/signing-keys` (`proofs`): the log's signing key history, as
    /// the server sends it.
    pub async fn signing_keys(&self) -> Result<Value, ClientError> {
        let url = self.segments_url(&["v1", "signing-keys"]);
        self.call_json(Method::GET, url, NO_BODY).await
    }

    /// `POST /v1/signing-keys/rotate` (`signing`): a new log signing key;
    /// checkpoints carry both signatures for `overlap_seconds`.
    pub async fn rotate_signing_key(
        &self,
        overlap_seconds: Option<u64>,
    ) -> Result<Value, ClientError> {
        let url = self.segments_url(&["v1", "signing-keys", "rotate"]);
        self.call_json(Method::POST, url, Some(&Overlap { overlap_seconds }))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_info_is_lenient_and_keeps_unknown_fields() {
        let v = json!({
            "id": "2f6c0e1d9a4b7c35", "name": "alice", "role": "admin",
            "scopes": ["read"], "project": "default", "created": 1, "created_by": "owner",
            "expires": null, "rate_limit": {"per_second": 100.0, "burst": 200},
            "future_field": {"x": 1}
        });
        let k: KeyInfo = serde_json::from_value(v).unwrap();
        assert_eq!(k.expires, None);
        assert_eq!(
            k.rate_limit,
            Some(RateLimit {
                per_second: 100.0,
                burst: 200.0
            })
        );
        assert_eq!(k.extra["future_field"], json!({"x": 1}));
        assert_eq!(serde_json::to_value(&k).unwrap()["future_field"]["x"], 1);
        assert_eq!(k.state(5), "active");
    }

    #[test]
    fn key_states() {
        let mut k: KeyInfo = serde_json::from_value(json!({"id": "a", "role": "viewer"})).unwrap();
        k.expires = Some(10);
        assert_eq!(k.state(5), "active");
        assert_eq!(k.state(10), "expired");
        k.rotated_to = Some("b".into());
        assert_eq!(k.state(5), "rotated");
        k.revoked = Some(3);
        assert_eq!(k.state(5), "revoked");
    }

    #[test]
    fn requests_leave_out_what_is_not_set() {
        let c = CreateKey::new("ci", "member");
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"name": "ci", "role": "member"})
        );
        assert_eq!(
            serde_json::to_value(KeyUpdate::default()).unwrap(),
            json!({})
        );
        assert!(KeyUpdate::default().is_empty());
        assert_eq!(
            serde_json::to_value(AgentUpdate::status("suspended")).unwrap(),
            json!({"status": "suspended"})
        );
        let u = AgentUpdate {
            scope: Some(AgentScope {
                tools: Some(vec!["search_*".into()]),
                ..AgentScope::default()
            }),
            ..AgentUpdate::default()
        };
        assert_eq!(
            serde_json::to_value(&u).unwrap(),
            json!({"scope": {"tools": ["search_*"], "actions": null, "resources": null, "data_classes": null}})
        );
    }

    #[test]
    fn projects_as_names_or_objects() {
        let a: ProjectsAnswer = serde_json::from_value(
            json!({"projects": ["default", {"name": "billing", "origin": "x/billing"}]}),
        )
        .unwrap();
        assert_eq!(a.projects[0].name, "default");
        assert_eq!(a.projects[1].name, "billing");
        assert_eq!(a.projects[1].extra["origin"], "x/billing");
    }

    #[test]
    fn agent_records_decode_with_few_fields() {
        let r: AgentRecord = serde_json::from_value(json!({
            "id": "billing", "risk_tier": "high", "status": "active",
            "scope": {"tools": []}, "version": 3
        }))
        .unwrap();
        assert_eq!(r.scope.tools, Some(vec![]));
        assert_eq!(r.scope.actions, None);
        assert_eq!(r.version, Some(3));
    }

    #[test]
    fn ids_are_one_path_segment() {
        let c = Client::new("http://h:1/prefix", "k").unwrap();
        assert_eq!(
            c.segments_url(&["v1", "agents", "a/b?c"]).as_str(),
            "http://h:1/prefix/v1/agents/a%2Fb%3Fc"
        );
        let c = Client::new("http://h:1", "k").unwrap();
        assert_eq!(
            c.segments_url(&["v1", "keys", "ab", "rotate"]).as_str(),
            "http://h:1/v1/keys/ab/rotate"
        );
    }
}
