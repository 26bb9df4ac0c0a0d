//! Key logs: the session keys of SBRP sessions written to a text file so that a capture of
//! their frames can be decrypted later (by `sbrp decode --keylog`), in the spirit of TLS's
//! `SSLKEYLOGFILE`. The format is documented in `docs/keylog.md`:
//!
//! ```text
//! # comment
//! CLIENT_TO_DAEMON 0000000000000001 9aed6a2acec2cc049b01efa7677698845126f24a2dbdb9ee9570531b1e7d83f3
//! DAEMON_TO_CLIENT 0000000000000001 463c1015db09e30fb5f6c1da5391835b758ba2f62872343e52a8350bee90f56e
//! ```
//!
//! One line per session and direction: a label, the session id as 16 hex digits, the 32-byte
//! traffic key as 64 hex digits, separated by spaces or tabs. Blank lines and lines whose first
//! non-blank character is `#` are ignored.
//!
//! A key log holds secrets: anyone who has it can read the sessions it names. Writing one is
//! always opt-in; this module only formats and parses, it does no I/O.
//!
//! The module also recovers the keys of a session from a captured handshake plus one side's
//! ephemeral secret ([`recover_keys`]), which is the other way `sbrp decode` can decrypt.

use core::fmt;
use std::collections::HashMap;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::aead::KEY_LEN;
use crate::frame::{Direction, HandshakeAccept, HandshakeInit};
use crate::handshake::{HandshakeError, derive_session_keys, signature_payload, transcript_hash};
use crate::keys::{EphemeralSecret, IdentityPublicKey};
use crate::session::SessionKeys;

/// Label of a client→daemon key line.
pub const CLIENT_TO_DAEMON: &str = "CLIENT_TO_DAEMON";
/// Label of a daemon→client key line.
pub const DAEMON_TO_CLIENT: &str = "DAEMON_TO_CLIENT";

/// The label for a direction.
pub const fn label(direction: Direction) -> &'static str {
    match direction {
        Direction::ClientToDaemon => CLIENT_TO_DAEMON,
        Direction::DaemonToClient => DAEMON_TO_CLIENT,
    }
}

/// One key-log line, without the newline:
/// `CLIENT_TO_DAEMON 0000000000000001 <64 lower-case hex digits>`.
///
/// The result holds the key in clear; it is wiped when dropped.
pub fn format_line(
    direction: Direction,
    session_id: u64,
    key: &[u8; KEY_LEN],
) -> Zeroizing<String> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = Zeroizing::new(String::with_capacity(16 + 1 + 16 + 1 + 64));
    out.push_str(label(direction));
    out.push(' ');
    for b in session_id.to_be_bytes() {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0x0f)] as char);
    }
    out.push(' ');
    for b in key {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Both lines of a session (client→daemon first), each ending in `\n`: what a tool appends to
/// a key log once a handshake has finished.
pub fn format_session(session_id: u64, keys: &SessionKeys) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(2 * 99));
    for direction in [Direction::ClientToDaemon, Direction::DaemonToClient] {
        out.push_str(&format_line(
            direction,
            session_id,
            keys.for_direction(direction),
        ));
        out.push('\n');
    }
    out
}

/// One parsed key-log line.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyLogEntry {
    /// The direction the key encrypts.
    pub direction: Direction,
    /// The session (never 0).
    pub session_id: u64,
    /// The traffic key.
    pub key: Zeroizing<[u8; KEY_LEN]>,
}

