//! `sbrp decode` at the SBP/RPC level: golden outputs over `tests/data/decode/sbp-session.hex`
//! and `sbp.har` (built by `make_sbp_corpus.py` from the wire format, sealed with the keys of
//! `sbp.keylog`), and HAR files that this test assembles in Chrome's layout from the same
//! frames: several sockets, text messages, messages that are not exactly one frame, token
//! redaction, auto-detection.
//!
//! Refresh the golden files with `SBRP_BLESS=1 cargo test --test decode_sbp` and review.

#[path = "common/peer.rs"]
mod peer;

use std::path::PathBuf;

use assert_cmd::Command;
use base64::Engine as _;
use serde_json::{Value, json};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/decode")
}

fn sbrp() -> Command {
    let mut cmd = Command::cargo_bin("sbrp").unwrap();
    cmd.env_remove("NO_COLOR")
        .env_remove("SBRP_PINS")
        .env_remove("SBRP_KEYLOGFILE")
        .current_dir(data());
    cmd
}

fn golden(expected: &str, args: &[&str], code: i32) {
    let out = sbrp().arg("decode").args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = data().join(expected);
    if std::env::var_os("SBRP_BLESS").is_some_and(|v| !v.is_empty()) {
        std::fs::write(&path, &out.stdout).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_default();
    assert!(
        want == out.stdout,
        "{expected} differs (run `SBRP_BLESS=1 cargo test --test decode_sbp` and review):\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn golden_sbp_session() {
    let k = ["--keylog", "sbp.keylog"];
    golden(
        "sbp-session.out.txt",
        &[&k[..], &["sbp-session.hex"]].concat(),
        0,
    );
    golden(
        "sbp-session.verbose.out.txt",
        &[&k[..], &["-v", "sbp-session.hex"]].concat(),
        0,
    );
    golden(
        "sbp-session.out.ndjson",
        &[&k[..], &["--format", "ndjson", "sbp-session.hex"]].concat(),
        0,
    );
    golden("sbp.har.out.txt", &[&k[..], &["sbp.har"]].concat(), 0);
    golden(
        "sbp.har.out.json",
        &[&k[..], &["--format", "json", "sbp.har"]].concat(),
        0,
    );
}

/// The frames of `sbp-session.hex` (one per non-comment line).
fn corpus_frames() -> Vec<Vec<u8>> {
    std::fs::read_to_string(data().join("sbp-session.hex"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| hex::decode(l.trim()).unwrap())
        .collect()
}

fn sid(frame: &[u8]) -> u64 {
    u64::from_be_bytes(frame[5..13].try_into().unwrap())
}

/// The nonce direction of a Data frame: 1 client→daemon (the browser sends), 2 receives.
fn sends(frame: &[u8]) -> bool {
    u32::from_be_bytes(frame[13..17].try_into().unwrap()) == 1
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn ws_entry(url: &str, msgs: Vec<Value>) -> Value {
    json!({
        "_resourceType": "websocket",
        "startedDateTime": "2025-12-01T20:13:20.000Z",
        "request": {"method": "GET", "url": url, "headers": []},
        "response": {"status": 101, "statusText": "Switching Protocols"},
        "_webSocketMessages": msgs,
    })
}

fn har(entries: Vec<Value>) -> String {
    json!({"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"},
        "pages": [], "entries": entries}})
    .to_string()
}

fn decode_json(input: &str, extra: &[&str]) -> (Value, String) {
    let out = sbrp()
        .args(["decode", "--keylog", "sbp.keylog", "--format", "json"])
        .args(extra)
        .write_stdin(input.to_owned())
        .output()
        .unwrap();
    peer::assert_exit(&out, 0);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    (serde_json::from_str(&stdout).unwrap(), stdout + &stderr)
}

#[test]
fn har_built_in_chrome_layout() {
    let frames = corpus_frames();
    let s1: Vec<&Vec<u8>> = frames.iter().filter(|f| sid(f) == 1).collect();
    let s2: Vec<&Vec<u8>> = frames.iter().filter(|f| sid(f) == 2).collect();
    assert!(s1.len() > 10 && s2.len() == 2);
    let t0 = 1_800_000_000.0_f64;
    let msgs1: Vec<Value> = s1
        .iter()
        .enumerate()
        .map(|(i, f)| {
            json!({"type": if sends(f) {"send"} else {"receive"}, "time": t0 + i as f64 * 0.010,
                   "opcode": 2, "data": b64(f)})
        })
        .collect();
    let two = [s2[0].as_slice(), s2[1].as_slice()].concat();
    let msgs2 = vec![
        json!({"type": "send", "time": t0, "opcode": 1, "data": "{\"t\":\"text\"}"}),
        json!({"type": "send", "time": t0 + 0.001, "opcode": 2, "data": b64(s2[0])}),
        json!({"type": "receive", "time": t0 + 0.002, "opcode": 2, "data": b64(&two)}),
        json!({"type": "receive", "time": t0 + 0.003, "opcode": 2, "data": b64(&s2[1][..20])}),
        json!({"type": "send", "time": t0 + 0.004, "opcode": 2, "data": ""}),
    ];
    let token = "eyJhbGciOiJFZERTQSJ9.SECRET-CLAIMS.SECRET-SIG";
    let doc = har(vec![
        json!({"_resourceType": "document", "request": {"url": "https://app.example/"}}),
        ws_entry(
            &format!("wss://relay.example/connect?token={token}&region=eu"),
            msgs1,
        ),
        ws_entry("wss://relay.example/connect?token=another-secret", msgs2),
        ws_entry("wss://relay.example/idle?token=third-secret", vec![]),
    ]);

    let (v, all) = decode_json(&doc, &[]);
    assert!(
        !all.contains("SECRET") && !all.contains("another-secret") && !all.contains("third-secret"),
        "a token leaked"
    );
    let summary = &v["summary"];
    assert_eq!(summary["input"], "har");
    let sockets = summary["sockets"].as_array().unwrap();
    assert_eq!(sockets.len(), 3);
    assert_eq!(
        sockets[0]["url"],
        "wss://relay.example/connect?token=REDACTED&region=eu"
    );
    assert_eq!(sockets[0]["binary_messages"], s1.len());
    assert_eq!(sockets[0]["frames"], s1.len());
    assert_eq!(sockets[1]["text_skipped"], 1);
    assert_eq!(sockets[1]["binary_messages"], 4);
    assert_eq!(sockets[2]["frames"], 0);

    // Frames carry their socket, direction and time; sockets are not mixed.
    let recs = v["frames"].as_array().unwrap();
    assert_eq!(recs.len(), s1.len() + 1 + 2);
    for (i, r) in recs.iter().take(s1.len()).enumerate() {
        assert_eq!(r["websocket"]["socket"], 1);
        let dir = if sends(s1[i]) { "send" } else { "receive" };
        assert_eq!(r["websocket"]["direction"], dir);
        assert_eq!(
            r["direction"],
            if sends(s1[i]) {
                "client_to_daemon"
            } else {
                "daemon_to_client"
            }
        );
    }
    assert!(
        recs[s1.len()..]
            .iter()
            .all(|r| r["websocket"]["socket"] == 2)
    );

    // Messages that are not exactly one frame: malformed_frame, in the stream diagnostics.
    let diags: Vec<String> = summary["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["code"].as_str().unwrap(),
                d["message"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        diags
            .iter()
            .any(|d| d.starts_with("malformed_frame") && d.contains("carries 2 SBRP frames")),
        "{diags:?}"
    );
    assert!(
        diags
            .iter()
            .any(|d| d.starts_with("malformed_frame") && d.contains("truncated")),
        "{diags:?}"
    );
    assert!(
        diags
            .iter()
            .any(|d| d.starts_with("malformed_frame") && d.contains("is empty")),
        "{diags:?}"
    );

    // RPC pairing used the capture times: 10 ms per message in socket 1.
    let responses: Vec<&Value> = recs
        .iter()
        .filter(|r| {
            matches!(r["sbp"]["rpc"]["t"].as_str(), Some("R" | "E"))
                && r["sbp"]["rpc"]["request_index"].is_number()
        })
        .collect();
    assert!(!responses.is_empty());
    for r in responses {
        let req = r["sbp"]["rpc"]["request_index"].as_u64().unwrap();
        let idx = r["index"].as_u64().unwrap();
        let want = (idx - req) as f64 * 10.0;
        let got = r["sbp"]["rpc"]["rtt_ms"].as_f64().unwrap();
        assert!((got - want).abs() < 0.01, "rtt {got} vs {want}");
        assert_eq!(r["sbp"]["rpc"]["rtt_source"], "capture");
        // The response's cid is the request frame's id.
        assert_eq!(
            r["sbp"]["rpc"]["cid"],
            recs[req as usize]["sbp"]["frame_id"]
        );
    }

    // Session 2 is bare SBRP: notes, never an SBP diagnostic (R13).
    for r in &recs[s1.len()..] {
        assert!(r.get("sbp").is_none());
        // (The frame repeated inside the two-frame message is a replay: sequence_error is an
        // SBRP code, which is right; no SBP or RPC code may appear.)
        for d in r["diagnostics"].as_array().unwrap() {
            let code = d["code"].as_str().unwrap();
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{r}"
            );
        }
        assert!(r["notes"][0].as_str().unwrap().contains("not an SBP frame"));
        assert!(r["plaintext_hex"].is_string());
    }

    // --input har reads the same; text output names the sockets.
    let (explicit, _) = decode_json(&doc, &["--input", "har"]);
    assert_eq!(explicit, v);
    let text = sbrp()
        .args(["decode", "--keylog", "sbp.keylog", "--color", "never"])
        .write_stdin(doc)
        .output()
        .unwrap();
    let stdout = String::from_utf8(text.stdout).unwrap();
    let stderr = String::from_utf8(text.stderr).unwrap();
    assert!(stdout.contains("== socket 1 wss://relay.example/connect?token=REDACTED&region=eu"));
    assert!(stdout.contains("== socket 3"));
    assert!(stderr.contains("1 text message skipped"), "{stderr}");
}

#[test]
fn json_that_is_not_a_har_is_refused() {
    let out = sbrp()
        .args(["decode", "-"])
        .write_stdin("{\"hello\": 1}")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a HAR file"), "{err}");
    let out = sbrp()
        .args(["decode", "--input", "har", "--format", "json", "-"])
        .write_stdin("not json at all")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn strict_counts_sbp_diagnostics() {
    // The corpus breaks SBP and RPC rules on purpose: --strict exits 6.
    let out = sbrp()
        .args([
            "decode",
            "--strict",
            "--keylog",
            "sbp.keylog",
            "sbp-session.hex",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
}
