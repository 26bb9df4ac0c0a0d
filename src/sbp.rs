//! SBP v1, the Sideband protocol that rides inside SBRP Data plaintexts: frame codec and the
//! Handshake payload. No I/O, no clock, no panic on any input.
//!
//! A frame is `kind(1) | flags(1) | frame_id(16) | [timestamp i64 LE, when flags bit 0] |
//! body`, all integers little-endian:
//!
//! | kind | body |
//! |---|---|
//! | 0 Control | `op(1) | data`: 0 Handshake (UTF-8 JSON, required), 1 Ping and 2 Pong (no data), 3 Close (optional reason) |
//! | 1 Message | `subject_len u32 | subject (UTF-8) | data` |
//! | 2 Ack | the acknowledged 16-byte frame id, nothing after it |
//! | 3 Error | `code u16 | msg_len u32 | message (UTF-8) | details` |
//!
//! [`Frame::decode`] borrows from the input and allocates nothing: a length read from the wire
//! is compared with the bytes present before anything is sliced. A [`Reader`] cursor reads the
//! fields and names the one that is missing when the input ends early.
//!
//! Errors carry the SBP code names of the reference's error-code registry
//! ([`WireCode`]): a structural fault is `InvalidFrame`, a subject that breaks the namespace
//! rules is `ProtocolViolation` (as the reference classifies it), a Handshake for another
//! protocol or version is `UnsupportedVersion`.
//!
//! Stricter than the reference (documented in `docs/sbp.md`): a subject or an Error message
//! that is not valid UTF-8 is refused (`InvalidFrame`) instead of being decoded with U+FFFD.
//!
//! ```
//! use sbrp::sbp::{Body, Frame, FrameId};
//! let id = FrameId([7; 16]);
//! let bytes = Frame::message(id, "rpc", br#"{"t":"N"}"#).encode();
//! let frame = Frame::decode(&bytes).unwrap();
//! assert_eq!(frame.frame_id, id);
//! assert!(matches!(frame.body, Body::Message { subject: "rpc", .. }));
//! ```

use core::fmt;

pub mod endpoint;

/// Length of a frame id.
pub const FRAME_ID_LEN: usize = 16;
/// Flags bit 0: an 8-byte timestamp follows the frame id.
pub const FLAG_TIMESTAMP: u8 = 0x01;
/// Flags bits 1–7: reserved, must be zero in v1.
pub const RESERVED_FLAGS: u8 = 0xfe;
/// Bytes before the timestamp: kind, flags, frame id.
pub const HEADER_LEN: usize = 2 + FRAME_ID_LEN;
/// Longest subject, in UTF-8 bytes.
pub const MAX_SUBJECT_LEN: usize = 256;
/// The Handshake's `protocol`.
pub const PROTOCOL_NAME: &str = "sideband";
/// The Handshake's `version`.
pub const PROTOCOL_VERSION: &str = "1";

/// The numeric codes of the reference's error-code registry (SBP 1000–1099, RPC 1100–1199,
/// application 2000+), with their names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum WireCode {
    /// 1000, fatal: generic protocol contract violation.
    ProtocolViolation = 1000,
    /// 1001, fatal: the peer advertised an incompatible protocol or version.
    UnsupportedVersion = 1001,
    /// 1002: frame structure or encoding error.
    InvalidFrame = 1002,
    /// 1003, not fatal: a reserved feature, or one that needs a capability.
    UnsupportedFeature = 1003,
    /// 1100: RPC envelope structure or encoding error.
    InvalidEnvelope = 1100,
    /// 1101: the method is not recognised by the handler.
    UnsupportedMethod = 1101,
    /// 1102: a response's cid matches no pending request.
    CorrelationMismatch = 1102,
    /// 1103: the request timed out.
    Timeout = 1103,
    /// 1104: the envelope type does not belong to its subject.
    EnvelopeMismatch = 1104,
    /// 2000: catch-all application error.
    ApplicationError = 2000,
}

