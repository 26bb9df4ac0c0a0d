//! The relay-client library end to end on 127.0.0.1, through the test relay of
//! `tests/test_relay`: tokens minted by `sbrp::token::mint` and checked before the upgrade,
//! both token modes, 401/403/409, wss with a CA made in the test, a relay that drops its
//! daemons (the daemon reconnects; a client in flight sees session_paused, then
//! session_expired), a resumable daemon that keeps its sessions across a reconnect (Signal
//! ready; state_lost for one its handler lost), SBRP Ping/Pong, a text message (1003), an
//! oversized message (1009), a terminal Control that ends one session only.
#![cfg(feature = "tls")]

mod test_relay;
#[path = "common/tls.rs"]
mod tls;

use std::sync::Arc;
use std::time::Duration;

use sbrp::endpoint::SessionTable;
use sbrp::relay_client::{
    Auth, Backoff, ClientError, ClientEvent, ConnectError, RecvError, RelayClient, RelayConfig,
    RelayDaemon, TokenSource, Trust,
};
use sbrp::token::{self, Claims, Jwks, Role, Token, VerifyPolicy};
use sbrp::{Daemon, IdentityKeyPair, SessionId};
use test_relay::{Out, TestRelay};
use tokio_tungstenite::tungstenite::Message;

const DID: &str = "daemon-1";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Fixture {
    issuer: IdentityKeyPair,
    identity: IdentityKeyPair,
    relay: TestRelay,
}

fn mint(issuer: &IdentityKeyPair, role: Role, sid: u64, region: Option<&str>) -> Token {
    let ttl = if role == Role::Client { 120 } else { 3600 };
    let mut c = Claims::new(role, DID, now(), ttl);
    c.iss = Some("sbrp".into());
    c.sub = Some(if role == Role::Client {
        "u1".into()
    } else {
        DID.into()
    });
    c.sid = SessionId::new(sid).filter(|_| role == Role::Client);
    c.region = region.map(str::to_owned);
    token::mint(&c, issuer, &token::thumbprint(&issuer.public_key())).unwrap()
}

async fn fixture(tls: Option<Arc<rustls::ServerConfig>>) -> Fixture {
    let issuer = IdentityKeyPair::generate().unwrap();
    let policy = VerifyPolicy {
        iss: Some("sbrp".into()),
        region: Some("eu".into()),
        ..VerifyPolicy::default()
    };
    let relay = TestRelay::start(Jwks::from_keys([issuer.public_key()]), policy, tls).await;
    Fixture {
        issuer,
        identity: IdentityKeyPair::generate().unwrap(),
        relay,
    }
}

fn fast_backoff() -> Backoff {
    Backoff::new(
        Duration::from_millis(50),
        Duration::from_millis(400),
        Duration::from_millis(10),
        Duration::from_secs(5),
    )
}

/// Starts an echo daemon on the relay; returns its task.
fn start_daemon(
    f: &Fixture,
    config: RelayConfig,
    max_sessions: usize,
) -> tokio::task::JoinHandle<()> {
    let daemon = Daemon::new(f.identity.clone(), DID);
    let token = mint(&f.issuer, Role::Daemon, 0, None);
    let d = RelayDaemon::new(config, TokenSource::Fixed(token), daemon)
        .with_table(SessionTable::new(
            Daemon::new(f.identity.clone(), DID),
            max_sessions,
        ))
        .with_backoff(fast_backoff());
    tokio::spawn(async move {
        let echo = |_sid, m: Vec<u8>| vec![m];
        let _ = d.run(echo, |_| {}).await;
    })
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn client(f: &Fixture, config: &RelayConfig, sid: u64) -> Result<RelayClient, ClientError> {
    let token = mint(&f.issuer, Role::Client, sid, None);
    let pk = f.identity.public_key();
    RelayClient::connect(config, &token, DID, Trust::Pinned(&pk), |_| {}).await
}

async fn echo_once(c: &mut RelayClient, msg: &[u8]) {
    c.send(msg).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), c.recv())
            .await
            .unwrap()
            .unwrap()
        {
            ClientEvent::Message(m) => {
                assert_eq!(m, msg);
                return;
            }
            ClientEvent::Ping => continue,
            other => panic!("{other:?}"),
        }
    }
}

