//! `sbrp selftest`: a complete SBRP session in memory with fresh keys, the protocol's defences,
//! and a known-answer check against the reference. Exit 0 only if every check passed, 6
//! otherwise.

mod checks;

use std::path::PathBuf;

use serde::Serialize;

use super::exit::{CliError, CliResult, Exit};
use super::fsutil::{self, WriteRules};
use super::keylog_file::KeyLog;
use super::output::{Output, Style};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object (schema sbrp.selftest/1) instead of the checklist
    #[arg(long)]
    json: bool,

    /// Append the loopback session's keys to FILE (key-log format, see FILES), so
    /// `sbrp decode --keylog FILE` can decrypt the capture; also enabled by a non-empty
    /// SBRP_KEYLOGFILE
    #[arg(long, value_name = "FILE")]
    keylog: Option<PathBuf>,

    /// Write every frame of the loopback session to FILE (raw SBRP stream, for `sbrp decode`);
    /// an existing FILE is replaced only with --force, a symbolic link never
    #[arg(long, value_name = "FILE")]
    capture: Option<PathBuf>,

    /// Replace an existing --capture file
    #[arg(long, requires = "capture")]
    force: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    schema: &'static str,
    ok: bool,
    backend: &'static str,
    passed: usize,
    failed: usize,
    checks: Vec<CheckJson<'a>>,
}

#[derive(Serialize)]
struct CheckJson<'a> {
    name: &'a str,
    ok: bool,
    ms: f64,
    detail: &'a str,
}

pub fn run(out: &Output, args: Args) -> CliResult {
    let keylog = KeyLog::path(args.keylog);
    if let (Some(capture), Some(keylog)) = (&args.capture, &keylog)
        && fsutil::same_file(capture, keylog)
    {
        return Err(CliError::new(
            Exit::Usage,
            format!(
                "--capture and the key log are the same file ({}): the capture would destroy \
                 the keys",
                super::escape::escape_path(capture)
            ),
        )
        .hint("give the capture and the key log two different paths"));
    }
    if let Some(path) = &args.capture {
        // Refused before anything runs: a symlink, a directory, an existing file without --force.
        let rules = WriteRules::public("capture", args.force);
        if fsutil::check_target(path, rules.what)? && !args.force {
            return Err(CliError::error(format!(
                "{} already exists; sbrp never replaces a capture unless you pass --force",
                super::escape::escape_path(path)
            ))
            .hint("pass --force to replace it, or choose another path"));
        }
    }
    let outcome = checks::run();

    if let (Some(path), Some((sid, keys))) = (keylog, &outcome.session) {
        KeyLog::open(out, &path)?
            .write(sid.get(), keys)
            .map_err(CliError::error)?;
    }
    if let Some(path) = &args.capture {
        fsutil::write_file(
            path,
            &outcome.capture,
            WriteRules::public("capture", args.force),
        )?;
        out.note(&format!(
            "{} bytes of frames written to {}",
            outcome.capture.len(),
            super::escape::escape_path(path)
        ));
    }

    let failed = outcome.checks.iter().filter(|c| !c.ok).count();
    let passed = outcome.checks.len() - failed;
    if args.json {
        out.json(&Report {
            schema: "sbrp.selftest/1",
            ok: failed == 0,
            backend: sbrp::aead::BACKEND,
            passed,
            failed,
            checks: outcome
                .checks
                .iter()
                .map(|c| CheckJson {
                    name: c.name,
                    ok: c.ok,
                    ms: (c.ms * 1000.0).round() / 1000.0,
                    detail: &c.detail,
                })
                .collect(),
        })?;
    } else {
        print_checklist(out, &outcome.checks, passed, failed)?;
    }
    if failed == 0 {
        Ok(Exit::Success)
    } else {
        let names: Vec<&str> = outcome
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name)
            .collect();
        Err(CliError::new(
            Exit::ProtocolFailure,
            format!("{failed} selftest check(s) failed: {}", names.join("; ")),
        )
        .hint("this build does not implement SBRP correctly on this machine; please report it with the output of `sbrp selftest --json`"))
    }
}

fn print_checklist(
    out: &Output,
    checks: &[checks::Check],
    passed: usize,
    failed: usize,
) -> CliResult<()> {
    let mut text = format!(
        "sbrp selftest — SBRP v1, AEAD backend {}\n",
        sbrp::aead::BACKEND
    );
    let width = checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    for c in checks {
        let mark = if c.ok {
            out.style_out("✓", Style::Good)
        } else {
            out.style_out("✗", Style::Bad)
        };
        let pad = width - c.name.chars().count();
        let detail = super::escape::escape(&c.detail);
        let detail = if c.ok {
            out.style_out(&detail, Style::Dim)
        } else {
            out.style_out(&detail, Style::Bad)
        };
        text.push_str(&format!(
            "  {mark} {}{:pad$}  {:>9.3} ms  {detail}\n",
            c.name, "", c.ms
        ));
    }
    let summary = if failed == 0 {
        out.style_out(&format!("all {passed} checks passed"), Style::Good)
    } else {
        out.style_out(
            &format!("{failed} of {} checks failed", passed + failed),
            Style::Bad,
        )
    };
    text.push_str(&summary);
    text.push('\n');
    out.print(&text)
}
