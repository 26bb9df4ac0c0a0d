//! The dissector proper: a frame plus what was seen before it in, a structured record out.
//! No I/O and no presentation: `render` turns records into text or JSON.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use zeroize::Zeroizing;

use sbrp::aead::Cipher;
use sbrp::frame::{
    Direction, FrameError, FrameType, HEADER_LEN, HandshakeInit, MAX_PING_LEN, NONCE_LEN, RawFrame,
    SessionRule, SignalReason, TAG_LEN,
};
use sbrp::keylog::{KeyLog, KnownEphemeral, RecoverError, recover_keys};
use sbrp::keys::{EphemeralSecret, IdentityPublicKey};
use sbrp::replay::ReplayWindow;
use sbrp::{ErrorCode, SessionKeys};

use super::framer::{CutFrame, Tail};
use super::sessions::{Counter, MAX_COUNTED_SESSIONS, MAX_KEYLESS_SESSIONS, Table};
use sbrp::stream::StreamError;

/// Sessions whose keys are derived from their handshake at most (each needs the given
/// ephemeral secret's public key and a signed accept; a capture could repeat them).
pub const MAX_DERIVED_SESSIONS: usize = 1024;
/// The code of the diagnostics that say a bound on the dissector's state was reached.
pub const TRACKING_LIMIT: &str = "tracking_limit";

/// Which ephemeral secret the user gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `--client-ephemeral`.
    Client,
    /// `--daemon-ephemeral`.
    Daemon,
}

/// Everything the dissector is told up front.
#[derive(Default)]
pub struct Config {
    /// `--keylog`.
    pub keylog: Option<KeyLog>,
    /// `--daemon-id`.
    pub daemon_id: Option<Vec<u8>>,
    /// `--client-ephemeral` / `--daemon-ephemeral`.
    pub ephemeral: Option<(Side, Zeroizing<[u8; 32]>)>,
    /// The pinned identity key of `--daemon-id` from `--pins`: `Some(None)` when the pin file
    /// was given but has no pin for the daemon.
    pub pinned: Option<Option<IdentityPublicKey>>,
    /// Build the field list for `-v`.
    pub fields: bool,
}

/// One diagnostic: an SBRP error code at a stream offset.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Diagnostic {
    /// The SBRP error-code string (or `tracking_limit`).
    pub code: &'static str,
    /// Stream offset of the byte (or frame) concerned.
    pub offset: u64,
    /// What is wrong, in words.
    pub message: String,
    /// The finding rests on bytes no key authenticated (a repeat seen without keys).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unauthenticated: bool,
}

/// A field of a frame, for `-v`.
#[derive(Clone, Debug, Serialize)]
pub struct Field {
    /// Dotted name (`header.type`, `nonce.seq`, …).
    pub name: &'static str,
    /// Offset inside the frame.
    pub offset: usize,
    /// Length in bytes.
    pub length: usize,
}

fn dec<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn dec_opt<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// The dissection of one frame: the JSON object of `docs/decode-json.md`.
#[derive(Debug, Default, Serialize)]
pub struct FrameRecord {
    /// Always `"frame"`.
    pub record: &'static str,
    /// 0-based position in the stream.
    pub index: u64,
    /// Stream offset of the first header byte.
    pub offset: u64,
    /// Type name.
    #[serde(rename = "type")]
    pub type_name: &'static str,
    /// Type byte.
    pub type_code: u8,
    /// Session id.
    #[serde(serialize_with = "dec")]
    pub session_id: u64,
    /// Payload length.
    pub length: u32,

    // HandshakeInit
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ephemeral_key: Option<String>,

    // HandshakeAccept
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daemon_ephemeral_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_valid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_derived: Option<bool>,

    // Data
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction_code: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "dec_opt")]
    pub seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphertext_length: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_source: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext_utf8: Option<String>,
    /// The plaintext bytes (text output).
    #[serde(skip)]
    pub plaintext: Option<Vec<u8>>,

    // Signal
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal_code: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<u8>,

    // Ping / Pong
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_hex: Option<String>,

    // Control
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_hex: Option<String>,

    /// The plaintext read as an SBP frame (`sbp_view`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbp: Option<super::sbp_view::SbpView>,
    /// Where the frame came from in a browser capture (`har`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub websocket: Option<super::har::WsInfo>,
    /// Remarks that are not rule violations (a plaintext that is not SBP, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,

    /// Every rule this frame breaks.
    pub diagnostics: Vec<Diagnostic>,
    /// The field layout (`-v` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
}

