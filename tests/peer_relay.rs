//! `sbrp peer client --relay` and `sbrp peer daemon --relay` (the real binary) through the test
//! relay of `tests/test_relay` on 127.0.0.1, with tokens from `sbrp token mint`: both token
//! modes, 401/403/409 → exit 7, a terminal Control → exit 6, a relay that drops its daemons
//! (the daemon reconnects), wss with `--ca`, a client in flight through session_paused (expired,
//! or resumed by `--resumable`), framing violations → exit 6, and through the Python relay one
//! frame per message and a close frame at the end of every connection.
#![cfg(feature = "tls")]

#[path = "common/peer.rs"]
mod peer;
mod test_relay;
#[path = "common/tls.rs"]
mod tls;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use peer::{DID, Keys, run_ok, sbrp, terminate};
use sbrp::token::{Jwks, VerifyPolicy};
use test_relay::{Out, TestRelay};
use tokio_tungstenite::tungstenite::Message;

/// The keys (see [`Keys`]; `Setup` derefs to them) and the peers run with them.
struct Setup(Keys);

impl std::ops::Deref for Setup {
    type Target = Keys;
    fn deref(&self) -> &Keys {
        &self.0
    }
}

impl Setup {
    fn new() -> Self {
        Self(Keys::new())
    }

    fn jwks(&self) -> Jwks {
        Jwks::parse(peer::jwks_text(&self.issuer).as_bytes()).unwrap()
    }

