//! The PostgreSQL store: for several server nodes sharing one database
//! (DESIGN §4). Headers, bodies, tiles and state all live in the database
//! (nodes cannot share local segment files); each batch is one transaction
//! that locks the log's head row, which is how the nodes serialize.
//!
//! Connections come from a small pool ([`PgOptions::pool_size`]); every
//! connection has its `search_path` set to the store's schema and a
//! `statement_timeout`. A connection that failed at the connection level is
//! dropped, never reused, so the store recovers by itself when the database
//! comes back.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::error::{DbError, SqlState};
use postgres::types::{ToSql, Type};
use postgres::{Client, Config, NoTls, Statement};
use sealtrail_core::hash::{Hash, HASH_LEN};

use crate::query::{count_deltas, distinct, scope_class};
use crate::{
    ApiKeyRecord, Batch, EventQuery, LogHead, QueryEvent, QueryPage, Receipt, StatsGroup,
    StatsQuery, StatsRow, Store, StoreError, StoredCheckpoint, StoredEntry, StreamHead,
};

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

/// Used when the URL sets no `connect_timeout`: an unreachable database
/// must fail the request (503), not hang it.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the store uses the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Most connections open at once (the writer's included).
    pub pool_size: usize,
    /// Server-side limit on every statement, and on the time a transaction
    /// may sit idle holding the head lock. Zero disables both.
    pub statement_timeout: Duration,
    /// The schema holding every table; created if missing. Lowercase
    /// letters, digits and `_`, not starting with a digit.
    pub schema: String,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 8,
            statement_timeout: Duration::from_secs(30),
            schema: "sealtrail".into(),
        }
    }
}

/// A store in one schema of a PostgreSQL database.
pub struct PgStore {
    pool: Pool,
    /// The database and schema, for messages (never the password).
    place: String,
    /// The session holding the log's advisory lock while this node seals
    /// and writes a batch (see [`Store::lock_log`]); outside the pool.
    log_lock: Mutex<Option<Conn>>,
    /// Advisory lock key of this log (derived from the schema name).
    lock_key: i64,
}

/// Closes the log-lock session off any async runtime thread, like the pool.
impl Drop for PgStore {
    fn drop(&mut self) {
        let conn = match self.log_lock.get_mut() {
            Ok(c) => c.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(conn) = conn {
            if let Ok(t) = std::thread::Builder::new()
                .name("sealtrail-pg-close".into())
                .spawn(move || drop(conn))
            {
                let _ = t.join();
            }
        }
    }
}

/// A failure inside an operation: from the driver (kept whole, so the pool
/// can tell a dead connection from a refused statement) or already typed.
enum Fail {
    Pg(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

/// A failed attempt, with what the retry logic needs to know.
struct Failed {
    error: StoreError,
    /// The connection died under the operation.
    lost: bool,
    /// The connection had been used before (it may have died while idle).
    reused: bool,
}

/// The driver's error with its cause (its `Display` alone says only
/// "db error" or "error connecting to server").
fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{db} (SQLSTATE {})", db.code().code());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// SQLSTATEs meaning the session is gone: class 08 (connection exception)
/// and the shutdown family of class 57.
fn session_gone(db: &DbError) -> bool {
    let code = db.code();
    code.code().starts_with("08")
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT
}

/// True when the connection itself failed (as opposed to a statement).
fn connection_lost(e: &postgres::Error) -> bool {
    match e.as_db_error() {
        Some(db) => session_gone(db),
        None => {
            e.is_closed() || std::error::Error::source(e).is_some_and(|c| c.is::<std::io::Error>())
        }
    }
}

/// Maps a driver error to what the caller should do about it. The
/// operation is named by [`StoreError::during`] where it is known.
fn pg_err(e: &postgres::Error) -> StoreError {
    let message = describe(e);
    let Some(db) = e.as_db_error() else {
        return StoreError::Database {
            what: String::new(),
            message,
            code: None,
        };
    };
    let code = db.code();
    if *code == SqlState::UNIQUE_VIOLATION {
        StoreError::Duplicate(message)
    } else if *code == SqlState::DISK_FULL {
        StoreError::Full(message)
    } else if *code == SqlState::DATA_CORRUPTED || *code == SqlState::INDEX_CORRUPTED {
        StoreError::Corrupt(message)
    } else {
        // Shutdowns, lost connections, statement timeouts, serialization
        // failures, too many connections: all worth a retry (503).
        StoreError::Database {
            what: String::new(),
            message,
            code: Some(code.code().to_string()),
        }
    }
}

fn hash_from(blob: &[u8], what: &str) -> Result<Hash, StoreError> {
    Hash::from_slice(blob)
        .ok_or_else(|| StoreError::Corrupt(format!("{what} is {} bytes, not 32", blob.len())))
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v)
        .map_err(|_| StoreError::Invalid(format!("{v} does not fit in a signed 64-bit column")))
}

/// A range end past `i64::MAX` means "to the end".
fn end_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} is negative: {v}")))
}

/// Only plain lowercase identifiers: the name goes into SQL text
/// (`search_path`, `CREATE SCHEMA`), and one spelling means one schema.
fn check_schema_name(name: &str) -> Result<(), StoreError> {
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

/// Where the URL points, for messages (never the password).
fn describe_target(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = config
                .get_ports()
                .get(i)
                .or_else(|| config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            match h {
                postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                postgres::config::Host::Unix(dir) => {
                    format!("{}/.s.PGSQL.{port}", dir.display())
                }
            }
        })
        .collect();
    let mut s = if hosts.is_empty() {
        "(no host)".to_string()
    } else {
        hosts.join(",")
    };
    if let Some(db) = config.get_dbname() {
        s.push_str(&format!(" database {db}"));
    }
    if let Some(user) = config.get_user() {
        s.push_str(&format!(" user {user}"));
    }
    s
}

/// A pooled connection with its prepared statements.
struct Conn {
    client: Client,
    stmts: HashMap<&'static str, Statement>,
}

impl Conn {
    /// The statement for `sql`, prepared once per connection.
    fn stmt(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.stmts.insert(sql, s.clone());
        Ok(s)
    }
}

struct PoolState {
    idle: Vec<Conn>,
    /// Connections open, idle or in use.
    open: usize,
}

