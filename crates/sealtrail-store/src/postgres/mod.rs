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

mod access;
mod checkpoints;
mod coordination;
mod error;
mod pool;
mod query;
mod read;
mod schema;
pub mod tls;
mod write;

use std::sync::Mutex;
use std::time::Duration;

use postgres::Config;

use crate::StoreError;

pub use schema::SCHEMA_VERSION;

use coordination::log_lock_key;
use error::{connection_lost, pg_err, Fail, Failed};
use pool::{Conn, Pool};
use schema::check_schema_name;

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
    /// and writes a batch (see [`crate::Coordination::lock_log`]); outside
    /// the pool.
    log_lock: Mutex<Option<Conn>>,
    /// Advisory lock key of this log (derived from the schema name).
    lock_key: i64,
}

/// A range end past `i64::MAX` means "to the end".
fn end_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
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

impl PgStore {
    /// Connects to `url` (a `postgres://` URL or `key=value` string),
    /// creating the schema or migrating it to [`SCHEMA_VERSION`]. Refuses a
    /// schema newer than this binary with [`StoreError::SchemaTooNew`].
    pub fn connect(url: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        check_schema_name(&options.schema)?;
        let (mut config, tls, verify) = tls::parse(url).map_err(|e| match e {
            tls::PgTlsError::Malformed(m) => {
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
                tls::Verify::Off => "",
                tls::Verify::Encrypt => " over TLS (certificate not checked)",
                tls::Verify::Ca => " over TLS (verify-ca)",
                tls::Verify::Full => " over TLS (verify-full)",
            };
        let lock_key = log_lock_key(&options.schema);
        let store = PgStore {
            place: format!("PostgreSQL at {target} (schema {})", options.schema),
            log_lock: Mutex::new(None),
            lock_key,
            pool: Pool::new(
                config,
                tls,
                session_setup,
                target.clone(),
                options.pool_size.max(1),
                options.statement_timeout.max(Duration::from_secs(1)),
            ),
        };
        let schema = options.schema.clone();
        store.run("create or migrate the schema", |c| {
            Self::migrate(c, &schema)
        })?;
        Ok(store)
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
