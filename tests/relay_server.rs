//! `sbrp::relay::RelayServer` and `sbrp relay` on real sockets on 127.0.0.1: authentication
//! before the upgrade (401 for every kind of bad token, 403, 409, 503, slow handshakes),
//! forwarding through the core, R10/text closes, R5 backpressure through the real writer,
//! wss with a test CA, JWKS rotation without a restart, SIGTERM on the real binary (1001 to
//! everyone, exit 0), the `--json` ready line, and `--dev`'s printed commands run as printed.
//! The state machine, frame authority and Control codes are tested in `src/relay/core_tests.rs`
//! and by the conformance tests; this file tests the I/O layer around them.
#![cfg(all(feature = "relay", feature = "tls"))]

#[path = "common/peer.rs"]
mod peer;
#[path = "common/tls.rs"]
mod tls;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assert_cmd::cargo::cargo_bin;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{SinkExt, StreamExt};
use peer::sbrp;
use sbrp::IdentityKeyPair;
use sbrp::relay::{
    ConnectionEvent, Fanout, FrameAction, FrameRecord, HandshakeLimits, JwksSource, Observer,
    RelayConfig, RelayEvent, RelayServer, ServerConfig,
};
use sbrp::token::{self, Claims, Jwks, Role, Token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, http};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const ISS: &str = "test-issuer";
const DID: &str = "daemon-1";
const LONG: Duration = Duration::from_secs(30);

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(role: Role, sid: u64) -> Claims {
    let mut c = Claims::new(role, DID, now(), 100);
    c.iss = Some(ISS.into());
    c.jti = Some(format!("j{sid}"));
    c.sub = Some(if role == Role::Daemon {
        DID.into()
    } else {
        "user".into()
    });
    if role == Role::Client {
        c.sid = sbrp::SessionId::new(sid);
    }
    c
}

fn mint(key: &IdentityKeyPair, c: &Claims) -> Token {
    token::mint(c, key, &token::thumbprint(&key.public_key())).unwrap()
}

/// What the server reported, as short strings.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn has(&self, line: &str) -> bool {
        self.lines().iter().any(|l| l == line)
    }
}

impl Observer for Recorder {
    fn connection(&self, e: &ConnectionEvent<'_>) {
        let line = match e {
            ConnectionEvent::Opened { role, .. } => format!("opened {role}"),
            ConnectionEvent::Refused { status, reason, .. } => format!("refused {status} {reason}"),
            ConnectionEvent::Closed { role, code, .. } => format!("closed {role} {code}"),
        };
        self.0.lock().unwrap().push(line);
    }
    fn frame(&self, r: &FrameRecord<'_>) {
        let line = format!(
            "frame {} {}->{} type {:#04x} len {}{}",
            r.action.name(),
            r.from.name(),
            r.to.name(),
            r.frame_type,
            r.len,
            r.reason.map(|x| format!(" {x}")).unwrap_or_default()
        );
        if r.action == FrameAction::Forwarded {
            assert_eq!(r.bytes.len(), r.len);
        } else if r.action != FrameAction::Generated && r.action != FrameAction::Answered {
            assert!(r.bytes.is_empty());
        }
        self.0.lock().unwrap().push(line);
    }
    fn relay_event(&self, e: &RelayEvent) {
        if let RelayEvent::Backpressure { .. } = e {
            self.0.lock().unwrap().push("event backpressure".into());
        }
    }
}

/// A recorder that wants only the frame actions listed (`Observer::wants_frames`), and
/// counts every frame it is handed anyway.
struct Picky {
    wants: &'static [FrameAction],
    rec: Recorder,
}

impl Observer for Picky {
    fn connection(&self, e: &ConnectionEvent<'_>) {
        self.rec.connection(e);
    }
    fn frame(&self, r: &FrameRecord<'_>) {
        self.rec.frame(r);
    }
    fn wants_frames(&self, action: FrameAction) -> bool {
        self.wants.contains(&action)
    }
}

struct Relay {
    addr: SocketAddr,
    rec: Arc<Recorder>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(jwks: JwksSource, relay: RelayConfig) -> Self {
        Self::start_tls(jwks, relay, None).await
    }

    async fn start_tls(
        jwks: JwksSource,
        relay: RelayConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        Self::start_full(jwks, relay, tls, HandshakeLimits::default()).await
    }

    async fn start_full(
        jwks: JwksSource,
        relay: RelayConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
        handshakes: HandshakeLimits,
    ) -> Self {
        let rec = Arc::new(Recorder::default());
        Self::start_observed(jwks, relay, tls, handshakes, rec.clone(), rec).await
    }

