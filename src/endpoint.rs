//! The daemon side of SBRP as a sans-I/O state machine: a table of sessions keyed by session
//! id, fed one frame at a time, returning the frames to send and what happened.
//!
//! It does what a daemon on a relay must (relay-and-sbp.md §4, R7, R12): a HandshakeInit with
//! an unknown session id opens a session (a known one re-opens it), Data is decrypted for the
//! caller, a Ping is answered with a Pong, `session_ended` or a session-scoped terminal Control
//! ends that session only, and a connection-scoped (SID 0) terminal Control ends them all.
//!
//! Limits against a hostile peer ([`Limits`]), all sans-I/O (the caller passes the time in;
//! the table keeps no clock):
//! - at most [`Limits::max_sessions`] sessions (default 1024): a HandshakeInit for a new
//!   session beyond it is refused (no answer, [`Event::Refused`] with [`Refusal::MaxSessions`]),
//!   so a flood of handshakes cannot grow memory; the open sessions keep being served;
//! - a handshake budget ([`Limits::handshake_rate`] per second, default 128, with a burst of as
//!   many; 0: none): a HandshakeInit over it is refused at once ([`Refusal::HandshakeRate`]),
//!   never queued (each accept costs an X25519 exchange and an Ed25519 signature). The budget
//!   refills with the time given to [`SessionTable::handle_at`] and applies once a time was
//!   given (a caller that only uses [`SessionTable::handle`] has no clock to pace by);
//! - an idle limit ([`Limits::idle_timeout`], default 300 s): [`SessionTable::idle_deadline`]
//!   says when the connection has been silent too long (the caller closes it).
//!
//! Resumable daemons (`session:resume`, state-machine.md "Resumable Daemons"): when the
//! connection drops, [`SessionTable::suspend`] keeps every established session (keys, send
//! counter, replay window); on the next connection [`SessionTable::resume`] sends
//! `Signal(ready)` for each one still whole and `Signal(close, state_lost)` for any that is
//! not (an exhausted send counter). Kept at most [`Limits::resume_window`] (default 30 s, the
//! relay's grace period R2) and at most `max_sessions` of them: a later reconnect starts
//! afresh, the relay has expired those sessions by then.
//!
//! The same table serves byte streams (feed it the frames a [`crate::StreamDecoder`] yields)
//! and WebSocket transports (one frame per message, [`crate::ws::frame_of_message`]).
//!
//! ```
//! use sbrp::endpoint::{Event, SessionTable};
//! use sbrp::{ClientHandshake, Daemon, Frame, IdentityKeyPair, RawFrame, SessionId};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let daemon = Daemon::new(IdentityKeyPair::generate()?, "d1");
//! let pk = daemon.identity().public_key();
//! let mut table = SessionTable::new(daemon, 16);
//! let sid = SessionId::new(7).unwrap();
//! let hs = ClientHandshake::start("d1", sid)?;
//! let (mut out, mut events) = (Vec::new(), Vec::new());
//! table.handle(RawFrame::decode(&Frame::HandshakeInit(hs.init()).to_vec())?, &mut out, &mut events);
//! let Frame::HandshakeAccept(accept) = sbrp::decode_frame(&out[0])? else { panic!() };
//! let mut client = hs.finish(&accept, &pk)?;
//! table.handle(RawFrame::decode(&client.encrypt_frame(sid, b"hi")?)?, &mut out, &mut events);
//! assert!(matches!(&events[1], Event::Message { data, .. } if data == b"hi"));
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::error::{ControlCode, ErrorCode};
use crate::frame::{Frame, PingPayload, RawFrame, SessionId, Signal, SignalFrame, SignalReason};
use crate::handshake::Daemon;
use crate::session::{Session, SessionError, SessionKeys};

/// Default bound of [`SessionTable`]: live sessions per connection.
pub const DEFAULT_MAX_SESSIONS: usize = 1024;
/// Default handshake budget: HandshakeInits answered per second (burst: as many). Each costs
/// an X25519 exchange and an Ed25519 signature, some 100 µs of a core.
pub const DEFAULT_HANDSHAKE_RATE: u32 = 128;
/// Default idle limit of a connection.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default time sessions are kept for resumption after the connection dropped (the relay's
/// grace period, R2).
pub const DEFAULT_RESUME_WINDOW: Duration = Duration::from_secs(30);