/// Per-session state carried from frame to frame.
#[derive(Default)]
struct SessionState {
    init: Option<HandshakeInit>,
    accept_seen: bool,
    signal_seen: bool,
    /// The session was evicted earlier (see `sessions.rs`): what came before is unknown.
    resumed: bool,
    derived: Option<Box<SessionKeys>>,
    /// The replay windows: of authenticated seqs when the session has keys, else of every
    /// seq seen (unauthenticated).
    windows: [ReplayWindow; 2],
}

/// The state of session `sid` (never 0), created on first sight.
fn session<'m>(
    sessions: &'m mut Table<SessionState>,
    keylog: Option<&KeyLog>,
    sid: u64,
    at: u64,
) -> Option<&'m mut SessionState> {
    if sid == 0 {
        return None;
    }
    let keyed = keylog.is_some_and(|l| l.has_session(sid));
    let (state, resumed) = sessions.get(sid, keyed, at);
    state.resumed |= resumed;
    Some(state)
}

fn dir_index(d: Direction) -> usize {
    match d {
        Direction::ClientToDaemon => 0,
        Direction::DaemonToClient => 1,
    }
}

/// Counters for the closing summary.
#[derive(Debug, Default)]
pub struct Stats {
    /// Complete frames.
    pub frames: u64,
    /// Bytes of complete frames.
    pub frame_bytes: u64,
    /// Frames per type, in type order.
    pub by_type: BTreeMap<u8, u64>,
    /// Distinct non-zero session ids (exact up to `MAX_COUNTED_SESSIONS`).
    pub sessions: Counter,
    /// Idle sessions without keys evicted from the state table.
    pub sessions_evicted: u64,
    /// Sessions whose keys were derived from their handshake.
    pub derived_sessions: usize,
    /// Stream offset of the first accept whose keys were not derived for the bound.
    pub derived_overflow_at: Option<u64>,
    /// Data frames for which a key was known.
    pub decrypt_attempts: u64,
    /// Data frames that authenticated.
    pub authenticated: u64,
    /// Data frames that did not.
    pub decrypt_failed: u64,
    /// Diagnostics per code (frame and stream).
    pub by_code: BTreeMap<&'static str, u64>,
    /// Total diagnostics.
    pub diagnostics: u64,
}

/// The dissector.
pub struct Dissector {
    cfg: Config,
    sessions: Table<SessionState>,
    /// Statistics so far.
    pub stats: Stats,
    scratch: Vec<u8>,
    /// Fill `plaintext_hex`/`plaintext_utf8` (JSON) rather than only `plaintext`.
    pub json: bool,
    /// The SBP/RPC layer inside the plaintexts.
    pub sbp: super::sbp_view::SbpTracker,
    /// Capture time of the frame being dissected (seconds), when the capture has times.
    pub now: Option<f64>,
}

/// Lower-case hex. `hex::encode` builds its string one `char` at a time, which dominated
/// `--keylog` JSON output; this writes bytes into a buffer of the right size.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
    // Only ASCII digits were written.
    String::from_utf8(out).unwrap_or_default()
}

impl Dissector {
    /// A dissector with this configuration.
    pub fn new(cfg: Config) -> Self {
        Self {
            cfg,
            sessions: Table::default(),
            stats: Stats::default(),
            scratch: Vec::new(),
            json: false,
            sbp: Default::default(),
            now: None,
        }
    }

