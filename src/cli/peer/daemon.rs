//! `sbrp peer daemon`: an SBP/RPC (or `--raw` echo) daemon.
//!
//! One session table for every transport: the library's [`SessionTable`] (sessions keyed by
//! session id, the limits, resumable sessions) with the CLI's [`Handler`] serving each session.
//! On stdio, TCP and `--exec` peers a [`DaemonConn`] puts the frame decoder in front of it: a bad
//! frame or a failed decrypt ends that session, a header error ends the connection (the stream
//! cannot be re-synchronised). With `--relay` the library's
//! [`sbrp::relay_client::RelayDaemon`] drives the same table and handler over the presence
//! connection.
//!
//! Limits against a hostile peer (see README "Limits"; [`sbrp::endpoint::Limits`]): at most
//! `--max-sessions` sessions per connection (a HandshakeInit beyond is refused: no accept,
//! logged and counted, the open sessions keep being served); a handshake budget per connection
//! (`--handshake-rate` per second, with a burst of as many; a HandshakeInit over it is refused at
//! once, never queued, so reading goes on at full speed); `--idle-timeout` on every connection at
//! all times; and on a byte stream a frame whose header has started must be complete within the
//! handshake timeout.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use sbrp::endpoint::{EndReason, Event as TableEvent, Limits, SessionHandler, SessionTable};
use sbrp::{ControlCode, Daemon, ErrorCode, SessionId, StreamDecoder, StreamError};

use super::Common;
use super::transport::{Incoming, Transport};
use crate::cli::escape::escape;
use crate::cli::exit::{CliError, CliResult, Exit};
use crate::cli::keylog_file::KeyLog;
use crate::cli::output::Output;
use crate::cli::output::harden_json;

/// `sbrp peer daemon`
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Limits per connection: at most --max-sessions sessions (1024); a HandshakeInit for a new
session beyond that, or over the --handshake-rate budget (128 per second, with a burst of as
many), gets no accept: it is refused at once, never queued, logged (the 1st, 2nd, 4th, 8th ...)
and counted, and the open sessions keep being served. A connection that sends nothing for
--idle-timeout (300 s) is closed, at any time (with --relay the daemon then reconnects: a relay
pings every 20 s, so only a dead one is silent that long); a frame whose header has started must
be complete within --handshake-timeout (30 s). With --listen, at most --max-connections
connections are served at once. The same limits hold for library users (sbrp::endpoint::Limits).

With --relay --resumable a dropped presence connection keeps the established sessions (at most
--max-sessions, for at most 30 s, the relay's grace period); after reconnecting the daemon sends
Signal(ready) for each, and the relay resumes their clients. SIGTERM or SIGINT closes the
presence connection with 1001 and exits 0.")]
pub struct Args {
    /// The daemon's Ed25519 secret key file (any encoding `sbrp keygen` writes; `-` for
    /// stdin); must not be readable by group or others
    #[arg(long, value_name = "FILE")]
    key: PathBuf,

    /// The daemon id clients ask for (part of what the daemon signs)
    #[arg(long, value_name = "ID")]
    daemon_id: String,

    /// Serve TCP connections on HOST:PORT instead of stdin/stdout (port 0 picks one; the
    /// address is printed on stderr)
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "relay")]
    listen: Option<String>,

    /// Echo bare SBRP Data payloads instead of speaking SBP and RPC (for SBRP-only peers)
    #[arg(long)]
    raw: bool,

    /// Log events on stderr as JSON lines (schema sbrp.peer-daemon/1) instead of text
    #[arg(long)]
    json: bool,

    /// With --listen: the most connections served at once (more are closed at once)
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    max_connections: u32,

    /// The most sessions one connection may hold; a HandshakeInit for a new session beyond
    /// it gets no accept (it is logged and counted)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_SESSIONS, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_sessions: u32,

    /// Close a connection that sent nothing for this long (0: never); with --relay, then
    /// reconnect
    #[arg(long, value_name = "SECONDS", default_value = "300", value_parser = super::parse_seconds)]
    idle_timeout: Duration,

    /// Handshakes answered per second on one connection, with a burst of as many (0: no
    /// limit); a HandshakeInit over the budget is refused at once, never queued
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HANDSHAKE_RATE)]
    handshake_rate: u32,

    #[cfg(feature = "relay-client")]
    #[command(flatten)]
    relay: super::relay::RelayArgs,

    /// With --relay: end when the presence connection ends instead of reconnecting
    #[arg(long)]
    once: bool,

    /// With --relay: keep the established sessions (keys, counters, replay windows) across a
    /// reconnect and resume them (Signal ready), for up to 30 s; the token needs scope
    /// session:resume (sbrp token mint --scp session:resume)
    #[cfg(feature = "relay-client")]
    #[arg(long, requires = "relay")]
    resumable: bool,

    #[command(flatten)]
    common: Common,
}

