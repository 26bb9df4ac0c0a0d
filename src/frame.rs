//! The SBRP binary frame: a 13-byte header `type(1) | length(4) | session_id(8)` (big-endian)
//! followed by `length` payload bytes.
//!
//! Three layers, from loose to strict:
//! - [`FrameHeader`]: the 13 header bytes as read, no rule applied;
//! - [`RawFrame`]: a header that passed the header rules of the validation order (size, type,
//!   session id) with its payload, not yet interpreted (the reference's `decodeFrame`);
//! - [`Frame`]: a fully typed frame whose payload passed its per-type rules.
//!
//! Validation order (protocol §4; the first failing check wins): header readable
//! (`malformed_frame`) → length ≤ 65536 (`payload_too_large`) → known type
//! (`invalid_frame_type`) → session-id rule (`invalid_session_id`) → per-type payload rules.

use core::fmt;
use core::num::NonZeroU64;
use std::borrow::Cow;

use crate::error::{ControlCode, ErrorCode};
use crate::keys::{IdentityPublicKey, KEY_LEN, SIGNATURE_LEN};

/// Size of the frame header.
pub const HEADER_LEN: usize = 13;
/// Largest payload a frame may carry.
pub const MAX_PAYLOAD_LEN: usize = 65536;
/// Largest frame on the wire (header + largest payload).
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_PAYLOAD_LEN;
/// HandshakeInit payload: the client's X25519 public key.
pub const HANDSHAKE_INIT_LEN: usize = 32;
/// HandshakeAccept payload: identity key, ephemeral key, signature.
pub const HANDSHAKE_ACCEPT_LEN: usize = 128;
/// Nonce of a Data payload.
pub const NONCE_LEN: usize = 12;
/// Poly1305 tag of a Data payload.
pub const TAG_LEN: usize = 16;
/// Smallest Data payload (nonce + tag, empty plaintext).
pub const MIN_DATA_LEN: usize = NONCE_LEN + TAG_LEN;
/// Signal payload: signal code, reason.
pub const SIGNAL_LEN: usize = 2;
/// Largest Ping/Pong payload.
pub const MAX_PING_LEN: usize = 8;
/// Smallest Control payload: the 16-bit code.
pub const MIN_CONTROL_LEN: usize = 2;

/// The seven frame types of SBRP v1. Any other type byte is `invalid_frame_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum FrameType {
    /// 0x01, client → daemon.
    HandshakeInit = 0x01,
    /// 0x02, daemon → client.
    HandshakeAccept = 0x02,
    /// 0x03, encrypted application data, both directions.
    Data = 0x03,
    /// 0x04, daemon → relay.
    Signal = 0x04,
    /// 0x10, connection keep-alive.
    Ping = 0x10,
    /// 0x11, answer to a Ping.
    Pong = 0x11,
    /// 0x20, relay → endpoint.
    Control = 0x20,
}

impl FrameType {
    /// All frame types in numeric order.
    pub const ALL: [FrameType; 7] = [
        Self::HandshakeInit,
        Self::HandshakeAccept,
        Self::Data,
        Self::Signal,
        Self::Ping,
        Self::Pong,
        Self::Control,
    ];

    /// The type for a type byte, or `None` for reserved, future and vendor values.
    pub const fn from_u8(byte: u8) -> Option<Self> {
        Some(match byte {
            0x01 => Self::HandshakeInit,
            0x02 => Self::HandshakeAccept,
            0x03 => Self::Data,
            0x04 => Self::Signal,
            0x10 => Self::Ping,
            0x11 => Self::Pong,
            0x20 => Self::Control,
            _ => return None,
        })
    }

