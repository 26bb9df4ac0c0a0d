//! `sbrp bench relay`: the relay server against a direct WebSocket echo, in one run on
//! 127.0.0.1 (schema `sbrp.bench-relay/1`, docs/bench-relay-json.md).
//!
//! The relay is the real binary (`current_exe() relay --listen 127.0.0.1:0 …`), a child
//! process, so the RSS read from `/proc/PID/status` is its own. Both ends of every session
//! live in this process on the library's stack (tokio + tokio-tungstenite, one SBRP frame per
//! binary message): a client that seals Data frames and a daemon ([`SessionTable`]) that opens
//! them and seals the echo. The direct baseline runs the same client and the same daemon loop
//! with the daemon accepting the WebSocket itself; the relay path adds exactly the relay.
//! Every echo is opened and compared with what was sent; a missing, late (after the drain
//! timeout), undecryptable or different echo is a failure, and a failure fails the bench.
//!
//! | phase | what is measured |
//! |---|---|
//! | sizes | per size, [`ROUNDS`] interleaved rounds of direct and relay echoes with [`WINDOW`] messages in flight (`--window`; msg/s of the round with the median ratio; the relay's CPU time per echo over its rounds), then one run each way with one message in flight (round trip p50/p99) |
//! | paced | 1 KiB echoes through the relay, then direct, sent at a fixed rate by a ticker thread; round trip p50/p99 |
//! | concurrency | `--sessions` client sessions held open at once, spread over daemons of [`PER_DAEMON`] sessions; relay RSS with them all open, each verified by one echo |
//! | handshakes | the rate at which the concurrency phase opens its sessions ([`CONNECTORS`] at a time): TCP connect, WebSocket upgrade with the token (verified by the relay), HandshakeInit → daemon → HandshakeAccept, client finish |

use std::cell::Cell;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sbrp::endpoint::{EndReason, Event, SessionTable};
use sbrp::frame::{FrameType, HEADER_LEN, MIN_DATA_LEN, NONCE_LEN, TAG_LEN};
use sbrp::relay_client::{RelayClient, RelayConfig, Trust, websocket_config};
use sbrp::token::{self, Claims, Jwks, Token};
use sbrp::ws::{MessageKind, frame_of_message};
use sbrp::{
    ClientHandshake, Daemon, Frame, IdentityKeyPair, IdentityPublicKey, RawFrame, Role, Session,
    SessionId,
};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::cli::exit::{CliError, CliResult, Exit};
use crate::cli::output::{Output, Style};

/// Data frame plaintext sizes of the `sizes` rows.
pub const SIZES: [usize; 3] = [64, 1024, 16 * 1024];
/// Messages in flight in the throughput runs, by default: enough that neither path waits
/// for its round trip (at 32 the relayed path was bound by its round trip, not by CPU;
/// docs/bench-relay-json.md has the sweep).
pub const WINDOW: usize = 256;
/// The most `--window` takes: 512 × 16 KiB frames is half the relay's default `--max-queue`
/// (16 MiB), a margin that keeps R5's backpressure out of the measurement (at 1024 the
/// queue is full).
pub const MAX_WINDOW: u32 = 512;
/// Interleaved direct/relay rounds per size (the median counts).
pub const ROUNDS: u32 = 5;
/// The `paced` row: messages per second, and their size.
pub const PACED_RATE: u32 = 5000;
/// Plaintext bytes of each paced message.
pub const PACED_SIZE: usize = 1024;
/// Most sessions per daemon connection in the concurrency phase.
pub const PER_DAEMON: usize = 1000;
/// Sessions opened at once in the concurrency phase.
pub const CONNECTORS: usize = 64;
/// How long a run waits for its last echoes after it stops sending (a missing echo fails).
const DRAIN: Duration = Duration::from_secs(15);
/// How long the relay may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Targets (issue 11).
const TARGET_RATIO_1K: f64 = 0.5;
const TARGET_RSS_KIB: u64 = 512 * 1024;
const TARGET_RSS_SESSIONS: usize = 10_000;
const TARGET_PACED_P99_MS: f64 = 2.0;

/// `sbrp bench relay`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seconds per measurement (each size: 2 × this for the throughput rounds and 0.3 × this
    /// for round trips; paced: this, at least 1, through the relay and again direct)
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = crate::cli::peer::parse_seconds)]
    seconds: Duration,

    /// Client sessions held open at once in the concurrency phase (the bench raises its own
    /// open-file limit, which the relay inherits, to fit them)
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    sessions: u32,

    /// Messages in flight in the throughput rounds, on both paths (at most 512: in 16 KiB
    /// frames, half the relay's default queue; a fuller queue would measure backpressure)
    #[arg(long, value_name = "N", default_value_t = WINDOW as u32,
          value_parser = clap::value_parser!(u32).range(1..=MAX_WINDOW as i64))]
    window: u32,

    /// Print the results as JSON (schema sbrp.bench-relay/1)
    #[arg(long)]
    json: bool,

    /// Test hook: the bench's own daemon changes one byte of every Nth echo it sends, which
    /// the client must catch (the bench then fails with exit 6)
    #[arg(long, value_name = "N", hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    tamper_every: Option<u64>,
}

/// One size.
#[derive(Debug, Serialize)]
pub struct SizeResult {
    /// Plaintext bytes per Data frame.
    pub size: usize,
    /// Direct WebSocket echo, verified echoes per second (`--window` in flight), in the round
    /// with the median ratio.
    pub direct_msgs_per_s: f64,
    /// Through the relay, in the same round.
    pub relay_msgs_per_s: f64,
    /// relay / direct of that round: the median of the rounds' ratios.
    pub ratio: f64,
    /// CPU time the relay process spent per echoed message (two frames forwarded) over all
    /// relay rounds, µs (null if /proc could not be read).
    pub relay_cpu_us_per_msg: Option<f64>,
    /// Round trip through the relay, one message in flight: median, ms.
    pub rtt_p50_ms: f64,
    /// Likewise, 99th percentile.
    pub rtt_p99_ms: f64,
    /// Direct round trip, one message in flight, median (for comparison), ms.
    pub direct_rtt_p50_ms: f64,
}

