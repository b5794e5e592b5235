//! The schema: migrations in order, applied once by whichever node starts
//! first (under an advisory lock), and the schema name's rules.

use postgres::error::SqlState;
use sealtrail_core::hash::Hash;

use crate::StoreError;

use super::error::Fail;
use super::pool::Conn;
use super::PgStore;

/// Migrations, oldest first. Append new ones; never edit one that shipped.
/// Each runs in the transaction that records it in `schema_migrations`.
const MIGRATIONS: &[(u32, &str)] = &[(1, MIGRATION_1), (2, MIGRATION_2), (3, MIGRATION_3)];

/// The newest schema this code knows (the last migration).
pub const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// The whole schema of version 1. Text keys use the "C" collation: byte
/// order, as in SQLite, and cheaper comparisons than a locale's.
const MIGRATION_1: &str = r#"
CREATE TABLE head (
    id integer PRIMARY KEY CHECK (id = 1),
    size bigint NOT NULL,
    root bytea NOT NULL,
    frontier bytea NOT NULL,
    last_time bigint NOT NULL,
    last_leaf bytea
);
CREATE TABLE entries (
    idx bigint PRIMARY KEY,
    leaf bytea NOT NULL,
    time bigint NOT NULL,
    agent text COLLATE "C" NOT NULL,
    session text COLLATE "C",
    kind text NOT NULL,
    action text,
    tool text,
    outcome text,
    event_id text COLLATE "C",
    -- JCS(header): the log entry itself.
    header bytea NOT NULL
);
CREATE UNIQUE INDEX entries_event_id ON entries (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX entries_agent_time ON entries (agent, time);
-- Bodies apart from the headers, so header and tile reads do not page
-- through them. Salt and body are set to NULL together when erased.
CREATE TABLE bodies (
    idx bigint PRIMARY KEY,
    salt bytea,
    body bytea
);
CREATE TABLE nodes (
    level smallint NOT NULL,
    idx bigint NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (level, idx)
);
CREATE TABLE streams (key text COLLATE "C" PRIMARY KEY, count bigint NOT NULL, last bigint NOT NULL);
CREATE TABLE seqs (key text COLLATE "C" PRIMARY KEY, last bigint NOT NULL);
CREATE TABLE checkpoints (size bigint PRIMARY KEY, note bytea NOT NULL, time bigint NOT NULL);
CREATE TABLE leases (name text COLLATE "C" PRIMARY KEY, holder text NOT NULL, expires bigint NOT NULL);
CREATE TABLE api_keys (
    key_hash bytea PRIMARY KEY, name text NOT NULL, role text NOT NULL, created bigint NOT NULL
);
"#;

/// Version 2: the query indexes, keyed `(value, idx)` so that each value's
/// entries come in log order; data classes and subjects in side tables; the
/// counts kept per UTC day, agent, kind and outcome (`''` for none). The
/// statements after the DDL fill them for the entries a version 1 store
/// already holds, from its headers and columns.
const MIGRATION_2: &str = r#"
ALTER TABLE entries ADD COLUMN scope text COLLATE "C";
DROP INDEX entries_agent_time;
CREATE INDEX entries_agent ON entries (agent, idx);
CREATE INDEX entries_session ON entries (session, idx) WHERE session IS NOT NULL;
CREATE INDEX entries_kind ON entries (kind, idx);
CREATE INDEX entries_action ON entries (action, idx) WHERE action IS NOT NULL;
CREATE INDEX entries_tool ON entries (tool, idx) WHERE tool IS NOT NULL;
CREATE INDEX entries_outcome ON entries (outcome, idx) WHERE outcome IS NOT NULL;
CREATE INDEX entries_scope ON entries (split_part(scope, ':', 1), idx) WHERE scope IS NOT NULL;
CREATE TABLE entry_classes (
    class text COLLATE "C" NOT NULL, idx bigint NOT NULL, PRIMARY KEY (class, idx)
);
CREATE TABLE entry_subjects (
    subject bytea NOT NULL, idx bigint NOT NULL, PRIMARY KEY (subject, idx)
);
CREATE TABLE counts (
    day integer NOT NULL,
    agent text COLLATE "C" NOT NULL,
    kind text COLLATE "C" NOT NULL,
    outcome text COLLATE "C" NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (day, agent, kind, outcome)
);
UPDATE entries SET scope = convert_from(header, 'UTF8')::jsonb ->> 'scope'
    WHERE position(convert_to('"scope":', 'UTF8') IN header) > 0;
INSERT INTO entry_classes (class, idx)
    SELECT DISTINCT c, idx
    FROM entries, jsonb_array_elements_text(convert_from(header, 'UTF8')::jsonb -> 'data_classes') AS c
    WHERE position(convert_to('"data_classes":', 'UTF8') IN header) > 0;
INSERT INTO entry_subjects (subject, idx)
    SELECT DISTINCT decode(s, 'hex'), idx
    FROM entries, jsonb_array_elements_text(convert_from(header, 'UTF8')::jsonb -> 'subjects') AS s
    WHERE position(convert_to('"subjects":', 'UTF8') IN header) > 0;
INSERT INTO counts (day, agent, kind, outcome, n)
    SELECT time / 86400000000, agent, kind, coalesce(outcome, ''), count(*)
    FROM entries GROUP BY 1, 2, 3, 4;
"#;

/// Version 3: access-control records (API keys, agents, projects) as the
/// server writes them, keyed by kind and id.
const MIGRATION_3: &str = r#"
CREATE TABLE access (
    kind text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, record bytea NOT NULL,
    PRIMARY KEY (kind, id)
);
"#;

/// Only plain lowercase identifiers: the name goes into SQL text
/// (`search_path`, `CREATE SCHEMA`), and one spelling means one schema.
pub(super) fn check_schema_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "invalid PostgreSQL schema name {name:?}: use lowercase letters, digits and _ (at most 63, not starting with a digit)"
        )))
    }
}