    /// The type byte.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The name used by the reference and in our JSON (`"HandshakeInit"`, `"Data"`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Self::HandshakeInit => "HandshakeInit",
            Self::HandshakeAccept => "HandshakeAccept",
            Self::Data => "Data",
            Self::Signal => "Signal",
            Self::Ping => "Ping",
            Self::Pong => "Pong",
            Self::Control => "Control",
        }
    }

    /// The session-id rule for this type.
    pub const fn session_rule(self) -> SessionRule {
        match self {
            Self::HandshakeInit | Self::HandshakeAccept | Self::Data | Self::Signal => {
                SessionRule::NonZero
            }
            Self::Ping | Self::Pong => SessionRule::Zero,
            Self::Control => SessionRule::Any,
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<u8> for FrameType {
    type Error = FrameError;
    fn try_from(byte: u8) -> Result<Self, FrameError> {
        Self::from_u8(byte).ok_or(FrameError::InvalidFrameType { type_byte: byte })
    }
}

/// Which session ids a frame type allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionRule {
    /// Session-bound frames (HandshakeInit, HandshakeAccept, Data, Signal).
    NonZero,
    /// Connection-level frames (Ping, Pong).
    Zero,
    /// Control: zero for the connection, non-zero for a session.
    Any,
}

impl SessionRule {
    /// Whether `session_id` satisfies the rule.
    pub const fn allows(self, session_id: u64) -> bool {
        match self {
            Self::NonZero => session_id != 0,
            Self::Zero => session_id == 0,
            Self::Any => true,
        }
    }

    const fn describe(self) -> &'static str {
        match self {
            Self::NonZero => "a non-zero",
            Self::Zero => "a zero",
            Self::Any => "any",
        }
    }
}

/// A session id that is not zero: what session-bound frames carry.
pub type SessionId = NonZeroU64;

/// Everything that can be wrong with a frame, in the protocol's words. [`FrameError::code`]
/// gives the SBRP error code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer than 13 bytes where a header was expected.
    #[error("malformed_frame: frame too short: {len} bytes, a header needs 13")]
    HeaderTooShort {
        /// Bytes available.
        len: usize,
    },
    /// The header announces more payload than is present.
    #[error(
        "malformed_frame: truncated payload: the header says {expected} bytes, {actual} are present"
    )]
    Truncated {
        /// Payload length from the header.
        expected: usize,
        /// Payload bytes present.
        actual: usize,
    },
    /// Bytes after the frame in a buffer that should hold exactly one frame.
    #[error("malformed_frame: {extra} trailing bytes after a {frame_len}-byte frame")]
    TrailingBytes {
        /// Length of the complete frame.
        frame_len: usize,
        /// Bytes after it.
        extra: usize,
    },
    /// The header's length field exceeds the 65536-byte maximum.
    #[error("payload_too_large: payload length {length} exceeds the maximum of {max}")]
    PayloadTooLarge {
        /// Announced or given length.
        length: u64,
        /// The limit that applies (65536, or 8 for Ping/Pong).
        max: usize,
    },
    /// A type byte that is not one of the seven frame types.
    #[error("invalid_frame_type: unknown frame type 0x{type_byte:02x}")]
    InvalidFrameType {
        /// The type byte.
        type_byte: u8,
    },
    /// A typed decoder was given a frame of another type.
    #[error("invalid_frame_type: expected a {expected} frame, got {actual}")]
    UnexpectedType {
        /// The type the decoder handles.
        expected: FrameType,
        /// The frame's type.
        actual: FrameType,
    },
    /// The session id breaks the frame type's rule.
    #[error(
        "invalid_session_id: a {frame_type} frame needs {} session id, got {session_id}",
        .frame_type.session_rule().describe()
    )]
    InvalidSessionId {
        /// The frame's type.
        frame_type: FrameType,
        /// The session id it carried.
        session_id: u64,
    },
    /// A payload whose size the frame type does not allow.
    #[error("malformed_frame: a {frame_type} payload must be {expected} bytes, got {actual}")]
    BadPayloadLength {
        /// The frame's type.
        frame_type: FrameType,
        /// What the type requires, in words (`"32"`, `"at least 28"`).
        expected: &'static str,
        /// The payload's length.
        actual: usize,
    },
    /// A Signal frame whose signal byte is neither ready (0) nor close (1).
    #[error("malformed_frame: unknown signal code 0x{0:02x} (expected 0x00 ready or 0x01 close)")]
    UnknownSignal(u8),
}

