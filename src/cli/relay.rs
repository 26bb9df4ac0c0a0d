//! `sbrp relay`: run an SBRP relay ([`sbrp::relay::RelayServer`]) on a socket.
//!
//! Stdout gets exactly one line once the socket is bound (`sbrp relay listening on
//! ws://IP:PORT`, or with `--json` a `sbrp.relay-ready/1` object); the log goes to stderr, one
//! line per event, as text or JSON. SIGTERM or SIGINT closes every connection with 1001 and
//! exits 0. `--dev` makes a throwaway issuer key, JWKS and daemon identity in a fresh private
//! directory and prints the commands that use them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sbrp::relay::{
    CaptureLog, CaptureOptions, CaptureReport, CaptureStream, Fanout, HandshakeLimits, JwksSource,
    LogObserver, Metrics, MetricsServer, Observer, RelayConfig, RelayServer, ServerConfig,
};
use serde::Serialize;

use super::escape::{escape, escape_path, shell_quote, shell_quote_path};
use super::exit::{CliError, CliResult, Exit};
use super::fsutil::{self, WriteRules};
use super::output::Output;

/// The port `--dev` (and the default `--listen`) uses.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
/// Schema of the `--json` ready line.
pub const READY_SCHEMA: &str = "sbrp.relay-ready/1";

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event.
    Json,
}

/// A duration given in seconds (decimals allowed: `0.5`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl std::str::FromStr for Seconds {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let v: f64 = s
            .parse()
            .map_err(|_| format!("{s:?} is not a number of seconds"))?;
        if !v.is_finite() || v <= 0.0 || v > 86_400.0 * 365.0 {
            return Err("a duration is more than 0 and at most a year, in seconds".into());
        }
        Ok(Self(Duration::from_secs_f64(v)))
    }
}

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.subsec_nanos() == 0 {
            write!(f, "{}", self.0.as_secs())
        } else {
            write!(f, "{}", self.0.as_secs_f64())
        }
    }
}

/// Arguments of `sbrp relay`.
#[derive(Debug, clap::Args)]
#[command(
    group(clap::ArgGroup::new("captures").multiple(true).args(["capture", "capture_log"])),
    after_help = "Exit codes: 0 stopped by SIGTERM or SIGINT (every connection closed \
    with 1001), 1 error (cannot listen, unreadable JWKS, TLS files, a capture file that \
    exists or is a symbolic link), 2 usage (also --capture and --capture-log naming one \
    file), 5 TLS key file with unsafe permissions.\n\n\
    Metrics: --metrics ADDR serves GET /metrics (Prometheus, OpenMetrics text; every name \
    starts sbrp_relay_) and GET /healthz. Captures: --capture FILE gets every frame the relay \
    sends as a raw SBRP stream (`sbrp decode --keylog KEYS FILE` decrypts it with either \
    endpoint's key log); --capture-log FILE one JSON line per frame and connection (schema \
    sbrp.relay-capture-log/1). Both are created new with mode 0600; a slow disk never stalls \
    the relay (records that do not fit a 16 MiB queue are lost whole, counted and logged).\n\n\
    Examples:\n  \
    sbrp relay --dev\n  \
    sbrp relay --listen 0.0.0.0:443 --jwks jwks.json --iss https://issuer.example \\\n    \
    --tls-cert cert.pem --tls-key key.pem --log-format json\n\n\
    Log level: SBRP_LOG (e.g. `debug`, default `info`), as tracing's EnvFilter."
)]
pub struct Args {
    /// Address to listen on; port 0 picks a free one (the ready line says which)
    #[arg(long, value_name = "IP:PORT", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// The JWKS (JSON Web Key Set) tokens are verified with; re-read when it changes
    #[arg(long, value_name = "FILE", required_unless_present = "dev")]
    pub jwks: Option<PathBuf>,

    /// The issuer tokens must name (`iss`) [default: any issuer]
    #[arg(long, value_name = "ISS")]
    pub iss: Option<String>,

    /// Serve wss:// with this PEM certificate chain (needs --tls-key)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert (mode 0600)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// R2: seconds a paused session waits for its daemon
    #[arg(long, value_name = "S", default_value_t = Seconds(RelayConfig::default().grace))]
    pub grace: Seconds,

