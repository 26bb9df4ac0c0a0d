//! End to end through the real relay: `sbrp relay` (the binary) + `sbrp peer daemon --relay
//! --resumable` (the binary) + a client in flight, with a small TCP proxy between the daemon
//! and the relay so the test can drop the daemon's connection (the realistic case: a relay
//! restart loses its state, a daemon's network does not). The client sees `session_paused`,
//! `session_pending`, `session_resumed` and the session goes on with the same keys; without
//! `--resumable` it sees `session_expired`. A CLI client in flight rides the drop out too (it
//! sends again what the relay dropped while the session was paused).
#![cfg(feature = "tls")]

#[path = "common/peer.rs"]
mod peer;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peer::{DID, Keys, sbrp, terminate};
use sbrp::keyfile::BareKey;
use sbrp::relay_client::{ClientError, ClientEvent, RelayClient, RelayConfig, Trust};
use sbrp::token::Token;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Keys, tokens and a running `sbrp relay`.
struct Setup {
    keys: Keys,
    relay: Child,
    relay_addr: SocketAddr,
    relay_log: Arc<Mutex<String>>,
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
        let mut relay = sbrp()
            .args(["relay", "--listen", "127.0.0.1:0", "--json", "--jwks"])
            .arg(&jwks)
            .env("SBRP_HOME", keys.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let relay_log = peer::collect(relay.stderr.take().unwrap());
        let mut ready = String::new();
        BufReader::new(relay.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&ready).unwrap_or_else(|e| panic!("{e}: ready line {ready:?}"));
        assert_eq!(v["schema"], "sbrp.relay-ready/1");
        let relay_addr = v["listen"].as_str().unwrap().parse().unwrap();
        Self {
            keys,
            relay,
            relay_addr,
            relay_log,
        }
    }

    fn daemon(&self, url: &str, token: &Path, extra: &[&str]) -> Child {
        sbrp()
            .args(["peer", "daemon", "--json", "--raw", "--key"])
            .arg(&self.daemon_key)
            .args(["--daemon-id", DID, "--relay", url, "--token-file"])
            .arg(token)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `sbrp peer client --raw --json --count COUNT` for [`DID`] through `url` with `token`.
    fn cli_client(&self, url: &str, token: &Path, count: u32) -> Command {
        let mut c = sbrp();
        c.args(["peer", "client", "--raw", "--json", "--count"])
            .arg(count.to_string())
            .args(["--daemon-id", DID, "--identity-key", &self.daemon_pub])
            .args(["--relay", url, "--token-file"])
            .arg(token)
            .env("SBRP_HOME", self.dir.path());
        c
    }

    fn identity(&self) -> sbrp::IdentityPublicKey {
        sbrp::keyfile::decode(self.daemon_pub.as_bytes(), BareKey::Public)
            .unwrap()
            .key
            .public_key()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = self.relay.kill();
        let _ = self.relay.wait();
    }
}

/// A TCP proxy on 127.0.0.1 to `target`; `cut()` drops every connection through it at once
/// (no WebSocket close: the relay sees the daemon's socket go).
struct Proxy {
    addr: SocketAddr,
    cut: watch::Sender<u64>,
    accepted: Arc<Mutex<usize>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, _) = watch::channel(0u64);
        let accepted = Arc::new(Mutex::new(0));
        let (tx, n) = (cut.clone(), accepted.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                *n.lock().unwrap() += 1;
                let mut cut = tx.subscribe();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut a, mut b) = (inbound, outbound);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut a, &mut b) => {}
                        _ = cut.changed() => {}
                    }
                    // Dropped here: both sockets close without a WebSocket close frame.
                });
            }
        });
        Self {
            addr,
            cut,
            accepted,
        }
    }

    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    fn accepted(&self) -> usize {
        *self.accepted.lock().unwrap()
    }
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn next(c: &mut RelayClient) -> Result<ClientEvent, ClientError> {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), c.recv())
            .await
            .expect("an event within 20 s");
        // The relay pings every endpoint (R3); the client answers.
        if !matches!(e, Ok(ClientEvent::Ping)) {
            return e;
        }
    }
}

async fn echo(c: &mut RelayClient, msg: &[u8]) {
    c.send(msg).await.unwrap();
    match next(c).await.unwrap() {
        ClientEvent::Message(m) => assert_eq!(m, msg),
        other => panic!("{other:?}"),
    }
}