impl FrameError {
    /// The SBRP error code.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::HeaderTooShort { .. }
            | Self::Truncated { .. }
            | Self::TrailingBytes { .. }
            | Self::BadPayloadLength { .. }
            | Self::UnknownSignal(_) => ErrorCode::MalformedFrame,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::InvalidFrameType { .. } | Self::UnexpectedType { .. } => {
                ErrorCode::InvalidFrameType
            }
            Self::InvalidSessionId { .. } => ErrorCode::InvalidSessionId,
        }
    }
}

/// The 13 header bytes, read but not judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// The type byte.
    pub type_byte: u8,
    /// The announced payload length.
    pub length: u32,
    /// The session id.
    pub session_id: u64,
}

impl FrameHeader {
    /// Reads the header fields from 13 bytes.
    pub fn from_bytes(bytes: &[u8; HEADER_LEN]) -> Self {
        let [t, l0, l1, l2, l3, s0, s1, s2, s3, s4, s5, s6, s7] = *bytes;
        Self {
            type_byte: t,
            length: u32::from_be_bytes([l0, l1, l2, l3]),
            session_id: u64::from_be_bytes([s0, s1, s2, s3, s4, s5, s6, s7]),
        }
    }

    /// Reads the header at the start of `buf` (which may hold more).
    pub fn read(buf: &[u8]) -> Result<Self, FrameError> {
        match buf.first_chunk::<HEADER_LEN>() {
            Some(h) => Ok(Self::from_bytes(h)),
            None => Err(FrameError::HeaderTooShort { len: buf.len() }),
        }
    }

    /// The header's bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = self.type_byte;
        out[1..5].copy_from_slice(&self.length.to_be_bytes());
        out[5..13].copy_from_slice(&self.session_id.to_be_bytes());
        out
    }

    /// Applies the header rules in the protocol's order: length, type, session id.
    /// Returns the frame type and the payload length.
    pub fn validate(&self) -> Result<(FrameType, usize), FrameError> {
        let length = self.length as usize;
        if length > MAX_PAYLOAD_LEN {
            return Err(FrameError::PayloadTooLarge {
                length: u64::from(self.length),
                max: MAX_PAYLOAD_LEN,
            });
        }
        let frame_type = FrameType::try_from(self.type_byte)?;
        if !frame_type.session_rule().allows(self.session_id) {
            return Err(FrameError::InvalidSessionId {
                frame_type,
                session_id: self.session_id,
            });
        }
        Ok((frame_type, length))
    }
}

/// Reads and validates the header at the start of `buf`; the payload need not be present
/// (the reference's `readFrameHeader`).
pub fn read_frame_header(buf: &[u8]) -> Result<(FrameType, usize, u64), FrameError> {
    let header = FrameHeader::read(buf)?;
    let (frame_type, length) = header.validate()?;
    Ok((frame_type, length, header.session_id))
}

/// A frame whose header passed the header rules, with its payload not yet interpreted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawFrame<'a> {
    frame_type: FrameType,
    session_id: u64,
    payload: &'a [u8],
}