fn has_daemon(f: &Fixture) -> impl FnMut() -> bool + '_ {
    || f.relay.state.lock().unwrap().daemons.contains_key(DID)
}

#[tokio::test]
async fn echo_through_the_relay_in_both_token_modes() {
    let f = fixture(None).await;
    let mut cfg = RelayConfig::new(&f.relay.url()).unwrap();
    cfg.auth = Auth::Header;
    let _d = start_daemon(&f, cfg.clone(), 16);
    wait_for("the daemon", has_daemon(&f)).await;
    let mut c1 = client(&f, &cfg, 11).await.unwrap();
    let q = RelayConfig::new(&f.relay.url()).unwrap();
    let mut c2 = client(&f, &q, 12).await.unwrap();
    assert_eq!(c1.identity(), f.identity.public_key());
    assert_eq!(c2.session_id().get(), 12);
    for i in 0..5u8 {
        echo_once(&mut c1, &[i; 100]).await;
        echo_once(&mut c2, &vec![i; 65508]).await;
    }
    assert_eq!(c1.connection().transport(), "ws");
    // The wrong pinned key: identity_key_changed.
    let other = IdentityKeyPair::generate().unwrap().public_key();
    let t = mint(&f.issuer, Role::Client, 13, None);
    let e = RelayClient::connect(&q, &t, DID, Trust::Pinned(&other), |_| {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(sbrp::ErrorCode::IdentityKeyChanged));
}

#[tokio::test]
async fn refusals_401_403_409() {
    let f = fixture(None).await;
    let cfg = RelayConfig::new(&f.relay.url()).unwrap();
    let _d = start_daemon(&f, cfg.clone(), 16);
    wait_for("the daemon", has_daemon(&f)).await;
    // 401: signed by a key the relay does not know.
    let stranger = IdentityKeyPair::generate().unwrap();
    let t = mint(&stranger, Role::Client, 5, None);
    let e = sbrp::relay_client::connect(&cfg, &t).await.unwrap_err();
    assert_eq!(e, ConnectError::Refused { status: 401 });
    assert!(!e.to_string().contains(t.expose()));
    // 401: no token at all.
    let e = sbrp::relay_client::connect(&cfg, &Token::new(""))
        .await
        .unwrap_err();
    assert_eq!(e.http_status(), Some(401));
    // 403: valid, but bound to another region.
    let t = mint(&f.issuer, Role::Client, 5, Some("us"));
    let e = sbrp::relay_client::connect(&cfg, &t).await.unwrap_err();
    assert_eq!(e.http_status(), Some(403));
    // 409: a second client for a live session id.
    let _c = client(&f, &cfg, 5).await.unwrap();
    let e = client(&f, &cfg, 5).await.unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Connect(ConnectError::Refused { status: 409 })
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn daemon_reconnects_and_a_client_in_flight_sees_session_paused() {
    let f = fixture(None).await;
    let cfg = RelayConfig::new(&f.relay.url()).unwrap();
    let _d = start_daemon(&f, cfg.clone(), 16);
    wait_for("the daemon", has_daemon(&f)).await;
    let mut c = client(&f, &cfg, 21).await.unwrap();
    echo_once(&mut c, b"before").await;
    f.relay.drop_daemons();
    let ev = tokio::time::timeout(Duration::from_secs(5), c.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev, ClientEvent::Paused);
    assert!(c.is_paused());
    assert!(matches!(c.send(b"x").await, Err(ClientError::Paused)));
    // The daemon comes back by itself; without session:resume the session expires.
    wait_for("the reconnect", || {
        f.relay.state.lock().unwrap().daemon_connections >= 2
    })
    .await;
    let e = tokio::time::timeout(Duration::from_secs(5), c.recv())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(e, ClientError::Terminal { code, .. } if code.0 == 0x0302),
        "{e:?}"
    );
    // A new session works on the new presence connection.
    wait_for("the daemon", has_daemon(&f)).await;
    let mut c2 = client(&f, &cfg, 22).await.unwrap();
    echo_once(&mut c2, b"after").await;
}

#[tokio::test]
async fn pings_are_answered_by_both_ends() {
    let f = fixture(None).await;
    let cfg = RelayConfig::new(&f.relay.url()).unwrap();
    let _d = start_daemon(&f, cfg.clone(), 16);
    wait_for("the daemon", has_daemon(&f)).await;
    let ping = hex::decode("100000000800000000000000000102030405060708").unwrap();
    f.relay
        .to_daemon(DID, Out::Msg(Message::Binary(ping.clone().into())));
    wait_for("the daemon's Pong", || {
        f.relay
            .state
            .lock()
            .unwrap()
            .pongs
            .iter()
            .any(|(_, p)| p == &[1, 2, 3, 4, 5, 6, 7, 8])
    })
    .await;
    let mut c = client(&f, &cfg, 31).await.unwrap();
    f.relay
        .to_client(DID, 31, Out::Msg(Message::Binary(ping.into())));
    let ev = tokio::time::timeout(Duration::from_secs(5), c.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev, ClientEvent::Ping);
    wait_for("the client's Pong", || {
        f.relay.state.lock().unwrap().pongs.len() >= 2
    })
    .await;
}

#[tokio::test]
async fn text_and_oversized_messages_close_the_connection() {
    let f = fixture(None).await;
    let cfg = RelayConfig::new(&f.relay.url()).unwrap();
    let _d = start_daemon(&f, cfg.clone(), 16);
    wait_for("the daemon", has_daemon(&f)).await;
    let mut c = client(&f, &cfg, 41).await.unwrap();
    f.relay
        .to_client(DID, 41, Out::Msg(Message::Text("hello".into())));
    let e = tokio::time::timeout(Duration::from_secs(5), c.recv())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::Connection(RecvError::Framing(m)) if m.close_code() == 1003),
        "{e:?}"
    );
    wait_for("close 1003", || {
        f.relay.state.lock().unwrap().closes_seen.contains(&1003)
    })
    .await;

    let mut c = client(&f, &cfg, 42).await.unwrap();
    f.relay
        .to_client(DID, 42, Out::Msg(Message::Binary(vec![0u8; 65550].into())));
    let e = tokio::time::timeout(Duration::from_secs(5), c.recv())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::Connection(RecvError::Framing(m)) if m.close_code() == 1009),
        "{e:?}"
    );
    wait_for("close 1009", || {
        f.relay.state.lock().unwrap().closes_seen.contains(&1009)
    })
    .await;

    // Two frames in one message: malformed_frame, close 1002.
    let mut c = client(&f, &cfg, 43).await.unwrap();
    let two = hex::decode("1000000000000000000000000010000000000000000000000000").unwrap();
    f.relay
        .to_client(DID, 43, Out::Msg(Message::Binary(two.into())));
    let e = tokio::time::timeout(Duration::from_secs(5), c.recv())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code(), Some(sbrp::ErrorCode::MalformedFrame));
    wait_for("close 1002", || {
        f.relay.state.lock().unwrap().closes_seen.contains(&1002)
    })
    .await;
}

