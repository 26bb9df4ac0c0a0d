//! One side of an SBP session over SBRP, as the reference SDK runs it: the Handshake first,
//! then RPC. No I/O and no clock: plaintexts in, events and plaintexts to send out.
//!
//! - [`Endpoint::open`] gives the Handshake frame to send first (both sides send one).
//! - [`Endpoint::receive`] reads one decrypted Data plaintext. A fatal fault
//!   (`InvalidFrame`, `ProtocolViolation`, `UnsupportedVersion`, a frame before the peer's
//!   Handshake) comes back as [`Fault`] with the Error frame to send before closing; a Ping is
//!   answered with a Pong; an envelope that does not fit its subject is dropped (non-fatal, as
//!   the envelope spec asks) and reported.
//! - [`Endpoint::request`] builds a request whose `cid` is its frame id; answers are matched
//!   to it by `cid` ([`Event::Answer`]). At most [`MAX_PENDING`] requests wait at once.
//! - [`BuiltIns`] answers the reserved methods the reference daemon serves (ADR-018).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Body, Frame, FrameId, Handshake, WireCode};
use crate::RngError;
use crate::rpc::{Envelope, METHOD_DESCRIBE, METHOD_ECHO, METHOD_INFO, METHOD_LIST, RpcError};

/// Requests awaiting an answer at most.
pub const MAX_PENDING: usize = 1024;

/// What a received plaintext was.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The peer's Handshake.
    Handshake(Handshake),
    /// A request to answer (with [`Endpoint::respond`]).
    Request {
        /// Its cid.
        cid: FrameId,
        /// `m`.
        method: String,
        /// `p`.
        params: Option<Value>,
    },
    /// The answer to one of our requests.
    Answer {
        /// The cid.
        cid: FrameId,
        /// The method we called.
        method: String,
        /// `Ok(result)` or `Err((code, message))`.
        outcome: Result<Option<Value>, (i64, String)>,
    },
    /// An answer for no request of ours (late, or the peer's mistake): dropped.
    Stray(FrameId),
    /// A notification.
    Notification {
        /// `e`.
        event: String,
        /// `d`.
        data: Option<Value>,
    },
    /// A Message on an `app/…` subject.
    App {
        /// Subject.
        subject: String,
        /// Data.
        data: Vec<u8>,
    },
    /// A Ping (the Pong is in the output) or a Pong.
    Ping,
    /// A Pong.
    Pong,
    /// An Ack.
    Ack(FrameId),
    /// The peer closes, with its reason.
    Close(String),
    /// The peer reports an SBP error.
    PeerError {
        /// Its code.
        code: u16,
        /// Its message.
        message: String,
    },
    /// A Message dropped without closing (an envelope that is malformed or on the wrong
    /// subject, the reserved `stream` subject).
    Dropped(WireCode, String),
}

/// A fatal fault: send `reply` (an SBP Error frame), then close.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Fault {
    /// The registry code.
    pub code: WireCode,
    /// What is wrong.
    pub message: String,
    /// The Error frame to send.
    pub reply: Vec<u8>,
}

/// One side's SBP state.
#[derive(Debug)]
pub struct Endpoint {
    local: Handshake,
    remote: Option<Handshake>,
    pending: HashMap<FrameId, String>,
}

fn error_frame(code: WireCode, message: &str, frame_id: FrameId) -> Vec<u8> {
    Frame {
        frame_id,
        timestamp: None,
        body: Body::Error {
            code: code.value(),
            message,
            details: &[],
        },
    }
    .encode()
}

impl Endpoint {
    /// An endpoint that introduces itself with `local`.
    pub fn new(local: Handshake) -> Self {
        Self {
            local,
            remote: None,
            pending: HashMap::new(),
        }
    }

    /// The Handshake frame to send first.
    pub fn open(&self) -> Result<Vec<u8>, RngError> {
        let json = self.local.to_json();
        Ok(Frame::handshake(FrameId::random()?, &json).encode())
    }

    /// The peer's Handshake, once received.
    pub fn remote(&self) -> Option<&Handshake> {
        self.remote.as_ref()
    }