impl<'a> RawFrame<'a> {
    /// Builds a frame for encoding, applying the header rules in the protocol's order:
    /// payload size first (`payload_too_large`), then the session-id rule
    /// (`invalid_session_id`). Per-type payload rules are checked by [`RawFrame::parse`].
    pub fn new(
        frame_type: FrameType,
        session_id: u64,
        payload: &'a [u8],
    ) -> Result<Self, FrameError> {
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(FrameError::PayloadTooLarge {
                length: payload.len() as u64,
                max: MAX_PAYLOAD_LEN,
            });
        }
        if !frame_type.session_rule().allows(session_id) {
            return Err(FrameError::InvalidSessionId {
                frame_type,
                session_id,
            });
        }
        Ok(Self {
            frame_type,
            session_id,
            payload,
        })
    }

    /// Decodes exactly one frame that fills `buf`, applying the header rules only
    /// (the reference's `decodeFrame`). Use [`decode_frame`] for a fully typed frame.
    pub fn decode(buf: &'a [u8]) -> Result<Self, FrameError> {
        let (frame, used) = Self::decode_prefix(buf)?;
        if used != buf.len() {
            return Err(FrameError::TrailingBytes {
                frame_len: used,
                extra: buf.len() - used,
            });
        }
        Ok(frame)
    }

    /// Decodes the frame at the start of `buf`, returning it and the number of bytes it spans;
    /// bytes after it are left alone.
    pub fn decode_prefix(buf: &'a [u8]) -> Result<(Self, usize), FrameError> {
        let header = FrameHeader::read(buf)?;
        let (frame_type, length) = header.validate()?;
        let rest = &buf[HEADER_LEN..];
        let Some(payload) = rest.get(..length) else {
            return Err(FrameError::Truncated {
                expected: length,
                actual: rest.len(),
            });
        };
        Ok((
            Self {
                frame_type,
                session_id: header.session_id,
                payload,
            },
            HEADER_LEN + length,
        ))
    }

    pub(crate) const fn from_parts_unchecked(
        frame_type: FrameType,
        session_id: u64,
        payload: &'a [u8],
    ) -> Self {
        Self {
            frame_type,
            session_id,
            payload,
        }
    }

    /// The frame type.
    pub const fn frame_type(&self) -> FrameType {
        self.frame_type
    }

    /// The session id (0 for connection-level frames).
    pub const fn session_id(&self) -> u64 {
        self.session_id
    }

    /// The payload bytes.
    pub const fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Length of the frame on the wire.
    pub const fn wire_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// The header of this frame.
    pub fn header(&self) -> FrameHeader {
        FrameHeader {
            type_byte: self.frame_type.as_u8(),
            // `new` and `decode` guarantee the payload fits in 65536 bytes.
            length: self.payload.len() as u32,
            session_id: self.session_id,
        }
    }

    /// Appends the frame's bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.wire_len());
        out.extend_from_slice(&self.header().to_bytes());
        out.extend_from_slice(self.payload);
    }

    /// The frame's bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.wire_len());
        self.encode_into(&mut out);
        out
    }

    fn expect(&self, expected: FrameType) -> Result<(), FrameError> {
        if self.frame_type == expected {
            Ok(())
        } else {
            Err(FrameError::UnexpectedType {
                expected,
                actual: self.frame_type,
            })
        }
    }

    fn bad_len(&self, expected: &'static str) -> FrameError {
        FrameError::BadPayloadLength {
            frame_type: self.frame_type,
            expected,
            actual: self.payload.len(),
        }
    }

    fn session(&self) -> SessionId {
        // Header rules guarantee a non-zero id for session-bound types; a zero here could only
        // come from a bug, and is mapped to the smallest id rather than a panic.
        NonZeroU64::new(self.session_id).unwrap_or(NonZeroU64::MIN)
    }

    /// Interprets a HandshakeInit (the reference's `decodeHandshakeInit`).
    pub fn handshake_init(&self) -> Result<HandshakeInit, FrameError> {
        self.expect(FrameType::HandshakeInit)?;
        let client_key: [u8; KEY_LEN] = self.payload.try_into().map_err(|_| self.bad_len("32"))?;
        Ok(HandshakeInit {
            session_id: self.session(),
            client_key,
        })
    }

    /// Interprets a HandshakeAccept (the reference's `decodeHandshakeAccept`).
    pub fn handshake_accept(&self) -> Result<HandshakeAccept, FrameError> {
        self.expect(FrameType::HandshakeAccept)?;
        let bytes: &[u8; HANDSHAKE_ACCEPT_LEN] =
            self.payload.try_into().map_err(|_| self.bad_len("128"))?;
        let mut identity = [0u8; KEY_LEN];
        let mut ephemeral_key = [0u8; KEY_LEN];
        let mut signature = [0u8; SIGNATURE_LEN];
        identity.copy_from_slice(&bytes[..32]);
        ephemeral_key.copy_from_slice(&bytes[32..64]);
        signature.copy_from_slice(&bytes[64..]);
        Ok(HandshakeAccept {
            session_id: self.session(),
            identity_key: IdentityPublicKey::from_bytes(identity),
            ephemeral_key,
            signature,
        })
    }

    /// Interprets a Data frame (the reference's `decodeData`): nonce fields and sealed bytes.
    pub fn data(&self) -> Result<Data<'a>, FrameError> {
        self.expect(FrameType::Data)?;
        let payload = DataPayload::new(self.payload).ok_or_else(|| self.bad_len("at least 28"))?;
        Ok(Data {
            session_id: self.session(),
            payload,
        })
    }

    /// Interprets a Signal frame (the reference's `decodeSignal`). An unknown signal code is
    /// `malformed_frame`; an unknown reason is kept as [`SignalReason::Unknown`] (§7 D3).
    pub fn signal(&self) -> Result<SignalFrame, FrameError> {
        self.expect(FrameType::Signal)?;
        let [code, reason] = *<&[u8; 2]>::try_from(self.payload).map_err(|_| self.bad_len("2"))?;
        let signal = Signal::from_u8(code).ok_or(FrameError::UnknownSignal(code))?;
        Ok(SignalFrame {
            session_id: self.session(),
            signal,
            reason: SignalReason::from_u8(reason),
        })
    }

    /// Interprets a Ping or Pong payload (at most 8 bytes; more is `payload_too_large`, §7 D4).
    pub fn ping_payload(&self) -> Result<PingPayload, FrameError> {
        if !matches!(self.frame_type, FrameType::Ping | FrameType::Pong) {
            return Err(FrameError::UnexpectedType {
                expected: FrameType::Ping,
                actual: self.frame_type,
            });
        }
        PingPayload::new(self.payload)
    }

    /// Interprets a Control frame (the reference's `decodeControl`): the code (known or not,
    /// §7 D9) and the message bytes, which should be UTF-8 (see [`Control::message_lossy`]).
    pub fn control(&self) -> Result<Control<'a>, FrameError> {
        self.expect(FrameType::Control)?;
        let (code, message) = self
            .payload
            .split_first_chunk::<2>()
            .ok_or_else(|| self.bad_len("at least 2"))?;
        Ok(Control {
            session_id: self.session_id,
            code: ControlCode(u16::from_be_bytes(*code)),
            message,
        })
    }

    /// Applies the per-type payload rules and returns the typed frame.
    pub fn parse(&self) -> Result<Frame<'a>, FrameError> {
        Ok(match self.frame_type {
            FrameType::HandshakeInit => Frame::HandshakeInit(self.handshake_init()?),
            FrameType::HandshakeAccept => Frame::HandshakeAccept(self.handshake_accept()?),
            FrameType::Data => Frame::Data(self.data()?),
            FrameType::Signal => Frame::Signal(self.signal()?),
            FrameType::Ping => Frame::Ping(self.ping_payload()?),
            FrameType::Pong => Frame::Pong(self.ping_payload()?),
            FrameType::Control => Frame::Control(self.control()?),
        })
    }
}

