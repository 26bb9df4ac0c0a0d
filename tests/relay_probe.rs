//! An independent client checks the real `sbrp relay` binary: `tests/python/relay_probe.py`
//! (Python `websockets`, its own frame encoder, no sbrp code) with tokens from the real
//! `sbrp token mint`, on 127.0.0.1. It checks exact Control frames, exact Pong copies,
//! frames forwarded unchanged, `session_paused` when the daemon leaves, and the close codes
//! 1003, 1009, 1008 and 1002 (R6).
#![cfg(feature = "relay")]

#[path = "common/relay.rs"]
mod relay;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use relay::{ISS, Relay, sbrp_bin};

const DID: &str = "probe-daemon";

fn mint(key: &Path, args: &[&str]) -> String {
    let out = Command::new(sbrp_bin())
        .args(["token", "mint", "--key"])
        .arg(key)
        .args(["--iss", ISS])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn python_websockets_probe_sees_exact_replies() {
    let relay = Relay::start(&[]);
    let key = relay.issuer.key_file.clone();
    let daemon = mint(&key, &["--role", "daemon", "--did", DID]);
    let clients: Vec<serde_json::Value> = (0..9u64)
        .map(|i| {
            let sid = 0x0A00_0000_0000_0000 + i * 0x100;
            let t = mint(
                &key,
                &["--role", "client", "--did", DID, "--sid", &sid.to_string()],
            );
            serde_json::json!({"sid": sid, "token": t})
        })
        .collect();
    let offline_sid = 0x4242u64;
    let offline = mint(
        &key,
        &[
            "--role",
            "client",
            "--did",
            "nobody-home",
            "--sid",
            &format!("0x{offline_sid:x}"),
        ],
    );
    let tokens = serde_json::json!({
        "did": DID,
        "daemon": daemon,
        "clients": clients,
        "offline": {"sid": offline_sid, "token": offline},
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/relay_probe.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(&relay.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (CI installs websockets)");
    // Tokens on stdin, not in the command line.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(tokens.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "the probe printed no report ({e}):\n{stdout}\n{stderr}\nrelay:\n{}",
            relay.stderr()
        )
    });
    assert_eq!(
        report["failures"],
        serde_json::json!([]),
        "relay log:\n{}",
        relay.stderr()
    );
    assert!(out.status.success(), "{stderr}");
    // Every step ran (a probe that stopped early would report fewer checks).
    assert_eq!(report["checks"], 51, "{report}");
    let log = relay.stderr();
    assert!(!log.contains(&daemon), "the relay logged a token");
}
