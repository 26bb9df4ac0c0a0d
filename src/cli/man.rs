//! `sbrp man [SUBCOMMAND…]`: prints a manual page (roff), generated from the argument parser.
//! The pages are also committed under `docs/man/` (`sbrp.1`, `sbrp-keygen.1`, …), kept fresh
//! by `tests/cli_docs.rs`.

use clap::CommandFactory;

use super::escape::escape;
use super::exit::{CliError, CliResult, Exit};
use super::fsutil;
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

    /// Write every page into this directory instead (used to refresh the committed pages).
    #[arg(long, hide = true, value_name = "DIR", conflicts_with = "command")]
    pub write_all: Option<std::path::PathBuf>,

    /// With --write-all: replace pages that exist.
    #[arg(long, hide = true, requires = "write_all")]
    pub force: bool,
}

/// ENVIRONMENT, the same on every page.
const ENVIRONMENT: &str = r#".SH ENVIRONMENT
.TP
\fBSBRP_HOME\fR
The configuration directory (identity key, pin file). Default: \fB$XDG_CONFIG_HOME/sbrp\fR, else \fB~/.config/sbrp\fR. A directory that group or others can write to, or that belongs to another user, is refused (exit 5).
.TP
\fBXDG_CONFIG_HOME\fR
Base of the default configuration directory (ignored unless absolute).
.TP
\fBHOME\fR
Used for \fB~/.config/sbrp\fR when the two above are unset.
.TP
\fBSBRP_PINS\fR
The pin file, as \fB\-\-pins\fR.
.TP
\fBSBRP_KEYLOGFILE\fR
Append session keys to this key log, as \fB\-\-keylog\fR (selftest, peer).
.TP
\fBNO_COLOR\fR
When set and not empty: no colour (as \fB\-\-color never\fR does).
.TP
\fBTERM\fR
\fBdumb\fR turns colour off.
"#;

/// FILES, the same on every page.
const FILES: &str = r#".SH FILES
.TP
\fB<config dir>/identity.pem\fR
The default identity: an Ed25519 secret key, PKCS#8 PEM as \fBopenssl genpkey \-algorithm ed25519\fR writes it, mode 0600. Key inputs may also be hex or base64 (32\-byte public key, 64\-byte seed and public key; hex may start with 0x), SPKI "PUBLIC KEY" PEM, DER, an \fBssh\-ed25519\fR line, a raw 32/64\-byte file, or JSON {"public_key"} / {"secret_key"}. A secret key file that group or others can access is refused (exit 5).
.TP
\fB<config dir>/pins.json\fR
The pin file: {"version": 1, "pins": [{"daemon_id", "public_key" (base64), "fingerprint", "added_at", "last_verified_at", "comment"?}]}. Changes lock \fBpins.json.lock\fR and replace the file atomically; a symbolic link is followed once and the real file written, keeping its mode. Writable by others: refused (exit 5); readable by others: a warning.
.TP
\fBkey log\fR (\fB\-\-keylog\fR, \fBSBRP_KEYLOGFILE\fR)
A secret: one line per session and direction, \fBCLIENT_TO_DAEMON\fR or \fBDAEMON_TO_CLIENT\fR, the session id (16 hex digits) and the 32\-byte key (64 hex digits); \fB#\fR starts a comment. Appended to; created 0600; an existing one must be yours and private (exit 5 otherwise).
.TP
\fBcapture\fR (\fB\-\-capture\fR)
Concatenated SBRP frames as they travel, for \fBsbrp decode\fR.
.PP
sbrp never replaces a file it writes unless \fB\-\-force\fR is given, never writes through a symbolic link, and writes a file whole or not at all.
"#;

/// EXIT STATUS, the same on every page.
const EXIT_STATUS: &str = r#".SH EXIT STATUS
0 success; 1 error; 2 usage; 3 not found or not pinned; 4 identity key changed or fingerprint mismatch; 5 a secret or configuration file has unsafe permissions; 6 protocol failure. With \fB\-\-json\fR a failure also prints a JSON document on stdout ({"ok": false, …} with the exit status's name and number).
"#;

/// A line of an EXAMPLES block, for roff inside `.nf`: backslashes, leading dots and quotes,
/// and minus signs escaped; nothing is reflowed.
fn roff_verbatim(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    if line.starts_with('.') || line.starts_with('\'') {
        out.push_str("\\&");
    }
    for c in line.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            c => out.push(c),
        }
    }
    out
}