/// The limits of a [`SessionTable`] against a hostile peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Sessions held at most (at least 1; default [`DEFAULT_MAX_SESSIONS`]).
    pub max_sessions: usize,
    /// HandshakeInits answered per second, with a burst of as many (0: no limit; default
    /// [`DEFAULT_HANDSHAKE_RATE`]).
    pub handshake_rate: u32,
    /// A connection silent this long should be closed (`None`: never; default
    /// [`DEFAULT_IDLE_TIMEOUT`]). See [`SessionTable::idle_deadline`].
    pub idle_timeout: Option<Duration>,
    /// How long [`SessionTable::suspend`]ed sessions stay resumable (default
    /// [`DEFAULT_RESUME_WINDOW`]).
    pub resume_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_sessions: DEFAULT_MAX_SESSIONS,
            handshake_rate: DEFAULT_HANDSHAKE_RATE,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            resume_window: DEFAULT_RESUME_WINDOW,
        }
    }
}

/// Why a HandshakeInit was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The table holds [`Limits::max_sessions`] sessions.
    MaxSessions,
    /// The handshake budget ([`Limits::handshake_rate`]) is spent.
    HandshakeRate,
}

impl Refusal {
    /// `max_sessions` or `handshake_rate`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::MaxSessions => "max_sessions",
            Self::HandshakeRate => "handshake_rate",
        }
    }
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The relay said `session_ended` (the client left).
    Ended,
    /// A terminal Control for this session (or for the whole connection, SID 0).
    Control(ControlCode),
    /// A frame for this session failed (decrypt, replay, bad payload, failed handshake).
    Failed(ErrorCode),
    /// The caller closed it (or the connection ended and the sessions were not kept).
    Closed,
    /// Its state could not be resumed after a reconnect: `Signal(close, state_lost)` was sent
    /// (or the resume window had passed).
    StateLost,
}

/// [`SessionTable::seal`] failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// No live session with that id (it ended, or never opened).
    #[error("session_not_found: no live session {0}")]
    NoSession(SessionId),
    /// The session refused the plaintext.
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl SealError {
    /// The SBRP error code.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::NoSession(_) => ErrorCode::SessionNotFound,
            Self::Session(e) => e.code(),
        }
    }
}

/// What handling a frame produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A session was opened by a HandshakeInit (`replaced`: an open one had the same id).
    Opened {
        /// The session.
        sid: SessionId,
        /// An open session with this id was replaced.
        replaced: bool,
    },
    /// A decrypted message.
    Message {
        /// The session.
        sid: SessionId,
        /// The plaintext.
        data: Vec<u8>,
    },
    /// A session ended.
    Ended {
        /// The session.
        sid: SessionId,
        /// Why.
        reason: EndReason,
        /// A description (the error, or the Control's code name).
        detail: String,
    },
    /// A HandshakeInit was refused (no answer was sent).
    Refused {
        /// The session that asked.
        sid: SessionId,
        /// Why.
        reason: Refusal,
    },
    /// A decrypted message of `len` bytes went to the [`SessionHandler`]
    /// ([`SessionTable::handle_with`] only; [`SessionTable::handle`] yields `Message`).
    Delivered {
        /// The session.
        sid: SessionId,
        /// Plaintext bytes.
        len: usize,
    },
    /// A reply of the [`SessionHandler`] could not be sealed (and was not sent).
    ReplyFailed {
        /// The session.
        sid: SessionId,
        /// Why.
        error: SealError,
    },
    /// A kept session was resumed after a reconnect (`Signal(ready)` was sent).
    Resumed {
        /// The session.
        sid: SessionId,
    },
    /// A Ping was answered.
    Ping {
        /// Its payload length (0–8).
        len: usize,
    },
    /// A non-terminal Control (session_paused, rate_limited, …) or a terminal one on SID 0.
    Control {
        /// Its session id (0: the connection).
        session_id: u64,
        /// The code.
        code: ControlCode,
        /// Its text (lossy UTF-8; escape before printing).
        message: String,
    },
    /// A frame a daemon does not act on (Pong, HandshakeAccept, Signal, Data without a
    /// session), with its type name.
    Ignored {
        /// Its session id.
        session_id: u64,
        /// What it was.
        what: String,
    },
}

