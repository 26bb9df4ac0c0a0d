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
/// The command line as completion sees it: `sbrp man` offers the page names and not its
/// hidden maintainer options (clap_complete lists hidden options too).
fn completion_command() -> clap::Command {
    let words = super::man::page_words();
    crate::Cli::command().mut_subcommand("man", |man| {
        let mut visible = clap::Command::new("man");
        if let Some(about) = man.get_about() {
            visible = visible.about(about.clone());
        }
        for arg in man.get_arguments().filter(|a| !a.is_hide_set()) {
            let arg = if arg.get_id() == "command" {
                arg.clone()
                    .value_parser(clap::builder::PossibleValuesParser::new(words.iter().map(
                        |w| {
                            // clap keeps static names; this runs once per script.
                            let name: &'static str = Box::leak(w.clone().into_boxed_str());
                            clap::builder::PossibleValue::new(name)
                        },
                    )))
            } else {
                arg.clone()
            };
            visible = visible.arg(arg);
        }
        visible
    })
}

pub fn script(shell: Shell) -> Vec<u8> {
    let mut cmd = completion_command();
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
