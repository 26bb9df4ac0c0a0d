//! `sbrp relay --metrics --capture --capture-log` (the real binary) on 127.0.0.1 with our
//! peers (`sbrp peer daemon --relay`, `sbrp peer client --relay`, tokens from `sbrp token
//! mint`) and a WebSocket client of the test's own that holds a session open: /metrics is
//! scraped during and after a session and its counts checked, /healthz answers, the capture
//! plus either endpoint's `--keylog` gives `sbrp decode` a fully decrypted transcript, and the
//! capture files follow the file rules (new, 0600, never replaced without --force, never the
//! same file twice).
#![cfg(feature = "relay")]

#[path = "common/peer.rs"]
mod peer;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use peer::{DID, Keys, decode_ndjson as decode, run_ok, sbrp};
use sbrp::{ClientHandshake, Frame, RawFrame, SessionId};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// A generous guard so that a regression fails instead of hanging; not a timing check.
const GUARD: Duration = Duration::from_secs(60);

/// The keys (see [`Keys`]; `Setup` derefs to them) and the issuer's JWKS file.
struct Setup {
    keys: Keys,
    jwks: PathBuf,
}

impl std::ops::Deref for Setup {
    type Target = Keys;
    fn deref(&self) -> &Keys {
        &self.keys
    }
}

impl Setup {
    fn new() -> Self {
        let keys = Keys::new();
        let jwks = peer::write_jwks(keys.dir.path(), &keys.issuer);
        Self { keys, jwks }
    }

    /// `sbrp relay --json` with `extra` flags; returns the child, the ws URL and the metrics
    /// address from the ready line.
    fn relay(&self, extra: &[&std::ffi::OsStr]) -> Relay {
        let stderr = self.path(&format!("relay-{}.log", extra.len()));
        let mut child = sbrp()
            .args([
                "relay",
                "--listen",
                "127.0.0.1:0",
                "--iss",
                "sbrp",
                "--json",
            ])
            .arg("--jwks")
            .arg(&self.jwks)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{e}: ready line {line:?}; stderr {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
            }
        };
        assert_eq!(ready["schema"], "sbrp.relay-ready/1");
        Relay {
            stderr,
            url: ready["url"].as_str().unwrap().to_owned(),
            metrics: ready["metrics"].as_str().map(|s| s.parse().unwrap()),
            child,
        }
    }

    fn daemon(&self, relay: &Relay, token: &Path, extra: &[&str]) -> Child {
        sbrp()
            .args(["peer", "daemon", "--key"])
            .arg(&self.daemon_key)
            .args(["--daemon-id", DID, "--relay", &relay.url, "--token-file"])
            .arg(token)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn client(&self, relay: &Relay, token: &Path) -> Command {
        let mut c = sbrp();
        c.args(["peer", "client", "--daemon-id", DID, "--identity-key"])
            .arg(&self.daemon_pub)
            .args(["--relay", &relay.url, "--token-file"])
            .arg(token)
            .env("SBRP_HOME", self.dir.path());
        c
    }
}

struct Relay {
    /// Where its stderr (the log) goes: a file, so a chatty log never fills a pipe.
    stderr: PathBuf,
    url: String,
    metrics: Option<SocketAddr>,
    child: Child,
}

impl Relay {
    /// SIGTERM, then the exit status and stderr.
    fn stop(mut self) -> (Option<i32>, String) {
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&self.child),
            rustix::process::Signal::TERM,
        )
        .unwrap();
        let status = self.child.wait().unwrap();
        (
            status.code(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default(),
        )
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 GET; (status, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (
        head.split(' ').nth(1).unwrap().parse().unwrap(),
        body.to_owned(),
    )
}

type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

/// The sample lines of an exposition (`name{k="v",…} value`); label values here never hold
/// quotes, commas or braces.
fn scrape(addr: SocketAddr) -> Samples {
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, 200);
    assert!(body.ends_with("# EOF\n"));
    let mut out = BTreeMap::new();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}').unwrap()),
            None => (series, ""),
        };
        let labels = labels
            .split(',')
            .filter(|l| !l.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), v.trim_matches('"').to_owned())
            })
            .collect();
        out.insert((name.to_owned(), labels), value.parse().unwrap());
    }
    out
}

fn val(m: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let key = (name.to_owned(), labels);
    *m.get(&key).unwrap_or_else(|| panic!("no {key:?}"))
}

