//! SBRP error codes (protocol §5) and the library's error types.
//!
//! Every error the library returns can tell its [`ErrorCode`]; the code's [`ErrorCode::name`] is
//! the lower-case string the reference uses (`malformed_frame`, `identity_key_changed`, …), and
//! is what tools print in JSON.

use core::fmt;

/// Every error code of SBRP v1: the wire codes carried in Control frames and the endpoint-only
/// codes (0xE0xx) that never travel on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum ErrorCode {
    /// 0x0101, terminal.
    Unauthorized = 0x0101,
    /// 0x0102, terminal.
    Forbidden = 0x0102,
    /// 0x0201, terminal.
    DaemonNotFound = 0x0201,
    /// 0x0202, terminal.
    DaemonOffline = 0x0202,
    /// 0x0301, terminal.
    SessionNotFound = 0x0301,
    /// 0x0302, terminal.
    SessionExpired = 0x0302,
    /// 0x0401, terminal.
    MalformedFrame = 0x0401,
    /// 0x0402, terminal.
    PayloadTooLarge = 0x0402,
    /// 0x0403, terminal.
    InvalidFrameType = 0x0403,
    /// 0x0404, terminal.
    InvalidSessionId = 0x0404,
    /// 0x0405, terminal.
    DisallowedSender = 0x0405,
    /// 0x0601, terminal.
    InternalError = 0x0601,
    /// 0x0901, not terminal.
    RateLimited = 0x0901,
    /// 0x0902, terminal.
    Backpressure = 0x0902,
    /// 0x1001, not terminal.
    SessionPaused = 0x1001,
    /// 0x1002, not terminal.
    SessionResumed = 0x1002,
    /// 0x1003, not terminal.
    SessionEnded = 0x1003,
    /// 0x1004, not terminal.
    SessionPending = 0x1004,
    /// 0xE001, endpoint-only: the daemon's identity key differs from the pinned one.
    IdentityKeyChanged = 0xE001,
    /// 0xE002, endpoint-only: bad signature, low-order key or malformed handshake.
    HandshakeFailed = 0xE002,
    /// 0xE003, endpoint-only: the handshake did not finish in time.
    HandshakeTimeout = 0xE003,
    /// 0xE004, endpoint-only: authentication of an encrypted message failed.
    DecryptFailed = 0xE004,
    /// 0xE005, endpoint-only: replayed, too old, or exhausted sequence number.
    SequenceError = 0xE005,
}

impl ErrorCode {
    /// Every code, wire codes first, in numeric order.
    pub const ALL: [ErrorCode; 23] = [
        Self::Unauthorized,
        Self::Forbidden,
        Self::DaemonNotFound,
        Self::DaemonOffline,
        Self::SessionNotFound,
        Self::SessionExpired,
        Self::MalformedFrame,
        Self::PayloadTooLarge,
        Self::InvalidFrameType,
        Self::InvalidSessionId,
        Self::DisallowedSender,
        Self::InternalError,
        Self::RateLimited,
        Self::Backpressure,
        Self::SessionPaused,
        Self::SessionResumed,
        Self::SessionEnded,
        Self::SessionPending,
        Self::IdentityKeyChanged,
        Self::HandshakeFailed,
        Self::HandshakeTimeout,
        Self::DecryptFailed,
        Self::SequenceError,
    ];

    /// The numeric value (0x0101 … 0xE005).
    pub const fn value(self) -> u16 {
        self as u16
    }