/// What a daemon does with each session's messages: the seam where SBP/RPC or raw echo plugs
/// in. Any `FnMut(SessionId, Vec<u8>) -> Vec<Vec<u8>>` is one (returns the replies).
pub trait SessionHandler: Send {
    /// A session opened; returns the plaintexts to send on it at once (e.g. a greeting).
    fn opened(&mut self, _sid: SessionId) -> Vec<Vec<u8>> {
        Vec::new()
    }
    /// A decrypted message; returns the plaintexts to send back on that session.
    fn message(&mut self, sid: SessionId, data: Vec<u8>) -> Vec<Vec<u8>>;
    /// Asked after [`SessionHandler::message`]: `true` ends the session (once the replies are
    /// sent), e.g. after a fatal application error.
    fn finished(&mut self, _sid: SessionId) -> bool {
        false
    }
    /// A resumable daemon reconnected: whether this kept session's application state is still
    /// good (`false` sends `Signal(close, state_lost)` instead of `Signal(ready)`).
    fn resumable(&mut self, _sid: SessionId) -> bool {
        true
    }
    /// A session ended.
    fn ended(&mut self, _sid: SessionId, _reason: &EndReason) {}
}

impl<F: FnMut(SessionId, Vec<u8>) -> Vec<Vec<u8>> + Send> SessionHandler for F {
    fn message(&mut self, sid: SessionId, data: Vec<u8>) -> Vec<Vec<u8>> {
        self(sid, data)
    }
}

/// Called with the keys of every session opened (e.g. to write a key log).
pub type KeyObserver = Box<dyn FnMut(SessionId, &SessionKeys) + Send>;

/// The handshake budget: a token bucket refilled with the times passed in.
#[derive(Debug)]
struct Budget {
    tokens: f64,
    last: Option<Instant>,
}

/// A session table for one daemon connection. Sans-I/O: frames in, frames (each one message)
/// and events out; times passed in.
pub struct SessionTable {
    daemon: Daemon,
    sessions: HashMap<u64, Session>,
    limits: Limits,
    budget: Budget,
    handshakes: u64,
    refused: [u64; 2],
    last_input: Option<Instant>,
    suspended: Option<Instant>,
    on_keys: Option<KeyObserver>,
}

impl std::fmt::Debug for SessionTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTable")
            .field("sessions", &self.sessions.len())
            .field("limits", &self.limits)
            .field("handshakes", &self.handshakes)
            .field("refused", &self.refused)
            .field("suspended", &self.suspended.is_some())
            .finish_non_exhaustive()
    }
}

impl SessionTable {
    /// A table for `daemon` holding at most `max_sessions` sessions (at least 1), the other
    /// limits at their defaults.
    pub fn new(daemon: Daemon, max_sessions: usize) -> Self {
        Self::with_limits(
            daemon,
            Limits {
                max_sessions,
                ..Limits::default()
            },
        )
    }

    /// A table for `daemon` with `limits` (`max_sessions` raised to at least 1).
    pub fn with_limits(daemon: Daemon, mut limits: Limits) -> Self {
        limits.max_sessions = limits.max_sessions.max(1);
        Self {
            daemon,
            sessions: HashMap::new(),
            budget: Budget {
                tokens: f64::from(limits.handshake_rate),
                last: None,
            },
            limits,
            handshakes: 0,
            refused: [0; 2],
            last_input: None,
            suspended: None,
            on_keys: None,
        }
    }

    /// Calls `f` with the keys of every session opened (for a key log).
    pub fn set_key_observer(&mut self, f: impl FnMut(SessionId, &SessionKeys) + Send + 'static) {
        self.on_keys = Some(Box::new(f));
    }

