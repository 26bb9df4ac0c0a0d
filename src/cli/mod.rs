//! The subcommands of `sbrp` and their shared plumbing.
//!
//! # Adding a subcommand
//! 1. Create `src/cli/NAME.rs` with `#[derive(clap::Args)] pub struct Args { … }` and
//!    `pub fn run(out: &Output, args: Args) -> CliResult` (i.e. `Result<Exit, CliError>`).
//! 2. Add a variant to `Command` in `src/main.rs` and a line to its `match`.
//! 3. Regenerate the committed completions and man page:
//!    `SBRP_BLESS=1 cargo test --test cli_docs`.
//!
//! # Conventions (see `docs/exit-codes.md`)
//! - Data goes to stdout through [`output::Output::print`] / [`output::Output::json`] (never
//!   `println!`: a closed pipe must end quietly). Messages go to stderr through
//!   [`output::Output::note`] / [`output::Output::warn`]; errors are returned as
//!   [`exit::CliError`] with a message that names the problem and a hint that names the fix.
//! - Every string that came from a file, stdin or the wire is passed through
//!   [`escape::escape`] (or [`escape::escape_path`]) before it is printed for humans.
//! - `--json` output is an object with a `"schema": "sbrp.<command>/<version>"` field (the pin
//!   file shapes use `"version"` instead), and is never coloured.

pub mod bench;
pub mod capped;
pub mod completions;
pub mod config;
pub mod daemon_id;
pub mod decode;
pub mod escape;
pub mod exit;
pub mod fingerprint;
pub mod fsutil;
pub mod keygen;
pub mod keyinput;
pub mod keylog_file;
pub mod man;
pub mod output;
pub mod peer;
pub mod pin;
pub mod pinstore;
pub mod pubkey;
#[cfg(feature = "relay")]
pub mod relay;
pub mod selftest;
pub mod token;
pub mod tokeninput;