/// The paced row.
#[derive(Debug, Serialize)]
pub struct PacedResult {
    /// Messages per second asked for.
    pub rate: u32,
    /// Plaintext bytes per message.
    pub size: usize,
    /// Messages per second actually sent.
    pub sent_per_s: f64,
    /// Verified echoes.
    pub messages: u64,
    /// Round trip median, ms.
    pub rtt_p50_ms: f64,
    /// 99th percentile, ms.
    pub rtt_p99_ms: f64,
    /// Largest, ms.
    pub rtt_max_ms: f64,
    /// The same rate on the direct path, median, ms (the machine and the endpoints alone).
    pub direct_rtt_p50_ms: f64,
    /// Likewise, 99th percentile.
    pub direct_rtt_p99_ms: f64,
}

/// The concurrency phase.
#[derive(Debug, Serialize)]
pub struct ConcurrencyResult {
    /// Client sessions open at once, each verified by one echo.
    pub sessions: usize,
    /// Daemon connections carrying them.
    pub daemons: usize,
    /// Relay VmRSS with the daemons connected and no client session, KiB.
    pub relay_rss_idle_kib: u64,
    /// Relay VmRSS with every session open, KiB.
    pub relay_rss_kib: u64,
    /// (relay_rss_kib − relay_rss_idle_kib) / sessions.
    pub rss_per_session_kib: f64,
    /// Relay VmHWM (peak RSS) at that moment, KiB.
    pub relay_rss_peak_kib: u64,
}

/// The targets of issue 11, judged on this run (null: not judged).
#[derive(Debug, Serialize)]
pub struct Targets {
    /// relay ≥ 0.5 × direct at 1 KiB.
    pub relay_half_of_direct_1k: bool,
    /// 10,000 sessions in ≤ 512 MiB relay RSS (null with fewer than 10,000 sessions).
    pub rss_512mib_10k_sessions: Option<bool>,
    /// paced p99 ≤ 2 ms at 5,000 msg/s.
    pub paced_p99_2ms: bool,
}

/// Everything (`--json`: schema `sbrp.bench-relay/1`).
#[derive(Debug, Serialize)]
pub struct Report {
    /// `"sbrp.bench-relay/1"`.
    pub schema: &'static str,
    /// True when every echo was verified (`failures` is 0).
    pub ok: bool,
    /// `"rustcrypto"` or `"ring"`.
    pub backend: &'static str,
    /// Whether this is an optimised build.
    pub release: bool,
    /// `--seconds`.
    pub seconds: f64,
    /// Online CPUs.
    pub cpus: usize,
    /// /proc/loadavg (1, 5, 15 minutes) when the run started.
    pub load_average_start: Option<[f64; 3]>,
    /// Likewise when it ended.
    pub load_average_end: Option<[f64; 3]>,
    /// Messages in flight in the throughput runs.
    pub window: usize,
    /// Interleaved rounds per size.
    pub rounds: u32,
    /// Per size.
    pub sizes: Vec<SizeResult>,
    /// Fixed-rate round trips through the relay.
    pub paced: PacedResult,
    /// Sessions held at once and the relay's memory.
    pub concurrency: ConcurrencyResult,
    /// Sessions opened per second through the relay (see the module docs).
    pub handshakes_per_s: f64,
    /// Sessions being opened at once while that was measured.
    pub handshake_concurrency: usize,
    /// Echoes opened and compared, over every phase.
    pub verified: u64,
    /// Echoes missing, undecryptable or different, and sessions that failed to open.
    pub failures: u64,
    /// The targets.
    pub targets: Targets,
}

// ---------------------------------------------------------------------------------------
// Measurement helpers

/// A log-linear histogram of nanoseconds: 128 sub-buckets per power of two (quantiles within
/// 0.4 % of the true value), a fixed 7424 counters whatever the number of samples.
pub struct Histogram {
    counts: Vec<u64>,
    n: u64,
    max: u64,
}

const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; ((64 - SUB_BITS + 1) as usize) << SUB_BITS],
            n: 0,
            max: 0,
        }
    }
}

impl Histogram {
    fn index(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let e = 63 - v.leading_zeros();
        let shift = e - SUB_BITS;
        (((shift + 1) as usize) << SUB_BITS) + ((v >> shift) - SUB) as usize
    }

    /// The middle of bucket `i`.
    fn value(i: usize) -> u64 {
        if (i as u64) < SUB {
            return i as u64;
        }
        let shift = (i >> SUB_BITS) as u32 - 1;
        let low = ((i as u64 & (SUB - 1)) + SUB) << shift;
        low + ((1u64 << shift) >> 1)
    }

    /// Records one value.
    pub fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
        self.n += 1;
        self.max = self.max.max(ns);
    }

    /// The `q` quantile (0..=1) in nanoseconds; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }

    fn ms(&self, q: f64) -> f64 {
        self.quantile(q) as f64 / 1e6
    }
}

/// VmRSS and VmHWM of a process, KiB, from /proc/PID/status.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU time of every thread of a process so far, from /proc/PID/task/*/schedstat (ns).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let mut ns = None;
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(t) = t else { continue };
        let Ok(text) = std::fs::read_to_string(t.path().join("schedstat")) else {
            continue;
        };
        if let Some(v) = text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
        {
            ns = Some(ns.unwrap_or(0) + v);
        }
    }
    ns.map(Duration::from_nanos)
}

fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// Raises the soft open-file limit to the hard one (the relay child inherits it); fails when
/// even the hard limit is below `needed`.
fn raise_nofile(needed: u64) -> CliResult<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    let hard = lim.maximum.unwrap_or(u64::MAX);
    if lim.current.is_some_and(|c| c < hard) {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: lim.maximum,
            },
        )
        .map_err(|e| CliError::error(format!("cannot raise the open-file limit: {e}")))?;
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    if now < needed {
        return Err(CliError::error(format!(
            "{needed} open files are needed, and the hard limit is {now}"
        ))
        .hint("raise the hard limit (ulimit -Hn, limits.conf) or use fewer --sessions"));
    }
    Ok(now)
}

// ---------------------------------------------------------------------------------------
// The relay child

/// A private temporary directory (0700), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> CliResult<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).map_err(|e| CliError::error(format!("the system RNG: {e}")))?;
        let path = std::env::temp_dir().join(format!(
            "sbrp-bench-relay-{}-{}",
            std::process::id(),
            hex::encode(r)
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| CliError::io("cannot create", &path, &e))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `sbrp relay` as a child process; stopped with SIGTERM (then killed) on drop.
struct RelayChild {
    child: Child,
    url: String,
    log: PathBuf,
}

impl RelayChild {
    fn spawn(jwks: &Path, log: PathBuf, max_connections: usize) -> CliResult<Self> {
        let exe = std::env::current_exe()
            .map_err(|e| CliError::error(format!("cannot find this program: {e}")))?;
        let log_file = File::create(&log).map_err(|e| CliError::io("cannot create", &log, &e))?;
        // R4's 1000 frames/s per connection would be the only thing measured: the bench
        // lifts it; and its CONNECTORS handshakes at once all come from 127.0.0.1, so the
        // per-address cap on pending handshakes is off; every other limit keeps its default.
        let mut child = Command::new(exe)
            .args(["relay", "--listen", "127.0.0.1:0", "--json", "--jwks"])
            .arg(jwks)
            .args(["--max-connections", &max_connections.to_string()])
            .args(["--rate", "1000000", "--burst", "1000000"])
            .args(["--max-pending-per-ip", "0"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| CliError::error(format!("cannot start `sbrp relay`: {e}")))?;
        let stdout = child.stdout.take();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            // Keep the pipe drained for the child's lifetime.
            for _ in lines {}
        });
        let mut me = Self {
            child,
            url: String::new(),
            log,
        };
        let line = match rx.recv_timeout(READY_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            _ => {
                let _ = me.child.kill();
                let _ = me.child.wait();
                return Err(CliError::error(format!(
                    "`sbrp relay` printed no ready line within {} s{}",
                    READY_TIMEOUT.as_secs(),
                    me.log_tail()
                )));
            }
        };
        let ready: serde_json::Value = serde_json::from_str(&line).map_err(|_| {
            CliError::error(format!(
                "`sbrp relay` printed an unexpected ready line: {}",
                crate::cli::escape::escape(&line)
            ))
        })?;
        let listen: SocketAddr = ready["listen"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| CliError::error("the relay's ready line has no listen address"))?;
        me.url = format!("ws://{listen}");
        Ok(me)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn rss(&self) -> CliResult<(u64, u64)> {
        rss_kib(self.pid()).ok_or_else(|| {
            CliError::error(format!(
                "cannot read /proc/{}/status of the relay{}",
                self.pid(),
                self.log_tail()
            ))
        })
    }

    /// The last lines of the relay's log, for error messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        if lines.is_empty() {
            return String::new();
        }
        let mut s = String::from("; its log ends with:");
        for l in lines.iter().rev() {
            s += "\n  ";
            s += &crate::cli::escape::escape(l);
        }
        s
    }

    /// SIGTERM, then SIGKILL after 5 s.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RelayChild {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------
// The endpoints

/// Counts shared by the daemon tasks.
#[derive(Default)]
struct DaemonStats {
    failures: AtomicU64,
    /// `--tamper-every`: 0 for never.
    tamper_every: u64,
    echoes: AtomicU64,
}

impl DaemonStats {
    /// Applies `--tamper-every` to an echo about to be sealed.
    fn tamper(&self, data: &mut [u8]) {
        if self.tamper_every == 0 {
            return;
        }
        let n = self.echoes.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(self.tamper_every)
            && let Some(b) = data.last_mut()
        {
            *b ^= 0x01;
        }
    }
}