impl WireCode {
    /// Every registered code, in numeric order.
    pub const ALL: [WireCode; 10] = [
        Self::ProtocolViolation,
        Self::UnsupportedVersion,
        Self::InvalidFrame,
        Self::UnsupportedFeature,
        Self::InvalidEnvelope,
        Self::UnsupportedMethod,
        Self::CorrelationMismatch,
        Self::Timeout,
        Self::EnvelopeMismatch,
        Self::ApplicationError,
    ];

    /// The numeric value.
    pub const fn value(self) -> u16 {
        self as u16
    }

    /// The registry's name (`InvalidFrame`, `UnsupportedMethod`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Self::ProtocolViolation => "ProtocolViolation",
            Self::UnsupportedVersion => "UnsupportedVersion",
            Self::InvalidFrame => "InvalidFrame",
            Self::UnsupportedFeature => "UnsupportedFeature",
            Self::InvalidEnvelope => "InvalidEnvelope",
            Self::UnsupportedMethod => "UnsupportedMethod",
            Self::CorrelationMismatch => "CorrelationMismatch",
            Self::Timeout => "Timeout",
            Self::EnvelopeMismatch => "EnvelopeMismatch",
            Self::ApplicationError => "ApplicationError",
        }
    }

    /// Looks a registered code up by value.
    pub fn from_value(value: i64) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| i64::from(c.value()) == value)
    }

    /// The name of any code value: the registry's name, or the range it falls in
    /// (`SBP reserved`, `RPC reserved`, `reserved`, `application`, `unregistered`).
    pub fn describe(value: i64) -> &'static str {
        match Self::from_value(value) {
            Some(c) => c.name(),
            None => match value {
                1000..=1099 => "SBP reserved",
                1100..=1199 => "RPC reserved",
                1200..=1999 => "reserved",
                2000.. => "application",
                _ => "unregistered",
            },
        }
    }
}

impl fmt::Display for WireCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A 16-byte frame id: opaque, compared and shown as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FrameId(pub [u8; FRAME_ID_LEN]);

impl FrameId {
    /// A random frame id from the system RNG.
    pub fn random() -> Result<Self, crate::RngError> {
        let mut id = [0u8; FRAME_ID_LEN];
        crate::keys::random_bytes(&mut id)?;
        Ok(Self(id))
    }

    /// 32 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex_lower(&self.0)
    }

    /// Parses exactly 32 lowercase hex digits (the RPC `cid` form); anything else is `None`.
    pub fn from_hex(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() != 2 * FRAME_ID_LEN {
            return None;
        }
        let mut out = [0u8; FRAME_ID_LEN];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            out[i] = (lower_hex_digit(pair[0])? << 4) | lower_hex_digit(pair[1])?;
        }
        Some(Self(out))
    }
}

fn lower_hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

impl fmt::Debug for FrameId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FrameId({})", self.to_hex())
    }
}

impl fmt::Display for FrameId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The frame kinds of SBP v1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// 0.
    Control = 0,
    /// 1.
    Message = 1,
    /// 2.
    Ack = 2,
    /// 3.
    Error = 3,
}

impl Kind {
    /// The kind of a kind byte.
    pub const fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::Control),
            1 => Some(Self::Message),
            2 => Some(Self::Ack),
            3 => Some(Self::Error),
            _ => None,
        }
    }

    /// Lower-case name (`control`, `message`, `ack`, `error`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Control => "control",
            Self::Message => "message",
            Self::Ack => "ack",
            Self::Error => "error",
        }
    }
}

/// The Control operations of SBP v1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ControlOp {
    /// 0: the Handshake, with its JSON payload.
    Handshake = 0,
    /// 1.
    Ping = 1,
    /// 2.
    Pong = 2,
    /// 3: with an optional reason.
    Close = 3,
}

impl ControlOp {
    /// The op of an op byte.
    pub const fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::Handshake),
            1 => Some(Self::Ping),
            2 => Some(Self::Pong),
            3 => Some(Self::Close),
            _ => None,
        }
    }

    /// Lower-case name (`handshake`, `ping`, `pong`, `close`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Handshake => "handshake",
            Self::Ping => "ping",
            Self::Pong => "pong",
            Self::Close => "close",
        }
    }
}

