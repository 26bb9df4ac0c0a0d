//! SBRP over WebSocket: the framing rules endpoints and relays share (no I/O).
//!
//! - One SBRP frame per **binary** message, both directions; no subprotocol.
//! - A text message closes the connection with 1003 (unsupported data).
//! - A message longer than [`MAX_MESSAGE`] (65549, the largest frame) closes it with 1009
//!   (R10); configure the WebSocket library's own limit to the same value so such a message is
//!   refused before it is buffered.
//! - A binary message that is not exactly one frame (truncated, trailing bytes) is
//!   `malformed_frame`; every other header rule keeps the error of the frame layer.
//! - After a terminal Control the relay closes with the code of [`close_code_for`] (R6).

use crate::error::{ControlCode, ErrorCode};
use crate::frame::{FrameError, MAX_FRAME_LEN, RawFrame};

/// The largest WebSocket message: one SBRP frame of 65536 payload bytes (R10).
pub const MAX_MESSAGE: usize = MAX_FRAME_LEN;

/// WebSocket close codes SBRP uses (RFC 6455 §7.4.1).
pub mod close {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// Going away (relay shutdown, idle endpoint, R3).
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error (wire-format terminal codes, R6).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Unsupported data: a text message.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Policy violation (auth terminal codes, R6).
    pub const POLICY_VIOLATION: u16 = 1008;
    /// Message too big: over [`super::MAX_MESSAGE`].
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// Internal error (`internal_error`, R6).
    pub const INTERNAL_ERROR: u16 = 1011;
    /// Try again later (`backpressure`, R6).
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// R6: the WebSocket close code after a terminal Control with `code`: 0x01xx → 1008,
/// 0x04xx → 1002, 0x0601 → 1011, 0x0902 → 1013, any other → 1000.
pub const fn close_code_for(code: ControlCode) -> u16 {
    match code.0 {
        0x0100..=0x01ff => close::POLICY_VIOLATION,
        0x0400..=0x04ff => close::PROTOCOL_ERROR,
        0x0601 => close::INTERNAL_ERROR,
        0x0902 => close::TRY_AGAIN_LATER,
        _ => close::NORMAL,
    }
}

/// The kinds of WebSocket data message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// Opcode 2.
    Binary,
    /// Opcode 1.
    Text,
}

/// A WebSocket message that breaks SBRP's framing rules.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// A text message: close 1003.
    #[error("malformed_frame: a text WebSocket message (SBRP frames travel in binary messages)")]
    Text,
    /// Longer than [`MAX_MESSAGE`]: close 1009.
    #[error("payload_too_large: a {len}-byte WebSocket message, more than {MAX_MESSAGE}")]
    TooLarge {
        /// Its length.
        len: usize,
    },
    /// Not exactly one valid frame header + payload.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

impl MessageError {
    /// The SBRP error code.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::Text => ErrorCode::MalformedFrame,
            Self::TooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::Frame(e) => e.code(),
        }
    }

    /// The WebSocket close code for this failure: 1003 for text, 1009 for an oversized
    /// message, otherwise R6's mapping of the SBRP code (1002 for wire-format errors).
    pub const fn close_code(&self) -> u16 {
        match self {
            Self::Text => close::UNSUPPORTED_DATA,
            Self::TooLarge { .. } => close::MESSAGE_TOO_BIG,
            Self::Frame(e) => close_code_for(ControlCode(e.code().value())),
        }
    }
}

/// Checks one received WebSocket data message and returns the frame it carries (header rules
/// only; use [`RawFrame::parse`] for the per-type payload rules).
pub fn frame_of_message(kind: MessageKind, message: &[u8]) -> Result<RawFrame<'_>, MessageError> {
    if kind == MessageKind::Text {
        return Err(MessageError::Text);
    }
    if message.len() > MAX_MESSAGE {
        return Err(MessageError::TooLarge { len: message.len() });
    }
    Ok(RawFrame::decode(message)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use crate::frame::PingPayload;

    #[test]
    fn one_frame_per_message() {
        let ping = Frame::Ping(PingPayload::new(b"abc").unwrap()).to_vec();
        assert!(frame_of_message(MessageKind::Binary, &ping).is_ok());
        let mut two = ping.clone();
        two.extend_from_slice(&ping);
        let e = frame_of_message(MessageKind::Binary, &two).unwrap_err();
        assert_eq!(
            (e.code(), e.close_code()),
            (ErrorCode::MalformedFrame, 1002)
        );
        let e = frame_of_message(MessageKind::Binary, &ping[..ping.len() - 1]).unwrap_err();
        assert_eq!(e.code(), ErrorCode::MalformedFrame);
        let e = frame_of_message(MessageKind::Text, &ping).unwrap_err();
        assert_eq!(e.close_code(), 1003);
        let big = vec![0u8; MAX_MESSAGE + 1];
        let e = frame_of_message(MessageKind::Binary, &big).unwrap_err();
        assert_eq!(
            (e.code(), e.close_code()),
            (ErrorCode::PayloadTooLarge, 1009)
        );
        assert_eq!(MAX_MESSAGE, 65549);
    }

    #[test]
    fn r6_close_codes() {
        let c = |v| close_code_for(ControlCode(v));
        assert_eq!(
            [
                c(0x0101),
                c(0x0102),
                c(0x0401),
                c(0x0405),
                c(0x0601),
                c(0x0902),
                c(0x0201),
                c(0x0302),
                c(0xBEEF)
            ],
            [1008, 1008, 1002, 1002, 1011, 1013, 1000, 1000, 1000]
        );
    }
}