    /// Dissects one frame.
    pub fn frame(&mut self, index: u64, cut: &CutFrame<'_>) -> FrameRecord {
        let header = cut.header;
        let frame_type = cut.frame_type;
        let sid = header.session_id;
        let payload = &cut.bytes[HEADER_LEN..];
        let mut rec = FrameRecord {
            record: "frame",
            index,
            offset: cut.offset,
            type_name: frame_type.name(),
            type_code: header.type_byte,
            session_id: sid,
            length: header.length,
            ..FrameRecord::default()
        };
        self.stats.frames += 1;
        self.stats.frame_bytes += cut.bytes.len() as u64;
        *self.stats.by_type.entry(header.type_byte).or_default() += 1;
        if sid != 0 {
            self.stats.sessions.add(sid, cut.offset);
        }
        if self.cfg.fields {
            rec.fields.extend([
                Field {
                    name: "header.type",
                    offset: 0,
                    length: 1,
                },
                Field {
                    name: "header.length",
                    offset: 1,
                    length: 4,
                },
                Field {
                    name: "header.session_id",
                    offset: 5,
                    length: 8,
                },
            ]);
        }
        // The session-id rule was broken: say so, and still read the payload by its type
        // (the framing is intact; see framer.rs).
        let parse_sid = match &cut.session_error {
            Some(e) => {
                push_diag(&mut rec, e.code(), cut.offset + 5, e.to_string());
                match frame_type.session_rule() {
                    SessionRule::Zero => 0,
                    _ => 1,
                }
            }
            None => sid,
        };
        let raw = match RawFrame::new(frame_type, parse_sid, payload) {
            Ok(raw) => raw,
            Err(e) => {
                // Unreachable: the framer checked the length and the substitute id is valid.
                push_diag(&mut rec, e.code(), cut.offset, e.to_string());
                return self.finish(rec);
            }
        };
        let payload_at = cut.offset + HEADER_LEN as u64;
        match frame_type {
            FrameType::HandshakeInit => self.handshake_init(&mut rec, &raw, sid, payload_at),
            FrameType::HandshakeAccept => self.handshake_accept(&mut rec, &raw, sid, payload_at),
            FrameType::Data => self.data(&mut rec, &raw, sid, payload_at),
            FrameType::Signal => self.signal(&mut rec, &raw, sid, payload_at),
            FrameType::Ping | FrameType::Pong => ping(&mut rec, &raw, payload_at),
            FrameType::Control => control(&mut rec, &raw, payload_at),
        }
        if let (Some(pt), Some(direction)) = (rec.plaintext.take(), rec.direction) {
            let at = super::sbp_view::At {
                sid,
                direction: if direction == Direction::ClientToDaemon.name() {
                    Direction::ClientToDaemon
                } else {
                    Direction::DaemonToClient
                },
                index,
                base: payload_at + NONCE_LEN as u64,
                time: self.now,
                fields: self.cfg.fields,
            };
            self.sbp.inspect(&mut rec, &pt, &at);
            rec.plaintext = Some(pt);
        }
        self.finish(rec)
    }

    fn finish(&mut self, rec: FrameRecord) -> FrameRecord {
        for d in &rec.diagnostics {
            self.count(d.code);
        }
        rec
    }

    fn count(&mut self, code: &'static str) {
        self.stats.diagnostics += 1;
        *self.stats.by_code.entry(code).or_default() += 1;
    }

    fn handshake_init(&mut self, rec: &mut FrameRecord, raw: &RawFrame<'_>, sid: u64, at: u64) {
        let init = match raw.handshake_init() {
            Ok(init) => init,
            Err(e) => return payload_error(rec, &e, at, self.cfg.fields, raw),
        };
        if self.cfg.fields {
            rec.fields.push(field("client_ephemeral_key", 13, 32));
        }
        rec.client_ephemeral_key = Some(hex(&init.client_key));
        let frame_at = at - HEADER_LEN as u64;
        if let Some(state) = session(&mut self.sessions, self.cfg.keylog.as_ref(), sid, frame_at) {
            if state.init.is_some() {
                push_diag(
                    rec,
                    ErrorCode::HandshakeFailed,
                    at - HEADER_LEN as u64,
                    "a second HandshakeInit for this session: the session is restarted".into(),
                );
                *state = SessionState::default();
            }
            state.resumed = false;
            state.init = Some(HandshakeInit {
                session_id: init.session_id,
                client_key: init.client_key,
            });
        }
    }

