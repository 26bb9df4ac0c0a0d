//! # sbrp — the Sideband Relay Protocol (SBRP v1)
//!
//! A protocol core with no I/O and no clock: bytes in, typed values or bytes out.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod keyfile;
pub mod keys;
pub mod randomart;

pub use error::{Category, ControlCode, ErrorCode, RngError};
pub use keys::{EphemeralSecret, IdentityKeyPair, IdentityPublicKey, fingerprint};
