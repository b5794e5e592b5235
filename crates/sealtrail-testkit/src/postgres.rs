//! PostgreSQL for tests: where it is, whether to skip it, a fresh schema
//! dropped when the test ends, a store on it.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::skip::skip_or_fail;

/// For a test that needs PostgreSQL: `None` when skipped, else the database
/// URL (checked to be reachable) and a fresh schema named `{prefix}_…`.
pub fn postgres_schema(test: &str, prefix: &str) -> Option<(String, SchemaGuard)> {
    if skip_postgres(test) {
        return None;
    }
    let url = pg_url();
    require_postgres(&url);
    let schema = SchemaGuard::new(&url, prefix);
    Some((url, schema))
}

/// The test database: `SEALTRAIL_TEST_DATABASE_URL`, else the local socket
/// that scripts/setup.sh prepares.
pub fn pg_url() -> String {
    std::env::var("SEALTRAIL_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "host=/var/run/postgresql user=postgres dbname=test".into())
}

/// [`pg_url`] with an `application_name`, so a test can find its own
/// backends.
pub fn pg_url_named(app: &str) -> String {
    let url = pg_url();
    if url.contains("://") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}application_name={app}")
    } else {
        format!("{url} application_name={app}")
    }
}

/// An administrative connection to [`pg_url`], failing the test with
/// advice when the server cannot be reached.
pub fn admin() -> postgres::Client {
    let url = pg_url();
    postgres::Client::connect(&url, postgres::NoTls).unwrap_or_else(|e| {
        let cause = std::error::Error::source(&e)
            .map(|c| c.to_string())
            .unwrap_or_default();
        panic!(
            "PostgreSQL is unreachable at {url:?}: {e}: {cause}\n\
             Start it with scripts/setup.sh, point SEALTRAIL_TEST_DATABASE_URL at a server, \
             or set SEALTRAIL_SKIP_POSTGRES=1 to skip the PostgreSQL cases."
        )
    })
}

/// A schema name no other test (thread or process) uses, made from the
/// test's name.
pub fn unique_schema(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut tag: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    tag.truncate(30);
    format!(
        "t_{tag}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// True (after [`skip_or_fail`]) when `SEALTRAIL_SKIP_POSTGRES=1`. An
/// unreachable server is no reason to skip: it fails the test.
pub fn skip_postgres(test: &str) -> bool {
    let skip = std::env::var("SEALTRAIL_SKIP_POSTGRES").is_ok_and(|v| v == "1");
    if skip {
        skip_or_fail(test, "SEALTRAIL_SKIP_POSTGRES=1");
    }
    skip
}

/// Runs `f` on a thread of its own: the sync PostgreSQL client must not run
/// on a thread that drives an async runtime.
pub fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f)
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Fails the test with advice when PostgreSQL cannot be reached.
pub fn require_postgres(url: &str) {
    let url = url.to_string();
    off_runtime(move || {
        if let Err(e) = postgres::Client::connect(&url, postgres::NoTls) {
            let cause = std::error::Error::source(&e)
                .map(|c| c.to_string())
                .unwrap_or_default();
            panic!(
                "PostgreSQL is unreachable at {url:?}: {e}: {cause}\n\
                 Start it (scripts/setup.sh), point SEALTRAIL_TEST_DATABASE_URL at a server, \
                 or set SEALTRAIL_SKIP_POSTGRES=1 to skip the PostgreSQL tests."
            );
        }
    });
}

/// `n` random bytes, hex-encoded.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("/dev/urandom");
    hex::encode(b)
}

/// A PostgreSQL store on `schema` with a pool of `pool_size` connections.
pub fn pg_store(url: &str, schema: &str, pool_size: usize) -> sealtrail_store::postgres::PgStore {
    sealtrail_store::postgres::PgStore::connect(
        url,
        sealtrail_store::postgres::PgOptions {
            schema: schema.to_string(),
            pool_size,
            ..Default::default()
        },
    )
    .unwrap()
}

/// A fresh schema, dropped with everything in it when the test ends.
pub struct SchemaGuard {
    pub url: String,
    pub name: String,
}

impl SchemaGuard {
    /// `{prefix}_` and 12 random hex digits, on the database at `url`.
    pub fn new(url: &str, prefix: &str) -> SchemaGuard {
        SchemaGuard {
            url: url.to_string(),
            name: format!("{prefix}_{}", random_hex(6)),
        }
    }

    /// A name made from the test's (see [`unique_schema`]), on [`pg_url`].
    pub fn unique(test: &str) -> SchemaGuard {
        SchemaGuard {
            url: pg_url(),
            name: unique_schema(test),
        }
    }
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls)?;
            c.batch_execute(&format!(
                "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
            ))
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop schema {}: {dropped:?}", self.name);
        }
    }
}