/// The sync client closes a connection by running its own small runtime,
/// which panics on a thread that is already driving an async runtime (a
/// server dropping its last store handle inside a task). The pool's last
/// connections are therefore closed on a thread of their own.
impl Drop for Pool {
    fn drop(&mut self) {
        let idle = match self.state.get_mut() {
            Ok(state) => std::mem::take(&mut state.idle),
            Err(poisoned) => std::mem::take(&mut poisoned.into_inner().idle),
        };
        if idle.is_empty() {
            return;
        }
        let closer = std::thread::Builder::new()
            .name("sealtrail-pg-close".into())
            .spawn(move || drop(idle));
        if let Ok(t) = closer {
            let _ = t.join();
        }
    }
}

/// At most `max` connections; idle ones are reused, dead ones dropped.
struct Pool {
    config: Config,
    /// Plain, or TLS as the URL's sslmode asks (crate::pg_tls).
    tls: crate::pg_tls::Connector,
    /// Run on every new connection.
    session_setup: String,
    /// Where the database is, for messages.
    target: String,
    max: usize,
    /// Longest wait for a free connection.
    wait: Duration,
    state: Mutex<PoolState>,
    freed: Condvar,
}

/// A connection taken from the pool; given back when dropped.
struct Lease<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
    reused: bool,
}

impl Lease<'_> {
    fn conn(&mut self) -> Result<&mut Conn, StoreError> {
        self.conn.as_mut().ok_or_else(|| {
            StoreError::Unavailable(format!(
                "the connection to PostgreSQL at {} was already closed",
                self.pool.target
            ))
        })
    }

    /// Closes the connection instead of giving it back.
    fn discard(&mut self) {
        if let Some(c) = self.conn.take() {
            drop(c);
            self.pool.forget_one();
        }
    }

    fn closed(&self) -> bool {
        self.conn.as_ref().is_none_or(|c| c.client.is_closed())
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.pool.give_back(c);
        }
    }
}

impl Pool {
    fn lock(&self) -> Result<MutexGuard<'_, PoolState>, StoreError> {
        self.state.lock().map_err(|_| self.poisoned())
    }

    fn poisoned(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "the connection pool for PostgreSQL at {} failed earlier (lock poisoned); restart the server",
            self.target
        ))
    }

    fn get(&self) -> Result<Lease<'_>, StoreError> {
        let deadline = Instant::now() + self.wait;
        let mut st = self.lock()?;
        loop {
            if let Some(conn) = st.idle.pop() {
                return Ok(Lease {
                    pool: self,
                    conn: Some(conn),
                    reused: true,
                });
            }
            if st.open < self.max {
                st.open += 1;
                drop(st);
                return match self.connect() {
                    Ok(conn) => Ok(Lease {
                        pool: self,
                        conn: Some(conn),
                        reused: false,
                    }),
                    Err(e) => {
                        self.forget_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::Unavailable(format!(
                    "all {} PostgreSQL connections to {} stayed busy for {:?}; retry later, or raise the pool size",
                    self.max, self.target, self.wait
                )));
            }
            st = self
                .freed
                .wait_timeout(st, deadline - now)
                .map_err(|_| self.poisoned())?
                .0;
        }
    }

    fn connect(&self) -> Result<Conn, StoreError> {
        let fail = |e: postgres::Error| {
            let hint = if describe(&e).contains("invalid peer certificate") {
                "; the server's certificate must be signed by a CA in sslrootcert \
                 and, with verify-full, name the host the URL connects to"
            } else {
                ""
            };
            pg_err(&e).during(|| format!("cannot connect to PostgreSQL at {}{hint}", self.target))
        };
        let mut client = match &self.tls {
            crate::pg_tls::Connector::Plain => self.config.connect(NoTls),
            crate::pg_tls::Connector::Tls(tls) => self.config.connect(tls.clone()),
        }
        .map_err(fail)?;
        client.batch_execute(&self.session_setup).map_err(fail)?;
        Ok(Conn {
            client,
            stmts: HashMap::new(),
        })
    }

    fn give_back(&self, conn: Conn) {
        if conn.client.is_closed() {
            drop(conn);
            self.forget_one();
            return;
        }
        match self.state.lock() {
            Ok(mut st) => {
                st.idle.push(conn);
                drop(st);
                self.freed.notify_one();
            }
            // A poisoned pool hands nothing out any more; just close it.
            Err(_) => drop(conn),
        }
    }

    fn forget_one(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.open = st.open.saturating_sub(1);
        }
        self.freed.notify_one();
    }

    /// Closes every idle connection: once one died (server restart,
    /// failover, terminated backends), the others most likely did too.
    fn clear_idle(&self) {
        let idle = match self.state.lock() {
            Ok(mut st) => {
                let idle = std::mem::take(&mut st.idle);
                st.open = st.open.saturating_sub(idle.len());
                idle
            }
            Err(_) => return,
        };
        // Closing sends a Terminate; done outside the lock.
        drop(idle);
        self.freed.notify_all();
    }
}

/// Locks the head row: how writers on several nodes take turns.
const LOCK_HEAD: &str = "SELECT size, root FROM head WHERE id = 1 FOR UPDATE";
// Entries and bodies go in by binary COPY: measured faster than
// `INSERT … SELECT FROM UNNEST(…)` arrays (benches/append_pg.rs, 4,000-entry
// batches: 55k vs 51k entries/s, alternating runs). The few nodes and the
// upserts use UNNEST (COPY cannot upsert).
const COPY_ENTRIES: &str = "COPY entries (idx, leaf, time, agent, session, kind, action, tool, outcome, event_id, header, scope) FROM STDIN (FORMAT binary)";
const ENTRY_TYPES: &[Type] = &[
    Type::INT8,
    Type::BYTEA,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::BYTEA,
    Type::TEXT,
];
const COPY_BODIES: &str = "COPY bodies (idx, salt, body) FROM STDIN (FORMAT binary)";
const BODY_TYPES: &[Type] = &[Type::INT8, Type::BYTEA, Type::BYTEA];
const INSERT_NODES: &str = "INSERT INTO nodes (level, idx, hash)
     SELECT * FROM UNNEST($1::int2[], $2::int8[], $3::bytea[])";
const UPSERT_STREAMS: &str = "INSERT INTO streams (key, count, last)
     SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[])
     ON CONFLICT (key) DO UPDATE SET count = excluded.count, last = excluded.last";
const UPSERT_SEQS: &str = "INSERT INTO seqs (key, last)
     SELECT * FROM UNNEST($1::text[], $2::int8[])
     ON CONFLICT (key) DO UPDATE SET last = excluded.last";
const INSERT_CLASSES: &str = "INSERT INTO entry_classes (class, idx)
     SELECT * FROM UNNEST($1::text[], $2::int8[])";
