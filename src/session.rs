//! An established session: encryption of Data payloads in both directions.
//!
//! Each direction has its own key and its own counter from 0. The sender writes
//! `direction(4) || seq(8)` as the nonce; the receiver reads `seq` back from the nonce, checks it
//! against its [`ReplayWindow`], verifies the tag, and only then records `seq` (§7 D6). A sender
//! that has used seq 2^64−1 refuses to send more (§7 D5): the nonce never repeats.
//!
//! Two APIs: the convenient one allocates the output ([`Session::encrypt`],
//! [`Session::decrypt`]); the in-place one works inside the caller's buffer and allocates
//! nothing ([`Session::seal_in_place`], [`Session::seal_frame_in_place`],
//! [`Session::open_in_place`]).

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::aead::{Cipher, KEY_LEN};
use crate::error::ErrorCode;
use crate::frame::{
    Direction, FrameHeader, FrameType, HEADER_LEN, MAX_PAYLOAD_LEN, MIN_DATA_LEN, NONCE_LEN,
    SessionId, TAG_LEN,
};
use crate::replay::{MAX_WINDOW, MIN_SESSION_WINDOW, ReplayWindow};

/// Largest plaintext in one Data frame (65536 − 28).
pub const MAX_PLAINTEXT_LEN: usize = MAX_PAYLOAD_LEN - MIN_DATA_LEN;

/// Which end of the session this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The client: sends client→daemon, receives daemon→client.
    Client,
    /// The daemon: sends daemon→client, receives client→daemon.
    Daemon,
}

impl Role {
    /// The direction this end sends in.
    pub const fn send_direction(self) -> Direction {
        match self {
            Self::Client => Direction::ClientToDaemon,
            Self::Daemon => Direction::DaemonToClient,
        }
    }

    /// The direction this end receives.
    pub const fn receive_direction(self) -> Direction {
        self.send_direction().reverse()
    }
}

/// The two 32-byte traffic keys of a session (`okm[0..32]`, `okm[32..64]` of the HKDF).
/// Wiped on drop, compared in constant time, never shown by `Debug`.
#[derive(Clone)]
pub struct SessionKeys {
    /// Key for client→daemon messages.
    pub client_to_daemon: Zeroizing<[u8; KEY_LEN]>,
    /// Key for daemon→client messages.
    pub daemon_to_client: Zeroizing<[u8; KEY_LEN]>,
}

impl SessionKeys {
    /// The key for one direction.
    pub fn for_direction(&self, direction: Direction) -> &[u8; KEY_LEN] {
        match direction {
            Direction::ClientToDaemon => &self.client_to_daemon,
            Direction::DaemonToClient => &self.daemon_to_client,
        }
    }
}

impl PartialEq for SessionKeys {
    fn eq(&self, other: &Self) -> bool {
        let a = self.client_to_daemon.ct_eq(&*other.client_to_daemon);
        let b = self.daemon_to_client.ct_eq(&*other.daemon_to_client);
        (a & b).into()
    }
}

impl Eq for SessionKeys {}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKeys(<redacted>)")
    }
}

/// Why a payload did not decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecryptFailure {
    /// Fewer than 28 bytes (nonce + tag).
    TooShort,
    /// More than 65536 bytes.
    TooLong,
    /// The nonce names the direction this end sends in, or neither direction.
    WrongDirection,
    /// The tag did not verify.
    BadTag,
}

impl fmt::Display for DecryptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooShort => "the payload is shorter than nonce and tag (28 bytes)",
            Self::TooLong => "the payload is longer than 65536 bytes",
            Self::WrongDirection => "the nonce's direction is not the peer's",
            Self::BadTag => "the authentication tag does not verify",
        })
    }
}