/// `--max-sessions` by default.
pub const DEFAULT_MAX_SESSIONS: u32 = sbrp::endpoint::DEFAULT_MAX_SESSIONS as u32;
/// `--handshake-rate` by default (see [`sbrp::endpoint::DEFAULT_HANDSHAKE_RATE`]).
pub const DEFAULT_HANDSHAKE_RATE: u32 = sbrp::endpoint::DEFAULT_HANDSHAKE_RATE;

pub use sbrp::endpoint::Refusal;

/// Something that happened on a connection, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A session was opened (or re-opened by a new HandshakeInit).
    Handshake { session: u64, replaced: bool },
    /// A message was echoed.
    Echo { session: u64, len: usize },
    /// A Ping was answered.
    Ping { len: usize },
    /// A session ended because of an error.
    SessionFailed {
        session: u64,
        code: ErrorCode,
        message: String,
    },
    /// A frame that needs no answer or cannot be answered.
    Ignored { session: u64, what: String },
    /// SBP/RPC inside a session (not `--raw`).
    Sbp {
        session: u64,
        report: super::sbp_handler::Report,
    },
    /// A kept session was resumed after a reconnect (`Signal(ready)` sent).
    Resumed { session: u64 },
    /// A kept session could not be resumed (`Signal(close, state_lost)` sent, or the
    /// connection was down longer than the resume window).
    Lost { session: u64, message: String },
    /// A Control frame arrived (from a relay).
    Control {
        session: u64,
        code: ControlCode,
        message: String,
    },
    /// A HandshakeInit was refused (logged for the 1st, 2nd, 4th, 8th… refusal of the
    /// connection; `count` is the total so far).
    Refused {
        session: u64,
        reason: Refusal,
        count: u64,
    },
}

impl Event {
    /// The event's fields for a JSON log line (u64s as decimal strings).
    fn json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Event::Handshake { session, replaced } => json!({
                "event": "handshake", "session_id": session.to_string(), "replaced": replaced,
            }),
            Event::Echo { session, len } => json!({
                "event": "echo", "session_id": session.to_string(), "bytes": len,
            }),
            Event::Ping { len } => json!({ "event": "ping", "bytes": len }),
            Event::Resumed { session } => json!({
                "event": "session_resumed", "session_id": session.to_string(),
            }),
            Event::Lost { session, message } => json!({
                "event": "session_lost", "session_id": session.to_string(), "message": message,
            }),
            Event::SessionFailed {
                session,
                code,
                message,
            } => json!({
                "event": "session_failed", "session_id": session.to_string(),
                "code": code.name(), "message": message,
            }),
            Event::Ignored { session, what } => json!({
                "event": "ignored", "session_id": session.to_string(), "message": what,
            }),
            Event::Sbp { session, report } => {
                use super::sbp_handler::Report;
                let sid = session.to_string();
                match report {
                    Report::Handshake { peer_id } => {
                        json!({"event": "sbp_handshake", "session_id": sid, "peer_id": peer_id})
                    }
                    Report::Call { method, code } => {
                        json!({"event": "rpc", "session_id": sid, "method": method, "error_code": code})
                    }
                    Report::Fault { code, message } => {
                        json!({"event": "sbp_fault", "session_id": sid, "code": code, "message": message})
                    }
                    Report::Note(m) => {
                        json!({"event": "sbp_note", "session_id": sid, "message": m})
                    }
                }
            }
            Event::Control {
                session,
                code,
                message,
            } => json!({
                "event": "control", "session_id": session.to_string(), "code": code.0,
                "name": code.name(), "terminal": code.is_terminal(), "message": message,
            }),
            Event::Refused {
                session,
                reason,
                count,
            } => json!({
                "event": "refused_handshake", "session_id": session.to_string(),
                "reason": reason.name(), "refused": count,
            }),
        }
    }

    /// One log line (untrusted parts already escaped).
    pub fn line(&self) -> String {
        match self {
            Event::Handshake { session, replaced } => format!(
                "session {session}: handshake done{}",
                if *replaced {
                    " (replaces the open session)"
                } else {
                    ""
                }
            ),
            Event::Echo { session, len } => format!("session {session}: echoed {len} bytes"),
            Event::Sbp { session, report } => {
                use super::sbp_handler::Report;
                match report {
                    Report::Handshake { peer_id } => {
                        format!("session {session}: SBP handshake from {}", escape(peer_id))
                    }
                    Report::Call { method, code: None } => {
                        format!("session {session}: rpc {} answered", escape(method))
                    }
                    Report::Call {
                        method,
                        code: Some(c),
                    } => format!(
                        "session {session}: rpc {} answered with error {c} ({})",
                        escape(method),
                        sbrp::sbp::WireCode::describe(*c)
                    ),
                    Report::Fault { code, message } => format!(
                        "session {session}: SBP {code}: {}; session closed",
                        escape(message)
                    ),
                    Report::Note(m) => format!("session {session}: {m}"),
                }
            }
            Event::Ping { len } => format!("answered a Ping ({len} bytes) with a Pong"),
            Event::Resumed { session } => {
                format!("session {session}: resumed after the reconnect (Signal ready sent)")
            }
            Event::Lost { session, message } => {
                format!("session {session}: not resumed: {message}")
            }
            Event::SessionFailed {
                session,
                code,
                message,
            } => format!("session {session}: ended: {code}: {message}"),
            Event::Ignored { session, what } => format!("session {session}: ignored {what}"),
            Event::Control {
                session,
                code,
                message,
            } => format!(
                "session {session}: Control {} (0x{:04x}){}{}",
                code.name().unwrap_or("unknown"),
                code.0,
                if message.is_empty() { "" } else { ": " },
                message
            ),
            Event::Refused {
                session,
                reason,
                count,
            } => format!(
                "session {session}: HandshakeInit refused ({}; {count} refused so far on this connection)",
                match reason {
                    Refusal::MaxSessions => "the connection holds --max-sessions sessions",
                    Refusal::HandshakeRate => "over the --handshake-rate budget",
                }
            ),
        }
    }
}

