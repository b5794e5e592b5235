//! Which certificate authorities an `https://` server must be signed by.
//!
//! Without a [`CaCert`] the system's trust store is used (as curl and
//! Python do). With one, its certificates are the only roots: a server
//! behind a private CA is then trusted for exactly that CA, and a
//! certificate from any public CA is refused (docs/decisions.md).

use std::path::Path;

use crate::error::{transport_message, ClientError};

/// One or more CA certificates (PEM) to trust instead of the system store.
#[derive(Debug, Clone)]
pub struct CaCert {
    /// Where the PEM came from, for messages.
    source: String,
    certs: Vec<reqwest::Certificate>,
}

impl CaCert {
    /// Parses PEM text holding one or more `CERTIFICATE` blocks.
    pub fn from_pem(pem: &[u8]) -> Result<CaCert, ClientError> {
        Self::parse("the CA certificate PEM", pem)
    }

    /// Reads and parses a PEM file (`--ca-cert`, `SEALTRAIL_CA_CERT`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<CaCert, ClientError> {
        let path = path.as_ref();
        let source = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| ClientError::InvalidCaCert {
            file: source.clone(),
            reason: format!("cannot read it: {e}"),
        })?;
        Self::parse(&source, &pem)
    }

    fn parse(source: &str, pem: &[u8]) -> Result<CaCert, ClientError> {
        let invalid = |reason: String| ClientError::InvalidCaCert {
            file: source.to_string(),
            reason,
        };
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| invalid(format!("not PEM certificates: {}", transport_message(&e))))?;
        if certs.is_empty() {
            return Err(invalid(
                "holds no PEM CERTIFICATE block; give the CA certificate that signed the \
                 server's certificate"
                    .into(),
            ));
        }
        Ok(CaCert {
            source: source.to_string(),
            certs,
        })
    }

    /// Where it came from (a path, or "the CA certificate PEM").
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Sets the roots on a reqwest builder: nothing to load for an `http://`
/// server, the CA alone when given, else the system store.
pub(crate) fn configure(
    mut b: reqwest::ClientBuilder,
    https: bool,
    ca: Option<&CaCert>,
) -> reqwest::ClientBuilder {
    match ca {
        Some(ca) => {
            b = b.tls_built_in_root_certs(false);
            for c in &ca.certs {
                b = b.add_root_certificate(c.clone());
            }
            b
        }
        // Reading the system store costs a few milliseconds per client; a
        // plain-HTTP server needs none of it.
        None => b.tls_built_in_root_certs(https),
    }
}

/// The build error, named after the CA file when one was given (a PEM
/// block that is not a certificate only shows up here).
pub(crate) fn build_error(e: &reqwest::Error, ca: Option<&CaCert>) -> ClientError {
    match ca {
        Some(ca) => ClientError::InvalidCaCert {
            file: ca.source.clone(),
            reason: transport_message(e),
        },
        None => ClientError::Build(transport_message(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_ca_files_are_named() {
        let e = CaCert::from_file("/nonexistent/ca.pem").unwrap_err();
        assert_eq!(e.code(), "invalid_ca_cert");
        let msg = e.to_string();
        assert!(
            msg.contains("/nonexistent/ca.pem") && msg.contains("cannot read"),
            "{msg}"
        );
        let e = CaCert::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no PEM CERTIFICATE block"), "{e}");
        // A CERTIFICATE block that is not a certificate shows up at build.
        let junk =
            CaCert::from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .unwrap();
        let e = crate::Client::builder("https://h:1", "k")
            .ca_cert(junk)
            .build()
            .unwrap_err();
        assert_eq!(e.code(), "invalid_ca_cert", "{e}");
        let e = crate::Client::builder("https://h:1", "k")
            .ca_cert_file("/nonexistent/other.pem")
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/other.pem"), "{e}");
    }
}