/// Why a subject is refused (the reference classes all of these `ProtocolViolation`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    /// Zero bytes.
    #[error("the subject is empty")]
    Empty,
    /// Longer than [`MAX_SUBJECT_LEN`].
    #[error("the subject is {0} bytes, more than the {MAX_SUBJECT_LEN} allowed")]
    TooLong(usize),
    /// Holds U+0000.
    #[error("the subject contains a NUL character")]
    Nul,
    /// Not `rpc`, `event`, `stream` or `app/…`.
    #[error("the subject is none of rpc, event, stream or app/…")]
    Namespace,
}

/// The channel a valid subject names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// `rpc`: requests, responses and RPC errors.
    Rpc,
    /// `event`: notifications.
    Event,
    /// `stream`: reserved for v2.
    Stream,
    /// `app/…`: vendor-defined, not an RPC envelope.
    App,
}

impl Channel {
    /// The channel of a subject, checking every subject rule.
    pub fn of(subject: &str) -> Result<Self, SubjectError> {
        if subject.is_empty() {
            return Err(SubjectError::Empty);
        }
        if subject.len() > MAX_SUBJECT_LEN {
            return Err(SubjectError::TooLong(subject.len()));
        }
        if subject.as_bytes().contains(&0) {
            return Err(SubjectError::Nul);
        }
        match subject {
            "rpc" => Ok(Self::Rpc),
            "event" => Ok(Self::Event),
            "stream" => Ok(Self::Stream),
            s if s.starts_with("app/") => Ok(Self::App),
            _ => Err(SubjectError::Namespace),
        }
    }

    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Rpc => "rpc",
            Self::Event => "event",
            Self::Stream => "stream",
            Self::App => "app",
        }
    }
}

/// Why bytes are not an SBP frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SbpError {
    /// The input ended inside a field.
    #[error("InvalidFrame: the frame ends inside {field} ({have} of its {need} bytes present)")]
    Truncated {
        /// The field that is incomplete.
        field: &'static str,
        /// Its length.
        need: usize,
        /// Bytes that were left.
        have: usize,
        /// Offset of the field in the frame.
        offset: usize,
    },
    /// A reserved flag bit (1–7) is set.
    #[error("InvalidFrame: reserved flag bits set (flags 0x{0:02x}, only bit 0 is defined)")]
    ReservedFlags(u8),
    /// A kind byte above 3.
    #[error("InvalidFrame: unknown frame kind {0}")]
    UnknownKind(u8),
    /// A Control op above 3.
    #[error("InvalidFrame: unknown control op {0}")]
    UnknownOp(u8),
    /// A Handshake without its JSON payload.
    #[error("InvalidFrame: a Handshake must carry its JSON payload")]
    EmptyHandshake,
    /// Data after a Ping or Pong.
    #[error("InvalidFrame: a {op} carries no data, got {len} bytes")]
    ControlData {
        /// `ping` or `pong`.
        op: &'static str,
        /// Bytes present.
        len: usize,
    },
    /// Bytes after an Ack's frame id.
    #[error("InvalidFrame: {0} bytes after the Ack's frame id")]
    AckTrailing(usize),
    /// A text field that is not UTF-8.
    #[error("InvalidFrame: the {field} is not valid UTF-8 (byte {at} of it)")]
    Utf8 {
        /// `subject` or `message`.
        field: &'static str,
        /// Offset of the field in the frame.
        offset: usize,
        /// First invalid byte, relative to the field.
        at: usize,
    },
    /// The subject breaks a namespace rule.
    #[error("ProtocolViolation: {0}")]
    Subject(SubjectError),
    /// A Handshake payload that is not the Handshake JSON.
    #[error("InvalidFrame: handshake payload: {0}")]
    Handshake(String),
    /// A Handshake for another protocol or version.
    #[error("UnsupportedVersion: the peer speaks {protocol:?} version {version:?}, not sideband 1")]
    Version {
        /// Its `protocol`.
        protocol: String,
        /// Its `version`.
        version: String,
    },
}

