//! Where output goes and how it looks: data to stdout, messages to stderr, colour decided per
//! stream, a closed stdout ends quietly, JSON is never coloured.
//!
//! Never use `println!` for data: Rust ignores SIGPIPE, so `println!` panics when the reader
//! of a pipe has gone (`sbrp … | head -1`). Use [`Output::print`] / [`Output::json`], which map
//! `BrokenPipe` to a quiet exit 0.

use std::ffi::OsString;
use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;

use colored::Colorize;
use serde::Serialize;

use super::exit::{CliError, CliResult, Exit, stdout_error};

/// The `--color` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour only when the stream is a terminal, `NO_COLOR` is unset or empty, and `TERM` is
    /// not `dumb`.
    Auto,
    /// Always colour human-readable output (never JSON).
    Always,
    /// Never colour.
    Never,
}

/// The colour decision for one stream, as a pure function of its inputs.
pub fn decide_color(
    choice: ColorChoice,
    is_terminal: bool,
    no_color: Option<&OsString>,
    term: Option<&OsString>,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            let no_color_set = no_color.is_some_and(|v| !v.is_empty());
            let dumb = term.is_some_and(|t| t == "dumb");
            is_terminal && !no_color_set && !dumb
        }
    }
}

/// The colour setting for clap's own messages (usage errors, help), taken from the raw
/// arguments because clap prints them before `Cli` exists.
pub fn clap_color_hint() -> clap::ColorChoice {
    let mut choice = ColorChoice::Auto;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        let value = if arg == "--color" {
            args.next()
        } else {
            arg.to_str()
                .and_then(|a| a.strip_prefix("--color="))
                .map(OsString::from)
        };
        match value.as_ref().and_then(|v| v.to_str()) {
            Some("always") => choice = ColorChoice::Always,
            Some("never") => choice = ColorChoice::Never,
            Some("auto") => choice = ColorChoice::Auto,
            _ => {}
        }
    }
    let term_ok = decide_color(
        ColorChoice::Auto,
        true,
        std::env::var_os("NO_COLOR").as_ref(),
        std::env::var_os("TERM").as_ref(),
    );
    match choice {
        ColorChoice::Always => clap::ColorChoice::Always,
        ColorChoice::Never => clap::ColorChoice::Never,
        ColorChoice::Auto if term_ok => clap::ColorChoice::Auto,
        ColorChoice::Auto => clap::ColorChoice::Never,
    }
}

/// A text style for human-readable output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Emphasis (fingerprints, names).
    Bold,
    /// A good outcome (match, pinned).
    Good,
    /// A bad outcome (mismatch, error).
    Bad,
    /// A warning.
    Warn,
    /// Secondary text.
    Dim,
}

/// The colour decision for stderr, for [`warn_stderr`] (set by [`Output::new`]).
static COLOR_STDERR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `sbrp: warning: …` on stderr, for code that has no [`Output`] at hand (e.g. deep in key
/// reading); same format and colour as [`Output::warn`].
pub fn warn_stderr(message: &str) {
    let colour = COLOR_STDERR.load(std::sync::atomic::Ordering::Relaxed);
    let prefix = Output::paint(colour, "warning:", Style::Warn);
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "sbrp: {prefix} {message}");
}

/// `sbrp: …` on stderr (progress, side effects), for code that has no [`Output`] at hand.
pub fn note_stderr(message: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "sbrp: {message}");
}

/// Stdout and stderr with their colour decisions. Create one in `main` and pass it down.
#[derive(Debug)]
pub struct Output {
    color_stdout: bool,
    color_stderr: bool,
    /// Set once a JSON document went to stdout (so a failure adds no second one).
    json_printed: std::sync::atomic::AtomicBool,
}

/// The error part of a JSON document printed on failure (`docs/json.md`).
#[derive(Debug, Serialize)]
pub struct ErrorJson {
    /// The exit status's name (`"not_found"`, …).
    pub exit: &'static str,
    /// The exit status.
    pub code: u8,
    /// The message (as on stderr, without `sbrp: error:`).
    pub message: String,
    /// The fix, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl ErrorJson {
    /// The JSON form of `err`.
    pub fn of(err: &CliError) -> Self {
        Self {
            exit: err.exit().name(),
            code: err.exit().code(),
            message: err.message().to_owned(),
            hint: err.hint_text().map(str::to_owned),
        }
    }
}

/// `{"schema": "sbrp.error/1", …}`: what a `--json` command prints on failure when it did
/// not print its own document.
#[derive(Serialize)]
struct ErrorDocument<'a> {
    schema: &'static str,
    ok: bool,
    command: &'a str,
    error: ErrorJson,
}