/// Plain text for a roff paragraph.
fn roff_text(text: &str) -> String {
    let mut out = roff_verbatim(text.trim());
    out.push('\n');
    out
}

/// The sections made from a command's `after_help`: its prose (NOTES) and its `Examples:`
/// block, verbatim (EXAMPLES). The exit-code summary of `sbrp` is left to EXIT STATUS.
fn after_help_sections(cmd: &clap::Command) -> String {
    let Some(text) = cmd.get_after_help().map(|t| t.to_string()) else {
        return String::new();
    };
    let (prose, examples) = match text.find("Examples:") {
        Some(i) => (&text[..i], Some(&text[i + "Examples:".len()..])),
        None => (text.as_str(), None),
    };
    let mut out = String::new();
    let prose = prose.trim();
    if !prose.is_empty() && !prose.starts_with("Exit codes:") {
        out.push_str(".SH NOTES\n");
        for para in prose.split("\n\n") {
            out.push_str(&roff_text(&para.replace('\n', " ")));
            out.push_str(".PP\n");
        }
        out.truncate(out.len() - ".PP\n".len());
    }
    if let Some(ex) = examples {
        out.push_str(".SH EXAMPLES\n.nf\n");
        for line in ex.trim_matches('\n').lines() {
            out.push_str(&roff_verbatim(line.strip_prefix("  ").unwrap_or(line)));
            out.push('\n');
        }
        out.push_str(".fi\n");
    }
    out
}

/// One page: clap_mangen's title, NAME, SYNOPSIS, DESCRIPTION, OPTIONS and SUBCOMMANDS with
/// `sbrp VERSION` as the footer, then NOTES, EXAMPLES (verbatim), EXIT STATUS, ENVIRONMENT,
/// FILES, and VERSION.
fn render(cmd: &clap::Command) -> std::io::Result<(String, Vec<u8>)> {
    let man = clap_mangen::Man::new(cmd.clone())
        .source(format!("sbrp {}", env!("CARGO_PKG_VERSION")))
        .manual("sbrp manual");
    let mut buf = Vec::new();
    man.render(&mut buf)?;
    let page = String::from_utf8_lossy(&buf).into_owned();
    // clap_mangen puts `after_help` reflowed under EXTRA: replace it with our sections.
    let (head, tail) = match page.find(".SH EXTRA\n") {
        Some(i) => {
            let rest = &page[i + 1..];
            let end = rest
                .find("\n.SH ")
                .map(|j| i + 1 + j + 1)
                .unwrap_or(page.len());
            (page[..i].to_owned(), page[end..].to_owned())
        }
        None => match page.find(".SH VERSION\n") {
            Some(i) => (page[..i].to_owned(), page[i..].to_owned()),
            None => (page.clone(), String::new()),
        },
    };
    let mut out = head;
    out.push_str(&after_help_sections(cmd));
    out.push_str(EXIT_STATUS);
    out.push_str(ENVIRONMENT);
    out.push_str(FILES);
    out.push_str(&tail);
    Ok((man.get_filename(), out.into_bytes()))
}

/// Every manual page as `(file name, roff)`: `sbrp.1` first, then one per subcommand.
pub fn pages() -> CliResult<Vec<(String, Vec<u8>)>> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
        out.push(render(cmd)?);
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

/// The words that name manual pages after `sbrp man` (`keygen`, `pin`, `add`, …), for shell
/// completion.
pub fn page_words() -> Vec<String> {
    fn walk(cmd: &clap::Command, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = sub.get_name().to_owned();
            if name != "help" && !out.contains(&name) {
                out.push(name);
            }
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    walk(&crate::Cli::command(), &mut out);
    out
}

/// Runs `sbrp man`.
pub fn run(out: &Output, args: Args) -> CliResult {
    if let Some(dir) = &args.write_all {
        for (file, page) in pages()? {
            fsutil::write_file(
                &dir.join(&file),
                &page,
                fsutil::WriteRules::public("manual page", args.force),
            )?;
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
