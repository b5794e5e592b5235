//! TLS to PostgreSQL: the connection string's `sslmode` and `sslrootcert`,
//! with rustls (ring) in libpq's meaning, which the driver itself lacks
//! (it knows only disable, prefer and require, and never verifies).
//!
//! | sslmode              | TLS      | the server's certificate                       |
//! |----------------------|----------|------------------------------------------------|
//! | (none), disable, allow, prefer | no | — (as before: plain TCP)               |
//! | require              | required | not checked; with `sslrootcert`, as verify-ca  |
//! | verify-ca            | required | signed by `sslrootcert`                        |
//! | verify-full          | required | signed by `sslrootcert` and naming the host    |
//!
//! `sslrootcert` is a PEM file of CA certificates, or `system` for the
//! system's trust store. TLS applies to TCP hosts; PostgreSQL never
//! encrypts Unix sockets.

use std::sync::Arc;

use postgres::config::SslMode;
use postgres::Config;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// What the connection string asks for, that the driver does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// No TLS (absent, disable, allow, prefer).
    Off,
    /// Encrypted; the certificate is not checked.
    Encrypt,
    /// Encrypted; the certificate must chain to the roots.
    Ca,
    /// Encrypted; chain to the roots and name the host.
    Full,
}

/// Why the connection string's TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PgTlsError {
    #[error(
        "PostgreSQL URL: sslmode={0:?} is not one of disable, allow, prefer, require, \
         verify-ca, verify-full"
    )]
    BadMode(String),
    #[error(
        "PostgreSQL URL: sslmode={0} needs sslrootcert=PATH (a PEM file with the CA that \
         signed the server's certificate) or sslrootcert=system"
    )]
    NoRoots(&'static str),
    #[error("PostgreSQL URL: cannot read sslrootcert file {path}: {reason}")]
    ReadRoots { path: String, reason: String },
    #[error(
        "PostgreSQL URL: sslrootcert file {path} holds no usable CA certificate{reason}; \
         give the PEM of the CA that signed the server's certificate"
    )]
    NoCerts { path: String, reason: String },
    #[error("PostgreSQL URL: {0}")]
    Malformed(String),
    #[error("PostgreSQL TLS setup: {0}")]
    Setup(String),
}

/// A connection string with `sslmode` and `sslrootcert` taken out (the
/// driver refuses the values it does not know), and what they said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub rest: String,
    pub sslmode: Option<String>,
    pub sslrootcert: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL or a
/// `key=value` string.
pub fn split(url: &str) -> Result<Split, PgTlsError> {
    let trimmed = url.trim();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        split_url(trimmed)
    } else {
        split_key_values(trimmed)
    }
}

fn split_url(url: &str) -> Result<Split, PgTlsError> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => {
            return Ok(Split {
                rest: url.to_string(),
                sslmode: None,
                sslrootcert: None,
            })
        }
    };
    let (mut sslmode, mut sslrootcert) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match percent_decode(k)?.as_str() {
            "sslmode" => sslmode = Some(percent_decode(v)?),
            "sslrootcert" => sslrootcert = Some(percent_decode(v)?),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(Split {
        rest,
        sslmode,
        sslrootcert,
    })
}

fn percent_decode(s: &str) -> Result<String, PgTlsError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| PgTlsError::Malformed(format!("bad percent-encoding in {s:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PgTlsError::Malformed(format!("{s:?} is not UTF-8")))
}

/// libpq's `key = value` syntax: values may be single-quoted, and `\`
/// escapes the next character.
fn split_key_values(s: &str) -> Result<Split, PgTlsError> {
    let (mut sslmode, mut sslrootcert) = (None, None);
    let mut kept: Vec<&str> = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &s[start..i];
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            return Err(PgTlsError::Malformed(format!("{key:?} has no value")));
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = Vec::new();
        if i < b.len() && b[i] == b'\'' {
            i += 1;
            loop {
                match b.get(i) {
                    None => {
                        return Err(PgTlsError::Malformed(format!(
                            "the value of {key:?} has no closing quote"
                        )))
                    }
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < b.len() => {
                        value.push(b[i + 1]);
                        i += 2;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                if b[i] == b'\\' && i + 1 < b.len() {
                    value.push(b[i + 1]);
                    i += 2;
                } else {
                    value.push(b[i]);
                    i += 1;
                }
            }
        }
        let value = String::from_utf8(value)
            .map_err(|_| PgTlsError::Malformed(format!("the value of {key:?} is not UTF-8")))?;
        match key {
            "sslmode" => sslmode = Some(value),
            "sslrootcert" => sslrootcert = Some(value),
            _ => kept.push(&s[start..i]),
        }
    }
    Ok(Split {
        rest: kept.join(" "),
        sslmode,
        sslrootcert,
    })
}

impl Split {
    pub fn verify(&self) -> Result<Verify, PgTlsError> {
        Ok(match self.sslmode.as_deref() {
            None | Some("disable" | "allow" | "prefer") => Verify::Off,
            // libpq: require with a root certificate checks it as verify-ca.
            Some("require") if self.sslrootcert.is_some() => Verify::Ca,
            Some("require") => Verify::Encrypt,
            Some("verify-ca") => Verify::Ca,
            Some("verify-full") => Verify::Full,
            Some(other) => return Err(PgTlsError::BadMode(other.to_string())),
        })
    }
}

/// How connections are made: plain, or with this TLS connector.
#[derive(Clone)]
pub enum Connector {
    Plain,
    Tls(MakeRustlsConnect),
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Connector::Plain => "Plain",
            Connector::Tls(_) => "Tls",
        })
    }
}

