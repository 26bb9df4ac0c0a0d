//! What the relay server reports as it runs, for logs, metrics and captures.
//!
//! The server (the I/O layer over [`super::RelayCore`]) calls an [`Observer`] for every
//! connection admitted, refused or closed, for every frame it forwards, answers, generates,
//! drops or refuses, and for every event of the core. Logging, Prometheus metrics and the
//! capture files are observers; [`Fanout`] hands one report to several. Observers are called
//! on the server's hot path: they must not block for long, and must never fail the relay (an
//! observer that cannot do its job says so itself, for example in a log line).
//!
//! No record carries a token, and a frame's bytes are given only in [`FrameRecord::bytes`]
//! (the capture needs them; logs and metrics must not print them).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::core::{ConnId, RelayEvent};

/// Who a frame travels from or to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Party {
    /// A daemon's presence connection.
    Daemon,
    /// A client's session connection.
    Client,
    /// The relay itself (Controls, Pings, Pongs it makes; Signals and Pings it consumes).
    Relay,
}

impl Party {
    /// `daemon`, `client` or `relay`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Daemon => "daemon",
            Self::Client => "client",
            Self::Relay => "relay",
        }
    }

    /// The party of a connection's role name (`daemon` or `client`, as in
    /// [`super::Admission::role`]); anything else is the relay.
    pub fn from_role(role: &str) -> Self {
        match role {
            "daemon" => Self::Daemon,
            "client" => Self::Client,
            _ => Self::Relay,
        }
    }
}

/// What the relay did with a frame (the capture log's `action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameAction {
    /// An endpoint's frame, sent on byte for byte.
    Forwarded,
    /// A Pong the relay sent for a Ping.
    Answered,
    /// A frame the relay made (Control, Ping).
    Generated,
    /// A frame received and not forwarded, with no answer (rate limit, recently ended session,
    /// a Signal consumed, a Pong from an endpoint).
    Dropped,
    /// A frame received that broke a rule and was answered with a terminal Control.
    Refused,
}

impl FrameAction {
    /// `forwarded`, `answered`, `generated`, `dropped` or `refused`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Forwarded => "forwarded",
            Self::Answered => "answered",
            Self::Generated => "generated",
            Self::Dropped => "dropped",
            Self::Refused => "refused",
        }
    }
}

/// One frame the relay handled.
#[derive(Clone, Debug)]
pub struct FrameRecord<'a> {
    /// Wall-clock time the server handled it.
    pub at: SystemTime,
    /// The connection the frame was sent on (forwarded, answered, generated) or arrived on
    /// (dropped, refused).
    pub conn: ConnId,
    /// Where it came from.
    pub from: Party,
    /// Where it went ([`Party::Relay`] when it was dropped or refused).
    pub to: Party,
    /// The header's session id (0 when the header was unreadable).
    pub session_id: u64,
    /// The frame type byte (0 when the header was unreadable).
    pub frame_type: u8,
    /// The whole message's length in bytes.
    pub len: usize,
    /// The frame's bytes when they were sent (forwarded, answered, generated); empty otherwise.
    pub bytes: &'a [u8],
    /// What the relay did with it.
    pub action: FrameAction,
    /// Why, for dropped and refused frames (a core reason such as `rate_limited`, or an error
    /// code name such as `disallowed_sender`).
    pub reason: Option<&'static str>,
}

/// A connection's life, as the server sees it.
#[derive(Clone, Debug)]
pub enum ConnectionEvent<'a> {
    /// A token was verified and the connection admitted and upgraded.
    Opened {
        /// The connection.
        conn: ConnId,
        /// `daemon` or `client`.
        role: &'static str,
        /// The remote address.
        peer: SocketAddr,
    },
    /// The upgrade was refused with an HTTP status (401, 403, 409, 503, …).
    Refused {
        /// The remote address.
        peer: SocketAddr,
        /// The HTTP status.
        status: u16,
        /// Why, without any secret (for example the failed authentication step's name).
        reason: &'a str,
    },
    /// A connection ended.
    Closed {
        /// The connection.
        conn: ConnId,
        /// `daemon` or `client`.
        role: &'static str,
        /// The WebSocket close code sent or received (1006 when the connection just dropped).
        code: u16,
        /// The close reason (no identifiers).
        reason: &'a str,
        /// How long it was open.
        lifetime: Duration,
    },
}