    fn handshake_accept(&mut self, rec: &mut FrameRecord, raw: &RawFrame<'_>, sid: u64, at: u64) {
        let accept = match raw.handshake_accept() {
            Ok(a) => a,
            Err(e) => return payload_error(rec, &e, at, self.cfg.fields, raw),
        };
        if self.cfg.fields {
            rec.fields.extend([
                field("identity_key", 13, 32),
                field("daemon_ephemeral_key", 45, 32),
                field("signature", 77, 64),
            ]);
        }
        rec.identity_key = Some(hex(accept.identity_key.as_bytes()));
        rec.identity_fingerprint = Some(accept.identity_key.fingerprint());
        rec.daemon_ephemeral_key = Some(hex(&accept.ephemeral_key));
        rec.signature = Some(hex(&accept.signature));
        let frame_at = at - HEADER_LEN as u64;

        // Pin check (identity_key_changed is checked before the signature, as a client does).
        // The signature is checked with the key the accept presents, whatever the pin says:
        // the pin mismatch and the signature are two facts, each reported once.
        let verify_with = accept.identity_key;
        if let Some(pinned) = &self.cfg.pinned {
            match pinned {
                None => rec.pin = Some("not_pinned"),
                Some(p) if *p == accept.identity_key => rec.pin = Some("match"),
                Some(p) => {
                    rec.pin = Some("mismatch");
                    push_diag(
                        rec,
                        ErrorCode::IdentityKeyChanged,
                        at,
                        format!(
                            "the daemon presents identity key {} but {} is pinned",
                            accept.identity_key.fingerprint(),
                            p.fingerprint()
                        ),
                    );
                }
            }
        }

        let daemon_id = self.cfg.daemon_id.clone();
        let ephemeral = self.cfg.ephemeral.clone();
        let Some(state) = session(&mut self.sessions, self.cfg.keylog.as_ref(), sid, frame_at)
        else {
            return;
        };
        state.accept_seen = true;
        let Some(daemon_id) = daemon_id else {
            return;
        };
        let Some(init) = state.init else {
            if state.resumed {
                // Its HandshakeInit may have come before the session was evicted.
                return;
            }
            push_diag(
                rec,
                ErrorCode::HandshakeFailed,
                frame_at,
                "no HandshakeInit for this session before its HandshakeAccept: the signature cannot be checked".into(),
            );
            return;
        };
        let payload =
            sbrp::handshake::signature_payload(&daemon_id, &init.client_key, &accept.ephemeral_key);
        let valid = verify_with.verify_strict(&payload, &accept.signature);
        rec.signature_valid = Some(valid);
        if !valid {
            push_diag(
                rec,
                ErrorCode::HandshakeFailed,
                at + 64,
                format!(
                    "the signature does not verify with the presented identity key for daemon id {:?}: wrong daemon id, or a forged or corrupted accept",
                    String::from_utf8_lossy(&daemon_id)
                ),
            );
            return;
        }
        let Some((side, secret)) = ephemeral else {
            return;
        };
        if state.derived.is_none() && self.stats.derived_sessions >= MAX_DERIVED_SESSIONS {
            self.stats.derived_overflow_at.get_or_insert(frame_at);
            return;
        }
        let secret = EphemeralSecret::from_bytes(*secret);
        let known = match side {
            Side::Client => KnownEphemeral::Client(secret),
            Side::Daemon => KnownEphemeral::Daemon(secret),
        };
        match recover_keys(&daemon_id, &init, &accept, known, &verify_with) {
            Ok(keys) => {
                if state.derived.is_none() {
                    self.stats.derived_sessions += 1;
                }
                state.derived = Some(Box::new(keys));
                // The keyless marks so far are not authenticated ones: start afresh.
                state.windows = Default::default();
                rec.keys_derived = Some(true);
                // A session with keys is never evicted.
                self.sessions.get(sid, true, frame_at);
            }
            // The secret belongs to another session of the capture: nothing to say.
            Err(RecoverError::NotThisHandshake) => rec.keys_derived = Some(false),
            Err(e) => {
                rec.keys_derived = Some(false);
                let code = match &e {
                    RecoverError::Handshake(h) => h.code(),
                    _ => ErrorCode::HandshakeFailed,
                };
                push_diag(rec, code, frame_at, e.to_string());
            }
        }
    }