impl PgStore {
    /// The newest applied migration, or `None` before the first.
    fn applied_version(client: &mut impl postgres::GenericClient) -> Result<Option<u32>, Fail> {
        match client.query_one("SELECT max(version) FROM schema_migrations", &[]) {
            Ok(row) => {
                let v: Option<i32> = row.try_get(0)?;
                v.map(|v| {
                    u32::try_from(v).map_err(|_| {
                        Fail::Store(StoreError::Corrupt(format!(
                            "table schema_migrations: version {v} is negative"
                        )))
                    })
                })
                .transpose()
            }
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn check_supported(found: Option<u32>) -> Result<(), Fail> {
        match found {
            Some(found) if found > SCHEMA_VERSION => Err(Fail::Store(StoreError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            })),
            _ => Ok(()),
        }
    }

    /// Applies the missing migrations in one transaction, under an advisory
    /// lock so that nodes starting together do not race.
    pub(super) fn migrate(c: &mut Conn, schema: &str) -> Result<(), Fail> {
        let found = Self::applied_version(&mut c.client)?;
        Self::check_supported(found)?;
        if found == Some(SCHEMA_VERSION) {
            return Ok(());
        }
        let mut tx = c.client.transaction()?;
        // Waiting for another node's migration, or a long one of our own,
        // is not a stuck statement.
        tx.batch_execute("SET LOCAL statement_timeout = 0")?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&advisory_key(schema)])?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\";
             CREATE TABLE IF NOT EXISTS \"{schema}\".schema_migrations (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             );"
        ))?;
        let found = Self::applied_version(&mut tx)?;
        Self::check_supported(found)?;
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| Some(*v) > found) {
            tx.batch_execute(sql)?;
            if *version == 1 {
                tx.execute(
                    "INSERT INTO head (id, size, root, frontier, last_time, last_leaf)
                     VALUES (1, 0, $1, '', 0, NULL)",
                    &[&&Hash::EMPTY_ROOT.0[..]],
                )?;
            }
            let v = i32::try_from(*version).map_err(|_| {
                StoreError::Corrupt(format!(
                    "migration {version} does not fit in column schema_migrations.version"
                ))
            })?;
            tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&v])?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// The advisory lock that serializes migrations of one schema (FNV-1a of
/// its name: the same on every node and every server version).
fn advisory_key(schema: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in "sealtrail migrate ".bytes().chain(schema.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names() {
        for ok in [
            "sealtrail",
            "t_1",
            "_x",
            "a23456789012345678901234567890123456789012345678901234567890123",
        ] {
            assert!(check_schema_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1a", "Sealtrail", "a-b", "a\"b", "a;drop", "a b"] {
            assert!(check_schema_name(bad).is_err(), "{bad}");
        }
        assert!(check_schema_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn migrations_are_in_order() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(MIGRATIONS[0].0, 1);
    }
}