impl SbpError {
    /// The registry code of this fault.
    pub fn code(&self) -> WireCode {
        match self {
            Self::Subject(_) => WireCode::ProtocolViolation,
            Self::Version { .. } => WireCode::UnsupportedVersion,
            _ => WireCode::InvalidFrame,
        }
    }

    /// The offset inside the frame the fault is at, when it has one.
    pub fn offset(&self) -> usize {
        match self {
            Self::Truncated { offset, .. } => *offset,
            Self::Utf8 { offset, at, .. } => offset + at,
            Self::ReservedFlags(_) => 1,
            Self::UnknownKind(_) => 0,
            Self::UnknownOp(_) | Self::EmptyHandshake | Self::ControlData { .. } => 0,
            _ => 0,
        }
    }
}

/// A cursor over a frame that names the field it could not read.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes read so far.
    pub const fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes, or the error that names `field`.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], SbpError> {
        let have = self.remaining();
        if n > have {
            return Err(SbpError::Truncated {
                field,
                need: n,
                have,
                offset: self.pos,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Exactly `N` bytes.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], SbpError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, SbpError> {
        Ok(self.array::<1>(field)?[0])
    }

    /// A little-endian u16.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, SbpError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    /// A little-endian u32, as a length.
    pub fn len32(&mut self, field: &'static str) -> Result<usize, SbpError> {
        let v = u32::from_le_bytes(self.array(field)?);
        // A length that does not fit in usize is longer than any input.
        Ok(usize::try_from(v).unwrap_or(usize::MAX))
    }

    /// A little-endian i64.
    pub fn i64(&mut self, field: &'static str) -> Result<i64, SbpError> {
        Ok(i64::from_le_bytes(self.array(field)?))
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }
}

/// The body of a frame, by kind and op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// Control Handshake: the JSON payload (parse it with [`Handshake::parse`]).
    Handshake(&'a [u8]),
    /// Control Ping.
    Ping,
    /// Control Pong.
    Pong,
    /// Control Close, with its reason (empty when none; meant to be UTF-8, not checked).
    Close(&'a [u8]),
    /// A Message.
    Message {
        /// A subject that passed every subject rule.
        subject: &'a str,
        /// Opaque data (an RPC envelope on `rpc` and `event`).
        data: &'a [u8],
    },
    /// An Ack of a frame id.
    Ack(FrameId),
    /// An Error.
    Error {
        /// The code (see [`WireCode`]).
        code: u16,
        /// The message.
        message: &'a str,
        /// Opaque details (empty when none).
        details: &'a [u8],
    },
}

impl Body<'_> {
    /// The frame kind.
    pub const fn kind(&self) -> Kind {
        match self {
            Self::Handshake(_) | Self::Ping | Self::Pong | Self::Close(_) => Kind::Control,
            Self::Message { .. } => Kind::Message,
            Self::Ack(_) => Kind::Ack,
            Self::Error { .. } => Kind::Error,
        }
    }

    /// The Control op, for Control frames.
    pub const fn op(&self) -> Option<ControlOp> {
        match self {
            Self::Handshake(_) => Some(ControlOp::Handshake),
            Self::Ping => Some(ControlOp::Ping),
            Self::Pong => Some(ControlOp::Pong),
            Self::Close(_) => Some(ControlOp::Close),
            _ => None,
        }
    }
}

/// One SBP frame, borrowing its variable fields from the bytes it was decoded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The frame id.
    pub frame_id: FrameId,
    /// Milliseconds since the Unix epoch, when flags bit 0 is set.
    pub timestamp: Option<i64>,
    /// The body.
    pub body: Body<'a>,
}

/// A field of an encoded frame, for dissectors: its name, offset and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpan {
    /// Dotted name (`sbp.kind`, `sbp.subject`, …).
    pub name: &'static str,
    /// Offset in the frame.
    pub offset: usize,
    /// Length in bytes.
    pub length: usize,
}