/// Errors of an established session.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The plaintext does not fit in one frame.
    #[error(
        "payload_too_large: a plaintext of {len} bytes exceeds the maximum of {MAX_PLAINTEXT_LEN}"
    )]
    PlaintextTooLarge {
        /// The plaintext's length.
        len: usize,
    },
    /// Seq 2^64−1 has been used; sending more would repeat a nonce.
    #[error(
        "sequence_error: the send sequence is exhausted after 2^64 messages; start a new session"
    )]
    SequenceExhausted,
    /// [`Session::skip_to`] was asked to move the send counter backwards.
    #[error(
        "sequence_error: the send counter is at {next}; moving it back to {requested} would reuse nonces"
    )]
    SequenceRewind {
        /// The next sequence number the session would send.
        next: u64,
        /// The number asked for.
        requested: u64,
    },
    /// A replayed sequence number, or one too far behind the window.
    #[error("sequence_error: sequence number {seq} is a replay or older than the receive window")]
    Replay {
        /// The sequence number from the nonce.
        seq: u64,
    },
    /// The payload did not decrypt.
    #[error("decrypt_failed: {0}")]
    DecryptFailed(DecryptFailure),
    /// An in-place buffer too small to hold what it must.
    #[error("malformed_frame: a buffer of {len} bytes cannot hold the {needed} bytes of framing")]
    BufferTooShort {
        /// The buffer's length.
        len: usize,
        /// The least it must hold.
        needed: usize,
    },
}

impl SessionError {
    /// The SBRP error code.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::PlaintextTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::SequenceExhausted | Self::SequenceRewind { .. } | Self::Replay { .. } => {
                ErrorCode::SequenceError
            }
            Self::DecryptFailed(_) => ErrorCode::DecryptFailed,
            Self::BufferTooShort { .. } => ErrorCode::MalformedFrame,
        }
    }
}

/// Seals `plaintext` with `key` for `direction` and `seq`, with no session state: returns the
/// Data payload `nonce || ciphertext || tag` (the reference's `encrypt`).
///
/// Prefer [`Session`], which manages the counter; this exists for tests and tools.
pub fn seal_payload(
    key: &[u8; KEY_LEN],
    direction: Direction,
    seq: u64,
    plaintext: &[u8],
) -> Result<Vec<u8>, SessionError> {
    check_plaintext(plaintext.len())?;
    let mut out = vec![0u8; plaintext.len() + MIN_DATA_LEN];
    out[NONCE_LEN..NONCE_LEN + plaintext.len()].copy_from_slice(plaintext);
    seal_payload_in_place(&Cipher::new(key), direction, seq, &mut out);
    Ok(out)
}

/// Opens a Data payload with `key`, with no replay state: returns the nonce's direction
/// number, the sequence number and the plaintext. Any payload under 28 bytes is
/// `decrypt_failed` (§7 D7).
pub fn open_payload(
    key: &[u8; KEY_LEN],
    payload: &[u8],
) -> Result<(u32, u64, Vec<u8>), SessionError> {
    let (nonce, seq) = read_nonce(payload)?;
    let mut buf = payload[NONCE_LEN..].to_vec();
    let pt = open_body(&Cipher::new(key), &nonce, &mut buf)?;
    let len = pt.len();
    buf.truncate(len);
    let direction = u32::from_be_bytes([nonce[0], nonce[1], nonce[2], nonce[3]]);
    Ok((direction, seq, buf))
}

fn check_plaintext(len: usize) -> Result<(), SessionError> {
    if len > MAX_PLAINTEXT_LEN {
        Err(SessionError::PlaintextTooLarge { len })
    } else {
        Ok(())
    }
}

/// `buf` = nonce(12) | plaintext | tag(16); writes nonce and tag, encrypts the middle.
fn seal_payload_in_place(cipher: &Cipher, direction: Direction, seq: u64, buf: &mut [u8]) {
    let nonce = direction.nonce(seq);
    let (head, rest) = buf.split_at_mut(NONCE_LEN);
    head.copy_from_slice(&nonce);
    let body_len = rest.len() - TAG_LEN;
    let (body, tag_out) = rest.split_at_mut(body_len);
    let tag = cipher.seal_in_place(&nonce, body);
    tag_out.copy_from_slice(&tag);
}

/// Checks the payload's length and returns its nonce and sequence number.
fn read_nonce(payload: &[u8]) -> Result<([u8; NONCE_LEN], u64), SessionError> {
    if payload.len() < MIN_DATA_LEN {
        return Err(SessionError::DecryptFailed(DecryptFailure::TooShort));
    }
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(SessionError::DecryptFailed(DecryptFailure::TooLong));
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&payload[..NONCE_LEN]);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&nonce[4..]);
    Ok((nonce, u64::from_be_bytes(seq)))
}