/// Decodes exactly one frame that fills `buf` and applies every rule: header rules in order,
/// then the per-type payload rules.
pub fn decode_frame(buf: &[u8]) -> Result<Frame<'_>, FrameError> {
    RawFrame::decode(buf)?.parse()
}

/// A typed SBRP frame. Session-bound variants carry a [`SessionId`] (never zero), Ping and Pong
/// carry none, so a frame that breaks the session-id rule cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// 0x01
    HandshakeInit(HandshakeInit),
    /// 0x02
    HandshakeAccept(HandshakeAccept),
    /// 0x03
    Data(Data<'a>),
    /// 0x04
    Signal(SignalFrame),
    /// 0x10 (session id 0)
    Ping(PingPayload),
    /// 0x11 (session id 0)
    Pong(PingPayload),
    /// 0x20
    Control(Control<'a>),
}

impl Frame<'_> {
    /// The frame's type.
    pub const fn frame_type(&self) -> FrameType {
        match self {
            Self::HandshakeInit(_) => FrameType::HandshakeInit,
            Self::HandshakeAccept(_) => FrameType::HandshakeAccept,
            Self::Data(_) => FrameType::Data,
            Self::Signal(_) => FrameType::Signal,
            Self::Ping(_) => FrameType::Ping,
            Self::Pong(_) => FrameType::Pong,
            Self::Control(_) => FrameType::Control,
        }
    }

    /// The session id on the wire (0 for Ping, Pong and connection-level Control).
    pub const fn session_id(&self) -> u64 {
        match self {
            Self::HandshakeInit(f) => f.session_id.get(),
            Self::HandshakeAccept(f) => f.session_id.get(),
            Self::Data(f) => f.session_id.get(),
            Self::Signal(f) => f.session_id.get(),
            Self::Ping(_) | Self::Pong(_) => 0,
            Self::Control(f) => f.session_id,
        }
    }

    /// Appends the frame's bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let mut small = [0u8; HANDSHAKE_ACCEPT_LEN];
        let payload: &[u8] = match self {
            Self::HandshakeInit(f) => {
                small[..32].copy_from_slice(&f.client_key);
                &small[..32]
            }
            Self::HandshakeAccept(f) => {
                small = f.payload();
                &small
            }
            Self::Data(f) => f.payload.as_bytes(),
            Self::Signal(f) => {
                small[0] = f.signal as u8;
                small[1] = f.reason.as_u8();
                &small[..2]
            }
            Self::Ping(p) | Self::Pong(p) => p.as_bytes(),
            Self::Control(f) => {
                // Control frames are rare; build the payload in the output directly.
                let len = 2 + f.message.len();
                out.reserve(HEADER_LEN + len);
                let header = FrameHeader {
                    type_byte: FrameType::Control.as_u8(),
                    length: len as u32,
                    session_id: f.session_id,
                };
                out.extend_from_slice(&header.to_bytes());
                out.extend_from_slice(&f.code.0.to_be_bytes());
                out.extend_from_slice(f.message);
                return;
            }
        };
        RawFrame::from_parts_unchecked(self.frame_type(), self.session_id(), payload)
            .encode_into(out);
    }

    /// The frame's bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