/// Receives the server's reports. Every method has an empty default.
pub trait Observer: Send + Sync {
    /// A connection was admitted, refused or closed.
    fn connection(&self, _event: &ConnectionEvent<'_>) {}
    /// A frame was handled (only for the actions [`wants_frames`](Self::wants_frames) asked for).
    fn frame(&self, _record: &FrameRecord<'_>) {}
    /// Whether [`frame`](Self::frame) wants the frames handled with `action`. The server asks
    /// once per action when it is bound ([`FrameInterest::of`]) and builds a [`FrameRecord`]
    /// (a clock read, a header parse, the call) only for the actions some observer wants, so an
    /// observer that ignores forwarded frames (a log) costs nothing per forwarded frame. The
    /// answer must not change afterwards. The default, `true`, gets every frame.
    fn wants_frames(&self, _action: FrameAction) -> bool {
        true
    }
    /// An event of the core (state changes, rate limiting, backpressure, handshake latency).
    fn relay_event(&self, _event: &RelayEvent) {}
}

/// Hands every report to each observer in turn.
#[derive(Clone, Default)]
pub struct Fanout(pub Vec<Arc<dyn Observer>>);

impl Observer for Fanout {
    fn connection(&self, event: &ConnectionEvent<'_>) {
        for o in &self.0 {
            o.connection(event);
        }
    }
    /// Hands the record only to the observers that want its action.
    fn frame(&self, record: &FrameRecord<'_>) {
        for o in &self.0 {
            if o.wants_frames(record.action) {
                o.frame(record);
            }
        }
    }
    /// Any observer wanting the action is enough.
    fn wants_frames(&self, action: FrameAction) -> bool {
        self.0.iter().any(|o| o.wants_frames(action))
    }
    fn relay_event(&self, event: &RelayEvent) {
        for o in &self.0 {
            o.relay_event(event);
        }
    }
}

/// Which frame actions an observer wants, asked once ([`Observer::wants_frames`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameInterest([bool; 5]);

impl FrameInterest {
    const ACTIONS: [FrameAction; 5] = [
        FrameAction::Forwarded,
        FrameAction::Answered,
        FrameAction::Generated,
        FrameAction::Dropped,
        FrameAction::Refused,
    ];

    /// Asks `observer` about each action (none wanted without an observer).
    pub fn of(observer: Option<&dyn Observer>) -> Self {
        let mut wanted = [false; 5];
        if let Some(o) = observer {
            for (w, a) in wanted.iter_mut().zip(Self::ACTIONS) {
                *w = o.wants_frames(a);
            }
        }
        Self(wanted)
    }

    /// Whether frames handled with `action` are wanted.
    pub const fn wants(self, action: FrameAction) -> bool {
        self.0[action as usize]
    }
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fanout({} observers)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Count(Mutex<Vec<&'static str>>);
    impl Observer for Count {
        fn frame(&self, r: &FrameRecord<'_>) {
            self.0.lock().unwrap().push(r.action.name());
        }
    }

    #[test]
    fn fanout_reaches_every_observer_in_order() {
        let a = Arc::new(Count::default());
        let b = Arc::new(Count::default());
        let fan = Fanout(vec![a.clone(), b.clone()]);
        let rec = FrameRecord {
            at: SystemTime::UNIX_EPOCH,
            conn: 1,
            from: Party::from_role("client"),
            to: Party::from_role("daemon"),
            session_id: 7,
            frame_type: 0x03,
            len: 13,
            bytes: &[],
            action: FrameAction::Forwarded,
            reason: None,
        };
        fan.frame(&rec);
        fan.frame(&FrameRecord {
            action: FrameAction::Dropped,
            ..rec
        });
        assert_eq!(*a.0.lock().unwrap(), vec!["forwarded", "dropped"]);
        assert_eq!(*b.0.lock().unwrap(), vec!["forwarded", "dropped"]);
        assert_eq!(Party::from_role("relay"), Party::Relay);
        assert_eq!(fan.0.len(), 2);
    }

    /// Wants only refused frames.
    #[derive(Default)]
    struct RefusedOnly(Count);
    impl Observer for RefusedOnly {
        fn frame(&self, r: &FrameRecord<'_>) {
            self.0.frame(r);
        }
        fn wants_frames(&self, action: FrameAction) -> bool {
            action == FrameAction::Refused
        }
    }

    #[test]
    fn fanout_hands_each_frame_only_to_the_observers_that_want_it() {
        let all = Arc::new(Count::default());
        let some = Arc::new(RefusedOnly::default());
        let fan = Fanout(vec![all.clone(), some.clone()]);
        let rec = FrameRecord {
            at: SystemTime::UNIX_EPOCH,
            conn: 1,
            from: Party::Client,
            to: Party::Daemon,
            session_id: 7,
            frame_type: 0x03,
            len: 13,
            bytes: &[],
            action: FrameAction::Forwarded,
            reason: None,
        };
        for action in FrameInterest::ACTIONS {
            fan.frame(&FrameRecord {
                action,
                ..rec.clone()
            });
        }
        assert_eq!(
            *all.0.lock().unwrap(),
            vec!["forwarded", "answered", "generated", "dropped", "refused"]
        );
        assert_eq!(*some.0.0.lock().unwrap(), vec!["refused"]);
        // The fanout wants what any of its observers wants.
        let interest = FrameInterest::of(Some(&fan));
        assert!(FrameInterest::ACTIONS.iter().all(|a| interest.wants(*a)));
        let only = FrameInterest::of(Some(&Fanout(vec![some])));
        for a in FrameInterest::ACTIONS {
            assert_eq!(only.wants(a), a == FrameAction::Refused, "{a:?}");
        }
        let none = FrameInterest::of(None);
        assert!(FrameInterest::ACTIONS.iter().all(|a| !none.wants(*a)));
        assert!(!FrameInterest::of(Some(&Fanout::default())).wants(FrameAction::Forwarded));
    }

    #[test]
    fn the_log_observer_wants_no_forwarded_frame_and_every_other() {
        let log = crate::relay::LogObserver;
        let interest = FrameInterest::of(Some(&log));
        for a in FrameInterest::ACTIONS {
            let expected = !matches!(a, FrameAction::Forwarded | FrameAction::Answered);
            assert_eq!(interest.wants(a), expected, "{a:?}");
        }
    }
}
