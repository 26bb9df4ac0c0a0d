//! # sbrp — the Sideband Relay Protocol (SBRP v1)
//!
//! A Rust implementation of SBRP, byte-for-byte compatible with the TypeScript reference
//! `@sideband/secure-relay` 0.5.0, and stricter where the specification asks (see
//! `docs/conformance.md`).
//!
//! The protocol core does no I/O and keeps no clock: bytes in, typed values or bytes out.
//!
//! | module | what it holds |
//! |---|---|
//! | [`frame`] | the 13-byte header, typed frames, encode/decode in the spec's validation order |
//! | [`stream`] | frames out of a byte stream in chunks of any size, or out of one buffer |
//! | [`keylog`] | key-log lines (`CLIENT_TO_DAEMON <sid> <key>`) and key recovery from a captured handshake |
//! | [`keys`] | Ed25519 identity, X25519 ephemeral keys, fingerprints |
//! | [`handshake`] | client and daemon handshake, transcript, HKDF |
//! | [`session`] | encryption in both directions with counters and the replay window |
//! | [`replay`] | the sliding-bitmap replay window |
//! | [`sbp`] | SBP v1 inside Data plaintexts: frame codec, Handshake payload, error-code registry |
//! | [`rpc`] | the RPC envelope (`r`, `R`, `E`, `N`) carried in SBP Message frames |
//! | [`aead`] | ChaCha20-Poly1305 backend (RustCrypto, or `ring` with the `ring` feature) |
//! | [`error`] | the SBRP error codes of §5 |
//! | [`endpoint`] | the daemon's session table (sans-I/O): frames in, frames and events out, bounded by `max_sessions` |
//! | `relay_client` | (feature `relay-client`) daemons and clients on a relay over WebSocket: connect, reconnect with backoff, token sources, wss |
//! | [`token`] | relay tokens (EdDSA JWTs): claims, JWKS, the 16 validation steps, minting |
//! | [`ws`] | one frame per WebSocket message: size limit, text refusal, R6 close codes |
//! | [`relay`] | (feature `relay`) the relay: its sans-I/O routing core (session state machine, frame authority, limits), the tokio server, metrics and captures |
//! | [`url_redact`] | which URL parameter is a token (any case, percent-encoded names too): HAR redaction, URLs refused |
//! | [`utc`] | UTC calendar dates for the timestamps sbrp writes (time passed in) |
//!
//! ```
//! use sbrp::{ClientHandshake, Daemon, IdentityKeyPair, SessionId};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let daemon = Daemon::new(IdentityKeyPair::generate()?, "daemon-001");
//! let pinned = daemon.identity().public_key();
//! let sid = SessionId::new(1).unwrap();
//!
//! let client = ClientHandshake::start("daemon-001", sid)?;
//! let (accept, mut daemon_session) = daemon.accept(&client.init())?;
//! let mut client_session = client.finish(&accept, &pinned)?;
//!
//! let payload = client_session.encrypt(b"hello")?;
//! assert_eq!(daemon_session.decrypt(&payload)?, b"hello");
//! assert!(daemon_session.decrypt(&payload).is_err()); // a replay is refused
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aead;
pub mod endpoint;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod keyfile;
pub mod keylog;
pub mod keys;
pub mod randomart;
#[cfg(feature = "relay")]
pub mod relay;
#[cfg(feature = "relay-client")]
pub mod relay_client;
pub mod replay;
pub mod rpc;
pub mod sbp;
pub mod session;
pub mod stream;
pub mod token;
pub mod url_redact;
pub mod utc;
pub mod ws;

pub use error::{Category, ControlCode, ErrorCode, RngError};
pub use frame::{
    Control, Data, DataPayload, Direction, Frame, FrameError, FrameHeader, FrameType,
    HandshakeAccept, HandshakeInit, PingPayload, RawFrame, SessionId, Signal, SignalFrame,
    SignalReason, decode_frame,
};
pub use handshake::{ClientHandshake, Daemon, HandshakeError};
pub use keys::{EphemeralSecret, IdentityKeyPair, IdentityPublicKey, fingerprint};
pub use replay::ReplayWindow;
pub use session::{Role, Session, SessionError, SessionKeys};
pub use stream::{FrameReader, StreamDecoder, StreamError};

/// Any error of the library, for callers that handle them together.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A frame broke a wire rule.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A frame in a stream broke a wire rule.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The handshake failed.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// An established session refused a message.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The system RNG failed.
    #[error(transparent)]
    Rng(#[from] RngError),
}

impl Error {
    /// The SBRP error code.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::Frame(e) => e.code(),
            Self::Stream(e) => e.code(),
            Self::Handshake(e) => e.code(),
            Self::Session(e) => e.code(),
            Self::Rng(e) => e.code(),
        }
    }
}

/// The README's Rust example, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