/// HandshakeInit: the client's ephemeral X25519 public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandshakeInit {
    /// The session being opened.
    pub session_id: SessionId,
    /// The client's X25519 ephemeral public key.
    pub client_key: [u8; KEY_LEN],
}

/// HandshakeAccept: the daemon's identity key, ephemeral key and signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandshakeAccept {
    /// The session being opened.
    pub session_id: SessionId,
    /// The daemon's advertised Ed25519 identity key.
    pub identity_key: IdentityPublicKey,
    /// The daemon's X25519 ephemeral public key.
    pub ephemeral_key: [u8; KEY_LEN],
    /// Ed25519 signature over the handshake hash.
    pub signature: [u8; SIGNATURE_LEN],
}

impl HandshakeAccept {
    /// The 128-byte payload `identity || ephemeral || signature`.
    pub fn payload(&self) -> [u8; HANDSHAKE_ACCEPT_LEN] {
        let mut out = [0u8; HANDSHAKE_ACCEPT_LEN];
        out[..32].copy_from_slice(self.identity_key.as_bytes());
        out[32..64].copy_from_slice(&self.ephemeral_key);
        out[64..].copy_from_slice(&self.signature);
        out
    }
}

/// Who sent a Data frame, as written in the first four bytes of its nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Direction {
    /// 1
    ClientToDaemon = 1,
    /// 2
    DaemonToClient = 2,
}

impl Direction {
    /// The direction for a nonce's first four bytes.
    pub const fn from_u32(value: u32) -> Option<Self> {
        match value {
            1 => Some(Self::ClientToDaemon),
            2 => Some(Self::DaemonToClient),
            _ => None,
        }
    }

    /// The value written in the nonce.
    pub const fn as_u32(self) -> u32 {
        self as u32
    }

    /// The other direction.
    pub const fn reverse(self) -> Self {
        match self {
            Self::ClientToDaemon => Self::DaemonToClient,
            Self::DaemonToClient => Self::ClientToDaemon,
        }
    }