const INSERT_SUBJECTS: &str = "INSERT INTO entry_subjects (subject, idx)
     SELECT * FROM UNNEST($1::bytea[], $2::int8[])";
const UPSERT_COUNTS: &str = "INSERT INTO counts (day, agent, kind, outcome, n)
     SELECT * FROM UNNEST($1::int4[], $2::text[], $3::text[], $4::text[], $5::int8[])
     ON CONFLICT (day, agent, kind, outcome) DO UPDATE SET n = counts.n + excluded.n";
const UPDATE_HEAD: &str = "UPDATE head SET size = $1, root = $2, frontier = $3, last_time = $4, last_leaf = $5 WHERE id = 1";

/// The last value per key, in first-seen order: one upsert statement may
/// not touch a row twice, and SQLite's row-by-row upserts keep the last.
fn last_per_key<V: Copy>(items: &[(String, V)]) -> (Vec<&str>, Vec<V>) {
    let mut pos: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    let mut keys = Vec::with_capacity(items.len());
    let mut vals = Vec::with_capacity(items.len());
    for (k, v) in items {
        match pos.get(k.as_str()) {
            Some(&i) => vals[i] = *v,
            None => {
                pos.insert(k.as_str(), keys.len());
                keys.push(k.as_str());
                vals.push(*v);
            }
        }
    }
    (keys, vals)
}