    /// Requests still waiting.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Reads one plaintext; frames to send in reply are appended to `out`.
    pub fn receive(&mut self, plaintext: &[u8], out: &mut Vec<Vec<u8>>) -> Result<Event, Fault> {
        let fault = |code: WireCode, message: String, id: FrameId| Fault {
            reply: error_frame(code, &message, id),
            code,
            message,
        };
        let frame = Frame::decode(plaintext)
            .map_err(|e| fault(e.code(), e.to_string(), FrameId::default()))?;
        let id = frame.frame_id;
        if self.remote.is_none() && !matches!(frame.body, Body::Handshake(_)) {
            return Err(fault(
                WireCode::ProtocolViolation,
                "a frame before the peer's Handshake".into(),
                id,
            ));
        }
        Ok(match frame.body {
            Body::Handshake(json) => {
                if self.remote.is_some() {
                    return Err(fault(
                        WireCode::ProtocolViolation,
                        "a second Handshake".into(),
                        id,
                    ));
                }
                let h = Handshake::parse(json).map_err(|e| fault(e.code(), e.to_string(), id))?;
                self.remote = Some(h.clone());
                Event::Handshake(h)
            }
            Body::Ping => {
                out.push(
                    Frame {
                        frame_id: FrameId::random()
                            .map_err(|e| fault(WireCode::ProtocolViolation, e.to_string(), id))?,
                        timestamp: frame.timestamp,
                        body: Body::Pong,
                    }
                    .encode(),
                );
                Event::Ping
            }
            Body::Pong => Event::Pong,
            Body::Close(r) => Event::Close(String::from_utf8_lossy(r).into_owned()),
            Body::Ack(a) => Event::Ack(a),
            Body::Error { code, message, .. } => Event::PeerError {
                code,
                message: message.to_owned(),
            },
            Body::Message { subject, data } => match Envelope::decode(subject, data) {
                Ok(None) => Event::App {
                    subject: subject.to_owned(),
                    data: data.to_vec(),
                },
                Ok(Some(env)) => self.envelope(env),
                Err(e @ RpcError::Subject(_)) => {
                    return Err(fault(e.code(), e.to_string(), id));
                }
                Err(e) => Event::Dropped(e.code(), e.to_string()),
            },
        })
    }

    fn envelope(&mut self, env: Envelope) -> Event {
        match env {
            Envelope::Request {
                method,
                params,
                cid,
            } => Event::Request {
                cid,
                method,
                params,
            },
            Envelope::Response { cid, result } => match self.pending.remove(&cid) {
                Some(method) => Event::Answer {
                    cid,
                    method,
                    outcome: Ok(result),
                },
                None => Event::Stray(cid),
            },
            Envelope::Error {
                cid, code, message, ..
            } => match self.pending.remove(&cid) {
                Some(method) => Event::Answer {
                    cid,
                    method,
                    outcome: Err((code, message)),
                },
                None => Event::Stray(cid),
            },
            Envelope::Notification { event, data } => Event::Notification { event, data },
        }
    }

    /// A request for `method`: its cid and the frame to send. `None` when [`MAX_PENDING`]
    /// requests already wait.
    pub fn request(
        &mut self,
        method: &str,
        params: Option<Value>,
    ) -> Result<Option<(FrameId, Vec<u8>)>, RngError> {
        if self.pending.len() >= MAX_PENDING {
            return Ok(None);
        }
        let id = FrameId::random()?;
        let data = Envelope::request(method, params, id).encode();
        self.pending.insert(id, method.to_owned());
        Ok(Some((id, Frame::message(id, "rpc", &data).encode())))
    }

    /// The answer to request `cid`.
    pub fn respond(
        &self,
        cid: FrameId,
        outcome: Result<Value, (i64, String)>,
    ) -> Result<Vec<u8>, RngError> {
        let env = match outcome {
            Ok(result) => Envelope::Response {
                cid,
                result: Some(result),
            },
            Err((code, message)) => Envelope::Error {
                cid,
                code,
                message,
                data: None,
            },
        };
        Ok(Frame::message(FrameId::random()?, "rpc", &env.encode()).encode())
    }
}

