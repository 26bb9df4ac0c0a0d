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

use sbrp::relay::{JwksSource, LogObserver, Observer, RelayConfig, RelayServer, ServerConfig};
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
    after_help = "Exit codes: 0 stopped by SIGTERM or SIGINT (every connection closed \
    with 1001), 1 error (cannot listen, unreadable JWKS, TLS files), 2 usage, 5 TLS key file \
    with unsafe permissions.\n\n\
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

    /// Open connections at most (HTTP 503 beyond)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..),
          default_value_t = RelayConfig::default().max_connections as u64)]
    pub max_connections: u64,

    /// The log on stderr: one line per event
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// A local deployment to try: listen on 127.0.0.1, make a throwaway issuer key, JWKS and
    /// daemon identity in a fresh private directory, print the commands that use them
    #[arg(long, conflicts_with_all = ["jwks", "tls_cert", "tls_key"])]
    pub dev: bool,

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
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            ..RelayConfig::default()
        }
    }
}

/// Runs `sbrp relay`.
pub fn run(out: &Output, args: Args) -> CliResult {
    init_logging(out, args.log_format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
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
        (_, Some(i)) => Some(i.clone()),
        (Some(_), None) => Some(super::token::DEFAULT_ISS.to_owned()),
        (None, None) => None,
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
    let observer: Arc<dyn Observer> = Arc::new(LogObserver);
    let config = ServerConfig {
        listen: args.listen,
        relay: args.relay_config(),
        jwks,
        iss,
        #[cfg(feature = "tls")]
        tls,
        observer: Some(observer),
    };
    let server = RelayServer::bind(config)
        .await
        .map_err(|e| CliError::error(escape(&e.to_string()).into_owned()).hint(bind_hint(&e)))?;
    let addr = server.local_addr();
    let scheme = if server.is_tls() { "wss" } else { "ws" };
    let url = format!("{scheme}://{addr}");
    if args.json {
        out.json_line(&Ready {
            schema: READY_SCHEMA,
            listen: addr.to_string(),
            url: &url,
            metrics: None,
        })?;
    } else {
        out.println(&format!("sbrp relay listening on {url}"))?;
    }
    if let Some(d) = &dev {
        d.print_commands(out, &url);
    }
    tracing::info!(event = "listening", url = %url, "relay listening");
    let result = server.run(shutdown_signal()).await;
    tracing::info!(event = "stopped", "relay stopped");
    if let Some(d) = dev {
        d.remove();
    }
    result.map_err(|e| CliError::error(escape(&e.to_string()).into_owned()))?;
    Ok(Exit::Success)
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

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
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
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
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
                "  sbrp token mint --key {} --role client --did {DEV_DAEMON_ID} -o {} --force",
                q(&self.issuer),
                q(&self.client_token)
            ),
            format!(
                "  sbrp peer client --daemon-id {DEV_DAEMON_ID} --identity-key {} --relay {} --token-file {} --message hello",
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
