//! Conventions every subcommand shares: usage errors, a closed stdout, colour.

use assert_cmd::Command;
use predicates::prelude::*;

fn sbrp() -> Command {
    let mut cmd = Command::cargo_bin("sbrp").unwrap();
    cmd.env_remove("NO_COLOR").env_remove("SBRP_PINS");
    cmd
}

#[test]
fn usage_errors_exit_2() {
    sbrp()
        .arg("no-such-command")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unrecognized subcommand"));
    sbrp()
        .args(["--color", "sometimes", "man"])
        .assert()
        .code(2);
}

#[test]
fn help_and_version_exit_0() {
    sbrp()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes:"));
    sbrp()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("sbrp "));
}

#[test]
fn closed_stdout_ends_quietly_with_exit_0() {
    // The read end is closed before the child starts, so its first write gets EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("sbrp"))
        .args(["completions", "bash"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn no_colour_when_not_a_terminal_and_forced_with_always() {
    // stderr is a pipe here: auto means no escape sequences.
    sbrp()
        .args(["man", "nope"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("\x1b[").not());
    sbrp()
        .args(["--color", "always", "man", "nope"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("\x1b["));
    sbrp()
        .args(["--color", "never", "man", "nope"])
        .env("TERM", "xterm")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("\x1b[").not());
}
