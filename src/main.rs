//! `sbrp`: the command-line tool. Argument parsing lives here; every subcommand is a module of
//! [`cli`] with a `run` function, and the shared plumbing (exit codes, output, escaping, config
//! directory, pin file) lives beside them.
#![forbid(unsafe_code)]

mod cli;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::cli::output::{ColorChoice, Output};

/// Sideband Relay Protocol (SBRP v1) tools: selftest, identity keys, fingerprints, the TOFU pin
/// file, a frame dissector, a test peer, a relay and benchmarks.
#[derive(Debug, Parser)]
#[command(
    name = "sbrp",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = "Exit codes: 0 success, 1 error, 2 usage, 3 not found / not pinned, \
                  4 identity key changed or fingerprint mismatch, 5 secret file has unsafe \
                  permissions, 6 protocol failure."
)]
pub struct Cli {
    /// When to use colours: auto (only on a terminal, off with NO_COLOR or TERM=dumb),
    /// always, never. JSON is never coloured.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    color: ColorChoice,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a complete SBRP session in memory and check every defence (exit 0 only if all pass)
    Selftest(cli::selftest::Args),
    /// Generate a new Ed25519 daemon identity (PKCS#8 PEM by default, mode 0600)
    Keygen(cli::keygen::Args),
    /// Print the public key of a secret key file
    Pubkey(cli::pubkey::Args),
    /// Print the fingerprint or randomart of a public or secret key, or compare fingerprints
    Fingerprint(cli::fingerprint::Args),
    /// Manage the TOFU pin file (daemon id -> pinned identity key)
    Pin(cli::pin::Args),
    /// Decode a capture of SBRP frames, and decrypt it given the keys
    Decode(cli::decode::Args),
    /// A known-good SBRP echo daemon and test client for live interoperability tests
    Peer(cli::peer::Args),
    /// Run an SBRP relay: authenticate, pair daemons and clients, forward their frames
    #[cfg(feature = "relay")]
    Relay(cli::relay::Args),
    /// Mint, inspect and verify relay tokens (EdDSA JWTs), and print JWKS
    Token(cli::token::Args),
    /// Measure handshakes, AEAD, framing and the streaming decoder
    Bench(cli::bench::Args),
    /// Print a shell completion script
    Completions(cli::completions::Args),
    /// Print the manual page (roff)
    Man(cli::man::Args),
}

fn main() -> std::process::ExitCode {
    // clap prints usage errors before our own colour decision exists: give it the hint.
    let command = Cli::command().color(cli::output::clap_color_hint());
    let matches = match command.try_get_matches() {
        Ok(m) => m,
        Err(err) => return cli::exit::clap_error(&err),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => return cli::exit::clap_error(&err),
    };
    let json_command = cli::output::json_command(&matches);
    let out = Output::new(cli.color);
    let result = match cli.command {
        Command::Keygen(args) => cli::keygen::run(&out, args),
        Command::Pubkey(args) => cli::pubkey::run(&out, args),
        Command::Fingerprint(args) => cli::fingerprint::run(&out, args),
        Command::Pin(args) => cli::pin::run(&out, args),
        Command::Decode(args) => cli::decode::run(&out, args),
        Command::Completions(args) => cli::completions::run(&out, args),
        Command::Man(args) => cli::man::run(&out, args),
        Command::Selftest(args) => cli::selftest::run(&out, args),
        Command::Peer(args) => cli::peer::run(&out, args),
        Command::Bench(args) => cli::bench::run(&out, args),
        Command::Token(args) => cli::token::run(&out, args),
        #[cfg(feature = "relay")]
        Command::Relay(args) => cli::relay::run(&out, args),
    };
    out.finish_json(result, json_command.as_deref())
}