impl fmt::Debug for KeyLogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLogEntry")
            .field("direction", &self.direction)
            .field("session_id", &self.session_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// What is wrong with a key-log line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyLogError {
    /// The line does not have exactly three fields.
    #[error("line {line}: expected 3 fields (label, session id, key), found {found}")]
    FieldCount {
        /// 1-based line number.
        line: usize,
        /// Fields found.
        found: usize,
    },
    /// The label is neither `CLIENT_TO_DAEMON` nor `DAEMON_TO_CLIENT`.
    #[error("line {line}: unknown label (expected CLIENT_TO_DAEMON or DAEMON_TO_CLIENT)")]
    UnknownLabel {
        /// 1-based line number.
        line: usize,
    },
    /// The session id is not 16 hex digits, or is zero.
    #[error("line {line}: the session id must be 16 hex digits and not all zero")]
    BadSessionId {
        /// 1-based line number.
        line: usize,
    },
    /// The key is not 64 hex digits.
    #[error("line {line}: the key must be 64 hex digits")]
    BadKey {
        /// 1-based line number.
        line: usize,
    },
}

fn hex_nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn hex_exact<const N: usize>(text: &str) -> Option<Zeroizing<[u8; N]>> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = Zeroizing::new([0u8; N]);
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = hex_nibble(pair[0])? << 4 | hex_nibble(pair[1])?;
    }
    Some(out)
}

/// Parses one line (`line_no` is 1-based, for messages). Blank and comment lines give
/// `Ok(None)`.
pub fn parse_line(text: &str, line_no: usize) -> Result<Option<KeyLogEntry>, KeyLogError> {
    let text = text.trim();
    if text.is_empty() || text.starts_with('#') {
        return Ok(None);
    }
    let fields: Vec<&str> = text.split_ascii_whitespace().collect();
    let [label, sid, key] = fields[..] else {
        return Err(KeyLogError::FieldCount {
            line: line_no,
            found: fields.len(),
        });
    };
    let direction = match label {
        CLIENT_TO_DAEMON => Direction::ClientToDaemon,
        DAEMON_TO_CLIENT => Direction::DaemonToClient,
        _ => return Err(KeyLogError::UnknownLabel { line: line_no }),
    };
    let session_id = hex_exact::<8>(sid)
        .map(|b| u64::from_be_bytes(*b))
        .filter(|&s| s != 0)
        .ok_or(KeyLogError::BadSessionId { line: line_no })?;
    let key = hex_exact::<KEY_LEN>(key).ok_or(KeyLogError::BadKey { line: line_no })?;
    Ok(Some(KeyLogEntry {
        direction,
        session_id,
        key,
    }))
}

/// Keys kept per session and direction at most ([`KeyLog::insert`] drops the rest and says
/// so). A session id reused by a few runs that appended to one key log keeps all its keys; a
/// file that repeats one session id thousands of times cannot make every Data frame of that
/// session cost thousands of decryptions.
pub const MAX_KEYS_PER_DIRECTION: usize = 4;

/// What [`KeyLog::insert`] did with a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// A new key for its session and direction.
    Added,
    /// The same key was already there: nothing changed.
    Duplicate,
    /// The session and direction already hold [`MAX_KEYS_PER_DIRECTION`] keys: dropped.
    Dropped,
}

/// Where the keys of one session are in the arena: the first key of each direction inline
/// (`NONE` when absent), further ones in `more`.
#[derive(Clone, Copy)]
struct Slot {
    first: [u32; 2],
    /// Index into `KeyLog::more`, or `NONE`.
    more: u32,
}

const NONE: u32 = u32::MAX;

fn dir_index(direction: Direction) -> usize {
    match direction {
        Direction::ClientToDaemon => 0,
        Direction::DaemonToClient => 1,
    }
}

/// The keys of a key log, by session and direction.
///
/// A session may have several keys for one direction (a key log that several runs appended
/// to, each reusing a session id): up to [`MAX_KEYS_PER_DIRECTION`] are kept, in file order,
/// without duplicates, and a decoder tries each in turn. Loading is linear and a lookup is
/// one hash probe: keys live in one flat arena (wiped on drop), indexed by session id, so a
/// key log of a million sessions costs about 100 bytes per session.
#[derive(Clone, Default)]
pub struct KeyLog {
    index: HashMap<u64, Slot>,
    /// Every key, in insertion order.
    arena: Zeroizing<Vec<[u8; KEY_LEN]>>,
    /// Arena indices of the second and later keys of a session, per direction.
    more: Vec<[Vec<u32>; 2]>,
    dropped: usize,
}

