//! The SBRP handshake (protocol §2) as typed state that is hard to misuse.
//!
//! ```text
//! client                                             daemon
//! ClientHandshake::start ── HandshakeInit ──────────▶ Daemon::accept
//!                        ◀────────── HandshakeAccept ─┘ (returns its Session)
//! ClientHandshake::finish(accept, pinned key) → Session
//! ```
//!
//! [`ClientHandshake`] owns the client's ephemeral secret; `finish` consumes it, so a pending
//! handshake turns into a [`Session`] exactly once and the secret cannot be reused. The daemon
//! side is a single call. Neither side keeps a clock: callers that do I/O enforce
//! [`HANDSHAKE_TIMEOUT`] and report `handshake_timeout` themselves (§7 D10).
//!
//! | reference (`@sideband/secure-relay`) | here |
//! |---|---|
//! | `generateIdentityKeyPair` | [`IdentityKeyPair::generate`] |
//! | `computeFingerprint` | [`crate::fingerprint`], [`IdentityPublicKey::fingerprint`] |
//! | `generateEphemeralKeyPair` | [`EphemeralSecret::generate`] |
//! | `createHandshakeInit` | [`ClientHandshake::start`] + [`ClientHandshake::init`] |
//! | `processHandshakeInit` | [`Daemon::accept`] |
//! | `processHandshakeAccept` | [`ClientHandshake::finish`] / [`ClientHandshake::finish_first_contact`] |
//! | `deriveSessionKeys` | [`derive_session_keys`] |
//! | `createClientSession` / `createDaemonSession` | returned by the two calls above; [`Session::new`] |
//! | `clearSessionKeys` | dropping the [`Session`] |

use core::fmt;
use core::time::Duration;

use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{ErrorCode, RngError};
use crate::frame::{HandshakeAccept, HandshakeInit, SessionId};
use crate::keys::{EphemeralSecret, IdentityKeyPair, IdentityPublicKey, KEY_LEN, SIGNATURE_LEN};
use crate::session::{Role, Session, SessionKeys};

/// Domain separation for the signed handshake hash.
pub const HANDSHAKE_CONTEXT: &[u8] = b"sbrp-v1-handshake";
/// Domain separation for the transcript hash (the HKDF salt).
pub const TRANSCRIPT_CONTEXT: &[u8] = b"sbrp-v1-transcript";
/// HKDF `info` for the session keys.
pub const SESSION_KEYS_INFO: &[u8] = b"sbrp-session-keys";
/// How long a handshake may take before tools report `handshake_timeout`.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a handshake failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The daemon advertised a different identity key from the pinned one. Checked before the
    /// signature; never accept this silently.
    #[error(
        "identity_key_changed: the daemon presented identity key {} but {} is pinned",
        .presented.fingerprint(),
        .pinned.fingerprint()
    )]
    IdentityKeyChanged {
        /// The key the client had pinned.
        pinned: IdentityPublicKey,
        /// The key the daemon advertised.
        presented: IdentityPublicKey,
    },
    /// The signature over the handshake does not verify (strictly) with the identity key.
    #[error(
        "handshake_failed: the HandshakeAccept signature does not verify with the daemon's identity key (wrong daemon id, or a forged or corrupted accept)"
    )]
    BadSignature,
    /// The peer's X25519 key is of low order: the shared secret would be all zeros.
    #[error("handshake_failed: the peer's X25519 ephemeral key is a low-order point")]
    LowOrderKey,
    /// The accept answers another session than the one the client opened.
    #[error(
        "handshake_failed: HandshakeAccept for session {got}, but session {expected} was opened"
    )]
    SessionMismatch {
        /// The session the client opened.
        expected: SessionId,
        /// The session the accept names.
        got: SessionId,
    },
    /// The system RNG failed.
    #[error(transparent)]
    Rng(#[from] RngError),
}

impl HandshakeError {
    /// The SBRP error code.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::IdentityKeyChanged { .. } => ErrorCode::IdentityKeyChanged,
            Self::BadSignature | Self::LowOrderKey | Self::SessionMismatch { .. } => {
                ErrorCode::HandshakeFailed
            }
            Self::Rng(_) => ErrorCode::InternalError,
        }
    }
}

