//! Roles and the scopes they grant (docs/access.md has the table). A key
//! holds a subset of its role's scopes; every endpoint names the one scope it
//! needs, so the permission matrix is this file and nothing else.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
    Viewer,
    Auditor,
    Agent,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Scope {
    #[serde(rename = "ingest")]
    Ingest,
    #[serde(rename = "read")]
    Read,
    #[serde(rename = "bodies")]
    Bodies,
    #[serde(rename = "proofs")]
    Proofs,
    #[serde(rename = "export")]
    Export,
    #[serde(rename = "agents:read")]
    AgentsRead,
    #[serde(rename = "agents:write")]
    AgentsWrite,
    #[serde(rename = "keys:read")]
    KeysRead,
    #[serde(rename = "keys:write")]
    KeysWrite,
    #[serde(rename = "projects")]
    Projects,
    #[serde(rename = "signing")]
    Signing,
}

impl Scope {
    pub const ALL: [Scope; 11] = [
        Scope::Ingest,
        Scope::Read,
        Scope::Bodies,
        Scope::Proofs,
        Scope::Export,
        Scope::AgentsRead,
        Scope::AgentsWrite,
        Scope::KeysRead,
        Scope::KeysWrite,
        Scope::Projects,
        Scope::Signing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Bodies => "bodies",
            Scope::Proofs => "proofs",
            Scope::Export => "export",
            Scope::AgentsRead => "agents:read",
            Scope::AgentsWrite => "agents:write",
            Scope::KeysRead => "keys:read",
            Scope::KeysWrite => "keys:write",
            Scope::Projects => "projects",
            Scope::Signing => "signing",
        }
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
            Role::Agent => "agent",
        }
    }

    /// Everything a key of this role may be given.
    pub fn scopes(self) -> &'static [Scope] {
        use Scope::*;
        match self {
            Role::Owner => &Scope::ALL,
            Role::Admin => &[
                Ingest,
                Read,
                Bodies,
                Proofs,
                Export,
                AgentsRead,
                AgentsWrite,
                KeysRead,
                KeysWrite,
            ],
            Role::Member => &[Ingest, Read, Bodies, Proofs, Export, AgentsRead],
            Role::Viewer => &[Read, Bodies, Proofs, AgentsRead],
            Role::Auditor => &[Read, Bodies, Proofs, Export, AgentsRead, KeysRead],
            Role::Agent => &[Ingest, Proofs],
        }
    }

    /// Rank for "may create or promote to": nobody hands out more than they hold.
    fn rank(self) -> u8 {
        match self {
            Role::Owner => 3,
            Role::Admin => 2,
            _ => 1,
        }
    }

    /// May a key of this role create a key of `other`, or change a key to it?
    pub fn may_grant(self, other: Role) -> bool {
        self.rank() >= other.rank() && self.scopes().contains(&Scope::KeysWrite)
    }

    /// Owner keys act on any project; every other key on its own.
    pub fn server_wide(self) -> bool {
        self == Role::Owner
    }

    /// Reads by these roles are people or services reading the log, and
    /// are themselves logged; agents only write.
    pub fn reads_are_audited(self) -> bool {
        self != Role::Agent
    }
}

/// The scopes a new key gets: the role's, narrowed to `asked` if given.
/// Asking for a scope the role does not have is an error naming it.
pub fn scopes_for(role: Role, asked: Option<&[Scope]>, bodies: bool) -> Result<Vec<Scope>, String> {
    let allowed = role.scopes();
    let mut out: Vec<Scope> = match asked {
        None => allowed.to_vec(),
        Some(asked) => {
            if let Some(s) = asked.iter().find(|s| !allowed.contains(s)) {
                return Err(format!(
                    "a {} key cannot hold the `{}` scope; its role allows: {}",
                    role.as_str(),
                    s.as_str(),
                    allowed
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            asked.to_vec()
        }
    };
    if !bodies {
        out.retain(|s| *s != Scope::Bodies);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_has_everything_and_roles_nest_as_documented() {
        assert_eq!(Role::Owner.scopes().len(), Scope::ALL.len());
        for s in Role::Admin.scopes() {
            assert!(Role::Owner.scopes().contains(s));
        }
        assert!(!Role::Admin.scopes().contains(&Scope::Signing));
        assert!(!Role::Viewer.scopes().contains(&Scope::Export));
        assert!(!Role::Agent.scopes().contains(&Scope::Read));
        assert!(Role::Auditor.scopes().contains(&Scope::KeysRead));
        assert!(!Role::Auditor.scopes().contains(&Scope::Ingest));
    }

    #[test]
    fn granting_never_exceeds_the_granter() {
        assert!(Role::Owner.may_grant(Role::Owner));
        assert!(Role::Admin.may_grant(Role::Auditor));
        assert!(Role::Admin.may_grant(Role::Admin));
        assert!(!Role::Admin.may_grant(Role::Owner));
        assert!(!Role::Member.may_grant(Role::Viewer));
        assert!(!Role::Auditor.may_grant(Role::Viewer));
    }

    #[test]
    fn scopes_narrow_but_never_widen() {
        let s = scopes_for(Role::Auditor, None, false).unwrap();
        assert!(!s.contains(&Scope::Bodies));
        assert!(s.contains(&Scope::Export));
        let err = scopes_for(Role::Viewer, Some(&[Scope::Read, Scope::Export]), true).unwrap_err();
        assert!(err.contains("`export`"), "{err}");
        assert_eq!(
            scopes_for(Role::Member, Some(&[Scope::Read, Scope::Read]), true).unwrap(),
            vec![Scope::Read]
        );
    }

    #[test]
    fn scope_names_round_trip() {
        for s in Scope::ALL {
            let j = serde_json::to_string(&s).unwrap();
            assert_eq!(j, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<Scope>(&j).unwrap(), s);
        }
    }
}