impl Output {
    /// Decides colours for both streams from `--color`, the environment and the terminals.
    pub fn new(choice: ColorChoice) -> Self {
        let no_color = std::env::var_os("NO_COLOR");
        let term = std::env::var_os("TERM");
        // We decide; `colored` must not second-guess (it only looks at stdout).
        colored::control::set_override(true);
        let out = Self {
            color_stdout: decide_color(
                choice,
                io::stdout().is_terminal(),
                no_color.as_ref(),
                term.as_ref(),
            ),
            color_stderr: decide_color(
                choice,
                io::stderr().is_terminal(),
                no_color.as_ref(),
                term.as_ref(),
            ),
            json_printed: std::sync::atomic::AtomicBool::new(false),
        };
        COLOR_STDERR.store(out.color_stderr, std::sync::atomic::Ordering::Relaxed);
        out
    }

    /// An output that never colours (for tests).
    #[cfg(test)]
    pub fn plain() -> Self {
        Self {
            color_stdout: false,
            color_stderr: false,
            json_printed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn paint(enabled: bool, text: &str, style: Style) -> String {
        if !enabled {
            return text.to_owned();
        }
        match style {
            Style::Bold => text.bold().to_string(),
            Style::Good => text.green().bold().to_string(),
            Style::Bad => text.red().bold().to_string(),
            Style::Warn => text.yellow().bold().to_string(),
            Style::Dim => text.dimmed().to_string(),
        }
    }

    /// `text` styled for stdout (unchanged when stdout gets no colour).
    pub fn style_out(&self, text: &str, style: Style) -> String {
        Self::paint(self.color_stdout, text, style)
    }

    /// `text` styled for stderr (unchanged when stderr gets no colour).
    pub fn style_err(&self, text: &str, style: Style) -> String {
        Self::paint(self.color_stderr, text, style)
    }

    /// Writes `text` to stdout and flushes. A closed pipe becomes a quiet exit.
    pub fn print(&self, text: &str) -> CliResult<()> {
        self.print_bytes(text.as_bytes())
    }

    /// Writes `line` and a newline to stdout.
    pub fn println(&self, line: &str) -> CliResult<()> {
        let mut s = String::with_capacity(line.len() + 1);
        s.push_str(line);
        s.push('\n');
        self.print(&s)
    }

    /// Writes raw bytes (e.g. a secret key) to stdout and flushes.
    pub fn print_bytes(&self, bytes: &[u8]) -> CliResult<()> {
        let mut out = io::stdout().lock();
        out.write_all(bytes).map_err(stdout_error)?;
        out.flush().map_err(stdout_error)
    }

    /// Writes `value` as pretty JSON and a newline to stdout. Never coloured; characters that
    /// could reorder or hide text on a terminal are written as `\uXXXX` escapes.
    pub fn json<T: Serialize>(&self, value: &T) -> CliResult<()> {
        let text = to_json(value)?;
        self.json_printed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.println(&text)
    }

    /// Writes `value` as JSON on one line (for a line-oriented reader, e.g. `relay --json`'s
    /// ready line), hardened like [`Output::json`].
    #[cfg_attr(not(feature = "relay"), allow(dead_code))]
    pub fn json_line<T: Serialize>(&self, value: &T) -> CliResult<()> {
        let text = serde_json::to_string(value)
            .map_err(|e| CliError::error(format!("cannot encode JSON: {e}")))?;
        self.json_printed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.println(&harden_json(&text))
    }

    /// Whether stderr gets colour (for a log writer of its own, e.g. `relay`'s).
    #[cfg_attr(not(feature = "relay"), allow(dead_code))]
    pub fn color_stderr(&self) -> bool {
        self.color_stderr
    }

    /// Records that the command printed its own JSON document on stdout (by a writer other than
    /// [`Output::json`]), so a failure does not add an `sbrp.error/1` document after it.
    pub fn mark_json_printed(&self) {
        self.json_printed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// A line on stderr. Errors writing to stderr are ignored (there is nowhere left to
    /// report them).
    pub fn eprintln(&self, line: &str) {
        let mut err = io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }

    /// `sbrp: warning: …` on stderr.
    pub fn warn(&self, message: &str) {
        let prefix = self.style_err("warning:", Style::Warn);
        self.eprintln(&format!("sbrp: {prefix} {message}"));
    }

    /// `sbrp: note: …` on stderr, for progress and side effects (never data).
    pub fn note(&self, message: &str) {
        self.eprintln(&format!("sbrp: {message}"));
    }

    /// Prints an error as `sbrp: error: …` and `sbrp: hint: …` on stderr.
    pub fn error(&self, err: &CliError) {
        if err.is_quiet() {
            return;
        }
        let prefix = self.style_err("error:", Style::Bad);
        self.eprintln(&format!("sbrp: {prefix} {}", err.message()));
        if let Some(hint) = err.hint_text() {
            let prefix = self.style_err("hint:", Style::Bold);
            self.eprintln(&format!("sbrp: {prefix} {hint}"));
        }
    }

    /// True when both stdin and stderr are terminals, so a question can be asked.
    pub fn can_prompt(&self) -> bool {
        io::stdin().is_terminal() && io::stderr().is_terminal()
    }

    /// Asks a question on stderr and reads one line from stdin (without the newline).
    /// End of input gives an empty answer.
    pub fn ask(&self, question: &str) -> CliResult<String> {
        {
            let mut err = io::stderr().lock();
            let _ = write!(err, "{question}");
            let _ = err.flush();
        }
        let mut line = String::new();
        io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::error(format!("cannot read the answer: {e}")))?;
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    }

    /// [`Output::finish`] for a command run with `--json` (`command` is its name, e.g.
    /// `"pin remove"`): a failure that printed no JSON document yet prints an `sbrp.error/1`
    /// document on stdout as well as the message on stderr.
    pub fn finish_json(&self, result: CliResult<Exit>, command: Option<&str>) -> ExitCode {
        if let (Err(err), Some(command)) = (&result, command)
            && !err.is_quiet()
            && !self.json_printed.load(std::sync::atomic::Ordering::Relaxed)
        {
            let _ = self.json(&ErrorDocument {
                schema: "sbrp.error/1",
                ok: false,
                command,
                error: ErrorJson::of(err),
            });
        }
        self.finish(result)
    }

    /// Ends the program: prints the error if any, and turns the outcome into the exit status.
    pub fn finish(&self, result: CliResult<Exit>) -> ExitCode {
        match result {
            Ok(exit) => exit.into(),
            Err(err) => {
                self.error(&err);
                err.exit().into()
            }
        }
    }
}

/// The name of the (sub)command (`"pin remove"`) when it was asked for JSON on stdout
/// (`--json`, or `--format json|ndjson`), from the parsed arguments. Left out: `peer daemon`
/// (its JSON is the log on stderr and its stdout may be the wire), `peer client` in stdio
/// mode (stdout is the wire), and `decode` (it streams
/// its own documents and ends them with a summary that carries `ok` and the error, on
/// failure too).
pub fn json_command(matches: &clap::ArgMatches) -> Option<String> {
    let mut names = Vec::new();
    let mut leaf = matches;
    while let Some((name, sub)) = leaf.subcommand() {
        names.push(name);
        leaf = sub;
    }
    let json_flag = matches!(leaf.try_get_one::<bool>("json"), Ok(Some(true)));
    // `keygen --format json` is the key file's format, not a report on stdout.
    let json_format = names.first() != Some(&"keygen")
        && leaf
            .try_get_raw("format")
            .ok()
            .flatten()
            .is_some_and(|mut v| v.any(|f| f == "json" || f == "ndjson"));
    let command = names.join(" ");
    // `peer client` without --connect, --exec or --relay speaks on stdin/stdout: stdout is the wire,
    // and its report goes to stderr.
    let has = |id: &str| matches!(leaf.try_get_raw(id), Ok(Some(_)));
    let wire_on_stdout =
        command == "peer client" && !has("connect") && !has("exec") && !has("relay");
    ((json_flag || json_format)
        && command != "peer daemon"
        && command != "decode"
        && !wire_on_stdout)
        .then_some(command)
}

/// Pretty JSON, with the characters of [`super::escape::needs_escape`] above U+007F written as
/// `\uXXXX` (serde_json already escapes the ASCII controls). Still valid JSON: such
/// characters can only occur inside strings.
pub fn to_json<T: Serialize>(value: &T) -> CliResult<String> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::error(format!("cannot encode JSON: {e}")))?;
    Ok(harden_json(&text).into_owned())
}