impl fmt::Debug for KeyLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLog")
            .field("entries", &self.arena.len())
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl KeyLog {
    /// An empty key log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a whole key log. The first bad line is an error.
    pub fn parse(text: &str) -> Result<Self, KeyLogError> {
        let mut log = Self::new();
        for (i, line) in text.lines().enumerate() {
            if let Some(entry) = parse_line(line, i + 1)? {
                log.insert(entry);
            }
        }
        Ok(log)
    }

    /// Adds a key: a key already present for that session and direction is not added twice,
    /// and one beyond [`MAX_KEYS_PER_DIRECTION`] is dropped (and counted, see
    /// [`KeyLog::dropped`]). Constant time.
    pub fn insert(&mut self, entry: KeyLogEntry) -> Inserted {
        let d = dir_index(entry.direction);
        let slot = self.index.entry(entry.session_id).or_insert(Slot {
            first: [NONE; 2],
            more: NONE,
        });
        let arena = &mut self.arena;
        let more = &mut self.more;
        if slot.first[d] == NONE {
            slot.first[d] = push_key(arena, &entry.key);
            return Inserted::Added;
        }
        let extra: &[u32] = match slot.more {
            NONE => &[],
            m => &more[m as usize][d],
        };
        let same = std::iter::once(slot.first[d])
            .chain(extra.iter().copied())
            .any(|i| bool::from(arena[i as usize].ct_eq(&*entry.key)));
        if same {
            return Inserted::Duplicate;
        }
        if 1 + extra.len() >= MAX_KEYS_PER_DIRECTION {
            self.dropped += 1;
            return Inserted::Dropped;
        }
        if slot.more == NONE {
            slot.more = u32::try_from(more.len()).unwrap_or(NONE - 1);
            more.push([Vec::new(), Vec::new()]);
        }
        let i = push_key(arena, &entry.key);
        more[slot.more as usize][d].push(i);
        Inserted::Added
    }

    /// Adds both keys of a session.
    pub fn insert_session(&mut self, session_id: u64, keys: &SessionKeys) {
        for direction in [Direction::ClientToDaemon, Direction::DaemonToClient] {
            self.insert(KeyLogEntry {
                direction,
                session_id,
                key: Zeroizing::new(*keys.for_direction(direction)),
            });
        }
    }

    /// The keys known for a session and direction, in file order (none if the log has none).
    /// One hash probe whatever the size of the log.
    pub fn keys(
        &self,
        session_id: u64,
        direction: Direction,
    ) -> impl Iterator<Item = &[u8; KEY_LEN]> + '_ {
        let d = dir_index(direction);
        let slot = self.index.get(&session_id);
        let first = slot.map(|s| s.first[d]).filter(|&i| i != NONE);
        let extra: &[u32] = match slot.map(|s| s.more) {
            Some(m) if m != NONE => &self.more[m as usize][d],
            _ => &[],
        };
        first
            .into_iter()
            .chain(extra.iter().copied())
            .map(|i| &self.arena[i as usize])
    }

    /// True when the log has a key for the session, in either direction.
    pub fn has_session(&self, session_id: u64) -> bool {
        self.index.contains_key(&session_id)
    }

    /// How many distinct keys the log holds.
    pub fn len(&self) -> usize {
        self.arena.len()
    }

    /// True when the log holds no key.
    pub fn is_empty(&self) -> bool {
        self.arena.is_empty()
    }

    /// Keys dropped because their session and direction held [`MAX_KEYS_PER_DIRECTION`]
    /// keys already.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// The session ids the log has keys for, in ascending order.
    pub fn sessions(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.index.keys().copied().collect();
        ids.sort_unstable();
        ids
    }
}