    /// Starts a relay reporting to `observer`; `rec` is what [`Relay::wait_for`] watches.
    async fn start_observed(
        jwks: JwksSource,
        relay: RelayConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
        handshakes: HandshakeLimits,
        observer: Arc<dyn Observer>,
        rec: Arc<Recorder>,
    ) -> Self {
        let server = RelayServer::bind(ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            relay,
            jwks,
            iss: Some(ISS.into()),
            handshakes,
            tls,
            observer: Some(observer),
        })
        .await
        .unwrap();
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            rec,
            stop: Some(tx),
            task,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(LONG, self.task)
            .await
            .expect("run returns after shutdown")
            .unwrap();
    }

    /// Waits until the recorder holds `line`.
    async fn wait_for(&self, line: &str) {
        let until = tokio::time::Instant::now() + LONG;
        while !self.rec.has(line) {
            assert!(
                tokio::time::Instant::now() < until,
                "never saw {line:?}; saw {:?}",
                self.rec.lines()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Upgrades with `token` as `?token=` (or as a header); an HTTP refusal comes back as its status.
async fn ws(addr: SocketAddr, token: Option<&str>, header: bool) -> Result<Ws, u16> {
    let url = match (token, header) {
        (Some(t), false) => format!("ws://{addr}/?token={t}"),
        _ => format!("ws://{addr}/"),
    };
    let mut req = url.into_client_request().unwrap();
    if let (Some(t), true) = (token, header) {
        req.headers_mut().insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("unexpected failure: {e}"),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Got {
    Frame(Vec<u8>),
    Closed(u16),
}

async fn recv(ws: &mut Ws) -> Got {
    loop {
        match tokio::time::timeout(LONG, ws.next()).await.expect("timely") {
            Some(Ok(Message::Binary(b))) => return Got::Frame(b.to_vec()),
            Some(Ok(Message::Close(f))) => return Got::Closed(f.map_or(1005, |f| f.code.into())),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Got::Closed(1006),
        }
    }
}

/// The next frame that is not a relay keepalive Ping.
async fn recv_frame(ws: &mut Ws) -> Vec<u8> {
    loop {
        match recv(ws).await {
            Got::Frame(f) if f[0] == 0x10 => {}
            Got::Frame(f) => return f,
            Got::Closed(c) => panic!("closed with {c} while a frame was expected"),
        }
    }
}

async fn recv_close(ws: &mut Ws) -> u16 {
    loop {
        if let Got::Closed(c) = recv(ws).await {
            return c;
        }
    }
}

fn frame(ty: u8, sid: u64, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![ty];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(&sid.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn control_code(f: &[u8]) -> u16 {
    assert_eq!(f[0], 0x20, "a Control frame: {f:?}");
    u16::from_be_bytes([f[13], f[14]])
}

async fn send(ws: &mut Ws, bytes: Vec<u8>) {
    ws.send(Message::Binary(bytes.into())).await.unwrap();
}

struct Keys {
    issuer: IdentityKeyPair,
    jwks: Jwks,
}

fn keys() -> Keys {
    let issuer = IdentityKeyPair::generate().unwrap();
    let jwks = Jwks::from_keys([issuer.public_key()]);
    Keys { issuer, jwks }
}

/// A daemon and a paired client (session `sid`).
async fn pair(relay: &Relay, k: &Keys, sid: u64) -> (Ws, Ws) {
    let d = ws(
        relay.addr,
        Some(mint(&k.issuer, &claims(Role::Daemon, 0)).expose()),
        false,
    )
    .await
    .unwrap();
    relay.wait_for("opened daemon").await;
    let c = ws(
        relay.addr,
        Some(mint(&k.issuer, &claims(Role::Client, sid)).expose()),
        true,
    )
    .await
    .unwrap();
    (d, c)
}

#[tokio::test]
async fn every_bad_token_is_refused_with_401_before_the_upgrade() {
    let k = keys();
    let relay = Relay::start(JwksSource::Static(k.jwks.clone()), RelayConfig::default()).await;
    let stranger = IdentityKeyPair::generate().unwrap();
    let good = claims(Role::Daemon, 0);
    let mut expired = claims(Role::Daemon, 0);
    expired.iat = now() - 1000;
    expired.exp = now() - 900;
    let mut wrong_iss = claims(Role::Daemon, 0);
    wrong_iss.iss = Some("someone-else".into());
    let mut wrong_aud = claims(Role::Daemon, 0);
    wrong_aud.aud = vec!["another-service".into()];
    let mut long_client = claims(Role::Client, 9);
    long_client.exp = long_client.iat + 301;
    // Same header and claims, signed by a key the relay does not trust but under a trusted kid.
    let forged = token::mint(&good, &stranger, &token::thumbprint(&k.issuer.public_key())).unwrap();
    // alg substitution: an HS256 header over valid claims.
    let valid = mint(&k.issuer, &good);
    let parts: Vec<&str> = valid.expose().split('.').collect();
    let hs_header = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"alg":"HS256","typ":"sbrp-relay+jwt","kid":"{}"}}"#,
        token::thumbprint(&k.issuer.public_key())
    ));
    let hs256 = format!("{hs_header}.{}.{}", parts[1], parts[2]);
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "missing_token"),
        ("empty", Some(String::new()), "missing_token"),
        ("garbage", Some("not-a-jwt".into()), "malformed_token"),
        ("too long", Some("a".repeat(5000)), "token_too_long"),
        ("forged", Some(forged.expose().into()), "bad_signature"),
        (
            "unknown key",
            Some(mint(&stranger, &good).expose().into()),
            "unknown_kid",
        ),
        ("alg substitution", Some(hs256), "wrong_algorithm"),
        (
            "expired",
            Some(mint(&k.issuer, &expired).expose().into()),
            "expired",
        ),
        (
            "issuer",
            Some(mint(&k.issuer, &wrong_iss).expose().into()),
            "wrong_issuer",
        ),
        (
            "audience",
            Some(mint(&k.issuer, &wrong_aud).expose().into()),
            "wrong_audience",
        ),
        (
            "client lifetime",
            Some(mint(&k.issuer, &long_client).expose().into()),
            "lifetime_too_long",
        ),
    ];
    for (name, tok, reason) in &cases {
        for header in [false, true] {
            let got = ws(relay.addr, tok.as_deref(), header).await;
            assert_eq!(got.err(), Some(401), "{name} (header: {header})");
            relay.wait_for(&format!("refused 401 {reason}")).await;
        }
    }
    // Nothing reported carries a token.
    for line in relay.rec.lines() {
        for (_, tok, _) in &cases {
            if let Some(t) = tok.as_deref().filter(|t| t.len() > 20) {
                assert!(!line.contains(t), "{line}");
            }
        }
        assert!(!line.starts_with("opened"), "{line}");
    }
    // And the good token is admitted, by query and by header.
    for header in [false, true] {
        let mut d = ws(relay.addr, Some(valid.expose()), header).await.unwrap();
        d.close(None).await.unwrap();
    }
    relay.stop().await;
}

#[tokio::test]
async fn refusals_403_409_503_and_their_reports() {
    let k = keys();
    let cfg = RelayConfig {
        max_connections: 3,
        ..RelayConfig::default()
    };
    let relay = Relay::start(JwksSource::Static(k.jwks.clone()), cfg).await;
    // 403: a valid client token that does not grant session:create.
    let mut no_scope = claims(Role::Client, 5);
    no_scope.scp.clear();
    let got = ws(relay.addr, Some(mint(&k.issuer, &no_scope).expose()), false).await;
    assert_eq!(got.err(), Some(403));
    relay.wait_for("refused 403 missing_scope").await;
    // 409: a second client for a live session id (R9).
    let (_d, _c) = pair(&relay, &k, 5).await;
    relay.wait_for("opened client").await;
    let again = mint(&k.issuer, &claims(Role::Client, 5));
    assert_eq!(
        ws(relay.addr, Some(again.expose()), false).await.err(),
        Some(409)
    );
    relay.wait_for("refused 409 session_live").await;
    // 503: the third connection fits, the fourth does not.
    let _c2 = ws(
        relay.addr,
        Some(mint(&k.issuer, &claims(Role::Client, 6)).expose()),
        false,
    )
    .await
    .unwrap();
    let fourth = mint(&k.issuer, &claims(Role::Client, 7));
    assert_eq!(
        ws(relay.addr, Some(fourth.expose()), false).await.err(),
        Some(503)
    );
    relay.wait_for("refused 503 too_many_connections").await;
    relay.stop().await;
}

#[tokio::test]
async fn frames_are_forwarded_byte_for_byte_and_closes_reported() {
    let k = keys();
    let relay = Relay::start(JwksSource::Static(k.jwks.clone()), RelayConfig::default()).await;
    let (mut d, mut c) = pair(&relay, &k, 42).await;
    let init = frame(0x01, 42, &[7u8; 32]);
    send(&mut c, init.clone()).await;
    assert_eq!(recv_frame(&mut d).await, init);
    let accept = frame(0x02, 42, &[9u8; 128]);
    send(&mut d, accept.clone()).await;
    assert_eq!(recv_frame(&mut c).await, accept);
    for n in [28usize, 1000, 65536] {
        let data = frame(0x03, 42, &vec![n as u8; n]);
        send(&mut c, data.clone()).await;
        assert_eq!(recv_frame(&mut d).await, data);
        send(&mut d, data.clone()).await;
        assert_eq!(recv_frame(&mut c).await, data);
    }
    // A Ping is answered by the relay, with its payload.
    send(&mut c, frame(0x10, 0, b"12345678")).await;
    assert_eq!(recv_frame(&mut c).await, frame(0x11, 0, b"12345678"));
    // The client leaves: the daemon is told session_ended (0x1003) on its open connection.
    c.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    let ended = recv_frame(&mut d).await;
    assert_eq!(control_code(&ended), 0x1003);
    relay.wait_for("closed client 1000").await;
    relay
        .wait_for("frame forwarded client->daemon type 0x01 len 45")
        .await;
    relay
        .wait_for("frame answered relay->client type 0x11 len 21")
        .await;
    relay
        .wait_for("frame generated relay->daemon type 0x20 len 15")
        .await;
    relay.stop().await;
    assert_eq!(recv_close(&mut d).await, 1001);
}

/// Drives one of each frame action a session produces without ending it: forwarded both
/// ways, a Ping answered, an endpoint's Pong consumed (dropped), and at the client's close a
/// Control generated to the daemon.
async fn every_kind_of_frame(relay: &Relay, k: &Keys) {
    let (mut d, mut c) = pair(relay, k, 43).await;
    let init = frame(0x01, 43, &[7u8; 32]);
    send(&mut c, init.clone()).await;
    assert_eq!(recv_frame(&mut d).await, init);
    let accept = frame(0x02, 43, &[9u8; 128]);
    send(&mut d, accept.clone()).await;
    assert_eq!(recv_frame(&mut c).await, accept);
    send(&mut c, frame(0x10, 0, b"12345678")).await;
    assert_eq!(recv_frame(&mut c).await, frame(0x11, 0, b"12345678"));
    send(&mut d, frame(0x11, 0, b"87654321")).await;
    c.close(None).await.unwrap();
    assert_eq!(control_code(&recv_frame(&mut d).await), 0x1003);
    relay.wait_for("closed client 1005").await;
}

const EVERY_KIND: [&str; 5] = [
    "frame forwarded client->daemon type 0x01 len 45",
    "frame forwarded daemon->client type 0x02 len 141",
    "frame answered relay->client type 0x11 len 21",
    "frame dropped daemon->relay type 0x11 len 21 consumed",
    "frame generated relay->daemon type 0x20 len 15",
];

#[tokio::test]
async fn an_observer_gets_only_the_frames_it_wants_and_the_others_get_all() {
    let k = keys();
    // In a fanout, beside an observer that wants every frame (as metrics and captures do).
    let all = Arc::new(Recorder::default());
    let picky = Arc::new(Picky {
        wants: &[FrameAction::Generated, FrameAction::Dropped],
        rec: Recorder::default(),
    });
    let fan = Arc::new(Fanout(vec![all.clone(), picky.clone()]));
    let relay = Relay::start_observed(
        JwksSource::Static(k.jwks.clone()),
        RelayConfig::default(),
        None,
        HandshakeLimits::default(),
        fan,
        all.clone(),
    )
    .await;
    every_kind_of_frame(&relay, &k).await;
    for line in EVERY_KIND {
        relay.wait_for(line).await;
    }
    let picked: Vec<String> = picky
        .rec
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("frame "))
        .collect();
    assert!(picked.contains(&EVERY_KIND[3].to_owned()), "{picked:?}");
    assert!(picked.contains(&EVERY_KIND[4].to_owned()), "{picked:?}");
    assert!(
        picked
            .iter()
            .all(|l| l.starts_with("frame generated") || l.starts_with("frame dropped")),
        "{picked:?}"
    );
    // Connection events are not filtered.
    assert!(picky.rec.has("opened daemon") && picky.rec.has("closed client 1005"));
    relay.stop().await;

    // Alone, an observer that wants no frame is never called for one, and still sees the
    // connections.
    let none = Arc::new(Picky {
        wants: &[],
        rec: Recorder::default(),
    });
    let watch = Arc::new(Recorder::default());
    let both: Arc<dyn Observer> = none.clone();
    let relay = Relay::start_observed(
        JwksSource::Static(k.jwks.clone()),
        RelayConfig::default(),
        None,
        HandshakeLimits::default(),
        both,
        watch,
    )
    .await;
    let (mut d, mut c) = pair_watching(&relay, &k, 44, &none.rec).await;
    let init = frame(0x01, 44, &[7u8; 32]);
    send(&mut c, init.clone()).await;
    assert_eq!(recv_frame(&mut d).await, init);
    send(&mut c, frame(0x10, 0, b"12345678")).await;
    assert_eq!(recv_frame(&mut c).await, frame(0x11, 0, b"12345678"));
    c.close(None).await.unwrap();
    assert_eq!(control_code(&recv_frame(&mut d).await), 0x1003);
    let until = tokio::time::Instant::now() + LONG;
    while !none.rec.has("closed client 1005") {
        assert!(
            tokio::time::Instant::now() < until,
            "{:?}",
            none.rec.lines()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        none.rec.lines().iter().all(|l| !l.starts_with("frame ")),
        "{:?}",
        none.rec.lines()
    );
    relay.stop().await;
}

/// [`pair`], waiting for the daemon on `rec` rather than on the relay's own recorder.
async fn pair_watching(relay: &Relay, k: &Keys, sid: u64, rec: &Recorder) -> (Ws, Ws) {
    let d = ws(
        relay.addr,
        Some(mint(&k.issuer, &claims(Role::Daemon, 0)).expose()),
        false,
    )
    .await
    .unwrap();
    let until = tokio::time::Instant::now() + LONG;
    while !rec.has("opened daemon") {
        assert!(tokio::time::Instant::now() < until, "{:?}", rec.lines());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let c = ws(
        relay.addr,
        Some(mint(&k.issuer, &claims(Role::Client, sid)).expose()),
        true,
    )
    .await
    .unwrap();
    (d, c)
}

#[tokio::test]
async fn oversized_messages_close_1009_and_text_1003() {
    let k = keys();
    let relay = Relay::start(JwksSource::Static(k.jwks.clone()), RelayConfig::default()).await;
    let (mut d, mut c) = pair(&relay, &k, 3).await;
    // 65549 bytes is the largest frame and passes; one byte more closes 1009.
    let max = frame(0x03, 3, &vec![1u8; 65536]);
    assert_eq!(max.len(), 65549);
    send(&mut c, max.clone()).await;
    assert_eq!(recv_frame(&mut d).await, max);
    let mut over = max.clone();
    over.push(0);
    send(&mut c, over).await;
    assert_eq!(recv_close(&mut c).await, 1009);
    relay.wait_for("closed client 1009").await;
    // A text message from the daemon: 1003.
    d.send(Message::Text("hello".into())).await.unwrap();
    assert_eq!(recv_close(&mut d).await, 1003);
    relay.wait_for("closed daemon 1003").await;
    relay.stop().await;
}

#[tokio::test]
async fn a_slow_receiver_gets_backpressure_and_no_frame_is_lost_silently() {
    let k = keys();
    let cfg = RelayConfig {
        max_queue: 256 * 1024,
        // No rate limit in the way: the only reason to drop here is backpressure.
        rate: 1_000_000,
        burst: 1_000_000,
        ..RelayConfig::default()
    };
    let relay = Relay::start(JwksSource::Static(k.jwks.clone()), cfg).await;
    let (mut d, mut c) = pair(&relay, &k, 8).await;
    relay.wait_for("opened client").await;
    // The client does not read; the daemon sends far more than the socket buffers and the
    // queue hold. Its own connection is never closed for it.
    let data = frame(0x03, 8, &vec![5u8; 60_000]);
    let mut sent = 0;
    let until = tokio::time::Instant::now() + LONG;
    while !relay.rec.has("event backpressure") {
        assert!(
            tokio::time::Instant::now() < until,
            "no backpressure after {sent} frames"
        );
        send(&mut d, data.clone()).await;
        sent += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    relay
        .wait_for("frame dropped daemon->relay type 0x03 len 60013 backpressure")
        .await;
    // The client, reading now, gets every frame that was queued, then Control(backpressure)
    // and close 1013.
    let mut frames = 0;
    let code = loop {
        match recv(&mut c).await {
            Got::Frame(f) if f[0] == 0x03 => {
                assert_eq!(f, data);
                frames += 1;
            }
            Got::Frame(f) if f[0] == 0x20 => break control_code(&f),
            Got::Frame(_) => {}
            Got::Closed(code) => panic!("closed {code} before the Control"),
        }
    };
    assert_eq!(code, 0x0902, "backpressure");
    assert!(frames > 0 && frames < sent, "{frames} of {sent}");
    assert_eq!(recv_close(&mut c).await, 1013);
    relay.wait_for("closed client 1013").await;
    // The daemon's session ended with the client: it is told, and its connection stays open.
    let ended = recv_frame(&mut d).await;
    assert_eq!(control_code(&ended), 0x1003);
    // A Ping answered means every frame the daemon sent before it has been handled.
    send(&mut d, frame(0x10, 0, b"sync")).await;
    assert_eq!(recv_frame(&mut d).await, frame(0x11, 0, b"sync"));
    let lines = relay.rec.lines();
    // Every Data frame the daemon sent is accounted for: forwarded or dropped with a reason.
    let forwarded = lines
        .iter()
        .filter(|l| l.starts_with("frame forwarded daemon->client type 0x03"))
        .count();
    let dropped = lines
        .iter()
        .filter(|l| l.starts_with("frame dropped daemon->relay type 0x03"))
        .count();
    assert_eq!(
        forwarded + dropped,
        sent,
        "{forwarded} + {dropped} != {sent}"
    );
    assert!(forwarded >= frames);
    relay.stop().await;
}

#[tokio::test]
async fn silent_and_slow_handshakes_are_cut_off() {
    let k = keys();
    let relay = Relay::start(JwksSource::Static(k.jwks.clone()), RelayConfig::default()).await;
    // Connects and never sends a request: closed after the handshake timeout.
    let mut idle = TcpStream::connect(relay.addr).await.unwrap();
    // An endless header: refused once it passes tungstenite's 64 KiB limit.
    let mut big = TcpStream::connect(relay.addr).await.unwrap();
    big.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let line = format!("X-Filler: {}\r\n", "a".repeat(1000));
    let mut refused_early = false;
    for _ in 0..100 {
        if big.write_all(line.as_bytes()).await.is_err() {
            refused_early = true;
            break;
        }
    }
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(LONG, idle.read(&mut buf))
        .await
        .expect("the relay closes a silent connection");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    relay.wait_for("refused 408 handshake_timeout").await;
    if !refused_early {
        let n = tokio::time::timeout(LONG, big.read(&mut buf))
            .await
            .expect("the relay closes a huge request");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    }
    relay.wait_for("refused 400 request_too_large").await;
    relay.stop().await;
}

fn write_jwks(path: &Path, keys: &[&IdentityKeyPair]) {
    let jwks = Jwks::from_keys(keys.iter().map(|k| k.public_key()));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, jwks.to_json().to_string()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn a_rotated_jwks_file_is_used_without_a_restart_and_a_broken_one_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let old = IdentityKeyPair::generate().unwrap();
    let new = IdentityKeyPair::generate().unwrap();
    write_jwks(&path, &[&old]);
    let relay = Relay::start(JwksSource::File(path.clone()), RelayConfig::default()).await;
    let by_old = mint(&old, &claims(Role::Daemon, 0));
    let by_new = mint(&new, &claims(Role::Daemon, 0));
    assert_eq!(
        ws(relay.addr, Some(by_new.expose()), false).await.err(),
        Some(401)
    );
    ws(relay.addr, Some(by_old.expose()), false).await.unwrap();
    // Rotation: the new key is added, then the old one retired.
    write_jwks(&path, &[&old, &new]);
    ws(relay.addr, Some(by_new.expose()), false).await.unwrap();
    write_jwks(&path, &[&new]);
    let until = tokio::time::Instant::now() + LONG;
    while ws(relay.addr, Some(by_old.expose()), false).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < until,
            "the old key is never retired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A broken file keeps the keys already loaded. A token with an unknown kid makes the
    // relay look at the file at once, so the broken version has certainly been tried.
    std::fs::write(&path, b"{ not json").unwrap();
    let stranger = IdentityKeyPair::generate().unwrap();
    let by_stranger = mint(&stranger, &claims(Role::Daemon, 0));
    assert_eq!(
        ws(relay.addr, Some(by_stranger.expose()), false)
            .await
            .err(),
        Some(401)
    );
    ws(relay.addr, Some(by_new.expose()), false).await.unwrap();
    assert_eq!(
        ws(relay.addr, Some(by_old.expose()), false).await.err(),
        Some(401)
    );
    relay.stop().await;
}

#[tokio::test]
async fn wss_with_a_test_ca() {
    let tls = tls::TestCa::new();
    let server = tls.server_config();
    let k = keys();
    let relay = Relay::start_tls(
        JwksSource::Static(k.jwks.clone()),
        RelayConfig::default(),
        Some(Arc::new(server)),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &tls.ca_pem).unwrap();
    let url = format!("wss://{}/", relay.addr);
    let mut cfg = sbrp::relay_client::RelayConfig::new(&url).unwrap();
    cfg.ca_file = Some(ca_file);
    let mut d = sbrp::relay_client::connect(&cfg, &mint(&k.issuer, &claims(Role::Daemon, 0)))
        .await
        .unwrap();
    assert_eq!(d.transport(), "wss");
    relay.wait_for("opened daemon").await;
    let mut c = sbrp::relay_client::connect(&cfg, &mint(&k.issuer, &claims(Role::Client, 11)))
        .await
        .unwrap();
    let init = frame(0x01, 11, &[3u8; 32]);
    c.send_frame(init.clone()).await.unwrap();
    assert_eq!(d.recv_frame().await.unwrap(), init);
    // 401 over TLS too.
    let bad = sbrp::relay_client::connect(
        &cfg,
        &mint(
            &IdentityKeyPair::generate().unwrap(),
            &claims(Role::Daemon, 0),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(bad.http_status(), Some(401));
    // Plain TCP to the TLS port is not served.
    let mut plain = TcpStream::connect(relay.addr).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(LONG, plain.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("101"));
    relay.stop().await;
}

/// Over TLS too: connections that never start their TLS handshake fill the table of pending
/// handshakes (2 here, no per-address cap); a wss daemon evicts the oldest, not itself, and is
/// upgraded; the evicted socket is closed and reported once as 503
/// `handshake_evicted_table_full`, the other is still held.
#[tokio::test]
async fn wss_handshakes_stuck_before_tls_are_evicted_oldest_first() {
    let tls = tls::TestCa::new();
    let k = keys();
    let relay = Relay::start_full(
        JwksSource::Static(k.jwks.clone()),
        RelayConfig::default(),
        Some(Arc::new(tls.server_config())),
        HandshakeLimits {
            max_pending: 2,
            max_pending_per_source: 0,
        },
    )
    .await;
    let mut oldest = TcpStream::connect(relay.addr).await.unwrap();
    let mut second = TcpStream::connect(relay.addr).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &tls.ca_pem).unwrap();
    let mut cfg = sbrp::relay_client::RelayConfig::new(&format!("wss://{}/", relay.addr)).unwrap();
    cfg.ca_file = Some(ca_file);
    let d = sbrp::relay_client::connect(&cfg, &mint(&k.issuer, &claims(Role::Daemon, 0)))
        .await
        .unwrap();
    assert_eq!(d.transport(), "wss");
    relay.wait_for("opened daemon").await;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(LONG, oldest.read(&mut buf))
        .await
        .expect("the oldest pending connection is closed")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed with nothing sent");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), second.read(&mut buf))
            .await
            .is_err(),
        "the newer pending connection is still held"
    );
    let evicted: Vec<_> = relay
        .rec
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("refused"))
        .collect();
    assert_eq!(evicted, vec!["refused 503 handshake_evicted_table_full"]);
    relay.stop().await;
}

// ---- the real binary ----

/// A running `sbrp relay` and what it printed.
struct Binary {
    child: Child,
    ready: String,
    stderr: Arc<Mutex<String>>,
}

impl Binary {
    fn start(args: &[&str], dir: &Path) -> Self {
        let mut child = sbrp()
            .arg("relay")
            .args(args)
            .env("SBRP_HOME", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let stderr = peer::collect(child.stderr.take().unwrap());
        let mut ready = String::new();
        stdout.read_line(&mut ready).unwrap();
        // Nothing else may come on stdout: keep reading it to be sure.
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = stdout.read_to_string(&mut rest);
            assert!(rest.is_empty(), "more on stdout: {rest:?}");
        });
        Self {
            child,
            ready,
            stderr,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.ready
            .trim()
            .rsplit("://")
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("ready line {:?}", self.ready))
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    fn wait(mut self) -> (std::process::ExitStatus, String) {
        let until = std::time::Instant::now() + LONG;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                return (status, self.stderr());
            }
            if std::time::Instant::now() > until {
                let _ = self.child.kill();
                panic!("sbrp relay did not exit; stderr:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn write_keys(dir: &Path) -> (IdentityKeyPair, PathBuf) {
    let issuer = IdentityKeyPair::generate().unwrap();
    let path = dir.join("jwks.json");
    write_jwks(&path, &[&issuer]);
    (issuer, path)
}

#[tokio::test]
async fn sigterm_closes_every_connection_with_1001_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (issuer, jwks) = write_keys(dir.path());
    let jwks = jwks.to_str().unwrap().to_owned();
    let bin = Binary::start(
        &["--listen", "127.0.0.1:0", "--jwks", &jwks, "--iss", ISS],
        dir.path(),
    );
    assert!(
        bin.ready
            .starts_with("sbrp relay listening on ws://127.0.0.1:")
    );
    let addr = bin.addr();
    let mut d = ws(
        addr,
        Some(mint(&issuer, &claims(Role::Daemon, 0)).expose()),
        false,
    )
    .await
    .unwrap();
    let mut cs = Vec::new();
    for sid in 1..=3 {
        // The daemon must be registered before its clients pair.
        let until = tokio::time::Instant::now() + LONG;
        while !bin.stderr().contains("connection_opened") {
            assert!(tokio::time::Instant::now() < until);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut c = ws(
            addr,
            Some(mint(&issuer, &claims(Role::Client, sid)).expose()),
            false,
        )
        .await
        .unwrap();
        send(&mut c, frame(0x01, sid, &[1u8; 32])).await;
        assert_eq!(recv_frame(&mut d).await[0], 0x01);
        cs.push(c);
    }
    bin.signal("-TERM");
    assert_eq!(recv_close(&mut d).await, 1001);
    for c in &mut cs {
        assert_eq!(recv_close(c).await, 1001);
    }
    let (status, stderr) = tokio::task::spawn_blocking(move || bin.wait())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("code=1001"), "{stderr}");
    assert!(stderr.contains("event=\"shutdown\""), "{stderr}");
    // No token in the log, even though every token came in the URL.
    assert!(!stderr.contains("eyJ"), "{stderr}");
    // After the exit nothing listens.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn json_ready_line_json_logs_and_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let (issuer, jwks) = write_keys(dir.path());
    let jwks = jwks.to_str().unwrap().to_owned();
    let bin = Binary::start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--jwks",
            &jwks,
            "--iss",
            ISS,
            "--json",
            "--log-format",
            "json",
        ],
        dir.path(),
    );
    let v: serde_json::Value = serde_json::from_str(&bin.ready).unwrap();
    assert_eq!(v["schema"], "sbrp.relay-ready/1");
    let listen = v["listen"].as_str().unwrap();
    assert_eq!(v["url"], format!("ws://{listen}"));
    assert!(v["metrics"].is_null());
    let addr: SocketAddr = listen.parse().unwrap();
    assert_eq!(ws(addr, Some("nope"), false).await.err(), Some(401));
    let _d = ws(
        addr,
        Some(mint(&issuer, &claims(Role::Daemon, 0)).expose()),
        true,
    )
    .await
    .unwrap();
    let until = tokio::time::Instant::now() + LONG;
    while !bin.stderr().contains("connection_opened") {
        assert!(tokio::time::Instant::now() < until);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bin.signal("-INT");
    let (status, stderr) = tokio::task::spawn_blocking(move || bin.wait())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let find = |name: &str| {
        events
            .iter()
            .find(|e| e["event"] == name)
            .unwrap_or_else(|| panic!("no {name} in {stderr}"))
    };
    let refused = find("connection_refused");
    assert_eq!(refused["status"], 401);
    assert_eq!(refused["reason"], "malformed_token");
    assert_eq!(find("connection_opened")["role"], "daemon");
    let closed = find("connection_closed");
    assert_eq!(closed["code"], 1001);
    assert_eq!(find("shutdown")["signal"], "SIGINT");
}

#[test]
fn startup_failures_exit_1_with_a_json_error() {
    let dir = tempfile::tempdir().unwrap();
    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (_, jwks) = write_keys(dir.path());
    let out = sbrp()
        .args(["relay", "--listen", &addr, "--jwks"])
        .arg(&jwks)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "sbrp.error/1");
    assert_eq!(v["command"], "relay");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot listen"),
        "{v}"
    );
    // A JWKS that does not parse.
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "[]").unwrap();
    let out = sbrp()
        .args(["relay", "--listen", "127.0.0.1:0", "--jwks"])
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("JWKS"));
    // No --jwks without --dev: usage.
    let out = sbrp().args(["relay"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `--dev` prints commands; run them exactly as printed (with this build's `sbrp` first on
/// PATH): a daemon and a client complete a verified session through the relay.
#[tokio::test]
async fn dev_mode_commands_work_as_printed() {
    let home = tempfile::tempdir().unwrap();
    let bin = Binary::start(&["--dev", "--listen", "127.0.0.1:0"], home.path());
    let until = tokio::time::Instant::now() + LONG;
    let commands: Vec<String> = loop {
        let text = bin.stderr();
        let cmds: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("  sbrp "))
            .map(|l| format!("sbrp {l}"))
            .collect();
        if cmds.len() == 2 {
            break cmds;
        }
        assert!(tokio::time::Instant::now() < until, "{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Two terminals, one command line each: the daemon; then mint a client token and open a
    // session with it.
    assert!(commands[0].starts_with("sbrp peer daemon "));
    assert!(commands[1].starts_with("sbrp token mint "));
    assert_eq!(commands[1].matches(" && sbrp peer client ").count(), 1);
    let dir_line = bin.stderr();
    let dev_dir: PathBuf = dir_line
        .split_whitespace()
        .find(|w| w.contains("sbrp-relay-dev-"))
        .unwrap()
        .into();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dev_dir), 0o700);
        for f in std::fs::read_dir(&dev_dir).unwrap() {
            assert_eq!(mode(&f.unwrap().path()), 0o600);
        }
    }
    let path = format!(
        "{}:{}",
        cargo_bin("sbrp").parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home_path = home.path().to_owned();
    let sh = move |cmd: &str| {
        let mut c = Command::new("sh");
        c.args(["-c", cmd])
            .env("PATH", &path)
            .env("SBRP_HOME", &home_path)
            .env_remove("SBRP_PINS")
            .env_remove("SBRP_TOKEN");
        c
    };
    // `exec`, so that killing the child kills the daemon and not only the shell around it.
    let mut daemon = sh(&format!("exec {}", commands[0]))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = tokio::time::Instant::now() + LONG;
    while !bin.stderr().contains("role=\"daemon\"") {
        assert!(tokio::time::Instant::now() < until, "{}", bin.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The mint-and-connect line as printed, with --json on the client (the line's end).
    let client_cmd = format!("{} --json", commands[1]);
    let sh2 = sh.clone();
    let client = tokio::task::spawn_blocking(move || sh2(&client_cmd).output().unwrap())
        .await
        .unwrap();
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(
        client.status.success(),
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&client.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["transport"], "ws");
    bin.signal("-TERM");
    let (status, stderr) = tokio::task::spawn_blocking(move || bin.wait())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("to=\"paired\""), "{stderr}");
    // The throwaway keys are gone with the relay.
    assert!(!dev_dir.exists());
}

#[tokio::test]
async fn tls_files_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (issuer, jwks) = write_keys(dir.path());
    let tls = tls::TestCa::new();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&cert, &tls.leaf_pem).unwrap();
    std::fs::write(&key, &tls.leaf_key_pem).unwrap();
    std::fs::write(&ca_file, &tls.ca_pem).unwrap();
    let args = |cert: &Path, key: &Path| -> Vec<String> {
        [
            "--listen",
            "127.0.0.1:0",
            "--jwks",
            jwks.to_str().unwrap(),
            "--iss",
            ISS,
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]
        .map(str::to_owned)
        .to_vec()
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = sbrp()
            .arg("relay")
            .args(args(&cert, &key))
            .output()
            .unwrap();
        peer::assert_exit(&out, 5);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // A certificate file that is not one: exit 1.
    let out = sbrp()
        .arg("relay")
        .args(args(&jwks, &key))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let a = args(&cert, &key);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let bin = Binary::start(&a, dir.path());
    assert!(
        bin.ready
            .starts_with("sbrp relay listening on wss://127.0.0.1:"),
        "{}",
        bin.ready
    );
    let mut cfg = sbrp::relay_client::RelayConfig::new(&format!("wss://{}", bin.addr())).unwrap();
    cfg.ca_file = Some(ca_file);
    let mut d = sbrp::relay_client::connect(&cfg, &mint(&issuer, &claims(Role::Daemon, 0)))
        .await
        .unwrap();
    bin.signal("-TERM");
    match d.recv_frame().await {
        Err(sbrp::relay_client::RecvError::Closed { code, .. }) => assert_eq!(code, 1001),
        other => panic!("{other:?}"),
    }
    let (status, stderr) = tokio::task::spawn_blocking(move || bin.wait())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
}
