//! The relay's state machine, with no I/O and no clock.
//!
//! Time is a [`Duration`] since any fixed origin chosen by the caller (the server uses the
//! moment it started). Every table and queue has a bound:
//!
//! | what | bound |
//! |---|---|
//! | connections | [`RelayConfig::max_connections`] (admission refuses beyond it, HTTP 503) |
//! | live sessions per daemon | the daemon token's `lim.concurrent_sessions` (R11), else [`RelayConfig::max_sessions_per_daemon`] |
//! | unsent bytes per connection | [`RelayConfig::max_queue`] (R5: `backpressure`, then close) |
//! | unsent bytes of all open connections | [`RelayConfig::max_total_queue`] (R5 applied to the connection with the largest queue) |
//! | recently ended session ids per daemon | [`RECENTLY_ENDED_CAP`], each kept [`RECENTLY_ENDED_TTL`] (R8) |
//! | daemon entries | one per daemon connection or per daemon id with live sessions (so ≤ connections), plus at most [`LINGERING_DAEMONS_CAP`] kept only for their recently ended session ids |

use std::cmp::Reverse;
use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU64;
use std::time::Duration;

use crate::error::ErrorCode;
use crate::frame::{FrameType, MAX_PING_LEN, RawFrame, SIGNAL_LEN};

/// A connection, numbered by the I/O layer.
pub type ConnId = u64;

/// How long a session id ended by the relay is remembered, so late daemon frames for it are
/// dropped and counted instead of answered (R8).
pub const RECENTLY_ENDED_TTL: Duration = Duration::from_secs(60);
/// How many recently ended session ids a daemon entry keeps (oldest forgotten first).
pub const RECENTLY_ENDED_CAP: usize = 4096;
/// How many daemon entries with no connection and no live session are kept for their recently
/// ended session ids (R8 holds across the daemon's reconnect); beyond it the entry whose last
/// session ended longest ago is forgotten first.
pub const LINGERING_DAEMONS_CAP: usize = 1024;
/// [`RelayEvent::Backpressure`]'s `limit` when one connection went over
/// [`RelayConfig::max_queue`].
pub const LIMIT_MAX_QUEUE: &str = "max_queue";
/// [`RelayEvent::Backpressure`]'s `limit` when the open connections together went over
/// [`RelayConfig::max_total_queue`] and this one held the largest queue.
pub const LIMIT_MAX_TOTAL_QUEUE: &str = "max_total_queue";

/// The relay's limits and timers; the defaults are the R-rules'.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// R2: how long a paused session waits for its daemon.
    pub grace: Duration,
    /// R3: how often the relay pings each endpoint.
    pub ping_interval: Duration,
    /// R3: an endpoint silent this long is closed with 1001.
    pub idle_timeout: Duration,
    /// R4: frames per second per connection.
    pub rate: u32,
    /// R4: bucket size.
    pub burst: u32,
    /// R5: unsent bytes per connection before `backpressure`.
    pub max_queue: usize,
    /// R5 relay-wide: unsent bytes of all open connections together. A frame that would go
    /// over it makes the connection with the largest queue (the receiver's, with this frame,
    /// included) get `backpressure` and close; only when that is the receiver is the frame
    /// dropped (and counted), exactly as beyond `max_queue`.
    pub max_total_queue: usize,
    /// Open connections of every role.
    pub max_connections: usize,
    /// Live sessions per daemon when its token carries no `lim.concurrent_sessions`.
    pub max_sessions_per_daemon: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(30),
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            rate: 1000,
            burst: 2000,
            max_queue: 16 * 1024 * 1024,
            max_total_queue: 256 * 1024 * 1024,
            max_connections: 10_000,
            max_sessions_per_daemon: 10_000,
        }
    }
}

/// What a verified token admits: the relay routes by these alone, never by the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// A daemon's presence connection.
    Daemon {
        /// The token's `did`.
        daemon_id: String,
        /// `session:resume` in `scp`.
        resumable: bool,
        /// `lim.concurrent_sessions` (R11).
        max_sessions: Option<u32>,
    },
    /// A client's connection for one session.
    Client {
        /// The token's `did`.
        daemon_id: String,
        /// The token's `sid`.
        session_id: NonZeroU64,
    },
}

impl Admission {
    /// What verified claims admit: a client token without `sid` is `None` (the relay answers
    /// 401; `token::verify` already refuses it, this keeps the core safe on its own).
    pub fn from_claims(claims: &crate::token::Claims) -> Option<Self> {
        use crate::token::{Role, SCOPE_SESSION_RESUME};
        match claims.role {
            Role::Daemon => Some(Self::Daemon {
                daemon_id: claims.did.clone(),
                resumable: claims.has_scope(SCOPE_SESSION_RESUME),
                max_sessions: claims
                    .lim
                    .concurrent_sessions
                    .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            }),
            Role::Client => Some(Self::Client {
                daemon_id: claims.did.clone(),
                session_id: claims.sid?,
            }),
        }
    }