    /// The daemon.
    pub fn daemon(&self) -> &Daemon {
        &self.daemon
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The bound on live sessions.
    pub fn max_sessions(&self) -> usize {
        self.limits.max_sessions
    }

    /// Live sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// No live session.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Whether `sid` is live.
    pub fn contains(&self, sid: SessionId) -> bool {
        self.sessions.contains_key(&sid.get())
    }

    /// The live session ids (in no particular order).
    pub fn session_ids(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.sessions.keys().filter_map(|k| SessionId::new(*k))
    }

    /// Handshakes answered so far.
    pub fn handshakes(&self) -> u64 {
        self.handshakes
    }

    /// HandshakeInits refused so far: (over `max_sessions`, over the handshake budget).
    pub fn refused(&self) -> (u64, u64) {
        (self.refused[0], self.refused[1])
    }

    /// When the connection will have been silent for [`Limits::idle_timeout`] (`None`: no
    /// limit, or nothing handled with a time yet). The caller closes it then.
    pub fn idle_deadline(&self) -> Option<Instant> {
        Some(self.last_input? + self.limits.idle_timeout?)
    }

    /// Starts the idle clock (a fresh connection) without a frame.
    pub fn touch(&mut self, now: Instant) {
        self.last_input = Some(now);
    }

    /// Encrypts `plaintext` for `sid` into a Data frame.
    pub fn seal(&mut self, sid: SessionId, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        match self.sessions.get_mut(&sid.get()) {
            Some(s) => Ok(s.encrypt_frame(sid, plaintext)?),
            None => Err(SealError::NoSession(sid)),
        }
    }

    /// Ends `sid` (its keys are wiped); true if it was live.
    pub fn close(&mut self, sid: SessionId) -> bool {
        self.sessions.remove(&sid.get()).is_some()
    }

    /// Ends every session (the connection dropped): one `Ended` event each.
    pub fn clear(&mut self, reason: EndReason, events: &mut Vec<Event>) {
        self.suspended = None;
        for (sid, _) in self.sessions.drain() {
            if let Some(sid) = SessionId::new(sid) {
                events.push(Event::Ended {
                    sid,
                    reason: reason.clone(),
                    detail: "the connection ended".into(),
                });
            }
        }
    }

    /// The connection dropped and the daemon is resumable: keeps every session (keys, send
    /// counter, replay window) for [`SessionTable::resume`] within [`Limits::resume_window`].
    pub fn suspend(&mut self, now: Instant) {
        if self.suspended.is_none() {
            self.suspended = Some(now);
        }
        self.last_input = None;
    }

    /// Whether sessions are kept from a dropped connection.
    pub fn is_suspended(&self) -> bool {
        self.suspended.is_some()
    }

    /// Sessions [`SessionTable::resume`] would signal at `now`: the kept ones while the resume
    /// window is open, else 0.
    pub fn resumable_at(&self, now: Instant) -> usize {
        match self.suspended {
            Some(since) if now.saturating_duration_since(since) <= self.limits.resume_window => {
                self.sessions.len()
            }
            _ => 0,
        }
    }

    /// A new connection after [`SessionTable::suspend`]: within the resume window, appends
    /// `Signal(ready)` to `out` for every kept session whose state is whole (an `Event::Resumed`
    /// each) and `Signal(close, state_lost)` for any whose send counter is exhausted (ended,
    /// `EndReason::StateLost`); after the window, ends every kept session without a Signal (the
    /// relay has expired them). Without a suspension: nothing.
    pub fn resume(&mut self, now: Instant, out: &mut Vec<Vec<u8>>, events: &mut Vec<Event>) {
        let Some(since) = self.suspended.take() else {
            return;
        };
        self.last_input = Some(now);
        if now.saturating_duration_since(since) > self.limits.resume_window {
            for (sid, _) in self.sessions.drain() {
                if let Some(sid) = SessionId::new(sid) {
                    events.push(Event::Ended {
                        sid,
                        reason: EndReason::StateLost,
                        detail: format!(
                            "not resumed: the connection was down longer than the resume window ({} s)",
                            self.limits.resume_window.as_secs_f64()
                        ),
                    });
                }
            }
            return;
        }
        let mut ids: Vec<u64> = self.sessions.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(sid) = SessionId::new(id) else {
                continue;
            };
            // In-memory state is whole by construction (keys of 32 bytes, a replay window
            // consistent with its highest seq); what can fail is an exhausted send counter.
            let whole = self
                .sessions
                .get(&id)
                .is_some_and(|s| s.next_seq().is_some());
            let signal = |signal, reason| {
                Frame::Signal(SignalFrame {
                    session_id: sid,
                    signal,
                    reason,
                })
                .to_vec()
            };
            if whole {
                out.push(signal(Signal::Ready, SignalReason::None));
                events.push(Event::Resumed { sid });
            } else {
                self.sessions.remove(&id);
                out.push(signal(Signal::Close, SignalReason::StateLost));
                events.push(Event::Ended {
                    sid,
                    reason: EndReason::StateLost,
                    detail: "state_lost: the send counter is exhausted".into(),
                });
            }
        }
    }

    /// Ends a kept session whose state the caller lost (e.g. its application state): sends
    /// `Signal(close, state_lost)`; true if it was live.
    pub fn lose(&mut self, sid: SessionId, out: &mut Vec<Vec<u8>>) -> bool {
        let live = self.sessions.remove(&sid.get()).is_some();
        if live {
            out.push(
                Frame::Signal(SignalFrame {
                    session_id: sid,
                    signal: Signal::Close,
                    reason: SignalReason::StateLost,
                })
                .to_vec(),
            );
        }
        live
    }

