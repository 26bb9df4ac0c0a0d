//! `sbrp decode` against hostile input, on the real binary in temp dirs (issue 8): junk
//! sessions of every frame type cannot hide tampering or replays of a real session, counts
//! stay true, every file read is capped, a failed input never reads as a clean result, and
//! `--input auto` refuses text that is no capture.

#[path = "common/peer.rs"]
mod peer;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

use sbrp::frame::HEADER_LEN;
use sbrp::{ClientHandshake, Daemon, Frame, IdentityKeyPair, SessionId};

fn sbrp() -> Command {
    let mut cmd = Command::cargo_bin("sbrp").unwrap();
    cmd.env("NO_COLOR", "1")
        .env_remove("SBRP_PINS")
        .env_remove("SBRP_KEYLOGFILE")
        .timeout(Duration::from_secs(120));
    cmd
}

/// A real session: its frames (handshake, Data both ways, one tampered frame and one replay,
/// in that order at the end) and its key log.
struct Real {
    sid: u64,
    frames: Vec<Vec<u8>>,
    keylog: String,
    /// Index in `frames` of the tampered frame and of the replay.
    tampered: usize,
    replayed: usize,
}

fn real_session(sid: u64) -> Real {
    let daemon = Daemon::new(IdentityKeyPair::from_seed(&[9; 32]), "d");
    let id = SessionId::new(sid).unwrap();
    let client = ClientHandshake::start("d", id).unwrap();
    let init = client.init();
    let (accept, mut ds) = daemon.accept(&init).unwrap();
    let mut cs = client
        .finish(&accept, &daemon.identity().public_key())
        .unwrap();
    let keylog = sbrp::keylog::format_session(sid, cs.keys()).to_string();
    let mut frames = vec![
        Frame::HandshakeInit(init).to_vec(),
        Frame::HandshakeAccept(accept).to_vec(),
    ];
    for i in 0..3 {
        frames.push(
            cs.encrypt_frame(id, format!("hello {i}").as_bytes())
                .unwrap(),
        );
        frames.push(
            ds.encrypt_frame(id, format!("reply {i}").as_bytes())
                .unwrap(),
        );
    }
    let mut tampered = cs.encrypt_frame(id, b"tamper me").unwrap();
    tampered[HEADER_LEN + 12] ^= 1;
    frames.push(tampered);
    let replay = frames[4].clone();
    frames.push(replay);
    let n = frames.len();
    Real {
        sid,
        frames,
        keylog,
        tampered: n - 2,
        replayed: n - 1,
    }
}

/// A junk frame of session `sid` of one of several shapes.
fn junk(shape: u8, sid: u64) -> Vec<u8> {
    let (t, len): (u8, usize) = match shape % 5 {
        0 => (0x01, 32),  // HandshakeInit
        1 => (0x02, 128), // HandshakeAccept
        2 => (0x03, 40),  // Data (keyless: no key for these sessions)
        3 => (0x04, 2),   // Signal
        _ => (0x03, 28),  // empty Data
    };
    let mut f = vec![t];
    f.extend_from_slice(&(len as u32).to_be_bytes());
    f.extend_from_slice(&sid.to_be_bytes());
    let mut body = vec![(sid % 251) as u8; len];
    if t == 0x03 {
        body[..4].copy_from_slice(&[0, 0, 0, 1 + (sid % 2) as u8]);
    }
    if t == 0x04 {
        body = vec![0, 0];
    }
    f.extend_from_slice(&body);
    f
}

/// Writes a capture: `junk_before` junk sessions, the real session's frames with `between`
/// junk sessions between each of them, all junk of the given shape.
fn capture(
    dir: &Path,
    real: &Real,
    shape: u8,
    junk_before: u64,
    between: u64,
) -> std::path::PathBuf {
    let path = dir.join(format!("cap-{shape}-{junk_before}-{between}.bin"));
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut next = 1_000_000u64;
    for _ in 0..junk_before {
        w.write_all(&junk(shape, next)).unwrap();
        next += 1;
    }
    for f in &real.frames {
        w.write_all(f).unwrap();
        for _ in 0..between {
            w.write_all(&junk(shape, next)).unwrap();
            next += 1;
        }
    }
    w.flush().unwrap();
    path
}

