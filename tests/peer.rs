//! `sbrp peer daemon|client` end to end: over --exec, stdio pipes and TCP on 127.0.0.1, plus
//! the failure exits (changed key 4, strict and unknown 3, garbage 6, handshake timeout 6).
//! Round-trip times are reported, never asserted.

#[path = "common/peer.rs"]
mod peer;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use assert_cmd::cargo::cargo_bin;
use peer::{assert_exit, key_dir as setup, sbrp, tcp_daemon};

fn daemon_cmd(key: &Path, id: &str) -> String {
    format!(
        "'{}' peer daemon -q --key '{}' --daemon-id {id}",
        cargo_bin("sbrp").display(),
        key.display()
    )
}

fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out)))
}

#[test]
fn client_and_daemon_over_exec_with_json() {
    let (dir, key, pk) = setup();
    for raw in [true, false] {
        let mode: &[&str] = if raw { &["--raw"] } else { &[] };
        let daemon = daemon_cmd(&key, "d1") + if raw { " --raw" } else { "" };
        let out = sbrp()
            .args(["peer", "client", "--daemon-id", "d1", "--identity-key", &pk])
            .args(["--count", "6", "--message", "hello", "--ping", "--json"])
            .args(mode)
            .args(["--exec", &daemon])
            .env("SBRP_HOME", dir.path())
            .output()
            .unwrap();
        assert_exit(&out, 0);
        let v = json(&out.stdout);
        assert_eq!(v["schema"], "sbrp.peer-client/1");
        assert_eq!(v["ok"], true);
        assert_eq!(v["sent"], 7);
        assert_eq!(v["matched"], 7);
        assert_eq!(v["fingerprint"].as_str().unwrap().len(), 102);
        if raw {
            assert_eq!(v["mode"], "raw");
            assert_eq!(v["messages"][6]["size"], 65508);
        } else {
            // SBP: echo calls of strings up to the largest that fits a Data plaintext.
            assert_eq!(v["mode"], "sbp");
            assert_eq!(v["peer_id"], "sbrp-daemon-d1");
            assert_eq!(v["messages"][0]["size"], 5);
            assert_eq!(v["messages"][6]["size"], 65000);
        }
        assert!(v["ping_ms"].is_number());
        // u64 values are decimal strings in JSON.
        let sid = v["session_id"].as_str().unwrap();
        assert_ne!(sid.parse::<u64>().unwrap(), 0);
    }
}

#[test]
fn client_and_daemon_over_stdio_pipes() {
    let (_dir, key, pk) = setup();
    for raw in [true, false] {
        let mode: &[&str] = if raw { &["--raw"] } else { &[] };
        let (c2d_r, c2d_w) = std::io::pipe().unwrap();
        let (d2c_r, d2c_w) = std::io::pipe().unwrap();
        let daemon = sbrp()
            .args(["peer", "daemon", "--daemon-id", "d2", "--key"])
            .arg(&key)
            .args(mode)
            .stdin(c2d_r)
            .stdout(d2c_w)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let client = sbrp()
            .args(["peer", "client", "--daemon-id", "d2", "--identity-key", &pk])
            .args(["--count", "4", "--session-id", "42"])
            .args(mode)
            .stdin(d2c_r)
            .stdout(c2d_w)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&client.stderr);
        assert_eq!(client.status.code(), Some(0), "{stderr}");
        // In stdio mode the report goes to stderr.
        assert!(stderr.contains("4 sent, 4 matched"), "{stderr}");
        // The client closed its end: the daemon ends cleanly at end of input.
        let d = daemon.wait_with_output().unwrap();
        let dlog = String::from_utf8_lossy(&d.stderr);
        assert_eq!(d.status.code(), Some(0), "{dlog}");
        assert!(dlog.contains("session 42: handshake done"), "{dlog}");
        if raw {
            assert!(dlog.contains("session 42: echoed 65508 bytes"), "{dlog}");
        } else {
            assert!(
                dlog.contains("session 42: SBP handshake from sbrp-client-42"),
                "{dlog}"
            );
            assert_eq!(
                dlog.matches("session 42: rpc $sideband/echo answered")
                    .count(),
                4,
                "{dlog}"
            );
        }
    }
}