    fn fail(&mut self, sid: u64, code: ErrorCode, detail: String, events: &mut Vec<Event>) {
        self.sessions.remove(&sid);
        if let Some(sid) = SessionId::new(sid) {
            events.push(Event::Ended {
                sid,
                reason: EndReason::Failed(code),
                detail,
            });
        }
    }

    /// The budget applies once a time was given ([`SessionTable::handle_at`]).
    fn rate_limited(&self) -> bool {
        self.limits.handshake_rate > 0 && self.budget.last.is_some()
    }

    fn refill(&mut self, now: Instant) {
        let rate = f64::from(self.limits.handshake_rate);
        if let Some(last) = self.budget.last {
            let passed = now.saturating_duration_since(last).as_secs_f64();
            self.budget.tokens = (self.budget.tokens + passed * rate).min(rate);
        }
        self.budget.last = Some(now);
    }

    /// [`SessionTable::handle`] at time `now`: refills the handshake budget and restarts the
    /// idle clock first.
    pub fn handle_at(
        &mut self,
        now: Instant,
        raw: RawFrame<'_>,
        out: &mut Vec<Vec<u8>>,
        events: &mut Vec<Event>,
    ) {
        self.refill(now);
        self.last_input = Some(now);
        self.handle(raw, out, events);
    }

    /// [`SessionTable::handle_at`] with `handler` serving the sessions: a decrypted message
    /// goes to [`SessionHandler::message`] (an [`Event::Delivered`] instead of `Message`), a
    /// new session to [`SessionHandler::opened`], an ended one to [`SessionHandler::ended`];
    /// the handler's replies are sealed into `out` after the frames of the table.
    pub fn handle_with(
        &mut self,
        now: Instant,
        raw: RawFrame<'_>,
        handler: &mut impl SessionHandler,
        out: &mut Vec<Vec<u8>>,
        events: &mut Vec<Event>,
    ) {
        let first = events.len();
        self.handle_at(now, raw, out, events);
        let mine: Vec<Event> = events.drain(first..).collect();
        for event in mine {
            match event {
                Event::Message { sid, data } => {
                    events.push(Event::Delivered {
                        sid,
                        len: data.len(),
                    });
                    let replies = handler.message(sid, data);
                    self.seal_replies(sid, replies, out, events);
                    if handler.finished(sid) && self.close(sid) {
                        handler.ended(sid, &EndReason::Closed);
                        events.push(Event::Ended {
                            sid,
                            reason: EndReason::Closed,
                            detail: "the handler ended the session".into(),
                        });
                    }
                }
                Event::Opened { sid, replaced } => {
                    events.push(Event::Opened { sid, replaced });
                    let greeting = handler.opened(sid);
                    self.seal_replies(sid, greeting, out, events);
                }
                other => {
                    if let Event::Ended { sid, reason, .. } = &other {
                        handler.ended(*sid, reason);
                    }
                    events.push(other);
                }
            }
        }
    }

    fn seal_replies(
        &mut self,
        sid: SessionId,
        replies: Vec<Vec<u8>>,
        out: &mut Vec<Vec<u8>>,
        events: &mut Vec<Event>,
    ) {
        for reply in replies {
            match self.seal(sid, &reply) {
                Ok(f) => out.push(f),
                Err(error) => events.push(Event::ReplyFailed { sid, error }),
            }
        }
    }