    /// `daemon` or `client`.
    pub fn role(&self) -> &'static str {
        match self {
            Self::Daemon { .. } => "daemon",
            Self::Client { .. } => "client",
        }
    }
}

/// Why a connection is refused before the upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// R9: a client for a session id that is already live.
    #[error("conflict: that session is already live")]
    SessionLive,
    /// The relay holds its maximum of connections.
    #[error("too many connections")]
    TooManyConnections,
    /// The connection id is already in use (a bug of the caller).
    #[error("connection id already in use")]
    DuplicateConnection,
}

impl Refusal {
    /// The HTTP status the upgrade is refused with.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::SessionLive => 409,
            Self::TooManyConnections => 503,
            Self::DuplicateConnection => 500,
        }
    }
}

/// State of one session pair (state-machine.md §Relay).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Client and daemon both connected; frames flow.
    Paired,
    /// The daemon dropped; waiting for it within the grace period.
    Paused,
    /// A resumable daemon is back; waiting for its Signal.
    Pending,
}

impl SessionState {
    /// Lower-case name for logs and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Paired => "paired",
            Self::Paused => "paused",
            Self::Pending => "pending",
        }
    }
}

/// How a frame sent by the relay came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendKind {
    /// An endpoint's frame, forwarded byte for byte.
    Forwarded,
    /// A Pong answering a Ping.
    Answered,
    /// A Control or Ping the relay made.
    Generated,
}

impl SendKind {
    /// Lower-case name (the capture log's `action`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Forwarded => "forwarded",
            Self::Answered => "answered",
            Self::Generated => "generated",
        }
    }
}

/// Something to log or count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayEvent {
    /// A connection was admitted.
    Opened {
        /// The connection.
        conn: ConnId,
        /// `daemon` or `client`.
        role: &'static str,
    },
    /// A session changed state (`to` is `None` when it closed).
    SessionState {
        /// The session id.
        session_id: u64,
        /// Before (`None` when it was new).
        from: Option<SessionState>,
        /// After (`None` when it closed).
        to: Option<SessionState>,
    },
    /// A frame from `conn` was not forwarded.
    Dropped {
        /// The sender.
        conn: ConnId,
        /// The frame type byte.
        type_byte: u8,
        /// The header's session id.
        session_id: u64,
        /// Why: `rate_limited`, `recently_ended`, `not_ready`, `backpressure`, `unexpected_signal`.
        reason: &'static str,
    },
    /// A frame broke a rule and was answered with a terminal Control.
    Refused {
        /// The sender.
        conn: ConnId,
        /// The frame type byte (0 when the header was unreadable).
        type_byte: u8,
        /// The header's session id.
        session_id: u64,
        /// The error code sent.
        code: ErrorCode,
    },
    /// A connection went over its frame rate (at most once a second per connection).
    RateLimited {
        /// The connection.
        conn: ConnId,
    },
    /// A connection's unsent queue went over the limit, or it held the largest queue when
    /// all of them went over the relay-wide one: it gets `backpressure` and is closed.
    Backpressure {
        /// The slow connection.
        conn: ConnId,
        /// Its unsent bytes.
        queued: usize,
        /// Which limit: [`LIMIT_MAX_QUEUE`] or [`LIMIT_MAX_TOTAL_QUEUE`].
        limit: &'static str,
    },
    /// HandshakeInit forwarded → HandshakeAccept forwarded.
    HandshakeLatency {
        /// The session id.
        session_id: u64,
        /// How long it took.
        latency: Duration,
    },
}

/// What the I/O layer must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send one frame as one binary WebSocket message.
    Send {
        /// The receiver.
        conn: ConnId,
        /// The frame.
        bytes: Vec<u8>,
        /// How it came to be.
        kind: SendKind,
    },
    /// Close the connection (after what was queued before) with this WebSocket close code.
    Close {
        /// The connection.
        conn: ConnId,
        /// WebSocket close code.
        code: u16,
        /// Short reason (no identifiers).
        reason: &'static str,
    },
    /// Log or count.
    Event(RelayEvent),
}

/// R6: the WebSocket close code after a terminal Control (the mapping shared with endpoints,
/// [`crate::ws::close_code_for`]).
pub fn close_code_for(code: ErrorCode) -> u16 {
    crate::ws::close_code_for(crate::error::ControlCode(code.value()))
}

