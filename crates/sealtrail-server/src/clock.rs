//! The server's clock: the one in sealtrail-keys, so that key history
//! times and log times come from one definition.

pub use sealtrail_keys::clock::now_micros;
