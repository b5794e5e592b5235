//! PostgreSQL over TLS (`sslmode=require|verify-ca|verify-full`,
//! `sslrootcert=`): a private cluster of this test's own with `ssl = on`, a
//! certificate from a throwaway CA made here for `localhost` only, and a
//! pg_hba.conf that admits TCP clients over TLS only (so a store that
//! connects at all connected over TLS).
//!
//! Needs the PostgreSQL 15 server binaries (`SEALTRAIL_PG_BIN`, else
//! /usr/lib/postgresql/15/bin); run as root they run as the `postgres`
//! user (runuser), otherwise as the current user. When they cannot run, the
//! test fails under CI=true and prints SKIPPED otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use sealtrail_store::postgres::tls::{parse, Connector};
use sealtrail_store::postgres::{PgOptions, PgStore};
use sealtrail_store::prelude::*;
use sealtrail_testkit::skip_or_fail;
use sealtrail_testkit::tls::TestCa;

/// Says why the test cannot run: a failure under CI=true, SKIPPED otherwise.
fn cannot_run(why: &str) {
    skip_or_fail("pg_tls", why);
}

struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    fn tool(&self, name: &str) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(name));
            c
        } else {
            Command::new(self.bin.join(name))
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A cluster with `ssl = on` and the given server certificate; `None`
    /// (after [`cannot_run`]) where one cannot be made.
    fn create(cert_pem: &str, key_pem: &str) -> Option<Cluster> {
        let bin = PathBuf::from(
            std::env::var("SEALTRAIL_PG_BIN")
                .unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into()),
        );
        if !bin.join("initdb").exists() || !bin.join("pg_ctl").exists() {
            cannot_run(&format!(
                "no initdb/pg_ctl in {} (set SEALTRAIL_PG_BIN)",
                bin.display()
            ));
            return None;
        }
        // SAFETY: geteuid has no preconditions.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        if as_postgres && !Path::new("/usr/sbin/runuser").exists() {
            cannot_run("running as root, and no runuser to run initdb as postgres");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("sealtrail-pgtls-")
            .tempdir_in("/tmp")
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Cluster {
            dir,
            bin,
            port,
            as_postgres,
        };
        let chown = |p: &Path| {
            if as_postgres {
                let ok = Command::new("chown")
                    .arg("postgres:")
                    .arg(p)
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "chown postgres {}", p.display());
            }
        };
        chown(c.dir.path());
        let out = c
            .tool("initdb")
            .arg("-D")
            .arg(c.data())
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .output()
            .unwrap();
        if !out.status.success() {
            cannot_run(&format!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
            return None;
        }
        let (crt, key) = (c.data().join("server.crt"), c.data().join("server.key"));
        std::fs::write(&crt, cert_pem).unwrap();
        std::fs::write(&key, key_pem).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        chown(&crt);
        chown(&key);
        // TCP clients only over TLS; the Unix socket for nobody.
        std::fs::write(
            c.data().join("pg_hba.conf"),
            "hostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
        )
        .unwrap();
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(c.data().join("postgresql.conf"))
            .unwrap();
        use std::io::Write;
        write!(
            conf,
            "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
             listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\nfsync = off\n",
            c.port,
            c.dir.path().display()
        )
        .unwrap();
        let out = c
            .tool("pg_ctl")
            .arg("-D")
            .arg(c.data())
            .arg("-l")
            .arg(c.dir.path().join("pg.log"))
            .args(["-w", "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(c.dir.path().join("pg.log")).unwrap_or_default()
        );
        Some(c)
    }

    fn url(&self, host: &str, extra: &str) -> String {
        format!(
            "host={host} port={} user=postgres dbname=postgres {extra}",
            self.port
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// The error of connecting a store to `url`, which must fail.
fn refused(url: &str) -> String {
    match store(url) {
        Ok(_) => panic!("connected to {url}"),
        Err(e) => e,
    }
}

fn store(url: &str) -> Result<PgStore, String> {
    PgStore::connect(
        url,
        PgOptions {
            schema: "tls_test".into(),
            pool_size: 2,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())
}

/// Whether the session on `url` is encrypted, asked of the server.
fn session_is_tls(url: &str) -> bool {
    let (config, connector, _) = parse(url).unwrap();
    let mut client = match connector {
        Connector::Tls(tls) => config.connect(tls).unwrap(),
        Connector::Plain => config.connect(postgres::NoTls).unwrap(),
    };
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0)
}

#[test]
fn sslmode_require_verify_ca_and_verify_full() {
    let ca = TestCa::new("sealtrail test CA");
    let leaf = ca.leaf_for("localhost", &["localhost"]);
    let Some(pg) = Cluster::create(&leaf.cert_pem, &leaf.key_pem) else {
        return;
    };
    let root = ca.write(pg.dir.path(), "ca.pem");
    let root = root.display();

    // The cluster takes TCP clients over TLS only: without sslmode (plain,
    // as before this change) the store is refused.
    let e = refused(&pg.url("127.0.0.1", ""));
    assert!(
        e.contains("no encryption") || e.contains("pg_hba.conf"),
        "{e}"
    );

    // require: encrypted, the certificate not checked.
    let url = pg.url("127.0.0.1", "sslmode=require");
    assert!(session_is_tls(&url));
    store(&url).unwrap().head().unwrap();

    // verify-full: the CA and the host name must both match.
    let url = pg.url(
        "localhost",
        &format!("sslmode=verify-full sslrootcert={root}"),
    );
    assert!(session_is_tls(&url));
    store(&url).unwrap().head().unwrap();
    // …as a URL too.
    let as_url = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={root}",
        pg.port
    );
    store(&as_url).unwrap().head().unwrap();

    // The certificate names localhost, not 127.0.0.1.
    let e = refused(&pg.url(
        "127.0.0.1",
        &format!("sslmode=verify-full sslrootcert={root}"),
    ));
    eprintln!("wrong host: {e}");
    assert!(
        e.contains("invalid peer certificate")
            && e.contains("not valid for name")
            && e.contains("name the host"),
        "{e}"
    );
    // verify-ca does not check the name…
    store(&pg.url(
        "127.0.0.1",
        &format!("sslmode=verify-ca sslrootcert={root}"),
    ))
    .unwrap()
    .head()
    .unwrap();
    // …but does check the CA, as verify-full does, and as require does with a root file.
    let other = TestCa::new("another CA").write(pg.dir.path(), "other-ca.pem");
    let other = other.display();
    for mode in ["verify-full", "verify-ca", "require"] {
        let e = refused(&pg.url("localhost", &format!("sslmode={mode} sslrootcert={other}")));
        eprintln!("wrong CA: {e}");
        assert!(
            e.contains("invalid peer certificate")
                && e.contains("UnknownIssuer")
                && e.contains("sslrootcert"),
            "{mode}: {e}"
        );
    }
    // verify-full without a root file is refused before connecting.
    let e = refused(&pg.url("localhost", "sslmode=verify-full"));
    assert!(e.contains("needs sslrootcert"), "{e}");
}
