//! `sbrp peer daemon`: an echo daemon.
//!
//! [`DaemonConn`] is the protocol for one connection with no I/O: bytes in, bytes out and
//! events. It keeps any number of sessions keyed by session id; a bad frame or a failed decrypt
//! ends that session, a header error ends the connection (the stream cannot be re-synchronised).
//! Echoes are made in place: the Data payload is copied once into the output buffer behind a
//! header's worth of room, opened there and sealed again where it lies.
//!
//! Limits against a hostile peer (see README "Limits"): at most `--max-sessions` sessions per
//! connection (a HandshakeInit beyond is refused: no accept, logged and counted, the open
//! sessions keep being served); a handshake budget per connection (`--handshake-rate` per
//! second, with a burst of as many; a HandshakeInit over it is refused at once, never queued,
//! so reading goes on at full speed); `--idle-timeout` on every connection at all times; and a
//! frame whose header has started must be complete within the handshake timeout.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use sbrp::frame::{HEADER_LEN, MIN_DATA_LEN};
use sbrp::stream::Located;
use sbrp::{
    ControlCode, Daemon, ErrorCode, Frame, FrameType, PingPayload, Session, StreamDecoder,
    StreamError,
};

use super::Common;
use super::transport::{Incoming, Transport};
use crate::cli::escape::{escape, escape_bytes};
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
--idle-timeout (300 s) is closed, at any time; a frame whose header has started must be
complete within --handshake-timeout (30 s). With --listen, at most --max-connections
connections are served at once.")]
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

    /// Close a connection that sent nothing for this long (0: never)
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

    #[command(flatten)]
    common: Common,
}

/// `--max-sessions` by default.
pub const DEFAULT_MAX_SESSIONS: u32 = 1024;
/// `--handshake-rate` by default: handshakes per second and connection (each costs an X25519
/// exchange and an Ed25519 signature, some 100 µs of a core).
pub const DEFAULT_HANDSHAKE_RATE: u32 = 128;

/// The per-connection limits of [`DaemonConn`].
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Sessions held at most.
    pub max_sessions: usize,
    /// Handshakes per second (0: unlimited); the burst is as many.
    pub handshake_rate: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_sessions: DEFAULT_MAX_SESSIONS as usize,
            handshake_rate: DEFAULT_HANDSHAKE_RATE,
        }
    }
}

/// Why a HandshakeInit was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The connection holds `--max-sessions` sessions.
    MaxSessions,
    /// The handshake budget is spent.
    Rate,
}

impl Refusal {
    fn name(self) -> &'static str {
        match self {
            Refusal::MaxSessions => "max_sessions",
            Refusal::Rate => "handshake_rate",
        }
    }
}

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
                    Refusal::Rate => "over the --handshake-rate budget",
                }
            ),
        }
    }
}

/// One connection's protocol state: no I/O, no clock.
#[derive(Debug)]
pub struct DaemonConn {
    daemon: Arc<Daemon>,
    keylog: Option<Arc<KeyLog>>,
    sessions: HashMap<u64, Session>,
    decoder: StreamDecoder,
    handshakes: u64,
    /// SBP handlers; `None` with `--raw` (bare echo).
    sbp: Option<super::sbp_handler::SbpSessions>,
    limits: Limits,
    budget: Budget,
    /// HandshakeInits refused, per reason (max sessions, rate).
    refused: [u64; 2],
}

/// The handshake budget: a token bucket refilled by [`DaemonConn::tick`] (the core keeps no
/// clock; without ticks it is a fixed allowance of one burst).
#[derive(Debug)]
struct Budget {
    tokens: f64,
    last: Option<Instant>,
}

impl DaemonConn {
    /// A fresh connection with the default limits.
    #[cfg(test)]
    pub fn new(daemon: Arc<Daemon>, keylog: Option<Arc<KeyLog>>) -> Self {
        Self::with_limits(daemon, keylog, Limits::default())
    }

    /// A fresh connection with these limits.
    pub fn with_limits(daemon: Arc<Daemon>, keylog: Option<Arc<KeyLog>>, limits: Limits) -> Self {
        Self {
            daemon,
            keylog,
            sessions: HashMap::new(),
            decoder: StreamDecoder::new(),
            handshakes: 0,
            sbp: None,
            limits,
            budget: Budget {
                tokens: f64::from(limits.handshake_rate),
                last: None,
            },
            refused: [0; 2],
        }
    }

    /// Speak SBP and RPC in every session (the default of `sbrp peer daemon`).
    pub fn with_sbp(mut self, daemon_id: &str) -> Self {
        self.sbp = Some(super::sbp_handler::SbpSessions::new(daemon_id));
        self
    }

