//! `sbrp peer client`: opens a session, checks the daemon's identity, sends messages and
//! verifies every echo byte for byte.
//!
//! Frames that arrive while the client waits are handled the way an endpoint behind a relay
//! must: a Ping is answered with a Pong, a non-terminal Control (session_pending,
//! session_paused, rate_limited, …) is reported and waiting goes on, a terminal Control or
//! session_ended for this session ends the run with that code. While paused nothing is sent;
//! when `session_resumed` arrives while a reply is awaited, the message (or request) is sent
//! again, sealed anew: a relay drops what arrives for a paused session, and the daemon's
//! connection may have taken the reply with it.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sbrp::{
    ClientHandshake, ErrorCode, Frame, FrameType, HandshakeAccept, IdentityPublicKey, PingPayload,
    Session, SessionId, StreamDecoder,
};
use serde::Serialize;

use super::transport::{Incoming, Transport};
use super::{Common, parse_seconds};
use crate::cli::escape::escape;
use crate::cli::exit::{CliError, CliResult, Exit};
use crate::cli::keylog_file::KeyLog;
use crate::cli::output::{Output, Style};
use crate::cli::pinstore::{self, PinStore, TrustPolicy, Verification};

/// `sbrp peer client`
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  sbrp peer client --daemon-id d1 --identity-key daemon.pub --connect 127.0.0.1:4000 --count 20
  sbrp peer client --daemon-id d1 --exec 'ssh host sbrp peer daemon --key k.pem --daemon-id d1'
  socat EXEC:'sbrp peer client --daemon-id d1 --policy accept-new' TCP:relay:4000")]
pub struct Args {
    /// The daemon id to open a session with (part of what the daemon signs)
    #[arg(long, value_name = "ID")]
    daemon_id: String,

    /// Expect exactly this identity key (hex, base64, PEM, or a file holding one) instead of
    /// using the pin file
    #[arg(long, value_name = "KEY", conflicts_with_all = ["pins", "policy"])]
    identity_key: Option<OsString>,

    /// The pin file [default: <config dir>/pins.json]
    #[arg(long, value_name = "FILE", env = "SBRP_PINS")]
    pins: Option<PathBuf>,

    /// What to do with a daemon id that is not pinned: strict refuses (exit 3), accept-new
    /// pins it, ask asks on a terminal (and acts as strict otherwise, and always in stdio
    /// mode). A changed key always fails (exit 4). [default: strict]
    #[arg(long, value_enum, value_name = "POLICY")]
    policy: Option<TrustPolicy>,

    /// The session id (1 to 2^64−1) [default: random]
    #[arg(long, value_name = "N", value_parser = parse_session_id)]
    session_id: Option<SessionId>,

    /// A message to send (repeatable); its echo must match byte for byte
    #[arg(long = "message", value_name = "TEXT")]
    messages: Vec<String>,

    /// Also send N generated messages of sizes from 0 to 65508 bytes
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=100_000))]
    count: Option<u32>,

    /// Connect to HOST:PORT instead of using stdin/stdout
    #[arg(long, value_name = "HOST:PORT", conflicts_with_all = ["exec", "relay"])]
    connect: Option<String>,

    /// Run CMD (with sh -c) and talk over its stdin/stdout, like ssh's ProxyCommand. CMD runs
    /// in its own process group, ended as a whole when the client ends (so it cannot read
    /// the terminal: use ssh keys or an agent, not a password prompt)
    #[arg(long, value_name = "CMD", conflicts_with = "relay")]
    exec: Option<String>,

    /// Send a Ping before the handshake and wait for the Pong
    #[arg(long)]
    ping: bool,

    /// Seconds to wait for each echo (or Pong); 0: no limit, as for --handshake-timeout
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    timeout: Duration,

    /// Print the summary as JSON (schema sbrp.peer-client/1)
    #[arg(long)]
    json: bool,

    /// Exchange bare SBRP Data payloads (echo check) instead of SBP and RPC
    #[arg(long, conflicts_with_all = ["calls", "params"])]
    raw: bool,

    /// Call METHOD over RPC and print the result (repeatable; replaces the echo check)
    #[arg(long = "call", value_name = "METHOD")]
    calls: Vec<String>,

    /// JSON params of the --call it follows (a call without one sends no params)
    #[arg(long = "params", value_name = "JSON", requires = "calls", value_parser = parse_json)]
    params: Vec<serde_json::Value>,

    #[cfg(feature = "relay-client")]
    #[command(flatten)]
    relay: super::relay::RelayArgs,

    #[command(flatten)]
    common: Common,
}

fn parse_json(s: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(s).map_err(|e| format!("not JSON: {e}"))
}

fn parse_session_id(s: &str) -> Result<SessionId, String> {
    s.parse::<u64>()
        .ok()
        .and_then(SessionId::new)
        .ok_or_else(|| format!("`{s}` is not a session id (1 to 18446744073709551615)"))
}

/// The sizes of `count` generated messages: 0 first, 65508 last, spread in between (denser at
/// the small end, where framing bugs live).
pub fn generated_sizes(count: u32) -> Vec<usize> {
    let max = sbrp::session::MAX_PLAINTEXT_LEN;
    match count {
        0 => vec![],
        1 => vec![0],
        n => (0..n)
            .map(|i| {
                let t = f64::from(i) / f64::from(n - 1);
                (t * t * t * max as f64).round() as usize
            })
            .collect(),
    }
}

