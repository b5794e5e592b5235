//! The connection pool: at most `max` connections, idle ones reused, dead
//! ones dropped, each with its prepared statements.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postgres::{Client, Config, NoTls, Statement};

use crate::StoreError;

use super::error::{describe, pg_err};
use super::tls;

/// A pooled connection with its prepared statements.
pub(super) struct Conn {
    pub(super) client: Client,
    stmts: HashMap<&'static str, Statement>,
}

impl Conn {
    /// The statement for `sql`, prepared once per connection.
    pub(super) fn stmt(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
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
pub(super) struct Pool {
    config: Config,
    /// Plain, or TLS as the URL's sslmode asks (see `tls`).
    tls: tls::Connector,
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
pub(super) struct Lease<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
    pub(super) reused: bool,
}

impl Lease<'_> {
    pub(super) fn conn(&mut self) -> Result<&mut Conn, StoreError> {
        self.conn.as_mut().ok_or_else(|| {
            StoreError::Unavailable(format!(
                "the connection to PostgreSQL at {} was already closed",
                self.pool.target
            ))
        })
    }

    /// Closes the connection instead of giving it back.
    pub(super) fn discard(&mut self) {
        if let Some(c) = self.conn.take() {
            drop(c);
            self.pool.forget_one();
        }
    }

    pub(super) fn closed(&self) -> bool {
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
    /// An empty pool of at most `max` connections to `config`, each set up
    /// with `session_setup`; `target` names the database in messages, and
    /// a caller waits at most `wait` for a free connection.
    pub(super) fn new(
        config: Config,
        tls: tls::Connector,
        session_setup: String,
        target: String,
        max: usize,
        wait: Duration,
    ) -> Pool {
        Pool {
            config,
            tls,
            session_setup,
            target,
            max,
            wait,
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, PoolState>, StoreError> {
        self.state.lock().map_err(|_| self.poisoned())
    }

    fn poisoned(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "the connection pool for PostgreSQL at {} failed earlier (lock poisoned); restart the server",
            self.target
        ))
    }

    pub(super) fn get(&self) -> Result<Lease<'_>, StoreError> {
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

    pub(super) fn connect(&self) -> Result<Conn, StoreError> {
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
            tls::Connector::Plain => self.config.connect(NoTls),
            tls::Connector::Tls(tls) => self.config.connect(tls.clone()),
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
    pub(super) fn clear_idle(&self) {
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