    fn daemon(&self, relay: &TestRelay, token: &Path, extra: &[&str]) -> Child {
        sbrp()
            .args(["peer", "daemon", "--key"])
            .arg(&self.daemon_key)
            .args(["--daemon-id", DID, "--relay", &relay.url(), "--token-file"])
            .arg(token)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn client(&self, relay: &TestRelay, token: &Path) -> Command {
        let mut c = sbrp();
        c.args(["peer", "client", "--daemon-id", DID, "--identity-key"])
            .arg(&self.daemon_pub)
            .args(["--relay", &relay.url(), "--token-file"])
            .arg(token)
            .env("SBRP_HOME", self.dir.path());
        c
    }
}

async fn start(s: &Setup) -> TestRelay {
    let policy = VerifyPolicy {
        iss: Some("sbrp".into()),
        ..VerifyPolicy::default()
    };
    TestRelay::start(s.jwks(), policy, None).await
}

/// Waits until the relay has seen `n` daemon connections.
async fn daemon_connections(relay: &TestRelay, n: usize) {
    let until = Instant::now() + Duration::from_secs(20);
    while relay.state.lock().unwrap().daemon_connections < n {
        assert!(
            Instant::now() < until,
            "the daemon did not connect {n} time(s)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn output(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_sessions_through_the_relay_in_both_token_modes() {
    let s = Setup::new();
    let relay = start(&s).await;
    let dtok = s.mint("daemon.jwt", "daemon", &[]);
    let mut daemon = s.daemon(&relay, &dtok, &["--auth", "header"]);
    daemon_connections(&relay, 1).await;
    for (i, auth) in ["query", "header"].into_iter().enumerate() {
        for raw in [false] {
            let sid = (100 + i * 2 + usize::from(raw)).to_string();
            let ctok = s.mint(&format!("c{sid}.jwt"), "client", &["--sid", &sid]);
            let mut c = s.client(&relay, &ctok);
            c.args(["--auth", auth, "--json", "--count", "3", "--message", "hi"]);
            if raw {
                c.arg("--raw");
            }
            let out = output(c).await;
            peer::assert_exit(&out, 0);
            let v = json(&out);
            assert_eq!(v["ok"], true);
            assert_eq!(v["transport"], "ws");
            assert_eq!(v["relay"], format!("127.0.0.1:{}", relay.port));
            assert_eq!(v["session_id"], sid);
            assert_eq!(v["matched"], 4);
            assert_eq!(v["trust"], "identity_key");
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            let token = std::fs::read_to_string(&ctok).unwrap();
            assert!(!text.contains(token.trim()), "the token was printed");
        }
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_exit_7_naming_the_status() {
    let s = Setup::new();
    let relay = start(&s).await;
    // 401: a token signed by a key the relay does not know.
    let other = s.dir.path().join("other.pem");
    run_ok(
        sbrp()
            .args(["keygen", "-o"])
            .arg(&other)
            .env("SBRP_HOME", s.dir.path()),
    );
    let bad = s.dir.path().join("bad.jwt");
    run_ok(
        sbrp()
            .args(["token", "mint", "--key"])
            .arg(&other)
            .args(["--role", "client", "--did", DID, "--sid", "7", "-o"])
            .arg(&bad),
    );
    let out = output(s.client(&relay, &bad)).await;
    peer::assert_exit(&out, 7);
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 401"));
    // 401 for a daemon with --once too.
    let out = s
        .daemon(&relay, &bad, &["--once"])
        .wait_with_output()
        .unwrap();
    peer::assert_exit(&out, 7);
    // 409: a second client for a live session id.
    let dtok = s.mint("daemon.jwt", "daemon", &[]);
    let mut daemon = s.daemon(&relay, &dtok, &[]);
    daemon_connections(&relay, 1).await;
    let ctok = s.mint("c.jwt", "client", &["--sid", "9"]);
    let mut first = s.client(&relay, &ctok);
    first
        .args(["--count", "2000", "--raw"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut first = first.spawn().unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while relay.state.lock().unwrap().clients.is_empty() {
        assert!(Instant::now() < until);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let out = output(s.client(&relay, &ctok)).await;
    peer::assert_exit(&out, 7);
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 409"));
    let _ = first.kill();
    let _ = first.wait();
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_control_exits_6_and_the_daemon_reconnects_after_a_drop() {
    let s = Setup::new();
    let relay = start(&s).await;
    let dtok = s.mint("daemon.jwt", "daemon", &[]);
    let mut daemon = s.daemon(&relay, &dtok, &[]);
    daemon_connections(&relay, 1).await;
    // The relay drops its daemons; ours comes back (backoff 1 s).
    relay.drop_daemons();
    daemon_connections(&relay, 2).await;
    let ctok = s.mint("c.jwt", "client", &["--sid", "42"]);
    let mut c = s.client(&relay, &ctok);
    c.args(["--message", "after the drop", "--json"]);
    let out = output(c).await;
    peer::assert_exit(&out, 0);
    assert_eq!(json(&out)["matched"], 1);
    // A terminal Control (0x0101 unauthorized) to a client in flight: exit 6 naming it.
    let ctok = s.mint("c43.jwt", "client", &["--sid", "43"]);
    let mut c = s.client(&relay, &ctok);
    c.args(["--count", "2000", "--json"]);
    let child = tokio::task::spawn_blocking(move || c.output().unwrap());
    let until = Instant::now() + Duration::from_secs(20);
    while !relay
        .state
        .lock()
        .unwrap()
        .clients
        .contains_key(&(DID.to_owned(), 43))
    {
        assert!(Instant::now() < until);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut f = vec![0x20, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 43];
    f.extend_from_slice(&0x0101u16.to_be_bytes());
    relay.to_client(DID, 43, Out::Msg(Message::Binary(f.into())));
    let out = child.await.unwrap();
    peer::assert_exit(&out, 6);
    let v = json(&out);
    assert_eq!(v["ok"], false);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("0x0101"),
        "{v}"
    );
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}

/// An independent WebSocket implementation (Python `websockets`, `tests/python/ws_relay.py`)
/// relays between our daemon and client and checks that every message either sends is exactly
/// one SBRP frame; both token modes, SBP sessions. `.ci/run` installs `websockets`.
#[test]
fn an_independent_websocket_relay_sees_one_frame_per_message() {
    use std::io::{BufRead, BufReader, Read, Write};
    let s = Setup::new();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/ws_relay.py");
    let mut relay = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // Inherited: a pipe nobody reads could fill up and stall the relay.
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs");
    let mut relay_out = BufReader::new(relay.stdout.take().unwrap());
    let mut port = String::new();
    relay_out.read_line(&mut port).unwrap();
    let port: u16 = port.trim().parse().unwrap_or_else(|_| {
        panic!("the Python relay did not start (is `websockets` installed? see its stderr above)")
    });
    let url = format!("ws://127.0.0.1:{port}/");
    let dtok = s.mint("daemon.jwt", "daemon", &[]);
    let mut daemon = sbrp()
        .args(["peer", "daemon", "--key"])
        .arg(&s.daemon_key)
        .args(["--daemon-id", DID, "--relay", &url, "--token-file"])
        .arg(&dtok)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The daemon connects asynchronously: retry the first session for a while.
    let mut sessions = 0;
    for (i, auth) in ["query", "header"].into_iter().enumerate() {
        let sid = (200 + i).to_string();
        let ctok = s.mint(&format!("c{sid}.jwt"), "client", &["--sid", &sid]);
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let mut c = sbrp();
            c.args(["peer", "client", "--daemon-id", DID, "--identity-key"])
                .arg(&s.daemon_pub)
                .args(["--relay", &url, "--token-file"])
                .arg(&ctok)
                .args(["--auth", auth, "--count", "3", "--json"])
                .env("SBRP_HOME", s.dir.path());
            let out = c.output().unwrap();
            if out.status.success() {
                let v = json(&out);
                assert_eq!(v["ok"], true);
                assert_eq!(v["transport"], "ws");
                sessions += 1;
                break;
            }
            assert!(
                Instant::now() < until,
                "no session through the Python relay: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // SIGTERM: the daemon closes its WebSocket with 1001 and exits 0.
    terminate(&daemon);
    assert_eq!(daemon.wait().unwrap().code(), Some(0));
    relay.stdin.take().unwrap().write_all(b"").unwrap();
    let mut report = String::new();
    relay_out.read_to_string(&mut report).unwrap();
    relay.wait().unwrap();
    let seen: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(sessions, 2);
    assert_eq!(seen["violations"], serde_json::json!([]), "{seen}");
    // Each session: HandshakeInit + its messages from the client, HandshakeAccept + answers
    // from the daemon; every one of them was checked.
    assert!(
        seen["messages"]["client"].as_u64().unwrap() >= 2 * 4,
        "{seen}"
    );
    assert!(
        seen["messages"]["daemon"].as_u64().unwrap() >= 2 * 4,
        "{seen}"
    );
    let auth = seen["auth"].as_array().unwrap();
    assert!(
        auth.contains(&"query".into()) && auth.contains(&"header".into()),
        "{seen}"
    );
}

/// Waits until the relay has forwarded `n` daemon Data frames of session `sid` (the client
/// is in flight).
async fn in_flight(relay: &TestRelay, sid: u64, n: usize) {
    let until = Instant::now() + Duration::from_secs(20);
    while relay
        .state
        .lock()
        .unwrap()
        .forwarded
        .get(&sid)
        .is_none_or(|f| *f < n)
    {
        assert!(Instant::now() < until, "session {sid} is not in flight");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_exits_7_naming_the_status() {
    let s = Setup::new();
    let policy = VerifyPolicy {
        iss: Some("sbrp".into()),
        region: Some("eu".into()),
        ..VerifyPolicy::default()
    };
    let relay = TestRelay::start(s.jwks(), policy, None).await;
    let ctok = s.mint("c.jwt", "client", &["--sid", "5", "--region", "us"]);
    let mut c = s.client(&relay, &ctok);
    c.arg("--json");
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["ok"], false);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("HTTP 403"),
        "{v}"
    );
    let dtok = s.mint("d.jwt", "daemon", &["--region", "us"]);
    let out = s
        .daemon(&relay, &dtok, &["--once"])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTP 403"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not allowed here"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_with_a_private_ca_given_by_ca() {
    use std::sync::Arc;
    let tls = tls::TestCa::new();
    let server = tls.server_config();
    let s = Setup::new();
    let policy = VerifyPolicy {
        iss: Some("sbrp".into()),
        ..VerifyPolicy::default()
    };
    let relay = TestRelay::start(s.jwks(), policy, Some(Arc::new(server))).await;
    let ca_file = s.dir.path().join("ca.pem");
    std::fs::write(&ca_file, &tls.ca_pem).unwrap();
    let url = format!("wss://127.0.0.1:{}/", relay.port);
    let ca = ca_file.to_str().unwrap();
    let dtok = s.mint("daemon.jwt", "daemon", &[]);
    let mut daemon = sbrp()
        .args(["peer", "daemon", "--key"])
        .arg(&s.daemon_key)
        .args([
            "--daemon-id",
            DID,
            "--relay",
            &url,
            "--ca",
            ca,
            "--token-file",
        ])
        .arg(&dtok)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    daemon_connections(&relay, 1).await;
    let ctok = s.mint("c.jwt", "client", &["--sid", "61"]);
    let client = |with_ca: bool| {
        let mut c = sbrp();
        c.args(["peer", "client", "--daemon-id", DID, "--identity-key"])
            .arg(&s.daemon_pub)
            .args(["--relay", &url, "--json", "--token-file"])
            .arg(&ctok)
            .env("SBRP_HOME", s.dir.path());
        if with_ca {
            c.args(["--ca", ca]);
        }
        c
    };
    // Without --ca the system's roots do not know this CA: exit 1 with the TLS hint.
    let out = output(client(false)).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        json(&out)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("TLS"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = output(client(true)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["transport"], "wss");
    assert_eq!(v["matched"], 1);
    terminate(&daemon);
    assert_eq!(daemon.wait().unwrap().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_in_flight_sees_session_paused_and_then_session_expired() {
    let s = Setup::new();
    let relay = start(&s).await;
    let dtok = s.mint("daemon.jwt", "daemon", &[]);
    let mut daemon = s.daemon(&relay, &dtok, &["--raw"]);
    daemon_connections(&relay, 1).await;
    let ctok = s.mint("c.jwt", "client", &["--sid", "71"]);
    relay.drop_daemon_after(71, 3);
    let mut c = s.client(&relay, &ctok);
    c.args(["--raw", "--count", "10", "--json"]);
    let out = output(c).await;
    // The daemon comes back without session:resume: the relay expires the session.
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Control session_paused (0x1001) for session 71"),
        "{}",
        stderr(&out)
    );
    let v = json(&out);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("session_expired"),
        "{v}"
    );
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumable_daemon_resumes_a_client_in_flight() {
    let s = Setup::new();
    let relay = start(&s).await;
    let dtok = s.mint("daemon.jwt", "daemon", &["--scp", "session:resume"]);
    let daemon = s.daemon(&relay, &dtok, &["--resumable", "--json"]);
    daemon_connections(&relay, 1).await;
    let ctok = s.mint("c.jwt", "client", &["--sid", "81"]);
    relay.drop_daemon_after(81, 4);
    let mut c = s.client(&relay, &ctok);
    c.args(["--count", "12", "--json"]);
    let out = output(c).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["matched"], 12, "{v}");
    let err = stderr(&out);
    for name in ["session_paused", "session_pending", "session_resumed"] {
        assert!(err.contains(&format!("Control {name}")), "{err}");
    }
    assert_eq!(relay.state.lock().unwrap().signals, [(81, 0, 0)]);
    // The request sent right after the drop was dropped by the relay (the session was
    // paused); the client sent it again after session_resumed.
    assert!(relay.state.lock().unwrap().dropped_not_ready >= 1);
    assert!(err.contains("sending the request again"), "{err}");
    terminate(&daemon);
    let dout = daemon.wait_with_output().unwrap();
    assert_eq!(dout.status.code(), Some(0));
    let log = String::from_utf8_lossy(&dout.stderr);
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "connected" && l["kept_sessions"] == 1),
        "{log}"
    );
    // The URL is logged with the token redacted, and the token never.
    let url = format!("{}?token=<redacted>", relay.url());
    assert!(lines.iter().any(|l| l["url"] == url.as_str()), "{log}");
    let token = std::fs::read_to_string(&dtok).unwrap();
    assert!(!log.contains(token.trim()));
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "session_resumed" && l["session_id"] == "81"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framing_violations_exit_6_naming_the_problem() {
    let s = Setup::new();
    let relay = start(&s).await;
    let dtok = s.mint("daemon.jwt", "daemon", &[]);
    let mut daemon = s.daemon(&relay, &dtok, &["--raw"]);
    daemon_connections(&relay, 1).await;
    let cases: [(u64, Out, &str); 3] = [
        (
            91,
            Out::Msg(Message::Text("hi".into())),
            "a text WebSocket message",
        ),
        (
            92,
            Out::Msg(Message::Binary(vec![0u8; 65550].into())),
            "1009",
        ),
        (93, Out::Close(1003), "unsupported data"),
    ];
    for (sid, msg, names) in cases {
        let ctok = s.mint(
            &format!("c{sid}.jwt"),
            "client",
            &["--sid", &sid.to_string()],
        );
        let mut c = s.client(&relay, &ctok);
        c.args(["--raw", "--count", "10", "--json"]);
        relay.stall_after(sid, 2);
        let child = tokio::task::spawn_blocking(move || c.output().unwrap());
        in_flight(&relay, sid, 2).await;
        relay.to_client(DID, sid, msg);
        let out = child.await.unwrap();
        assert_eq!(out.status.code(), Some(6), "{sid}: {}", stderr(&out));
        let v = json(&out);
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains(names), "{sid}: {m}");
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    // The daemon too: a text message from the relay ends `--once` with exit 6.
    let before = relay.state.lock().unwrap().daemon_connections;
    let daemon = s.daemon(&relay, &dtok, &["--once"]);
    daemon_connections(&relay, before + 1).await;
    relay.to_daemon(DID, Out::Msg(Message::Text("hi".into())));
    let out = tokio::task::spawn_blocking(move || daemon.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a text WebSocket message"),
        "{}",
        stderr(&out)
    );
}