/// Deterministic, incompressible bytes for generated message `index`.
pub fn generated_message(index: u32, len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(index).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Why the run failed.
#[derive(Debug)]
struct Failure {
    exit: Exit,
    code: Option<ErrorCode>,
    message: String,
    hint: Option<String>,
}

impl Failure {
    fn protocol(code: Option<ErrorCode>, message: impl Into<String>) -> Self {
        Self {
            exit: Exit::ProtocolFailure,
            code,
            message: message.into(),
            hint: None,
        }
    }

    fn from_cli(err: CliError) -> Self {
        Self {
            exit: err.exit(),
            code: None,
            message: err.message().to_owned(),
            hint: err.hint_text().map(str::to_owned),
        }
    }

    fn describe(&self) -> String {
        match self.code {
            Some(code) if !self.message.starts_with(code.name()) => {
                format!("{code}: {}", self.message)
            }
            _ => self.message.clone(),
        }
    }
}

/// A received frame, owned.
#[derive(Debug)]
struct Received {
    frame_type: FrameType,
    session_id: u64,
    payload: Vec<u8>,
}

/// The connection: the transport, the frame decoder and what the run has seen.
struct Conn<'a> {
    transport: Transport,
    decoder: StreamDecoder,
    queue: VecDeque<Received>,
    sid: SessionId,
    out: &'a Output,
    quiet: bool,
    /// The relay said `session_paused` (and not yet `session_resumed`): nothing is sent.
    paused: bool,
    /// Frames that arrived while waiting for `session_resumed`, for [`Conn::next`].
    held: VecDeque<Received>,
    /// How long to wait for `session_resumed` (the reply timeout).
    pause_limit: Duration,
    /// `session_resumed` arrived while a reply was awaited: what was sent before may have been
    /// lost with the daemon's connection (a relay drops what arrives for a paused session).
    resumed: bool,
}

impl Conn<'_> {
    fn note(&self, msg: &str) {
        if !self.quiet {
            self.out.eprintln(&format!("sbrp peer client: {msg}"));
        }
    }

    /// Sends `bytes`. A peer that stopped reading (broken pipe, reset) is not reported here:
    /// what it sent before going away, or its end of input, is the better diagnosis, and the
    /// next wait finds it.
    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        if self.paused {
            self.wait_resumed()?;
        }
        match self.transport.send(bytes) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                self.note(&format!("{} stopped reading ({e})", self.transport.label));
                return Ok(());
            }
            other => other,
        }
        .map_err(|e| Failure {
            exit: Exit::Error,
            code: None,
            message: format!("cannot send to {}: {e}", self.transport.label),
            hint: None,
        })
    }

    /// While paused: reads (answering Pings, noting Controls) until `session_resumed`, keeping
    /// other frames for [`Conn::next`]; fails after the reply timeout.
    fn wait_resumed(&mut self) -> Result<(), Failure> {
        let deadline = deadline_after(Instant::now(), self.pause_limit);
        let limit = self.pause_limit;
        while self.paused {
            let f = self.next(deadline, || {
                Failure::protocol(
                    Some(ErrorCode::SessionPaused),
                    format!(
                        "no session_resumed within {} s of session_paused (--timeout)",
                        limit.as_secs_f64()
                    ),
                )
            })?;
            self.held.push_back(f);
        }
        // Sent after the resume: nothing to send again.
        self.resumed = false;
        Ok(())
    }

    /// Like [`Conn::next`], but `Ok(None)` as soon as `session_resumed` arrives (the caller
    /// sends again what may have been lost).
    fn next_or_resumed(
        &mut self,
        deadline: Option<Instant>,
        on_timeout: impl Fn() -> Failure,
    ) -> Result<Option<Received>, Failure> {
        self.resumed = false;
        let got = self.next_watching(deadline, on_timeout, true)?;
        Ok(got)
    }

    /// Waits for the next frame of interest until `deadline`; answers Pings and reports
    /// Controls and stray frames on the way. `timeout` describes the deadline on expiry.
    fn next(
        &mut self,
        deadline: Option<Instant>,
        on_timeout: impl Fn() -> Failure,
    ) -> Result<Received, Failure> {
        match self.next_watching(deadline, on_timeout, false)? {
            Some(f) => Ok(f),
            // Only a watching wait returns early.
            None => Err(Failure::protocol(None, "no frame")),
        }
    }

    fn next_watching(
        &mut self,
        deadline: Option<Instant>,
        on_timeout: impl Fn() -> Failure,
        watch_resume: bool,
    ) -> Result<Option<Received>, Failure> {
        if !self.paused
            && let Some(f) = self.held.pop_front()
        {
            return Ok(Some(f));
        }
        loop {
            while let Some(f) = self.queue.pop_front() {
                if let Some(f) = self.triage(f)? {
                    return Ok(Some(f));
                }
                if watch_resume && self.resumed {
                    self.resumed = false;
                    return Ok(None);
                }
            }
            match self.transport.recv(deadline) {
                Incoming::Bytes(bytes) => {
                    let queue = &mut self.queue;
                    self.decoder
                        .push(&bytes, |l| {
                            queue.push_back(Received {
                                frame_type: l.frame.frame_type(),
                                session_id: l.frame.session_id(),
                                payload: l.frame.payload().to_vec(),
                            });
                        })
                        .map_err(|e| {
                            Failure::protocol(
                                Some(e.code()),
                                format!("the peer sent a bad frame: {}", escape(&e.to_string())),
                            )
                        })?;
                }
                Incoming::Eof => {
                    self.decoder.finish().map_err(|e| {
                        Failure::protocol(Some(e.code()), format!("at end of input: {e}"))
                    })?;
                    return Err(Failure::protocol(
                        None,
                        format!("{} closed the connection", self.transport.label),
                    ));
                }
                Incoming::Error(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return Err(Failure::protocol(
                        None,
                        format!("{} broke SBRP's framing: {e}", self.transport.label),
                    ));
                }
                Incoming::Error(e) => {
                    return Err(Failure {
                        exit: Exit::Error,
                        code: None,
                        message: format!("cannot read from {}: {e}", self.transport.label),
                        hint: None,
                    });
                }
                Incoming::Timeout => return Err(on_timeout()),
            }
        }
    }

    /// Handles what needs no caller: returns the frame when the caller should see it.
    fn triage(&mut self, f: Received) -> Result<Option<Received>, Failure> {
        let bad = |e: sbrp::FrameError| {
            Failure::protocol(
                Some(e.code()),
                format!("the peer sent a bad frame: {}", escape(&e.to_string())),
            )
        };
        match f.frame_type {
            FrameType::Ping => {
                let p = PingPayload::new(&f.payload).map_err(bad)?;
                let pong = Frame::Pong(p).to_vec();
                self.send(&pong)?;
                self.note("answered a Ping from the peer");
                Ok(None)
            }
            FrameType::Control => {
                let raw =
                    sbrp::RawFrame::new(f.frame_type, f.session_id, &f.payload).map_err(bad)?;
                let c = raw.control().map_err(bad)?;
                let name = c.code.name().unwrap_or("unknown");
                let msg = escape(&c.message_lossy()).into_owned();
                let ours = c.session_id == 0 || c.session_id == self.sid.get();
                let ends = c.code.is_terminal()
                    || (c.session_id == self.sid.get()
                        && c.code.known() == Some(ErrorCode::SessionEnded));
                if ours && ends {
                    return Err(Failure::protocol(
                        c.code.known(),
                        format!(
                            "the relay ended the session: Control {name} (0x{:04x}){}{msg}",
                            c.code.0,
                            if msg.is_empty() { "" } else { ": " }
                        ),
                    ));
                }
                if ours {
                    match c.code.known() {
                        Some(ErrorCode::SessionPaused) => self.paused = true,
                        Some(ErrorCode::SessionResumed) => {
                            self.paused = false;
                            self.resumed = true;
                        }
                        _ => {}
                    }
                }
                self.note(&format!(
                    "Control {name} (0x{:04x}) for session {}{}{msg}",
                    c.code.0,
                    c.session_id,
                    if msg.is_empty() { "" } else { ": " }
                ));
                Ok(None)
            }
            FrameType::Signal => {
                self.note(&format!(
                    "ignored a Signal frame for session {}",
                    f.session_id
                ));
                Ok(None)
            }
            FrameType::Pong => Ok(Some(f)),
            _ if f.session_id != self.sid.get() => {
                self.note(&format!(
                    "ignored a {} frame for session {}",
                    f.frame_type, f.session_id
                ));
                Ok(None)
            }
            _ => Ok(Some(f)),
        }
    }
}