#[tokio::test]
async fn a_session_scoped_terminal_control_ends_that_session_only() {
    let f = fixture(None).await;
    let cfg = RelayConfig::new(&f.relay.url()).unwrap();
    let _d = start_daemon(&f, cfg.clone(), 16);
    wait_for("the daemon", has_daemon(&f)).await;
    let mut c1 = client(&f, &cfg, 51).await.unwrap();
    let mut c2 = client(&f, &cfg, 52).await.unwrap();
    echo_once(&mut c1, b"one").await;
    // session_expired for 51 on the daemon's connection: the daemon drops session 51 ...
    let ctl = hex::decode("200000000200000000000000330302").unwrap();
    f.relay
        .to_daemon(DID, Out::Msg(Message::Binary(ctl.into())));
    // ... so 51's next message is not answered, while 52 still echoes.
    c1.send(b"lost").await.unwrap();
    echo_once(&mut c2, b"two").await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), c1.recv())
            .await
            .is_err()
    );
    // A terminal Control to a client ends its run with that code.
    f.relay.to_client(
        DID,
        52,
        Out::Msg(Message::Binary(
            hex::decode("200000000200000000000000340404")
                .unwrap()
                .into(),
        )),
    );
    let e = c2.recv().await.unwrap_err();
    assert!(
        matches!(e, ClientError::Terminal { code, .. } if code.0 == 0x0404),
        "{e:?}"
    );
}