fn push_key(arena: &mut Zeroizing<Vec<[u8; KEY_LEN]>>, key: &[u8; KEY_LEN]) -> u32 {
    // A `Vec` that grows by reallocation would leave copies of keys behind in freed memory:
    // grow it ourselves, wiping the old buffer.
    if arena.len() == arena.capacity() {
        let mut bigger: Vec<[u8; KEY_LEN]> = Vec::with_capacity((arena.capacity() * 2).max(16));
        bigger.extend_from_slice(arena);
        // The old buffer is wiped when the `Zeroizing` it was in drops.
        *arena = Zeroizing::new(bigger);
    }
    let i = u32::try_from(arena.len()).unwrap_or(NONE - 1);
    arena.push(*key);
    i
}

/// One side's ephemeral secret, for [`recover_keys`].
#[derive(Debug)]
pub enum KnownEphemeral {
    /// The client's X25519 ephemeral secret (whose public key is in the HandshakeInit).
    Client(EphemeralSecret),
    /// The daemon's X25519 ephemeral secret (whose public key is in the HandshakeAccept).
    Daemon(EphemeralSecret),
}

/// Why [`recover_keys`] could not produce the keys.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecoverError {
    /// The secret's public key is not the one in this handshake: it belongs to another session.
    #[error("the given ephemeral secret does not belong to this handshake")]
    NotThisHandshake,
    /// The HandshakeInit and HandshakeAccept name different sessions.
    #[error("the HandshakeInit and HandshakeAccept belong to different sessions")]
    SessionMismatch,
    /// The handshake itself fails: bad signature or low-order key (`handshake_failed`).
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
}