/// One message's outcome.
#[derive(Debug, Serialize)]
struct MessageReport {
    size: usize,
    ok: bool,
    rtt_ms: Option<f64>,
}

/// The summary (`--json`: schema `sbrp.peer-client/1`).
#[derive(Debug, Serialize)]
struct Summary {
    schema: &'static str,
    ok: bool,
    backend: &'static str,
    daemon_id: String,
    /// A decimal string, like every u64 in sbrp's JSON (JavaScript numbers lose precision
    /// above 2^53).
    session_id: String,
    /// `stdio`, `exec`, the TCP peer address, or `ws`/`wss` through a relay.
    transport: String,
    /// With --relay: the relay's HOST[:PORT] (never the token).
    #[serde(skip_serializing_if = "Option::is_none")]
    relay: Option<String>,
    fingerprint: Option<String>,
    trust: Option<&'static str>,
    handshake_ms: Option<f64>,
    ping_ms: Option<f64>,
    sent: usize,
    matched: usize,
    rtt_ms: Option<RttStats>,
    messages: Vec<MessageReport>,
    /// `sbp` (SBP handshake, then RPC) or `raw` (bare echo).
    mode: &'static str,
    /// The daemon's SBP Handshake `peerId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_id: Option<String>,
    /// `--call` results.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    calls: Vec<CallReport>,
    error: Option<ErrorReport>,
    exit: &'static str,
}

/// One `--call`: `{"method", "params", "result"}` or `{"method", "params", "error"}`.
#[derive(Debug, Serialize)]
struct CallReport {
    method: String,
    params: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<CallError>,
    rtt_ms: f64,
}

#[derive(Debug, Serialize)]
struct CallError {
    code: i64,
    name: &'static str,
    message: String,
}

#[derive(Debug, Serialize)]
struct RttStats {
    min: f64,
    avg: f64,
    max: f64,
}

#[derive(Debug, Serialize)]
struct ErrorReport {
    code: Option<&'static str>,
    message: String,
}

