//! `sealtrail.toml`: settings kept in the data directory. Every key is a
//! `serve` flag (`batch_max` for `--batch-max`), and every one can also be
//! set by its `SEALTRAIL_*` environment variable; precedence is flag, then
//! environment, then file, then default. The file is applied by exporting its
//! values as environment variables that are not already set, before the
//! command line is parsed, so the three sources share one parser.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub const FILE: &str = "sealtrail.toml";

/// The keys the file may hold, and their environment variables.
pub const KEYS: &[(&str, &str)] = &[
    ("listen", "SEALTRAIL_LISTEN"),
    ("otlp_grpc_listen", "SEALTRAIL_OTLP_GRPC_LISTEN"),
    ("checkpoint_interval", "SEALTRAIL_CHECKPOINT_INTERVAL"),
    ("batch_max", "SEALTRAIL_BATCH_MAX"),
    ("batch_linger_ms", "SEALTRAIL_BATCH_LINGER_MS"),
    ("queue_limit", "SEALTRAIL_QUEUE_LIMIT"),
    ("max_body_bytes", "SEALTRAIL_MAX_BODY_BYTES"),
    ("max_events_per_request", "SEALTRAIL_MAX_EVENTS_PER_REQUEST"),
    ("max_event_bytes", "SEALTRAIL_MAX_EVENT_BYTES"),
    ("wait_timeout", "SEALTRAIL_WAIT_TIMEOUT"),
    ("public_tiles", "SEALTRAIL_PUBLIC_TILES"),
    ("rate_limit", "SEALTRAIL_RATE_LIMIT"),
    ("no_audit_reads", "SEALTRAIL_NO_AUDIT_READS"),
    ("log_format", "SEALTRAIL_LOG_FORMAT"),
    ("database", "SEALTRAIL_DATABASE"),
    ("pg_schema", "SEALTRAIL_PG_SCHEMA"),
    ("signing_key", "SEALTRAIL_SIGNING_KEY"),
    ("signer_command", "SEALTRAIL_SIGNER_COMMAND"),
    ("tls_cert", "SEALTRAIL_TLS_CERT"),
    ("tls_key", "SEALTRAIL_TLS_KEY"),
    ("console_idle_timeout", "SEALTRAIL_CONSOLE_IDLE_TIMEOUT"),
    ("console_session_max", "SEALTRAIL_CONSOLE_SESSION_MAX"),
];

/// The data directory the command line names (`--data DIR`, `--data=DIR`),
/// else `SEALTRAIL_DATA`, else the default.
pub fn data_dir(args: &[String]) -> PathBuf {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--data" {
            if let Some(v) = it.next() {
                return PathBuf::from(v);
            }
        } else if let Some(v) = a.strip_prefix("--data=") {
            return PathBuf::from(v);
        }
    }
    std::env::var_os("SEALTRAIL_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("sealtrail-data"))
}

/// Reads `DIR/sealtrail.toml` if it exists and exports each value whose
/// environment variable is not set. Unknown keys and wrong types are errors
/// naming the key.
pub fn apply(dir: &Path) -> Result<()> {
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    for (key, value) in &flatten(&path, table)? {
        let Some((_, var)) = KEYS.iter().find(|(k, _)| k == key) else {
            let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
            bail!(
                "{}: unknown setting {key:?}; known settings: {}",
                path.display(),
                known.join(", ")
            );
        };
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => bail!(
                "{}: {key} must be a string, number or boolean, not {}",
                path.display(),
                other.type_str()
            ),
        };
        if std::env::var_os(var).is_none() {
            std::env::set_var(var, text);
        }
    }
    Ok(())
}

/// `[console] idle_timeout = "30m"` is `console_idle_timeout = "30m"`:
/// a table's keys are named with the table's name in front.
fn flatten(path: &Path, table: toml::Table) -> Result<Vec<(String, toml::Value)>> {
    let mut out = Vec::new();
    for (key, value) in table {
        match value {
            toml::Value::Table(inner) => {
                for (k, v) in inner {
                    if v.is_table() {
                        bail!("{}: [{key}] {k} must not be a table", path.display());
                    }
                    out.push((format!("{key}_{k}"), v));
                }
            }
            other => out.push((key, other)),
        }
    }
    Ok(out)
}

/// The file `init` writes: every setting, commented out at its default.
pub const TEMPLATE: &str = "\
# sealtrail settings for this data directory. Each key is a `sealtrail serve`
# flag; a flag or a SEALTRAIL_* environment variable overrides the file.
# `sealtrail config show --data DIR` prints the values in effect.

# listen = \"127.0.0.1:7700\"
# otlp_grpc_listen = \"127.0.0.1:4317\"   # OTLP/gRPC ingest; off unless set
# checkpoint_interval = 1.0        # seconds
# batch_max = 2048                 # events per durable transaction
# batch_linger_ms = 0
# queue_limit = 200000             # events waiting before 503
# max_body_bytes = 16777216
# max_events_per_request = 10000
# max_event_bytes = 1048576
# wait_timeout = 30.0             # seconds ?wait=checkpoint may hold a request
# public_tiles = false             # serve /tlog/* without an API key
# log_format = \"text\"            # or \"json\"
# database = \"postgres://user@host/db\"   # default: the embedded store
# pg_schema = \"sealtrail\"
# signing_key = \"/etc/sealtrail/log.key\"   # default: log.key in this directory
# signer_command = \"sealtrail signer --key /etc/sealtrail/log.key\"   # docs/deploy.md
# tls_cert = \"/etc/sealtrail/tls/cert.pem\"   # HTTPS; reloaded on SIGHUP or change
# tls_key = \"/etc/sealtrail/tls/key.pem\"

# [console]
# idle_timeout = \"30m\"            # a console session unused this long ends
# session_max = \"12h\"             # ... and ends this long after sign-in
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_from_flags() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            data_dir(&args(&["serve", "--data", "x"])),
            PathBuf::from("x")
        );
        assert_eq!(data_dir(&args(&["serve", "--data=y"])), PathBuf::from("y"));
    }

    #[test]
    fn the_template_is_valid_and_unknown_keys_are_refused() {
        assert!(TEMPLATE.parse::<toml::Table>().unwrap().is_empty());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "batch_mx = 3\n").unwrap();
        let err = apply(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("unknown setting \"batch_mx\"") && err.contains("batch_max"),
            "{err}"
        );
        std::fs::write(dir.path().join(FILE), "batch_max = [1]\n").unwrap();
        let err = apply(dir.path()).unwrap_err().to_string();
        assert!(err.contains("batch_max must be"), "{err}");
        std::fs::write(dir.path().join(FILE), "[console]\nidle_minutes = 3\n").unwrap();
        let err = apply(dir.path()).unwrap_err().to_string();
        assert!(err.contains("\"console_idle_minutes\""), "{err}");
    }
}