/// `body` = ciphertext | tag; verifies and decrypts, returning the plaintext part.
fn open_body<'b>(
    cipher: &Cipher,
    nonce: &[u8; NONCE_LEN],
    body: &'b mut [u8],
) -> Result<&'b mut [u8], SessionError> {
    let ct_len = body.len() - TAG_LEN;
    let (ct, tag) = body.split_at_mut(ct_len);
    let mut tag_bytes = [0u8; TAG_LEN];
    tag_bytes.copy_from_slice(tag);
    cipher
        .open_in_place(nonce, ct, &tag_bytes)
        .map_err(|_| SessionError::DecryptFailed(DecryptFailure::BadTag))?;
    Ok(ct)
}

/// One end of an established session. Created by the handshake
/// ([`crate::handshake::ClientHandshake::finish`], [`crate::handshake::Daemon::accept`]);
/// [`Session::new`] builds one from keys directly (for tools that load a key log).
///
/// Keys are wiped when the session is dropped.
pub struct Session {
    role: Role,
    keys: SessionKeys,
    send: Cipher,
    receive: Cipher,
    /// The next seq to send; `None` once 2^64−1 has been used.
    next_seq: Option<u64>,
    window: ReplayWindow,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("next_seq", &self.next_seq)
            .field("window", &self.window)
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl Session {
    /// A session for `role` with `keys`, counters at 0, the default 128-entry window.
    pub fn new(role: Role, keys: SessionKeys) -> Self {
        Self {
            role,
            send: Cipher::new(keys.for_direction(role.send_direction())),
            receive: Cipher::new(keys.for_direction(role.receive_direction())),
            keys,
            next_seq: Some(0),
            window: ReplayWindow::new(),
        }
    }

    /// Like [`Session::new`] with a replay window of `size` (64 to 256, as the specification
    /// demands at least 64); `None` outside that range.
    pub fn with_window(role: Role, keys: SessionKeys, size: u32) -> Option<Self> {
        if !(MIN_SESSION_WINDOW..=MAX_WINDOW).contains(&size) {
            return None;
        }
        let mut session = Self::new(role, keys);
        session.window = ReplayWindow::with_size(size)?;
        Some(session)
    }

    /// This end's role.
    pub const fn role(&self) -> Role {
        self.role
    }

    /// The traffic keys (for writing a key log; handle with care).
    pub const fn keys(&self) -> &SessionKeys {
        &self.keys
    }

    /// The sequence number the next message will carry, or `None` when exhausted.
    pub const fn next_seq(&self) -> Option<u64> {
        self.next_seq
    }

    /// The receive-side replay window.
    pub const fn replay_window(&self) -> &ReplayWindow {
        &self.window
    }

    /// Moves the send counter forward to `seq` (skipping numbers is harmless; going back
    /// would reuse nonces and is refused with `sequence_error`, as is any move once the
    /// counter is exhausted).
    pub fn skip_to(&mut self, seq: u64) -> Result<(), SessionError> {
        match self.next_seq {
            Some(next) if seq >= next => {
                self.next_seq = Some(seq);
                Ok(())
            }
            Some(next) => Err(SessionError::SequenceRewind {
                next,
                requested: seq,
            }),
            None => Err(SessionError::SequenceExhausted),
        }
    }

    fn take_seq(&mut self) -> Result<u64, SessionError> {
        let seq = self.next_seq.ok_or(SessionError::SequenceExhausted)?;
        self.next_seq = seq.checked_add(1);
        Ok(seq)
    }

    /// Encrypts `plaintext` (at most 65508 bytes) into a Data payload
    /// `nonce || ciphertext || tag`.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, SessionError> {
        check_plaintext(plaintext.len())?;
        let mut out = vec![0u8; plaintext.len() + MIN_DATA_LEN];
        out[NONCE_LEN..NONCE_LEN + plaintext.len()].copy_from_slice(plaintext);
        self.seal_in_place(&mut out)?;
        Ok(out)
    }