/// `SHA256("sbrp-v1-handshake" || daemon_id || client_eph || daemon_eph)`: the 32 bytes the
/// daemon signs.
pub fn signature_payload(
    daemon_id: &[u8],
    client_ephemeral: &[u8; KEY_LEN],
    daemon_ephemeral: &[u8; KEY_LEN],
) -> [u8; 32] {
    Sha256::new()
        .chain_update(HANDSHAKE_CONTEXT)
        .chain_update(daemon_id)
        .chain_update(client_ephemeral)
        .chain_update(daemon_ephemeral)
        .finalize()
        .into()
}

/// `SHA256("sbrp-v1-transcript" || daemon_id || client_eph || daemon_eph || signature)`: the
/// HKDF salt.
pub fn transcript_hash(
    daemon_id: &[u8],
    client_ephemeral: &[u8; KEY_LEN],
    daemon_ephemeral: &[u8; KEY_LEN],
    signature: &[u8; SIGNATURE_LEN],
) -> [u8; 32] {
    Sha256::new()
        .chain_update(TRANSCRIPT_CONTEXT)
        .chain_update(daemon_id)
        .chain_update(client_ephemeral)
        .chain_update(daemon_ephemeral)
        .chain_update(signature)
        .finalize()
        .into()
}

/// `HKDF-SHA256(ikm = shared, salt = transcript, info = "sbrp-session-keys", L = 64)`, split
/// into the client→daemon and daemon→client keys.
pub fn derive_session_keys(shared_secret: &[u8; 32], transcript: &[u8; 32]) -> SessionKeys {
    let mut okm = Zeroizing::new([0u8; 64]);
    let hk = Hkdf::<Sha256>::new(Some(transcript), shared_secret);
    // 64 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    if hk.expand(SESSION_KEYS_INFO, okm.as_mut()).is_err() {
        unreachable!("HKDF-SHA256 refused 64 bytes of output");
    }
    let mut c2d = Zeroizing::new([0u8; 32]);
    let mut d2c = Zeroizing::new([0u8; 32]);
    c2d.copy_from_slice(&okm[..32]);
    d2c.copy_from_slice(&okm[32..]);
    SessionKeys {
        client_to_daemon: c2d,
        daemon_to_client: d2c,
    }
}

/// Everything both sides compute after the signature: the transcript and the session keys.
fn keys_after(
    shared: &[u8; 32],
    daemon_id: &[u8],
    client_ephemeral: &[u8; KEY_LEN],
    daemon_ephemeral: &[u8; KEY_LEN],
    signature: &[u8; SIGNATURE_LEN],
) -> SessionKeys {
    let transcript = transcript_hash(daemon_id, client_ephemeral, daemon_ephemeral, signature);
    derive_session_keys(shared, &transcript)
}

/// A client's handshake in progress: created with its ephemeral secret, finished once.
pub struct ClientHandshake {
    daemon_id: Vec<u8>,
    session_id: SessionId,
    ephemeral: EphemeralSecret,
}

impl fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("daemon_id", &String::from_utf8_lossy(&self.daemon_id))
            .field("session_id", &self.session_id)
            .field("ephemeral", &self.ephemeral)
            .finish()
    }
}

impl ClientHandshake {
    /// Starts a handshake with `daemon_id` for `session_id` with a fresh ephemeral key.
    pub fn start(daemon_id: &str, session_id: SessionId) -> Result<Self, RngError> {
        Ok(Self::with_ephemeral(
            daemon_id,
            session_id,
            EphemeralSecret::generate()?,
        ))
    }

    /// Starts a handshake with a given ephemeral secret (for known-answer tests).
    pub fn with_ephemeral(
        daemon_id: &str,
        session_id: SessionId,
        ephemeral: EphemeralSecret,
    ) -> Self {
        Self {
            daemon_id: daemon_id.as_bytes().to_vec(),
            session_id,
            ephemeral,
        }
    }

    /// The HandshakeInit to send.
    pub fn init(&self) -> HandshakeInit {
        HandshakeInit {
            session_id: self.session_id,
            client_key: self.ephemeral.public_key(),
        }
    }