    fn data(&mut self, rec: &mut FrameRecord, raw: &RawFrame<'_>, sid: u64, at: u64) {
        let data = match raw.data() {
            Ok(d) => d,
            Err(e) => return payload_error(rec, &e, at, self.cfg.fields, raw),
        };
        let p = data.payload;
        let n = p.as_bytes().len();
        if self.cfg.fields {
            rec.fields.extend([
                field("nonce.direction", 13, 4),
                field("nonce.seq", 17, 8),
                field("ciphertext", 25, n - NONCE_LEN - TAG_LEN),
                field("tag", 13 + n - TAG_LEN, TAG_LEN),
            ]);
        }
        let seq = p.seq();
        rec.direction_code = Some(p.direction_raw());
        rec.seq = Some(seq);
        rec.ciphertext_length = Some(p.ciphertext().len());
        let Some(direction) = p.direction() else {
            push_diag(
                rec,
                ErrorCode::DecryptFailed,
                at,
                format!(
                    "nonce direction {} is neither 1 (client_to_daemon) nor 2 (daemon_to_client): no endpoint accepts this frame",
                    p.direction_raw()
                ),
            );
            return;
        };
        rec.direction = Some(direction.name());

        let Dissector {
            cfg,
            sessions,
            stats,
            scratch,
            json,
            ..
        } = self;
        let frame_at = at - HEADER_LEN as u64;
        let Some(state) = session(sessions, cfg.keylog.as_ref(), sid, frame_at) else {
            return;
        };
        // Does the direction fit the rest of the session's traffic in this stream?
        let contradiction = match direction {
            Direction::DaemonToClient
                if state.init.is_some() && !state.accept_seen && !state.resumed =>
            {
                Some(
                    "daemon_to_client Data before the session's HandshakeAccept: the daemon cannot have sealed it",
                )
            }
            Direction::ClientToDaemon
                if state.init.is_none()
                    && (state.accept_seen || state.signal_seen)
                    && !state.resumed =>
            {
                Some(
                    "client_to_daemon Data in a stream that carries the daemon's frames of this session but not the client's HandshakeInit",
                )
            }
            _ => None,
        };
        if let Some(why) = contradiction {
            push_diag(rec, ErrorCode::DecryptFailed, at, why.into());
        }

        // Keys: derived from the handshake first, then the key log's candidates.
        // Copies of keys: wiped when dropped.
        let mut candidates: Vec<(zeroize::Zeroizing<[u8; 32]>, &'static str)> = Vec::new();
        if let Some(k) = &state.derived {
            candidates.push((
                zeroize::Zeroizing::new(*k.for_direction(direction)),
                "handshake",
            ));
        }
        if let Some(log) = &cfg.keylog {
            candidates.extend(
                log.keys(sid, direction)
                    .map(|k| (zeroize::Zeroizing::new(*k), "keylog")),
            );
        }
        if candidates.is_empty() {
            // No key: still a repeat of a seq is something an endpoint refuses. Every seq
            // seen marks the window (nothing can be authenticated).
            let window = &mut state.windows[dir_index(direction)];
            if window.check(seq) {
                window.mark(seq);
            } else {
                rec.diagnostics.push(Diagnostic {
                    code: ErrorCode::SequenceError.name(),
                    offset: at + 4,
                    message: format!(
                        "seq {seq} of {} was already seen in this session, or is older than the {}-message window (seen without keys: neither copy is authenticated; an endpoint refuses the later one)",
                        direction.name(),
                        window.size()
                    ),
                    unauthenticated: true,
                });
            }
            return;
        }
        stats.decrypt_attempts += 1;
        let window = &mut state.windows[dir_index(direction)];
        let fresh = window.check(seq);
        let nonce = p.nonce();
        let tag = p.tag();
        let mut opened = None;
        for (key, source) in &candidates {
            scratch.clear();
            scratch.extend_from_slice(p.ciphertext());
            if Cipher::new(key)
                .open_in_place(&nonce, scratch, &tag)
                .is_ok()
            {
                opened = Some(*source);
                break;
            }
        }
        if !fresh {
            // An endpoint checks the window before the tag, so this comes first.
            push_diag(
                rec,
                ErrorCode::SequenceError,
                at + 4,
                format!(
                    "seq {seq} is a replay or older than the {}-message window: an endpoint refuses it before checking the tag",
                    window.size()
                ),
            );
        }
        match opened {
            Some(source) => {
                if fresh {
                    window.mark(seq);
                }
                stats.authenticated += 1;
                rec.authenticated = Some(true);
                rec.key_source = Some(source);
                let pt = scratch.clone();
                if *json {
                    rec.plaintext_hex = Some(hex(&pt));
                    rec.plaintext_utf8 = std::str::from_utf8(&pt).ok().map(str::to_owned);
                }
                rec.plaintext = Some(pt);
            }
            None => {
                stats.decrypt_failed += 1;
                rec.authenticated = Some(false);
                // Was it sealed for the other direction?
                let other = direction.reverse();
                let mut other_keys: Vec<[u8; 32]> = Vec::new();
                if let Some(k) = &state.derived {
                    other_keys.push(*k.for_direction(other));
                }
                if let Some(log) = &cfg.keylog {
                    other_keys.extend(log.keys(sid, other).copied());
                }
                let other_nonce = other.nonce(seq);
                let sealed_other = other_keys.iter().any(|key| {
                    scratch.clear();
                    scratch.extend_from_slice(p.ciphertext());
                    Cipher::new(key)
                        .open_in_place(&other_nonce, scratch, &tag)
                        .is_ok()
                });
                let message = if sealed_other {
                    format!(
                        "the nonce says {} but the frame was sealed for {}: the direction contradicts the key",
                        direction.name(),
                        other.name()
                    )
                } else {
                    format!(
                        "the tag does not verify with the {} key{} of session {sid}",
                        direction.name(),
                        if candidates.len() > 1 { "s" } else { "" }
                    )
                };
                push_diag(rec, ErrorCode::DecryptFailed, at + n as u64 - 16, message);
            }
        }
    }

    fn signal(&mut self, rec: &mut FrameRecord, raw: &RawFrame<'_>, sid: u64, at: u64) {
        if let [code, reason] = *raw.payload() {
            rec.signal_code = Some(code);
            rec.reason_code = Some(reason);
            rec.reason = Some(SignalReason::from_u8(reason).name());
            if self.cfg.fields {
                rec.fields
                    .extend([field("signal", 13, 1), field("reason", 14, 1)]);
            }
        }
        match raw.signal() {
            Ok(s) => {
                rec.signal = Some(s.signal.name());
                if let SignalReason::Unknown(r) = s.reason {
                    push_diag(
                        rec,
                        ErrorCode::MalformedFrame,
                        at + 1,
                        format!("unknown signal reason 0x{r:02x}: accepted and treated as none"),
                    );
                }
                let frame_at = at - HEADER_LEN as u64;
                if let Some(state) =
                    session(&mut self.sessions, self.cfg.keylog.as_ref(), sid, frame_at)
                {
                    state.signal_seen = true;
                }
            }
            Err(e) => {
                let fields = self.cfg.fields && rec.signal_code.is_none();
                payload_error(rec, &e, at, fields, raw);
            }
        }
    }
}

fn field(name: &'static str, offset: usize, length: usize) -> Field {
    Field {
        name,
        offset,
        length,
    }
}

fn push_diag(rec: &mut FrameRecord, code: ErrorCode, offset: u64, message: String) {
    // The library's messages start with the code; do not say it twice.
    let prefix = format!("{}: ", code.name());
    let message = match message.strip_prefix(&prefix) {
        Some(rest) => rest.to_owned(),
        None => message,
    };
    rec.diagnostics.push(Diagnostic {
        code: code.name(),
        offset,
        message,
        unauthenticated: false,
    });
}

fn payload_error(rec: &mut FrameRecord, e: &FrameError, at: u64, fields: bool, raw: &RawFrame<'_>) {
    if fields {
        rec.fields.push(field("payload", 13, raw.payload().len()));
    }
    push_diag(rec, e.code(), at, e.to_string());
}

fn ping(rec: &mut FrameRecord, raw: &RawFrame<'_>, at: u64) {
    rec.payload_hex = Some(hex(raw.payload()));
    if !rec.fields.is_empty() {
        rec.fields.push(field("payload", 13, raw.payload().len()));
    }
    if raw.payload().len() > MAX_PING_LEN
        && let Err(e) = raw.ping_payload()
    {
        push_diag(rec, e.code(), at, e.to_string());
    }
}

fn control(rec: &mut FrameRecord, raw: &RawFrame<'_>, at: u64) {
    let c = match raw.control() {
        Ok(c) => c,
        Err(e) => {
            let fields = !rec.fields.is_empty();
            return payload_error(rec, &e, at, fields, raw);
        }
    };
    if !rec.fields.is_empty() {
        rec.fields.push(field("code", 13, 2));
        if !c.message().is_empty() {
            rec.fields.push(field("message", 15, c.message().len()));
        }
    }
    let code = c.code;
    rec.code = Some(code.0);
    rec.name = code.name();
    rec.category = Some(code.category().name());
    rec.terminal = Some(code.is_terminal());
    if code.known().is_none() {
        let msg = match ErrorCode::from_value(code.0) {
            Some(e) => format!(
                "endpoint-only code 0x{:04x} ({}) must never be on the wire: treated as unknown and terminal",
                code.0,
                e.name()
            ),
            None => format!(
                "unknown control code 0x{:04x} (category {}): treated as terminal",
                code.0,
                code.category().name()
            ),
        };
        push_diag(rec, ErrorCode::MalformedFrame, at, msg);
    }
    if !c.message().is_empty() {
        rec.message = Some(c.message_lossy().into_owned());
        if let Err(e) = std::str::from_utf8(c.message()) {
            rec.message_hex = Some(hex(c.message()));
            push_diag(
                rec,
                ErrorCode::MalformedFrame,
                at + 2 + e.valid_up_to() as u64,
                "the message is not valid UTF-8 (shown with U+FFFD)".into(),
            );
        }
    }
}

/// Stream-level diagnostics (JSON: the summary's `diagnostics`).
pub fn stream_diagnostics(fatal: Option<&StreamError>, tail: Option<&Tail>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(f) = fatal {
        let error = &f.error;
        out.push(Diagnostic {
            code: error.code().name(),
            offset: f.offset,
            message: format!(
                "{}; the frame boundary after this header cannot be found, so decoding stops here",
                strip_code(&error.to_string(), error.code())
            ),
            unauthenticated: false,
        });
    }
    if let Some(t) = tail {
        let message = match t {
            Tail::PartialHeader { have, .. } => format!(
                "truncated last frame: {have} of the 13 header bytes, {} missing",
                HEADER_LEN - have
            ),
            Tail::PartialPayload {
                announced, have, ..
            } => format!(
                "truncated last frame: the header announces {announced} payload bytes, {have} present, {} missing",
                announced - have
            ),
        };
        let offset = match t {
            Tail::PartialHeader { offset, .. } | Tail::PartialPayload { offset, .. } => *offset,
        };
        out.push(Diagnostic {
            code: ErrorCode::MalformedFrame.name(),
            offset,
            message,
            unauthenticated: false,
        });
    }
    out
}

fn strip_code(message: &str, code: ErrorCode) -> String {
    message
        .strip_prefix(&format!("{}: ", code.name()))
        .unwrap_or(message)
        .to_owned()
}

impl Dissector {
    /// The `tracking_limit` diagnostics: every bound on the dissector's state that was
    /// reached (stream-level; JSON: the summary's `diagnostics`).
    pub fn limit_diagnostics(&mut self) -> Vec<Diagnostic> {
        self.stats.sessions_evicted = self.sessions.evicted;
        let mut out = Vec::new();
        let mut push = |offset: u64, message: String| {
            out.push(Diagnostic {
                code: TRACKING_LIMIT,
                offset,
                message,
                unauthenticated: false,
            });
        };
        if let Some(at) = self.sessions.first_eviction_at {
            let n = self.sessions.evicted;
            push(
                at,
                format!(
                    "more than {MAX_KEYLESS_SESSIONS} sessions without keys were active at once: {n} idle one{} evicted (the first here); every frame was still examined, but a replay or handshake check that spans an eviction is not made",
                    if n == 1 { " was" } else { "s were" }
                ),
            );
        }
        if let Some(at) = self.stats.sessions.overflow_at {
            push(
                at,
                format!(
                    "more than {MAX_COUNTED_SESSIONS} distinct session ids: from here on they are not counted, and the session count is a lower bound"
                ),
            );
        }
        if let Some(at) = self.stats.derived_overflow_at {
            push(
                at,
                format!(
                    "keys were derived for {MAX_DERIVED_SESSIONS} handshakes already: later handshakes that use the given ephemeral secret are not decrypted"
                ),
            );
        }
        out
    }

    /// Counts stream diagnostics into the statistics.
    pub fn count_stream(&mut self, diags: &[Diagnostic]) {
        for d in diags {
            self.count(d.code);
        }
    }
}
