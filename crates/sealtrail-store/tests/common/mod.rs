//! Shared by the store tests: fixtures for both backends (a temporary
//! directory; a unique PostgreSQL schema dropped afterwards, from
//! sealtrail-testkit) and a log builder that seals batches the way the
//! server's sequencer does.
#![allow(dead_code)]

use std::collections::HashMap;

use sealtrail_core::frontier::Frontier;
use sealtrail_core::hash::{leaf_hash, Hash};
use sealtrail_core::header::{commit_body, EntryHeader, StreamLink, Streams, HEADER_VERSION};
use sealtrail_store::postgres::{PgOptions, PgStore};
use sealtrail_store::sqlite::SqliteStore;
use sealtrail_store::{Batch, EntryColumns, LogHead, NewEntry, Store, StoreError, StreamHead};
use sealtrail_testkit::postgres::{admin, pg_url, skip_postgres, SchemaGuard};

/// A store under test and what it takes to tamper with it. Test-only and
/// short-lived, so the size difference of the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Fixture {
    Sqlite {
        store: SqliteStore,
        dir: tempfile::TempDir,
    },
    // Fields drop in order: the store's connections close before the
    // guard drops the schema.
    Pg {
        store: PgStore,
        schema: SchemaGuard,
    },
}

impl Fixture {
    pub fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).expect("open sqlite store");
        Fixture::Sqlite { store, dir }
    }

    /// `None` when PostgreSQL is to be skipped.
    pub fn postgres(test: &str) -> Option<Fixture> {
        if skip_postgres(test) {
            return None;
        }
        drop(admin()); // fails with advice if unreachable
        let schema = SchemaGuard::unique(test);
        let store = PgStore::connect(
            &pg_url(),
            PgOptions {
                schema: schema.name.clone(),
                pool_size: 4,
                ..PgOptions::default()
            },
        )
        .expect("connect PgStore");
        Some(Fixture::Pg { store, schema })
    }

    pub fn store(&self) -> &dyn Store {
        match self {
            Fixture::Sqlite { store, .. } => store,
            Fixture::Pg { store, .. } => store,
        }
    }

    /// Closes the store and opens it again (migrations run on the way).
    pub fn reopen(self) -> Fixture {
        self.reopen_after(|_| {})
    }

    /// Closes the store, turns it back into a schema version 1 store (the
    /// tables, columns and indexes version 2 added are dropped; the entries
    /// stay), and opens it again, which migrates it.
    pub fn reopen_as_v1(self) -> Fixture {
        self.reopen_after(|f| match f {
            Closed::Sqlite(dir) => {
                let db = rusqlite::Connection::open(dir.join("log.db")).expect("open log.db");
                db.execute_batch(SQLITE_DOWNGRADE).expect("downgrade to v1");
            }
            Closed::Pg(schema) => {
                admin()
                    .batch_execute(&format!("SET search_path TO \"{schema}\"; {PG_DOWNGRADE}"))
                    .expect("downgrade to v1");
            }
        })
    }

    fn reopen_after(self, between: impl FnOnce(Closed<'_>)) -> Fixture {
        match self {
            Fixture::Sqlite { store, dir } => {
                drop(store);
                between(Closed::Sqlite(dir.path()));
                let store = SqliteStore::open(dir.path()).expect("reopen sqlite store");
                Fixture::Sqlite { store, dir }
            }
            Fixture::Pg { store, schema } => {
                drop(store);
                between(Closed::Pg(&schema.name));
                let store = PgStore::connect(
                    &pg_url(),
                    PgOptions {
                        schema: schema.name.clone(),
                        pool_size: 4,
                        ..PgOptions::default()
                    },
                )
                .expect("reconnect PgStore");
                Fixture::Pg { store, schema }
            }
        }
    }

    /// Flips the bits of byte `pos` of entry `index`'s stored header.
    pub fn flip_header_byte(&self, index: u64, pos: u64) {
        match self {
            Fixture::Sqlite { dir, .. } => {
                let (file, off, _) = sqlite_record(dir.path(), index);
                flip_file_byte(&file, off + pos);
            }
            Fixture::Pg { schema, .. } => pg_flip(&schema.name, "entries", "header", index, pos),
        }
    }

    /// Flips the bits of byte `pos` of entry `index`'s stored body.
    pub fn flip_body_byte(&self, index: u64, pos: u64) {
        match self {
            Fixture::Sqlite { dir, .. } => {
                let (file, off, hlen) = sqlite_record(dir.path(), index);
                flip_file_byte(&file, off + hlen + 32 + pos);
            }
            Fixture::Pg { schema, .. } => pg_flip(&schema.name, "bodies", "body", index, pos),
        }
    }
}