    /// Handles one frame (header rules already checked): appends the frames to send to `out`
    /// (one message each) and what happened to `events`.
    pub fn handle(&mut self, raw: RawFrame<'_>, out: &mut Vec<Vec<u8>>, events: &mut Vec<Event>) {
        let sid = raw.session_id();
        let frame = match raw.parse() {
            Ok(f) => f,
            Err(e) => {
                let detail = e.to_string();
                if sid == 0 {
                    events.push(Event::Ignored {
                        session_id: 0,
                        what: detail,
                    });
                } else {
                    self.fail(sid, e.code(), detail, events);
                }
                return;
            }
        };
        match frame {
            Frame::HandshakeInit(init) => {
                let replaced = self.sessions.contains_key(&sid);
                let Some(session_id) = SessionId::new(sid) else {
                    return;
                };
                let refusal = if !replaced && self.sessions.len() >= self.limits.max_sessions {
                    Some(Refusal::MaxSessions)
                } else if self.rate_limited() && self.budget.tokens < 1.0 {
                    Some(Refusal::HandshakeRate)
                } else {
                    None
                };
                if let Some(reason) = refusal {
                    let n = &mut self.refused[usize::from(reason == Refusal::HandshakeRate)];
                    *n = n.saturating_add(1);
                    events.push(Event::Refused {
                        sid: session_id,
                        reason,
                    });
                    return;
                }
                if self.rate_limited() {
                    self.budget.tokens -= 1.0;
                }
                match self.daemon.accept(&init) {
                    Ok((accept, session)) => {
                        if let Some(f) = &mut self.on_keys {
                            f(session_id, session.keys());
                        }
                        out.push(Frame::HandshakeAccept(accept).to_vec());
                        self.sessions.insert(sid, session);
                        self.handshakes += 1;
                        events.push(Event::Opened {
                            sid: session_id,
                            replaced,
                        });
                    }
                    Err(e) => self.fail(sid, e.code(), e.to_string(), events),
                }
            }
            Frame::Data(d) => {
                let Some(session) = self.sessions.get_mut(&sid) else {
                    events.push(Event::Ignored {
                        session_id: sid,
                        what: "a Data frame for a session without a handshake".into(),
                    });
                    return;
                };
                match session.decrypt(d.payload.as_bytes()) {
                    Ok(data) => events.push(Event::Message {
                        sid: d.session_id,
                        data,
                    }),
                    Err(e) => self.fail(sid, e.code(), e.to_string(), events),
                }
            }
            Frame::Ping(p) => {
                out.push(Frame::Pong(PingPayload::new(p.as_bytes()).unwrap_or_default()).to_vec());
                events.push(Event::Ping {
                    len: p.as_bytes().len(),
                });
            }
            Frame::Control(c) => {
                let code = c.code;
                let message = c.message_lossy().into_owned();
                let ends = code.is_terminal() || code.known() == Some(ErrorCode::SessionEnded);
                match SessionId::new(c.session_id) {
                    Some(s) if ends => {
                        self.sessions.remove(&s.get());
                        events.push(Event::Ended {
                            sid: s,
                            reason: if code.is_terminal() {
                                EndReason::Control(code)
                            } else {
                                EndReason::Ended
                            },
                            detail: code.name().unwrap_or("unknown").to_owned(),
                        });
                    }
                    _ => {
                        if c.session_id == 0 && code.is_terminal() {
                            self.clear(EndReason::Control(code), events);
                        }
                        events.push(Event::Control {
                            session_id: c.session_id,
                            code,
                            message,
                        });
                    }
                }
            }
            Frame::Pong(_) | Frame::HandshakeAccept(_) | Frame::Signal(_) => {
                events.push(Event::Ignored {
                    session_id: sid,
                    what: format!("a {} frame", raw.frame_type()),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientHandshake, IdentityKeyPair};

    fn table(max: usize) -> (SessionTable, crate::IdentityPublicKey) {
        let d = Daemon::new(IdentityKeyPair::from_seed(&[3; 32]), "d1");
        let pk = d.identity().public_key();
        (SessionTable::new(d, max), pk)
    }

    fn feed(t: &mut SessionTable, bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<Event>) {
        let (mut out, mut ev) = (Vec::new(), Vec::new());
        t.handle(RawFrame::decode(bytes).unwrap(), &mut out, &mut ev);
        (out, ev)
    }

    fn open(t: &mut SessionTable, pk: &crate::IdentityPublicKey, n: u64) -> Option<Session> {
        let sid = SessionId::new(n).unwrap();
        let hs = ClientHandshake::start("d1", sid).unwrap();
        let (out, _) = feed(t, &Frame::HandshakeInit(hs.init()).to_vec());
        let Frame::HandshakeAccept(a) = crate::decode_frame(out.first()?).unwrap() else {
            panic!()
        };
        Some(hs.finish(&a, pk).unwrap())
    }

    #[test]
    fn sessions_multiplex_and_end_one_by_one() {
        let (mut t, pk) = table(8);
        let mut c1 = open(&mut t, &pk, 1).unwrap();
        let mut c2 = open(&mut t, &pk, 2).unwrap();
        let s1 = SessionId::new(1).unwrap();
        let s2 = SessionId::new(2).unwrap();
        let (_, ev) = feed(&mut t, &c2.encrypt_frame(s2, b"two").unwrap());
        assert_eq!(
            ev,
            [Event::Message {
                sid: s2,
                data: b"two".to_vec()
            }]
        );
        let reply = t.seal(s2, b"back").unwrap();
        let Frame::Data(d) = crate::decode_frame(&reply).unwrap() else {
            panic!()
        };
        assert_eq!(c2.decrypt(d.payload.as_bytes()).unwrap(), b"back");
        // session_ended for 1 ends only 1 (R7).
        let (_, ev) = feed(
            &mut t,
            &hex::decode("20000000020000000000000001".to_owned() + "1003").unwrap(),
        );
        assert!(
            matches!(ev[..], [Event::Ended { sid, reason: EndReason::Ended, .. }] if sid == s1)
        );
        assert!(!t.contains(s1) && t.contains(s2));
        let (_, ev) = feed(&mut t, &c1.encrypt_frame(s1, b"x").unwrap());
        assert!(matches!(ev[..], [Event::Ignored { .. }]));
        // A terminal Control on SID 0 ends all.
        let (_, ev) = feed(
            &mut t,
            &hex::decode("200000000200000000000000000601").unwrap(),
        );
        assert!(
            matches!(ev[..], [Event::Ended { sid, reason: EndReason::Control(_), .. }, Event::Control { .. }] if sid == s2)
        );
        assert!(t.is_empty());
    }

    #[test]
    fn max_sessions_bounds_the_table() {
        let (mut t, pk) = table(2);
        assert!(open(&mut t, &pk, 1).is_some());
        assert!(open(&mut t, &pk, 2).is_some());
        assert!(open(&mut t, &pk, 3).is_none());
        assert_eq!(t.len(), 2);
        // Re-opening a live id is allowed at the bound.
        assert!(open(&mut t, &pk, 2).is_some());
    }

    #[test]
    fn ping_pong_and_replay_ends_the_session() {
        let (mut t, pk) = table(4);
        let (out, ev) = feed(
            &mut t,
            &hex::decode("10000000020000000000000000abcd").unwrap(),
        );
        assert_eq!(
            (out[0].clone(), ev),
            (
                hex::decode("11000000020000000000000000abcd").unwrap(),
                vec![Event::Ping { len: 2 }]
            )
        );
        let mut c = open(&mut t, &pk, 5).unwrap();
        let s = SessionId::new(5).unwrap();
        let f = c.encrypt_frame(s, b"m").unwrap();
        feed(&mut t, &f);
        let (_, ev) = feed(&mut t, &f);
        assert!(matches!(
            ev[..],
            [Event::Ended {
                reason: EndReason::Failed(ErrorCode::SequenceError),
                ..
            }]
        ));
    }

    #[test]
    fn the_handshake_budget_refuses_at_once_and_refills_with_time() {
        let d = Daemon::new(IdentityKeyPair::from_seed(&[3; 32]), "d1");
        let mut t = SessionTable::with_limits(
            d,
            Limits {
                max_sessions: 100_000,
                handshake_rate: 10,
                ..Limits::default()
            },
        );
        let t0 = Instant::now();
        let burst = |t: &mut SessionTable, at: Instant, ids: std::ops::Range<u64>| {
            let (mut out, mut ev) = (Vec::new(), Vec::new());
            for n in ids {
                let hs = ClientHandshake::start("d1", SessionId::new(n).unwrap()).unwrap();
                let init = Frame::HandshakeInit(hs.init()).to_vec();
                t.handle_at(at, RawFrame::decode(&init).unwrap(), &mut out, &mut ev);
            }
            out.len()
        };
        assert_eq!(burst(&mut t, t0, 1..51), 10, "one burst");
        assert_eq!(t.refused(), (0, 40));
        assert_eq!(burst(&mut t, t0 + Duration::from_millis(500), 100..121), 5);
        // A long pause refills one burst, no more.
        assert_eq!(burst(&mut t, t0 + Duration::from_secs(3600), 200..301), 10);
        assert_eq!(
            t.idle_deadline(),
            Some(t0 + Duration::from_secs(3600) + DEFAULT_IDLE_TIMEOUT)
        );
    }

    #[test]
    fn refusals_name_their_reason() {
        let (mut t, pk) = table(1);
        assert!(open(&mut t, &pk, 1).is_some());
        let hs = ClientHandshake::start("d1", SessionId::new(2).unwrap()).unwrap();
        let (out, ev) = feed(&mut t, &Frame::HandshakeInit(hs.init()).to_vec());
        assert!(out.is_empty());
        assert_eq!(
            ev,
            [Event::Refused {
                sid: SessionId::new(2).unwrap(),
                reason: Refusal::MaxSessions
            }]
        );
        assert_eq!(t.refused(), (1, 0));
    }

    #[test]
    fn suspended_sessions_resume_with_their_keys_and_counters() {
        let (mut t, pk) = table(8);
        let mut c = open(&mut t, &pk, 4).unwrap();
        let s = SessionId::new(4).unwrap();
        let f1 = c.encrypt_frame(s, b"before").unwrap();
        feed(&mut t, &f1);
        let reply = t.seal(s, b"r1").unwrap();
        let t0 = Instant::now();
        t.suspend(t0);
        assert!(t.is_suspended() && t.contains(s));
        assert_eq!(t.resumable_at(t0 + DEFAULT_RESUME_WINDOW), 1);
        assert_eq!(
            t.resumable_at(t0 + DEFAULT_RESUME_WINDOW + Duration::from_millis(1)),
            0
        );
        let (mut out, mut ev) = (Vec::new(), Vec::new());
        t.resume(t0 + Duration::from_secs(2), &mut out, &mut ev);
        assert_eq!(
            out,
            [hex::decode("04000000020000000000000004")
                .unwrap()
                .into_iter()
                .chain([0, 0])
                .collect::<Vec<u8>>()]
        );
        assert_eq!(ev, [Event::Resumed { sid: s }]);
        // The replay window survived: the old frame is refused, a new one accepted.
        let f2 = c.encrypt_frame(s, b"after").unwrap();
        let (_, ev) = feed(&mut t, &f2);
        assert_eq!(
            ev,
            [Event::Message {
                sid: s,
                data: b"after".to_vec()
            }]
        );
        // The send counter survived: the client accepts the replies in order, no reuse.
        let reply2 = t.seal(s, b"r2").unwrap();
        for (r, want) in [(reply, &b"r1"[..]), (reply2, b"r2")] {
            let Frame::Data(d) = crate::decode_frame(&r).unwrap() else {
                panic!()
            };
            assert_eq!(c.decrypt(d.payload.as_bytes()).unwrap(), want);
        }
        let (_, ev) = feed(&mut t, &f1);
        assert!(matches!(
            ev[..],
            [Event::Ended {
                reason: EndReason::Failed(ErrorCode::SequenceError),
                ..
            }]
        ));
    }

    #[test]
    fn a_reconnect_after_the_resume_window_keeps_nothing_and_a_lost_state_is_signalled() {
        let (mut t, pk) = table(8);
        open(&mut t, &pk, 1).unwrap();
        let t0 = Instant::now();
        t.suspend(t0);
        let (mut out, mut ev) = (Vec::new(), Vec::new());
        t.resume(
            t0 + DEFAULT_RESUME_WINDOW + Duration::from_secs(1),
            &mut out,
            &mut ev,
        );
        assert!(out.is_empty() && t.is_empty());
        assert!(matches!(
            ev[..],
            [Event::Ended {
                reason: EndReason::StateLost,
                ..
            }]
        ));
        // lose(): Signal(close, state_lost) = 04 00000002 sid 01 01.
        open(&mut t, &pk, 9).unwrap();
        let mut out = Vec::new();
        assert!(t.lose(SessionId::new(9).unwrap(), &mut out));
        assert_eq!(
            out,
            [hex::decode("0400000002000000000000000901 01".replace(' ', "")).unwrap()]
        );
        // Without a suspension resume() does nothing.
        let (mut out, mut ev) = (Vec::new(), Vec::new());
        t.resume(t0, &mut out, &mut ev);
        assert!(out.is_empty() && ev.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_frames_never_panic_and_never_grow_past_the_bound(
            frames in proptest::collection::vec((0u8..0x22, 0u64..4, proptest::collection::vec(proptest::num::u8::ANY, 0..140)), 0..40)
        ) {
            let (mut t, _) = table(2);
            let (mut out, mut ev) = (Vec::new(), Vec::new());
            for (ty, sid, payload) in frames {
                let mut b = vec![ty];
                b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                b.extend_from_slice(&sid.to_be_bytes());
                b.extend_from_slice(&payload);
                if let Ok(raw) = RawFrame::decode(&b) {
                    t.handle(raw, &mut out, &mut ev);
                }
                proptest::prop_assert!(t.len() <= 2);
            }
        }
    }
}
