//! `sbrp man [SUBCOMMAND…]`: prints a manual page (roff), generated from the argument parser.
//! The pages are also committed under `docs/man/` (`sbrp.1`, `sbrp-keygen.1`, …), kept fresh
//! by `tests/cli_docs.rs`.

use clap::CommandFactory;

use super::escape::escape;
use super::exit::{CliError, CliResult, Exit};
use super::output::Output;

/// Arguments of `sbrp man`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  sbrp man | man -l -\n  sbrp man pin add | man -l -")]
pub struct Args {
    /// The subcommand whose page to print (e.g. `keygen`, `pin add`); none for `sbrp(1)`.
    #[arg(value_name = "SUBCOMMAND")]
    pub command: Vec<String>,

    /// Print {"schema": "sbrp.man/1", "page", "roff"} instead of the bare page
    #[arg(long)]
    pub json: bool,

    /// Write every page into this directory instead (used to refresh `docs/man/`).
    #[arg(long, hide = true, value_name = "DIR", conflicts_with = "command")]
    pub write_all: Option<std::path::PathBuf>,
}

/// Every manual page as `(file name, roff)`: `sbrp.1` first, then one per subcommand.
pub fn pages() -> CliResult<Vec<(String, Vec<u8>)>> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
        let man = clap_mangen::Man::new(cmd.clone());
        let mut buf = Vec::new();
        man.render(&mut buf)?;
        out.push((man.get_filename(), buf));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, out)?;
        }
        Ok(())
    }
    let mut cmd = crate::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, &mut out).map_err(|e| CliError::error(format!("cannot render the manual: {e}")))?;
    Ok(out)
}

/// Runs `sbrp man`.
pub fn run(out: &Output, args: Args) -> CliResult {
    if let Some(dir) = &args.write_all {
        for (file, page) in pages()? {
            let path = dir.join(&file);
            std::fs::write(&path, page).map_err(|e| CliError::io("cannot write", &path, &e))?;
        }
        return Ok(Exit::Success);
    }
    let mut name = String::from("sbrp");
    for word in &args.command {
        name.push('-');
        name.push_str(word);
    }
    let file = format!("{name}.1");
    let pages = pages()?;
    let Some((_, page)) = pages.iter().find(|(f, _)| *f == file) else {
        let known: Vec<&str> = pages
            .iter()
            .filter_map(|(f, _)| f.strip_prefix("sbrp-")?.strip_suffix(".1"))
            .collect();
        return Err(CliError::new(
            Exit::NotFound,
            format!("no manual page for `{}`", escape(&name.replace('-', " "))),
        )
        .hint(format!(
            "give a subcommand, e.g. one of: {}",
            known.join(", ").replace('-', " ")
        )));
    };
    if args.json {
        out.json(&serde_json::json!({
            "schema": "sbrp.man/1",
            "page": file,
            "roff": String::from_utf8_lossy(page),
        }))?;
    } else {
        out.print_bytes(page)?;
    }
    Ok(Exit::Success)
}