    /// The session this handshake opens.
    pub const fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// Finishes against a pinned identity key: a different advertised key is
    /// `identity_key_changed` (checked first), then the signature is verified with the pinned
    /// key (`handshake_failed` if it does not verify), then the key exchange
    /// (`handshake_failed` for a low-order key).
    pub fn finish(
        self,
        accept: &HandshakeAccept,
        pinned: &IdentityPublicKey,
    ) -> Result<Session, HandshakeError> {
        if accept.identity_key != *pinned {
            return Err(HandshakeError::IdentityKeyChanged {
                pinned: *pinned,
                presented: accept.identity_key,
            });
        }
        self.complete(accept, pinned)
    }

    /// Finishes on first contact, trusting the advertised key (TOFU). The signature is still
    /// verified with it. Pin `accept.identity_key` only after this returned `Ok`.
    pub fn finish_first_contact(self, accept: &HandshakeAccept) -> Result<Session, HandshakeError> {
        self.complete(accept, &accept.identity_key)
    }

    fn complete(
        self,
        accept: &HandshakeAccept,
        identity: &IdentityPublicKey,
    ) -> Result<Session, HandshakeError> {
        if accept.session_id != self.session_id {
            return Err(HandshakeError::SessionMismatch {
                expected: self.session_id,
                got: accept.session_id,
            });
        }
        let client_ephemeral = self.ephemeral.public_key();
        let payload = signature_payload(&self.daemon_id, &client_ephemeral, &accept.ephemeral_key);
        if !identity.verify_strict(&payload, &accept.signature) {
            return Err(HandshakeError::BadSignature);
        }
        let shared = self
            .ephemeral
            .diffie_hellman(&accept.ephemeral_key)
            .ok_or(HandshakeError::LowOrderKey)?;
        let keys = keys_after(
            &shared,
            &self.daemon_id,
            &client_ephemeral,
            &accept.ephemeral_key,
            &accept.signature,
        );
        Ok(Session::new(Role::Client, keys))
    }
}

/// The daemon's side: its identity and id, answering HandshakeInits.
#[derive(Clone)]
pub struct Daemon {
    identity: IdentityKeyPair,
    daemon_id: Vec<u8>,
}

impl fmt::Debug for Daemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Daemon")
            .field("daemon_id", &String::from_utf8_lossy(&self.daemon_id))
            .field("identity", &self.identity)
            .finish()
    }
}

impl Daemon {
    /// A daemon with this identity and id.
    pub fn new(identity: IdentityKeyPair, daemon_id: &str) -> Self {
        Self {
            identity,
            daemon_id: daemon_id.as_bytes().to_vec(),
        }
    }

    /// The daemon's identity.
    pub const fn identity(&self) -> &IdentityKeyPair {
        &self.identity
    }

    /// Answers `init` with a fresh ephemeral key: the HandshakeAccept to send and the daemon's
    /// session. A low-order client key is `handshake_failed`, and nothing is signed for it.
    pub fn accept(
        &self,
        init: &HandshakeInit,
    ) -> Result<(HandshakeAccept, Session), HandshakeError> {
        self.accept_with_ephemeral(init, EphemeralSecret::generate()?)
    }

    /// [`Daemon::accept`] with a given ephemeral secret (for known-answer tests).
    pub fn accept_with_ephemeral(
        &self,
        init: &HandshakeInit,
        ephemeral: EphemeralSecret,
    ) -> Result<(HandshakeAccept, Session), HandshakeError> {
        let daemon_ephemeral = ephemeral.public_key();
        let shared = ephemeral
            .diffie_hellman(&init.client_key)
            .ok_or(HandshakeError::LowOrderKey)?;
        let payload = signature_payload(&self.daemon_id, &init.client_key, &daemon_ephemeral);
        let signature = self.identity.sign(&payload);
        let keys = keys_after(
            &shared,
            &self.daemon_id,
            &init.client_key,
            &daemon_ephemeral,
            &signature,
        );
        let accept = HandshakeAccept {
            session_id: init.session_id,
            identity_key: self.identity.public_key(),
            ephemeral_key: daemon_ephemeral,
            signature,
        };
        Ok((accept, Session::new(Role::Daemon, keys)))
    }
}
