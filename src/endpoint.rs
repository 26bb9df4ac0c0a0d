//! The daemon side of SBRP as a sans-I/O state machine: a table of sessions keyed by session
//! id, fed one frame at a time, returning the frames to send and what happened.
//!
//! It does what a daemon on a relay must (relay-and-sbp.md §4, R7, R12): a HandshakeInit with
//! an unknown session id opens a session (a known one re-opens it), Data is decrypted for the
//! caller, a Ping is answered with a Pong, `session_ended` or a session-scoped terminal Control
//! ends that session only, and a connection-scoped (SID 0) terminal Control ends them all.
//! The table holds at most [`SessionTable::max_sessions`] sessions: a HandshakeInit beyond it
//! is refused (no answer, [`Event::Refused`]), so a flood of handshakes cannot grow memory.
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

use crate::error::{ControlCode, ErrorCode};
use crate::frame::{Frame, PingPayload, RawFrame, SessionId};
use crate::handshake::Daemon;
use crate::session::{Session, SessionError, SessionKeys};

/// Default bound of [`SessionTable`]: live sessions per connection.
pub const DEFAULT_MAX_SESSIONS: usize = 1024;

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The relay said `session_ended` (the client left).
    Ended,
    /// A terminal Control for this session (or for the whole connection, SID 0).
    Control(ControlCode),
    /// A frame for this session failed (decrypt, replay, bad payload, failed handshake).
    Failed(ErrorCode),
    /// The caller closed it.
    Closed,
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
    /// A HandshakeInit was refused: the table is full.
    Refused {
        /// The session that asked.
        sid: SessionId,
    },
    /// A Ping was answered.
    Ping,
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

/// Called with the keys of every session opened (e.g. to write a key log).
pub type KeyObserver = Box<dyn FnMut(SessionId, &SessionKeys) + Send>;

/// A session table for one daemon connection. Sans-I/O: frames in, frames (each one message)
/// and events out.
pub struct SessionTable {
    daemon: Daemon,
    sessions: HashMap<u64, Session>,
    max_sessions: usize,
    handshakes: u64,
    on_keys: Option<KeyObserver>,
}

impl std::fmt::Debug for SessionTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTable")
            .field("sessions", &self.sessions.len())
            .field("max_sessions", &self.max_sessions)
            .field("handshakes", &self.handshakes)
            .finish_non_exhaustive()
    }
}

impl SessionTable {
    /// A table for `daemon` holding at most `max_sessions` sessions (at least 1).
    pub fn new(daemon: Daemon, max_sessions: usize) -> Self {
        Self {
            daemon,
            sessions: HashMap::new(),
            max_sessions: max_sessions.max(1),
            handshakes: 0,
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

    /// The bound on live sessions.
    pub fn max_sessions(&self) -> usize {
        self.max_sessions
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

    /// Handshakes answered so far.
    pub fn handshakes(&self) -> u64 {
        self.handshakes
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
                if !replaced && self.sessions.len() >= self.max_sessions {
                    events.push(Event::Refused { sid: session_id });
                    return;
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
                events.push(Event::Ping);
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
                vec![Event::Ping]
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
