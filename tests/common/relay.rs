//! Harness for tests of the real `sbrp relay` binary on 127.0.0.1: start it with `--listen
//! 127.0.0.1:0` and read its ready line, mint tokens for it, and talk to it with a small
//! WebSocket client (tokio-tungstenite) that sends hand-built SBRP frames.
//!
//! Included with `#[path = "common/relay.rs"] mod relay;` by the relay test binaries. Nothing
//! here asserts a duration: every wait has a generous deadline and only fails when it passes.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use sbrp::IdentityKeyPair;
use sbrp::keyfile::{SecretFormat, encode_secret};
use sbrp::token::{Claims, Jwks, Role, SCOPE_SESSION_RESUME};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait may take before the test fails (the machine may be loaded).
pub const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Frames, built by hand (13-byte header: type, big-endian u32 length, big-endian u64 sid).

pub const INIT: u8 = 0x01;
pub const ACCEPT: u8 = 0x02;
pub const DATA: u8 = 0x03;
pub const SIGNAL: u8 = 0x04;
pub const PING: u8 = 0x10;
pub const PONG: u8 = 0x11;
pub const CONTROL: u8 = 0x20;

/// Control codes (control-codes.md).
pub mod code {
    pub const UNAUTHORIZED: u16 = 0x0101;
    pub const FORBIDDEN: u16 = 0x0102;
    pub const DAEMON_NOT_FOUND: u16 = 0x0201;
    pub const DAEMON_OFFLINE: u16 = 0x0202;
    pub const SESSION_NOT_FOUND: u16 = 0x0301;
    pub const SESSION_EXPIRED: u16 = 0x0302;
    pub const MALFORMED_FRAME: u16 = 0x0401;
    pub const PAYLOAD_TOO_LARGE: u16 = 0x0402;
    pub const INVALID_FRAME_TYPE: u16 = 0x0403;
    pub const INVALID_SESSION_ID: u16 = 0x0404;
    pub const DISALLOWED_SENDER: u16 = 0x0405;
    pub const INTERNAL_ERROR: u16 = 0x0601;
    pub const RATE_LIMITED: u16 = 0x0901;
    pub const BACKPRESSURE: u16 = 0x0902;
    pub const SESSION_PAUSED: u16 = 0x1001;
    pub const SESSION_RESUMED: u16 = 0x1002;
    pub const SESSION_ENDED: u16 = 0x1003;
    pub const SESSION_PENDING: u16 = 0x1004;
}

/// A frame with an honest header.
pub fn frame(ty: u8, sid: u64, payload: &[u8]) -> Vec<u8> {
    header(ty, payload.len() as u32, sid, payload)
}

/// A frame whose header's length field says `len`, whatever follows.
pub fn header(ty: u8, len: u32, sid: u64, rest: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(13 + rest.len());
    v.push(ty);
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&sid.to_be_bytes());
    v.extend_from_slice(rest);
    v
}

/// The exact Control frame the relay must send: type 0x20, length 2, sid, code.
pub fn ctrl(sid: u64, code: u16) -> Vec<u8> {
    frame(CONTROL, sid, &code.to_be_bytes())
}

/// A Data frame whose payload (nonce + ciphertext + tag to the relay, which never looks) carries
/// a recognisable counter.
pub fn data(sid: u64, n: u32, len: usize) -> Vec<u8> {
    let mut p = vec![0xA5; len.max(28)];
    p[..4].copy_from_slice(&n.to_be_bytes());
    frame(DATA, sid, &p)
}

pub fn init(sid: u64) -> Vec<u8> {
    let p: Vec<u8> = (0..32u8).collect();
    frame(INIT, sid, &p)
}

pub fn accept(sid: u64) -> Vec<u8> {
    let p: Vec<u8> = (0..128u8).map(|b| b.wrapping_mul(7)).collect();
    frame(ACCEPT, sid, &p)
}

pub fn signal(sid: u64, signal: u8, reason: u8) -> Vec<u8> {
    frame(SIGNAL, sid, &[signal, reason])
}