impl<'a> Frame<'a> {
    /// Decodes one frame that fills `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, SbpError> {
        let mut r = Reader::new(bytes);
        let kind_byte = r.u8("the kind")?;
        let flags = r.u8("the flags")?;
        if flags & RESERVED_FLAGS != 0 {
            return Err(SbpError::ReservedFlags(flags));
        }
        let frame_id = FrameId(r.array("the frame id")?);
        let timestamp = if flags & FLAG_TIMESTAMP != 0 {
            Some(r.i64("the timestamp")?)
        } else {
            None
        };
        let kind = Kind::from_u8(kind_byte).ok_or(SbpError::UnknownKind(kind_byte))?;
        let body = match kind {
            Kind::Control => {
                let op_byte = r.u8("the control op")?;
                let op = ControlOp::from_u8(op_byte).ok_or(SbpError::UnknownOp(op_byte))?;
                let data = r.rest();
                match op {
                    ControlOp::Handshake if data.is_empty() => {
                        return Err(SbpError::EmptyHandshake);
                    }
                    ControlOp::Handshake => Body::Handshake(data),
                    ControlOp::Ping | ControlOp::Pong if !data.is_empty() => {
                        return Err(SbpError::ControlData {
                            op: op.name(),
                            len: data.len(),
                        });
                    }
                    ControlOp::Ping => Body::Ping,
                    ControlOp::Pong => Body::Pong,
                    ControlOp::Close => Body::Close(data),
                }
            }
            Kind::Message => {
                let len = r.len32("the subject length")?;
                let at = r.position();
                let raw = r.take(len, "the subject")?;
                let subject = utf8(raw, "subject", at)?;
                Channel::of(subject).map_err(SbpError::Subject)?;
                Body::Message {
                    subject,
                    data: r.rest(),
                }
            }
            Kind::Ack => {
                let id = FrameId(r.array("the acknowledged frame id")?);
                if r.remaining() > 0 {
                    return Err(SbpError::AckTrailing(r.remaining()));
                }
                Body::Ack(id)
            }
            Kind::Error => {
                let code = r.u16("the error code")?;
                let len = r.len32("the message length")?;
                let at = r.position();
                let message = utf8(r.take(len, "the message")?, "message", at)?;
                Body::Error {
                    code,
                    message,
                    details: r.rest(),
                }
            }
        };
        Ok(Self {
            frame_id,
            timestamp,
            body,
        })
    }

    /// A Control Handshake frame carrying `json` (the encoded [`Handshake`]).
    pub const fn handshake(frame_id: FrameId, json: &'a [u8]) -> Self {
        Self {
            frame_id,
            timestamp: None,
            body: Body::Handshake(json),
        }
    }

    /// A Message frame.
    pub const fn message(frame_id: FrameId, subject: &'a str, data: &'a [u8]) -> Self {
        Self {
            frame_id,
            timestamp: None,
            body: Body::Message { subject, data },
        }
    }

    /// The same frame with a timestamp.
    pub const fn with_timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }

    /// Length of the encoding.
    pub fn encoded_len(&self) -> usize {
        let ts = if self.timestamp.is_some() { 8 } else { 0 };
        HEADER_LEN
            + ts
            + match &self.body {
                Body::Handshake(d) | Body::Close(d) => 1 + d.len(),
                Body::Ping | Body::Pong => 1,
                Body::Message { subject, data } => 4 + subject.len() + data.len(),
                Body::Ack(_) => FRAME_ID_LEN,
                Body::Error {
                    message, details, ..
                } => 6 + message.len() + details.len(),
            }
    }

    /// Checks what [`Frame::decode`] would refuse: the subject rules, a non-empty Handshake,
    /// lengths that fit in u32.
    pub fn validate(&self) -> Result<(), SbpError> {
        match &self.body {
            Body::Handshake([]) => Err(SbpError::EmptyHandshake),
            Body::Message { subject, .. } => {
                Channel::of(subject).map(|_| ()).map_err(SbpError::Subject)
            }
            Body::Error { message, .. } if u32::try_from(message.len()).is_err() => {
                Err(SbpError::Truncated {
                    field: "the message",
                    need: message.len(),
                    have: u32::MAX as usize,
                    offset: 0,
                })
            }
            _ => Ok(()),
        }
    }

    /// Appends the encoding to `out`. A frame that [`Frame::validate`] refuses encodes to
    /// bytes that [`Frame::decode`] refuses too.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.push(self.body.kind() as u8);
        out.push(if self.timestamp.is_some() {
            FLAG_TIMESTAMP
        } else {
            0
        });
        out.extend_from_slice(&self.frame_id.0);
        if let Some(ts) = self.timestamp {
            out.extend_from_slice(&ts.to_le_bytes());
        }
        match &self.body {
            Body::Handshake(d) => {
                out.push(ControlOp::Handshake as u8);
                out.extend_from_slice(d);
            }
            Body::Ping => out.push(ControlOp::Ping as u8),
            Body::Pong => out.push(ControlOp::Pong as u8),
            Body::Close(d) => {
                out.push(ControlOp::Close as u8);
                out.extend_from_slice(d);
            }
            Body::Message { subject, data } => {
                out.extend_from_slice(&len32(subject.len()).to_le_bytes());
                out.extend_from_slice(subject.as_bytes());
                out.extend_from_slice(data);
            }
            Body::Ack(id) => out.extend_from_slice(&id.0),
            Body::Error {
                code,
                message,
                details,
            } => {
                out.extend_from_slice(&code.to_le_bytes());
                out.extend_from_slice(&len32(message.len()).to_le_bytes());
                out.extend_from_slice(message.as_bytes());
                out.extend_from_slice(details);
            }
        }
    }

    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Where each field of the encoding lies, in order.
    pub fn fields(&self) -> Vec<FieldSpan> {
        let mut v = Vec::with_capacity(8);
        let mut at = 0;
        let mut push = |name, length| {
            v.push(FieldSpan {
                name,
                offset: at,
                length,
            });
            at += length;
        };
        push("sbp.kind", 1);
        push("sbp.flags", 1);
        push("sbp.frame_id", FRAME_ID_LEN);
        if self.timestamp.is_some() {
            push("sbp.timestamp", 8);
        }
        match &self.body {
            Body::Handshake(d) => {
                push("sbp.op", 1);
                push("sbp.handshake", d.len());
            }
            Body::Ping | Body::Pong => push("sbp.op", 1),
            Body::Close(d) => {
                push("sbp.op", 1);
                if !d.is_empty() {
                    push("sbp.reason", d.len());
                }
            }
            Body::Message { subject, data } => {
                push("sbp.subject_len", 4);
                push("sbp.subject", subject.len());
                if !data.is_empty() {
                    push("sbp.data", data.len());
                }
            }
            Body::Ack(_) => push("sbp.ack_id", FRAME_ID_LEN),
            Body::Error {
                message, details, ..
            } => {
                push("sbp.code", 2);
                push("sbp.message_len", 4);
                if !message.is_empty() {
                    push("sbp.message", message.len());
                }
                if !details.is_empty() {
                    push("sbp.details", details.len());
                }
            }
        }
        v
    }
}