    /// R3: seconds between the relay's Pings to each endpoint
    #[arg(long, value_name = "S", default_value_t = Seconds(RelayConfig::default().ping_interval))]
    pub ping_interval: Seconds,

    /// R3: an endpoint silent this many seconds is closed with 1001
    #[arg(long, value_name = "S", default_value_t = Seconds(RelayConfig::default().idle_timeout))]
    pub idle_timeout: Seconds,

    /// R4: frames per second per connection
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..),
          default_value_t = RelayConfig::default().rate)]
    pub rate: u32,

    /// R4: token-bucket size (frames a connection may send at once)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..),
          default_value_t = RelayConfig::default().burst)]
    pub burst: u32,

    /// R5: unsent bytes per connection before `backpressure` and close 1013
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(65549..),
          default_value_t = RelayConfig::default().max_queue as u64)]
    pub max_queue: u64,

    /// R5 relay-wide: unsent bytes of all connections together; beyond it the connection
    /// with the largest queue gets `backpressure` and close 1013
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(65549..),
          default_value_t = RelayConfig::default().max_total_queue as u64)]
    pub max_total_queue: u64,

    /// Open connections at most (HTTP 503 beyond)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..),
          default_value_t = RelayConfig::default().max_connections as u64)]
    pub max_connections: u64,

    /// Connections still authenticating (TLS and upgrade not done) at most; a new one beyond
    /// it closes the oldest unfinished one
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..),
          default_value_t = HandshakeLimits::default().max_pending as u64)]
    pub max_handshakes: u64,

    /// Connections still authenticating per IPv4 address or IPv6 /64; a new one beyond it
    /// closes that address's oldest unfinished one. 0: no cap (behind a proxy, where every
    /// connection comes from the proxy's address)
    #[arg(long, value_name = "N",
          default_value_t = HandshakeLimits::default().max_pending_per_source as u64)]
    pub max_pending_per_ip: u64,

    /// Threads serving connections: 1 runs everything on one thread, N > 1 on N, 0 one per
    /// CPU
    #[arg(long, value_name = "N", env = "SBRP_RELAY_THREADS",
          value_parser = clap::value_parser!(u16).range(0..=1024), default_value_t = DEFAULT_THREADS)]
    pub threads: u16,

    /// The log on stderr: one line per event
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// A local deployment to try: listen on 127.0.0.1, make a throwaway issuer key, JWKS and
    /// daemon identity in a fresh private directory, print the commands that use them
    #[arg(long, conflicts_with_all = ["jwks", "iss", "tls_cert", "tls_key"])]
    pub dev: bool,

    /// Serve Prometheus metrics on this address (GET /metrics, GET /healthz); port 0 picks a
    /// free one (the --json ready line says which)
    #[arg(long, value_name = "IP:PORT")]
    pub metrics: Option<SocketAddr>,

    /// Write every frame the relay sends to FILE as a raw SBRP stream, for `sbrp decode`
    /// (created new, mode 0600)
    #[arg(long, value_name = "FILE")]
    pub capture: Option<PathBuf>,

    /// Write one JSON line per frame handled and per connection to FILE (schema
    /// sbrp.relay-capture-log/1; created new, mode 0600)
    #[arg(long, value_name = "FILE")]
    pub capture_log: Option<PathBuf>,

    /// Replace an existing --capture or --capture-log file
    #[arg(long, requires = "captures")]
    pub force: bool,

    /// Print the ready line as JSON (schema sbrp.relay-ready/1)
    #[arg(long)]
    pub json: bool,
}

/// The `--json` ready line.
#[derive(Debug, Serialize)]
struct Ready<'a> {
    schema: &'static str,
    listen: String,
    url: &'a str,
    metrics: Option<String>,
}

impl Args {
    fn relay_config(&self) -> RelayConfig {
        RelayConfig {
            grace: self.grace.0,
            ping_interval: self.ping_interval.0,
            idle_timeout: self.idle_timeout.0,
            rate: self.rate,
            burst: self.burst,
            max_queue: usize::try_from(self.max_queue).unwrap_or(usize::MAX),
            max_total_queue: usize::try_from(self.max_total_queue).unwrap_or(usize::MAX),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            ..RelayConfig::default()
        }
    }