/// The application side of every session of one table: SBP and RPC (the default) or a bare
/// echo (`--raw`). The same handler serves stdio, TCP and the relay (through the library's
/// [`sbrp::relay_client::RelayDaemon`]); what it does is logged at once.
pub struct Handler<'a> {
    sbp: Option<super::sbp_handler::SbpSessions>,
    ending: std::collections::HashSet<u64>,
    log: &'a Log<'a>,
    label: String,
}

impl<'a> Handler<'a> {
    /// A handler logging to `log` as connection `label`; `sbp`: serve SBP as `daemon_id`.
    fn new(log: &'a Log<'a>, label: String, sbp: Option<&str>) -> Self {
        Self {
            sbp: sbp.map(super::sbp_handler::SbpSessions::new),
            ending: std::collections::HashSet::new(),
            log,
            label,
        }
    }
}

impl SessionHandler for Handler<'_> {
    fn opened(&mut self, sid: SessionId) -> Vec<Vec<u8>> {
        self.sbp
            .as_mut()
            .and_then(|s| s.opened(sid.get()))
            .into_iter()
            .collect()
    }

    fn message(&mut self, sid: SessionId, data: Vec<u8>) -> Vec<Vec<u8>> {
        let session = sid.get();
        let Some(sbp) = &mut self.sbp else {
            self.log.event(
                &self.label,
                &Event::Echo {
                    session,
                    len: data.len(),
                },
            );
            return vec![data];
        };
        let mut replies = Vec::new();
        let (log, label) = (self.log, &self.label);
        let keep = sbp.data(session, &data, &mut replies, &mut |report| {
            log.event(label, &Event::Sbp { session, report })
        });
        if !keep {
            self.ending.insert(session);
        }
        replies
    }

    fn finished(&mut self, sid: SessionId) -> bool {
        self.ending.remove(&sid.get())
    }

    fn ended(&mut self, sid: SessionId, _reason: &EndReason) {
        self.ending.remove(&sid.get());
        if let Some(sbp) = &mut self.sbp {
            sbp.ended(sid.get());
        }
    }
}

/// A table event as a log event (`None`: not logged). HandshakeInit refusals are logged at
/// the 1st, 2nd, 4th, 8th … (`refused`: how many so far, this one included).
fn log_event(e: &TableEvent, refused: u64) -> Option<Event> {
    Some(match e {
        TableEvent::Opened { sid, replaced } => Event::Handshake {
            session: sid.get(),
            replaced: *replaced,
        },
        TableEvent::Ping { len } => Event::Ping { len: *len },
        TableEvent::Refused { sid, reason } => {
            if !refused.is_power_of_two() {
                return None;
            }
            Event::Refused {
                session: sid.get(),
                reason: *reason,
                count: refused,
            }
        }
        TableEvent::Ended {
            sid,
            reason,
            detail,
        } => match reason {
            EndReason::Failed(code) => Event::SessionFailed {
                session: sid.get(),
                code: *code,
                message: after_code(detail),
            },
            EndReason::Control(code) => Event::Control {
                session: sid.get(),
                code: *code,
                message: String::new(),
            },
            EndReason::Ended => Event::Control {
                session: sid.get(),
                code: ControlCode(ErrorCode::SessionEnded as u16),
                message: String::new(),
            },
            EndReason::StateLost => Event::Lost {
                session: sid.get(),
                message: escape(detail).into_owned(),
            },
            // The handler ended it (its reason is logged already) or the connection went.
            _ => return None,
        },
        TableEvent::Resumed { sid } => Event::Resumed { session: sid.get() },
        TableEvent::Control {
            session_id,
            code,
            message,
        } => Event::Control {
            session: *session_id,
            code: *code,
            message: escape(message).into_owned(),
        },
        TableEvent::Ignored { session_id, what } => Event::Ignored {
            session: *session_id,
            what: escape(what).into_owned(),
        },
        TableEvent::ReplyFailed { sid, error } => Event::SessionFailed {
            session: sid.get(),
            code: error.code(),
            message: after_code(&error.to_string()),
        },
        _ => return None,
    })
}