/// A length as the u32 of the wire; a longer one (which no SBRP plaintext can carry) is
/// clamped, so the encoding is refused on decode.
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn utf8<'a>(raw: &'a [u8], field: &'static str, offset: usize) -> Result<&'a str, SbpError> {
    core::str::from_utf8(raw).map_err(|e| SbpError::Utf8 {
        field,
        offset,
        at: e.valid_up_to(),
    })
}

/// The Handshake payload: `{"protocol":"sideband","version":"1","peerId":…,"caps"?:[…],
/// "metadata"?:{…}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// `peerId`.
    pub peer_id: String,
    /// `caps` (empty when absent).
    pub caps: Vec<String>,
    /// `metadata`, when present.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Handshake {
    /// A handshake for `peer_id` advertising `caps`.
    pub fn new(peer_id: impl Into<String>, caps: &[&str]) -> Self {
        Self {
            peer_id: peer_id.into(),
            caps: caps.iter().map(|c| (*c).to_owned()).collect(),
            metadata: None,
        }
    }

    /// True when `caps` holds `cap`.
    pub fn has_cap(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c == cap)
    }

    /// Parses and checks a Handshake payload: `InvalidFrame` when it is not the Handshake
    /// JSON (the required strings missing, `caps` not a list of strings, `metadata` not an
    /// object), `UnsupportedVersion` when it is for another protocol or version. Unknown keys
    /// are ignored.
    pub fn parse(json: &[u8]) -> Result<Self, SbpError> {
        let value: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| SbpError::Handshake(format!("not JSON ({e})")))?;
        let serde_json::Value::Object(obj) = value else {
            return Err(SbpError::Handshake("not a JSON object".into()));
        };
        let string = |key: &str| match obj.get(key) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(SbpError::Handshake(format!("{key:?} is not a string"))),
            None => Err(SbpError::Handshake(format!("{key:?} is missing"))),
        };
        let protocol = string("protocol")?;
        let version = string("version")?;
        let peer_id = string("peerId")?;
        if protocol != PROTOCOL_NAME || version != PROTOCOL_VERSION {
            return Err(SbpError::Version { protocol, version });
        }
        let caps = match obj.get("caps") {
            None => Vec::new(),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|c| c.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| SbpError::Handshake("\"caps\" holds a non-string".into()))?,
            Some(_) => return Err(SbpError::Handshake("\"caps\" is not a list".into())),
        };
        let metadata = match obj.get("metadata") {
            None => None,
            Some(serde_json::Value::Object(m)) => Some(m.clone()),
            Some(_) => return Err(SbpError::Handshake("\"metadata\" is not an object".into())),
        };
        Ok(Self {
            peer_id,
            caps,
            metadata,
        })
    }

    /// The JSON payload.
    pub fn to_json(&self) -> Vec<u8> {
        let mut obj = serde_json::Map::new();
        obj.insert("protocol".into(), PROTOCOL_NAME.into());
        obj.insert("version".into(), PROTOCOL_VERSION.into());
        obj.insert("peerId".into(), self.peer_id.clone().into());
        if !self.caps.is_empty() {
            obj.insert("caps".into(), self.caps.clone().into());
        }
        if let Some(m) = &self.metadata {
            obj.insert("metadata".into(), serde_json::Value::Object(m.clone()));
        }
        serde_json::to_vec(&serde_json::Value::Object(obj)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_names_the_missing_field() {
        let e = Frame::decode(&[1, 0, 1, 2]).unwrap_err();
        assert_eq!(
            e,
            SbpError::Truncated {
                field: "the frame id",
                need: 16,
                have: 2,
                offset: 2
            }
        );
        assert_eq!(e.code(), WireCode::InvalidFrame);
        assert!(e.to_string().contains("the frame id"));
    }

    #[test]
    fn huge_subject_length_allocates_nothing_and_is_refused() {
        let mut b = vec![1, 0];
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(b"rpc");
        let e = Frame::decode(&b).unwrap_err();
        assert!(matches!(
            e,
            SbpError::Truncated {
                field: "the subject",
                have: 3,
                ..
            }
        ));
    }

    #[test]
    fn cid_hex_is_lowercase_only() {
        let id = FrameId([0xab; 16]);
        assert_eq!(FrameId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(FrameId::from_hex(&id.to_hex().to_uppercase()), None);
        assert_eq!(FrameId::from_hex("ab"), None);
    }

    #[test]
    fn code_names() {
        assert_eq!(WireCode::describe(1101), "UnsupportedMethod");
        assert_eq!(WireCode::describe(2042), "application");
        assert_eq!(WireCode::describe(1050), "SBP reserved");
    }
}