/// The reserved methods of the reference daemon: `$sideband/echo` (returns its params),
/// `$sideband/info` (`{daemonId, name, version, platform, arch, uptime, capabilities}`),
/// `$sideband/rpc.list` (`{methods}`, sorted), `$sideband/rpc.describe` (sparse descriptions);
/// anything else is `UnsupportedMethod` (1101) with `Method not found: NAME`.
#[derive(Clone, Debug)]
pub struct BuiltIns {
    /// `daemonId`.
    pub daemon_id: String,
    /// `name`.
    pub name: String,
    /// `version`.
    pub version: String,
}

impl BuiltIns {
    /// Every method served, sorted.
    pub fn methods() -> Vec<&'static str> {
        let mut m = vec![METHOD_DESCRIBE, METHOD_ECHO, METHOD_INFO, METHOD_LIST];
        m.sort_unstable();
        m
    }

    /// Answers `method`; `uptime` (seconds) comes from the caller's clock.
    pub fn call(
        &self,
        method: &str,
        params: Option<Value>,
        uptime: f64,
    ) -> Result<Value, (i64, String)> {
        match method {
            METHOD_ECHO => Ok(params.unwrap_or(Value::Null)),
            METHOD_INFO => Ok(json!({
                "daemonId": self.daemon_id,
                "name": self.name,
                "version": self.version,
                "platform": std::env::consts::OS,
                "arch": std::env::consts::ARCH,
                "uptime": uptime,
                "capabilities": {},
            })),
            METHOD_LIST => Ok(json!({ "methods": Self::methods() })),
            METHOD_DESCRIBE => Ok(json!({
                METHOD_ECHO: {"description": "Echo params back to the caller", "input": "any", "inputExample": "hello"},
                METHOD_INFO: {"description": "Daemon identity and capabilities", "input": "none"},
            })),
            other => Err((
                i64::from(WireCode::UnsupportedMethod.value()),
                format!("Method not found: {other}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_endpoints_talk() {
        let mut a = Endpoint::new(Handshake::new("a", &["rpc"]));
        let mut b = Endpoint::new(Handshake::new("b", &["rpc"]));
        let mut out = Vec::new();
        assert!(matches!(
            b.receive(&a.open().unwrap(), &mut out),
            Ok(Event::Handshake(h)) if h.peer_id == "a"
        ));
        assert!(matches!(
            a.receive(&b.open().unwrap(), &mut out),
            Ok(Event::Handshake(_))
        ));
        let (cid, req) = a.request(METHOD_ECHO, Some(json!([1]))).unwrap().unwrap();
        let Ok(Event::Request {
            cid: c,
            method,
            params,
        }) = b.receive(&req, &mut out)
        else {
            panic!()
        };
        assert_eq!((c, method.as_str()), (cid, METHOD_ECHO));
        let bi = BuiltIns {
            daemon_id: "d".into(),
            name: "n".into(),
            version: "v".into(),
        };
        let resp = b.respond(c, bi.call(&method, params, 0.0)).unwrap();
        assert_eq!(
            a.receive(&resp, &mut out),
            Ok(Event::Answer {
                cid,
                method: METHOD_ECHO.into(),
                outcome: Ok(Some(json!([1])))
            })
        );
        assert_eq!(a.receive(&resp, &mut out), Ok(Event::Stray(cid)));
        assert_eq!(bi.call("nope", None, 0.0).unwrap_err().0, 1101);
    }

    #[test]
    fn frames_before_the_handshake_are_fatal() {
        let mut b = Endpoint::new(Handshake::new("b", &["rpc"]));
        let mut a = Endpoint::new(Handshake::new("a", &["rpc"]));
        let (_, req) = a.request(METHOD_ECHO, None).unwrap().unwrap();
        let f = b.receive(&req, &mut Vec::new()).unwrap_err();
        assert_eq!(f.code, WireCode::ProtocolViolation);
        assert!(matches!(
            Frame::decode(&f.reply).unwrap().body,
            Body::Error { code: 1000, .. }
        ));
    }
}
