//! `sbrp peer daemon|client`: a known-good SBRP endpoint for live interoperability tests.
//!
//! - `peer daemon` answers every HandshakeInit, speaks SBP and RPC in every session
//!   ([`sbp_handler`]; `--raw`: sends every decrypted message back encrypted in the other
//!   direction), and answers Ping with Pong. It speaks on
//!   stdin/stdout (composes with socat, websocat, ssh, FIFOs) or serves TCP with `--listen`.
//! - `peer client` opens a session, checks the daemon's identity against a key or the pin file,
//!   sends messages, verifies every echo byte for byte and reports round-trip times.
//!
//! The protocol work is done by I/O-free state machines (the library's
//! [`sbrp::endpoint::SessionTable`] behind [`daemon::DaemonConn`], [`client`]'s frame
//! handling); [`transport`] moves bytes and enforces deadlines (the core keeps no clock, so
//! `handshake_timeout` is raised here and times are passed in).

pub mod client;
pub mod daemon;
#[cfg(feature = "relay-client")]
pub mod relay;
pub mod sbp_handler;
pub mod transport;

use std::path::PathBuf;
use std::time::Duration;

use super::exit::CliResult;
use super::output::Output;

/// `sbrp peer …`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: PeerCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PeerCommand {
    /// Run a daemon (SBP and RPC, or a bare echo with --raw) on stdin/stdout or on TCP (`--listen`)
    Daemon(daemon::Args),
    /// Open a session and check the daemon: RPC echo calls or --call (bare echoes with --raw)
    Client(client::Args),
}

/// Options both ends share.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Seconds a handshake may take before it fails with handshake_timeout (0: no limit)
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub handshake_timeout: Duration,

    /// Append the session keys to FILE (for `sbrp decode`); also enabled by a non-empty
    /// SBRP_KEYLOGFILE. Anyone who can read FILE can decrypt those sessions.
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<PathBuf>,

    /// Print only errors on stderr
    #[arg(short, long)]
    pub quiet: bool,
}

/// Parses a non-negative number of seconds (fractions allowed): `30`, `0.5`.
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !v.is_finite() || !(0.0..=86_400.0 * 365.0).contains(&v) {
        return Err(format!("`{s}` is not between 0 and one year of seconds"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Runs `sbrp peer …`.
pub fn run(out: &Output, args: Args) -> CliResult {
    match args.command {
        PeerCommand::Daemon(a) => daemon::run(out, a),
        PeerCommand::Client(a) => client::run(out, a),
    }
}