/// `start + limit`, or no deadline for a zero limit: 0 means "no limit" for every timeout of
/// `sbrp peer`.
fn deadline_after(start: Instant, limit: Duration) -> Option<Instant> {
    (!limit.is_zero()).then(|| start + limit)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Runs `sbrp peer client`.
pub fn run(out: &Output, args: Args) -> CliResult {
    // Resolve everything that can fail before touching the network.
    crate::cli::daemon_id::validate(&args.daemon_id)?;
    if args.identity_key.as_deref() == Some(std::ffi::OsStr::new("-"))
        && args.connect.is_none()
        && args.exec.is_none()
    {
        return Err(CliError::new(
            Exit::Usage,
            "--identity-key - reads the key from standard input, which carries the SBRP frames here",
        )
        .hint("give the key itself or a file, or talk to the daemon with --connect or --exec"));
    }
    let trust = match &args.identity_key {
        Some(arg) => Trust::Key(crate::cli::keyinput::load_public_arg(arg)?.0),
        None => Trust::Pins {
            store: PinStore::open(args.pins.clone())?,
            policy: args.policy.unwrap_or_default(),
        },
    };
    let keylog = match KeyLog::path(args.common.keylog.clone()) {
        Some(path) => Some(KeyLog::open(out, &path)?),
        None => None,
    };
    let sid = match args.session_id {
        Some(s) => s,
        None => random_session_id()?,
    };
    let mut payloads: Vec<Vec<u8>> = args
        .messages
        .iter()
        .map(|m| m.as_bytes().to_vec())
        .collect();
    if let Some(n) = args.count {
        for (i, size) in generated_sizes(n).into_iter().enumerate() {
            payloads.push(generated_message(i as u32, size));
        }
    }
    if args.messages.is_empty() && args.count.is_none() {
        payloads.push(b"hello from sbrp peer client".to_vec());
    }
    #[cfg(feature = "relay-client")]
    let relay = super::relay::Relay::from_args(out, &args.relay, "peer client")?;
    #[cfg(not(feature = "relay-client"))]
    let relay: Option<()> = None;
    let stdio = args.connect.is_none() && args.exec.is_none() && relay.is_none();
    #[cfg_attr(not(feature = "relay-client"), allow(unused_mut))]
    let mut relay_host = None;
    #[cfg_attr(not(feature = "relay-client"), allow(unused_mut))]
    let mut transport_name: Option<String> = None;
    #[cfg(feature = "relay-client")]
    let (sid, relay_transport) = match &relay {
        Some(r) => {
            if args.session_id.is_some() {
                return Err(CliError::new(
                    Exit::Usage,
                    "--session-id cannot be used with --relay: the session id is the token's sid",
                )
                .hint(
                    "mint a client token with the session id you want (sbrp token mint --sid N)",
                ));
            }
            let token = r
                .tokens
                .fetch()
                .map_err(|e| super::relay::connect_error(&r.label(), &e))?;
            let sid = sbrp::relay_client::token_session_id(&token).ok_or_else(|| {
                CliError::error(
                    "the relay token has no usable sid claim (base64url of 8 bytes, not zero)",
                )
                .hint("use a client token (sbrp token mint --role client)")
            })?;
            let fixed = super::relay::Relay {
                config: r.config.clone(),
                tokens: sbrp::relay_client::TokenSource::Fixed(token),
            };
            let t = super::relay::open(&fixed)
                .map_err(|e| super::relay::connect_error(&r.label(), &e))?;
            relay_host = Some(r.config.host().to_owned());
            transport_name = Some(r.config.transport().to_owned());
            (sid, Some(t))
        }
        None => (sid, None),
    };
    #[cfg(not(feature = "relay-client"))]
    let relay_transport: Option<Transport> = None;
    let transport = match (relay_transport, &args.connect, &args.exec) {
        (Some(t), _, _) => t,
        (None, Some(addr), _) => Transport::connect(addr)?,
        (None, None, Some(cmd)) => Transport::exec(cmd)?,
        (None, None, None) => Transport::stdio(),
    };
    let mut summary = Summary {
        schema: "sbrp.peer-client/1",
        ok: false,
        backend: sbrp::aead::BACKEND,
        daemon_id: args.daemon_id.clone(),
        session_id: sid.get().to_string(),
        transport: transport_name.unwrap_or_else(|| transport.label.clone()),
        relay: relay_host,
        fingerprint: None,
        trust: None,
        handshake_ms: None,
        ping_ms: None,
        sent: 0,
        matched: 0,
        rtt_ms: None,
        messages: Vec::new(),
        mode: if args.raw { "raw" } else { "sbp" },
        peer_id: None,
        calls: Vec::new(),
        error: None,
        exit: Exit::Success.name(),
    };
    let mut conn = Conn {
        transport,
        decoder: StreamDecoder::new(),
        queue: VecDeque::new(),
        sid,
        out,
        quiet: args.common.quiet,
        paused: false,
        held: VecDeque::new(),
        pause_limit: args.timeout,
        resumed: false,
    };
    let ctx = Ctx {
        args: &args,
        trust: &trust,
        keylog: keylog.as_ref(),
        stdio,
    };
    let result = session(&mut conn, &ctx, &payloads, &mut summary);
    conn.transport.close_send();
    drop(conn);
    let failure = match result {
        Ok(()) if !args.calls.is_empty() => None,
        Ok(()) if summary.matched == payloads.len() => None,
        Ok(()) => Some(Failure::protocol(
            None,
            format!(
                "{} of {} echoes did not match",
                summary.sent - summary.matched,
                summary.sent
            ),
        )),
        Err(f) => Some(f),
    };
    summary.ok = failure.is_none();
    let rtts: Vec<f64> = summary.messages.iter().filter_map(|m| m.rtt_ms).collect();
    if !rtts.is_empty() {
        let sum: f64 = rtts.iter().sum();
        summary.rtt_ms = Some(RttStats {
            min: rtts.iter().copied().fold(f64::INFINITY, f64::min),
            avg: (sum / rtts.len() as f64 * 1e3).round() / 1e3,
            max: rtts.iter().copied().fold(0.0, f64::max),
        });
    }
    if let Some(f) = &failure {
        summary.exit = f.exit.name();
        summary.error = Some(ErrorReport {
            code: f.code.map(ErrorCode::name),
            message: f.describe(),
        });
    }
    // In stdio mode stdout is the wire: the report goes to stderr.
    let report = if args.json {
        crate::cli::output::to_json(&summary)?
    } else {
        human(out, &summary, stdio)
    };
    if stdio {
        out.eprintln(report.trim_end());
    } else {
        out.println(report.trim_end())?;
    }
    match failure {
        None => Ok(Exit::Success),
        Some(f) if args.json => Ok(f.exit),
        Some(f) => {
            let mut err = CliError::new(f.exit, f.describe());
            if let Some(h) = f.hint {
                err = err.hint(h);
            }
            Err(err)
        }
    }
}

struct Ctx<'a> {
    args: &'a Args,
    trust: &'a Trust,
    keylog: Option<&'a KeyLog>,
    stdio: bool,
}

