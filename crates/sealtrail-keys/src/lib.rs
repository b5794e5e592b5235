//! sealtrail-keys: a log's data directory and its signing keys. Blocking
//! code with no HTTP; the server calls it on its blocking pool.
//!
//! Where the private key lives ([`SigningOptions`]):
//! - in the data directory (`DATA/log.key`, the default): rotation is
//!   [`KeyRing::rotate`] (`sealtrail signing-key rotate`); the old key is kept
//!   as `DATA/log.key.<key id>` until its overlap ends, then deleted;
//! - in a file elsewhere (`--signing-key PATH`), or behind an external signer
//!   command (`--signer-command CMD`, [`CommandSigner`]): the data directory
//!   then holds no private key, and rotation is the operator's: put the new
//!   key in place and restart; the ring notices the new key, records the old
//!   one as retired and the new one as primary (no overlap, since the server
//!   never held the old key).
//!
//! The modules, lowest first: [`layout`] (file names), [`roles`],
//! [`error`], [`key`] (generation, key ids), [`keyfile`] (private key files
//! and crash-safe writes), `lock`, [`options`], [`history`]
//! (`signing-keys.json`), [`signer`] and [`command`] (the signer-command
//! protocol), [`rotation`], `external`, `load` (reconciling the files
//! into the keys that sign), [`ring`] ([`KeyRing`]), [`backend`] and
//! [`datadir`] (`init`).

pub mod backend;
pub mod clock;
pub mod command;
pub mod datadir;
pub mod error;
mod external;
pub mod history;
pub mod key;
pub mod keyfile;
pub mod layout;
mod load;
mod lock;
pub mod options;
pub mod ring;
pub mod roles;
pub mod rotation;
pub mod signer;

#[cfg(test)]
mod testutil;

pub use backend::{open_store, Backend};
pub use command::{answer_sign, CommandSigner, Refusal, SIGNER_TIMEOUT};
pub use datadir::{init, init_log, load_signer, InitOutput, OwnerKeyMaker};
pub use error::{BoxError, KeysError};
pub use history::{history_verifiers, read_history, History, KeyHistoryEntry, HISTORY_VERSION};
pub use key::{generate, hex_id};
pub use keyfile::read_skey;
pub use layout::{HISTORY_FILE, KEY_FILE};
pub use options::SigningOptions;
pub use ring::{rotate_offline, KeyRing, SignError};
pub use roles::{KeyRole, KeySource};
pub use rotation::Rotation;
pub use signer::{LogSigner, SignerError};