fn ndjson(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn codes(rec: &Value) -> Vec<String> {
    rec["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn junk_sessions_of_any_type_cannot_hide_tampering_or_replays() {
    let dir = tempfile::tempdir().unwrap();
    let real = real_session(77);
    let keylog = dir.path().join("keys.log");
    std::fs::write(&keylog, &real.keylog).unwrap();
    // (junk before, junk between each real frame): more keyless sessions than are tracked at
    // once, and more distinct ids than are counted exactly.
    for (shape, before, between) in [
        (0u8, 150_000, 0),
        (2, 5_000, 600),
        (1, 0, 9_000),
        (3, 20_000, 3_000),
        (4, 110_000, 10),
    ] {
        let cap = capture(dir.path(), &real, shape, before, between);
        let total_sessions = before + between * real.frames.len() as u64 + 1;
        let out = sbrp()
            .args(["decode", "--format", "ndjson", "--keylog"])
            .arg(&keylog)
            .arg(&cap)
            .output()
            .unwrap();
        peer::assert_exit(&out, 0);
        let recs = ndjson(&out.stdout);
        let real_sid = real.sid.to_string();
        let mine: Vec<&Value> = recs
            .iter()
            .filter(|r| {
                r["record"] == "frame" && r["session_id"].as_str() == Some(real_sid.as_str())
            })
            .collect();
        assert_eq!(mine.len(), real.frames.len(), "shape {shape}");
        for (i, r) in mine.iter().enumerate() {
            let c = codes(r);
            if i == real.tampered {
                assert_eq!(c, ["decrypt_failed"], "shape {shape}: {r}");
            } else if i == real.replayed {
                assert_eq!(c, ["sequence_error"], "shape {shape}: {r}");
                assert_eq!(r["authenticated"], true, "a replay of a genuine frame");
            } else {
                assert!(c.is_empty(), "shape {shape}, frame {i}: {r}");
                if r["type"] == "Data" {
                    assert_eq!(r["authenticated"], true, "shape {shape}: {r}");
                }
            }
        }
        let summary = recs.last().unwrap();
        assert_eq!(summary["record"], "summary");
        let limits: Vec<&Value> = summary["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["code"] == "tracking_limit")
            .collect();
        if total_sessions > 100_000 {
            assert_eq!(summary["sessions_exact"], false, "shape {shape}");
            assert_eq!(summary["sessions"], 100_000);
            assert!(
                limits
                    .iter()
                    .any(|d| d["message"].as_str().unwrap().contains("lower bound"))
            );
        } else {
            assert_eq!(summary["sessions_exact"], true, "shape {shape}");
            assert_eq!(summary["sessions"], total_sessions, "shape {shape}");
        }
        // More keyless sessions than tracked at once: some were evicted, and it is said.
        assert!(
            summary["sessions_evicted"].as_u64().unwrap() > 0,
            "shape {shape}"
        );
        assert!(
            limits
                .iter()
                .any(|d| d["message"].as_str().unwrap().contains("evicted"))
        );
        assert_eq!(
            summary["diagnostics_by_code"]["decrypt_failed"], 1,
            "shape {shape}"
        );
        assert!(
            summary["diagnostics_by_code"]["tracking_limit"]
                .as_u64()
                .unwrap()
                >= 1
        );

        // Text: the count is true ("more than N" beyond the bound); --strict fails.
        let out = sbrp()
            .args(["decode", "--strict", "--keylog"])
            .arg(&keylog)
            .arg(&cap)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(6), "shape {shape}");
        let text = String::from_utf8_lossy(&out.stdout);
        let want = if total_sessions > 100_000 {
            "more than 100000 sessions".to_owned()
        } else {
            format!("{total_sessions} sessions")
        };
        assert!(text.contains(&want), "shape {shape}: {want}");
        assert!(text.contains("-- tracking_limit at "), "shape {shape}");
        assert!(!text.contains("diagnostics: none"));
    }
}

#[test]
fn a_keyless_repeat_is_a_sequence_error_marked_unauthenticated() {
    let dir = tempfile::tempdir().unwrap();
    let real = real_session(5);
    let cap = dir.path().join("c.bin");
    // Without the key log: the replay of frames[4] is still noticed, the tampered one is not
    // (nothing can tell without a key).
    std::fs::write(&cap, real.frames.concat()).unwrap();
    let out = sbrp()
        .args(["decode", "--json"])
        .arg(&cap)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let frames = doc["frames"].as_array().unwrap();
    let replay = &frames[real.replayed];
    assert_eq!(codes(replay), ["sequence_error"]);
    assert_eq!(replay["diagnostics"][0]["unauthenticated"], true);
    assert!(replay.get("authenticated").is_none());
    let flagged: Vec<usize> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| !codes(f).is_empty())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(flagged, [real.replayed]);
    // Text shows the mark; --strict counts it.
    sbrp()
        .args(["decode", "--strict"])
        .arg(&cap)
        .assert()
        .code(6)
        .stdout(
            predicates::str::contains("sequence_error at")
                .and(predicates::str::contains("(unauthenticated)")),
        );
}

use predicates::prelude::*;

#[test]
fn every_file_read_is_capped_and_devices_neither_hang_nor_grow() {
    let dir = tempfile::tempdir().unwrap();
    let ping = dir.path().join("ping.hex");
    std::fs::write(&ping, "10 00000000 0000000000000000\n").unwrap();
    for (args, names) in [
        (vec!["--keylog", "/dev/zero"], "/dev/zero"),
        (vec!["--keylog", "/dev/urandom"], "/dev/urandom"),
        (
            vec!["--daemon-id", "d", "--client-ephemeral", "@/dev/zero"],
            "/dev/zero",
        ),
        (
            vec!["--daemon-id", "d", "--daemon-ephemeral", "@/dev/urandom"],
            "/dev/urandom",
        ),
    ] {
        let out = sbrp()
            .arg("decode")
            .args(&args)
            .arg(&ping)
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(names), "{args:?}: {err}");
        assert!(
            err.contains("KiB")
                || err.contains("MiB")
                || err.contains("not UTF-8")
                || err.contains("invalid key log"),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // The cap is named when a key log or a secret file is too large.
    let big = dir.path().join("big");
    std::fs::write(&big, "0".repeat(5000)).unwrap();
    let at = format!("@{}", big.display());
    sbrp()
        .args(["decode", "--daemon-id", "d", "--client-ephemeral", &at])
        .arg(&ping)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("4 KiB (4096 bytes)"));
    let long = dir.path().join("long.log");
    std::fs::write(&long, format!("# {}\n", "x".repeat(5000))).unwrap();
    sbrp()
        .args(["decode", "--keylog"])
        .arg(&long)
        .arg(&ping)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("line 1 of key log").and(predicate::str::contains("4 KiB")),
        );
    // Captures are streams: devices end quickly, as a fatal header or invalid text.
    for (args, code) in [
        (vec!["/dev/zero"], 0),
        (vec!["/dev/urandom"], 0),
        (vec!["--input", "hex", "/dev/zero"], 1),
        (vec!["--input", "base64", "/dev/urandom"], 1),
        (vec!["--input", "raw", "/dev/zero"], 0),
    ] {
        let out = sbrp()
            .arg("decode")
            .args(&args)
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_key_log_with_many_sessions_and_repeats_loads_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let real = real_session(3);
    let mut log = String::with_capacity(60 << 20);
    for sid in 1_000u64..201_000 {
        log.push_str(&format!(
            "CLIENT_TO_DAEMON {sid:016x} {}\n",
            "ab".repeat(32)
        ));
    }
    // One session id repeated with many keys: the first 4 are kept, the rest warned about;
    // the real keys come first, so they are kept.
    log.push_str(&real.keylog);
    for i in 0..1000u32 {
        log.push_str(&format!("CLIENT_TO_DAEMON {:016x} {:064x}\n", real.sid, i));
    }
    let keylog = dir.path().join("big.log");
    std::fs::write(&keylog, log).unwrap();
    let cap = dir.path().join("c.bin");
    std::fs::write(&cap, real.frames.concat()).unwrap();
    let out = sbrp()
        .args(["decode", "--format", "ndjson", "--keylog"])
        .arg(&keylog)
        .arg(&cap)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("997 keys ignored") && err.contains("at most 4 keys"),
        "{err}"
    );
    let summary = ndjson(&out.stdout).pop().unwrap();
    // Six Data frames and the replay of one of them authenticate.
    assert_eq!(summary["authenticated"], 7);
    assert_eq!(summary["decrypt_failed"], 1);
}