#[test]
fn client_and_daemon_over_tcp_loopback() {
    let (dir, key, pk) = setup();
    let (mut daemon, _stderr, addr) = tcp_daemon(&key, "d3");
    // Two clients, one after the other, the second through the pin file (accept-new, then
    // strict finds the pin).
    let pins = dir.path().join("pins.json");
    for policy in ["accept-new", "strict"] {
        let out = sbrp()
            .args(["peer", "client", "--daemon-id", "d3", "--connect", &addr])
            .args(["--count", "3", "--json", "--policy", policy, "--pins"])
            .arg(&pins)
            .output()
            .unwrap();
        assert_exit(&out, 0);
        let v = json(&out.stdout);
        assert_eq!(v["matched"], 3);
    }
    let out = sbrp()
        .args(["peer", "client", "--daemon-id", "d3", "--connect", &addr])
        .args(["--identity-key", &pk, "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}

#[test]
fn changed_key_exits_4_and_unknown_strict_exits_3() {
    let (dir, key, _pk) = setup();
    let other = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let out = sbrp()
        .args([
            "peer",
            "client",
            "--daemon-id",
            "d4",
            "--identity-key",
            other,
            "--json",
        ])
        .args(["--exec", &daemon_cmd(&key, "d4")])
        .output()
        .unwrap();
    assert_exit(&out, 4);
    let v = json(&out.stdout);
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["code"], "identity_key_changed");

    let pins = dir.path().join("pins.json");
    let out = sbrp()
        .args([
            "peer",
            "client",
            "--daemon-id",
            "d4",
            "--policy",
            "strict",
            "--pins",
        ])
        .arg(&pins)
        .args(["--exec", &daemon_cmd(&key, "d4")])
        .output()
        .unwrap();
    assert_exit(&out, 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not pinned"));

    // Pinned to another key: 4, with the approving command.
    let st = sbrp()
        .args(["pin", "add", "d4", other, "--pins"])
        .arg(&pins)
        .output()
        .unwrap();
    assert!(st.status.success(), "{st:?}");
    let out = sbrp()
        .args(["peer", "client", "--daemon-id", "d4", "--pins"])
        .arg(&pins)
        .args(["--exec", &daemon_cmd(&key, "d4")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("identity_key_changed"), "{stderr}");
    assert!(stderr.contains("sbrp pin replace"), "{stderr}");
}

#[test]
fn wrong_daemon_id_is_handshake_failed() {
    let (_dir, key, pk) = setup();
    let out = sbrp()
        .args([
            "peer",
            "client",
            "--daemon-id",
            "expected",
            "--identity-key",
            &pk,
        ])
        .args(["--exec", &daemon_cmd(&key, "actual")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("handshake_failed"));
}

#[test]
fn garbage_from_the_daemon_exits_6_naming_the_code() {
    let out = sbrp()
        .args(["peer", "client", "--daemon-id", "d", "--identity-key"])
        .arg("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        .args(["--exec", "printf 'garbage-garbage-garbage'"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("payload_too_large"), "{stderr}");

    // 13 zero bytes: a header with type 0x00.
    let out = sbrp()
        .args([
            "peer",
            "client",
            "--daemon-id",
            "d",
            "--json",
            "--identity-key",
        ])
        .arg("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        .args(["--exec", "head -c 13 /dev/zero"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    assert_eq!(json(&out.stdout)["error"]["code"], "invalid_frame_type");
}

#[test]
fn silent_peer_is_handshake_timeout() {
    let out = sbrp()
        .args([
            "peer",
            "client",
            "--daemon-id",
            "d",
            "--handshake-timeout",
            "0.3",
        ])
        .arg("--identity-key")
        .arg("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        .args(["--exec", "sleep 5"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("handshake_timeout"), "{stderr}");
}

#[test]
fn daemon_answers_ping_with_pong_and_rejects_bad_headers() {
    let (_dir, key, _pk) = setup();
    let run = |input: &[u8], extra: &[&str]| {
        let mut child = sbrp()
            .args(["peer", "daemon", "--daemon-id", "d", "--key"])
            .arg(&key)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    };
    let ping = hex::decode("10000000080000000000000000".to_owned() + "0102030405060708").unwrap();
    let out = run(&ping, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        hex::encode(&out.stdout),
        "11000000080000000000000000".to_owned() + "0102030405060708"
    );
    // A Data frame with session id 0 breaks the header rules: the connection ends, code named.
    let bad = hex::decode("030000001c0000000000000000").unwrap();
    let out = run(&bad, &[]);
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_session_id"));
    // Silence until the deadline: handshake_timeout.
    let mut child = sbrp()
        .args([
            "peer",
            "daemon",
            "--daemon-id",
            "d",
            "--handshake-timeout",
            "0.2",
            "--key",
        ])
        .arg(&key)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _stdin = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("handshake_timeout"));
}

#[test]
fn keylog_is_written_in_the_decode_format() {
    let (dir, key, pk) = setup();
    let log = dir.path().join("keys.log");
    let out = sbrp()
        .args(["peer", "client", "--daemon-id", "d5", "--identity-key", &pk])
        .args(["--session-id", "255", "--exec", &daemon_cmd(&key, "d5")])
        .env("SBRP_KEYLOGFILE", &log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning"));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Both ends log (the daemon inherits SBRP_KEYLOGFILE): the same keys twice.
    assert_eq!(lines.len(), 4, "{text}");
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(sorted[0], sorted[1]);
    assert_eq!(sorted[2], sorted[3]);
    assert!(lines[0].starts_with("CLIENT_TO_DAEMON 00000000000000ff "));
    assert!(lines[1].starts_with("DAEMON_TO_CLIENT 00000000000000ff "));
    assert_eq!(lines[0].len(), 16 + 1 + 16 + 1 + 64);
}

#[test]
fn daemon_logs_json_lines_with_json() {
    let (_dir, key, _) = setup();
    // A HandshakeInit for session 5, a Ping, a HandshakeInit with a low-order key, then EOF.
    let client = sbrp::ClientHandshake::start("d1", sbrp::SessionId::new(5).unwrap()).unwrap();
    let mut input = sbrp::Frame::HandshakeInit(client.init()).to_vec();
    input.extend(hex::decode("10000000020000000000000000abcd").unwrap());
    let low_order = sbrp::HandshakeInit {
        session_id: sbrp::SessionId::new(6).unwrap(),
        client_key: [0; 32],
    };
    input.extend(sbrp::Frame::HandshakeInit(low_order).to_vec());
    let mut child = sbrp()
        .args(["peer", "daemon", "--json", "--daemon-id", "d1", "--key"])
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let events: Vec<serde_json::Value> = String::from_utf8(out.stderr)
        .unwrap()
        .lines()
        .map(|l| json(l.as_bytes()))
        .collect();
    assert!(events.iter().all(|e| e["schema"] == "sbrp.peer-daemon/1"));
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "started",
            "handshake",
            "ping",
            "session_failed",
            "end_of_input"
        ]
    );
    assert_eq!(events[0]["daemon_id"], "d1");
    assert_eq!(events[1]["session_id"], "5");
    assert_eq!(events[2]["bytes"], 2);
    assert_eq!(events[3]["session_id"], "6");
    assert_eq!(events[3]["code"], "handshake_failed");
    // The wire still carries the HandshakeAccept and the Pong, no log text.
    assert_eq!(out.stdout[0], 0x02);
}

#[test]
fn a_key_on_stdin_is_refused_when_stdin_carries_the_frames() {
    let (_dir, key, pk) = setup();
    let out = sbrp()
        .args(["peer", "daemon", "--key", "-", "--daemon-id", "d1"])
        .stdin(std::fs::File::open(&key).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
    let mut child = sbrp()
        .args(["peer", "client", "--daemon-id", "d1", "--identity-key", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The client refuses before reading stdin, so it may be gone already: ignore the pipe.
    let _ = child.stdin.take().unwrap().write_all(pk.as_bytes());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing was sent on the wire");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--connect or --exec"));
}