/// The daemon's loop, the same for the direct and the relay path: each binary message is one
/// frame for the [`SessionTable`]; each decrypted message is sealed back on its session.
async fn serve_daemon<S>(
    mut ws: WebSocketStream<S>,
    mut table: SessionTable,
    stats: Arc<DaemonStats>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut out = Vec::new();
    let mut events = Vec::new();
    while let Some(msg) = ws.next().await {
        let bytes = match msg {
            Ok(Message::Binary(b)) => b,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let Ok(raw) = frame_of_message(MessageKind::Binary, &bytes) else {
            stats.failures.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        table.handle(raw, &mut out, &mut events);
        for e in events.drain(..) {
            match e {
                Event::Message { sid, mut data } => {
                    stats.tamper(&mut data);
                    match table.seal(sid, &data) {
                        Ok(f) => out.push(f),
                        Err(_) => {
                            stats.failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Event::Ended {
                    reason: EndReason::Failed(_),
                    ..
                }
                | Event::Refused { .. } => {
                    stats.failures.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
        for f in out.drain(..) {
            if ws.feed(Message::Binary(f.into())).await.is_err() {
                return;
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}

/// Serves the direct baseline: every accepted connection gets the daemon loop.
async fn serve_direct(listener: TcpListener, daemon: Daemon, stats: Arc<DaemonStats>) {
    while let Ok((tcp, _)) = listener.accept().await {
        let _ = tcp.set_nodelay(true);
        let table = SessionTable::new(daemon.clone(), 16);
        let stats = stats.clone();
        tokio::spawn(async move {
            if let Ok(ws) =
                tokio_tungstenite::accept_async_with_config(tcp, Some(websocket_config())).await
            {
                serve_daemon(ws, table, stats).await;
            }
        });
    }
}

type ClientWs = WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A client session with its WebSocket: one [`Session`] seals, a second one with the same
/// keys opens (each direction has its own counter and window, so the two halves can run side
/// by side).
struct EchoSession {
    ws: ClientWs,
    sid: SessionId,
    seal: Session,
    open: Session,
}

fn err(what: &str) -> impl Fn(String) -> CliError + '_ {
    move |e| CliError::new(Exit::ProtocolFailure, format!("{what}: {e}"))
}

/// Connects to `url` (a relay with `?token=`, or the direct server) and does the handshake.
async fn open_echo_session(
    url: &str,
    daemon_id: &str,
    sid: SessionId,
    pinned: &IdentityPublicKey,
) -> CliResult<EchoSession> {
    let what = if url.contains("token=") {
        "a session through the relay"
    } else {
        "the direct session"
    };
    let e = err(what);
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(websocket_config()), true)
            .await
            .map_err(|x| e(x.to_string()))?;
    let hs = ClientHandshake::start(daemon_id, sid).map_err(|x| e(x.to_string()))?;
    ws.send(Message::Binary(
        Frame::HandshakeInit(hs.init()).to_vec().into(),
    ))
    .await
    .map_err(|x| e(x.to_string()))?;
    let accept = loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .map_err(|_| e("no HandshakeAccept within 30 s".into()))?;
        let bytes = match msg {
            Some(Ok(Message::Binary(b))) => b,
            Some(Ok(Message::Close(c))) => {
                return Err(e(format!("closed: {c:?}")));
            }
            Some(Ok(_)) => continue,
            Some(Err(x)) => return Err(e(x.to_string())),
            None => return Err(e("closed".into())),
        };
        let raw = RawFrame::decode(&bytes).map_err(|x| e(x.to_string()))?;
        match raw.frame_type() {
            FrameType::HandshakeAccept if raw.session_id() == sid.get() => {
                break raw.handshake_accept().map_err(|x| e(x.to_string()))?;
            }
            FrameType::Control => {
                let c = raw.control().map_err(|x| e(x.to_string()))?;
                return Err(e(format!(
                    "Control {} (0x{:04x})",
                    c.code.name().unwrap_or("unknown"),
                    c.code.0
                )));
            }
            _ => {}
        }
    };
    let seal = hs.finish(&accept, pinned).map_err(|x| e(x.to_string()))?;
    let open = Session::new(Role::Client, seal.keys().clone());
    Ok(EchoSession {
        ws,
        sid,
        seal,
        open,
    })
}

/// How a run paces its sends.
#[derive(Clone, Copy)]
enum Pace {
    /// Keep this many messages in flight.
    Window(usize),
    /// Send this many per second (a ticker thread times them).
    Rate(u32),
}

/// What one run measured.
struct RunStats {
    sent: u64,
    verified: u64,
    failures: u64,
    /// How long sending lasted.
    elapsed: Duration,
    /// From the start to the last verified echo.
    to_last_echo: Duration,
    rtt: Histogram,
}

impl RunStats {
    /// Verified echoes per second: all of them, over the time from the first send to the last
    /// echo (so the messages still in flight when sending stops count, and so does their
    /// time).
    fn per_s(&self) -> f64 {
        let t = self.to_last_echo.as_secs_f64();
        if t > 0.0 {
            self.verified as f64 / t
        } else {
            0.0
        }
    }
}

/// The plaintext of message `seq`: bytes 0..8 the seq, 8..16 the send time (ns since the
/// run's start), the rest a fixed pattern of the run.
fn pattern(size: usize, salt: u8) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}

/// Echo run on `s` for `time`: sends `size`-byte messages paced by `pace`, verifies every echo,
/// and records round trips (from just before sealing to just after the echo was opened and
/// compared).
async fn echo_run(s: &mut EchoSession, size: usize, pace: Pace, time: Duration) -> RunStats {
    assert!(size >= 16, "bench messages carry 16 bytes of seq and time");
    let sid = s.sid;
    let (seal, open) = (&mut s.seal, &mut s.open);
    let (mut sink, mut stream) = (&mut s.ws).split();
    let base = pattern(size, size as u8);
    let start = Instant::now();
    let deadline = start + time;
    let sent = Cell::new(0u64);
    let done = Cell::new(false);
    let done_notify = Notify::new();
    let window = Semaphore::new(match pace {
        Pace::Window(w) => w,
        Pace::Rate(_) => 0,
    });
    let mut ticks = match pace {
        Pace::Rate(rate) => {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let period = Duration::from_secs_f64(1.0 / f64::from(rate));
            // The ticker queues at most rate × time ticks (the sender takes them as it can).
            std::thread::spawn(move || {
                let mut next = start;
                while next < deadline {
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    }
                    if tx.send(()).is_err() {
                        return;
                    }
                    next += period;
                }
            });
            Some(rx)
        }
        Pace::Window(_) => None,
    };

    let sender = async {
        let mut failed = 0u64;
        loop {
            let go = match &mut ticks {
                Some(rx) => rx.recv().await.is_some(),
                None => tokio::select! {
                    biased;
                    p = window.acquire() => { if let Ok(p) = p { p.forget() } true }
                    _ = tokio::time::sleep_until(deadline.into()) => false,
                },
            };
            let seq = sent.get();
            // Every run sends at least one message, however short its time.
            if !go || (seq > 0 && Instant::now() >= deadline) {
                break;
            }
            let mut buf = vec![0u8; HEADER_LEN + NONCE_LEN + size + TAG_LEN];
            let pt = &mut buf[HEADER_LEN + NONCE_LEN..HEADER_LEN + NONCE_LEN + size];
            pt.copy_from_slice(&base);
            pt[..8].copy_from_slice(&seq.to_le_bytes());
            let t = start.elapsed().as_nanos() as u64;
            pt[8..16].copy_from_slice(&t.to_le_bytes());
            if seal.seal_frame_in_place(sid, &mut buf).is_err()
                || sink.send(Message::Binary(buf.into())).await.is_err()
            {
                failed += 1;
                break;
            }
            sent.set(seq + 1);
        }
        done.set(true);
        done_notify.notify_one();
        failed
    };

    let receiver = async {
        let mut rtt = Histogram::default();
        let (mut verified, mut failures, mut expected) = (0u64, 0u64, 0u64);
        let mut last = Duration::ZERO;
        let mut work = Vec::with_capacity(size + MIN_DATA_LEN);
        loop {
            if done.get() && expected >= sent.get() {
                break;
            }
            let limit = tokio::time::Instant::from(deadline.max(Instant::now())) + DRAIN;
            let msg = tokio::select! {
                m = stream.next() => m,
                _ = done_notify.notified(), if !done.get() => continue,
                _ = tokio::time::sleep_until(limit) => break,
            };
            let bytes = match msg {
                Some(Ok(Message::Binary(b))) => b,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => continue,
            };
            let now = Instant::now();
            let Ok(raw) = RawFrame::decode(&bytes) else {
                failures += 1;
                continue;
            };
            match raw.frame_type() {
                FrameType::Data if raw.session_id() == sid.get() => {}
                FrameType::Ping => continue,
                _ => {
                    failures += 1;
                    continue;
                }
            }
            expected += 1;
            // Each echo of ours, good or bad, frees its place in the window.
            window.add_permits(1);
            work.clear();
            work.extend_from_slice(raw.payload());
            let Ok(pt) = open.open_in_place(&mut work) else {
                failures += 1;
                continue;
            };
            let seq = pt
                .get(..8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
            let t = pt
                .get(8..16)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
            let elapsed = now.duration_since(start).as_nanos() as u64;
            match (seq, t) {
                (Some(seq), Some(t))
                    if pt.len() == size
                        && seq == expected - 1
                        && t <= elapsed
                        && pt[16..] == base[16..] =>
                {
                    verified += 1;
                    last = now.duration_since(start);
                    rtt.record(elapsed - t);
                }
                (Some(seq), _) => {
                    failures += 1;
                    expected = expected.max(seq.saturating_add(1));
                }
                _ => failures += 1,
            }
        }
        (rtt, verified, failures, expected, last)
    };

    let (send_failed, (rtt, verified, mut failures, expected, to_last_echo)) =
        tokio::join!(sender, receiver);
    let sent = sent.get();
    // Echoes that never came.
    failures += send_failed + sent.saturating_sub(expected);
    RunStats {
        sent,
        verified,
        failures,
        elapsed: time,
        to_last_echo,
        rtt,
    }
}

// ---------------------------------------------------------------------------------------
// Tokens

/// The throwaway token issuer: a key that lives only in this process, and its JWKS file.
struct Issuer {
    key: IdentityKeyPair,
    kid: String,
    next_sid: u64,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Issuer {
    fn new(dir: &Path) -> CliResult<(Self, PathBuf)> {
        let key = IdentityKeyPair::generate()
            .map_err(|e| CliError::error(format!("the system RNG failed: {e}")))?;
        let jwks = Jwks::from_keys([key.public_key()]);
        let kid = jwks.keys[0].kid.clone();
        let path = dir.join("jwks.json");
        let text = serde_json::to_vec_pretty(&jwks.to_json())
            .map_err(|e| CliError::error(e.to_string()))?;
        crate::cli::fsutil::write_file(
            &path,
            &text,
            crate::cli::fsutil::WriteRules::secret("JWKS", false),
        )?;
        Ok((
            Self {
                key,
                kid,
                next_sid: 1,
            },
            path,
        ))
    }

    fn daemon(&self, did: &str, sessions: usize) -> CliResult<Token> {
        let mut c = Claims::new(token::Role::Daemon, did, unix_now(), 3600);
        c.sub = Some(did.to_owned());
        c.lim.concurrent_sessions = Some(sessions as u64);
        token::mint(&c, &self.key, &self.kid).map_err(|e| CliError::error(e.to_string()))
    }

    /// A client token for a fresh session id.
    fn client(&mut self, did: &str) -> CliResult<(Token, SessionId)> {
        let sid = SessionId::new(self.next_sid).ok_or_else(|| CliError::error("session ids"))?;
        self.next_sid += 1;
        let mut c = Claims::new(
            token::Role::Client,
            did,
            unix_now(),
            token::MAX_CLIENT_LIFETIME,
        );
        c.sub = Some("bench-user".into());
        c.sid = Some(sid);
        let t =
            token::mint(&c, &self.key, &self.kid).map_err(|e| CliError::error(e.to_string()))?;
        Ok((t, sid))
    }
}

fn with_token(url: &str, t: &Token) -> String {
    format!("{url}/?token={}", t.expose())
}

/// A daemon on the relay: connects its presence connection and serves it in a task.
async fn start_relay_daemon(
    url: &str,
    issuer: &Issuer,
    did: &str,
    sessions: usize,
    stats: &Arc<DaemonStats>,
) -> CliResult<IdentityPublicKey> {
    let identity = IdentityKeyPair::generate()
        .map_err(|e| CliError::error(format!("the system RNG failed: {e}")))?;
    let pk = identity.public_key();
    let daemon = Daemon::new(identity, did);
    let t = issuer.daemon(did, sessions)?;
    let (ws, _) = tokio_tungstenite::connect_async_with_config(
        with_token(url, &t),
        Some(websocket_config()),
        true,
    )
    .await
    .map_err(|e| {
        CliError::new(
            Exit::ProtocolFailure,
            format!("a daemon could not connect to the relay: {e}"),
        )
    })?;
    tokio::spawn(serve_daemon(
        ws,
        SessionTable::new(daemon, sessions),
        stats.clone(),
    ));
    Ok(pk)
}

/// Opens probe sessions until one succeeds: the relay has registered the daemon.
async fn wait_for_daemon(
    url: &str,
    issuer: &mut Issuer,
    did: &str,
    pk: &IdentityPublicKey,
) -> CliResult<()> {
    let mut last = None;
    for _ in 0..100 {
        let (t, sid) = issuer.client(did)?;
        match open_echo_session(&with_token(url, &t), did, sid, pk).await {
            Ok(mut s) => {
                let _ = s.ws.close(None).await;
                return Ok(());
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last.unwrap_or_else(|| CliError::error("the relay did not pair a daemon")))
}

// ---------------------------------------------------------------------------------------
// Phases

struct Progress(bool);

impl Progress {
    fn step(&self, out: &Output, what: &str) {
        if self.0 {
            out.eprintln(&format!("sbrp bench relay: {what}…"));
        }
    }
}

struct Totals {
    verified: u64,
    failures: u64,
}

impl Totals {
    fn add(&mut self, r: &RunStats) {
        self.verified += r.verified;
        self.failures += r.failures;
    }
}

async fn measure_sizes(
    direct: &mut EchoSession,
    relay: &mut EchoSession,
    relay_pid: u32,
    args: &Args,
    totals: &mut Totals,
    p: &Progress,
    out: &Output,
) -> Vec<SizeResult> {
    let slice = args.seconds / ROUNDS;
    let window = args.window as usize;
    let mut rows = Vec::new();
    for size in SIZES {
        p.step(
            out,
            &format!("{size}-byte echoes, direct and through the relay"),
        );
        // (direct msg/s, relay msg/s) per round.
        let mut rounds: Vec<(f64, f64)> = Vec::new();
        let (mut relay_cpu, mut relay_echoes) = (Duration::ZERO, 0u64);
        for round in 0..ROUNDS {
            let mut pair = (0.0, 0.0);
            // Alternate which path goes first, so a drift in load falls on both.
            let order: [bool; 2] = if round % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for is_direct in order {
                let s = if is_direct { &mut *direct } else { &mut *relay };
                let cpu = cpu_time(relay_pid);
                let run = echo_run(s, size, Pace::Window(window), slice).await;
                totals.add(&run);
                if is_direct {
                    pair.0 = run.per_s();
                } else {
                    pair.1 = run.per_s();
                    if let (Some(a), Some(b)) = (cpu, cpu_time(relay_pid)) {
                        relay_cpu += b.saturating_sub(a);
                        relay_echoes += run.verified;
                    }
                }
            }
            rounds.push(pair);
        }
        let one = echo_run(relay, size, Pace::Window(1), slice).await;
        totals.add(&one);
        let one_direct = echo_run(direct, size, Pace::Window(1), slice / 2).await;
        totals.add(&one_direct);
        // The round with the median ratio: its two figures and their ratio come from the
        // same moment of the machine (ROUNDS is odd).
        let ratio = |r: &(f64, f64)| if r.0 > 0.0 { r.1 / r.0 } else { 0.0 };
        rounds.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
        let mid = rounds[rounds.len() / 2];
        rows.push(SizeResult {
            size,
            direct_msgs_per_s: mid.0,
            relay_msgs_per_s: mid.1,
            ratio: ratio(&mid),
            relay_cpu_us_per_msg: (relay_echoes > 0)
                .then(|| relay_cpu.as_secs_f64() * 1e6 / relay_echoes as f64),
            rtt_p50_ms: one.rtt.ms(0.5),
            rtt_p99_ms: one.rtt.ms(0.99),
            direct_rtt_p50_ms: one_direct.rtt.ms(0.5),
        });
    }
    rows
}

/// Opens `n` client sessions through the relay ([`CONNECTORS`] at a time), verifies each with
/// one echo, reads the relay's RSS with all open.
async fn measure_concurrency(
    relay: &RelayChild,
    issuer: &mut Issuer,
    n: usize,
    stats: &Arc<DaemonStats>,
    totals: &mut Totals,
    p: &Progress,
    out: &Output,
) -> CliResult<(ConcurrencyResult, f64)> {
    let daemons = n.div_ceil(PER_DAEMON);
    p.step(out, &format!("{daemons} daemons for {n} sessions"));
    let mut dids = Vec::new();
    for k in 0..daemons {
        let did = format!("bench-concurrency-{k}");
        let per = n / daemons + usize::from(k < n % daemons);
        let pk = start_relay_daemon(&relay.url, issuer, &did, per + 1, stats).await?;
        wait_for_daemon(&relay.url, issuer, &did, &pk).await?;
        dids.push((did, pk, per));
    }
    // Tokens first: minting is not part of a handshake.
    let mut jobs = Vec::with_capacity(n);
    for (did, pk, per) in &dids {
        for _ in 0..*per {
            let (t, _) = issuer.client(did)?;
            jobs.push((t, did.clone(), *pk));
        }
    }
    let (idle, _) = relay.rss()?;

    p.step(out, &format!("opening {n} sessions through the relay"));
    let config = Arc::new(
        RelayConfig::new(&format!("{}/", relay.url)).map_err(|e| CliError::error(e.to_string()))?,
    );
    let gate = Arc::new(Semaphore::new(CONNECTORS));
    let mut set = tokio::task::JoinSet::new();
    let start = Instant::now();
    for (t, did, pk) in jobs {
        let (config, gate) = (config.clone(), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            RelayClient::connect(&config, &t, &did, Trust::Pinned(&pk), |_| {}).await
        });
    }
    let mut clients = Vec::with_capacity(n);
    let mut failed = 0u64;
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(c)) => clients.push(c),
            _ => failed += 1,
        }
    }
    let hs_elapsed = start.elapsed();
    let handshakes_per_s = clients.len() as f64 / hs_elapsed.as_secs_f64();

    p.step(
        out,
        &format!("one echo on each of {} sessions", clients.len()),
    );
    let mut set = tokio::task::JoinSet::new();
    for (i, mut c) in clients.into_iter().enumerate() {
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let msg = format!("concurrency echo {i:08}").into_bytes();
            let ok = c.send(&msg).await.is_ok()
                && matches!(
                    tokio::time::timeout(DRAIN, c.recv()).await,
                    Ok(Ok(sbrp::relay_client::ClientEvent::Message(m))) if m == msg
                );
            (c, ok)
        });
    }
    let mut held = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        match r {
            Ok((c, true)) => {
                totals.verified += 1;
                held.push(c);
            }
            Ok((c, false)) => {
                failed += 1;
                held.push(c);
            }
            Err(_) => failed += 1,
        }
    }
    let (rss, peak) = relay.rss()?;
    totals.failures += failed;
    drop(held);
    Ok((
        ConcurrencyResult {
            sessions: n,
            daemons,
            relay_rss_idle_kib: idle,
            relay_rss_kib: rss,
            rss_per_session_kib: rss.saturating_sub(idle) as f64 / n as f64,
            relay_rss_peak_kib: peak,
        },
        handshakes_per_s,
    ))
}

/// Measures everything.
async fn measure(out: &Output, args: &Args, progress: bool) -> CliResult<Report> {
    let p = Progress(progress);
    let load_start = load_average();
    let n = args.sessions as usize;
    let daemons = n.div_ceil(PER_DAEMON);
    // This process: n clients + daemons + the direct pair + slack; the relay the same.
    raise_nofile((n + daemons + 256) as u64)?;
    let dir = TempDir::new()?;
    let (mut issuer, jwks) = Issuer::new(&dir.0)?;
    p.step(out, "starting `sbrp relay`");
    let relay = RelayChild::spawn(&jwks, dir.0.join("relay.log"), n + daemons + 64)?;
    let stats = Arc::new(DaemonStats {
        tamper_every: args.tamper_every.unwrap_or(0),
        ..DaemonStats::default()
    });
    let mut totals = Totals {
        verified: 0,
        failures: 0,
    };

    // The direct baseline: the same daemon loop, accepting the WebSocket itself.
    let identity = IdentityKeyPair::generate()
        .map_err(|e| CliError::error(format!("the system RNG failed: {e}")))?;
    let pk = identity.public_key();
    let did = "bench-echo";
    let daemon = Daemon::new(identity, did);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| CliError::error(format!("cannot listen on 127.0.0.1: {e}")))?;
    let direct_url = format!(
        "ws://{}/",
        listener
            .local_addr()
            .map_err(|e| CliError::error(e.to_string()))?
    );
    tokio::spawn(serve_direct(listener, daemon.clone(), stats.clone()));
    let sid = SessionId::MIN;
    let mut direct = open_echo_session(&direct_url, did, sid, &pk).await?;

    // The relay path: the same daemon identity on a presence connection.
    let t = issuer.daemon(did, 16)?;
    let (ws, _) = tokio_tungstenite::connect_async_with_config(
        with_token(&relay.url, &t),
        Some(websocket_config()),
        true,
    )
    .await
    .map_err(|e| {
        CliError::new(
            Exit::ProtocolFailure,
            format!("the daemon could not connect to the relay: {e}"),
        )
    })?;
    tokio::spawn(serve_daemon(
        ws,
        SessionTable::new(daemon, 16),
        stats.clone(),
    ));
    wait_for_daemon(&relay.url, &mut issuer, did, &pk).await?;
    let (t, sid) = issuer.client(did)?;
    let mut via_relay = open_echo_session(&with_token(&relay.url, &t), did, sid, &pk).await?;

    let sizes = measure_sizes(
        &mut direct,
        &mut via_relay,
        relay.pid(),
        args,
        &mut totals,
        &p,
        out,
    )
    .await;

    p.step(out, &format!("{PACED_RATE} msg/s through the relay"));
    let paced_time = args.seconds.max(Duration::from_secs(1));
    let run = echo_run(
        &mut via_relay,
        PACED_SIZE,
        Pace::Rate(PACED_RATE),
        paced_time,
    )
    .await;
    totals.add(&run);
    // The same on the direct path: what the machine and the endpoints alone give.
    let base = echo_run(&mut direct, PACED_SIZE, Pace::Rate(PACED_RATE), paced_time).await;
    totals.add(&base);
    let paced = PacedResult {
        rate: PACED_RATE,
        size: PACED_SIZE,
        sent_per_s: run.sent as f64 / run.elapsed.as_secs_f64(),
        messages: run.verified,
        rtt_p50_ms: run.rtt.ms(0.5),
        rtt_p99_ms: run.rtt.ms(0.99),
        rtt_max_ms: run.rtt.ms(1.0),
        direct_rtt_p50_ms: base.rtt.ms(0.5),
        direct_rtt_p99_ms: base.rtt.ms(0.99),
    };
    let _ = direct.ws.close(None).await;
    let _ = via_relay.ws.close(None).await;

    let (concurrency, handshakes_per_s) =
        measure_concurrency(&relay, &mut issuer, n, &stats, &mut totals, &p, out).await?;
    totals.failures += stats.failures.load(Ordering::Relaxed);

    let at_1k = sizes.iter().find(|s| s.size == 1024);
    Ok(Report {
        schema: "sbrp.bench-relay/1",
        ok: totals.failures == 0,
        backend: sbrp::aead::BACKEND,
        release: !cfg!(debug_assertions),
        seconds: args.seconds.as_secs_f64(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_average_start: load_start,
        load_average_end: load_average(),
        window: args.window as usize,
        rounds: ROUNDS,
        targets: Targets {
            relay_half_of_direct_1k: at_1k.is_some_and(|s| s.ratio >= TARGET_RATIO_1K),
            rss_512mib_10k_sessions: (concurrency.sessions >= TARGET_RSS_SESSIONS)
                .then_some(concurrency.relay_rss_kib <= TARGET_RSS_KIB),
            paced_p99_2ms: paced.rtt_p99_ms <= TARGET_PACED_P99_MS,
        },
        sizes,
        paced,
        concurrency,
        handshakes_per_s,
        handshake_concurrency: CONNECTORS,
        verified: totals.verified,
        failures: totals.failures,
    })
}

fn table(out: &Output, r: &Report) -> String {
    let verdict = |ok: bool| {
        if ok {
            out.style_out("ok", Style::Good)
        } else {
            out.style_out("below target", Style::Bad)
        }
    };
    let load = |l: &Option<[f64; 3]>| {
        l.map_or("unknown".to_owned(), |l| {
            format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2])
        })
    };
    let mut t = format!(
        "sbrp bench relay: loopback 127.0.0.1, {} s per measurement, AEAD {}, {} CPUs, load average {} at the start, {} at the end{}\n\n",
        r.seconds,
        r.backend,
        r.cpus,
        load(&r.load_average_start),
        load(&r.load_average_end),
        if r.release {
            ""
        } else {
            " (DEBUG BUILD: numbers are meaningless)"
        }
    );
    t += "size (B)   direct (msg/s)   relay (msg/s)   relay/direct   relay CPU (µs/msg)   rtt p50 (ms)   rtt p99 (ms)\n";
    for s in &r.sizes {
        let target = if s.size == 1024 {
            format!(
                "   target ≥ {:.0} %: {}",
                TARGET_RATIO_1K * 100.0,
                verdict(s.ratio >= TARGET_RATIO_1K)
            )
        } else {
            String::new()
        };
        t += &format!(
            "{:>8}   {:>14.0}   {:>13.0}   {:>10.1} %   {:>18}   {:>12.3}   {:>12.3}{target}\n",
            s.size,
            s.direct_msgs_per_s,
            s.relay_msgs_per_s,
            s.ratio * 100.0,
            s.relay_cpu_us_per_msg
                .map_or("-".to_owned(), |v| format!("{v:.1}")),
            s.rtt_p50_ms,
            s.rtt_p99_ms,
        );
    }
    t += &format!(
        "  ({} interleaved rounds of {} messages in flight, the round with the median ratio; round trips through the relay with one in flight)\n\n",
        r.rounds, r.window
    );
    let p = &r.paced;
    t += &format!(
        "paced, {} B at {} msg/s (sent {:.0}/s): rtt p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms   target p99 ≤ {} ms: {}\n",
        p.size,
        p.rate,
        p.sent_per_s,
        p.rtt_p50_ms,
        p.rtt_p99_ms,
        p.rtt_max_ms,
        TARGET_PACED_P99_MS,
        verdict(r.targets.paced_p99_2ms)
    );
    t += &format!(
        "  (direct at the same rate: p50 {:.3} ms, p99 {:.3} ms)\n",
        p.direct_rtt_p50_ms, p.direct_rtt_p99_ms
    );
    let c = &r.concurrency;
    let rss_target = match r.targets.rss_512mib_10k_sessions {
        Some(ok) => verdict(ok),
        None => format!("not judged below {TARGET_RSS_SESSIONS} sessions"),
    };
    t += &format!(
        "{} sessions at once over {} daemons: relay RSS {} KiB ({:.1} MiB; {} KiB idle), {:.2} KiB per session   target ≤ 512 MiB at 10,000: {}\n",
        c.sessions,
        c.daemons,
        c.relay_rss_kib,
        c.relay_rss_kib as f64 / 1024.0,
        c.relay_rss_idle_kib,
        c.rss_per_session_kib,
        rss_target
    );
    t += &format!(
        "handshakes through the relay: {:.0} /s ({} at a time: connect, upgrade with token, HandshakeInit → daemon → HandshakeAccept)\n",
        r.handshakes_per_s, r.handshake_concurrency
    );
    let v = if r.failures == 0 {
        out.style_out("every echo verified", Style::Good)
    } else {
        out.style_out(&format!("{} FAILURES", r.failures), Style::Bad)
    };
    t += &format!("{v}: {} echoes opened and compared", r.verified);
    t
}

/// Runs `sbrp bench relay`.
pub fn run(out: &Output, args: Args) -> CliResult {
    if args.seconds.is_zero() {
        return Err(CliError::new(Exit::Usage, "--seconds must be more than 0"));
    }
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if cfg!(debug_assertions) {
        out.warn(
            "this is a debug build: run `cargo run --release -- bench relay` for real numbers",
        );
    }
    // One worker per CPU, set here so that TOKIO_WORKER_THREADS in the environment reaches
    // only the relay child (to try it with other worker counts).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .enable_all()
        .build()
        .map_err(|e| CliError::error(format!("cannot start the runtime: {e}")))?;
    let report = rt.block_on(measure(out, &args, progress))?;
    // The clients, daemons and the relay are gone; do not wait for stray tasks.
    rt.shutdown_background();
    if args.json {
        out.json(&report)?;
    } else {
        out.println(&table(out, &report))?;
    }
    if report.failures > 0 {
        return Err(CliError::new(
            Exit::ProtocolFailure,
            format!(
                "{} echoes or sessions failed verification (of {} verified)",
                report.failures, report.verified
            ),
        ));
    }
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_within_a_bucket() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        assert_eq!(h.n, 100_000);
        for (q, want) in [(0.5, 50_000_000u64), (0.99, 99_000_000), (1.0, 100_000_000)] {
            let got = h.quantile(q);
            let err = got.abs_diff(want) as f64 / want as f64;
            assert!(err < 0.005, "q{q}: {got} vs {want}");
        }
        assert_eq!(Histogram::default().quantile(0.5), 0);
        // Every index maps back into its own bucket.
        for v in [0u64, 1, 127, 128, 129, 255, 256, 1 << 20, u64::MAX] {
            let i = Histogram::index(v);
            assert_eq!(Histogram::index(Histogram::value(i)), i, "{v}");
        }
    }

    #[test]
    fn rss_of_this_process() {
        let (rss, peak) = rss_kib(std::process::id()).unwrap();
        assert!(rss > 0 && peak >= rss);
    }
}