/// A store closed for surgery.
enum Closed<'a> {
    Sqlite(&'a std::path::Path),
    Pg(&'a str),
}

/// What schema version 2 added to the embedded store, taken away again.
const SQLITE_DOWNGRADE: &str = "
DROP TABLE postings; DROP TABLE sessions; DROP TABLE counts;
ALTER TABLE entries DROP COLUMN scope;
CREATE INDEX entries_agent_time ON entries(agent, time);
UPDATE meta SET value = '1' WHERE key = 'schema_version';
";

/// The same for PostgreSQL (migration 2 undone).
const PG_DOWNGRADE: &str = "
DROP TABLE counts, entry_classes, entry_subjects, access;
DROP INDEX entries_agent, entries_session, entries_kind, entries_action, entries_tool,
    entries_outcome, entries_scope;
ALTER TABLE entries DROP COLUMN scope;
CREATE INDEX entries_agent_time ON entries (agent, time);
DELETE FROM schema_migrations WHERE version IN (2, 3);
";

/// The segment file, offset and header length of an entry's record.
fn sqlite_record(dir: &std::path::Path, index: u64) -> (std::path::PathBuf, u64, u64) {
    let db = rusqlite::Connection::open(dir.join("log.db")).expect("open log.db");
    let (seg, off, hlen): (u32, i64, i64) = db
        .query_row(
            "SELECT seg, off, hlen FROM entries WHERE idx = ?1",
            [index as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("entry row");
    (
        dir.join("segments").join(format!("{seg:08}.seg")),
        off as u64,
        hlen as u64,
    )
}

fn flip_file_byte(path: &std::path::Path, at: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open segment");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).expect("read byte");
    b[0] ^= 0x01;
    f.write_all_at(&b, at).expect("write byte");
    f.sync_all().expect("sync");
}

fn pg_flip(schema: &str, table: &str, column: &str, index: u64, pos: u64) {
    let mut c = admin();
    let n = c
        .execute(
            &format!(
                "UPDATE \"{schema}\".{table} SET {column} = set_byte({column}, $2, get_byte({column}, $2) # 1) WHERE idx = $1"
            ),
            &[&(index as i64), &(pos as i32)],
        )
        .expect("tamper");
    assert_eq!(n, 1, "no row for entry {index}");
}

/// Builds batches of real sealed entries (canonical headers, body
/// commitments, stream links, tile nodes), like the server's sequencer.
#[derive(Clone, Default)]
pub struct LogBuilder {
    pub frontier: Frontier,
    pub last_leaf: Option<Hash>,
    pub last_time: u64,
    pub streams: HashMap<String, StreamHead>,
    pub seqs: HashMap<String, u64>,
    /// Every entry sealed so far (committed or not), by index.
    pub entries: Vec<NewEntry>,
    /// Every tile node produced so far.
    pub nodes: Vec<(u8, u64, Hash)>,
}

/// Agents the builder writes for.
pub const AGENTS: u64 = 3;
/// Sessions the builder writes in.
pub const SESSIONS: u64 = 5;

pub fn event_id(i: u64) -> String {
    format!("ev-{i:06}")
}

impl LogBuilder {
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn head(&self) -> LogHead {
        LogHead {
            size: self.size(),
            root: self.frontier.root(),
            frontier: self.frontier.nodes().to_vec(),
            last_time: self.last_time,
            last_leaf: self.last_leaf,
        }
    }

    /// A builder continuing the log committed in `store` (another node's
    /// view after a conflict): head, frontier and this builder's streams.
    pub fn resume(store: &dyn Store) -> Result<LogBuilder, StoreError> {
        let head = store.head()?;
        let frontier = Frontier::from_parts(head.size, head.frontier.clone())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut keys: Vec<String> = (0..AGENTS).map(|a| format!("a:agent-{a}")).collect();
        keys.extend((0..SESSIONS).map(|s| format!("s:session-{s}")));
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let streams = store.stream_heads(&refs)?.into_iter().collect();
        Ok(LogBuilder {
            frontier,
            last_leaf: head.last_leaf,
            last_time: head.last_time,
            streams,
            ..LogBuilder::default()
        })
    }

    fn link(streams: &mut HashMap<String, StreamHead>, key: String, index: u64) -> StreamLink {
        let prev = streams.get(&key).copied();
        let link = StreamLink {
            n: prev.map_or(1, |h| h.count + 1),
            prev: prev.map(|h| h.last),
        };
        streams.insert(
            key,
            StreamHead {
                count: link.n,
                last: index,
            },
        );
        link
    }

    /// Seals `n` events (ids from `id(index)`), advancing the builder as if
    /// the batch will be committed.
    pub fn batch_with(&mut self, n: u64, id: impl Fn(u64) -> Option<String>) -> Batch {
        let time = self.last_time.max(1_795_000_000_000_000) + 7;
        self.batch_at(n, time, id)
    }

    /// Like [`LogBuilder::batch_with`], sealed at server time `time` (never
    /// before the previous batch). The entries' query columns vary with the
    /// index: see [`columns_of`].
    pub fn batch_at(&mut self, n: u64, time: u64, id: impl Fn(u64) -> Option<String>) -> Batch {
        let expected_size = self.size();
        let mut entries = Vec::new();
        let mut nodes = Vec::new();
        let mut streams: HashMap<String, StreamHead> = HashMap::new();
        let mut seqs: HashMap<String, u64> = HashMap::new();
        let time = time.max(self.last_time);
        for _ in 0..n {
            let index = self.size();
            let agent = format!("agent-{}", index % AGENTS);
            let session = (index % 4 != 3).then(|| format!("session-{}", index % SESSIONS));
            let mut all_streams = self.streams.clone();
            all_streams.extend(streams.clone());
            let agent_link = Self::link(&mut all_streams, format!("a:{agent}"), index);
            let session_link = session
                .as_ref()
                .map(|s| Self::link(&mut all_streams, format!("s:{s}"), index));
            for key in [
                Some(format!("a:{agent}")),
                session.as_ref().map(|s| format!("s:{s}")),
            ]
            .into_iter()
            .flatten()
            {
                streams.insert(key.clone(), all_streams[&key]);
            }
            let instance = format!("{agent}/1");
            let seq = self.seqs.get(&instance).map_or(1, |s| s + 1);
            self.seqs.insert(instance.clone(), seq);
            seqs.insert(instance, seq);
            let body = format!("{{\"agent\":{{\"id\":\"{agent}\"}},\"n\":{index}}}").into_bytes();
            let mut salt = [0u8; 32];
            salt[..8].copy_from_slice(&index.to_be_bytes());
            salt[31] = 0x5a;
            let event_id = id(index);
            let v = columns_of(index);
            let header = EntryHeader {
                v: HEADER_VERSION,
                index,
                time,
                prev: self.last_leaf,
                agent: agent.clone(),
                instance: None,
                session: session.clone(),
                parent: None,
                kind: v.kind.into(),
                action: v.action.map(str::to_string),
                tool: v.tool.map(str::to_string),
                outcome: v.outcome.map(str::to_string),
                event_id: event_id.clone(),
                seq: Some(seq),
                seq_gap: None,
                data_classes: v.data_classes.iter().map(|c| c.to_string()).collect(),
                subjects: v.subjects,
                scope: v.scope.map(str::to_string),
                redacted: None,
                streams: Streams {
                    agent: agent_link,
                    session: session_link,
                },
                body: commit_body(&salt, &body),
            };
            let header_bytes = header.to_entry_bytes().expect("canonical header");
            let leaf = leaf_hash(&header_bytes);
            self.frontier.append_with(leaf, |level, i, h| {
                if level > 0 && level % 8 == 0 {
                    nodes.push((level, i, *h));
                }
            });
            entries.push(NewEntry {
                index,
                leaf_hash: leaf,
                header: header_bytes,
                columns: EntryColumns::from_header(header),
                body,
                salt,
            });
            self.last_leaf = Some(leaf);
            self.last_time = time;
        }
        self.streams.extend(streams.clone());
        self.entries.extend(entries.iter().cloned());
        self.nodes.extend(nodes.iter().copied());
        Batch {
            expected_size,
            entries,
            nodes,
            streams: streams.into_iter().collect(),
            seqs: seqs.into_iter().collect(),
            head: self.head(),
        }
    }

    /// `n` events with ids `ev-<index>`.
    pub fn batch(&mut self, n: u64) -> Batch {
        self.batch_with(n, |i| Some(event_id(i)))
    }
}

/// The varying query columns of the builder's entry `index`.
pub struct Varied {
    pub kind: &'static str,
    pub action: Option<&'static str>,
    pub tool: Option<&'static str>,
    pub outcome: Option<&'static str>,
    pub data_classes: &'static [&'static str],
    pub subjects: Vec<Hash>,
    pub scope: Option<&'static str>,
}

/// A subject MAC the builder uses (`n` = 1 or 2).
pub fn subject(n: u8) -> Hash {
    Hash([n; 32])
}

/// Kinds, outcomes, data classes, subjects and scope verdicts cycle with
/// different periods, so that filters combine into many distinct sets.
pub fn columns_of(index: u64) -> Varied {
    let (kind, action, tool) = match index % 3 {
        0 => ("tool_call", Some("lookup"), Some("crm.lookup")),
        1 => ("model_call", Some("llm.generate"), None),
        _ => ("decision", None, None),
    };
    Varied {
        kind,
        action,
        tool,
        outcome: [
            Some("success"),
            Some("failure"),
            Some("denied"),
            None,
            Some("success"),
        ][(index % 5) as usize],
        data_classes: match index % 7 {
            0 => &["pii"],
            1 => &["pci", "pii"],
            _ => &[],
        },
        subjects: match index % 11 {
            0 => vec![subject(1)],
            1 => vec![subject(1), subject(2)],
            _ => vec![],
        },
        scope: match index % 6 {
            0 => Some("in_scope"),
            1 => Some("out_of_scope: budget"),
            2 => Some("out_of_scope: pii"),
            _ => None,
        },
    }
}