/// Recovers the session keys of a captured handshake from one side's ephemeral secret.
///
/// Verifies, as the client would, the accept's signature with `identity` (the pinned key, or
/// the advertised `accept.identity_key` when nothing is pinned): a signature that does not
/// verify is `handshake_failed`, and no keys are returned.
pub fn recover_keys(
    daemon_id: &[u8],
    init: &HandshakeInit,
    accept: &HandshakeAccept,
    secret: KnownEphemeral,
    identity: &IdentityPublicKey,
) -> Result<SessionKeys, RecoverError> {
    if init.session_id != accept.session_id {
        return Err(RecoverError::SessionMismatch);
    }
    let (secret, own_public, peer) = match secret {
        KnownEphemeral::Client(s) => (s, &init.client_key, &accept.ephemeral_key),
        KnownEphemeral::Daemon(s) => (s, &accept.ephemeral_key, &init.client_key),
    };
    if secret.public_key() != *own_public {
        return Err(RecoverError::NotThisHandshake);
    }
    let payload = signature_payload(daemon_id, &init.client_key, &accept.ephemeral_key);
    if !identity.verify_strict(&payload, &accept.signature) {
        return Err(HandshakeError::BadSignature.into());
    }
    let shared = secret
        .diffie_hellman(peer)
        .ok_or(HandshakeError::LowOrderKey)?;
    let transcript = transcript_hash(
        daemon_id,
        &init.client_key,
        &accept.ephemeral_key,
        &accept.signature,
    );
    Ok(derive_session_keys(&shared, &transcript))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::SessionId;
    use crate::handshake::{ClientHandshake, Daemon};
    use crate::keys::IdentityKeyPair;

    fn h32(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    // Handshake 0 of the reference vectors ("RFC keys / daemon-001 / sid 1").
    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const CLIENT_EPH: &str = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    const DAEMON_EPH: &str = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
    const C2D: &str = "9aed6a2acec2cc049b01efa7677698845126f24a2dbdb9ee9570531b1e7d83f3";
    const D2C: &str = "463c1015db09e30fb5f6c1da5391835b758ba2f62872343e52a8350bee90f56e";

    #[test]
    fn format_and_parse_round_trip() {
        let line = format_line(Direction::ClientToDaemon, 1, &h32(C2D));
        assert_eq!(
            line.as_str(),
            format!("CLIENT_TO_DAEMON 0000000000000001 {C2D}")
        );
        let e = parse_line(&line, 1).unwrap().unwrap();
        assert_eq!(e.direction, Direction::ClientToDaemon);
        assert_eq!(e.session_id, 1);
        assert_eq!(*e.key, h32(C2D));
        let line = format_line(Direction::DaemonToClient, u64::MAX, &h32(D2C));
        assert!(line.starts_with("DAEMON_TO_CLIENT ffffffffffffffff 463c"));
    }

    #[test]
    fn parse_accepts_comments_blanks_tabs_and_upper_case() {
        let text = format!(
            "# written by a test\n\n   \n\tCLIENT_TO_DAEMON\t00000000DEADBEEF  {}\r\n  # indented comment\nDAEMON_TO_CLIENT 00000000deadbeef {D2C}\n",
            C2D.to_uppercase()
        );
        let log = KeyLog::parse(&text).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log.sessions(), vec![0xdead_beef]);
        assert_eq!(
            log.keys(0xdead_beef, Direction::ClientToDaemon).next(),
            Some(&h32(C2D))
        );
        assert_eq!(
            log.keys(0xdead_beef, Direction::DaemonToClient).next(),
            Some(&h32(D2C))
        );
        assert_eq!(log.keys(1, Direction::DaemonToClient).count(), 0);
    }

    #[test]
    fn parse_errors_name_the_line() {
        let cases = [
            (
                "CLIENT_TO_DAEMON 0000000000000001",
                KeyLogError::FieldCount { line: 2, found: 2 },
            ),
            (
                "SERVER_KEY 0000000000000001 00",
                KeyLogError::UnknownLabel { line: 2 },
            ),
            (
                "client_to_daemon 0000000000000001 00",
                KeyLogError::UnknownLabel { line: 2 },
            ),
            (
                &format!("CLIENT_TO_DAEMON 0000000000000000 {C2D}"),
                KeyLogError::BadSessionId { line: 2 },
            ),
            (
                &format!("CLIENT_TO_DAEMON 1 {C2D}"),
                KeyLogError::BadSessionId { line: 2 },
            ),
            (
                &format!("CLIENT_TO_DAEMON 000000000000000g {C2D}"),
                KeyLogError::BadSessionId { line: 2 },
            ),
            (
                &format!("CLIENT_TO_DAEMON 0000000000000001 {}", &C2D[2..]),
                KeyLogError::BadKey { line: 2 },
            ),
            (
                &format!("CLIENT_TO_DAEMON 0000000000000001 {C2D} extra"),
                KeyLogError::FieldCount { line: 2, found: 4 },
            ),
        ];
        for (line, want) in cases {
            let text = format!("# ok\n{line}\n");
            assert_eq!(KeyLog::parse(&text).unwrap_err(), want, "{line}");
        }
    }

    #[test]
    fn repeated_sessions_keep_every_distinct_key() {
        let text = format!(
            "CLIENT_TO_DAEMON 0000000000000001 {C2D}\nCLIENT_TO_DAEMON 0000000000000001 {C2D}\nCLIENT_TO_DAEMON 0000000000000001 {D2C}\n"
        );
        let log = KeyLog::parse(&text).unwrap();
        let keys: Vec<_> = log.keys(1, Direction::ClientToDaemon).collect();
        assert_eq!(keys, vec![&h32(C2D), &h32(D2C)]);
        assert_eq!(log.dropped(), 0);
    }

    #[test]
    fn keys_beyond_the_bound_are_dropped_and_counted() {
        let mut log = KeyLog::new();
        let entry = |n: u8, direction| KeyLogEntry {
            direction,
            session_id: 7,
            key: Zeroizing::new([n; 32]),
        };
        for n in 0..10u8 {
            let want = if usize::from(n) < MAX_KEYS_PER_DIRECTION {
                Inserted::Added
            } else {
                Inserted::Dropped
            };
            assert_eq!(log.insert(entry(n, Direction::ClientToDaemon)), want);
        }
        // A duplicate is not a drop, and the other direction has its own bound.
        assert_eq!(
            log.insert(entry(0, Direction::ClientToDaemon)),
            Inserted::Duplicate
        );
        assert_eq!(
            log.insert(entry(9, Direction::DaemonToClient)),
            Inserted::Added
        );
        let kept: Vec<u8> = log
            .keys(7, Direction::ClientToDaemon)
            .map(|k| k[0])
            .collect();
        assert_eq!(kept, (0..MAX_KEYS_PER_DIRECTION as u8).collect::<Vec<_>>());
        assert_eq!(log.dropped(), 10 - MAX_KEYS_PER_DIRECTION);
        assert_eq!(log.len(), MAX_KEYS_PER_DIRECTION + 1);
        assert!(log.has_session(7) && !log.has_session(8));
    }

    #[test]
    fn debug_never_shows_keys() {
        let log = KeyLog::parse(&format!("CLIENT_TO_DAEMON 0000000000000001 {C2D}")).unwrap();
        assert!(!format!("{log:?}").contains("9aed"));
        let e = parse_line(&format!("CLIENT_TO_DAEMON 0000000000000001 {C2D}"), 1)
            .unwrap()
            .unwrap();
        assert!(!format!("{e:?}").contains("9aed"));
    }

    fn vector_handshake() -> (HandshakeInit, HandshakeAccept, IdentityPublicKey) {
        let daemon = Daemon::new(IdentityKeyPair::from_seed(&h32(SEED)), "daemon-001");
        let client = ClientHandshake::with_ephemeral(
            "daemon-001",
            SessionId::new(1).unwrap(),
            EphemeralSecret::from_bytes(h32(CLIENT_EPH)),
        );
        let init = client.init();
        let (accept, _) = daemon
            .accept_with_ephemeral(&init, EphemeralSecret::from_bytes(h32(DAEMON_EPH)))
            .unwrap();
        (init, accept, daemon.identity().public_key())
    }

    #[test]
    fn recover_keys_from_either_side_matches_the_vectors() {
        let (init, accept, identity) = vector_handshake();
        for secret in [
            KnownEphemeral::Client(EphemeralSecret::from_bytes(h32(CLIENT_EPH))),
            KnownEphemeral::Daemon(EphemeralSecret::from_bytes(h32(DAEMON_EPH))),
        ] {
            let keys = recover_keys(b"daemon-001", &init, &accept, secret, &identity).unwrap();
            assert_eq!(*keys.client_to_daemon, h32(C2D));
            assert_eq!(*keys.daemon_to_client, h32(D2C));
            let text = format_session(1, &keys);
            let log = KeyLog::parse(&text).unwrap();
            assert_eq!(
                log.keys(1, Direction::DaemonToClient).next(),
                Some(&h32(D2C))
            );
        }
    }

    #[test]
    fn recover_keys_refuses_wrong_secret_id_and_signature() {
        let (init, accept, identity) = vector_handshake();
        let daemon_secret = || KnownEphemeral::Daemon(EphemeralSecret::from_bytes(h32(DAEMON_EPH)));
        // The client's secret offered as the daemon's.
        let wrong = KnownEphemeral::Daemon(EphemeralSecret::from_bytes(h32(CLIENT_EPH)));
        assert_eq!(
            recover_keys(b"daemon-001", &init, &accept, wrong, &identity).unwrap_err(),
            RecoverError::NotThisHandshake
        );
        // Another daemon id: the signature does not verify.
        let err =
            recover_keys(b"daemon-002", &init, &accept, daemon_secret(), &identity).unwrap_err();
        assert_eq!(err, RecoverError::Handshake(HandshakeError::BadSignature));
        // Another identity key (e.g. the pinned one differs).
        let other = IdentityKeyPair::from_seed(&[7; 32]).public_key();
        assert!(recover_keys(b"daemon-001", &init, &accept, daemon_secret(), &other).is_err());
        // Accept for another session.
        let mut accept2 = accept;
        accept2.session_id = SessionId::new(2).unwrap();
        assert_eq!(
            recover_keys(b"daemon-001", &init, &accept2, daemon_secret(), &identity).unwrap_err(),
            RecoverError::SessionMismatch
        );
    }
}