#[test]
fn nothing_reads_as_success_when_the_input_failed() {
    let dir = tempfile::tempdir().unwrap();
    let b64 = dir.path().join("frames.b64");
    std::fs::write(&b64, "EAAAAAAAAAAAAAAAAA==\n").unwrap();
    let garbage = dir.path().join("garbage.txt");
    std::fs::write(
        &garbage,
        "10 00000000 0000000000000000\n!!! not base64 ???\n",
    )
    .unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![dir.path().display().to_string()], "read_failed"),
        (
            vec!["--input".into(), "hex".into(), b64.display().to_string()],
            "invalid_text",
        ),
        (
            vec![
                "--input".into(),
                "base64".into(),
                garbage.display().to_string(),
            ],
            "invalid_text",
        ),
        (
            vec![dir.path().join("missing").display().to_string()],
            "read_failed",
        ),
        (
            vec![
                "--keylog".into(),
                "/dev/zero".into(),
                b64.display().to_string(),
            ],
            "bad_option",
        ),
    ];
    for (args, code) in &cases {
        for format in [
            ["--format", "json"],
            ["--format", "ndjson"],
            ["--json", "--strict"],
        ] {
            let out = sbrp()
                .arg("decode")
                .args(format)
                .args(args)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{args:?} {format:?}");
            let text = String::from_utf8_lossy(&out.stdout);
            let last = text.lines().last().unwrap_or_default().to_owned();
            let doc: Value = if format[1] == "ndjson" {
                serde_json::from_str(&last).unwrap()
            } else {
                serde_json::from_str::<Value>(&text).unwrap()
            };
            // One document, never a second one after it.
            assert!(!text.contains("sbrp.error/1"), "{args:?}: {text}");
            let summary = if format[1] == "ndjson" {
                doc
            } else {
                doc["summary"].clone()
            };
            assert_eq!(summary["ok"], false, "{args:?} {format:?}: {text}");
            assert_eq!(summary["complete"], false, "{args:?}");
            assert_eq!(summary["error"]["code"], *code, "{args:?}");
            assert!(!summary["error"]["message"].as_str().unwrap().is_empty());
        }
        let out = sbrp().arg("decode").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("diagnostics: none\n"), "{args:?}: {text}");
        if !text.is_empty() {
            assert!(text.contains("INPUT FAILED"), "{args:?}: {text}");
        }
    }
}

