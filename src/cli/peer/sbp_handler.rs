//! The SBP/RPC handler of `sbrp peer daemon` (the default; `--raw` echoes bare bytes instead):
//! per session an [`Endpoint`] that sends the daemon's Handshake right after the SBRP
//! HandshakeAccept, answers Pings, and serves the reserved methods of the reference daemon
//! ([`BuiltIns`]); unknown methods get `UnsupportedMethod` (1101). A fatal SBP fault sends the
//! Error frame and a Close, and ends that session only.
//!
//! Bound: one endpoint per open SBRP session (dropped when the session ends; the session table
//! holds at most `--max-sessions`), each holding no request state (the daemon makes no calls).

use std::collections::HashMap;
use std::time::Instant;

use sbrp::sbp::endpoint::{BuiltIns, Endpoint, Event as SbpEvent};
use sbrp::sbp::{Body, Frame, FrameId, Handshake};

/// What the handler reports for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The client's SBP Handshake.
    Handshake { peer_id: String },
    /// A call was answered: `code` is set for an error answer.
    Call { method: String, code: Option<i64> },
    /// A fatal SBP fault: the session is closed.
    Fault { code: &'static str, message: String },
    /// Something dropped or ignored.
    Note(String),
}

/// The SBP side of every session of one connection.
#[derive(Debug)]
pub struct SbpSessions {
    builtins: BuiltIns,
    started: Instant,
    endpoints: HashMap<u64, Endpoint>,
}

impl SbpSessions {
    /// Handlers serving as `daemon_id`.
    pub fn new(daemon_id: &str) -> Self {
        Self {
            builtins: BuiltIns {
                daemon_id: daemon_id.to_owned(),
                name: daemon_id.to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            started: Instant::now(),
            endpoints: HashMap::new(),
        }
    }

    /// A session was opened (or re-opened): returns our SBP Handshake, the first plaintext
    /// to send on it.
    pub fn opened(&mut self, sid: u64) -> Option<Vec<u8>> {
        let ep = Endpoint::new(Handshake::new(
            format!("sbrp-daemon-{}", self.builtins.daemon_id),
            &["rpc"],
        ));
        let hello = ep.open().ok()?;
        self.endpoints.insert(sid, ep);
        Some(hello)
    }

    /// A session ended: its endpoint goes.
    pub fn ended(&mut self, sid: u64) {
        self.endpoints.remove(&sid);
    }

    /// A decrypted plaintext of session `sid`: appends the plaintexts to send to `replies`.
    /// Returns `false` when the session must end (a fatal fault, or the peer closed).
    pub fn data(
        &mut self,
        sid: u64,
        plaintext: &[u8],
        replies: &mut Vec<Vec<u8>>,
        report: &mut impl FnMut(Report),
    ) -> bool {
        let ep = self.endpoints.entry(sid).or_insert_with(|| {
            Endpoint::new(Handshake::new(
                format!("sbrp-daemon-{}", self.builtins.daemon_id),
                &["rpc"],
            ))
        });
        let mut keep = true;
        match ep.receive(plaintext, replies) {
            Ok(SbpEvent::Handshake(h)) => report(Report::Handshake { peer_id: h.peer_id }),
            Ok(SbpEvent::Request {
                cid,
                method,
                params,
            }) => {
                let uptime = self.started.elapsed().as_secs_f64();
                let outcome = self.builtins.call(&method, params, uptime);
                let code = outcome.as_ref().err().map(|e| e.0);
                if let Ok(frame) = ep.respond(cid, outcome) {
                    replies.push(frame);
                }
                report(Report::Call { method, code });
            }
            Ok(SbpEvent::Close(reason)) => {
                report(Report::Note(format!(
                    "the client closed the SBP session{}",
                    if reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", crate::cli::escape::escape(&reason))
                    }
                )));
                keep = false;
            }
            Ok(SbpEvent::Dropped(code, why)) => {
                report(Report::Note(format!(
                    "dropped a message ({code}): {}",
                    crate::cli::escape::escape(&why)
                )));
            }
            Ok(SbpEvent::PeerError { code, message }) => report(Report::Note(format!(
                "the client reports SBP error {code}: {}",
                crate::cli::escape::escape(&message)
            ))),
            Ok(_) => {}
            Err(fault) => {
                replies.push(fault.reply.clone());
                if let Ok(fid) = FrameId::random() {
                    replies.push(
                        Frame {
                            frame_id: fid,
                            timestamp: None,
                            body: Body::Close(fault.code.name().as_bytes()),
                        }
                        .encode(),
                    );
                }
                report(Report::Fault {
                    code: fault.code.name(),
                    message: fault.message.clone(),
                });
                keep = false;
            }
        }
        if !keep {
            self.endpoints.remove(&sid);
        }
        keep
    }
}