/// One byte-stream connection (stdio, TCP, `--exec`): the frame decoder in front of the
/// library's [`SessionTable`] (which holds the limits). No I/O, no clock: times passed in.
pub struct DaemonConn<'a> {
    table: SessionTable,
    decoder: StreamDecoder,
    handler: Handler<'a>,
    keylog_error: Arc<std::sync::Mutex<Option<String>>>,
    frames: Vec<Vec<u8>>,
    events: Vec<TableEvent>,
}

impl<'a> DaemonConn<'a> {
    /// A fresh connection.
    fn new(
        daemon: Daemon,
        keylog: Option<Arc<KeyLog>>,
        limits: Limits,
        handler: Handler<'a>,
        now: Instant,
    ) -> Self {
        let (table, keylog_error) = table(daemon, keylog, limits);
        let mut table = table;
        table.touch(now);
        Self {
            table,
            decoder: StreamDecoder::new(),
            handler,
            keylog_error,
            frames: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Bytes of an incomplete frame held (a header has started).
    pub fn buffered(&self) -> usize {
        self.decoder.buffered_len()
    }

    /// The session table.
    pub fn table(&self) -> &SessionTable {
        &self.table
    }

    /// Takes `input` (arrived at `now`), appends the answers to `out` and logs. A header error
    /// ends the connection: it is returned, and every later call returns it again.
    pub fn feed(
        &mut self,
        now: Instant,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), StreamError> {
        let Self {
            table,
            decoder,
            handler,
            keylog_error,
            frames,
            events,
        } = self;
        let result = decoder.push(input, |located| {
            table.handle_with(now, located.frame, handler, frames, events);
            if let Some(e) = keylog_error.lock().ok().and_then(|mut g| g.take()) {
                events.push(TableEvent::Ignored {
                    session_id: located.frame.session_id(),
                    what: format!("the key log: {e}"),
                });
            }
            for f in frames.drain(..) {
                out.extend_from_slice(&f);
            }
            let (log, label) = (handler.log, &handler.label);
            let (a, b) = table.refused();
            for e in events.drain(..) {
                if let Some(e) = log_event(&e, a + b) {
                    log.event(label, &e);
                }
            }
        });
        result.map(|_| ())
    }

    /// At end of input: an error when a frame was cut off.
    pub fn finish(&self) -> Result<(), StreamError> {
        self.decoder.finish()
    }
}

/// A session table with the key log as its key observer (a failed write is kept for the log).
fn table(
    daemon: Daemon,
    keylog: Option<Arc<KeyLog>>,
    limits: Limits,
) -> (SessionTable, Arc<std::sync::Mutex<Option<String>>>) {
    let mut table = SessionTable::with_limits(daemon, limits);
    let error = Arc::new(std::sync::Mutex::new(None));
    if let Some(log) = keylog {
        let e = error.clone();
        table.set_key_observer(move |sid, keys| {
            if let Err(err) = log.write(sid.get(), keys)
                && let Ok(mut g) = e.lock()
            {
                *g = Some(err.to_string());
            }
        });
    }
    (table, error)
}

/// `"decrypt_failed: the tag …"` → `"the tag …"` (the code is printed separately).
fn after_code(message: &str) -> String {
    match message.split_once(": ") {
        Some((code, rest)) if !code.contains(' ') => rest.to_owned(),
        _ => message.to_owned(),
    }
}

/// How a connection ended.
#[derive(Debug)]
enum Ending {
    /// End of input, nothing cut off.
    Clean,
    /// Nothing arrived for `--idle-timeout`.
    Idle(Duration),
    /// A protocol error ended the connection.
    Protocol(ErrorCode, String),
    /// Reading or writing failed.
    Io(String),
}

/// What a connection waits for, and until when.
#[derive(Clone, Copy)]
enum Wait {
    Handshake,
    Idle,
    Frame,
}

/// Serves one connection until it ends: the handshake deadline until the first handshake,
/// the idle timeout at all times, and the handshake timeout for finishing a started frame.
fn serve(mut transport: Transport, mut conn: DaemonConn<'_>, common: &Common, log: &Log) -> Ending {
    let opened = Instant::now();
    let limit = common.handshake_timeout;
    let idle = conn.table().limits().idle_timeout.unwrap_or_default();
    let mut frame_started: Option<Instant> = None;
    let mut out = Vec::with_capacity(sbrp::frame::MAX_FRAME_LEN);
    let ending = loop {
        let mut wait: Option<(Instant, Wait)> = None;
        let mut consider = |at: Instant, why: Wait| {
            if wait.is_none_or(|(w, _)| at < w) {
                wait = Some((at, why));
            }
        };
        if !limit.is_zero() && conn.table().handshakes() == 0 {
            consider(opened + limit, Wait::Handshake);
        }
        if let Some(at) = conn.table().idle_deadline() {
            consider(at, Wait::Idle);
        }
        if let Some(t) = frame_started
            && !limit.is_zero()
        {
            consider(t + limit, Wait::Frame);
        }
        let chunk = match transport.recv(wait.map(|(at, _)| at)) {
            Incoming::Bytes(b) => b,
            Incoming::Eof => {
                break match conn.finish() {
                    Ok(()) => Ending::Clean,
                    Err(e) => Ending::Protocol(e.code(), after_code(&e.to_string())),
                };
            }
            Incoming::Error(e) => break Ending::Io(format!("cannot read: {e}")),
            Incoming::Timeout => {
                break match wait.map(|(_, why)| why) {
                    Some(Wait::Idle) => Ending::Idle(idle),
                    Some(Wait::Frame) => Ending::Protocol(
                        ErrorCode::MalformedFrame,
                        format!(
                            "a frame was started but not finished within {} s ({} bytes of it arrived)",
                            limit.as_secs_f64(),
                            conn.buffered()
                        ),
                    ),
                    _ => Ending::Protocol(
                        ErrorCode::HandshakeTimeout,
                        format!("no HandshakeInit within {} s", limit.as_secs_f64()),
                    ),
                };
            }
        };
        let now = Instant::now();
        let result = conn.feed(now, &chunk, &mut out);
        frame_started = match conn.buffered() {
            0 => None,
            _ => frame_started.or(Some(now)),
        };
        if let Err(e) = transport.send(&out) {
            break Ending::Io(format!("cannot write: {e}"));
        }
        out.clear();
        if let Err(e) = result {
            break Ending::Protocol(e.code(), after_code(&e.to_string()));
        }
    };
    let (sessions, rate) = conn.table().refused();
    if sessions + rate > 0 {
        log.note(
            &transport.label,
            "refused_handshakes",
            &format!(
                "refused {} HandshakeInit{} on this connection ({sessions} over --max-sessions, {rate} over --handshake-rate)",
                sessions + rate,
                if sessions + rate == 1 { "" } else { "s" }
            ),
        );
    }
    ending
}

/// The event log on stderr (`-q`: errors only; `--json`: one JSON object per line).
#[derive(Debug)]
struct Log<'a> {
    out: &'a Output,
    quiet: bool,
    json: bool,
}

impl Log<'_> {
    fn event(&self, conn: &str, event: &Event) {
        let is_error = matches!(event, Event::SessionFailed { .. });
        if self.quiet && !is_error {
            return;
        }
        if self.json {
            self.json_line(conn, event.json());
        } else {
            self.text_line(conn, &event.line());
        }
    }