    /// Encrypts `plaintext` into a complete Data frame for `session_id`.
    pub fn encrypt_frame(
        &mut self,
        session_id: SessionId,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SessionError> {
        check_plaintext(plaintext.len())?;
        let mut out = vec![0u8; HEADER_LEN + MIN_DATA_LEN + plaintext.len()];
        out[HEADER_LEN + NONCE_LEN..HEADER_LEN + NONCE_LEN + plaintext.len()]
            .copy_from_slice(plaintext);
        self.seal_frame_in_place(session_id, &mut out)?;
        Ok(out)
    }

    /// Seals a payload in place without allocating. `buf` is laid out as
    /// `nonce(12) | plaintext | tag(16)`: put the plaintext at offset 12 and leave 16 bytes
    /// after it; nonce and tag are written, the plaintext is encrypted where it lies.
    pub fn seal_in_place(&mut self, buf: &mut [u8]) -> Result<(), SessionError> {
        if buf.len() < MIN_DATA_LEN {
            return Err(SessionError::BufferTooShort {
                len: buf.len(),
                needed: MIN_DATA_LEN,
            });
        }
        check_plaintext(buf.len() - MIN_DATA_LEN)?;
        let seq = self.take_seq()?;
        seal_payload_in_place(&self.send, self.role.send_direction(), seq, buf);
        Ok(())
    }

    /// Seals a whole Data frame in place without allocating. `buf` is laid out as
    /// `header(13) | nonce(12) | plaintext | tag(16)`: put the plaintext at offset 25 and leave
    /// 16 bytes after it; header, nonce and tag are written.
    pub fn seal_frame_in_place(
        &mut self,
        session_id: SessionId,
        buf: &mut [u8],
    ) -> Result<(), SessionError> {
        let Some((header, payload)) = buf.split_first_chunk_mut::<HEADER_LEN>() else {
            return Err(SessionError::BufferTooShort {
                len: buf.len(),
                needed: HEADER_LEN + MIN_DATA_LEN,
            });
        };
        let payload_len = payload.len();
        self.seal_in_place(payload)?;
        *header = FrameHeader {
            type_byte: FrameType::Data.as_u8(),
            length: payload_len as u32,
            session_id: session_id.get(),
        }
        .to_bytes();
        Ok(())
    }

    /// Decrypts a Data payload from the peer and returns the plaintext.
    pub fn decrypt(&mut self, payload: &[u8]) -> Result<Vec<u8>, SessionError> {
        let seq = self.admit(payload)?;
        let mut body = payload[NONCE_LEN..].to_vec();
        let nonce = self.role.receive_direction().nonce(seq);
        let len = open_body(&self.receive, &nonce, &mut body)?.len();
        self.window.mark(seq);
        body.truncate(len);
        Ok(body)
    }

    /// Decrypts a Data payload in place without allocating and returns the plaintext, a
    /// sub-slice of `payload`. On failure no plaintext is left in the buffer (see
    /// [`Cipher::open_in_place`]: RustCrypto keeps the ciphertext, `ring` zeroes it).
    pub fn open_in_place<'b>(
        &mut self,
        payload: &'b mut [u8],
    ) -> Result<&'b mut [u8], SessionError> {
        let seq = self.admit(payload)?;
        let nonce = self.role.receive_direction().nonce(seq);
        let plaintext = open_body(&self.receive, &nonce, &mut payload[NONCE_LEN..])?;
        self.window.mark(seq);
        Ok(plaintext)
    }

    /// The checks that come before the tag: size, direction, replay window.
    fn admit(&self, payload: &[u8]) -> Result<u64, SessionError> {
        let (nonce, seq) = read_nonce(payload)?;
        let direction = u32::from_be_bytes([nonce[0], nonce[1], nonce[2], nonce[3]]);
        if direction != self.role.receive_direction().as_u32() {
            return Err(SessionError::DecryptFailed(DecryptFailure::WrongDirection));
        }
        if !self.window.check(seq) {
            return Err(SessionError::Replay { seq });
        }
        Ok(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let keys = SessionKeys {
            client_to_daemon: Zeroizing::new([1; 32]),
            daemon_to_client: Zeroizing::new([2; 32]),
        };
        Session::new(Role::Client, keys)
    }

    #[test]
    fn skip_to_only_moves_forward() {
        let mut s = session();
        s.skip_to(10).unwrap();
        s.encrypt(b"x").unwrap();
        assert_eq!(s.next_seq(), Some(11));
        assert_eq!(
            s.skip_to(3),
            Err(SessionError::SequenceRewind {
                next: 11,
                requested: 3
            })
        );
        s.skip_to(u64::MAX).unwrap();
        s.encrypt(b"last").unwrap();
        assert_eq!(s.skip_to(u64::MAX), Err(SessionError::SequenceExhausted));
        assert_eq!(s.encrypt(b"x"), Err(SessionError::SequenceExhausted));
    }
}