/// Rewrites the characters of [`super::escape::needs_escape_in_json`] in serialised JSON as
/// `\uXXXX` escapes (serde_json already escapes the ASCII controls). The result is still
/// valid JSON with the same meaning: such characters can only occur inside strings.
pub fn harden_json(text: &str) -> std::borrow::Cow<'_, str> {
    // Every character that needs it is outside ASCII: a byte scan rules most text out.
    if text.is_ascii() || !text.chars().any(super::escape::needs_escape_in_json) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if super::escape::needs_escape_in_json(c) {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> OsString {
        OsString::from(s)
    }

    #[test]
    fn colour_decision() {
        use ColorChoice::*;
        assert!(decide_color(Auto, true, None, None));
        assert!(!decide_color(Auto, false, None, None));
        assert!(
            decide_color(Auto, true, Some(&os("")), None),
            "empty NO_COLOR is unset"
        );
        assert!(!decide_color(Auto, true, Some(&os("1")), None));
        assert!(!decide_color(Auto, true, None, Some(&os("dumb"))));
        assert!(decide_color(Auto, true, None, Some(&os("xterm-256color"))));
        assert!(decide_color(
            Always,
            false,
            Some(&os("1")),
            Some(&os("dumb"))
        ));
        assert!(!decide_color(Never, true, None, None));
    }

    #[test]
    fn plain_output_is_not_painted() {
        let out = Output::plain();
        assert_eq!(out.style_out("x", Style::Bad), "x");
        assert_eq!(out.style_err("x", Style::Good), "x");
    }

    #[test]
    fn json_escapes_bidi_but_stays_valid() {
        let v = serde_json::json!({"id": "a\u{202e}b\u{1b}c", "ok": "café"});
        let text = to_json(&v).unwrap();
        assert!(text.contains("a\\u202eb\\u001bc"), "{text}");
        assert!(text.contains("café"));
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }
}