/// `(type, sid, payload)` of a well-formed frame, for messages in failure output.
pub fn describe(bytes: &[u8]) -> String {
    if bytes.len() < 13 {
        return format!("{} bytes {:02x?}", bytes.len(), bytes);
    }
    let sid = u64::from_be_bytes(bytes[5..13].try_into().unwrap());
    let len = u32::from_be_bytes(bytes[1..5].try_into().unwrap());
    let show = &bytes[13..bytes.len().min(13 + 8)];
    format!(
        "type 0x{:02x} len {len} sid {sid} payload {:02x?}{}",
        bytes[0],
        show,
        if bytes.len() > 21 { "…" } else { "" }
    )
}

// ---------------------------------------------------------------------------------------------
// Tokens.

/// The token issuer: a fresh Ed25519 key, its key file (for `sbrp token mint --key`) and the
/// JWKS file the relay reads.
pub struct Issuer {
    pub key: IdentityKeyPair,
    pub kid: String,
    pub key_file: PathBuf,
    pub jwks_file: PathBuf,
}

pub const ISS: &str = "sbrp";

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl Issuer {
    pub fn new(dir: &Path) -> Self {
        let key = IdentityKeyPair::generate().unwrap();
        let kid = sbrp::token::thumbprint(&key.public_key());
        let key_file = dir.join("issuer.pem");
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&key_file)
                .unwrap();
            f.write_all(encode_secret(&key, SecretFormat::Pem).as_bytes())
                .unwrap();
        }
        let jwks_file = dir.join("jwks.json");
        let jwks = Jwks::from_keys([key.public_key()]);
        std::fs::write(&jwks_file, jwks.to_json().to_string()).unwrap();
        Self {
            key,
            kid,
            key_file,
            jwks_file,
        }
    }

    pub fn mint(&self, claims: &Claims) -> String {
        sbrp::token::mint(claims, &self.key, &self.kid)
            .unwrap()
            .expose()
            .to_owned()
    }

    /// A daemon presence token for `did`; `resume` adds `session:resume`; `lim` sets
    /// `lim.concurrent_sessions`.
    pub fn daemon(&self, did: &str, resume: bool, lim: Option<u64>) -> String {
        let mut c = Claims::new(Role::Daemon, did, now_secs(), 3600);
        c.iss = Some(ISS.into());
        c.sub = Some(did.into());
        c.jti = Some(format!("d-{}", rand_u64()));
        if resume {
            c.scp.push(SCOPE_SESSION_RESUME.into());
        }
        c.lim.concurrent_sessions = lim;
        self.mint(&c)
    }

    /// A client session token for `did` and session id `sid`.
    pub fn client(&self, did: &str, sid: u64) -> String {
        let mut c = Claims::new(Role::Client, did, now_secs(), 120);
        c.iss = Some(ISS.into());
        c.sub = Some("user-1".into());
        c.jti = Some(format!("c-{}", rand_u64()));
        c.sid = Some(NonZeroU64::new(sid).unwrap());
        self.mint(&c)
    }
}

pub fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom_fill(&mut b);
    u64::from_be_bytes(b)
}

fn getrandom_fill(b: &mut [u8]) {
    // The library's key generation is the only randomness source the tests need.
    let k = IdentityKeyPair::generate().unwrap();
    let seed = k.seed();
    b.copy_from_slice(&seed[..b.len()]);
}

// ---------------------------------------------------------------------------------------------
// The real `sbrp relay` binary.

pub fn sbrp_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("sbrp")
}

/// A duration flag's value (whole seconds).
pub fn secs(n: u64) -> String {
    n.to_string()
}

pub struct Relay {
    child: Option<Child>,
    /// `IP:PORT`.
    pub addr: String,
    /// `ws://IP:PORT`.
    pub url: String,
    pub issuer: Issuer,
    pub dir: tempfile::TempDir,
    stderr: Arc<Mutex<String>>,
}