impl PgStore {
    /// Connects to `url` (a `postgres://` URL or `key=value` string),
    /// creating the schema or migrating it to [`SCHEMA_VERSION`]. Refuses a
    /// schema newer than this binary with [`StoreError::SchemaTooNew`].
    pub fn connect(url: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        check_schema_name(&options.schema)?;
        let (mut config, tls, verify) = crate::pg_tls::parse(url).map_err(|e| match e {
            crate::pg_tls::PgTlsError::Malformed(m) => {
                StoreError::Invalid(format!("invalid PostgreSQL URL: {m}"))
            }
            other => StoreError::Invalid(other.to_string()),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("sealtrail");
        }
        let timeout_ms = match options.statement_timeout {
            d if d.is_zero() => 0,
            d => d.as_millis().clamp(1, i32::MAX as u128),
        };
        // synchronous_commit=off would acknowledge batches that a crash
        // loses; stricter settings (remote_apply …) are kept as they are.
        let session_setup = format!(
            "SET search_path TO \"{schema}\";
             SET statement_timeout TO {timeout_ms};
             SET idle_in_transaction_session_timeout TO {timeout_ms};
             SELECT set_config('synchronous_commit', 'on', false)
                 WHERE current_setting('synchronous_commit') = 'off';",
            schema = options.schema
        );
        let target = describe_target(&config)
            + match verify {
                crate::pg_tls::Verify::Off => "",
                crate::pg_tls::Verify::Encrypt => " over TLS (certificate not checked)",
                crate::pg_tls::Verify::Ca => " over TLS (verify-ca)",
                crate::pg_tls::Verify::Full => " over TLS (verify-full)",
            };
        let lock_key = {
            let h = sealtrail_core::hash::sha256(
                format!("sealtrail log {}", options.schema).as_bytes(),
            );
            i64::from_be_bytes([
                h.0[0], h.0[1], h.0[2], h.0[3], h.0[4], h.0[5], h.0[6], h.0[7],
            ])
        };
        let store = PgStore {
            place: format!("PostgreSQL at {target} (schema {})", options.schema),
            log_lock: Mutex::new(None),
            lock_key,
            pool: Pool {
                config,
                tls,
                session_setup,
                target: target.clone(),
                max: options.pool_size.max(1),
                wait: options.statement_timeout.max(Duration::from_secs(1)),
                state: Mutex::new(PoolState {
                    idle: Vec::new(),
                    open: 0,
                }),
                freed: Condvar::new(),
            },
        };
        let schema = options.schema.clone();
        store.run("create or migrate the schema", |c| {
            Self::migrate(c, &schema)
        })?;
        Ok(store)
    }

    /// The newest applied migration, or `None` before the first.
    fn applied_version(client: &mut impl postgres::GenericClient) -> Result<Option<u32>, Fail> {
        match client.query_one("SELECT max(version) FROM schema_migrations", &[]) {
            Ok(row) => {
                let v: Option<i32> = row.try_get(0)?;
                v.map(|v| {
                    u32::try_from(v).map_err(|_| {
                        Fail::Store(StoreError::Corrupt(format!("schema version {v}")))
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
    fn migrate(c: &mut Conn, schema: &str) -> Result<(), Fail> {
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
            let v = i32::try_from(*version)
                .map_err(|_| StoreError::Corrupt(format!("migration {version}")))?;
            tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&v])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// One try of `f` on a pooled connection.
    fn attempt<T>(&self, f: &mut impl FnMut(&mut Conn) -> Result<T, Fail>) -> Result<T, Failed> {
        let mut lease = self.pool.get().map_err(|error| Failed {
            error,
            lost: false,
            reused: false,
        })?;
        let reused = lease.reused;
        let result = match lease.conn() {
            Ok(c) => f(c),
            Err(e) => Err(Fail::Store(e)),
        };
        match result {
            Ok(v) => Ok(v),
            Err(Fail::Store(error)) => {
                if lease.closed() {
                    lease.discard();
                }
                Err(Failed {
                    error,
                    lost: false,
                    reused,
                })
            }
            Err(Fail::Pg(e)) => {
                let lost = connection_lost(&e) || lease.closed();
                // A driver error without a server answer (protocol,
                // encoding) leaves the session in an unknown state.
                if lost || e.as_db_error().is_none() {
                    lease.discard();
                }
                if lost {
                    drop(lease);
                    self.pool.clear_idle();
                }
                Err(Failed {
                    error: pg_err(&e),
                    lost,
                    reused,
                })
            }
        }
    }

    /// Runs `f`, once more on a new connection if a pooled one turned out
    /// dead (it may have died while idle: restart, failover, terminated).
    /// Only for operations that are safe to repeat.
    /// `what` names the operation in errors ("read the checkpoints").
    fn run<T>(
        &self,
        what: &str,
        mut f: impl FnMut(&mut Conn) -> Result<T, Fail>,
    ) -> Result<T, StoreError> {
        match self.attempt(&mut f) {
            Ok(v) => Ok(v),
            Err(Failed {
                lost: true,
                reused: true,
                ..
            }) => self.attempt(&mut f).map_err(|x| x.error),
            Err(x) => Err(x.error),
        }
        .map_err(|e| self.during(e, what))
    }

    fn during(&self, e: StoreError, what: &str) -> StoreError {
        e.during(|| format!("cannot {what} in {}", self.place))
    }

    /// Runs `sql` (with one `$1::text[]` parameter) for `keys` in chunks,
    /// reading each row with `row`.
    fn lookup<T>(
        &self,
        what: &str,
        sql: &'static str,
        keys: &[&str],
        row: impl Fn(&postgres::Row) -> Result<T, Fail>,
    ) -> Result<Vec<T>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.run(what, |c| {
            let stmt = c.stmt(sql)?;
            let mut out = Vec::new();
            for chunk in keys.chunks(LOOKUP_CHUNK) {
                for r in c.client.query(&stmt, &[&chunk])? {
                    out.push(row(&r)?);
                }
            }
            Ok(out)
        })
    }

    /// One transaction: lock the head, check its size, insert, move it.
    /// With `after_loss`, a head already at this batch's size and root means
    /// an earlier attempt committed before its connection died.
    fn append_once(c: &mut Conn, batch: &Batch, after_loss: bool) -> Result<(), Fail> {
        let lock = c.stmt(LOCK_HEAD)?;
        let copy_entries = c.stmt(COPY_ENTRIES)?;
        let copy_bodies = c.stmt(COPY_BODIES)?;
        let insert_nodes = c.stmt(INSERT_NODES)?;
        let upsert_streams = c.stmt(UPSERT_STREAMS)?;
        let upsert_seqs = c.stmt(UPSERT_SEQS)?;
        let update_head = c.stmt(UPDATE_HEAD)?;
        let insert_classes = c.stmt(INSERT_CLASSES)?;
        let insert_subjects = c.stmt(INSERT_SUBJECTS)?;
        let upsert_counts = c.stmt(UPSERT_COUNTS)?;

        let mut idx = Vec::with_capacity(batch.entries.len());
        let mut time = Vec::with_capacity(batch.entries.len());
        for e in &batch.entries {
            idx.push(to_i64(e.index)?);
            time.push(to_i64(e.columns.time)?);
        }
        let mut node_level = Vec::with_capacity(batch.nodes.len());
        let mut node_idx = Vec::with_capacity(batch.nodes.len());
        let mut node_hash = Vec::with_capacity(batch.nodes.len());
        for (level, index, hash) in &batch.nodes {
            node_level.push(i16::from(*level));
            node_idx.push(to_i64(*index)?);
            node_hash.push(&hash.0[..]);
        }
        let (stream_keys, stream_heads) = last_per_key(&batch.streams);
        let stream_count = stream_heads
            .iter()
            .map(|h| to_i64(h.count))
            .collect::<Result<Vec<_>, _>>()?;
        let stream_last = stream_heads
            .iter()
            .map(|h| to_i64(h.last))
            .collect::<Result<Vec<_>, _>>()?;
        let (seq_keys, seq_last) = last_per_key(&batch.seqs);
        let seq_last = seq_last
            .into_iter()
            .map(to_i64)
            .collect::<Result<Vec<_>, _>>()?;
        let (mut class_value, mut class_idx) = (Vec::new(), Vec::new());
        let (mut subject_value, mut subject_idx) = (Vec::new(), Vec::new());
        for (e, i) in batch.entries.iter().zip(&idx) {
            for v in distinct(&e.columns.data_classes) {
                class_value.push(v);
                class_idx.push(*i);
            }
            for v in distinct(&e.columns.subjects) {
                subject_value.push(v.0.to_vec());
                subject_idx.push(*i);
            }
        }
        let deltas = count_deltas(batch.entries.iter().map(|e| &e.columns));
        let mut count_day = Vec::with_capacity(deltas.len());
        let mut count_agent = Vec::with_capacity(deltas.len());
        let mut count_kind = Vec::with_capacity(deltas.len());
        let mut count_outcome = Vec::with_capacity(deltas.len());
        let mut count_n = Vec::with_capacity(deltas.len());
        for (day, agent, kind, outcome, n) in deltas {
            count_day.push(i32::try_from(day).map_err(|_| {
                StoreError::Invalid(format!("day {day} is out of range for table counts"))
            })?);
            count_agent.push(agent);
            count_kind.push(kind);
            count_outcome.push(outcome);
            count_n.push(n);
        }
        let h = &batch.head;
        let frontier: Vec<u8> = h.frontier.iter().flat_map(|x| x.0).collect();
        let last_leaf = h.last_leaf.map(|l| l.0.to_vec());
        let (head_size, head_time) = (to_i64(h.size)?, to_i64(h.last_time)?);

        let mut tx = c.client.transaction()?;
        let row = tx.query_one(&lock, &[])?;
        let size = to_u64(row.try_get::<_, i64>(0)?, "head size")?;
        if size != batch.expected_size {
            if after_loss && size == batch.head.size {
                let root: &[u8] = row.try_get(1)?;
                if root == &batch.head.root.0[..] {
                    return Ok(());
                }
            }
            return Err(Fail::Store(StoreError::Conflict {
                expected: batch.expected_size,
                found: size,
            }));
        }
        if !batch.entries.is_empty() {
            let mut w = BinaryCopyInWriter::new(tx.copy_in(&copy_entries)?, ENTRY_TYPES);
            for (e, (i, t)) in batch.entries.iter().zip(idx.iter().zip(&time)) {
                let col = &e.columns;
                w.write(&[
                    i,
                    &&e.leaf_hash.0[..],
                    t,
                    &col.agent,
                    &col.session,
                    &col.kind,
                    &col.action,
                    &col.tool,
                    &col.outcome,
                    &col.event_id,
                    &e.header,
                    &col.scope,
                ])?;
            }
            w.finish()?;
            let mut w = BinaryCopyInWriter::new(tx.copy_in(&copy_bodies)?, BODY_TYPES);
            for (e, i) in batch.entries.iter().zip(&idx) {
                w.write(&[i, &&e.salt[..], &e.body])?;
            }
            w.finish()?;
        }
        if !class_idx.is_empty() {
            tx.execute(&insert_classes, &[&class_value, &class_idx])?;
        }
        if !subject_idx.is_empty() {
            tx.execute(&insert_subjects, &[&subject_value, &subject_idx])?;
        }
        if !count_n.is_empty() {
            tx.execute(
                &upsert_counts,
                &[
                    &count_day,
                    &count_agent,
                    &count_kind,
                    &count_outcome,
                    &count_n,
                ],
            )?;
        }
        if !node_idx.is_empty() {
            tx.execute(&insert_nodes, &[&node_level, &node_idx, &node_hash])?;
        }
        if !stream_keys.is_empty() {
            tx.execute(
                &upsert_streams,
                &[&stream_keys, &stream_count, &stream_last],
            )?;
        }
        if !seq_keys.is_empty() {
            tx.execute(&upsert_seqs, &[&seq_keys, &seq_last])?;
        }
        tx.execute(
            &update_head,
            &[
                &head_size,
                &&h.root.0[..],
                &frontier,
                &head_time,
                &last_leaf,
            ],
        )?;
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

type CheckpointRow = (i64, Vec<u8>, i64);

fn checkpoint_from((size, note, time): CheckpointRow) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        size: to_u64(size, "checkpoint size")?,
        note,
        time: to_u64(time, "checkpoint time")?,
    })
}

fn checkpoint_row(r: &postgres::Row) -> Result<CheckpointRow, postgres::Error> {
    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
}

/// The statement of one query page: every filter in the WHERE clause,
/// each served by its `(value, idx)` index, the planner choosing which one
/// drives. `$1`/`$2` are the index range; the values follow in `params`.
fn query_sql(q: &EventQuery, params: &mut Vec<Box<dyn ToSql + Sync>>) -> String {
    let mut sql = String::from("SELECT e.idx, e.leaf, e.time, e.header");
    if q.include_bodies {
        sql.push_str(", b.salt, b.body FROM entries e LEFT JOIN bodies b ON b.idx = e.idx");
    } else {
        sql.push_str(", NULL::bytea, NULL::bytea FROM entries e");
    }
    sql.push_str(" WHERE e.idx >= $1 AND e.idx < $2");
    let f = &q.filter;
    let mut text = |sql: &mut String, column: &str, value: &Option<String>| {
        if let Some(v) = value {
            params.push(Box::new(v.clone()));
            sql.push_str(&format!(" AND e.{column} = ${}", params.len() + 2));
        }
    };
    text(&mut sql, "agent", &f.agent);
    text(&mut sql, "session", &f.session);
    text(&mut sql, "kind", &f.kind);
    text(&mut sql, "action", &f.action);
    text(&mut sql, "tool", &f.tool);
    text(&mut sql, "outcome", &f.outcome);
    if let Some(scope) = &f.scope {
        params.push(Box::new(scope_class(scope).to_string()));
        sql.push_str(&format!(
            " AND split_part(e.scope, ':', 1) = ${} AND e.scope IS NOT NULL",
            params.len() + 2
        ));
        if scope.contains(':') {
            params.push(Box::new(scope.clone()));
            sql.push_str(&format!(" AND e.scope = ${}", params.len() + 2));
        }
    }
    if let Some(class) = &f.data_class {
        params.push(Box::new(class.clone()));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM entry_classes c WHERE c.class = ${} AND c.idx = e.idx)",
            params.len() + 2
        ));
    }
    if let Some(subject) = &f.subject {
        params.push(Box::new(subject.0.to_vec()));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM entry_subjects s WHERE s.subject = ${} AND s.idx = e.idx)",
            params.len() + 2
        ));
    }
    params.push(Box::new(q.page_size() as i64));
    sql.push_str(&format!(" ORDER BY e.idx LIMIT ${}", params.len() + 2));
    sql
}

