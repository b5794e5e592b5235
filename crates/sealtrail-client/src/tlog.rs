//! A reader of the C2SP tlog-tiles API (`/tlog/checkpoint`, `/tlog/tile/…`):
//! what a monitor or witness needs, with or without an API key (a server
//! started with `--public-tiles` serves these to anyone).
//!
//! [`TlogClient::consistency_proof`] computes an RFC 9162 consistency proof
//! from the server's hash tiles, so it can be checked against two signed
//! checkpoints without the authenticated `/v1/consistency` endpoint. Nothing
//! read here is trusted: the caller verifies the checkpoint's signature and
//! the proof against both roots.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::Url;
use sealtrail_core::hash::Hash;
use sealtrail_core::note::MAX_NOTE_SIZE;
use sealtrail_core::proof::{prove_consistency, ProveError};
use sealtrail_core::tile::{TileId, TileNodeError, TileNodeSource, TileSource};

use crate::error::{from_error_answer, transport_message, ClientError};

/// Most tiles one consistency proof may need: two per tile level (the tree
/// edge and one sibling), eight levels cover 2^64 leaves; the rest is slack.
const MAX_TILE_FETCHES: usize = 64;

/// Reads a log's checkpoint and tiles under a tlog-tiles prefix.
#[derive(Debug, Clone)]
pub struct TlogClient {
    http: reqwest::Client,
    /// Always ends in `/`.
    prefix: Url,
    timeout: Duration,
}

impl TlogClient {
    /// A reader for the tlog-tiles API under `prefix` (for a sealtrail server
    /// `http://host:port/tlog/`), sending `api_key` as a bearer token if given.
    pub fn new(
        prefix: &str,
        api_key: Option<&str>,
        timeout: Duration,
    ) -> Result<TlogClient, ClientError> {
        Self::with_ca_cert(prefix, api_key, timeout, None)
    }

    /// [`TlogClient::new`], trusting only `ca` for an `https://` prefix
    /// (`None`: the system's trust store).
    pub fn with_ca_cert(
        prefix: &str,
        api_key: Option<&str>,
        timeout: Duration,
        ca: Option<&crate::CaCert>,
    ) -> Result<TlogClient, ClientError> {
        let invalid = |reason: String| ClientError::InvalidUrl {
            url: prefix.to_string(),
            reason,
        };
        let mut url = Url::parse(prefix.trim()).map_err(|e| invalid(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "scheme {:?} is not http or https",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host".into()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("must not have a query or fragment".into()));
        }
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        let mut headers = HeaderMap::new();
        if let Some(key) = api_key {
            if key.trim().is_empty() {
                return Err(ClientError::InvalidApiKey("empty"));
            }
            let mut v = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                ClientError::InvalidApiKey("contains characters not allowed in an HTTP header")
            })?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        let http = reqwest::Client::builder();
        let http = crate::tls::configure(http, url.scheme() == "https", ca)
            .default_headers(headers)
            .user_agent(concat!("sealtrail-client/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| crate::tls::build_error(&e, ca))?;
        Ok(TlogClient {
            http,
            prefix: url,
            timeout,
        })
    }

    /// The prefix, as normalised (ending in `/`).
    pub fn prefix(&self) -> &str {
        self.prefix.as_str()
    }

    async fn get(&self, path: &str, limit: usize) -> Result<Vec<u8>, ClientError> {
        let url = self
            .prefix
            .join(path)
            .map_err(|e| ClientError::InvalidUrl {
                url: format!("{}{path}", self.prefix),
                reason: e.to_string(),
            })?;
        let url_text = url.to_string();
        let map_err = |e: reqwest::Error| {
            if e.is_timeout() && !e.is_connect() {
                ClientError::Timeout {
                    url: url_text.clone(),
                    after: self.timeout,
                }
            } else {
                ClientError::Transport {
                    url: self.prefix.as_str().trim_end_matches('/').to_string(),
                    message: transport_message(&e),
                }
            }
        };
        let resp = self.http.get(url).send().await.map_err(map_err)?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // A hostile server must not make us buffer without bound.
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(ClientError::Decode {
                url: url_text,
                status: status.as_u16(),
                message: format!("answer is larger than {limit} bytes"),
            });
        }
        let body = resp.bytes().await.map_err(map_err)?;
        if body.len() > limit {
            return Err(ClientError::Decode {
                url: url_text,
                status: status.as_u16(),
                message: format!("answer is larger than {limit} bytes"),
            });
        }
        if !status.is_success() {
            return Err(from_error_answer(
                status.as_u16(),
                retry_after.as_deref(),
                &body,
            ));
        }
        Ok(body.to_vec())
    }

    /// The signed checkpoint, as served (unverified).
    pub async fn checkpoint(&self) -> Result<Vec<u8>, ClientError> {
        self.get("checkpoint", MAX_NOTE_SIZE).await
    }

    /// One hash tile's bytes (unverified).
    pub async fn tile(&self, tile: &TileId) -> Result<Vec<u8>, ClientError> {
        self.get(&tile.path(), tile.byte_len()).await
    }

    /// The RFC 9162 consistency proof from the tree of `from` leaves to the
    /// tree of `to` leaves, computed from the server's tiles of the tree of
    /// `to` leaves. Verify it against both signed roots before trusting it.
    pub async fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, ClientError> {
        let mut tiles = FetchedTiles::default();
        for _ in 0..MAX_TILE_FETCHES {
            // The proof is computed synchronously; each missing tile stops it,
            // is fetched, and the computation starts again (a proof touches
            // only a handful of tiles).
            match prove_consistency(&TileNodeSource::new(to, &tiles), from, to) {
                Ok(path) => return Ok(path),
                Err(ProveError::Source {
                    source:
                        TileNodeError::Read {
                            source: Missing(tile),
                            ..
                        },
                    ..
                }) => {
                    let bytes = self.tile(&tile).await?;
                    tiles.0.insert(tile, bytes);
                }
                Err(e) => {
                    return Err(ClientError::Decode {
                        url: self.prefix.to_string(),
                        status: 200,
                        message: format!("cannot compute a consistency proof from the tiles: {e}"),
                    })
                }
            }
        }
        Err(ClientError::Decode {
            url: self.prefix.to_string(),
            status: 200,
            message: format!(
                "a consistency proof from {from} to {to} needed more than {MAX_TILE_FETCHES} tiles"
            ),
        })
    }
}

/// Tiles fetched so far; a read of any other tile reports it as missing.
#[derive(Default)]
struct FetchedTiles(HashMap<TileId, Vec<u8>>);

#[derive(Debug)]
struct Missing(TileId);

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} not fetched", self.0)
    }
}

impl TileSource for FetchedTiles {
    type Error = Missing;

    fn read_tile(&self, tile: &TileId) -> Result<Vec<u8>, Missing> {
        self.0.get(tile).cloned().ok_or(Missing(*tile))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let t = TlogClient::new("http://h:1/tlog", None, Duration::from_secs(1)).unwrap();
        assert_eq!(t.prefix(), "http://h:1/tlog/");
        for bad in ["ftp://h/", "http://h/?a=1", "nope"] {
            assert!(
                matches!(
                    TlogClient::new(bad, None, Duration::from_secs(1)),
                    Err(ClientError::InvalidUrl { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            TlogClient::new("http://h/", Some(" "), Duration::from_secs(1)),
            Err(ClientError::InvalidApiKey(_))
        ));
    }
}