    /// `"client_to_daemon"` or `"daemon_to_client"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ClientToDaemon => "client_to_daemon",
            Self::DaemonToClient => "daemon_to_client",
        }
    }

    /// The 12-byte nonce for `seq` in this direction.
    pub fn nonce(self, seq: u64) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..4].copy_from_slice(&self.as_u32().to_be_bytes());
        nonce[4..].copy_from_slice(&seq.to_be_bytes());
        nonce
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Data payload: `nonce(12) || ciphertext || tag(16)`, at least 28 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataPayload<'a>(&'a [u8]);

impl<'a> DataPayload<'a> {
    /// Wraps a payload of 28 to 65536 bytes.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        (MIN_DATA_LEN..=MAX_PAYLOAD_LEN)
            .contains(&bytes.len())
            .then_some(Self(bytes))
    }

    /// The whole payload.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The 12-byte nonce.
    pub fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(&self.0[..NONCE_LEN]);
        n
    }

    /// The nonce's first four bytes as a number (1 or 2 for a valid sender).
    pub fn direction_raw(&self) -> u32 {
        u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }

    /// The nonce's direction, if it is 1 or 2.
    pub fn direction(&self) -> Option<Direction> {
        Direction::from_u32(self.direction_raw())
    }

    /// The sequence number in the nonce's last eight bytes.
    pub fn seq(&self) -> u64 {
        let mut s = [0u8; 8];
        s.copy_from_slice(&self.0[4..NONCE_LEN]);
        u64::from_be_bytes(s)
    }

    /// The ciphertext without nonce and tag.
    pub fn ciphertext(&self) -> &'a [u8] {
        &self.0[NONCE_LEN..self.0.len() - TAG_LEN]
    }

    /// The 16-byte tag.
    pub fn tag(&self) -> [u8; TAG_LEN] {
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(&self.0[self.0.len() - TAG_LEN..]);
        t
    }
}

/// A Data frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Data<'a> {
    /// The session the data belongs to.
    pub session_id: SessionId,
    /// The sealed payload.
    pub payload: DataPayload<'a>,
}

/// The signal byte of a Signal frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Signal {
    /// 0x00: the daemon is ready for the session.
    Ready = 0x00,
    /// 0x01: the daemon closes the session.
    Close = 0x01,
}

impl Signal {
    /// The signal for a byte, if known.
    pub const fn from_u8(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Self::Ready),
            1 => Some(Self::Close),
            _ => None,
        }
    }

    /// `"ready"` or `"close"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Close => "close",
        }
    }
}

/// The reason byte of a Signal frame. Unknown values are kept (§7 D3) and treated as `none`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignalReason {
    /// 0x00
    None,
    /// 0x01
    StateLost,
    /// 0x02
    Shutdown,
    /// 0x03
    Policy,
    /// 0x04
    Error,
    /// Any other byte: reported, treated as `None`.
    Unknown(u8),
}

impl SignalReason {
    /// The reason for a byte.
    pub const fn from_u8(byte: u8) -> Self {
        match byte {
            0 => Self::None,
            1 => Self::StateLost,
            2 => Self::Shutdown,
            3 => Self::Policy,
            4 => Self::Error,
            other => Self::Unknown(other),
        }
    }

    /// The byte on the wire.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::None => 0,
            Self::StateLost => 1,
            Self::Shutdown => 2,
            Self::Policy => 3,
            Self::Error => 4,
            Self::Unknown(b) => b,
        }
    }

    /// `"none"`, `"state_lost"`, `"shutdown"`, `"policy"`, `"error"` or `"unknown"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::StateLost => "state_lost",
            Self::Shutdown => "shutdown",
            Self::Policy => "policy",
            Self::Error => "error",
            Self::Unknown(_) => "unknown",
        }
    }
}

/// A Signal frame (daemon → relay).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalFrame {
    /// The session the signal is about.
    pub session_id: SessionId,
    /// Ready or close.
    pub signal: Signal,
    /// Why.
    pub reason: SignalReason,
}