fn random_session_id() -> CliResult<SessionId> {
    loop {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b)
            .map_err(|e| CliError::error(format!("the system RNG failed: {e}")))?;
        if let Some(s) = SessionId::new(u64::from_be_bytes(b) >> 1) {
            return Ok(s);
        }
    }
}

fn session(
    conn: &mut Conn<'_>,
    ctx: &Ctx<'_>,
    payloads: &[Vec<u8>],
    summary: &mut Summary,
) -> Result<(), Failure> {
    let args = ctx.args;
    let sid = conn.sid;
    if args.ping {
        let bytes = sid.get().to_be_bytes();
        let t0 = Instant::now();
        conn.send(&Frame::Ping(PingPayload::new(&bytes).unwrap_or_default()).to_vec())?;
        let deadline = deadline_after(t0, args.timeout);
        let secs = args.timeout.as_secs_f64();
        loop {
            let f = conn.next(deadline, || {
                Failure::protocol(None, format!("no Pong within {secs} s"))
            })?;
            if f.frame_type == FrameType::Pong && f.payload == bytes {
                summary.ping_ms = Some(ms(t0.elapsed()));
                break;
            }
            conn.note(&format!(
                "ignored a {} frame while waiting for the Pong",
                f.frame_type
            ));
        }
    }

    // Handshake.
    let hs = ClientHandshake::start(&args.daemon_id, sid)
        .map_err(|e| Failure::protocol(Some(e.code()), e.to_string()))?;
    let t0 = Instant::now();
    conn.send(&Frame::HandshakeInit(hs.init()).to_vec())?;
    let hs_timeout = args.common.handshake_timeout;
    let deadline = (!hs_timeout.is_zero()).then(|| t0 + hs_timeout);
    let f = conn.next(deadline, || {
        Failure::protocol(
            Some(ErrorCode::HandshakeTimeout),
            format!("no HandshakeAccept within {} s", hs_timeout.as_secs_f64()),
        )
    })?;
    if f.frame_type != FrameType::HandshakeAccept {
        return Err(Failure::protocol(
            Some(ErrorCode::HandshakeFailed),
            format!("expected a HandshakeAccept, got a {} frame", f.frame_type),
        ));
    }
    let accept: HandshakeAccept = sbrp::RawFrame::new(f.frame_type, f.session_id, &f.payload)
        .and_then(|raw| raw.handshake_accept())
        .map_err(|e| {
            Failure::protocol(
                Some(e.code()),
                format!("bad HandshakeAccept: {}", escape(&e.to_string())),
            )
        })?;
    let presented = accept.identity_key;
    summary.fingerprint = Some(presented.fingerprint());
    let mut session = finish(conn, ctx, hs, &accept, summary)?;
    summary.handshake_ms = Some(ms(t0.elapsed()));
    if let Some(log) = ctx.keylog
        && let Err(e) = log.write(sid.get(), session.keys())
    {
        conn.out.warn(&e);
    }
    conn.note(&format!(
        "session {} open with {} ({})",
        sid,
        crate::cli::daemon_id::shorten(&args.daemon_id),
        presented.fingerprint()
    ));

    if !args.raw {
        return sbp_session(conn, ctx, &mut session, payloads, summary);
    }

    // Messages, one at a time.
    for msg in payloads {
        let frame = session
            .encrypt_frame(sid, msg)
            .map_err(|e| Failure::protocol(Some(e.code()), e.to_string()))?;
        let t0 = Instant::now();
        conn.send(&frame)?;
        summary.sent += 1;
        let secs = args.timeout.as_secs_f64();
        let len = msg.len();
        let mut deadline = deadline_after(t0, args.timeout);
        let f = loop {
            let Some(f) = conn.next_or_resumed(deadline, || {
                Failure::protocol(
                    None,
                    format!("no echo of a {len}-byte message within {secs} s"),
                )
            })?
            else {
                // Resumed while waiting: the message (or its echo) may have been lost with the
                // daemon's connection. Send it again, sealed anew (a new sequence number).
                conn.note("session resumed while waiting for an echo: sending the message again");
                let again = session
                    .encrypt_frame(sid, msg)
                    .map_err(|e| Failure::protocol(Some(e.code()), e.to_string()))?;
                conn.send(&again)?;
                deadline = deadline_after(Instant::now(), args.timeout);
                continue;
            };
            if f.frame_type == FrameType::Data {
                break f;
            }
            conn.note(&format!(
                "ignored a {} frame while waiting for an echo",
                f.frame_type
            ));
        };
        let rtt = t0.elapsed();
        let echoed = session
            .decrypt(&f.payload)
            .map_err(|e| Failure::protocol(Some(e.code()), e.to_string()))?;
        let ok = echoed == *msg;
        summary.matched += usize::from(ok);
        summary.messages.push(MessageReport {
            size: len,
            ok,
            rtt_ms: Some(ms(rtt)),
        });
    }
    Ok(())
}

/// The longest echo string: a Data plaintext holds 65508 bytes, and the SBP frame and RPC
/// envelope around the string take at most a few hundred.
const MAX_ECHO_CHARS: usize = 65_000;