#[tokio::test]
async fn max_sessions_refuses_handshakes_beyond_the_bound() {
    let f = fixture(None).await;
    let mut cfg = RelayConfig::new(&f.relay.url()).unwrap();
    cfg.handshake_timeout = Duration::from_millis(500);
    let _d = start_daemon(&f, cfg.clone(), 1);
    wait_for("the daemon", has_daemon(&f)).await;
    let _c1 = client(&f, &cfg, 61).await.unwrap();
    let e = client(&f, &cfg, 62).await.unwrap_err();
    assert_eq!(e.code(), Some(sbrp::ErrorCode::HandshakeTimeout));
}

#[tokio::test]
async fn wss_with_a_private_ca() {
    let tls = tls::TestCa::new();
    let server = tls.server_config();
    let f = fixture(Some(Arc::new(server))).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &tls.ca_pem).unwrap();
    let url = format!("wss://127.0.0.1:{}/", f.relay.port);
    // Without the CA: the system roots do not know it.
    let t = mint(&f.issuer, Role::Client, 71, None);
    let e = sbrp::relay_client::connect(&RelayConfig::new(&url).unwrap(), &t)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ConnectError::Tls(_) | ConnectError::Io(_) | ConnectError::WebSocket(_)
        ),
        "{e:?}"
    );
    let mut cfg = RelayConfig::new(&url).unwrap();
    cfg.ca_file = Some(ca_file);
    let _d = start_daemon(&f, cfg.clone(), 16);
    wait_for("the daemon", has_daemon(&f)).await;
    let mut c = client(&f, &cfg, 72).await.unwrap();
    assert_eq!(c.connection().transport(), "wss");
    echo_once(&mut c, b"over tls").await;
}