    /// Refills the handshake budget for the time passed since the last tick.
    pub fn tick(&mut self, now: Instant) {
        let rate = f64::from(self.limits.handshake_rate);
        if let Some(last) = self.budget.last {
            let passed = now.saturating_duration_since(last).as_secs_f64();
            self.budget.tokens = (self.budget.tokens + passed * rate).min(rate);
        }
        self.budget.last = Some(now);
    }

    /// HandshakeInits refused so far: over `--max-sessions`, over the handshake budget.
    pub fn refused(&self) -> (u64, u64) {
        (self.refused[0], self.refused[1])
    }

    /// Bytes of an incomplete frame held (a header has started).
    pub fn buffered(&self) -> usize {
        self.decoder.buffered_len()
    }

    /// Handshakes answered so far.
    pub fn handshakes(&self) -> u64 {
        self.handshakes
    }

    /// Open sessions.
    #[cfg(test)]
    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Takes `input`, appends the answers to `out` and reports events. A header error ends
    /// the connection: it is returned, and every later call returns it again.
    pub fn feed(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        events: &mut impl FnMut(Event),
    ) -> Result<(), StreamError> {
        let Self {
            daemon,
            keylog,
            sessions,
            decoder,
            handshakes,
            sbp,
            limits,
            budget,
            refused,
        } = self;
        decoder.push(input, |located| {
            if located.frame.frame_type() == FrameType::HandshakeInit {
                let sid = located.frame.session_id();
                let reason =
                    if !sessions.contains_key(&sid) && sessions.len() >= limits.max_sessions {
                        Some(Refusal::MaxSessions)
                    } else if limits.handshake_rate > 0 && budget.tokens < 1.0 {
                        Some(Refusal::Rate)
                    } else {
                        None
                    };
                if let Some(reason) = reason {
                    let n = &mut refused[usize::from(reason == Refusal::Rate)];
                    *n += 1;
                    let count = refused[0] + refused[1];
                    if count.is_power_of_two() {
                        events(Event::Refused {
                            session: sid,
                            reason,
                            count,
                        });
                    }
                    return;
                }
                if limits.handshake_rate > 0 {
                    budget.tokens -= 1.0;
                }
            }
            handle(
                daemon,
                keylog.as_deref(),
                sessions,
                handshakes,
                sbp.as_mut(),
                located,
                out,
                events,
            );
        })?;
        Ok(())
    }

    /// At end of input: an error when a frame was cut off.
    pub fn finish(&self) -> Result<(), StreamError> {
        self.decoder.finish()
    }
}