/// Pairs each `--params` with the `--call` before it on the command line (clap keeps the
/// values of each option apart, in order). `argv` is the process's arguments.
fn pair_calls(
    argv: &[String],
    calls: &[String],
    params: &[serde_json::Value],
) -> Vec<(String, Option<serde_json::Value>)> {
    let mut out: Vec<(String, Option<serde_json::Value>)> = Vec::new();
    let (mut ci, mut pi) = (0, 0);
    for a in argv {
        if a == "--" {
            break;
        }
        if (a == "--call" || a.starts_with("--call=")) && ci < calls.len() {
            out.push((calls[ci].clone(), None));
            ci += 1;
        } else if (a == "--params" || a.starts_with("--params=")) && pi < params.len() {
            if let Some(last) = out.last_mut() {
                last.1 = Some(params[pi].clone());
            }
            pi += 1;
        }
    }
    // Anything the scan missed (it cannot: clap saw the same arguments) is still called.
    for c in &calls[ci..] {
        out.push((c.clone(), None));
    }
    out
}

/// The next SBP plaintext of the session, before `deadline` (`None`: no limit).
fn next_plaintext(
    conn: &mut Conn<'_>,
    session: &mut sbrp::Session,
    deadline: Option<Instant>,
    what: &str,
    secs: f64,
) -> Result<Vec<u8>, Failure> {
    loop {
        let f = conn.next(deadline, || {
            Failure::protocol(None, format!("no {what} within {secs} s"))
        })?;
        if let Some(pt) = plaintext_of(conn, session, f, what)? {
            return Ok(pt);
        }
    }
}

/// Like [`next_plaintext`], but `Ok(None)` when `session_resumed` arrives first.
fn next_plaintext_or_resumed(
    conn: &mut Conn<'_>,
    session: &mut sbrp::Session,
    deadline: Option<Instant>,
    what: &str,
    secs: f64,
) -> Result<Option<Vec<u8>>, Failure> {
    loop {
        let Some(f) = conn.next_or_resumed(deadline, || {
            Failure::protocol(None, format!("no {what} within {secs} s"))
        })?
        else {
            return Ok(None);
        };
        if let Some(pt) = plaintext_of(conn, session, f, what)? {
            return Ok(Some(pt));
        }
    }
}

/// A Data frame's plaintext; `None` (noted) for another frame.
fn plaintext_of(
    conn: &mut Conn<'_>,
    session: &mut sbrp::Session,
    f: Received,
    what: &str,
) -> Result<Option<Vec<u8>>, Failure> {
    if f.frame_type != FrameType::Data {
        conn.note(&format!(
            "ignored a {} frame while waiting for {what}",
            f.frame_type
        ));
        return Ok(None);
    }
    session
        .decrypt(&f.payload)
        .map(Some)
        .map_err(|e| Failure::protocol(Some(e.code()), e.to_string()))
}