    /// A connection-level event: `kind` names it in JSON, `line` is the text.
    fn note(&self, conn: &str, kind: &'static str, line: &str) {
        if self.json {
            self.json_line(conn, serde_json::json!({ "event": kind, "message": line }));
        } else {
            self.text_line(conn, line);
        }
    }

    fn text_line(&self, conn: &str, line: &str) {
        self.out
            .eprintln(&format!("sbrp peer daemon [{conn}]: {line}"));
    }

    fn json_line(&self, conn: &str, mut value: serde_json::Value) {
        if let Some(map) = value.as_object_mut() {
            map.insert("schema".into(), "sbrp.peer-daemon/1".into());
            map.insert("conn".into(), conn.into());
        }
        let text = serde_json::to_string(&value).unwrap_or_default();
        self.out.eprintln(&harden_json(&text));
    }
}

/// Runs `sbrp peer daemon`.
pub fn run(out: &Output, args: Args) -> CliResult {
    crate::cli::daemon_id::validate(&args.daemon_id)?;
    if args.key == std::path::Path::new("-") && args.listen.is_none() {
        return Err(CliError::new(
            Exit::Usage,
            "--key - reads the key from standard input, which carries the SBRP frames here",
        )
        .hint("give the key as a file, or serve TCP with --listen"));
    }
    let loaded = crate::cli::keyinput::load_secret(&args.key, sbrp::keyfile::BareKey::Refuse)?;
    let sbrp::keyfile::DecodedKey::Secret(identity) = loaded.decoded.key else {
        return Err(CliError::error("--key must name a secret key"));
    };
    let fingerprint = identity.fingerprint();
    let daemon = Daemon::new(identity, &args.daemon_id);
    let keylog = match KeyLog::path(args.common.keylog.clone()) {
        Some(path) => Some(Arc::new(KeyLog::open(out, &path)?)),
        None => None,
    };
    let log = Log {
        out,
        quiet: args.common.quiet,
        json: args.json,
    };
    let limits = Limits {
        max_sessions: args.max_sessions as usize,
        handshake_rate: args.handshake_rate,
        idle_timeout: Some(args.idle_timeout).filter(|d| !d.is_zero()),
        ..Limits::default()
    };
    #[cfg(feature = "relay-client")]
    if let Some(relay) = super::relay::Relay::from_args(out, &args.relay, "peer daemon")? {
        return run_relay(&args, &relay, daemon, keylog, limits, &log, &fingerprint);
    }
    let Some(listen) = &args.listen else {
        if args.json && !args.common.quiet {
            log.json_line(
                "stdio",
                serde_json::json!({
                    "event": "started", "daemon_id": args.daemon_id, "fingerprint": fingerprint,
                }),
            );
        } else if !args.common.quiet {
            log.note(
                "stdio",
                "started",
                &format!(
                    "daemon {} ({fingerprint}) on stdin/stdout",
                    crate::cli::daemon_id::shorten(&args.daemon_id)
                ),
            );
        }
        let handler = Handler::new(&log, "stdio".into(), sbp_id(&args));
        let conn = DaemonConn::new(daemon, keylog, limits, handler, Instant::now());
        return match serve(Transport::stdio(), conn, &args.common, &log) {
            Ending::Clean => {
                if !args.common.quiet {
                    log.note("stdio", "end_of_input", "end of input");
                }
                Ok(Exit::Success)
            }
            Ending::Idle(d) => {
                log.note(
                    "stdio",
                    "idle_timeout",
                    &format!(
                        "closed: nothing arrived for {} s (--idle-timeout)",
                        d.as_secs_f64()
                    ),
                );
                Ok(Exit::Success)
            }
            Ending::Protocol(code, msg) => Err(CliError::new(
                Exit::ProtocolFailure,
                format!("connection ended: {code}: {msg}"),
            )),
            Ending::Io(msg) => Err(CliError::error(msg)),
        };
    };
    let listener = TcpListener::bind(listen.as_str()).map_err(|e| {
        CliError::error(format!("cannot listen on {}: {e}", escape(listen)))
            .hint(if e.kind() == std::io::ErrorKind::AddrInUse {
                "the port is taken: choose another (or stop what listens there), e.g. --listen 127.0.0.1:0 for any free port"
            } else if e.kind() == std::io::ErrorKind::InvalidInput {
                "give HOST:PORT with an IP address, e.g. --listen 127.0.0.1:4000"
            } else {
                "check the address: HOST:PORT on this machine, e.g. --listen 127.0.0.1:4000"
            })
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::error(format!("cannot read the listening address: {e}")))?;
    // Always printed (even with -q): a caller that asked for port 0 needs it.
    if args.json {
        log.json_line(
            "listen",
            serde_json::json!({
                "event": "listening", "address": local.to_string(),
                "daemon_id": args.daemon_id, "fingerprint": fingerprint,
            }),
        );
    } else {
        out.eprintln(&format!(
            "sbrp peer daemon: listening on {local} as {} ({fingerprint})",
            crate::cli::daemon_id::shorten(&args.daemon_id)
        ));
    }
    let active = Arc::new(AtomicUsize::new(0));
    let max = args.max_connections as usize;
    thread::scope(|scope| {
        for stream in listener.incoming() {
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    log.note("listen", "accept_failed", &format!("accept failed: {e}"));
                    continue;
                }
            };
            let label = stream
                .peer_addr()
                .map_or_else(|_| "?".to_owned(), |a| a.to_string());
            if active.load(Ordering::SeqCst) >= max {
                log.note(
                    &label,
                    "refused",
                    &format!("refused: {max} connections are open already"),
                );
                continue;
            }
            let transport = match Transport::tcp(stream, label.clone()) {
                Ok(t) => t,
                Err(e) => {
                    log.note(
                        &label,
                        "connection_failed",
                        &format!("cannot use the connection: {e}"),
                    );
                    continue;
                }
            };
            active.fetch_add(1, Ordering::SeqCst);
            let (active, log, common) = (active.clone(), &log, &args.common);
            let (daemon, keylog, sbp) = (daemon.clone(), keylog.clone(), sbp_id(&args));
            scope.spawn(move || {
                let handler = Handler::new(log, label.clone(), sbp);
                let conn = DaemonConn::new(daemon, keylog, limits, handler, Instant::now());
                if !common.quiet {
                    log.note(&label, "connected", "connected");
                }
                match serve(transport, conn, common, log) {
                    Ending::Clean if !common.quiet => log.note(&label, "closed", "closed"),
                    Ending::Clean => {}
                    Ending::Idle(d) => log.note(
                        &label,
                        "idle_timeout",
                        &format!(
                            "closed: nothing arrived for {} s (--idle-timeout)",
                            d.as_secs_f64()
                        ),
                    ),
                    Ending::Protocol(code, msg) => log.note(
                        &label,
                        "connection_ended",
                        &format!("connection ended: {code}: {msg}"),
                    ),
                    Ending::Io(msg) => log.note(
                        &label,
                        "connection_ended",
                        &format!("connection ended: {msg}"),
                    ),
                }
                active.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    Ok(Exit::Success)
}

/// `--resumable` with a token that lacks `session:resume`: the relay would expire the
/// sessions anyway, so say so once (the token is read unverified; it may be renewed later).
#[cfg(feature = "relay-client")]
fn warn_without_resume_scope(relay: &super::relay::Relay, log: &Log, label: &str) {
    let Ok(token) = relay.tokens.fetch() else {
        return;
    };
    let scopes = sbrp::token::decode_unverified(token.expose())
        .ok()
        .and_then(|d| d.payload)
        .and_then(|p| p.get("scp").cloned());
    let has = scopes.as_ref().and_then(|v| v.as_array()).is_some_and(|a| {
        a.iter()
            .any(|s| s.as_str() == Some(sbrp::token::SCOPE_SESSION_RESUME))
    });
    if !has {
        log.note(
            label,
            "warning",
            "warning: --resumable, but the token has no scope session:resume: the relay will expire the sessions at a reconnect (mint it with --scp session:resume)",
        );
    }
}

/// `--serve SBP` as `daemon_id`, or `None` with `--raw`.
fn sbp_id(args: &Args) -> Option<&str> {
    (!args.raw).then_some(args.daemon_id.as_str())
}

/// `--relay`: the library's [`sbrp::relay_client::RelayDaemon`] on a small tokio runtime with
/// the CLI's [`Handler`]: one presence connection at a time, every session multiplexed on it;
/// after a drop, the reference's backoff (1 s × 2^n capped at 30 s, up to 500 ms of jitter,
/// reset after a connection that lasted 5 s), the token fetched again at every attempt. With
/// `--resumable` the established sessions are kept across a reconnect and signalled.
#[cfg(feature = "relay-client")]
fn run_relay(
    args: &Args,
    relay: &super::relay::Relay,
    daemon: Daemon,
    keylog: Option<Arc<KeyLog>>,
    limits: Limits,
    log: &Log,
    fingerprint: &str,
) -> CliResult {
    use sbrp::relay_client::{DaemonError, DaemonEvent, RecvError, RelayDaemon};
    let label = relay.label();
    if args.resumable {
        warn_without_resume_scope(relay, log, &label);
    }
    let (table, keylog_error) = table(daemon, keylog, limits);
    let daemon_table = table;
    let handler = Handler::new(log, label.clone(), sbp_id(args));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::error(format!("cannot start the runtime: {e}")))?;
    let quiet = args.common.quiet;
    let mut refused = 0u64;
    let on_event = |e: &DaemonEvent<'_>| match e {
        DaemonEvent::Connecting { .. } | DaemonEvent::Received { .. } => {}
        DaemonEvent::Connected { attempt, kept, .. } => {
            if args.json {
                log.json_line(
                    &label,
                    serde_json::json!({
                        "event": "connected", "relay": label, "attempt": attempt,
                        "url": relay.config.logged_url(),
                        "daemon_id": args.daemon_id, "fingerprint": fingerprint,
                        "kept_sessions": kept,
                    }),
                );
            } else if !quiet {
                log.note(
                    &label,
                    "connected",
                    &format!(
                        "connected to the relay as {} ({fingerprint}){}",
                        crate::cli::daemon_id::shorten(&args.daemon_id),
                        if *kept > 0 {
                            format!("; resuming {kept} session(s)")
                        } else {
                            String::new()
                        }
                    ),
                );
            }
        }
        DaemonEvent::ConnectFailed(err) => {
            log.note(
                &label,
                "connect_failed",
                super::relay::connect_error(&label, err).message(),
            );
        }
        DaemonEvent::Disconnected(end) => {
            let why = match end {
                RecvError::Closed { code: 1000, .. } => {
                    "the relay closed the connection".to_owned()
                }
                e if e.is_framing() => format!(
                    "{} ({})",
                    escape(&e.to_string()),
                    super::relay::framing_close(e)
                ),
                e => escape(&e.to_string()).into_owned(),
            };
            log.note(&label, "disconnected", &format!("disconnected: {why}"));
        }
        DaemonEvent::Retrying { delay } => log.note(
            &label,
            "retrying",
            &format!("reconnecting in {:.1} s", delay.as_secs_f64()),
        ),
        DaemonEvent::Session(ev) => {
            if matches!(ev, TableEvent::Refused { .. }) {
                refused += 1;
            }
            if let Some(e) = log_event(ev, refused) {
                log.event(&label, &e);
            }
            if let Some(e) = keylog_error.lock().ok().and_then(|mut g| g.take()) {
                log.event(
                    &label,
                    &Event::Ignored {
                        session: 0,
                        what: format!("the key log: {e}"),
                    },
                );
            }
        }
        DaemonEvent::ReplyFailed { sid, error } => log.event(
            &label,
            &Event::SessionFailed {
                session: sid.get(),
                code: ErrorCode::InternalError,
                message: escape(error).into_owned(),
            },
        ),
        _ => {}
    };
    let daemon = RelayDaemon::new(
        relay.config.clone(),
        relay.tokens.clone(),
        daemon_table.daemon().clone(),
    )
    .with_table(daemon_table)
    .once(args.once)
    .resumable(args.resumable);
    // SIGTERM or SIGINT: close the presence connection with 1001 and exit 0.
    let result = rt.block_on(async {
        let stop = async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                match (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) {
                    (Ok(mut term), Ok(mut int)) => {
                        tokio::select! {
                            _ = term.recv() => {}
                            _ = int.recv() => {}
                        }
                    }
                    _ => std::future::pending::<()>().await,
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
            }
        };
        daemon.run_until(handler, on_event, stop).await
    });
    match result {
        Ok(()) => Ok(Exit::Success),
        Err(DaemonError::Connect(e)) => Err(super::relay::connect_error(&label, &e)),
        Err(DaemonError::Connection(e)) if e.is_framing() || e.code().is_some() => {
            Err(CliError::new(
                Exit::ProtocolFailure,
                format!(
                    "{}: connection ended: {} ({})",
                    escape(&label),
                    escape(&e.to_string()),
                    super::relay::framing_close(&e)
                ),
            ))
        }
        Err(DaemonError::Connection(e)) => Err(CliError::error(format!(
            "{}: connection ended: {}",
            escape(&label),
            escape(&e.to_string())
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::ColorChoice;
    use sbrp::frame::HEADER_LEN;
    use sbrp::{ClientHandshake, Frame, FrameType, IdentityKeyPair};

    fn daemon() -> (Daemon, sbrp::IdentityPublicKey) {
        let daemon = Daemon::new(IdentityKeyPair::from_seed(&[9; 32]), "d1");
        let pk = daemon.identity().public_key();
        (daemon, pk)
    }

    fn feed(conn: &mut DaemonConn<'_>, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        conn.feed(Instant::now(), bytes, &mut out).unwrap();
        out
    }

    fn init(sid: u64) -> Vec<u8> {
        let hs = ClientHandshake::start("d1", SessionId::new(sid).unwrap()).unwrap();
        Frame::HandshakeInit(hs.init()).to_vec()
    }

    fn accepts(out: &[u8]) -> usize {
        sbrp::stream::FrameReader::new(out)
            .filter(|f| {
                f.as_ref()
                    .is_ok_and(|f| f.frame.frame_type() == FrameType::HandshakeAccept)
            })
            .count()
    }

    #[test]
    fn handshake_echo_ping_in_one_byte_chunks() {
        let output = Output::new(ColorChoice::Never);
        let log = Log {
            out: &output,
            quiet: true,
            json: false,
        };
        let (d, pk) = daemon();
        let handler = Handler::new(&log, "test".into(), None);
        let mut conn = DaemonConn::new(d, None, Limits::default(), handler, Instant::now());
        let sid = SessionId::new(7).unwrap();
        let hs = ClientHandshake::start("d1", sid).unwrap();
        let mut input = Frame::HandshakeInit(hs.init()).to_vec();
        input.extend_from_slice(&hex::decode("10000000020000000000000000abcd").unwrap());
        let mut out = Vec::new();
        for b in &input {
            out.extend(feed(&mut conn, std::slice::from_ref(b)));
        }
        let accept = sbrp::decode_frame(&out[..HEADER_LEN + 128]).unwrap();
        let Frame::HandshakeAccept(accept) = accept else {
            panic!("{accept:?}")
        };
        assert_eq!(
            &out[HEADER_LEN + 128..],
            hex::decode("11000000020000000000000000abcd").unwrap()
        );
        let mut client = hs.finish(&accept, &pk).unwrap();
        let frame = client.encrypt_frame(sid, b"hello").unwrap();
        let echo = feed(&mut conn, &frame);
        let Frame::Data(d) = sbrp::decode_frame(&echo).unwrap() else {
            panic!()
        };
        assert_eq!(client.decrypt(d.payload.as_bytes()).unwrap(), b"hello");
        // A replay ends the session.
        assert!(feed(&mut conn, &frame).is_empty());
        assert!(conn.table().is_empty());
    }

    #[test]
    fn the_table_limits_apply_to_a_byte_stream() {
        let output = Output::new(ColorChoice::Never);
        let log = Log {
            out: &output,
            quiet: true,
            json: false,
        };
        let (d, _) = daemon();
        let limits = Limits {
            max_sessions: 3,
            handshake_rate: 10,
            ..Limits::default()
        };
        let handler = Handler::new(&log, "test".into(), Some("d1"));
        let mut conn = DaemonConn::new(d, None, limits, handler, Instant::now());
        let flood: Vec<u8> = (1..200u64).flat_map(init).collect();
        assert_eq!(accepts(&feed(&mut conn, &flood)), 3);
        assert_eq!(conn.table().refused(), (196, 0));
        // A new handshake for an open session is a re-handshake (the budget allows it).
        assert_eq!(accepts(&feed(&mut conn, &init(2))), 1);
        assert_eq!(conn.table().len(), 3);
    }

    #[test]
    fn header_error_ends_the_connection() {
        let output = Output::new(ColorChoice::Never);
        let log = Log {
            out: &output,
            quiet: true,
            json: false,
        };
        let (d, _) = daemon();
        let handler = Handler::new(&log, "test".into(), None);
        let mut conn = DaemonConn::new(d, None, Limits::default(), handler, Instant::now());
        let mut out = Vec::new();
        let err = conn
            .feed(Instant::now(), &[0x99; 13], &mut out)
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::PayloadTooLarge);
        assert!(conn.feed(Instant::now(), &[], &mut out).is_err() || conn.finish().is_err());
    }
}