/// A Control frame's bytes; the text never names identifiers.
pub fn control_frame(session_id: u64, code: ErrorCode) -> Vec<u8> {
    let mut out = Vec::with_capacity(15);
    out.push(FrameType::Control.as_u8());
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(&session_id.to_be_bytes());
    out.extend_from_slice(&code.value().to_be_bytes());
    out
}

fn ping_like(frame_type: FrameType, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(13 + payload.len());
    out.push(frame_type.as_u8());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[derive(Debug)]
struct Conn {
    admission: Admission,
    closing: bool,
    queued: usize,
    last_heard: Duration,
    last_ping: Duration,
    tokens: f64,
    refilled: Duration,
    last_rate_notice: Option<Duration>,
}

#[derive(Debug)]
struct SessionEntry {
    state: SessionState,
    client: ConnId,
    /// When the grace period ends (Paused/Pending).
    deadline: Duration,
    init_at: Option<Duration>,
}

#[derive(Debug, Default)]
struct DaemonEntry {
    conn: Option<ConnId>,
    max_sessions: usize,
    sessions: HashMap<u64, SessionEntry>,
    ended: VecDeque<(u64, Duration)>,
}

impl DaemonEntry {
    fn remember_ended(&mut self, sid: u64, now: Duration) {
        if self.ended.len() >= RECENTLY_ENDED_CAP {
            self.ended.pop_front();
        }
        self.ended.push_back((sid, now));
    }

    fn prune_ended(&mut self, now: Duration) {
        while let Some(&(_, at)) = self.ended.front() {
            if now.saturating_sub(at) >= RECENTLY_ENDED_TTL {
                self.ended.pop_front();
            } else {
                break;
            }
        }
    }

    fn recently_ended(&mut self, sid: u64, now: Duration) -> bool {
        self.prune_ended(now);
        self.ended.iter().any(|&(s, _)| s == sid)
    }

    /// No connection and no live session: kept only for its recently ended ids.
    fn lingering(&self) -> bool {
        self.conn.is_none() && self.sessions.is_empty()
    }
}

/// The relay: connections, daemons and their sessions.
#[derive(Debug)]
pub struct RelayCore {
    config: RelayConfig,
    conns: HashMap<ConnId, Conn>,
    daemons: HashMap<String, DaemonEntry>,
    ping_counter: u64,
    /// Unsent bytes of the connections not closing: `Σ queued` over them, kept exact, and at
    /// most `max_total_queue` (a connection leaves it when it starts closing).
    queued_open: usize,
}

impl RelayCore {
    /// An empty relay.
    pub fn new(config: RelayConfig) -> Self {
        Self {
            config,
            conns: HashMap::new(),
            daemons: HashMap::new(),
            ping_counter: 0,
            queued_open: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Live sessions in a state.
    pub fn sessions_in(&self, state: SessionState) -> usize {
        self.daemons
            .values()
            .flat_map(|d| d.sessions.values())
            .filter(|s| s.state == state)
            .count()
    }

    /// The state of a session, if it is live.
    pub fn session_state(&self, daemon_id: &str, session_id: u64) -> Option<SessionState> {
        self.daemons
            .get(daemon_id)
            .and_then(|d| d.sessions.get(&session_id))
            .map(|s| s.state)
    }

    /// The sizes of the tables the module doc bounds, for tests and the `relay_core` fuzz
    /// target: `(daemon entries, lingering daemon entries, the longest recently-ended list)`.
    #[doc(hidden)]
    pub fn table_sizes(&self) -> (usize, usize, usize) {
        let lingering = self.daemons.values().filter(|d| d.lingering()).count();
        let ended = self.daemons.values().map(|d| d.ended.len()).max();
        (self.daemons.len(), lingering, ended.unwrap_or(0))
    }

    /// Unsent bytes of the open (not closing) connections, what
    /// [`RelayConfig::max_total_queue`] bounds.
    pub fn queued_bytes(&self) -> usize {
        self.queued_open
    }

    /// Unsent bytes of one connection, if it is known.
    pub fn queued_of(&self, conn: ConnId) -> Option<usize> {
        self.conns.get(&conn).map(|c| c.queued)
    }

    /// Whether a connection would be refused at the upgrade (checked again by [`Self::open`]).
    pub fn check(&self, admission: &Admission) -> Result<(), Refusal> {
        if self.conns.len() >= self.config.max_connections {
            return Err(Refusal::TooManyConnections);
        }
        if let Admission::Client {
            daemon_id,
            session_id,
        } = admission
            && self
                .daemons
                .get(daemon_id)
                .is_some_and(|d| d.sessions.contains_key(&session_id.get()))
        {
            return Err(Refusal::SessionLive);
        }
        Ok(())
    }

    /// A connection whose token was verified: admit it (or refuse it before the upgrade).
    pub fn open(
        &mut self,
        conn: ConnId,
        admission: Admission,
        now: Duration,
    ) -> Result<Vec<Action>, Refusal> {
        self.check(&admission)?;
        if self.conns.contains_key(&conn) {
            return Err(Refusal::DuplicateConnection);
        }
        let mut out = vec![Action::Event(RelayEvent::Opened {
            conn,
            role: admission.role(),
        })];
        self.conns.insert(
            conn,
            Conn {
                admission: admission.clone(),
                closing: false,
                queued: 0,
                last_heard: now,
                last_ping: now,
                tokens: f64::from(self.config.burst),
                refilled: now,
                last_rate_notice: None,
            },
        );
        match admission {
            Admission::Daemon {
                daemon_id,
                resumable,
                max_sessions,
            } => self.open_daemon(conn, daemon_id, resumable, max_sessions, now, &mut out),
            Admission::Client {
                daemon_id,
                session_id,
            } => self.open_client(conn, daemon_id, session_id.get(), now, &mut out),
        }
        Ok(out)
    }

    fn open_daemon(
        &mut self,
        conn: ConnId,
        daemon_id: String,
        resumable: bool,
        max_sessions: Option<u32>,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        // R9: a second daemon connection replaces the first, which is handled as a drop.
        if let Some(old) = self.daemons.get(&daemon_id).and_then(|d| d.conn) {
            self.close_conn(old, 1000, "replaced by a newer daemon connection", now, out);
        }
        let cap = max_sessions.map_or(self.config.max_sessions_per_daemon, |n| n as usize);
        let entry = self.daemons.entry(daemon_id.clone()).or_default();
        entry.conn = Some(conn);
        entry.max_sessions = cap;
        let mut expired = Vec::new();
        let mut pending = Vec::new();
        let mut ids: Vec<u64> = entry.sessions.keys().copied().collect();
        ids.sort_unstable();
        for sid in ids {
            let Some(s) = entry.sessions.get_mut(&sid) else {
                continue;
            };
            if s.state != SessionState::Paused {
                continue;
            }
            if resumable {
                s.state = SessionState::Pending;
                out.push(state_event(
                    sid,
                    Some(SessionState::Paused),
                    Some(SessionState::Pending),
                ));
                pending.push((s.client, sid));
            } else {
                expired.push((sid, s.client));
            }
        }
        for (client, sid) in pending {
            self.send(
                client,
                control_frame(sid, ErrorCode::SessionPending),
                SendKind::Generated,
                now,
                out,
            );
        }
        for (sid, client) in expired {
            let Some(entry) = self.daemons.get_mut(&daemon_id) else {
                return;
            };
            entry.sessions.remove(&sid);
            entry.remember_ended(sid, now);
            out.push(state_event(sid, Some(SessionState::Paused), None));
            self.terminal(client, sid, ErrorCode::SessionExpired, now, out);
        }
    }

    fn open_client(
        &mut self,
        conn: ConnId,
        daemon_id: String,
        sid: u64,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        let online = self.daemons.get(&daemon_id).and_then(|d| d.conn);
        let Some(_daemon) = online else {
            // None → Closed: daemon_offline (terminal), no pairing.
            self.terminal(conn, sid, ErrorCode::DaemonOffline, now, out);
            return;
        };
        let entry = self.daemons.get_mut(&daemon_id).expect("checked above");
        if entry.sessions.len() >= entry.max_sessions {
            // R11.
            self.terminal(conn, 0, ErrorCode::Forbidden, now, out);
            return;
        }
        entry.ended.retain(|&(s, _)| s != sid);
        entry.sessions.insert(
            sid,
            SessionEntry {
                state: SessionState::Paired,
                client: conn,
                deadline: Duration::ZERO,
                init_at: None,
            },
        );
        out.push(state_event(sid, None, Some(SessionState::Paired)));
    }

    /// The I/O layer wrote `bytes` of what it was asked to send to `conn`.
    pub fn on_flushed(&mut self, conn: ConnId, bytes: usize) {
        if let Some(c) = self.conns.get_mut(&conn) {
            let n = bytes.min(c.queued);
            c.queued -= n;
            if !c.closing {
                self.queued_open -= n;
            }
        }
    }

    /// A text message: refused with close 1003.
    pub fn on_text(&mut self, conn: ConnId, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        self.close_conn(conn, 1003, "text messages are not SBRP", now, &mut out);
        out
    }

    /// A message larger than the largest frame (R10): close 1009.
    pub fn on_oversized(&mut self, conn: ConnId, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        self.close_conn(
            conn,
            1009,
            "message larger than an SBRP frame",
            now,
            &mut out,
        );
        out
    }

    /// One binary WebSocket message from `conn`.
    pub fn on_message(&mut self, conn: ConnId, msg: &[u8], now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(c) = self.conns.get_mut(&conn) else {
            return out;
        };
        if c.closing {
            return out;
        }
        c.last_heard = now;
        // R4: token bucket.
        let elapsed = now.saturating_sub(c.refilled).as_secs_f64();
        c.refilled = now;
        c.tokens =
            (c.tokens + elapsed * f64::from(self.config.rate)).min(f64::from(self.config.burst));
        let header_type = msg.first().copied().unwrap_or(0);
        let header_sid = msg
            .get(5..13)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_be_bytes);
        if c.tokens < 1.0 {
            let notify = c
                .last_rate_notice
                .is_none_or(|t| now.saturating_sub(t) >= Duration::from_secs(1));
            out.push(Action::Event(RelayEvent::Dropped {
                conn,
                type_byte: header_type,
                session_id: header_sid,
                reason: "rate_limited",
            }));
            if notify {
                c.last_rate_notice = Some(now);
                out.push(Action::Event(RelayEvent::RateLimited { conn }));
                self.send(
                    conn,
                    control_frame(0, ErrorCode::RateLimited),
                    SendKind::Generated,
                    now,
                    &mut out,
                );
            }
            return out;
        }
        c.tokens -= 1.0;
        let is_client = matches!(c.admission, Admission::Client { .. });

        // Validation order: header → size → type → session id → (exactly one frame).
        let frame = match RawFrame::decode(msg) {
            Ok(f) => f,
            Err(e) => {
                let code = e.code();
                out.push(Action::Event(RelayEvent::Refused {
                    conn,
                    type_byte: header_type,
                    session_id: header_sid,
                    code,
                }));
                self.terminal(conn, 0, code, now, &mut out);
                return out;
            }
        };
        let ty = frame.frame_type();
        let sid = frame.session_id();
        // → direction (frame authority).
        let allowed = match ty {
            FrameType::HandshakeInit => is_client,
            FrameType::HandshakeAccept | FrameType::Signal => !is_client,
            FrameType::Data | FrameType::Ping | FrameType::Pong => true,
            FrameType::Control => false,
        };
        if !allowed {
            self.refuse(
                conn,
                header_type,
                sid,
                ErrorCode::DisallowedSender,
                now,
                &mut out,
            );
            return out;
        }
        match ty {
            FrameType::Ping | FrameType::Pong if frame.payload().len() > MAX_PING_LEN => {
                self.refuse(
                    conn,
                    header_type,
                    0,
                    ErrorCode::PayloadTooLarge,
                    now,
                    &mut out,
                );
            }
            FrameType::Ping => {
                let pong = ping_like(FrameType::Pong, frame.payload());
                self.send(conn, pong, SendKind::Answered, now, &mut out);
            }
            FrameType::Pong => {}
            _ if is_client => self.route_client(conn, msg, ty, sid, now, &mut out),
            _ => self.route_daemon(conn, msg, &frame, now, &mut out),
        }
        out
    }

    fn route_client(
        &mut self,
        conn: ConnId,
        msg: &[u8],
        ty: FrameType,
        sid: u64,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        let Some(Admission::Client {
            daemon_id,
            session_id,
        }) = self.conns.get(&conn).map(|c| c.admission.clone())
        else {
            return;
        };
        if sid != session_id.get() {
            // The token binds the connection to one session id.
            self.refuse(conn, ty.as_u8(), 0, ErrorCode::Forbidden, now, out);
            return;
        }
        let Some(entry) = self.daemons.get_mut(&daemon_id) else {
            return;
        };
        let daemon = entry.conn;
        let Some(s) = entry.sessions.get_mut(&sid) else {
            return;
        };
        match (s.state, daemon) {
            (SessionState::Paired, Some(d)) => {
                if ty == FrameType::HandshakeInit {
                    s.init_at = Some(now);
                }
                self.send(d, msg.to_vec(), SendKind::Forwarded, now, out);
            }
            _ => out.push(Action::Event(RelayEvent::Dropped {
                conn,
                type_byte: ty.as_u8(),
                session_id: sid,
                reason: "not_ready",
            })),
        }
    }

    fn route_daemon(
        &mut self,
        conn: ConnId,
        msg: &[u8],
        frame: &RawFrame<'_>,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        let ty = frame.frame_type();
        let sid = frame.session_id();
        let Some(Admission::Daemon { daemon_id, .. }) =
            self.conns.get(&conn).map(|c| c.admission.clone())
        else {
            return;
        };
        if ty == FrameType::Signal && frame.payload().len() != SIGNAL_LEN {
            self.refuse(conn, ty.as_u8(), 0, ErrorCode::MalformedFrame, now, out);
            return;
        }
        let Some(entry) = self.daemons.get_mut(&daemon_id) else {
            return;
        };
        let Some(s) = entry.sessions.get_mut(&sid) else {
            if entry.recently_ended(sid, now) {
                out.push(dropped(conn, ty, sid, "recently_ended"));
            } else {
                // R8 + R7: session-scoped, the daemon's connection stays open.
                self.send(
                    conn,
                    control_frame(sid, ErrorCode::SessionNotFound),
                    SendKind::Generated,
                    now,
                    out,
                );
            }
            return;
        };
        let client = s.client;
        if ty == FrameType::Signal {
            let payload = frame.payload();
            match payload[0] {
                0x00 if s.state == SessionState::Pending => {
                    s.state = SessionState::Paired;
                    out.push(state_event(
                        sid,
                        Some(SessionState::Pending),
                        Some(SessionState::Paired),
                    ));
                    self.send(
                        client,
                        control_frame(sid, ErrorCode::SessionResumed),
                        SendKind::Generated,
                        now,
                        out,
                    );
                }
                0x00 => out.push(dropped(conn, ty, sid, "unexpected_signal")),
                0x01 => {
                    let from = s.state;
                    entry.sessions.remove(&sid);
                    entry.remember_ended(sid, now);
                    out.push(state_event(sid, Some(from), None));
                    self.terminal(client, sid, ErrorCode::SessionExpired, now, out);
                }
                _ => self.refuse(conn, ty.as_u8(), 0, ErrorCode::MalformedFrame, now, out),
            }
            return;
        }
        if s.state != SessionState::Paired {
            out.push(dropped(conn, ty, sid, "not_ready"));
            return;
        }
        if ty == FrameType::HandshakeAccept
            && let Some(at) = s.init_at.take()
        {
            out.push(Action::Event(RelayEvent::HandshakeLatency {
                session_id: sid,
                latency: now.saturating_sub(at),
            }));
        }
        self.send(client, msg.to_vec(), SendKind::Forwarded, now, out);
    }

    /// Timers: keepalive pings (R3), idle close (R3), grace expiry (R2).
    pub fn tick(&mut self, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        let mut idle = Vec::new();
        let mut ping = Vec::new();
        for (&id, c) in &self.conns {
            if c.closing {
                continue;
            }
            if now.saturating_sub(c.last_heard) >= self.config.idle_timeout {
                idle.push(id);
            } else if now.saturating_sub(c.last_ping) >= self.config.ping_interval {
                ping.push(id);
            }
        }
        idle.sort_unstable();
        ping.sort_unstable();
        for id in idle {
            self.close_conn(id, 1001, "idle", now, &mut out);
        }
        for id in ping {
            self.ping_counter += 1;
            let frame = ping_like(FrameType::Ping, &self.ping_counter.to_be_bytes());
            if let Some(c) = self.conns.get_mut(&id) {
                c.last_ping = now;
            }
            self.send(id, frame, SendKind::Generated, now, &mut out);
        }
        let mut expired = Vec::new();
        for (did, d) in &self.daemons {
            for (&sid, s) in &d.sessions {
                if s.state != SessionState::Paired && now >= s.deadline {
                    expired.push((did.clone(), sid));
                }
            }
        }
        expired.sort();
        for (did, sid) in expired {
            let Some(d) = self.daemons.get_mut(&did) else {
                continue;
            };
            let Some(s) = d.sessions.remove(&sid) else {
                continue;
            };
            d.remember_ended(sid, now);
            let daemon = d.conn;
            out.push(state_event(sid, Some(s.state), None));
            if s.state == SessionState::Pending
                && let Some(dc) = daemon
            {
                // The daemon never signalled: tell it the session is gone so it cleans up.
                self.send(
                    dc,
                    control_frame(sid, ErrorCode::SessionEnded),
                    SendKind::Generated,
                    now,
                    &mut out,
                );
            }
            self.terminal(s.client, sid, ErrorCode::SessionExpired, now, &mut out);
        }
        self.gc_daemons(now);
        out
    }

    /// The connection is gone (closed by either side, or its socket failed).
    pub fn on_closed(&mut self, conn: ConnId, now: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        self.detach(conn, now, &mut out);
        self.conns.remove(&conn);
        self.gc_daemons(now);
        out
    }

    /// Forgets daemon entries with nothing left to remember. An entry with no connection and no
    /// live session stays while it remembers a session ended less than [`RECENTLY_ENDED_TTL`]
    /// ago (R8 must hold when the daemon comes back), at most [`LINGERING_DAEMONS_CAP`] of them.
    fn gc_daemons(&mut self, now: Duration) {
        let mut lingering = 0;
        self.daemons.retain(|_, d| {
            if !d.lingering() {
                return true;
            }
            d.prune_ended(now);
            lingering += usize::from(!d.ended.is_empty());
            !d.ended.is_empty()
        });
        if lingering > LINGERING_DAEMONS_CAP {
            let mut by_age: Vec<(Duration, String)> = self
                .daemons
                .iter()
                .filter(|(_, d)| d.lingering())
                .map(|(id, d)| (d.ended.back().map_or(Duration::ZERO, |e| e.1), id.clone()))
                .collect();
            by_age.sort_unstable();
            for (_, id) in by_age.into_iter().take(lingering - LINGERING_DAEMONS_CAP) {
                self.daemons.remove(&id);
            }
        }
    }

    /// Sends a terminal Control on `conn` and applies its scope (R7): on a daemon's connection a
    /// session-scoped code ends that session only.
    fn terminal(
        &mut self,
        conn: ConnId,
        sid: u64,
        code: ErrorCode,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        self.send(
            conn,
            control_frame(sid, code),
            SendKind::Generated,
            now,
            out,
        );
        let is_daemon = matches!(
            self.conns.get(&conn).map(|c| &c.admission),
            Some(Admission::Daemon { .. })
        );
        if is_daemon && sid != 0 {
            self.end_session_of_daemon(conn, sid, now, out);
        } else {
            self.close_conn(conn, close_code_for(code), code.name(), now, out);
        }
    }

    fn refuse(
        &mut self,
        conn: ConnId,
        type_byte: u8,
        sid: u64,
        code: ErrorCode,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        out.push(Action::Event(RelayEvent::Refused {
            conn,
            type_byte,
            session_id: sid,
            code,
        }));
        self.terminal(conn, sid, code, now, out);
    }

    fn end_session_of_daemon(
        &mut self,
        daemon_conn: ConnId,
        sid: u64,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        let Some(Admission::Daemon { daemon_id, .. }) =
            self.conns.get(&daemon_conn).map(|c| c.admission.clone())
        else {
            return;
        };
        let Some(d) = self.daemons.get_mut(&daemon_id) else {
            return;
        };
        if let Some(s) = d.sessions.remove(&sid) {
            d.remember_ended(sid, now);
            out.push(state_event(sid, Some(s.state), None));
            self.terminal(s.client, sid, ErrorCode::SessionExpired, now, out);
        }
    }

    fn send(
        &mut self,
        conn: ConnId,
        bytes: Vec<u8>,
        kind: SendKind,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closing {
            if kind == SendKind::Forwarded {
                out.push(dropped_bytes(conn, &bytes, "receiver_closing"));
            }
            return;
        }
        if c.queued.saturating_add(bytes.len()) > self.config.max_queue {
            // R5: the slow consumer is told and closed; the frame is counted as dropped.
            self.backpressure(conn, Some(&bytes), LIMIT_MAX_QUEUE, now, out);
            return;
        }
        // R5 relay-wide: the largest queue pays. Each round closes one connection, and after
        // closing one larger than the receiver's (with this frame) the frame fits, since the
        // open total was within the budget before it.
        while self.queued_open.saturating_add(bytes.len()) > self.config.max_total_queue {
            let mine = match self.conns.get(&conn) {
                Some(c) if !c.closing => c.queued.saturating_add(bytes.len()),
                // Closed meanwhile (by what closing a larger queue set off).
                _ => {
                    if kind == SendKind::Forwarded {
                        out.push(dropped_bytes(conn, &bytes, "receiver_closing"));
                    }
                    return;
                }
            };
            let largest = self
                .conns
                .iter()
                .filter(|&(&id, c)| id != conn && !c.closing)
                .max_by_key(|&(&id, c)| (c.queued, Reverse(id)))
                .map(|(&id, c)| (id, c.queued));
            match largest {
                Some((other, queued)) if queued > mine => {
                    self.backpressure(other, None, LIMIT_MAX_TOTAL_QUEUE, now, out);
                }
                _ => {
                    self.backpressure(conn, Some(&bytes), LIMIT_MAX_TOTAL_QUEUE, now, out);
                    return;
                }
            }
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.queued += bytes.len();
        self.queued_open += bytes.len();
        out.push(Action::Send { conn, bytes, kind });
    }

    /// R5 on `conn`: `Control(backpressure, 0)` after what it has queued, then close 1013.
    /// `dropped` is the frame that did not fit when `conn` was its receiver (counted as
    /// dropped, never silently lost); `None` when `conn` was chosen for the relay-wide budget,
    /// whose queued frames all still go out before the Control.
    fn backpressure(
        &mut self,
        conn: ConnId,
        dropped: Option<&[u8]>,
        limit: &'static str,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let queued = c.queued;
        out.push(Action::Event(RelayEvent::Backpressure {
            conn,
            queued,
            limit,
        }));
        if let Some(bytes) = dropped {
            out.push(dropped_bytes(conn, bytes, "backpressure"));
        }
        let control = control_frame(0, ErrorCode::Backpressure);
        c.queued += control.len();
        if !c.closing {
            self.queued_open += control.len();
        }
        out.push(Action::Send {
            conn,
            bytes: control,
            kind: SendKind::Generated,
        });
        self.close_conn(
            conn,
            close_code_for(ErrorCode::Backpressure),
            "backpressure",
            now,
            out,
        );
    }

    fn close_conn(
        &mut self,
        conn: ConnId,
        code: u16,
        reason: &'static str,
        now: Duration,
        out: &mut Vec<Action>,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closing {
            return;
        }
        c.closing = true;
        // A closing connection leaves the relay-wide budget: its queue only drains from here.
        self.queued_open -= c.queued;
        out.push(Action::Close { conn, code, reason });
        self.detach(conn, now, out);
    }

    /// Applies a connection's departure to the sessions (once).
    fn detach(&mut self, conn: ConnId, now: Duration, out: &mut Vec<Action>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.closing {
            c.closing = true;
            self.queued_open -= c.queued;
        }
        match c.admission.clone() {
            Admission::Client {
                daemon_id,
                session_id,
            } => {
                let sid = session_id.get();
                let Some(d) = self.daemons.get_mut(&daemon_id) else {
                    return;
                };
                if d.sessions.get(&sid).is_none_or(|s| s.client != conn) {
                    return;
                }
                let s = d.sessions.remove(&sid).expect("checked");
                d.remember_ended(sid, now);
                out.push(state_event(sid, Some(s.state), None));
                if s.state != SessionState::Paused
                    && let Some(dc) = d.conn
                {
                    self.send(
                        dc,
                        control_frame(sid, ErrorCode::SessionEnded),
                        SendKind::Generated,
                        now,
                        out,
                    );
                }
            }
            Admission::Daemon { daemon_id, .. } => {
                let grace = self.config.grace;
                let Some(d) = self.daemons.get_mut(&daemon_id) else {
                    return;
                };
                if d.conn != Some(conn) {
                    return;
                }
                d.conn = None;
                let mut notify = Vec::new();
                let mut ids: Vec<u64> = d.sessions.keys().copied().collect();
                ids.sort_unstable();
                for sid in ids {
                    let s = d.sessions.get_mut(&sid).expect("listed");
                    match s.state {
                        SessionState::Paired => {
                            s.state = SessionState::Paused;
                            s.deadline = now + grace;
                            out.push(state_event(
                                sid,
                                Some(SessionState::Paired),
                                Some(SessionState::Paused),
                            ));
                            notify.push((s.client, sid));
                        }
                        SessionState::Pending => {
                            // Back to waiting; the grace period that began at the first drop goes on.
                            s.state = SessionState::Paused;
                            out.push(state_event(
                                sid,
                                Some(SessionState::Pending),
                                Some(SessionState::Paused),
                            ));
                            notify.push((s.client, sid));
                        }
                        SessionState::Paused => {}
                    }
                }
                for (client, sid) in notify {
                    self.send(
                        client,
                        control_frame(sid, ErrorCode::SessionPaused),
                        SendKind::Generated,
                        now,
                        out,
                    );
                }
            }
        }
    }
}

fn state_event(session_id: u64, from: Option<SessionState>, to: Option<SessionState>) -> Action {
    Action::Event(RelayEvent::SessionState {
        session_id,
        from,
        to,
    })
}

fn dropped(conn: ConnId, ty: FrameType, sid: u64, reason: &'static str) -> Action {
    Action::Event(RelayEvent::Dropped {
        conn,
        type_byte: ty.as_u8(),
        session_id: sid,
        reason,
    })
}

fn dropped_bytes(conn: ConnId, bytes: &[u8], reason: &'static str) -> Action {
    Action::Event(RelayEvent::Dropped {
        conn,
        type_byte: bytes.first().copied().unwrap_or(0),
        session_id: bytes
            .get(5..13)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_be_bytes),
        reason,
    })
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