/// SBP: the Handshake both ways, then the calls (`--call`) or the echo check, one at a time.
fn sbp_session(
    conn: &mut Conn<'_>,
    ctx: &Ctx<'_>,
    session: &mut sbrp::Session,
    payloads: &[Vec<u8>],
    summary: &mut Summary,
) -> Result<(), Failure> {
    use sbrp::sbp::endpoint::{Endpoint, Event as SbpEvent};
    let args = ctx.args;
    let sid = conn.sid;
    let secs = args.timeout.as_secs_f64();
    let rng = |e: sbrp::RngError| Failure::protocol(Some(e.code()), e.to_string());
    let seal = |session: &mut sbrp::Session, pt: &[u8]| {
        session
            .encrypt_frame(sid, pt)
            .map_err(|e| Failure::protocol(Some(e.code()), e.to_string()))
    };
    let mut ep = Endpoint::new(sbrp::sbp::Handshake::new(
        format!("sbrp-client-{sid}"),
        &["rpc"],
    ));
    let hello = ep.open().map_err(rng)?;
    let frame = seal(session, &hello)?;
    conn.send(&frame)?;
    let sbp_failure = |f: sbrp::sbp::endpoint::Fault| {
        Failure::protocol(
            None,
            format!("the daemon broke SBP: {}", escape(&f.to_string())),
        )
    };
    // Feeds one plaintext; sends what the endpoint answers (a Pong).
    let receive = |conn: &mut Conn<'_>,
                   session: &mut sbrp::Session,
                   ep: &mut Endpoint,
                   pt: &[u8]|
     -> Result<SbpEvent, Failure> {
        let mut replies = Vec::new();
        let ev = ep.receive(pt, &mut replies);
        for r in replies {
            let frame = seal(session, &r)?;
            conn.send(&frame)?;
        }
        ev.map_err(sbp_failure)
    };
    let deadline = deadline_after(Instant::now(), args.timeout);
    loop {
        let pt = next_plaintext(conn, session, deadline, "SBP handshake", secs)?;
        if let SbpEvent::Handshake(h) = receive(conn, session, &mut ep, &pt)? {
            if !h.has_cap("rpc") {
                conn.note("the daemon's SBP handshake does not advertise rpc");
            }
            summary.peer_id = Some(h.peer_id);
            break;
        }
    }
    // The work: --call, or echo calls whose params are the messages as strings.
    let mut work: Vec<(String, Option<serde_json::Value>, bool)> = Vec::new();
    if args.calls.is_empty() {
        for p in payloads {
            let text: String = match std::str::from_utf8(p) {
                Ok(t) if t.len() <= MAX_ECHO_CHARS => t.to_owned(),
                _ => hex::encode(p)
                    .chars()
                    .take(p.len().min(MAX_ECHO_CHARS))
                    .collect(),
            };
            work.push((sbrp::rpc::METHOD_ECHO.into(), Some(text.into()), true));
        }
    } else {
        let argv: Vec<String> = std::env::args().collect();
        for (m, p) in pair_calls(&argv, &args.calls, &args.params) {
            work.push((m, p, false));
        }
    }
    for (method, params, verify) in work {
        let t0 = Instant::now();
        let Some((cid, request)) = ep.request(&method, params.clone()).map_err(rng)? else {
            return Err(Failure::protocol(None, "too many calls waiting"));
        };
        // The echo check's size is the string's; a call's, its frame's.
        let size = match &params {
            Some(serde_json::Value::String(t)) if verify => t.len(),
            _ => request.len(),
        };
        let frame = seal(session, &request)?;
        conn.send(&frame)?;
        summary.sent += 1;
        let mut deadline = deadline_after(t0, args.timeout);
        let outcome = loop {
            let Some(pt) = next_plaintext_or_resumed(conn, session, deadline, "RPC answer", secs)?
            else {
                // Resumed while waiting: the request (or its answer) may have been lost with
                // the daemon's connection. Send the same request again, sealed anew; a second
                // answer to it, should both arrive, is ignored (answers match by cid).
                conn.note("session resumed while waiting for an answer: sending the request again");
                let again = seal(session, &request)?;
                conn.send(&again)?;
                deadline = deadline_after(Instant::now(), args.timeout);
                continue;
            };
            match receive(conn, session, &mut ep, &pt)? {
                SbpEvent::Answer {
                    cid: c, outcome, ..
                } if c == cid => break outcome,
                SbpEvent::Close(r) => {
                    return Err(Failure::protocol(
                        None,
                        format!("the daemon closed the SBP session: {}", escape(&r)),
                    ));
                }
                SbpEvent::PeerError { code, message } => {
                    return Err(Failure::protocol(
                        None,
                        format!(
                            "the daemon sent SBP error {code} ({}): {}",
                            sbrp::sbp::WireCode::describe(code.into()),
                            escape(&message)
                        ),
                    ));
                }
                _ => {}
            }
        };
        let rtt = ms(t0.elapsed());
        if verify {
            let ok = matches!(&outcome, Ok(Some(r)) if Some(r) == params.as_ref());
            summary.matched += usize::from(ok);
            summary.messages.push(MessageReport {
                size,
                ok,
                rtt_ms: Some(rtt),
            });
        } else {
            let (result, error) = match outcome {
                Ok(r) => (Some(r.unwrap_or(serde_json::Value::Null)), None),
                Err((code, message)) => (
                    None,
                    Some(CallError {
                        code,
                        name: sbrp::sbp::WireCode::describe(code),
                        message,
                    }),
                ),
            };
            summary.calls.push(CallReport {
                method,
                params,
                result,
                error,
                rtt_ms: rtt,
            });
        }
    }
    // Say goodbye the SBP way.
    if let Ok(fid) = sbrp::sbp::FrameId::random() {
        let close = sbrp::sbp::Frame {
            frame_id: fid,
            timestamp: None,
            body: sbrp::sbp::Body::Close(b"done"),
        }
        .encode();
        let frame = seal(session, &close)?;
        conn.send(&frame)?;
    }
    Ok(())
}

/// How the daemon's identity is checked.
#[derive(Debug)]
enum Trust {
    /// `--identity-key`: exactly this key.
    Key(IdentityPublicKey),
    /// The pin file, with a policy for unknown daemons.
    Pins {
        store: PinStore,
        policy: TrustPolicy,
    },
}

/// Verifies the accept against the key given, or the pin file with its policy (the semantics
/// and exit codes of `sbrp pin check`).
fn finish(
    conn: &Conn<'_>,
    ctx: &Ctx<'_>,
    hs: ClientHandshake,
    accept: &HandshakeAccept,
    summary: &mut Summary,
) -> Result<Session, Failure> {
    let handshake_error = |e: sbrp::HandshakeError| Failure {
        exit: if e.code() == ErrorCode::IdentityKeyChanged {
            Exit::KeyMismatch
        } else {
            Exit::ProtocolFailure
        },
        code: Some(e.code()),
        message: e.to_string(),
        hint: None,
    };
    let daemon_id = &ctx.args.daemon_id;
    let presented: IdentityPublicKey = accept.identity_key;
    let (store, policy) = match ctx.trust {
        Trust::Key(pk) => {
            summary.trust = Some("identity_key");
            return hs.finish(accept, pk).map_err(|e| {
                if e.code() != ErrorCode::IdentityKeyChanged {
                    return handshake_error(e);
                }
                // No pin file is involved: say what was compared with what.
                summary.trust = Some("identity_key_mismatch");
                Failure {
                    exit: Exit::KeyMismatch,
                    code: Some(ErrorCode::IdentityKeyChanged),
                    message: format!(
                        "identity_key_changed: daemon \"{}\" presented another identity key than \
                         the one given with --identity-key\n  given:     {}\n  presented: {}",
                        crate::cli::daemon_id::shorten(daemon_id),
                        pk.fingerprint(),
                        presented.fingerprint()
                    ),
                    hint: Some(
                        "check that --identity-key is this daemon's public key (`sbrp pubkey` of \
                         its secret key prints it); this may also be an attack"
                            .to_owned(),
                    ),
                }
            });
        }
        Trust::Pins { store, policy } => (store, *policy),
    };
    match store
        .verify(daemon_id, &presented)
        .map_err(Failure::from_cli)?
    {
        Verification::Match(pin) => {
            summary.trust = Some("pinned");
            let session = hs.finish(accept, &pin.key()).map_err(handshake_error)?;
            if let Err(e) = store.mark_verified(daemon_id, &presented) {
                conn.out.warn(e.message());
            }
            Ok(session)
        }
        Verification::Mismatch(pin) => {
            // The library says the same; the pin store's error names the file and the fix.
            let err = pinstore::key_changed_error(store, &pin, &presented, None);
            Err(Failure {
                code: Some(ErrorCode::IdentityKeyChanged),
                ..Failure::from_cli(err)
            })
        }
        Verification::Unknown => {
            // In stdio mode stdin is the wire: nobody can be asked.
            let policy = if ctx.stdio && policy == TrustPolicy::Ask {
                TrustPolicy::Strict
            } else {
                policy
            };
            let trusted = pinstore::decide_unknown(conn.out, policy, daemon_id, &presented)
                .map_err(|e| Failure {
                    code: (e.exit() == Exit::KeyMismatch).then_some(ErrorCode::IdentityKeyChanged),
                    ..Failure::from_cli(e)
                })?;
            if !trusted {
                let err = pinstore::not_pinned_error(store, daemon_id);
                return Err(Failure {
                    message: format!(
                        "{} (it presented {})",
                        err.message(),
                        presented.fingerprint()
                    ),
                    ..Failure::from_cli(err)
                });
            }
            let session = hs.finish_first_contact(accept).map_err(handshake_error)?;
            match store
                .add(daemon_id, &presented, None)
                .map_err(Failure::from_cli)?
            {
                pinstore::AddOutcome::Added(_) | pinstore::AddOutcome::Unchanged(_) => {}
                pinstore::AddOutcome::Conflict(pin) => {
                    // Pinned by someone else meanwhile, to another key.
                    let err = pinstore::key_changed_error(store, &pin, &presented, None);
                    return Err(Failure {
                        code: Some(ErrorCode::IdentityKeyChanged),
                        ..Failure::from_cli(err)
                    });
                }
            }
            summary.trust = Some("newly_pinned");
            conn.out.note(&format!(
                "pinned daemon \"{}\" as {} in {}",
                crate::cli::daemon_id::shorten(daemon_id),
                presented.fingerprint(),
                crate::cli::escape::escape_path(store.path())
            ));
            Ok(session)
        }
    }
}