/// Scrapes until `ok` holds (the relay counts as events happen; a scrape may come first).
fn wait_for(addr: SocketAddr, what: &str, ok: impl Fn(&Samples) -> bool) -> Samples {
    let until = Instant::now() + GUARD;
    loop {
        let m = scrape(addr);
        if ok(&m) {
            return m;
        }
        assert!(Instant::now() < until, "metrics never showed {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn metrics_during_and_after_a_session_and_healthz() {
    let s = Setup::new();
    let cap = s.path("relay.cap");
    let log = s.path("relay.jsonl");
    let relay = s.relay(&[
        "--metrics".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--capture".as_ref(),
        cap.as_os_str(),
        "--capture-log".as_ref(),
        log.as_os_str(),
    ]);
    let maddr = relay
        .metrics
        .expect("the ready line names the metrics address");
    assert_eq!(get(maddr, "/healthz"), (200, "ok\n".to_owned()));
    assert_eq!(get(maddr, "/nothing").0, 404);
    let m = scrape(maddr);
    for role in ["daemon", "client"] {
        assert_eq!(val(&m, "sbrp_relay_connections", &[("role", role)]), 0.0);
    }

    // A bare echo daemon, then our own client, which keeps its session open while we look.
    let dtok = s.mint("daemon.jwt", "daemon", &[]);
    let dkeys = s.path("daemon.keys");
    let mut daemon = s.daemon(
        &relay,
        &dtok,
        &["--raw", "--keylog", dkeys.to_str().unwrap()],
    );
    wait_for(maddr, "the daemon connected", |m| {
        val(m, "sbrp_relay_connections", &[("role", "daemon")]) == 1.0
    });
    let ctok = s.mint("c.jwt", "client", &["--sid", "77"]);
    let token = std::fs::read_to_string(&ctok).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("{}/?token={}", relay.url, token.trim());
    let (mut ws, _) = rt
        .block_on(tokio_tungstenite::connect_async(url.as_str()))
        .unwrap();
    let sid = SessionId::new(77).unwrap();
    let hs = ClientHandshake::start(DID, sid).unwrap();
    let init = Frame::HandshakeInit(hs.init()).to_vec();
    let next_binary = |ws: &mut tokio_tungstenite::WebSocketStream<_>| {
        rt.block_on(async {
            loop {
                match tokio::time::timeout(GUARD, ws.next()).await.unwrap() {
                    Some(Ok(Message::Binary(b))) if b.first() != Some(&0x10) => {
                        return b.to_vec();
                    }
                    Some(Ok(_)) => continue,
                    other => panic!("{other:?}"),
                }
            }
        })
    };
    rt.block_on(ws.send(Message::Binary(init.clone().into())))
        .unwrap();
    let accept_bytes = next_binary(&mut ws);
    let accept = RawFrame::decode(&accept_bytes)
        .unwrap()
        .handshake_accept()
        .unwrap();
    let mut session = hs.finish_first_contact(&accept).unwrap();
    let data = session.encrypt_frame(sid, b"during the session").unwrap();
    rt.block_on(ws.send(Message::Binary(data.clone().into())))
        .unwrap();
    let echo = next_binary(&mut ws);
    let plain = session
        .decrypt(RawFrame::decode(&echo).unwrap().payload())
        .unwrap();
    assert_eq!(plain, b"during the session");

    // During the session.
    let m = scrape(maddr);
    let fwd = |m: &Samples, ty: &str, dir: &str| {
        (
            val(
                m,
                "sbrp_relay_frames_forwarded_total",
                &[("type", ty), ("direction", dir)],
            ),
            val(
                m,
                "sbrp_relay_bytes_forwarded_total",
                &[("type", ty), ("direction", dir)],
            ),
        )
    };
    assert_eq!(
        val(&m, "sbrp_relay_connections", &[("role", "client")]),
        1.0
    );
    assert_eq!(
        val(&m, "sbrp_relay_connections", &[("role", "daemon")]),
        1.0
    );
    assert_eq!(val(&m, "sbrp_relay_sessions", &[("state", "paired")]), 1.0);
    assert_eq!(val(&m, "sbrp_relay_sessions_started_total", &[]), 1.0);
    assert_eq!(
        fwd(&m, "HandshakeInit", "client_to_daemon"),
        (1.0, init.len() as f64)
    );
    assert_eq!(
        fwd(&m, "HandshakeAccept", "daemon_to_client"),
        (1.0, accept_bytes.len() as f64)
    );
    assert_eq!(
        fwd(&m, "Data", "client_to_daemon"),
        (1.0, data.len() as f64)
    );
    assert_eq!(
        fwd(&m, "Data", "daemon_to_client"),
        (1.0, echo.len() as f64)
    );
    assert_eq!(
        val(&m, "sbrp_relay_handshake_latency_seconds_count", &[]),
        1.0
    );

    // A refused upgrade: a token the relay's JWKS did not sign.
    let other = s.path("other.pem");
    run_ok(
        sbrp()
            .args(["keygen", "-o"])
            .arg(&other)
            .env("SBRP_HOME", s.dir.path()),
    );
    let bad = s.path("bad.jwt");
    run_ok(
        sbrp()
            .args(["token", "mint", "--key"])
            .arg(&other)
            .args(["--role", "client", "--did", DID, "--sid", "8", "-o"])
            .arg(&bad),
    );
    let bad_url = format!(
        "{}/?token={}",
        relay.url,
        std::fs::read_to_string(&bad).unwrap().trim()
    );
    assert!(
        rt.block_on(tokio_tungstenite::connect_async(bad_url.as_str()))
            .is_err()
    );

    // After: the client closes; the relay tells the daemon the session ended.
    rt.block_on(ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    })))
    .unwrap();
    let m = wait_for(maddr, "the client's close", |m| {
        val(m, "sbrp_relay_connections", &[("role", "client")]) == 0.0
    });
    assert_eq!(val(&m, "sbrp_relay_sessions", &[("state", "paired")]), 0.0);
    assert_eq!(
        val(
            &m,
            "sbrp_relay_sessions_ended_total",
            &[("state", "paired")]
        ),
        1.0
    );
    assert_eq!(
        val(
            &m,
            "sbrp_relay_controls_sent_total",
            &[("code", "session_ended")]
        ),
        1.0
    );
    assert_eq!(
        val(
            &m,
            "sbrp_relay_connections_closed_total",
            &[("role", "client"), ("code", "1000")]
        ),
        1.0
    );
    assert_eq!(
        val(
            &m,
            "sbrp_relay_connections_refused_total",
            &[("status", "401")]
        ),
        1.0
    );
    assert_eq!(
        val(
            &m,
            "sbrp_relay_connections_opened_total",
            &[("role", "client")]
        ),
        1.0
    );
    // Counts did not move for what happened once.
    assert_eq!(fwd(&m, "Data", "client_to_daemon").0, 1.0);

    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let (code, stderr) = relay.stop();
    assert_eq!(code, Some(0), "{stderr}");

    // The capture holds the session: decrypted with the daemon's key log.
    #[cfg(unix)]
    assert_eq!((mode(&cap), mode(&log)), (0o600, 0o600));
    let frames = decode(&cap, &dkeys);
    let texts: Vec<&str> = frames
        .iter()
        .filter(|f| f["authenticated"] == true)
        .filter_map(|f| f["plaintext_utf8"].as_str())
        .collect();
    assert_eq!(texts, ["during the session", "during the session"]);
    // And the log has a line for each frame the stream has, plus the ones not sent.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["schema"], "sbrp.relay-capture-log/1");
    let sent = lines
        .iter()
        .filter(|l| {
            l["record"] == "frame"
                && ["forwarded", "answered", "generated"].contains(&l["action"].as_str().unwrap())
        })
        .count();
    assert_eq!(
        sent,
        frames.len() - 1,
        "frames in the stream (less the summary)"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["record"] == "connection" && l["event"] == "refused" && l["status"] == 401)
    );
}