#[test]
fn auto_detection_refuses_text_that_is_no_capture() {
    for text in [
        "hello world\n",
        "deadbeef cafe\n",
        "The quick brown fox\njumps\n",
        "ffff\n",
    ] {
        let out = sbrp()
            .args(["decode", "--format", "json"])
            .write_stdin(text)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{text:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("not an SBRP capture in any known form"),
            "{err}"
        );
        for form in ["hex (", "base64 (", "raw ("] {
            assert!(err.contains(form), "{text:?}: {err}");
        }
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["summary"]["error"]["code"], "unknown_input");
        assert_eq!(doc["frames"].as_array().unwrap().len(), 0);
    }
    // Real captures in each text form still decode.
    for text in ["10 00000000 0000000000000000\n", "EAAAAAAAAAAAAAAAAA==\n"] {
        sbrp()
            .args(["decode", "--strict"])
            .write_stdin(text)
            .assert()
            .success()
            .stdout(predicate::str::contains("Ping"));
    }
}

#[test]
fn json_is_an_alias_of_format_json() {
    let input = "10 00000000 0000000000000000\n";
    let a = sbrp()
        .args(["decode", "--json"])
        .write_stdin(input)
        .output()
        .unwrap();
    let b = sbrp()
        .args(["decode", "--format", "json"])
        .write_stdin(input)
        .output()
        .unwrap();
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    sbrp()
        .args(["decode", "--json", "--format", "ndjson"])
        .write_stdin(input)
        .assert()
        .code(2);
}
