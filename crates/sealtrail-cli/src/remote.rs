//! Talking to a running server: the flags every client-side command shares
//! (URL, key, project, CA certificate), the client they make, and the Tokio
//! runtime a command runs it on.

use std::path::PathBuf;

use anyhow::Context;
use sealtrail_client::{Client, ClientError};

/// Where the server is and how to authenticate (shared by ingest, proof, bench).
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Base URL of the sealtrail server.
    #[arg(
        long,
        env = "SEALTRAIL_URL",
        default_value = "http://127.0.0.1:7700",
        value_name = "URL"
    )]
    pub server: String,
    /// API key (the owner key printed by `sealtrail init`, or an agent key).
    #[arg(
        long,
        env = "SEALTRAIL_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: String,
    /// Act on this project (sends `Sealtrail-Project: NAME`). Owner keys may
    /// name any project; other keys only their own. Default: the key's own
    /// project (`default` for owner keys).
    #[arg(long, env = "SEALTRAIL_PROJECT", value_name = "NAME")]
    pub project: Option<String>,
    /// For an https:// server: trust only this CA certificate (PEM) instead
    /// of the system's trust store.
    #[arg(long, env = "SEALTRAIL_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
}

impl ServerArgs {
    pub fn client(&self) -> anyhow::Result<Client> {
        Ok(self.builder().build()?)
    }

    /// A client builder with the server, key and project.
    pub fn builder(&self) -> sealtrail_client::ClientBuilder {
        let mut b = Client::builder(&self.server, &self.api_key);
        if let Some(ca) = &self.ca_cert {
            b = b.ca_cert_file(ca);
        }
        match self.project() {
            Some(p) => b.project(p),
            None => b,
        }
    }

    pub fn project(&self) -> Option<&str> {
        self.project.as_deref().filter(|p| !p.is_empty())
    }

    /// The `--ca-cert` file, read and parsed.
    pub fn ca_cert(&self) -> anyhow::Result<Option<sealtrail_client::CaCert>> {
        Ok(ca_cert(self.ca_cert.as_deref())?)
    }
}

/// The CA certificate a `--ca-cert` names, read and parsed (`None`: none given).
pub fn ca_cert(
    path: Option<&std::path::Path>,
) -> Result<Option<sealtrail_client::CaCert>, ClientError> {
    path.map(sealtrail_client::CaCert::from_file).transpose()
}

/// A Tokio runtime for one command (`threads` = 0: current thread).
pub fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut b = if threads == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    b.enable_all()
        .build()
        .context("cannot start the async runtime")
}