#[allow(clippy::too_many_arguments)]
fn handle(
    daemon: &Daemon,
    keylog: Option<&KeyLog>,
    sessions: &mut HashMap<u64, Session>,
    handshakes: &mut u64,
    sbp: Option<&mut super::sbp_handler::SbpSessions>,
    located: Located<'_>,
    out: &mut Vec<u8>,
    events: &mut impl FnMut(Event),
) {
    let raw = located.frame;
    let sid = raw.session_id();
    if raw.frame_type() == FrameType::Data
        && let Some(sbp) = sbp
    {
        let Some(session) = sessions.get_mut(&sid) else {
            events(Event::Ignored {
                session: sid,
                what: "a Data frame for a session without a handshake".into(),
            });
            return;
        };
        match session.decrypt(raw.payload()) {
            Ok(pt) => {
                let keep = sbp.data(sid, session, &pt, out, &mut |report| {
                    events(Event::Sbp {
                        session: sid,
                        report,
                    })
                });
                if !keep {
                    sessions.remove(&sid);
                }
            }
            Err(e) => {
                sessions.remove(&sid);
                events(Event::SessionFailed {
                    session: sid,
                    code: e.code(),
                    message: after_code(&e.to_string()),
                });
            }
        }
        return;
    }
    // The Data fast path: decrypt and re-encrypt in the output buffer, no allocation.
    if raw.frame_type() == FrameType::Data {
        let Some(session) = sessions.get_mut(&sid) else {
            events(Event::Ignored {
                session: sid,
                what: "a Data frame for a session without a handshake".into(),
            });
            return;
        };
        let payload = raw.payload();
        let start = out.len();
        out.resize(start + HEADER_LEN, 0);
        out.extend_from_slice(payload);
        let opened = session
            .open_in_place(&mut out[start + HEADER_LEN..])
            .map(|pt| pt.len());
        let sealed = opened.and_then(|len| {
            debug_assert_eq!(len + MIN_DATA_LEN, payload.len());
            // A Data frame out of the stream decoder passed the session-id rule: never zero.
            let session_id = sbrp::SessionId::new(sid).unwrap_or(sbrp::SessionId::MIN);
            session.seal_frame_in_place(session_id, &mut out[start..])?;
            Ok(len)
        });
        match sealed {
            Ok(len) => events(Event::Echo { session: sid, len }),
            Err(e) => {
                out.truncate(start);
                sessions.remove(&sid);
                events(Event::SessionFailed {
                    session: sid,
                    code: e.code(),
                    message: after_code(&e.to_string()),
                });
            }
        }
        return;
    }
    let frame = match raw.parse() {
        Ok(f) => f,
        Err(e) => {
            if sid != 0 {
                sessions.remove(&sid);
            }
            events(Event::SessionFailed {
                session: sid,
                code: e.code(),
                message: format!(
                    "{} (at byte {})",
                    after_code(&e.to_string()),
                    located.offset
                ),
            });
            return;
        }
    };
    match frame {
        Frame::HandshakeInit(init) => match daemon.accept(&init) {
            Ok((accept, session)) => {
                if let Some(log) = keylog
                    && let Err(e) = log.write(sid, session.keys())
                {
                    events(Event::Ignored {
                        session: sid,
                        what: format!("the key log: {e}"),
                    });
                }
                Frame::HandshakeAccept(accept).encode_into(out);
                let mut session = session;
                if let Some(sbp) = sbp
                    && let Some(hello) =
                        sbp.opened(sid, &mut session, |k| k == sid || sessions.contains_key(&k))
                {
                    out.extend_from_slice(&hello);
                }
                let replaced = sessions.insert(sid, session).is_some();
                *handshakes += 1;
                events(Event::Handshake {
                    session: sid,
                    replaced,
                });
            }
            Err(e) => {
                sessions.remove(&sid);
                events(Event::SessionFailed {
                    session: sid,
                    code: e.code(),
                    message: after_code(&e.to_string()),
                });
            }
        },
        Frame::Ping(p) => {
            Frame::Pong(PingPayload::new(p.as_bytes()).unwrap_or_default()).encode_into(out);
            events(Event::Ping {
                len: p.as_bytes().len(),
            });
        }
        Frame::Control(c) => {
            let code = c.code;
            if c.session_id != 0
                && (code.is_terminal() || code.known() == Some(ErrorCode::SessionEnded))
            {
                sessions.remove(&c.session_id);
            }
            events(Event::Control {
                session: c.session_id,
                code,
                message: escape(&c.message_lossy()).into_owned(),
            });
        }
        Frame::Pong(p) => events(Event::Ignored {
            session: 0,
            what: format!("a Pong ({})", escape_bytes(p.as_bytes())),
        }),
        Frame::HandshakeAccept(_) | Frame::Signal(_) | Frame::Data(_) => {
            events(Event::Ignored {
                session: sid,
                what: format!(
                    "a {} frame (a daemon does not expect one)",
                    raw.frame_type()
                ),
            });
        }
    }
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
fn serve(
    mut transport: Transport,
    mut conn: DaemonConn,
    common: &Common,
    idle: Duration,
    log: &Log,
) -> Ending {
    let opened = Instant::now();
    let limit = common.handshake_timeout;
    let mut last_input = opened;
    let mut frame_started: Option<Instant> = None;
    let mut out = Vec::with_capacity(sbrp::frame::MAX_FRAME_LEN);
    let ending = loop {
        let mut wait: Option<(Instant, Wait)> = None;
        let mut consider = |at: Instant, why: Wait| {
            if wait.is_none_or(|(w, _)| at < w) {
                wait = Some((at, why));
            }
        };
        if !limit.is_zero() && conn.handshakes() == 0 {
            consider(opened + limit, Wait::Handshake);
        }
        if !idle.is_zero() {
            consider(last_input + idle, Wait::Idle);
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
        last_input = now;
        conn.tick(now);
        let result = conn.feed(&chunk, &mut out, &mut |e| log.event(&transport.label, &e));
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
    let (sessions, rate) = conn.refused();
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
    let daemon = Arc::new(Daemon::new(identity, &args.daemon_id));
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
        let conn = DaemonConn::with_limits(daemon, keylog, limits);
        let conn = if args.raw {
            conn
        } else {
            conn.with_sbp(&args.daemon_id)
        };
        return match serve(
            Transport::stdio(),
            conn,
            &args.common,
            args.idle_timeout,
            &log,
        ) {
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
            let conn = DaemonConn::with_limits(daemon.clone(), keylog.clone(), limits);
            let conn = if args.raw {
                conn
            } else {
                conn.with_sbp(&args.daemon_id)
            };
            let (active, log, common) = (active.clone(), &log, &args.common);
            let idle = args.idle_timeout;
            scope.spawn(move || {
                if !common.quiet {
                    log.note(&label, "connected", "connected");
                }
                match serve(transport, conn, common, idle, log) {
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

/// `--relay`: one presence connection at a time, every session multiplexed on it; after a
/// drop, the reference's backoff (1 s × 2^n capped at 30 s, up to 500 ms of jitter, reset
/// after a connection that lasted 5 s), the token fetched again at every attempt.
#[cfg(feature = "relay-client")]
fn run_relay(
    args: &Args,
    relay: &super::relay::Relay,
    daemon: Arc<Daemon>,
    keylog: Option<Arc<KeyLog>>,
    limits: Limits,
    log: &Log,
    fingerprint: &str,
) -> CliResult {
    let label = relay.label();
    let mut backoff = sbrp::relay_client::Backoff::default();
    // Sessions arrive whenever clients come: no handshake deadline and no idle limit on the
    // presence connection (a frame is whole on arrival, so no partial-frame deadline either).
    let mut common = args.common.clone();
    common.handshake_timeout = Duration::ZERO;
    let mut attempt = 0u64;
    loop {
        attempt += 1;
        match super::relay::open(relay) {
            Ok(transport) => {
                let started = Instant::now();
                if args.json {
                    log.json_line(
                        &label,
                        serde_json::json!({
                            "event": "connected", "relay": label, "attempt": attempt,
                            "daemon_id": args.daemon_id, "fingerprint": fingerprint,
                        }),
                    );
                } else if !args.common.quiet {
                    log.note(
                        &label,
                        "connected",
                        &format!(
                            "connected to the relay as {} ({fingerprint})",
                            crate::cli::daemon_id::shorten(&args.daemon_id)
                        ),
                    );
                }
                let conn = DaemonConn::with_limits(daemon.clone(), keylog.clone(), limits);
                let conn = if args.raw {
                    conn
                } else {
                    conn.with_sbp(&args.daemon_id)
                };
                let ending = serve(transport, conn, &common, Duration::ZERO, log);
                let why = match &ending {
                    Ending::Clean => "the relay closed the connection".to_owned(),
                    Ending::Idle(_) => "idle".to_owned(),
                    Ending::Protocol(code, msg) => format!("{code}: {msg}"),
                    Ending::Io(msg) => msg.clone(),
                };
                log.note(&label, "disconnected", &format!("disconnected: {why}"));
                backoff.connection_lasted(started.elapsed());
                if args.once {
                    return match ending {
                        Ending::Clean | Ending::Idle(_) => Ok(Exit::Success),
                        Ending::Protocol(code, msg) => Err(CliError::new(
                            Exit::ProtocolFailure,
                            format!("connection ended: {code}: {msg}"),
                        )),
                        Ending::Io(msg) => Err(CliError::error(msg)),
                    };
                }
            }
            Err(e) => {
                let err = super::relay::connect_error(&label, &e);
                if args.once {
                    return Err(err);
                }
                log.note(&label, "connect_failed", err.message());
            }
        }
        let mut b = [0u8; 2];
        let _ = getrandom::fill(&mut b);
        let delay = backoff.next_delay(f64::from(u16::from_be_bytes(b)) / f64::from(u16::MAX));
        log.note(
            &label,
            "retrying",
            &format!("reconnecting in {:.1} s", delay.as_secs_f64()),
        );
        thread::sleep(delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sbrp::{ClientHandshake, IdentityKeyPair, SessionId};

    fn conn() -> (DaemonConn, sbrp::IdentityPublicKey) {
        let daemon = Daemon::new(IdentityKeyPair::from_seed(&[9; 32]), "d1");
        let pk = daemon.identity().public_key();
        (DaemonConn::new(Arc::new(daemon), None), pk)
    }

    fn feed(conn: &mut DaemonConn, bytes: &[u8]) -> (Vec<u8>, Vec<Event>) {
        let mut out = Vec::new();
        let mut events = Vec::new();
        conn.feed(bytes, &mut out, &mut |e| events.push(e)).unwrap();
        (out, events)
    }

    #[test]
    fn handshake_echo_ping_in_one_byte_chunks() {
        let (mut conn, pk) = conn();
        let sid = SessionId::new(7).unwrap();
        let hs = ClientHandshake::start("d1", sid).unwrap();
        let mut input = Frame::HandshakeInit(hs.init()).to_vec();
        input.extend_from_slice(&hex::decode("10000000020000000000000000abcd").unwrap());
        let mut out = Vec::new();
        for b in &input {
            out.extend(feed(&mut conn, std::slice::from_ref(b)).0);
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
        let (echo, events) = feed(&mut conn, &frame);
        assert_eq!(events, [Event::Echo { session: 7, len: 5 }]);
        let Frame::Data(d) = sbrp::decode_frame(&echo).unwrap() else {
            panic!()
        };
        assert_eq!(client.decrypt(d.payload.as_bytes()).unwrap(), b"hello");
        // A replay ends the session.
        let (echo, events) = feed(&mut conn, &frame);
        assert!(echo.is_empty());
        assert!(matches!(
            events[..],
            [Event::SessionFailed {
                session: 7,
                code: ErrorCode::SequenceError,
                ..
            }]
        ));
        assert_eq!(conn.open_sessions(), 0);
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
    fn sessions_beyond_the_bound_are_refused_and_the_open_ones_served() {
        let daemon = Daemon::new(IdentityKeyPair::from_seed(&[9; 32]), "d1");
        let pk = daemon.identity().public_key();
        let limits = Limits {
            max_sessions: 3,
            handshake_rate: 0,
        };
        let mut conn = DaemonConn::with_limits(Arc::new(daemon), None, limits);
        let sid = SessionId::new(1).unwrap();
        let hs = ClientHandshake::start("d1", sid).unwrap();
        let (out, _) = feed(&mut conn, &Frame::HandshakeInit(hs.init()).to_vec());
        let Frame::HandshakeAccept(accept) = sbrp::decode_frame(&out).unwrap() else {
            panic!()
        };
        let mut client = hs.finish(&accept, &pk).unwrap();
        let flood: Vec<u8> = (2..200u64).flat_map(init).collect();
        let (out, events) = feed(&mut conn, &flood);
        assert_eq!(accepts(&out), 2);
        assert_eq!(conn.open_sessions(), 3);
        assert_eq!(conn.refused(), (196, 0));
        // Logged at the 1st, 2nd, 4th … refusal.
        let logged = events
            .iter()
            .filter(|e| matches!(e, Event::Refused { .. }))
            .count();
        assert_eq!(logged, 8);
        // A new handshake for an open session is a re-handshake, not a new session.
        let (out, _) = feed(&mut conn, &init(2));
        assert_eq!(accepts(&out), 1);
        // Session 1 is still served.
        let frame = client.encrypt_frame(sid, b"still here").unwrap();
        let (_, events) = feed(&mut conn, &frame);
        assert_eq!(
            events,
            [Event::Echo {
                session: 1,
                len: 10
            }]
        );
    }

    #[test]
    fn the_handshake_budget_refuses_at_once_and_refills_with_time() {
        let daemon = Daemon::new(IdentityKeyPair::from_seed(&[9; 32]), "d1");
        let limits = Limits {
            max_sessions: 100_000,
            handshake_rate: 10,
        };
        let mut conn = DaemonConn::with_limits(Arc::new(daemon), None, limits);
        let t0 = Instant::now();
        conn.tick(t0);
        let flood: Vec<u8> = (1..=50u64).flat_map(init).collect();
        let (out, _) = feed(&mut conn, &flood);
        assert_eq!(accepts(&out), 10, "one burst");
        assert_eq!(conn.refused(), (0, 40));
        // Half a second later: five more.
        conn.tick(t0 + Duration::from_millis(500));
        let (out, _) = feed(
            &mut conn,
            &(100..=120u64).flat_map(init).collect::<Vec<_>>(),
        );
        assert_eq!(accepts(&out), 5);
        // A long pause refills one burst, no more.
        conn.tick(t0 + Duration::from_secs(3600));
        let (out, _) = feed(
            &mut conn,
            &(200..=300u64).flat_map(init).collect::<Vec<_>>(),
        );
        assert_eq!(accepts(&out), 10);
    }

    #[test]
    fn header_error_ends_the_connection() {
        let (mut conn, _) = conn();
        let mut out = Vec::new();
        let err = conn.feed(&[0x99; 13], &mut out, &mut |_| {}).unwrap_err();
        assert_eq!(err.code(), ErrorCode::PayloadTooLarge);
        assert!(conn.feed(&[], &mut out, &mut |_| {}).is_err() || conn.finish().is_err());
    }
}
