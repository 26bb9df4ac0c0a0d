//! The relay's log: an [`Observer`] that writes one `tracing` event per thing an operator
//! wants to see. Where the lines go and in which format (text or JSON) is the subscriber's
//! business (`sbrp relay --log-format`).
//!
//! Every event has an `event` field naming it:
//!
//! | `event` | level | fields |
//! |---|---|---|
//! | `connection_opened` | info | `conn`, `role`, `peer` |
//! | `connection_refused` | info | `peer`, `status`, `reason` (the failed check's code name) |
//! | `connection_closed` | info | `conn`, `role`, `code`, `reason`, `lifetime_ms` |
//! | `session_state` | info | `session_id`, `from`, `to` (`none` for a new or closed session) |
//! | `control_sent` | info | `conn`, `to`, `session_id`, `code` |
//! | `frame_refused` | info | `conn`, `from`, `session_id`, `frame_type`, `code` |
//! | `rate_limited` | warn | `conn` (at most once a second per connection) |
//! | `backpressure` | warn | `conn`, `queued` |
//! | `frame_dropped` | debug | `conn`, `from`, `session_id`, `frame_type`, `reason` |
//! | `handshake_latency` | debug | `session_id`, `latency_us` |
//!
//! No line carries a token, a daemon id or any frame's bytes.

use super::core::RelayEvent;
use super::observe::{ConnectionEvent, FrameAction, FrameRecord, Observer};
use crate::error::ControlCode;
use crate::frame::FrameType;

/// Logs through `tracing` (target `sbrp::relay`).
#[derive(Clone, Copy, Debug, Default)]
pub struct LogObserver;

fn session_state_name(s: Option<super::core::SessionState>) -> &'static str {
    s.map_or("none", super::core::SessionState::name)
}

impl Observer for LogObserver {
    fn connection(&self, event: &ConnectionEvent<'_>) {
        match event {
            ConnectionEvent::Opened { conn, role, peer } => {
                tracing::info!(event = "connection_opened", conn, role, peer = %peer, "connection opened");
            }
            ConnectionEvent::Refused {
                peer,
                status,
                reason,
            } => {
                tracing::info!(event = "connection_refused", peer = %peer, status, reason, "connection refused");
            }
            ConnectionEvent::Closed {
                conn,
                role,
                code,
                reason,
                lifetime,
            } => {
                let lifetime_ms = u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX);
                tracing::info!(
                    event = "connection_closed",
                    conn,
                    role,
                    code,
                    reason,
                    lifetime_ms,
                    "connection closed"
                );
            }
        }
    }

    /// Forwarded frames and Pongs are not logged: the server need not report them.
    fn wants_frames(&self, action: FrameAction) -> bool {
        !matches!(action, FrameAction::Forwarded | FrameAction::Answered)
    }

    fn frame(&self, r: &FrameRecord<'_>) {
        match r.action {
            FrameAction::Generated if r.frame_type == FrameType::Control.as_u8() => {
                let code = r
                    .bytes
                    .get(13..15)
                    .map(|b| ControlCode(u16::from_be_bytes([b[0], b[1]])));
                let name = code.and_then(ControlCode::name).unwrap_or("unknown");
                tracing::info!(
                    event = "control_sent",
                    conn = r.conn,
                    to = r.to.name(),
                    session_id = r.session_id,
                    code = name,
                    "control sent"
                );
            }
            FrameAction::Refused => {
                tracing::info!(
                    event = "frame_refused",
                    conn = r.conn,
                    from = r.from.name(),
                    session_id = r.session_id,
                    frame_type = r.frame_type,
                    code = r.reason.unwrap_or("unknown"),
                    "frame refused"
                );
            }
            FrameAction::Dropped => {
                tracing::debug!(
                    event = "frame_dropped",
                    conn = r.conn,
                    from = r.from.name(),
                    session_id = r.session_id,
                    frame_type = r.frame_type,
                    reason = r.reason.unwrap_or("unknown"),
                    "frame dropped"
                );
            }
            _ => {}
        }
    }

    fn relay_event(&self, event: &RelayEvent) {
        match event {
            RelayEvent::SessionState {
                session_id,
                from,
                to,
            } => {
                tracing::info!(
                    event = "session_state",
                    session_id,
                    from = session_state_name(*from),
                    to = session_state_name(*to),
                    "session state"
                );
            }
            RelayEvent::RateLimited { conn } => {
                tracing::warn!(event = "rate_limited", conn, "rate limited");
            }
            RelayEvent::Backpressure {
                conn,
                queued,
                limit,
            } => {
                tracing::warn!(
                    event = "backpressure",
                    conn,
                    queued,
                    limit,
                    "backpressure: slow receiver closed"
                );
            }
            RelayEvent::HandshakeLatency {
                session_id,
                latency,
            } => {
                let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                tracing::debug!(
                    event = "handshake_latency",
                    session_id,
                    latency_us,
                    "handshake latency"
                );
            }
            RelayEvent::Opened { .. } | RelayEvent::Dropped { .. } | RelayEvent::Refused { .. } => {
            }
        }
    }
}