/// Days since the epoch as the counts table keys them.
fn day_i32(day: Option<i64>) -> Option<i32> {
    day.map(|d| i32::try_from(d).unwrap_or(if d < 0 { i32::MIN } else { i32::MAX }))
}

impl Store for PgStore {
    fn all_stream_heads(&self) -> Result<(u64, Vec<(String, StreamHead)>), StoreError> {
        self.run("read the stream heads (table streams)", |c| {
            let size = c.stmt("SELECT size FROM head WHERE id = 1")?;
            let streams = c.stmt("SELECT key, count, last FROM streams ORDER BY key")?;
            // One snapshot: the head and the streams a batch moves together.
            let mut tx = c
                .client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let size = to_u64(tx.query_one(&size, &[])?.try_get(0)?, "head size")?;
            let mut heads = Vec::new();
            for r in tx.query(&streams, &[])? {
                heads.push((
                    r.try_get::<_, String>(0)?,
                    StreamHead {
                        count: to_u64(r.try_get(1)?, "stream count")?,
                        last: to_u64(r.try_get(2)?, "stream last")?,
                    },
                ));
            }
            tx.commit()?;
            Ok((size, heads))
        })
    }

    fn stream_members(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, String, Option<String>)>, StoreError> {
        let (start, end) = (end_i64(start), end_i64(end));
        self.run("read the stream members of entries (table entries)", |c| {
            let stmt = c.stmt(
                "SELECT idx, agent, session FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
            )?;
            c.client
                .query(&stmt, &[&start, &end])?
                .iter()
                .map(|r| {
                    Ok((
                        to_u64(r.try_get(0)?, "index")?,
                        r.try_get(1)?,
                        r.try_get(2)?,
                    ))
                })
                .collect()
        })
    }

    fn query(&self, q: &EventQuery) -> Result<QueryPage, StoreError> {
        let mut values: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        let sql = query_sql(q, &mut values);
        let limit = q.page_size();
        self.run("query the entries", |c| {
            let head = c.stmt("SELECT size FROM head WHERE id = 1")?;
            let probe = c.stmt("SELECT time FROM entries WHERE idx = $1")?;
            let page = c.client.prepare(&sql)?;
            // One snapshot for the size, the time probes and the rows.
            let mut tx = c
                .client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let size = to_u64(tx.query_one(&head, &[])?.try_get(0)?, "head size")?;
            let mut failed: Option<postgres::Error> = None;
            let range = q.index_range(size, |i| {
                let row = tx.query_opt(&probe, &[&to_i64(i)?]).map_err(|e| {
                    let err = pg_err(&e);
                    failed = Some(e);
                    err
                })?;
                let row = row.ok_or_else(|| {
                    StoreError::Corrupt(format!("entry {i} is missing below the head ({size})"))
                })?;
                to_u64(
                    row.try_get(0)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    "time",
                )
            });
            if let Some(e) = failed {
                return Err(Fail::Pg(e));
            }
            let (lo, hi) = range?;
            if lo >= hi {
                return Ok(QueryPage::default());
            }
            let (lo, hi) = (to_i64(lo)?, to_i64(hi)?);
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![&lo, &hi];
            params.extend(values.iter().map(|v| v.as_ref()));
            let rows = tx.query(&page, &params)?;
            tx.commit()?;
            let mut events = Vec::with_capacity(rows.len());
            for r in &rows {
                let index = to_u64(r.try_get(0)?, "index")?;
                let (salt, body) = salt_and_body(index, r.try_get(4)?, r.try_get(5)?)?;
                events.push(QueryEvent {
                    index,
                    leaf_hash: hash_from(r.try_get(1)?, "leaf hash")?,
                    time: to_u64(r.try_get(2)?, "time")?,
                    header: r.try_get(3)?,
                    body,
                    salt,
                });
            }
            let next_cursor = (events.len() == limit)
                .then(|| events.last().map(|e| e.index))
                .flatten();
            Ok(QueryPage {
                events,
                next_cursor,
            })
        })
    }