    fn handshake_limits(&self) -> HandshakeLimits {
        HandshakeLimits {
            max_pending: usize::try_from(self.max_handshakes).unwrap_or(usize::MAX),
            max_pending_per_source: usize::try_from(self.max_pending_per_ip).unwrap_or(usize::MAX),
        }
    }
}

/// `--threads`' default.
pub const DEFAULT_THREADS: u16 = 0;

/// The runtime for `--threads`: one thread is tokio's current-thread runtime (no wake-up
/// crosses threads); more are its multi-thread runtime (0: one worker per CPU, or
/// `TOKIO_WORKER_THREADS`).
fn runtime(threads: u16) -> std::io::Result<tokio::runtime::Runtime> {
    let mut b = match threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    if threads > 1 {
        b.worker_threads(usize::from(threads));
    }
    b.enable_all().build()
}

/// Runs `sbrp relay`.
pub fn run(out: &Output, args: Args) -> CliResult {
    init_logging(out, args.log_format);
    let rt = runtime(args.threads)
        .map_err(|e| CliError::error(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(serve(out, args))
}

fn init_logging(out: &Output, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SBRP_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(out.color_stderr()).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

async fn serve(out: &Output, args: Args) -> CliResult {
    let dev = if args.dev {
        Some(DevSetup::create()?)
    } else {
        None
    };
    let jwks = match (&dev, &args.jwks) {
        (Some(d), _) => JwksSource::File(d.jwks.clone()),
        (None, Some(p)) => JwksSource::File(p.clone()),
        (None, None) => return Err(CliError::new(Exit::Usage, "--jwks FILE is required")),
    };
    let iss = match (&dev, &args.iss) {
        (Some(_), _) => Some(super::token::DEFAULT_ISS.to_owned()),
        (None, iss) => iss.clone(),
    };
    #[cfg(feature = "tls")]
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(load_tls(c, k)?),
        _ => None,
    };
    #[cfg(not(feature = "tls"))]
    if args.tls_cert.is_some() {
        return Err(CliError::error(
            "this build has no TLS support (feature `tls`)",
        ));
    }
    let obs = Observers::open(&args)?;
    let observer = obs.fanout();
    let config = ServerConfig {
        listen: args.listen,
        relay: args.relay_config(),
        jwks,
        iss,
        handshakes: args.handshake_limits(),
        #[cfg(feature = "tls")]
        tls,
        observer: Some(observer),
    };
    let bound = async {
        let server = RelayServer::bind(config).await.map_err(|e| {
            CliError::error(escape(&e.to_string()).into_owned()).hint(bind_hint(&e))
        })?;
        let metrics_server = match (args.metrics, &obs.metrics) {
            (Some(addr), Some(m)) => {
                Some(MetricsServer::bind(addr, m.clone()).await.map_err(|e| {
                    CliError::error(format!("cannot listen on --metrics {addr}: {e}"))
                        .hint("pick another --metrics port (port 0 picks a free one)")
                })?)
            }
            _ => None,
        };
        Ok::<_, CliError>((server, metrics_server))
    };
    let (server, metrics_server) = match bound.await {
        Ok(b) => b,
        Err(e) => {
            obs.discard();
            return Err(e);
        }
    };
    let metrics_addr = match &metrics_server {
        Some(m) => Some(
            m.local_addr()
                .map_err(|e| CliError::error(format!("cannot read the metrics address: {e}")))?,
        ),
        None => None,
    };
    let addr = server.local_addr();
    let scheme = if server.is_tls() { "wss" } else { "ws" };
    let url = format!("{scheme}://{addr}");
    let shutdown = shutdown_signal();
    if args.json {
        out.json_line(&Ready {
            schema: READY_SCHEMA,
            listen: addr.to_string(),
            url: &url,
            metrics: metrics_addr.map(|a| a.to_string()),
        })?;
    } else {
        out.println(&format!("sbrp relay listening on {url}"))?;
    }
    if let Some(d) = &dev {
        d.print_commands(out, &url);
    }
    tracing::info!(event = "listening", url = %url, "relay listening");
    let (stop_metrics, metrics_stopped) = tokio::sync::watch::channel(false);
    let metrics_task = metrics_server.map(|m| {
        if let Some(addr) = metrics_addr {
            tracing::info!(event = "metrics", url = %format!("http://{addr}/metrics"), "metrics listening");
        }
        let mut stopped = metrics_stopped;
        tokio::spawn(m.run(async move {
            let _ = stopped.wait_for(|s| *s).await;
        }))
    });
    let result = server.run(shutdown).await;
    let _ = stop_metrics.send(true);
    if let Some(t) = metrics_task {
        let _ = t.await;
    }
    obs.finish(out);
    tracing::info!(event = "stopped", "relay stopped");
    if let Some(d) = dev {
        d.remove();
    }
    result.map_err(|e| CliError::error(escape(&e.to_string()).into_owned()))?;
    Ok(Exit::Success)
}

/// How long the relay waits at shutdown for a capture's queue to reach the disk.
const CAPTURE_DRAIN: Duration = Duration::from_secs(5);

/// The observers `sbrp relay` reports to: the log, and the metrics and captures asked for.
struct Observers {
    metrics: Option<Arc<Metrics>>,
    stream: Option<(Arc<CaptureStream>, PathBuf)>,
    log: Option<(Arc<CaptureLog>, PathBuf)>,
}

impl Observers {
    /// Checks and opens the capture files (before the relay listens, so a bad path fails
    /// fast and nothing was served without the capture that was asked for).
    fn open(args: &Args) -> CliResult<Self> {
        if let (Some(a), Some(b)) = (&args.capture, &args.capture_log)
            && fsutil::same_file(a, b)
        {
            return Err(CliError::new(
                Exit::Usage,
                format!(
                    "--capture and --capture-log are the same file ({}): one would destroy the other",
                    escape_path(a)
                ),
            )
            .hint("give the capture and the capture log two different paths"));
        }
        // Checked before either is created, so a refusal leaves no file behind.
        for (path, what) in [
            (&args.capture, "capture"),
            (&args.capture_log, "capture log"),
        ] {
            if let Some(p) = path
                && fsutil::check_target(p, what)?
                && !args.force
            {
                return Err(CliError::error(format!(
                    "{} already exists; sbrp never replaces a {what} unless you pass --force",
                    escape_path(p)
                ))
                .hint(format!(
                    "pass --force to replace it (the old {what} is lost), or choose another path"
                )));
            }
        }
        let metrics = (args.metrics.is_some()).then(|| Arc::new(Metrics::new()));
        let options = |which| CaptureOptions {
            counters: metrics.as_ref().map(|m| m.capture_counters(which)),
            ..CaptureOptions::default()
        };
        let started =
            |e: std::io::Error| CliError::error(format!("cannot start the capture writer: {e}"));
        let mut obs = Self {
            metrics: metrics.clone(),
            stream: None,
            log: None,
        };
        if let Some(p) = &args.capture {
            let file = fsutil::create_private(p, "capture", args.force)?;
            let c = CaptureStream::new(file, options("stream")).map_err(started)?;
            obs.stream = Some((Arc::new(c), p.clone()));
        }
        if let Some(p) = &args.capture_log {
            let file = match fsutil::create_private(p, "capture log", args.force) {
                Ok(f) => f,
                Err(e) => {
                    obs.discard();
                    return Err(e);
                }
            };
            let c = CaptureLog::new(file, options("log")).map_err(started)?;
            obs.log = Some((Arc::new(c), p.clone()));
        }
        Ok(obs)
    }

    fn fanout(&self) -> Arc<dyn Observer> {
        let mut all: Vec<Arc<dyn Observer>> = vec![Arc::new(LogObserver)];
        if let Some(m) = &self.metrics {
            all.push(m.clone());
        }
        if let Some((c, _)) = &self.stream {
            all.push(c.clone());
        }
        if let Some((c, _)) = &self.log {
            all.push(c.clone());
        }
        if all.len() == 1 {
            all.remove(0)
        } else {
            Arc::new(Fanout(all))
        }
    }

    /// The relay never ran: stop the writers and remove the (empty) files just created.
    fn discard(&self) {
        for (report, path) in self.reports() {
            let _ = report;
            let _ = std::fs::remove_file(path);
        }
    }

    fn reports(&self) -> Vec<(CaptureReport, &Path)> {
        let mut out = Vec::new();
        if let Some((c, p)) = &self.stream {
            out.push((c.finish(CAPTURE_DRAIN), p.as_path()));
        }
        if let Some((c, p)) = &self.log {
            out.push((c.finish(CAPTURE_DRAIN), p.as_path()));
        }
        out
    }

    /// Shutdown: waits (a bounded time) for the captures to reach the disk and says what
    /// each wrote and lost.
    fn finish(&self, out: &Output) {
        for (r, path) in self.reports() {
            tracing::info!(
                event = "capture_closed",
                file = %escape_path(path),
                written = r.written,
                lost = r.lost(),
                "capture closed"
            );
            if r.lost() > 0 {
                out.warn(&format!(
                    "{}: {} record{} lost ({} queue full, {} write errors, {} unwritten at shutdown){}",
                    escape_path(path),
                    r.lost(),
                    if r.lost() == 1 { "" } else { "s" },
                    r.lost_queue_full,
                    r.lost_write_error,
                    r.unflushed,
                    if r.stopped {
                        "; the file may end in a partial record"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
}

fn bind_hint(e: &sbrp::relay::ServerError) -> String {
    match e {
        sbrp::relay::ServerError::Bind { source, .. }
            if source.kind() == std::io::ErrorKind::AddrInUse =>
        {
            "another process listens there: pick another --listen port (port 0 picks a free one)"
                .into()
        }
        sbrp::relay::ServerError::Bind { .. } => {
            "check --listen (ports below 1024 need privileges)".into()
        }
        sbrp::relay::ServerError::Jwks { .. } => {
            "give a JWKS file as `sbrp token jwks ISSUER_KEY.pem > jwks.json` writes it".into()
        }
        sbrp::relay::ServerError::Io(_) => "try again".into(),
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not when
/// the future is first polled: called before the ready line, a signal sent as soon as the
/// line is read is never the default action (death by signal).
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!(event = "shutdown", signal = "SIGTERM", "shutting down"),
                        _ = int.recv() => tracing::info!(event = "shutdown", signal = "SIGINT", "shutting down"),
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Reads the certificate chain and key for wss://.
#[cfg(feature = "tls")]
fn load_tls(cert: &Path, key: &Path) -> CliResult<Arc<rustls::ServerConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let (_, cert_bytes) = fsutil::read_file(cert)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            CliError::error(format!("{}: {e}", escape_path(cert)))
                .hint("give a PEM certificate chain (-----BEGIN CERTIFICATE-----)")
        })?;
    if certs.is_empty() {
        return Err(
            CliError::error(format!("{} holds no PEM certificate", escape_path(cert)))
                .hint("give a PEM certificate chain (-----BEGIN CERTIFICATE-----)"),
        );
    }
    let (meta, key_bytes) = fsutil::read_file(key)?;
    fsutil::check_secret_permissions(key, &meta)?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| {
        CliError::error(format!("{}: {e}", escape_path(key)))
            .hint("give the certificate's private key in PEM (PKCS#8, PKCS#1 or SEC1)")
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CliError::error(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| {
            CliError::error(format!(
                "{} and {}: {e}",
                escape_path(cert),
                escape_path(key)
            ))
            .hint("the key must be the certificate's")
        })?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The daemon id `--dev` mints tokens for.
const DEV_DAEMON_ID: &str = "dev-daemon";

/// `--dev`'s throwaway keys, in a fresh 0700 directory.
struct DevSetup {
    dir: PathBuf,
    issuer: PathBuf,
    jwks: PathBuf,
    daemon_key: PathBuf,
    daemon_pub: PathBuf,
    daemon_token: PathBuf,
    client_token: PathBuf,
}

fn random_hex() -> CliResult<String> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| CliError::error(format!("no randomness: {e}")))?;
    Ok(hex::encode(b))
}

impl DevSetup {
    fn create() -> CliResult<Self> {
        let dir = std::env::temp_dir().join(format!("sbrp-relay-dev-{}", random_hex()?));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .map_err(|e| CliError::io("cannot create", &dir, &e))?;
        let d = Self {
            issuer: dir.join("issuer.pem"),
            jwks: dir.join("jwks.json"),
            daemon_key: dir.join("daemon.pem"),
            daemon_pub: dir.join("daemon.pub"),
            daemon_token: dir.join("daemon.jwt"),
            client_token: dir.join("client.jwt"),
            dir,
        };
        if let Err(e) = d.fill() {
            d.remove();
            return Err(e);
        }
        Ok(d)
    }

    fn fill(&self) -> CliResult<()> {
        use sbrp::IdentityKeyPair;
        use sbrp::keyfile::{self, PublicFormat, SecretFormat};
        use sbrp::token::{self, Claims, Jwks, Role};
        let rng = |e: sbrp::RngError| CliError::error(format!("no randomness: {e}"));
        let issuer = IdentityKeyPair::generate().map_err(rng)?;
        let daemon = IdentityKeyPair::generate().map_err(rng)?;
        let secret = |what| WriteRules::secret(what, false);
        fsutil::write_file(
            &self.issuer,
            keyfile::encode_secret(&issuer, SecretFormat::Pem).as_bytes(),
            secret("issuer key"),
        )?;
        fsutil::write_file(
            &self.daemon_key,
            keyfile::encode_secret(&daemon, SecretFormat::Pem).as_bytes(),
            secret("daemon key"),
        )?;
        let public = keyfile::encode_public(&daemon.public_key(), PublicFormat::Base64);
        fsutil::write_file(
            &self.daemon_pub,
            format!("{public}\n").as_bytes(),
            secret("daemon public key"),
        )?;
        let jwks = Jwks::from_keys([issuer.public_key()]);
        let text = serde_json::to_string_pretty(&jwks.to_json())
            .map_err(|e| CliError::error(format!("cannot encode JSON: {e}")))?;
        fsutil::write_file(&self.jwks, format!("{text}\n").as_bytes(), secret("JWKS"))?;
        // The daemon's presence token, good for a day (it is re-read at every reconnect).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        let mut claims = Claims::new(Role::Daemon, DEV_DAEMON_ID, now, 86_400);
        claims.iss = Some(super::token::DEFAULT_ISS.to_owned());
        claims.sub = Some(DEV_DAEMON_ID.to_owned());
        claims.jti = Some(random_hex()?);
        let kid = token::thumbprint(&issuer.public_key());
        let minted = token::mint(&claims, &issuer, &kid)
            .map_err(|e| CliError::error(escape(&e.to_string()).into_owned()))?;
        let mut bytes = zeroize::Zeroizing::new(minted.expose().as_bytes().to_vec());
        bytes.push(b'\n');
        fsutil::write_file(&self.daemon_token, &bytes, secret("daemon token"))?;
        Ok(())
    }

    fn print_commands(&self, out: &Output, url: &str) {
        let q = shell_quote_path;
        let lines = [
            format!(
                "sbrp relay --dev: throwaway keys in {} (removed when the relay stops)",
                escape_path(&self.dir)
            ),
            "In another terminal, start an echo daemon through this relay:".to_owned(),
            format!(
                "  sbrp peer daemon --key {} --daemon-id {DEV_DAEMON_ID} --relay {} --token-file {}",
                q(&self.daemon_key),
                shell_quote(url),
                q(&self.daemon_token)
            ),
            "and in a third, mint a client token (it lives 120 s) and open a session:".to_owned(),
            format!(
                "  sbrp token mint --key {} --role client --did {DEV_DAEMON_ID} -o {} --force && sbrp peer client --daemon-id {DEV_DAEMON_ID} --identity-key {} --relay {} --token-file {} --message hello",
                q(&self.issuer),
                q(&self.client_token),
                q(&self.daemon_pub),
                shell_quote(url),
                q(&self.client_token)
            ),
        ];
        for l in lines {
            out.eprintln(&l);
        }
    }

    fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse_and_print() {
        let p = |s: &str| s.parse::<Seconds>();
        assert_eq!(p("30").unwrap().0, Duration::from_secs(30));
        assert_eq!(p("0.25").unwrap().0, Duration::from_millis(250));
        for bad in ["0", "-1", "nan", "inf", "x", "1e12"] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert_eq!(Seconds(Duration::from_secs(20)).to_string(), "20");
        assert_eq!(Seconds(Duration::from_millis(1500)).to_string(), "1.5");
    }
}