    /// The public lower-case name, identical to the reference's error-code string.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::DaemonNotFound => "daemon_not_found",
            Self::DaemonOffline => "daemon_offline",
            Self::SessionNotFound => "session_not_found",
            Self::SessionExpired => "session_expired",
            Self::MalformedFrame => "malformed_frame",
            Self::PayloadTooLarge => "payload_too_large",
            Self::InvalidFrameType => "invalid_frame_type",
            Self::InvalidSessionId => "invalid_session_id",
            Self::DisallowedSender => "disallowed_sender",
            Self::InternalError => "internal_error",
            Self::RateLimited => "rate_limited",
            Self::Backpressure => "backpressure",
            Self::SessionPaused => "session_paused",
            Self::SessionResumed => "session_resumed",
            Self::SessionEnded => "session_ended",
            Self::SessionPending => "session_pending",
            Self::IdentityKeyChanged => "identity_key_changed",
            Self::HandshakeFailed => "handshake_failed",
            Self::HandshakeTimeout => "handshake_timeout",
            Self::DecryptFailed => "decrypt_failed",
            Self::SequenceError => "sequence_error",
        }
    }

    /// Looks a code up by its lower-case name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Looks a code up by its numeric value, wire or endpoint-only.
    pub fn from_value(value: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.value() == value)
    }

    /// The wire value, or `None` for the endpoint-only codes, which never travel in a Control
    /// frame.
    pub const fn wire(self) -> Option<u16> {
        if self.is_endpoint_only() {
            None
        } else {
            Some(self as u16)
        }
    }

    /// Looks up a code received in a Control frame. Endpoint-only values are not wire codes and
    /// give `None`, like any unknown value (see [`ControlCode`] for how those are treated).
    pub fn from_wire(value: u16) -> Option<Self> {
        Self::from_value(value).filter(|c| !c.is_endpoint_only())
    }

    /// True for the 0xE0xx codes that exist only inside an endpoint.
    pub const fn is_endpoint_only(self) -> bool {
        (self as u16) >> 8 == 0xE0
    }

    /// Whether the relay closes the connection after sending this code. Endpoint-only codes
    /// are not sent by a relay; they are reported as terminal for the session they end.
    pub const fn is_terminal(self) -> bool {
        !matches!(
            self,
            Self::RateLimited
                | Self::SessionPaused
                | Self::SessionResumed
                | Self::SessionEnded
                | Self::SessionPending
        )
    }

    /// The category named by the code's high byte.
    pub const fn category(self) -> Category {
        Category::of(self as u16)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The category a code's range names (its high byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// 0x01xx
    Auth,
    /// 0x02xx
    Routing,
    /// 0x03xx
    Session,
    /// 0x04xx
    WireFormat,
    /// 0x06xx
    Internal,
    /// 0x09xx
    RateLimiting,
    /// 0x10xx
    SessionState,
    /// 0xE0xx
    EndpointOnly,
    /// Any other range.
    Unassigned,
}

impl Category {
    /// The category of any 16-bit code.
    pub const fn of(code: u16) -> Self {
        match code >> 8 {
            0x01 => Self::Auth,
            0x02 => Self::Routing,
            0x03 => Self::Session,
            0x04 => Self::WireFormat,
            0x06 => Self::Internal,
            0x09 => Self::RateLimiting,
            0x10 => Self::SessionState,
            0xE0 => Self::EndpointOnly,
            _ => Self::Unassigned,
        }
    }

    /// A stable lower-case name, e.g. `wire_format`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Routing => "routing",
            Self::Session => "session",
            Self::WireFormat => "wire_format",
            Self::Internal => "internal",
            Self::RateLimiting => "rate_limiting",
            Self::SessionState => "session_state",
            Self::EndpointOnly => "endpoint_only",
            Self::Unassigned => "unassigned",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A 16-bit code as received in a Control frame: known or not.
///
/// Unknown codes (including endpoint-only values, which must never be on the wire) are kept
/// rather than refused (protocol §7 D9), and are terminal (fail-safe).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ControlCode(pub u16);

impl ControlCode {
    /// The known wire code, if any.
    pub fn known(self) -> Option<ErrorCode> {
        ErrorCode::from_wire(self.0)
    }

    /// The name of a known wire code.
    pub fn name(self) -> Option<&'static str> {
        self.known().map(ErrorCode::name)
    }

    /// Terminal unless it is a known non-terminal code.
    pub fn is_terminal(self) -> bool {
        self.known().is_none_or(ErrorCode::is_terminal)
    }

    /// The category its range names.
    pub fn category(self) -> Category {
        Category::of(self.0)
    }
}

impl From<ErrorCode> for ControlCode {
    fn from(code: ErrorCode) -> Self {
        Self(code.value())
    }
}

/// The operating system's random number generator failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("internal_error: the system random number generator failed: {0}")]
pub struct RngError(pub String);

impl RngError {
    /// Always [`ErrorCode::InternalError`].
    pub const fn code(&self) -> ErrorCode {
        ErrorCode::InternalError
    }
}