/// The README's walkthrough: both endpoints' `--keylog` plus the relay's `--capture` give
/// `sbrp decode` the whole session, decrypted, from either key log.
#[test]
fn keylogs_and_the_relay_capture_give_a_decrypted_transcript() {
    let s = Setup::new();
    let cap = s.path("relay.cap");
    let relay = s.relay(&[
        "--metrics".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--capture".as_ref(),
        cap.as_os_str(),
    ]);
    let maddr = relay.metrics.unwrap();
    let dtok = s.mint("daemon.jwt", "daemon", &[]);
    let dkeys = s.path("daemon.keys");
    let ckeys = s.path("client.keys");
    let mut daemon = s.daemon(&relay, &dtok, &["--keylog", dkeys.to_str().unwrap()]);
    wait_for(maddr, "the daemon connected", |m| {
        val(m, "sbrp_relay_connections", &[("role", "daemon")]) == 1.0
    });
    let ctok = s.mint("c.jwt", "client", &["--sid", "4660"]);
    let out = s
        .client(&relay, &ctok)
        .args(["--message", "hello through the relay", "--json", "--keylog"])
        .arg(&ckeys)
        .output()
        .unwrap();
    peer::assert_exit(&out, 0);
    let after = wait_for(maddr, "the session's end", |m| {
        val(m, "sbrp_relay_connections", &[("role", "client")]) == 0.0
    });
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let (code, stderr) = relay.stop();
    assert_eq!(code, Some(0), "{stderr}");

    let mut seen = Vec::new();
    for keys in [&ckeys, &dkeys] {
        let v = decode(&cap, keys);
        let summary = v.last().unwrap();
        assert_eq!(summary["ok"], true);
        let data: Vec<&serde_json::Value> = v.iter().filter(|f| f["type"] == "Data").collect();
        assert!(data.len() >= 4, "{data:?}");
        for f in &data {
            assert_eq!(f["session_id"], "4660");
            assert_eq!(f["authenticated"], true, "{f}");
        }
        // The RPC echo of our message, both ways, read from the SBP layer.
        let text = serde_json::to_string(&v).unwrap();
        assert!(
            text.matches("hello through the relay").count() >= 2,
            "{text}"
        );
        seen.push(
            data.iter()
                .map(|f| f["plaintext_hex"].clone())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(
        seen[0], seen[1],
        "both key logs decrypt to the same transcript"
    );

    // The metrics after the session agree with the capture, frame for frame and byte for
    // byte, for every forwarded type and direction.
    let v = decode(&cap, &ckeys);
    for (ty, dir) in [
        ("HandshakeInit", "client_to_daemon"),
        ("HandshakeAccept", "daemon_to_client"),
        ("Data", "client_to_daemon"),
        ("Data", "daemon_to_client"),
    ] {
        let frames: Vec<&serde_json::Value> = v
            .iter()
            .filter(|f| f["type"] == ty)
            .filter(|f| ty != "Data" || f["direction"] == dir)
            .collect();
        let bytes: u64 = frames
            .iter()
            .map(|f| 13 + f["length"].as_u64().unwrap())
            .sum();
        let labels = [("type", ty), ("direction", dir)];
        assert_eq!(
            (
                val(&after, "sbrp_relay_frames_forwarded_total", &labels),
                val(&after, "sbrp_relay_bytes_forwarded_total", &labels)
            ),
            (frames.len() as f64, bytes as f64),
            "{ty} {dir}"
        );
    }
    assert_eq!(val(&after, "sbrp_relay_sessions_started_total", &[]), 1.0);
    assert_eq!(
        val(
            &after,
            "sbrp_relay_sessions_ended_total",
            &[("state", "paired")]
        ),
        1.0
    );
}

#[test]
fn capture_files_follow_the_file_rules() {
    let s = Setup::new();
    let existing = s.path("old.cap");
    std::fs::write(&existing, b"keep me").unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        sbrp()
            .args(["relay", "--listen", "127.0.0.1:0", "--jwks"])
            .arg(&s.jwks)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // Not replaced without --force.
    let out = run(&["--capture".as_ref(), existing.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    // The same file twice.
    let same = s.path("same");
    let out = run(&[
        "--capture".as_ref(),
        same.as_os_str(),
        "--capture-log".as_ref(),
        same.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!same.exists());
    // Never through a symlink, --force or not.
    #[cfg(unix)]
    {
        let link = s.path("link.cap");
        std::os::unix::fs::symlink(&existing, &link).unwrap();
        let out = run(&[
            "--capture-log".as_ref(),
            link.as_os_str(),
            "--force".as_ref(),
        ]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("symbolic link"));
        assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    }
    // --force replaces it, with a new 0600 file.
    let relay = s.relay(&[
        "--capture".as_ref(),
        existing.as_os_str(),
        "--force".as_ref(),
    ]);
    assert!(relay.metrics.is_none());
    let (code, stderr) = relay.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"");
    #[cfg(unix)]
    assert_eq!(mode(&existing), 0o600);
}
