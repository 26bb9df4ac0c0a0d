//! `sbrp decode`: golden outputs over the corpus in `tests/data/decode/` (built from the
//! reference vectors by `make_corpus.py`), input encodings, exit codes, escaping, the
//! selftest round trip, live pipes, and bounded memory on a 1 GiB stream.
//!
//! Refresh the expected outputs after an intended change with
//! `SBRP_BLESS=1 cargo test --test decode`, then review the diff.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};

use assert_cmd::Command;
use predicates::prelude::*;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/decode")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(data().join(name)).unwrap()
}

fn sbrp() -> Command {
    let mut cmd = Command::cargo_bin("sbrp").unwrap();
    cmd.env_remove("NO_COLOR")
        .env_remove("SBRP_PINS")
        .env_remove("SBRP_KEYLOGFILE")
        .current_dir(data());
    cmd
}

fn bless() -> bool {
    std::env::var_os("SBRP_BLESS").is_some_and(|v| !v.is_empty())
}

/// Runs `sbrp decode ARGS` in the corpus directory and compares stdout with `expected`.
fn golden(expected: &str, args: &[&str], code: i32) {
    let out = sbrp().arg("decode").args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = data().join(expected);
    if bless() {
        std::fs::write(&path, &out.stdout).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_default();
    assert!(
        want == out.stdout,
        "{expected} differs (run `SBRP_BLESS=1 cargo test --test decode` and review):\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn secret(name: &str) -> String {
    read(name).trim().to_owned()
}

#[test]
fn golden_session() {
    golden("session.out.txt", &["session.hex"], 0);
    golden(
        "session.keylog.out.txt",
        &["--keylog", "session.keylog", "session.hex"],
        0,
    );
    golden(
        "session.keylog.out.ndjson",
        &[
            "--format",
            "ndjson",
            "--keylog",
            "session.keylog",
            "session.hex",
        ],
        0,
    );
    golden(
        "session.verbose.out.txt",
        &["-v", "--keylog", "session.keylog", "session.hex"],
        0,
    );
    let eph = secret("session.client-ephemeral");
    golden(
        "session.handshake.out.json",
        &[
            "--format",
            "json",
            "--daemon-id",
            "daemon-001",
            "--client-ephemeral",
            &eph,
            "session.hex",
        ],
        0,
    );
    // The same secret read from a file (keeps it out of the process list).
    golden(
        "session.handshake.out.json",
        &[
            "--format",
            "json",
            "--daemon-id",
            "daemon-001",
            "--client-ephemeral",
            "@session.client-ephemeral",
            "session.hex",
        ],
        0,
    );
    // The wrong daemon id: the signature does not verify, nothing is decrypted.
    let eph = secret("session.daemon-ephemeral");
    golden(
        "session.wrong-id.out.txt",
        &[
            "--daemon-id",
            "daemon-002",
            "--daemon-ephemeral",
            &eph,
            "session.hex",
        ],
        0,
    );
}

#[test]
fn golden_multi_session_and_every_frame() {
    golden(
        "multi.keylog.out.txt",
        &["--keylog", "multi.keylog", "multi.hex"],
        0,
    );
    golden(
        "multi.keylog.out.json",
        &["--format", "json", "--keylog", "multi.keylog", "multi.hex"],
        0,
    );
    golden("all-frames.out.txt", &["all-frames.hex"], 0);
    golden(
        "all-frames.out.ndjson",
        &["--format", "ndjson", "all-frames.hex"],
        0,
    );
    let id = read("handshake-utf8.daemon-id");
    let eph = secret("handshake-utf8.daemon-ephemeral");
    golden(
        "handshake-utf8.out.txt",
        &[
            "--daemon-id",
            id.trim_end_matches('\n'),
            "--daemon-ephemeral",
            &eph,
            "handshake-utf8.hex",
        ],
        0,
    );
}

#[test]
fn golden_errors_and_stops() {
    golden("errors.out.txt", &["errors.hex"], 0);
    golden("errors.out.json", &["--format", "json", "errors.hex"], 0);
    golden("bad-type.out.txt", &["bad-type.hex"], 0);
    golden(
        "bad-type.out.ndjson",
        &["--format", "ndjson", "bad-type.hex"],
        0,
    );
    golden("too-large.out.txt", &["too-large.hex"], 0);
    golden("truncated-header.out.txt", &["truncated-header.hex"], 0);
}

fn ndjson(args: &[&str], stdin: Option<Vec<u8>>) -> Vec<serde_json::Value> {
    let mut cmd = sbrp();
    cmd.arg("decode").args(["--format", "ndjson"]).args(args);
    if let Some(input) = stdin {
        cmd.write_stdin(input);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn hex_to_raw(name: &str) -> Vec<u8> {
    let text: String = read(name).lines().filter(|l| !l.starts_with('#')).collect();
    hex::decode(text).unwrap()
}

#[test]
fn raw_hex_and_base64_inputs_decode_alike() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw = hex_to_raw("multi.hex");
    let frames_of = |mut v: Vec<serde_json::Value>| {
        let summary = v.pop().unwrap();
        (v, summary["input"].as_str().unwrap().to_owned())
    };
    let (want, kind) = frames_of(ndjson(&["--keylog", "multi.keylog", "multi.hex"], None));
    assert_eq!(kind, "hex");
    assert_eq!(want.len(), 36);

    let wrapped: String = b64
        .encode(&raw)
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8(c.to_vec()).unwrap() + "\n")
        .collect();
    // One padded base64 line per frame, cut at the frame boundaries found by the hex decode.
    let mut per_line = String::new();
    for w in want.windows(2) {
        let (a, b) = (
            w[0]["offset"].as_u64().unwrap(),
            w[1]["offset"].as_u64().unwrap(),
        );
        per_line += &(b64.encode(&raw[a as usize..b as usize]) + "\n");
    }
    let last = want.last().unwrap()["offset"].as_u64().unwrap() as usize;
    per_line += &(b64.encode(&raw[last..]) + "\n");

    for (input, flag, kind) in [
        (raw.clone(), None, "raw"),
        (raw.clone(), Some("raw"), "raw"),
        (wrapped.clone().into_bytes(), None, "base64"),
        (per_line.into_bytes(), Some("base64"), "base64"),
        (hex::encode(&raw).into_bytes(), Some("hex"), "hex"),
    ] {
        let mut args = vec!["--keylog", "multi.keylog"];
        if let Some(f) = flag {
            args.extend(["--input", f]);
        }
        args.push("-");
        let (got, k) = frames_of(ndjson(&args, Some(input)));
        assert_eq!(k, kind);
        assert_eq!(got, want, "{kind} {flag:?}");
    }
}

#[test]
fn json_contract_fields() {
    let v = ndjson(&["--keylog", "session.keylog", "session.hex"], None);
    let data = &v[5];
    assert_eq!(data["record"], "frame");
    assert_eq!(data["index"], 5);
    assert_eq!(data["type"], "Data");
    assert_eq!(data["type_code"], 3);
    assert_eq!(data["session_id"], "1");
    assert_eq!(data["direction"], "client_to_daemon");
    assert_eq!(data["seq"], "0");
    assert_eq!(data["authenticated"], true);
    assert_eq!(data["plaintext_utf8"], "Hello from client!");
    assert_eq!(
        data["plaintext_hex"],
        "48656c6c6f2066726f6d20636c69656e7421"
    );
    assert_eq!(data["diagnostics"], serde_json::json!([]));
    let control = &v[12];
    assert_eq!(control["code"], 0x1001);
    assert_eq!(control["name"], "session_paused");
    assert_eq!(control["terminal"], false);
    let summary = v.last().unwrap();
    assert_eq!(summary["record"], "summary");
    assert_eq!(summary["schema"], "sbrp.decode/2");
    assert_eq!(summary["frames"], 14);
    assert_eq!(summary["authenticated"], 7);
    assert_eq!(summary["complete"], true);
}

#[test]
fn strict_turns_diagnostics_into_exit_6() {
    sbrp()
        .args(["decode", "--strict", "errors.hex"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("diagnostics (--strict)"));
    sbrp()
        .args([
            "decode",
            "--strict",
            "--keylog",
            "session.keylog",
            "session.hex",
        ])
        .assert()
        .code(0);
    sbrp()
        .args(["decode", "--strict", "truncated-header.hex"])
        .assert()
        .code(6);
}

#[test]
fn unreadable_input_and_bad_arguments() {
    // Not hex: exit 1, with what was decoded before the bad character and the summary.
    sbrp()
        .args(["decode", "--input", "hex", "-"])
        .write_stdin("10 00000000 0000000000000000\n10 zz")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("Ping"))
        .stdout(predicate::str::contains("-- 1 frame,"))
        .stderr(predicate::str::contains(
            "not a hex digit: 'z' (input byte 32)",
        ));
    sbrp()
        .args(["decode", "no-such-file.bin"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot open capture"));
    sbrp()
        .args([
            "decode",
            "--daemon-id",
            "d",
            "--client-ephemeral",
            "abcd",
            "session.hex",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("64 hex digits"));
    // An ephemeral secret needs the daemon id.
    sbrp()
        .args(["decode", "--client-ephemeral", "00", "session.hex"])
        .assert()
        .code(2);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.keylog");
    std::fs::write(&bad, "# fine\nCLIENT_TO_DAEMON 01 00\n").unwrap();
    sbrp()
        .args(["decode", "--keylog"])
        .arg(&bad)
        .arg("session.hex")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("line 2"));
}

#[test]
fn wire_strings_are_escaped_for_terminals_and_json() {
    let out = sbrp()
        .args(["decode", "--color", "always", "errors.hex"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(r#"message="evil \x1b[31mred\x1b[0m \u{202e}gnp.exe""#));
    assert!(!text.contains('\u{202e}'));
    // Colour codes are ours; the message's ESC bytes are not passed through.
    assert!(!text.contains("\x1b[31mred"));
    assert!(text.contains("\x1b["), "--color always colours text");
    let json = sbrp()
        .args([
            "decode",
            "--color",
            "always",
            "--format",
            "json",
            "errors.hex",
        ])
        .output()
        .unwrap();
    let json = String::from_utf8(json.stdout).unwrap();
    assert!(
        !json.contains('\x1b'),
        "JSON is never coloured and escapes ESC"
    );
    assert!(json.contains(r"evil \u001b[31mred\u001b[0m \u202egnp.exe"));
    serde_json::from_str::<serde_json::Value>(&json).unwrap();
}

#[test]
fn pins_match_and_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let pins = dir.path().join("pins.json");
    let key = secret("identity-0.pub.hex");
    sbrp()
        .args(["pin", "add", "--pins"])
        .arg(&pins)
        .args(["daemon-001", &key])
        .assert()
        .success();
    let run = |id: &str| {
        let out = sbrp()
            .args(["decode", "--format", "ndjson", "--daemon-id", id, "--pins"])
            .arg(&pins)
            .arg("session.hex")
            .output()
            .unwrap();
        let accept: serde_json::Value = serde_json::from_str(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .nth(3)
                .unwrap(),
        )
        .unwrap();
        accept
    };
    let a = run("daemon-001");
    assert_eq!(a["pin"], "match");
    assert_eq!(a["signature_valid"], true);
    let a = run("other-daemon");
    assert_eq!(a["pin"], "not_pinned");
    // Pin another key for daemon-001: the capture's key no longer matches.
    std::fs::remove_file(&pins).unwrap();
    sbrp()
        .args(["pin", "add", "--pins"])
        .arg(&pins)
        .args(["daemon-001", &"11".repeat(32)])
        .assert()
        .success();
    let a = run("daemon-001");
    assert_eq!(a["pin"], "mismatch");
    let codes: Vec<&str> = a["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    // Two facts, one diagnostic each: the pin differs, and the accept is correctly signed
    // by the key it presents.
    assert_eq!(codes, ["identity_key_changed"]);
    assert_eq!(a["signature_valid"], true);
}

#[test]
fn selftest_keylog_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let keylog = dir.path().join("keys.log");
    let capture = dir.path().join("capture.bin");
    sbrp()
        .args(["selftest", "--keylog"])
        .arg(&keylog)
        .arg("--capture")
        .arg(&capture)
        .assert()
        .success();
    let out = sbrp()
        .args(["decode", "--format", "ndjson", "--keylog"])
        .arg(&keylog)
        .arg(&capture)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = v.last().unwrap();
    assert_eq!(summary["complete"], true);
    assert!(summary["decrypt_attempted"].as_u64().unwrap() >= 2);
    let texts: Vec<&str> = v
        .iter()
        .filter(|f| f["authenticated"] == true)
        .filter_map(|f| f["plaintext_utf8"].as_str())
        .collect();
    assert!(texts.contains(&"hello daemon"), "{texts:?}");
    assert!(texts.contains(&"hello client"), "{texts:?}");
    // Every Data frame of the loopback session was tried with the logged keys.
    for f in v.iter().filter(|f| f["type"] == "Data") {
        assert!(f.get("authenticated").is_some(), "{f}");
    }
}

#[test]
fn library_keylog_round_trip() {
    use sbrp::{ClientHandshake, Daemon, Frame, IdentityKeyPair, SessionId};
    let daemon = Daemon::new(IdentityKeyPair::generate().unwrap(), "lib-daemon");
    let sid = SessionId::new(0x5eed).unwrap();
    let client = ClientHandshake::start("lib-daemon", sid).unwrap();
    let init = client.init();
    let (accept, mut ds) = daemon.accept(&init).unwrap();
    let mut cs = client
        .finish(&accept, &daemon.identity().public_key())
        .unwrap();
    let mut capture = Frame::HandshakeInit(init).to_vec();
    capture.extend(Frame::HandshakeAccept(accept).to_vec());
    capture.extend(cs.encrypt_frame(sid, b"ping \xe2\x9c\x93").unwrap());
    capture.extend(ds.encrypt_frame(sid, &[0, 1, 2, 255]).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let keylog = dir.path().join("k.log");
    std::fs::write(
        &keylog,
        sbrp::keylog::format_session(sid.get(), cs.keys()).as_bytes(),
    )
    .unwrap();
    let mut args = vec!["--keylog".to_owned(), keylog.display().to_string()];
    args.push("-".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let v = ndjson(&args, Some(capture));
    assert_eq!(v[2]["plaintext_utf8"], "ping ✓");
    assert_eq!(v[3]["plaintext_hex"], "000102ff");
    assert!(v[3].get("plaintext_utf8").is_none());
    assert_eq!(v[3]["direction"], "daemon_to_client");
}

/// Output appears as frames arrive: one frame in, its line out, while stdin stays open.
#[test]
fn live_pipe_output_keeps_pace() {
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("sbrp"))
        .args(["decode", "--input", "raw", "--format", "ndjson", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    // A generous guard so that a regression fails instead of hanging; not a timing check.
    let guard = std::time::Duration::from_secs(120);
    for i in 0..3u8 {
        stdin
            .write_all(&hex::decode(format!("10000000010000000000000000{i:02x}")).unwrap())
            .unwrap();
        stdin.flush().unwrap();
        let line = rx
            .recv_timeout(guard)
            .expect("no output for a frame on a live pipe");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["index"], u64::from(i));
        assert_eq!(v["payload_hex"], format!("{i:02x}"));
    }
    drop(stdin);
    let summary = rx.recv_timeout(guard).unwrap();
    assert!(summary.contains("\"record\":\"summary\""));
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
}

#[test]
fn closed_stdout_ends_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = StdCommand::new(assert_cmd::cargo::cargo_bin("sbrp"))
        .args(["decode", "multi.hex"])
        .current_dir(data())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak memory stays small while at least 1 GiB streams through a pipe. Measures the
/// child's peak resident set (`VmHWM` in /proc) just before closing its stdin.
#[test]
fn one_gib_through_a_pipe_in_bounded_memory() {
    if !Path::new("/proc/self/status").exists() {
        eprintln!("skipped: needs /proc");
        return;
    }
    const GIB: u64 = 1 << 30;
    // A burst of maximum-size Data frames (each straddles reads, so the framer buffers it),
    // plus small frames of many sessions.
    let mut burst = Vec::new();
    let mut big = vec![0x03, 0x00, 0x01, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 7];
    big.extend_from_slice(&[0, 0, 0, 1]);
    big.extend(std::iter::repeat_n(0xa5, 65536 - 4));
    for _ in 0..15 {
        burst.extend_from_slice(&big);
    }
    for sid in 1..=64u64 {
        let mut f = vec![0x03, 0, 0, 0, 28];
        f.extend_from_slice(&sid.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 2]);
        f.extend_from_slice(&sid.to_be_bytes());
        f.extend_from_slice(&[0; 16]);
        burst.extend_from_slice(&f);
    }
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("sbrp"))
        .args(["decode", "--input", "raw", "--format", "ndjson", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdout = child.stdout.take().unwrap();
    let counter = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut lines = 0u64;
        let mut last = Vec::new();
        loop {
            let n = stdout.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            last.extend_from_slice(&buf[..n]);
            if last.len() > 8192 {
                last.drain(..last.len() - 4096);
            }
        }
        (lines, last)
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut sent = 0u64;
    let mut bursts = 0u64;
    let mut peak = 0;
    while sent < GIB {
        stdin.write_all(&burst).unwrap();
        sent += burst.len() as u64;
        bursts += 1;
        if bursts.is_multiple_of(64) {
            peak = peak.max(vm_hwm_kib(pid).unwrap_or(0));
        }
    }
    stdin.flush().unwrap();
    peak = peak.max(vm_hwm_kib(pid).unwrap_or(0));
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let (lines, last) = counter.join().unwrap();
    let frames = bursts * (15 + 64);
    assert_eq!(lines, frames + 1, "one line per frame and a summary");
    let last = String::from_utf8_lossy(&last);
    assert!(last.contains(&format!("\"bytes\":{sent}")), "{last}");
    assert!(last.contains("\"complete\":true"), "{last}");
    assert!(peak > 0, "VmHWM could not be read");
    assert!(
        peak < 32 * 1024,
        "peak RSS {peak} KiB while decoding {sent} bytes"
    );
    eprintln!("decoded {sent} bytes in {frames} frames, peak RSS {peak} KiB");
}
