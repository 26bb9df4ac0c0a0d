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

#[test]
fn json_is_never_coloured_even_with_color_always() {
    let dir = tempfile::tempdir().unwrap();
    let key = sbrp::keyfile::encode_public(
        &sbrp::IdentityKeyPair::from_seed(&[1; 32]).public_key(),
        sbrp::keyfile::PublicFormat::Base64,
    );
    let out = sbrp()
        .env("SBRP_HOME", dir.path())
        .args(["--color", "always", "fingerprint", &key, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!out.stdout.contains(&0x1b));
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
    // The human form is coloured when forced.
    let out = sbrp()
        .env("SBRP_HOME", dir.path())
        .args([
            "--color",
            "always",
            "fingerprint",
            &key,
            "--compare",
            &key_fp(&key),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.contains(&0x1b));
}

fn key_fp(b64: &str) -> String {
    sbrp::keyfile::decode(b64.as_bytes(), sbrp::keyfile::BareKey::Public)
        .unwrap()
        .key
        .public_key()
        .fingerprint()
}