    fn stats(&self, q: &StatsQuery) -> Result<Vec<StatsRow>, StoreError> {
        q.check()?;
        let (first_day, end_day) = q.days();
        let (first_day, end_day) = (day_i32(first_day), day_i32(end_day));
        let groups: Vec<&str> = q.group_by.iter().map(|g| g.name()).collect();
        let mut sql = String::from("SELECT ");
        for g in &groups {
            sql.push_str(g);
            sql.push_str(", ");
        }
        sql.push_str(
            "coalesce(sum(n), 0)::bigint FROM counts
             WHERE ($1::int4 IS NULL OR day >= $1) AND ($2::int4 IS NULL OR day < $2)
             AND ($3::text IS NULL OR agent = $3) AND ($4::text IS NULL OR kind = $4)
             AND ($5::text IS NULL OR outcome = $5)",
        );
        if !groups.is_empty() {
            let cols = groups.join(", ");
            sql.push_str(&format!(" GROUP BY {cols} ORDER BY {cols}"));
        }
        self.run("read the counts (table counts)", |c| {
            let rows = c.client.query(
                sql.as_str(),
                &[
                    &first_day,
                    &end_day,
                    &q.filter.agent,
                    &q.filter.kind,
                    &q.filter.outcome,
                ],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let mut row = StatsRow {
                    day: None,
                    agent: None,
                    kind: None,
                    outcome: None,
                    count: to_u64(r.try_get(groups.len())?, "count")?,
                };
                for (i, g) in q.group_by.iter().enumerate() {
                    match g {
                        StatsGroup::Day => row.day = Some(i64::from(r.try_get::<_, i32>(i)?)),
                        StatsGroup::Agent => row.agent = Some(r.try_get(i)?),
                        StatsGroup::Kind => row.kind = Some(r.try_get(i)?),
                        StatsGroup::Outcome => row.outcome = Some(r.try_get(i)?),
                    }
                }
                out.push(row);
            }
            Ok(out)
        })
    }

    fn head(&self) -> Result<LogHead, StoreError> {
        self.run("read the log head (table head)", |c| {
            let stmt =
                c.stmt("SELECT size, root, frontier, last_time, last_leaf FROM head WHERE id = 1")?;
            let row = c.client.query_one(&stmt, &[])?;
            let frontier: &[u8] = row.try_get(2)?;
            if frontier.len() % HASH_LEN != 0 {
                return Err(StoreError::Corrupt("frontier length".into()).into());
            }
            let last_leaf: Option<&[u8]> = row.try_get(4)?;
            Ok(LogHead {
                size: to_u64(row.try_get(0)?, "head size")?,
                root: hash_from(row.try_get(1)?, "head root")?,
                frontier: frontier
                    .chunks_exact(HASH_LEN)
                    .filter_map(Hash::from_slice)
                    .collect(),
                last_time: to_u64(row.try_get(3)?, "last time")?,
                last_leaf: last_leaf.map(|l| hash_from(l, "last leaf")).transpose()?,
            })
        })
    }

    fn append_batch(&self, batch: &Batch) -> Result<(), StoreError> {
        match self.attempt(&mut |c| Self::append_once(c, batch, false)) {
            Ok(()) => Ok(()),
            // The commit may or may not have happened before the connection
            // died; a second try on a new connection finds out (and does it
            // if it had not).
            Err(Failed { lost: true, .. }) => self
                .attempt(&mut |c| Self::append_once(c, batch, true))
                .map_err(|x| x.error),
            Err(x) => Err(x.error),
        }
        .map_err(|e| {
            let first = batch
                .entries
                .first()
                .map_or(batch.expected_size, |e| e.index);
            self.during(e, &format!("append entries {first}..{}", batch.head.size))
        })
    }

    fn find_event_ids(&self, ids: &[&str]) -> Result<Vec<(String, Receipt)>, StoreError> {
        self.lookup(
            "look up event ids (table entries)",
            "SELECT event_id, idx, leaf, time FROM entries WHERE event_id = ANY($1::text[])",
            ids,
            |r| {
                Ok((
                    r.try_get::<_, String>(0)?,
                    Receipt {
                        index: to_u64(r.try_get(1)?, "index")?,
                        leaf_hash: hash_from(r.try_get(2)?, "leaf hash")?,
                        time: to_u64(r.try_get(3)?, "time")?,
                    },
                ))
            },
        )
    }

    fn event_ids(&self, start: u64, end: u64) -> Result<Vec<String>, StoreError> {
        let (start, end) = (to_i64(start)?, to_i64(end)?);
        self.run("read event ids (table entries)", |c| {
            let stmt = c.stmt(
                "SELECT event_id FROM entries WHERE idx >= $1 AND idx < $2 AND event_id IS NOT NULL",
            )?;
            let rows = c.client.query(&stmt, &[&start, &end])?;
            rows.iter().map(|r| Ok(r.try_get::<_, String>(0)?)).collect()
        })
    }

    fn stream_heads(&self, keys: &[&str]) -> Result<Vec<(String, StreamHead)>, StoreError> {
        self.lookup(
            "read stream heads (table streams)",
            "SELECT key, count, last FROM streams WHERE key = ANY($1::text[])",
            keys,
            |r| {
                Ok((
                    r.try_get::<_, String>(0)?,
                    StreamHead {
                        count: to_u64(r.try_get(1)?, "stream count")?,
                        last: to_u64(r.try_get(2)?, "stream last")?,
                    },
                ))
            },
        )
    }

    fn last_seqs(&self, keys: &[&str]) -> Result<Vec<(String, u64)>, StoreError> {
        self.lookup(
            "read sequence numbers (table seqs)",
            "SELECT key, last FROM seqs WHERE key = ANY($1::text[])",
            keys,
            |r| Ok((r.try_get::<_, String>(0)?, to_u64(r.try_get(1)?, "seq")?)),
        )
    }