#[tokio::test]
async fn the_token_file_is_read_again_at_every_attempt() {
    let f = fixture(None).await;
    let cfg = RelayConfig::new(&f.relay.url()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("daemon.jwt");
    // First a token the relay refuses (another issuer): 401, retried.
    let stranger = IdentityKeyPair::generate().unwrap();
    std::fs::write(&file, mint(&stranger, Role::Daemon, 0, None).expose()).unwrap();
    let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = refused.clone();
    let d = RelayDaemon::new(
        cfg.clone(),
        TokenSource::File(file.clone()),
        Daemon::new(f.identity.clone(), DID),
    )
    .with_backoff(fast_backoff());
    tokio::spawn(async move {
        let echo = |_sid, m: Vec<u8>| vec![m];
        let _ = d
            .run(echo, move |e| {
                if let sbrp::relay_client::DaemonEvent::ConnectFailed(ConnectError::Refused {
                    status: 401,
                }) = e
                {
                    r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
            .await;
    });
    wait_for("a 401", || {
        refused.load(std::sync::atomic::Ordering::SeqCst) >= 1
    })
    .await;
    assert!(!f.relay.state.lock().unwrap().daemons.contains_key(DID));
    // Renewed by "another process": the next attempt uses it.
    std::fs::write(
        &file,
        format!("{}\n", mint(&f.issuer, Role::Daemon, 0, None).expose()),
    )
    .unwrap();
    wait_for("the daemon", has_daemon(&f)).await;
    let mut c = client(&f, &cfg, 81).await.unwrap();
    echo_once(&mut c, b"renewed").await;
}

#[test]
fn readme_shows_the_example_that_ci_builds() {
    let example = include_str!("../examples/relay_echo_daemon.rs");
    let readme = include_str!("../README.md");
    let body: String = example
        .lines()
        .skip_while(|l| l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        readme.contains(body.trim()),
        "README must show examples/relay_echo_daemon.rs as it is"
    );
}

async fn next(c: &mut RelayClient) -> Result<ClientEvent, ClientError> {
    tokio::time::timeout(Duration::from_secs(10), c.recv())
        .await
        .unwrap()
}

/// A handler that echoes and reports it lost the state of session 32 at a reconnect.
struct LosesOne;

impl sbrp::endpoint::SessionHandler for LosesOne {
    fn message(&mut self, _sid: SessionId, data: Vec<u8>) -> Vec<Vec<u8>> {
        vec![data]
    }
    fn resumable(&mut self, sid: SessionId) -> bool {
        sid.get() != 32
    }
}

#[tokio::test]
async fn a_resumable_daemon_keeps_its_sessions_across_a_reconnect() {
    let f = fixture(None).await;
    let cfg = RelayConfig::new(&f.relay.url()).unwrap();
    let mut claims = Claims::new(Role::Daemon, DID, now(), 3600);
    claims.iss = Some("sbrp".into());
    claims.sub = Some(DID.into());
    claims.scp = vec![token::SCOPE_SESSION_RESUME.into()];
    let dtok = token::mint(
        &claims,
        &f.issuer,
        &token::thumbprint(&f.issuer.public_key()),
    )
    .unwrap();
    let d = RelayDaemon::new(
        cfg.clone(),
        TokenSource::Fixed(dtok),
        Daemon::new(f.identity.clone(), DID),
    )
    .with_backoff(fast_backoff())
    .resumable(true);
    let events = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let ev = events.clone();
    let _d = tokio::spawn(async move {
        let _ = d
            .run(LosesOne, move |e| ev.lock().unwrap().push(format!("{e:?}")))
            .await;
    });
    wait_for("the daemon", has_daemon(&f)).await;
    let mut kept = client(&f, &cfg, 31).await.unwrap();
    let mut lost = client(&f, &cfg, 32).await.unwrap();
    for _ in 0..3 {
        echo_once(&mut kept, b"before").await;
    }
    echo_once(&mut lost, b"before").await;
    f.relay.drop_daemons();
    assert_eq!(next(&mut kept).await.unwrap(), ClientEvent::Paused);
    assert!(matches!(kept.send(b"x").await, Err(ClientError::Paused)));
    assert_eq!(next(&mut kept).await.unwrap(), ClientEvent::Pending);
    assert_eq!(next(&mut kept).await.unwrap(), ClientEvent::Resumed);
    // Same keys, counters going on: the daemon opens what the client seals and the client
    // accepts what the daemon seals, with no new handshake.
    for _ in 0..3 {
        echo_once(&mut kept, b"after the reconnect").await;
    }
    // The session whose state the handler lost: Signal(close, state_lost) → session_expired.
    assert_eq!(next(&mut lost).await.unwrap(), ClientEvent::Paused);
    assert_eq!(next(&mut lost).await.unwrap(), ClientEvent::Pending);
    let e = next(&mut lost).await.unwrap_err();
    assert!(
        matches!(e, ClientError::Terminal { code, .. } if code.0 == 0x0302),
        "{e:?}"
    );
    let signals = f.relay.state.lock().unwrap().signals.clone();
    assert!(signals.contains(&(31, 0, 0)), "{signals:?}");
    assert!(signals.contains(&(32, 1, 1)), "{signals:?}");
    assert_eq!(signals.len(), 2, "{signals:?}");
    assert!(
        events.lock().unwrap().iter().any(|e| e.contains("kept: 2")),
        "{:?}",
        events.lock().unwrap()
    );
}
