//! `sbrp completions SHELL`: prints a completion script generated from the argument parser.
//! The scripts are also committed under `completions/` (kept fresh by `tests/cli_docs.rs`).

use clap::CommandFactory;
use clap_complete::Shell;

use super::exit::{CliResult, Exit};
use super::output::Output;

/// Arguments of `sbrp completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    sbrp completions bash > ~/.local/share/bash-completion/completions/sbrp\n  \
    sbrp completions zsh > ~/.zfunc/_sbrp\n  \
    sbrp completions fish > ~/.config/fish/completions/sbrp.fish")]
pub struct Args {
    /// The shell to generate the script for.
    #[arg(value_enum)]
    pub shell: Shell,

    /// Print {"schema": "sbrp.completions/1", "shell", "script"} instead of the bare script
    #[arg(long)]
    pub json: bool,
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut cmd = crate::Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "sbrp", &mut buf);
    buf
}

/// Runs `sbrp completions`.
pub fn run(out: &Output, args: Args) -> CliResult {
    let script = script(args.shell);
    if args.json {
        out.json(&serde_json::json!({
            "schema": "sbrp.completions/1",
            "shell": args.shell.to_string(),
            "script": String::from_utf8_lossy(&script),
        }))?;
    } else {
        out.print_bytes(&script)?;
    }
    Ok(Exit::Success)
}