impl Relay {
    /// Starts `sbrp relay --listen 127.0.0.1:0 --jwks FILE --iss sbrp EXTRA…` and waits for its
    /// ready line.
    pub fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let issuer = Issuer::new(dir.path());
        Self::start_with(dir, issuer, extra)
    }

    pub fn start_with(dir: tempfile::TempDir, issuer: Issuer, extra: &[&str]) -> Self {
        // SBRP_RELAY_TEST_BIN runs the same tests against another program with the same
        // `relay` subcommand and flags (for example a build of the relay from another branch).
        let bin = std::env::var_os("SBRP_RELAY_TEST_BIN").map_or_else(sbrp_bin, PathBuf::from);
        let mut child = Command::new(bin)
            .args(["relay", "--listen", "127.0.0.1:0", "--jwks"])
            .arg(&issuer.jwks_file)
            .args(["--iss", ISS, "--log-format", "text"])
            .args(extra)
            .env_remove("NO_COLOR")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sbrp relay starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let mut err = child.stderr.take().unwrap();
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the relay never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(WAIT) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "sbrp relay printed no ready line; stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        let url = line
            .strip_prefix("sbrp relay listening on ")
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
            .to_owned();
        let addr = url
            .strip_prefix("ws://")
            .unwrap_or_else(|| panic!("ready line without ws:// URL: {line:?}"))
            .to_owned();
        assert!(
            addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
            "{line}"
        );
        Self {
            child: Some(child),
            addr,
            url,
            issuer,
            dir,
            stderr,
        }
    }

    /// What the relay logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let until = Instant::now() + WAIT;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > until {
                let _ = child.kill();
                panic!("sbrp relay did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub async fn daemon(&self, did: &str, resume: bool) -> Ws {
        let t = self.issuer.daemon(did, resume, None);
        Ws::connect(&self.url, &t)
            .await
            .unwrap_or_else(|e| panic!("daemon connect: {e}; relay stderr:\n{}", self.stderr()))
    }

    pub async fn client(&self, did: &str, sid: u64) -> Ws {
        let t = self.issuer.client(did, sid);
        Ws::connect(&self.url, &t)
            .await
            .unwrap_or_else(|e| panic!("client connect: {e}; relay stderr:\n{}", self.stderr()))
    }

    /// A daemon, and a client paired with it (both checked to be registered by a Ping round
    /// trip, so no later frame races the pairing).
    pub async fn pair(&self, did: &str, sid: u64, resume: bool) -> (Ws, Ws) {
        let mut d = self.daemon(did, resume).await;
        d.sync().await;
        let mut c = self.client(did, sid).await;
        c.sync().await;
        (d, c)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A WebSocket test client.

/// What arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    /// A binary message.
    Bin(Vec<u8>),
    /// A text message (the relay must never send one).
    Text(String),
    /// A close frame with this code (`None`: close frame without a code).
    Close(Option<u16>),
    /// The connection ended without a close frame (or failed).
    Gone(String),
}

pub struct Ws {
    inner: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Relay Pings received (and answered) while waiting for something else.
    pub pings: Vec<Vec<u8>>,
    /// Whether relay Pings are answered automatically.
    pub answer_pings: bool,
    sync_counter: u16,
    synced: u16,
    closed: Option<Got>,
    /// The reason text of the close frame the relay sent, if any.
    pub close_reason: Option<String>,
}

const SYNC_MAGIC: [u8; 4] = *b"SYNC";

fn sync_pong(b: &[u8]) -> Option<u16> {
    (b.len() == 21
        && b[0] == PONG
        && b[1..13] == [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]
        && b[13..17] == SYNC_MAGIC)
        .then(|| u16::from_be_bytes([b[17], b[18]]))
}

/// Why an upgrade failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The relay answered with this HTTP status instead of upgrading.
    Status(u16),
    Other(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status(s) => write!(f, "HTTP {s}"),
            Self::Other(e) => f.write_str(e),
        }
    }
}