    fn entry(&self, index: u64) -> Result<Option<StoredEntry>, StoreError> {
        Ok(self.entries(index, index.saturating_add(1))?.pop())
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<StoredEntry>, StoreError> {
        let (start, end) = (end_i64(start), end_i64(end));
        self.run("read entries (tables entries, bodies)", |c| {
            let stmt = c.stmt(
                "SELECT e.idx, e.leaf, e.header, b.salt, b.body
                 FROM entries e LEFT JOIN bodies b ON b.idx = e.idx
                 WHERE e.idx >= $1 AND e.idx < $2 ORDER BY e.idx",
            )?;
            let rows = c.client.query(&stmt, &[&start, &end])?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let index = to_u64(r.try_get(0)?, "index")?;
                let (salt, body) = salt_and_body(index, r.try_get(3)?, r.try_get(4)?)?;
                out.push(StoredEntry {
                    index,
                    leaf_hash: hash_from(r.try_get(1)?, "leaf hash")?,
                    header: r.try_get(2)?,
                    body,
                    salt,
                });
            }
            Ok(out)
        })
    }

    fn entry_headers(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let (start, end) = (end_i64(start), end_i64(end));
        self.run("read entry headers (table entries)", |c| {
            let stmt =
                c.stmt("SELECT header FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx")?;
            c.client
                .query(&stmt, &[&start, &end])?
                .iter()
                .map(|r| r.try_get(0).map_err(Fail::from))
                .collect()
        })
    }

    fn leaf_hashes(&self, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
        let (start, end) = (end_i64(start), end_i64(end));
        self.run("read leaf hashes (table entries)", |c| {
            let stmt =
                c.stmt("SELECT leaf FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx")?;
            c.client
                .query(&stmt, &[&start, &end])?
                .iter()
                .map(|r| Ok(hash_from(r.try_get(0)?, "leaf hash")?))
                .collect()
        })
    }

    fn nodes(&self, level: u8, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
        let (start, end) = (end_i64(start), end_i64(end));
        let level = i16::from(level);
        self.run("read tree nodes (table nodes)", |c| {
            let stmt = c.stmt(
                "SELECT hash FROM nodes WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx",
            )?;
            c.client
                .query(&stmt, &[&level, &start, &end])?
                .iter()
                .map(|r| Ok(hash_from(r.try_get(0)?, "node hash")?))
                .collect()
        })
    }