fn human(out: &Output, s: &Summary, stdio: bool) -> String {
    let paint = |t: &str, st: Style| {
        if stdio {
            out.style_err(t, st)
        } else {
            out.style_out(t, st)
        }
    };
    let mut text = format!(
        "session {} with daemon {} over {} ({} AEAD)\n",
        s.session_id,
        crate::cli::daemon_id::shorten(&s.daemon_id),
        s.transport,
        s.backend
    );
    if let Some(fp) = &s.fingerprint {
        let how = match s.trust {
            Some("identity_key") => "matches --identity-key",
            Some("identity_key_mismatch") => "presented; not the --identity-key",
            Some("pinned") => "pinned",
            Some("newly_pinned") => "newly pinned",
            _ => "not verified",
        };
        text += &format!("  identity   {} ({how})\n", paint(fp, Style::Bold));
    }
    if let Some(p) = s.ping_ms {
        text += &format!("  ping       {p:.3} ms\n");
    }
    if let Some(h) = s.handshake_ms {
        text += &format!("  handshake  {h:.3} ms\n");
    }
    for (i, m) in s.messages.iter().enumerate() {
        let verdict = if m.ok {
            paint("match", Style::Good)
        } else {
            paint("MISMATCH", Style::Bad)
        };
        text += &format!(
            "  #{:<4} {:>6} B  {:>9.3} ms  {verdict}\n",
            i + 1,
            m.size,
            m.rtt_ms.unwrap_or(0.0)
        );
    }
    if let Some(p) = &s.peer_id {
        text += &format!("  sbp        handshake from {}\n", escape(p));
    }
    for c in &s.calls {
        let outcome = match (&c.result, &c.error) {
            (_, Some(e)) => paint(
                &format!("error {} {}: {}", e.code, e.name, escape(&e.message)),
                Style::Bad,
            ),
            (Some(r), None) => escape(&r.to_string()).into_owned(),
            (None, None) => "(no result)".into(),
        };
        text += &format!(
            "  call       {} {:>9.3} ms  {outcome}\n",
            escape(&c.method),
            c.rtt_ms
        );
    }
    if s.calls.is_empty() {
        text += &format!(
            "  {:<8}   {} sent, {} matched\n",
            if s.mode == "sbp" {
                "echoes"
            } else {
                "messages"
            },
            s.sent,
            s.matched
        );
    }
    if let Some(r) = &s.rtt_ms {
        text += &format!(
            "  rtt        min {:.3} ms, avg {:.3} ms, max {:.3} ms\n",
            r.min, r.avg, r.max
        );
    }
    text += &if s.ok {
        paint("ok", Style::Good)
    } else {
        paint("FAILED", Style::Bad)
    };
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_follow_their_call() {
        let argv: Vec<String> = [
            "sbrp", "peer", "client", "--call", "a", "--call=b", "--params", "1", "--call", "c",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let calls = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let got = pair_calls(&argv, &calls, &[serde_json::json!(1)]);
        assert_eq!(
            got,
            vec![
                ("a".to_owned(), None),
                ("b".to_owned(), Some(serde_json::json!(1))),
                ("c".to_owned(), None)
            ]
        );
    }

    #[test]
    fn generated_sizes_span_the_range() {
        assert_eq!(generated_sizes(0), Vec::<usize>::new());
        assert_eq!(generated_sizes(1), [0]);
        assert_eq!(generated_sizes(2), [0, 65508]);
        let s = generated_sizes(20);
        assert_eq!((s[0], s[19]), (0, 65508));
        assert!(s.windows(2).all(|w| w[0] <= w[1]));
        assert_ne!(generated_message(1, 32), generated_message(2, 32));
    }
}