fn ws_config() -> WebSocketConfig {
    // Large enough to receive anything the relay might (wrongly) send.
    WebSocketConfig::default()
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

impl Ws {
    /// Connects with `?token=`.
    pub async fn connect(url: &str, token: &str) -> Result<Self, ConnectError> {
        Self::connect_with(&format!("{url}/?token={token}"), None, None).await
    }

    /// Connects with `Authorization: Bearer`.
    pub async fn connect_bearer(url: &str, token: &str) -> Result<Self, ConnectError> {
        Self::connect_with(url, Some(token), None).await
    }

    /// Connects with an optional bearer token and an optional receive buffer size (a small one
    /// makes a slow reader fill up quickly).
    pub async fn connect_with(
        url: &str,
        bearer: Option<&str>,
        recv_buffer: Option<u32>,
    ) -> Result<Self, ConnectError> {
        let mut req = url
            .into_client_request()
            .map_err(|e| ConnectError::Other(e.to_string()))?;
        if let Some(t) = bearer {
            req.headers_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        let host = req.uri().host().unwrap().to_owned();
        let port = req.uri().port_u16().unwrap();
        let addr: std::net::SocketAddr = format!("{host}:{port}").parse().unwrap();
        let sock = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(|e| ConnectError::Other(e.to_string()))?;
        if let Some(n) = recv_buffer {
            sock.set_recv_buffer_size(n)
                .map_err(|e| ConnectError::Other(e.to_string()))?;
        }
        let tcp = tokio::time::timeout(WAIT, sock.connect(addr))
            .await
            .map_err(|_| ConnectError::Other("connect timed out".into()))?
            .map_err(|e| ConnectError::Other(e.to_string()))?;
        let fut = tokio_tungstenite::client_async_with_config(
            req,
            MaybeTlsStream::Plain(tcp),
            Some(ws_config()),
        );
        match tokio::time::timeout(WAIT, fut).await {
            Err(_) => Err(ConnectError::Other("upgrade timed out".into())),
            Ok(Err(tungstenite::Error::Http(resp))) => {
                Err(ConnectError::Status(resp.status().as_u16()))
            }
            Ok(Err(e)) => Err(ConnectError::Other(e.to_string())),
            Ok(Ok((inner, _))) => Ok(Self {
                inner,
                pings: Vec::new(),
                answer_pings: true,
                sync_counter: 0,
                synced: 0,
                closed: None,
                close_reason: None,
            }),
        }
    }

    pub async fn send(&mut self, bytes: Vec<u8>) {
        self.inner
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send");
    }

    /// Sends without failing when the relay already closed.
    pub async fn try_send(&mut self, bytes: Vec<u8>) -> bool {
        self.inner.send(Message::Binary(bytes.into())).await.is_ok()
    }

    pub async fn send_text(&mut self, text: &str) {
        self.inner
            .send(Message::Text(text.into()))
            .await
            .expect("send text");
    }

    /// Closes from our side with 1000 and waits for the relay's close.
    pub async fn close(mut self) {
        let _ = self.inner.close(None).await;
        let until = Instant::now() + WAIT;
        while Instant::now() < until {
            match tokio::time::timeout(WAIT, self.inner.next()).await {
                Ok(Some(Ok(_))) => continue,
                _ => break,
            }
        }
    }

    /// Drops the TCP connection without a close handshake.
    pub fn abort(self) {
        drop(self);
    }

    /// The next message or end, within `wait`; `None` when nothing came. SBRP Pings from the
    /// relay are recorded and answered (when `answer_pings`) and not returned.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Got> {
        if let Some(c) = &self.closed {
            return Some(c.clone());
        }
        let until = tokio::time::Instant::now() + wait;
        loop {
            let r = match tokio::time::timeout_at(until, self.inner.next()).await {
                Err(_) => return None,
                Ok(r) => r,
            };
            let got = match r {
                None => Got::Gone("stream ended".into()),
                Some(Err(e)) => Got::Gone(e.to_string()),
                Some(Ok(Message::Binary(b))) => {
                    let b = b.to_vec();
                    if sync_pong(&b).is_some_and(|n| n <= self.synced) {
                        continue; // the answer to a repeated Ping of a finished sync
                    }
                    if b.len() >= 13 && b[0] == PING {
                        self.pings.push(b[13..].to_vec());
                        if self.answer_pings {
                            let pong = frame(PONG, 0, &b[13..]);
                            let _ = self.inner.send(Message::Binary(pong.into())).await;
                        }
                        continue;
                    }
                    Got::Bin(b)
                }
                Some(Ok(Message::Text(t))) => Got::Text(t.to_string()),
                Some(Ok(Message::Close(f))) => {
                    self.close_reason = f.as_ref().map(|f| f.reason.to_string());
                    Got::Close(f.map(|f| u16::from(f.code)))
                }
                Some(Ok(_)) => continue, // WebSocket-level ping/pong
            };
            if matches!(got, Got::Close(_) | Got::Gone(_)) {
                self.closed = Some(got.clone());
            }
            return Some(got);
        }
    }

    /// The next message or end; fails the test after [`WAIT`].
    pub async fn next(&mut self) -> Got {
        match self.next_within(WAIT).await {
            Some(g) => g,
            None => panic!("nothing arrived within {WAIT:?}"),
        }
    }

    /// The next message must be exactly these bytes.
    pub async fn expect(&mut self, bytes: &[u8]) {
        match self.next().await {
            Got::Bin(b) if b == bytes => {}
            Got::Bin(b) => panic!("expected {}\n     got {}", describe(bytes), describe(&b)),
            other => panic!("expected {}, got {other:?}", describe(bytes)),
        }
    }

    /// The connection must close now with this WebSocket close code.
    pub async fn expect_close(&mut self, code: u16) {
        match self.next().await {
            Got::Close(Some(c)) if c == code => {}
            other => panic!("expected close {code}, got {other:?}"),
        }
    }

    /// Exactly this Control frame, then close with this code.
    pub async fn expect_terminal(&mut self, sid: u64, control: u16, close: u16) {
        self.expect(&ctrl(sid, control)).await;
        self.expect_close(close).await;
    }

    /// A Ping round trip: everything the relay sent on this connection before answering the
    /// Ping has been received and is returned (in order). Retries the Ping every second, since
    /// a rate-limited Ping is dropped.
    pub async fn sync_collect(&mut self) -> Vec<Vec<u8>> {
        self.sync_counter += 1;
        let n = self.sync_counter;
        let mut got = Vec::new();
        let until = Instant::now() + WAIT;
        for attempt in 0u16.. {
            assert!(
                Instant::now() < until,
                "no Pong within {WAIT:?}; got {got:?}"
            );
            let mut payload = SYNC_MAGIC.to_vec();
            payload.extend_from_slice(&n.to_be_bytes());
            payload.extend_from_slice(&attempt.to_be_bytes());
            self.send(frame(PING, 0, &payload)).await;
            let resend = tokio::time::Instant::now() + Duration::from_secs(1);
            loop {
                let left = resend.saturating_duration_since(tokio::time::Instant::now());
                match self.next_within(left).await {
                    None => break,
                    Some(Got::Bin(b)) if sync_pong(&b) == Some(n) => {
                        self.synced = n;
                        return got;
                    }
                    Some(Got::Bin(b)) if sync_pong(&b).is_some() => {} // an earlier attempt's
                    Some(Got::Bin(b)) => got.push(b),
                    Some(other) => panic!(
                        "connection ended while waiting for a Pong: {other:?}; before: {:?}",
                        got.iter().map(|b| describe(b)).collect::<Vec<_>>()
                    ),
                }
            }
        }
        unreachable!()
    }

    /// A Ping round trip that must find nothing else queued.
    pub async fn sync(&mut self) {
        let extra = self.sync_collect().await;
        assert!(
            extra.is_empty(),
            "unexpected frames: {:?}",
            extra.iter().map(|b| describe(b)).collect::<Vec<_>>()
        );
    }
}

impl Relay {
    /// A daemon (token in the URL, no resume) on a socket with a `recv_buffer`-byte receive
    /// buffer, and a client paired with it, both synced as in `pair`; the daemon is then left
    /// unread by the caller, so its socket fills up quickly.
    pub async fn pair_small_buffer(&self, did: &str, sid: u64, recv_buffer: u32) -> (Ws, Ws) {
        let t = self.issuer.daemon(did, false, None);
        let mut d = Ws::connect_with(&format!("{}/?token={t}", self.url), None, Some(recv_buffer))
            .await
            .unwrap();
        d.sync().await;
        let mut c = self.client(did, sid).await;
        c.sync().await;
        (d, c)
    }
}