/// Connects a client for session `sid`, retrying while the daemon is not yet on the relay
/// (`daemon_offline`).
async fn client(s: &Setup, url: &str, sid: u64) -> RelayClient {
    let path = s.mint(
        &format!("c{sid}.jwt"),
        "client",
        &["--sid", &sid.to_string()],
    );
    let token = Token::new(&std::fs::read_to_string(path).unwrap());
    let config = RelayConfig::new(url).unwrap();
    let pk = s.identity();
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        match RelayClient::connect(&config, &token, DID, Trust::Pinned(&pk), |_| {}).await {
            Ok(c) => return c,
            Err(e) => {
                assert!(Instant::now() < until, "no session: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumable_daemon_survives_its_connection_dropping_under_sbrp_relay() {
    let s = Setup::new();
    let proxy = Proxy::start(s.relay_addr).await;
    let via_proxy = format!("ws://{}/", proxy.addr);
    let direct = format!("ws://{}/", s.relay_addr);
    let dtok = s.mint("daemon.jwt", "daemon", &["--scp", "session:resume"]);
    let daemon = s.daemon(&via_proxy, &dtok, &["--resumable"]);
    let mut c = client(&s, &direct, 501).await;
    for i in 0..5u8 {
        echo(&mut c, &[i; 100]).await;
    }
    // The daemon's connection drops; the relay pauses the session, the daemon comes back
    // through the proxy, keeps the session and signals it ready.
    proxy.cut();
    assert_eq!(next(&mut c).await.unwrap(), ClientEvent::Paused);
    assert!(matches!(c.send(b"x").await, Err(ClientError::Paused)));
    assert_eq!(next(&mut c).await.unwrap(), ClientEvent::Pending);
    assert_eq!(next(&mut c).await.unwrap(), ClientEvent::Resumed);
    assert!(proxy.accepted() >= 2);
    // The same session goes on: no handshake, the counters carry on both ways.
    for i in 5..10u8 {
        echo(&mut c, &[i; 1000]).await;
    }
    c.close().await;
    // An ordinary CLI client through the same relay and daemon.
    let ctok = s.mint("cli.jwt", "client", &["--sid", "502"]);
    let out = s.cli_client(&direct, &ctok, 3).output().unwrap();
    peer::assert_exit(&out, 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["matched"], 3);
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
            .any(|l| l["event"] == "session_resumed" && l["session_id"] == "501"),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "connected" && l["kept_sessions"] == 1),
        "{log}"
    );
    let token = std::fs::read_to_string(&dtok).unwrap();
    assert!(!log.contains(token.trim()));
    assert!(!s.relay_log.lock().unwrap().contains(token.trim()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_resumable_the_session_expires_under_sbrp_relay() {
    let s = Setup::new();
    let proxy = Proxy::start(s.relay_addr).await;
    let via_proxy = format!("ws://{}/", proxy.addr);
    let direct = format!("ws://{}/", s.relay_addr);
    let dtok = s.mint("daemon.jwt", "daemon", &[]);
    let mut daemon = s.daemon(&via_proxy, &dtok, &[]);
    let mut c = client(&s, &direct, 601).await;
    echo(&mut c, b"before").await;
    proxy.cut();
    assert_eq!(next(&mut c).await.unwrap(), ClientEvent::Paused);
    // The daemon returns without session:resume: the relay expires the session at once.
    let e = next(&mut c).await.unwrap_err();
    assert!(
        matches!(e, ClientError::Terminal { code, .. } if code.0 == 0x0302),
        "{e:?}"
    );
    // A new session works on the new presence connection.
    wait_for("the reconnect", || proxy.accepted() >= 2).await;
    let mut c2 = client(&s, &direct, 602).await;
    echo(&mut c2, b"after").await;
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_client_in_flight_rides_out_the_daemon_dropping_under_sbrp_relay() {
    let s = Setup::new();
    let proxy = Proxy::start(s.relay_addr).await;
    let via_proxy = format!("ws://{}/", proxy.addr);
    let direct = format!("ws://{}/", s.relay_addr);
    let dtok = s.mint("daemon.jwt", "daemon", &["--scp", "session:resume"]);
    let daemon = s.daemon(&via_proxy, &dtok, &["--resumable"]);
    // The daemon is on the relay once a library client gets a session.
    client(&s, &direct, 700).await.close().await;
    let ctok = s.mint("cli.jwt", "client", &["--sid", "701"]);
    let mut cli = s
        .cli_client(&direct, &ctok, 100)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(cli.stderr.take().unwrap());
    let (open_tx, open_rx) = std::sync::mpsc::channel();
    let lines = std::thread::spawn(move || {
        let mut all = String::new();
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("open with") {
                let _ = open_tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    // The session is open and its 100 echoes under way: cut the daemon's connection.
    tokio::task::spawn_blocking(move || open_rx.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("the CLI client opened its session");
    proxy.cut();
    let out = tokio::task::spawn_blocking(move || cli.wait_with_output().unwrap())
        .await
        .unwrap();
    let err = lines.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["matched"], 100, "{v}");
    for name in ["session_paused", "session_pending", "session_resumed"] {
        assert!(err.contains(&format!("Control {name}")), "{err}");
    }
    terminate(&daemon);
    assert_eq!(daemon.wait_with_output().unwrap().status.code(), Some(0));
}