/// The driver's configuration and the connector for `url`.
pub fn parse(url: &str) -> Result<(Config, Connector, Verify), PgTlsError> {
    let split = split(url)?;
    let verify = split.verify()?;
    let mut config: Config = split
        .rest
        .parse()
        .map_err(|e: postgres::Error| PgTlsError::Malformed(describe(&e)))?;
    if verify == Verify::Off {
        // As before TLS support: the driver's prefer without a connector is plain TCP.
        if split.sslmode.as_deref() == Some("disable") {
            config.ssl_mode(SslMode::Disable);
        }
        return Ok((config, Connector::Plain, verify));
    }
    config.ssl_mode(SslMode::Require);
    let provider = provider();
    let roots = match split.sslrootcert.as_deref() {
        Some(path) => Some(load_roots(path)?),
        None if verify == Verify::Encrypt => None,
        None => {
            return Err(PgTlsError::NoRoots(if verify == Verify::Full {
                "verify-full"
            } else {
                "verify-ca"
            }))
        }
    };
    let verifier: Arc<dyn ServerCertVerifier> = match roots {
        None => Arc::new(AnyCert(provider.clone())),
        Some(roots) => {
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| PgTlsError::Setup(e.to_string()))?;
            if verify == Verify::Full {
                webpki
            } else {
                Arc::new(AnyName(webpki))
            }
        }
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PgTlsError::Setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok((config, Connector::Tls(MakeRustlsConnect::new(tls)), verify))
}

fn describe(e: &postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// ring, as for the server's TLS (sealtrail-server's `tls` module says why).
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_roots(path: &str) -> Result<RootCertStore, PgTlsError> {
    let mut roots = RootCertStore::empty();
    if path == "system" {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(PgTlsError::NoCerts {
                path: "system (the system trust store)".into(),
                reason: String::new(),
            });
        }
        return Ok(roots);
    }
    let pem = std::fs::read(path).map_err(|e| PgTlsError::ReadRoots {
        path: path.to_string(),
        reason: e.to_string(),
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| PgTlsError::NoCerts {
            path: path.to_string(),
            reason: format!(" ({e})"),
        })?;
    let (added, refused) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(PgTlsError::NoCerts {
            path: path.to_string(),
            reason: if refused > 0 {
                format!(" ({refused} certificate(s) could not be parsed)")
            } else {
                String::new()
            },
        });
    }
    Ok(roots)
}

/// sslmode=require without roots: encryption against passive listeners
/// only. The handshake's signature is still checked, the certificate not.
#[derive(Debug)]
struct AnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// verify-ca: the chain must verify; the name is not checked. webpki checks
/// the chain before the name, so a name error means the chain was good.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out() {
        let s = split("postgres://u:p@db.example:5432/x?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=a").unwrap();
        assert_eq!(
            s.rest,
            "postgres://u:p@db.example:5432/x?application_name=a"
        );
        assert_eq!(s.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(s.sslrootcert.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(s.verify().unwrap(), Verify::Full);

        let s = split("postgres://h/x?sslmode=require").unwrap();
        assert_eq!(s.rest, "postgres://h/x");
        assert_eq!(s.verify().unwrap(), Verify::Encrypt);

        let s = split(
            "host=/run/pg user=x sslmode = 'verify-ca' sslrootcert='/a b/c\\'s.pem' dbname=d",
        )
        .unwrap();
        assert_eq!(s.rest, "host=/run/pg user=x dbname=d");
        assert_eq!(s.sslrootcert.as_deref(), Some("/a b/c's.pem"));
        assert_eq!(s.verify().unwrap(), Verify::Ca);

        let s = split("host=h sslmode=require sslrootcert=/ca.pem").unwrap();
        assert_eq!(
            s.verify().unwrap(),
            Verify::Ca,
            "libpq: require with a root file verifies"
        );
        assert_eq!(split("host=h").unwrap().verify().unwrap(), Verify::Off);
        assert_eq!(
            split("host=h sslmode=prefer").unwrap().verify().unwrap(),
            Verify::Off
        );
        assert!(matches!(
            split("host=h sslmode=verify").unwrap().verify(),
            Err(PgTlsError::BadMode(_))
        ));
    }

    #[test]
    fn verification_without_roots_is_refused_with_advice() {
        let e = parse("host=h sslmode=verify-full").unwrap_err().to_string();
        assert!(e.contains("sslmode=verify-full needs sslrootcert"), "{e}");
        let e = parse("host=h sslmode=verify-ca sslrootcert=/nonexistent/ca.pem")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot read sslrootcert file /nonexistent/ca.pem"),
            "{e}"
        );
        let (_, c, v) = parse("host=h sslmode=require").unwrap();
        assert!(matches!(c, Connector::Tls(_)) && v == Verify::Encrypt);
        let (config, c, _) = parse("host=h").unwrap();
        assert!(matches!(c, Connector::Plain));
        assert_eq!(config.get_ssl_mode(), SslMode::Prefer);
    }
}