    fn put_checkpoint(&self, cp: &StoredCheckpoint) -> Result<(), StoreError> {
        let (size, time) = (to_i64(cp.size)?, to_i64(cp.time)?);
        let mut repeated = false;
        self.run("store a checkpoint (table checkpoints)", |c| {
            let insert =
                c.stmt("INSERT INTO checkpoints (size, note, time) VALUES ($1, $2, $3)")?;
            match c.client.execute(&insert, &[&size, &cp.note, &time]) {
                Ok(_) => Ok(()),
                // A repeat after a lost connection finding exactly this
                // checkpoint means the first try committed.
                Err(e) if repeated && e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    let stmt =
                        c.stmt("SELECT size, note, time FROM checkpoints WHERE size = $1")?;
                    let row = c.client.query_one(&stmt, &[&size])?;
                    if checkpoint_from(checkpoint_row(&row)?)? == *cp {
                        Ok(())
                    } else {
                        Err(e.into())
                    }
                }
                Err(e) => {
                    repeated = true;
                    Err(e.into())
                }
            }
        })
    }

    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.run("read the latest checkpoint (table checkpoints)", |c| {
            let stmt =
                c.stmt("SELECT size, note, time FROM checkpoints ORDER BY size DESC LIMIT 1")?;
            match c.client.query_opt(&stmt, &[])? {
                Some(r) => Ok(Some(checkpoint_from(checkpoint_row(&r)?)?)),
                None => Ok(None),
            }
        })
    }

    fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let size = to_i64(size)?;
        self.run("read a checkpoint (table checkpoints)", |c| {
            let stmt = c.stmt("SELECT size, note, time FROM checkpoints WHERE size = $1")?;
            match c.client.query_opt(&stmt, &[&size])? {
                Some(r) => Ok(Some(checkpoint_from(checkpoint_row(&r)?)?)),
                None => Ok(None),
            }
        })
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.run("read the checkpoints (table checkpoints)", |c| {
            let stmt = c.stmt("SELECT size, note, time FROM checkpoints ORDER BY size")?;
            c.client
                .query(&stmt, &[])?
                .iter()
                .map(|r| Ok(checkpoint_from(checkpoint_row(r)?)?))
                .collect()
        })
    }

    fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let created = to_i64(key.created)?;
        let mut repeated = false;
        self.run("store an API key (table api_keys)", |c| {
            let insert = c.stmt(
                "INSERT INTO api_keys (key_hash, name, role, created) VALUES ($1, $2, $3, $4)",
            )?;
            let params: [&(dyn ToSql + Sync); 4] =
                [&&key.key_hash.0[..], &key.name, &key.role, &created];
            match c.client.execute(&insert, &params) {
                Ok(_) => Ok(()),
                // As for checkpoints: the first try may have committed.
                Err(e) if repeated && e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    let stmt = c.stmt(
                        "SELECT count(*) FROM api_keys WHERE key_hash = $1 AND name = $2 AND role = $3 AND created = $4",
                    )?;
                    let same: i64 = c.client.query_one(&stmt, &params)?.try_get(0)?;
                    if same == 1 {
                        Ok(())
                    } else {
                        Err(e.into())
                    }
                }
                Err(e) => {
                    repeated = true;
                    Err(e.into())
                }
            }
        })
    }

    fn api_key(&self, key_hash: &Hash) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.run("read an API key (table api_keys)", |c| {
            let stmt = c.stmt("SELECT name, role, created FROM api_keys WHERE key_hash = $1")?;
            match c.client.query_opt(&stmt, &[&&key_hash.0[..]])? {
                Some(r) => Ok(Some(ApiKeyRecord {
                    key_hash: *key_hash,
                    name: r.try_get(0)?,
                    role: r.try_get(1)?,
                    created: to_u64(r.try_get(2)?, "key created")?,
                })),
                None => Ok(None),
            }
        })
    }

    fn lock_log(&self) -> Result<(), StoreError> {
        let mut slot = self.log_lock.lock().map_err(|_| {
            StoreError::Unavailable(format!(
                "the writer lock session of {} failed earlier (lock poisoned); restart the server",
                self.place
            ))
        })?;
        if slot.is_none() {
            *slot = Some(self.pool.connect()?);
        }
        let Some(conn) = slot.as_mut() else {
            return Err(StoreError::Unavailable(format!(
                "no session for the writer lock of {}",
                self.place
            )));
        };
        match conn
            .client
            .execute("SELECT pg_advisory_lock($1)", &[&self.lock_key])
        {
            Ok(_) => Ok(()),
            Err(e) => {
                // A dead session holds no lock; the next call opens a new one.
                *slot = None;
                Err(pg_err(&e)
                    .during(|| format!("cannot take the log's writer lock in {}", self.place)))
            }
        }
    }

    fn unlock_log(&self) {
        if let Ok(mut slot) = self.log_lock.lock() {
            let failed = slot.as_mut().is_some_and(|conn| {
                conn.client
                    .execute("SELECT pg_advisory_unlock($1)", &[&self.lock_key])
                    .is_err()
            });
            if failed {
                // Its session is gone, and with it the lock.
                *slot = None;
            }
        }
    }

    fn put_access(&self, kind: &str, id: &str, record: &[u8]) -> Result<(), StoreError> {
        // An upsert: repeating it after a lost connection is harmless.
        self.run("store an access record (table access)", |c| {
            let stmt = c.stmt(
                "INSERT INTO access (kind, id, record) VALUES ($1, $2, $3)
                 ON CONFLICT (kind, id) DO UPDATE SET record = EXCLUDED.record",
            )?;
            c.client.execute(&stmt, &[&kind, &id, &record])?;
            Ok(())
        })
    }

    fn put_access_if(
        &self,
        kind: &str,
        id: &str,
        expected: Option<&[u8]>,
        record: &[u8],
    ) -> Result<bool, StoreError> {
        let mut tries = 0;
        self.run("store an access record (table access)", |c| {
            tries += 1;
            // One statement each way: under READ COMMITTED an UPDATE
            // re-checks its WHERE on the newest row version, so this is a
            // true compare-and-set between nodes.
            let changed = match expected {
                None => {
                    let stmt = c.stmt(
                        "INSERT INTO access (kind, id, record) VALUES ($1, $2, $3)
                         ON CONFLICT (kind, id) DO NOTHING",
                    )?;
                    c.client.execute(&stmt, &[&kind, &id, &record])?
                }
                Some(old) => {
                    let stmt = c.stmt(
                        "UPDATE access SET record = $3 WHERE kind = $1 AND id = $2 AND record = $4",
                    )?;
                    c.client.execute(&stmt, &[&kind, &id, &record, &old])?
                }
            };
            if changed == 1 {
                return Ok(true);
            }
            // A repeat after a lost connection that finds exactly this
            // record means the first try committed.
            if tries > 1 {
                let stmt = c.stmt("SELECT record FROM access WHERE kind = $1 AND id = $2")?;
                if let Some(r) = c.client.query_opt(&stmt, &[&kind, &id])? {
                    let now: Vec<u8> = r.try_get(0)?;
                    return Ok(now == record);
                }
            }
            Ok(false)
        })
    }

    fn access(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.run("read an access record (table access)", |c| {
            let stmt = c.stmt("SELECT record FROM access WHERE kind = $1 AND id = $2")?;
            match c.client.query_opt(&stmt, &[&kind, &id])? {
                Some(r) => Ok(Some(r.try_get(0)?)),
                None => Ok(None),
            }
        })
    }

    fn access_all(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.run("read the access records (table access)", |c| {
            let stmt = c.stmt("SELECT id, record FROM access WHERE kind = $1 ORDER BY id")?;
            let rows = c.client.query(&stmt, &[&kind])?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        })
    }

    fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.run("read the API keys (table api_keys)", |c| {
            let stmt = c.stmt(
                "SELECT key_hash, name, role, created FROM api_keys ORDER BY created, name",
            )?;
            let rows = c.client.query(&stmt, &[])?;
            rows.iter()
                .map(|r| {
                    let hash: Vec<u8> = r.try_get(0)?;
                    Ok(ApiKeyRecord {
                        key_hash: hash_from(&hash, "api key hash").map_err(Fail::Store)?,
                        name: r.try_get(1)?,
                        role: r.try_get(2)?,
                        created: to_u64(r.try_get(3)?, "key created").map_err(Fail::Store)?,
                    })
                })
                .collect()
        })
    }

    fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: u64,
        ttl: u64,
    ) -> Result<bool, StoreError> {
        let expires = to_i64(now.saturating_add(ttl))?;
        let now = to_i64(now)?;
        // Repeatable: renewing a lease one holds gives the same answer.
        self.run("take a lease (table leases)", |c| {
            let stmt = c.stmt(
                "INSERT INTO leases (name, holder, expires) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
                 WHERE leases.holder = excluded.holder OR leases.expires < $4",
            )?;
            Ok(c.client.execute(&stmt, &[&name, &holder, &expires, &now])? > 0)
        })
    }
}

/// Keys per lookup statement: bounds one statement's size (PostgreSQL has
/// no parameter limit here; the keys go as one array).
const LOOKUP_CHUNK: usize = 10_000;

/// An entry's salt and body: both, or neither once erased.
type SaltAndBody = (Option<[u8; 32]>, Option<Vec<u8>>);

/// An entry's salt and body as read from the `bodies` join: both or neither.
fn salt_and_body(
    index: u64,
    salt: Option<&[u8]>,
    body: Option<Vec<u8>>,
) -> Result<SaltAndBody, StoreError> {
    match (salt, body) {
        (Some(s), Some(b)) => {
            let s: [u8; 32] = s.try_into().map_err(|_| {
                StoreError::Corrupt(format!("entry {index}: salt is {} bytes, not 32", s.len()))
            })?;
            Ok((Some(s), Some(b)))
        }
        // Erased (or never stored): the header stays provable.
        _ => Ok((None, None)),
    }
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

    #[test]
    fn later_values_win_per_key() {
        let items = vec![("a".to_string(), 1u64), ("b".into(), 2), ("a".into(), 3)];
        let (k, v) = last_per_key(&items);
        assert_eq!(k, ["a", "b"]);
        assert_eq!(v, [3, 2]);
    }

    #[test]
    fn target_names_the_address_not_the_password() {
        let c: Config = "postgres://u:secret@127.0.0.1:1/x".parse().unwrap();
        let t = describe_target(&c);
        assert_eq!(t, "127.0.0.1:1 database x user u");
        let c: Config = "host=/var/run/postgresql user=postgres dbname=test"
            .parse()
            .unwrap();
        assert_eq!(
            describe_target(&c),
            "/var/run/postgresql/.s.PGSQL.5432 database test user postgres"
        );
    }
}