/// The 0–8 opaque bytes of a Ping or Pong.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PingPayload {
    len: u8,
    bytes: [u8; MAX_PING_LEN],
}

impl PingPayload {
    /// Wraps at most 8 bytes; more is `payload_too_large`.
    pub fn new(bytes: &[u8]) -> Result<Self, FrameError> {
        if bytes.len() > MAX_PING_LEN {
            return Err(FrameError::PayloadTooLarge {
                length: bytes.len() as u64,
                max: MAX_PING_LEN,
            });
        }
        let mut out = Self {
            len: bytes.len() as u8,
            bytes: [0; MAX_PING_LEN],
        };
        out.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(out)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for PingPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PingPayload({})",
            crate::keys::hex_lower(self.as_bytes())
        )
    }
}

/// A Control frame (relay → endpoint): a code and an optional UTF-8 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Control<'a> {
    /// 0 for the connection, else the session concerned.
    pub session_id: u64,
    /// The code, known or not.
    pub code: ControlCode,
    /// The message bytes (UTF-8 expected, not guaranteed); at most 65534 bytes.
    message: &'a [u8],
}

/// Largest Control message: the payload limit less the 2-byte code.
pub const MAX_CONTROL_MESSAGE_LEN: usize = MAX_PAYLOAD_LEN - MIN_CONTROL_LEN;

impl<'a> Control<'a> {
    /// A Control frame; a message longer than 65534 bytes would not fit in a frame and is
    /// `payload_too_large`.
    pub fn new(session_id: u64, code: ControlCode, message: &'a [u8]) -> Result<Self, FrameError> {
        if message.len() > MAX_CONTROL_MESSAGE_LEN {
            return Err(FrameError::PayloadTooLarge {
                length: (message.len() + MIN_CONTROL_LEN) as u64,
                max: MAX_PAYLOAD_LEN,
            });
        }
        Ok(Self {
            session_id,
            code,
            message,
        })
    }

    /// The message bytes (UTF-8 expected, not guaranteed).
    pub const fn message(&self) -> &'a [u8] {
        self.message
    }

    /// The message with invalid UTF-8 replaced by U+FFFD (as the reference does).
    pub fn message_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example_headers() {
        let ping = Frame::Ping(PingPayload::new(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap()).to_vec();
        assert_eq!(
            hex::encode(&ping),
            "10000000080000000000000000".to_owned() + "0102030405060708"
        );
        let control = Frame::Control(Control {
            session_id: 1,
            code: ErrorCode::SessionPaused.into(),
            message: b"",
        })
        .to_vec();
        assert_eq!(
            hex::encode(control),
            "2000000002".to_owned() + "0000000000000001" + "1001"
        );
    }

    #[test]
    fn a_control_message_too_long_for_a_frame_cannot_be_built() {
        let long = vec![b'x'; MAX_CONTROL_MESSAGE_LEN + 1];
        assert_eq!(
            Control::new(0, ErrorCode::InternalError.into(), &long)
                .unwrap_err()
                .code(),
            ErrorCode::PayloadTooLarge
        );
        let fits = &long[..MAX_CONTROL_MESSAGE_LEN];
        let frame = Frame::Control(Control::new(0, ErrorCode::InternalError.into(), fits).unwrap());
        let bytes = frame.to_vec();
        assert_eq!(bytes.len(), MAX_FRAME_LEN);
        assert_eq!(decode_frame(&bytes).unwrap(), frame);
    }

    #[test]
    fn size_is_checked_before_type_and_session() {
        // Unknown type with an oversized length: payload_too_large (D1).
        let h = hex::decode("99000100010000000000000000").unwrap();
        assert_eq!(
            read_frame_header(&h).unwrap_err().code(),
            ErrorCode::PayloadTooLarge
        );
        // Known type, zero session id: invalid_session_id (D2).
        let h = hex::decode("030000001c0000000000000000").unwrap();
        assert_eq!(
            read_frame_header(&h).unwrap_err().code(),
            ErrorCode::InvalidSessionId
        );
    }
}
