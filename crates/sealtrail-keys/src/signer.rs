//! A key that signs note text: held in this process (`LocalSigner`) or
//! behind an external command (the `command` module), which may fail.

use std::time::Duration;

use sealtrail_core::note::{Ed25519Signer, Ed25519Verifier, NoteSigner};

/// Why an external signer gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    #[error("cannot run the signer command: {0}")]
    Spawn(String),
    #[error("the signer command did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the signer command failed ({0})")]
    Exit(String),
    #[error("the signer command's output is not usable: {0}")]
    Output(String),
    #[error("the signer command returned a signature that does not verify with its key {0}")]
    BadSignature(String),
}

/// A key that can sign note text, possibly failing (an external signer).
pub trait LogSigner: Send + Sync {
    fn verifier(&self) -> &Ed25519Verifier;
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignerError>;
}

/// A private key held in this process.
pub(crate) struct LocalSigner {
    signer: Ed25519Signer,
    verifier: Ed25519Verifier,
}

impl LocalSigner {
    pub(crate) fn new(signer: Ed25519Signer) -> LocalSigner {
        let verifier = signer.verifier();
        LocalSigner { signer, verifier }
    }
}

impl LogSigner for LocalSigner {
    fn verifier(&self) -> &Ed25519Verifier {
        &self.verifier
    }
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(self.signer.sign(msg))
    }
}
