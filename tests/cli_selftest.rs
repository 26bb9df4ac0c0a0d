//! `sbrp selftest` on the real binary.

use assert_cmd::Command;
use predicates::prelude::*;
use sbrp::stream::FrameReader;
use sbrp::{Frame, FrameType};

fn sbrp() -> Command {
    let mut cmd = Command::cargo_bin("sbrp").unwrap();
    cmd.env_remove("SBRP_KEYLOGFILE")
        .env_remove("SBRP_SELFTEST_FAULT")
        .env("NO_COLOR", "1");
    cmd
}

#[test]
fn passes_and_prints_a_checklist() {
    sbrp()
        .arg("selftest")
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "✓ known answer (reference vectors)",
        ))
        .stdout(predicate::str::contains("✓ replayed frame refused"))
        .stdout(predicate::str::contains(
            "✓ wrong pinned key → identity_key_changed",
        ))
        .stdout(predicate::str::contains("✗").not())
        .stdout(predicate::str::contains("\x1b[").not())
        .stdout(predicate::str::is_match(r"all \d+ checks passed\n$").unwrap());
}

#[test]
fn json_has_the_documented_shape() {
    let out = sbrp()
        .args(["selftest", "--json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["schema"], "sbrp.selftest/1");
    assert_eq!(v["ok"], true);
    assert_eq!(v["backend"], sbrp::aead::BACKEND);
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.len() >= 12, "{checks:?}");
    for c in checks {
        assert!(c["name"].is_string() && c["detail"].is_string());
        assert_eq!(c["ok"], true, "{c}");
        assert!(c["ms"].as_f64().unwrap() >= 0.0);
    }
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for needed in [
        "handshake (client and daemon)",
        "replayed frame refused",
        "tampered tag refused",
        "wrong pinned key → identity_key_changed",
        "wrong daemon id → handshake_failed",
        "forged far-ahead frame leaves the window alone",
        "known answer (reference vectors)",
    ] {
        assert!(names.contains(&needed), "missing check {needed}: {names:?}");
    }
    assert_eq!(v["passed"].as_u64().unwrap() as usize, checks.len());
}

#[test]
fn a_failing_check_is_named_and_exits_6() {
    let assert = sbrp()
        .args(["selftest", "--json"])
        .env("SBRP_SELFTEST_FAULT", "known-answer")
        .assert()
        .code(6)
        .stderr(predicate::str::contains(
            "1 selftest check(s) failed: known answer (reference vectors)",
        ));
    let v: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["failed"], 1);
    sbrp()
        .arg("selftest")
        .env("SBRP_SELFTEST_FAULT", "known-answer")
        .assert()
        .code(6)
        .stdout(predicate::str::contains(
            "✗ known answer (reference vectors)",
        ));
}

#[test]
fn keylog_and_capture_describe_the_loopback_session() {
    let dir = tempfile::tempdir().unwrap();
    let keylog = dir.path().join("keys.log");
    let capture = dir.path().join("session.bin");
    sbrp()
        .args(["selftest", "--keylog"])
        .arg(&keylog)
        .arg("--capture")
        .arg(&capture)
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "warning: appending session keys to",
        ));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keylog).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a key log holds secrets");
    }
    let log = std::fs::read_to_string(&keylog).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    let c2d: Vec<&str> = lines[0].split(' ').collect();
    let d2c: Vec<&str> = lines[1].split(' ').collect();
    assert_eq!(c2d[0], "CLIENT_TO_DAEMON");
    assert_eq!(d2c[0], "DAEMON_TO_CLIENT");
    assert_eq!(c2d[1], d2c[1]);
    assert_eq!(c2d[1].len(), 16);
    assert_eq!(c2d[2].len(), 64);

    // The capture is a valid stream: handshake, then Data frames of the logged session,
    // which the logged keys decrypt.
    let bytes = std::fs::read(&capture).unwrap();
    let frames: Vec<_> = FrameReader::new(&bytes).map(|f| f.unwrap().frame).collect();
    assert_eq!(frames[0].frame_type(), FrameType::HandshakeInit);
    assert_eq!(frames[1].frame_type(), FrameType::HandshakeAccept);
    let sid = u64::from_str_radix(c2d[1], 16).unwrap();
    assert!(frames.iter().all(|f| f.session_id() == sid));
    let key: [u8; 32] = hex::decode(c2d[2]).unwrap().try_into().unwrap();
    let Ok(Frame::Data(first)) = frames[2].parse() else {
        panic!("third frame is not Data");
    };
    let (direction, seq, plaintext) =
        sbrp::session::open_payload(&key, first.payload.as_bytes()).unwrap();
    assert_eq!((direction, seq), (1, 0));
    assert_eq!(plaintext, b"hello daemon");
}

#[test]
fn keylog_from_the_environment_appends_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let keylog = dir.path().join("env.log");
    for _ in 0..2 {
        sbrp()
            .arg("selftest")
            .env("SBRP_KEYLOGFILE", &keylog)
            .assert()
            .code(0)
            .stderr(predicate::str::contains(
                "warning: appending session keys to",
            ));
    }
    assert_eq!(std::fs::read_to_string(&keylog).unwrap().lines().count(), 4);
}

#[test]
fn an_empty_keylog_variable_means_off() {
    let dir = tempfile::tempdir().unwrap();
    sbrp()
        .arg("selftest")
        .env("SBRP_KEYLOGFILE", "")
        .current_dir(dir.path())
        .assert()
        .code(0)
        .stderr(predicate::str::is_empty());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn no_keylog_by_default() {
    let dir = tempfile::tempdir().unwrap();
    sbrp()
        .arg("selftest")
        .current_dir(dir.path())
        .assert()
        .code(0)
        .stderr(predicate::str::is_empty());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
