//! SBRP endpoints on a relay, over WebSocket (feature `relay-client`; `wss://` with `tls`).
//!
//! - [`RelayDaemon`]: one presence connection for a daemon identity, multiplexing every
//!   session by session id through the sans-I/O [`SessionTable`]; a per-session
//!   [`SessionHandler`] gets the plaintexts and returns the replies. It reconnects after a drop
//!   with the reference's backoff ([`Backoff`]: 1 s × 2^n capped at 30 s, plus up to 500 ms of
//!   jitter, reset after a connection that lasted 5 s) and asks its [`TokenSource`] for a token
//!   at every attempt, so another process can renew a token file. The table's
//!   [`Limits`](crate::endpoint::Limits) hold (sessions, handshake budget, idle deadline);
//!   [`RelayDaemon::resumable`] keeps the sessions across a reconnect and sends their Signals;
//!   [`RelayDaemon::run_until`] closes with 1001 when its shutdown future resolves.
//! - [`RelayClient`]: one session through a relay: the session id comes from the token's `sid`
//!   (a client does not verify its token), the daemon's identity is checked against a pinned
//!   key, Pings are answered, `session_paused` stops sending until `session_resumed`.
//! - [`connect`]: the WebSocket upgrade with the token as `?token=` or `Authorization: Bearer`;
//!   HTTP 401/403/409 come back as [`ConnectError::Refused`] with the status.
//!
//! Frames travel one per binary message ([`crate::ws`]): a text message closes the
//! connection with 1003, a message over 65549 bytes with 1009 (the WebSocket layer refuses to
//! buffer more). The token never appears in errors, `Debug`, [`RelayConfig::redacted_url`] or
//! [`RelayConfig::logged_url`] (`token=<redacted>`); the URL carrying it is built in a zeroizing
//! buffer.
//!
//! Cancel [`RelayDaemon::run`] by dropping its future (e.g. in `tokio::select!` with a
//! shutdown signal).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, http};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::endpoint::{EndReason, Event, SessionTable};
use crate::error::{ControlCode, ErrorCode};
use crate::frame::{Frame, FrameType, PingPayload, RawFrame, SessionId};
use crate::handshake::{ClientHandshake, Daemon, HandshakeError};
use crate::keys::IdentityPublicKey;
use crate::session::{Session, SessionError};
use crate::token::Token;
use crate::ws::{self, MAX_MESSAGE, MessageError, MessageKind, close};

/// How the token is presented at the upgrade.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    /// `?token=<jwt>` (what browsers must use; the default).
    #[default]
    Query,
    /// `Authorization: Bearer <jwt>`.
    Header,
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    url: String,
    secure: bool,
    host: String,
    /// How the token is presented.
    pub auth: Auth,
    /// PEM file of the CA certificates to trust for `wss://` instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// How long the TCP connect, TLS and upgrade may take.
    pub connect_timeout: Duration,
    /// How long a client's handshake may take (`handshake_timeout`).
    pub handshake_timeout: Duration,
}

/// A relay could not be reached or refused the connection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// Not a `ws://` or `wss://` URL, or one that carries its own `token=`.
    #[error("invalid relay URL: {0}")]
    Url(String),
    /// The relay answered the upgrade with an HTTP status (401 bad token, 403 not allowed,
    /// 409 session id already live).
    #[error("the relay refused the connection: HTTP {status} {}", reason_of(*.status))]
    Refused {
        /// The HTTP status.
        status: u16,
    },
    /// TCP, DNS or timeout.
    #[error("cannot reach the relay: {0}")]
    Io(String),
    /// TLS setup or handshake.
    #[error("TLS failed: {0}")]
    Tls(String),
    /// The WebSocket upgrade failed otherwise.
    #[error("the WebSocket upgrade failed: {0}")]
    WebSocket(String),
    /// The token source failed (e.g. the token file is unreadable).
    #[error("no token: {0}")]
    Token(String),
}

fn reason_of(status: u16) -> &'static str {
    match status {
        401 => "(unauthorized: the token is missing or invalid)",
        403 => "(forbidden: the token is valid but not allowed here)",
        409 => "(conflict: this session id is already connected)",
        _ => "",
    }
}

impl ConnectError {
    /// The HTTP status of a refusal.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Refused { status } => Some(*status),
            _ => None,
        }
    }
}

impl RelayConfig {
    /// Checks `url` (`ws[s]://HOST[:PORT][/PATH][?QUERY]`). Routing comes from the token, so
    /// the path is passed through as given.
    pub fn new(url: &str) -> Result<Self, ConnectError> {
        let (secure, rest) = if let Some(r) = url.strip_prefix("wss://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("ws://") {
            (false, r)
        } else {
            return Err(ConnectError::Url(
                "it must start with ws:// or wss://".into(),
            ));
        };
        let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let host = &rest[..host_end];
        if host.is_empty() || host.contains('@') {
            return Err(ConnectError::Url(
                "it needs a host (and no user:password@)".into(),
            ));
        }
        if url.contains('#') {
            return Err(ConnectError::Url(
                "a fragment (#…) has no meaning here".into(),
            ));
        }
        if url.split_once('?').is_some_and(|(_, q)| {
            q.split('&')
                .any(|kv| crate::url_redact::is_token_name(kv.split('=').next().unwrap_or(kv)))
        }) {
            return Err(ConnectError::Url(
                "it carries a token=; give the token separately (it is a secret)".into(),
            ));
        }
        Ok(Self {
            url: url.to_owned(),
            secure,
            host: host.to_owned(),
            auth: Auth::Query,
            ca_file: None,
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(30),
        })
    }

    /// `ws` or `wss`.
    pub fn transport(&self) -> &'static str {
        if self.secure { "wss" } else { "ws" }
    }

    /// `HOST[:PORT]`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The URL without its query (safe to print: never the token).
    pub fn redacted_url(&self) -> String {
        self.url
            .split_once('?')
            .map_or(self.url.clone(), |(u, _)| u.to_owned())
    }

    /// The URL as requested, for logs: with the query, and `token=<redacted>` where the token
    /// goes in query mode (never the token itself).
    pub fn logged_url(&self) -> String {
        let base = self.with_path();
        match self.auth {
            Auth::Query => {
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}token=<redacted>")
            }
            Auth::Header => base,
        }
    }

    /// The URL with an empty path written as `/` (`ws://h:1?q` → `ws://h:1/?q`): the
    /// request line needs a path, and without one a relay sees an invalid request target.
    fn with_path(&self) -> String {
        let scheme = if self.secure { "wss://" } else { "ws://" };
        let rest = &self.url[scheme.len()..];
        let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if rest[host_end..].starts_with('/') {
            self.url.clone()
        } else {
            format!("{scheme}{}/{}", &rest[..host_end], &rest[host_end..])
        }
    }

    fn request(&self, token: &Token) -> Result<http::Request<()>, ConnectError> {
        // The URL with the token is a secret too: built in a buffer wiped when dropped (the
        // parsed request keeps its own copy, dropped when the upgrade is done).
        let base = self.with_path();
        let url: zeroize::Zeroizing<String> = match self.auth {
            Auth::Query => {
                let sep = if base.contains('?') { '&' } else { '?' };
                // JWTs are base64url and dots: nothing to percent-encode.
                let mut u = zeroize::Zeroizing::new(String::with_capacity(
                    base.len() + 8 + token.expose().len(),
                ));
                u.push_str(&base);
                u.push(sep);
                u.push_str("token=");
                u.push_str(token.expose());
                u
            }
            Auth::Header => zeroize::Zeroizing::new(base),
        };
        let mut req = url
            .as_str()
            .into_client_request()
            .map_err(|e| ConnectError::Url(redact(&e.to_string(), token)))?;
        if self.auth == Auth::Header {
            let bearer = zeroize::Zeroizing::new(format!("Bearer {}", token.expose()));
            let mut v = http::HeaderValue::from_str(&bearer)
                .map_err(|_| ConnectError::Token("the token is not valid header text".into()))?;
            v.set_sensitive(true);
            req.headers_mut().insert(http::header::AUTHORIZATION, v);
        }
        Ok(req)
    }
}

fn redact(text: &str, token: &Token) -> String {
    if token.expose().is_empty() {
        text.to_owned()
    } else {
        text.replace(token.expose(), "<token>")
    }
}

/// Where tokens come from: asked again at every connection attempt.
#[derive(Clone)]
pub enum TokenSource {
    /// Always this token.
    Fixed(Token),
    /// Read this file at every attempt (another process may renew it).
    File(PathBuf),
    /// Ask this function.
    Fn(Arc<dyn Fn() -> Result<Token, String> + Send + Sync>),
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed(t) => f.debug_tuple("Fixed").field(t).finish(),
            Self::File(p) => f.debug_tuple("File").field(p).finish(),
            Self::Fn(_) => f.write_str("Fn(..)"),
        }
    }
}

/// Largest token file read (a token is at most 4096 bytes; some room for whitespace).
const MAX_TOKEN_FILE: u64 = 16 * 1024;

impl TokenSource {
    /// A token now.
    pub fn fetch(&self) -> Result<Token, ConnectError> {
        match self {
            Self::Fixed(t) => Ok(t.clone()),
            Self::File(p) => {
                use std::io::Read;
                let f = std::fs::File::open(p).map_err(|e| {
                    ConnectError::Token(format!("cannot read {}: {e}", p.display()))
                })?;
                let mut buf = zeroize::Zeroizing::new(Vec::new());
                f.take(MAX_TOKEN_FILE).read_to_end(&mut buf).map_err(|e| {
                    ConnectError::Token(format!("cannot read {}: {e}", p.display()))
                })?;
                let text = std::str::from_utf8(&buf)
                    .map_err(|_| ConnectError::Token(format!("{} is not UTF-8", p.display())))?;
                let t = Token::new(text);
                if t.expose().is_empty() {
                    return Err(ConnectError::Token(format!("{} is empty", p.display())));
                }
                Ok(t)
            }
            Self::Fn(f) => f().map_err(ConnectError::Token),
        }
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The WebSocket limits SBRP needs: nothing larger than one frame is buffered.
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

#[cfg(feature = "tls")]
fn tls_connector(config: &RelayConfig) -> Result<tokio_tungstenite::Connector, ConnectError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match &config.ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| ConnectError::Tls(format!("cannot read {}: {e}", path.display())))?
                .collect::<Result<_, _>>()
                .map_err(|e| ConnectError::Tls(format!("{}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(ConnectError::Tls(format!(
                    "{} holds no PEM certificate",
                    path.display()
                )));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| ConnectError::Tls(format!("{}: {e}", path.display())))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(ConnectError::Tls(
                    "no trusted root certificates found on this system (give a CA file)".into(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_tungstenite::Connector::Rustls(Arc::new(cfg)))
}

/// Opens the WebSocket with `token`. HTTP refusals come back as [`ConnectError::Refused`].
pub async fn connect(config: &RelayConfig, token: &Token) -> Result<Connection, ConnectError> {
    let req = config.request(token)?;
    #[cfg(feature = "tls")]
    let connector = if config.secure {
        Some(tls_connector(config)?)
    } else {
        Some(tokio_tungstenite::Connector::Plain)
    };
    #[cfg(feature = "tls")]
    let attempt = tokio_tungstenite::connect_async_tls_with_config(
        req,
        Some(websocket_config()),
        true,
        connector,
    );
    #[cfg(not(feature = "tls"))]
    if config.secure {
        return Err(ConnectError::Tls(
            "this build has no TLS support (feature `tls`)".into(),
        ));
    }
    #[cfg(not(feature = "tls"))]
    let attempt = tokio_tungstenite::connect_async_with_config(req, Some(websocket_config()), true);
    let result = tokio::time::timeout(config.connect_timeout, attempt)
        .await
        .map_err(|_| {
            ConnectError::Io(format!(
                "no answer from {} within {} s",
                config.host,
                config.connect_timeout.as_secs_f64()
            ))
        })?;
    match result {
        Ok((ws, _)) => Ok(Connection {
            ws,
            transport: config.transport(),
            host: config.host.clone(),
        }),
        Err(tungstenite::Error::Http(resp)) => Err(ConnectError::Refused {
            status: resp.status().as_u16(),
        }),
        #[cfg(feature = "tls")]
        Err(tungstenite::Error::Io(e))
            if e.get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()) =>
        {
            // rustls reports a bad certificate through the I/O error.
            Err(ConnectError::Tls(format!("{}: {e}", config.host)))
        }
        Err(tungstenite::Error::Io(e)) => Err(ConnectError::Io(format!("{}: {e}", config.host))),
        Err(tungstenite::Error::Tls(e)) => Err(ConnectError::Tls(e.to_string())),
        Err(e) => Err(ConnectError::WebSocket(redact(&e.to_string(), token))),
    }
}

/// How a connection ended, or why receiving failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// The relay closed the WebSocket (code and reason as sent; the reason is untrusted text).
    #[error("the relay closed the connection (WebSocket {code}{}{reason})", if reason.is_empty() { "" } else { ": " })]
    Closed {
        /// The close code (1005 when none was sent).
        code: u16,
        /// The reason.
        reason: String,
    },
    /// The peer broke SBRP's framing; we closed with [`MessageError::close_code`].
    #[error(transparent)]
    Framing(#[from] MessageError),
    /// The connection failed.
    #[error("the connection failed: {0}")]
    Io(String),
    /// Nothing arrived for the idle limit; we closed with 1001.
    #[error("nothing arrived for {} s (idle timeout); closed", .0.as_secs_f64())]
    Idle(Duration),
}

impl RecvError {
    /// The SBRP code, for framing errors.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Framing(e) => Some(e.code()),
            _ => None,
        }
    }

    /// Whether SBRP's one-frame-per-binary-message framing broke, either way: the peer sent a
    /// text, oversized or not-one-frame message (we closed with 1003/1009/1002), or the relay
    /// closed with 1003 (it got a text message) or 1009 (too big) or 1002 (not one frame).
    pub fn is_framing(&self) -> bool {
        match self {
            Self::Framing(_) => true,
            Self::Closed { code, .. } => matches!(
                *code,
                close::UNSUPPORTED_DATA | close::MESSAGE_TOO_BIG | close::PROTOCOL_ERROR
            ),
            _ => false,
        }
    }
}

/// One WebSocket to a relay, carrying one SBRP frame per binary message.
pub struct Connection {
    ws: Ws,
    transport: &'static str,
    host: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("transport", &self.transport)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// `ws` or `wss`.
    pub fn transport(&self) -> &'static str {
        self.transport
    }

    /// `HOST[:PORT]` of the relay.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Sends one frame as one binary message.
    pub async fn send_frame(&mut self, frame: Vec<u8>) -> Result<(), RecvError> {
        self.ws
            .send(Message::Binary(frame.into()))
            .await
            .map_err(|e| RecvError::Io(e.to_string()))
    }

    /// Closes with `code` (best effort).
    pub async fn close(&mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(Some(frame))).await;
    }

    /// The next frame (header rules checked, exactly one per message). A text message, an
    /// oversized one or one that is not exactly one frame closes the connection with the
    /// matching code and is returned as [`RecvError::Framing`].
    pub async fn recv_frame(&mut self) -> Result<Vec<u8>, RecvError> {
        loop {
            let msg = match self.ws.next().await {
                None => {
                    return Err(RecvError::Closed {
                        code: 1006,
                        reason: String::new(),
                    });
                }
                Some(Ok(m)) => m,
                Some(Err(tungstenite::Error::Capacity(_))) => {
                    let e = MessageError::TooLarge {
                        len: MAX_MESSAGE + 1,
                    };
                    self.close(close::MESSAGE_TOO_BIG, "message too big").await;
                    return Err(e.into());
                }
                Some(Err(tungstenite::Error::ConnectionClosed)) => {
                    return Err(RecvError::Closed {
                        code: 1000,
                        reason: String::new(),
                    });
                }
                Some(Err(e)) => return Err(RecvError::Io(e.to_string())),
            };
            let (kind, bytes) = match msg {
                Message::Binary(b) => (MessageKind::Binary, b.to_vec()),
                Message::Text(t) => (MessageKind::Text, t.as_bytes().to_vec()),
                Message::Close(c) => {
                    let (code, reason) = c.map_or((1005, String::new()), |c| {
                        (u16::from(c.code), c.reason.as_str().to_owned())
                    });
                    return Err(RecvError::Closed { code, reason });
                }
                // WebSocket pings are answered by tungstenite; SBRP Pings are frames.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            if let Err(e) = ws::frame_of_message(kind, &bytes) {
                self.close(e.close_code(), e.code().name()).await;
                return Err(e.into());
            }
            return Ok(bytes);
        }
    }
}

/// The reference's reconnect backoff, sans-I/O: 1 s × 2^n capped at 30 s, plus up to 500 ms
/// of jitter; reset after a connection that lasted at least 5 s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    attempt: u32,
    /// First delay (1 s).
    pub base: Duration,
    /// Largest delay before jitter (30 s).
    pub cap: Duration,
    /// Largest jitter (500 ms).
    pub max_jitter: Duration,
    /// A connection that lasted this long resets the backoff (5 s).
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            attempt: 0,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            max_jitter: Duration::from_millis(500),
            reset_after: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// A backoff with other delays (tests, or a gentler policy).
    pub fn new(base: Duration, cap: Duration, max_jitter: Duration, reset_after: Duration) -> Self {
        Self {
            attempt: 0,
            base,
            cap,
            max_jitter,
            reset_after,
        }
    }

    /// The delay before the next attempt; `jitter` in `[0, 1]` scales [`Backoff::max_jitter`].
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(16));
        self.attempt = self.attempt.saturating_add(1);
        exp.min(self.cap) + self.max_jitter.mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// Reports how long the last connection lasted.
    pub fn connection_lasted(&mut self, d: Duration) {
        if d >= self.reset_after {
            self.attempt = 0;
        }
    }
}

fn random_unit() -> f64 {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    f64::from(u16::from_be_bytes(b)) / f64::from(u16::MAX)
}

pub use crate::endpoint::SessionHandler;

/// What a [`RelayDaemon`] reports (for logs).
#[derive(Debug)]
#[non_exhaustive]
pub enum DaemonEvent<'a> {
    /// Connecting (attempt counts from 1).
    Connecting {
        /// The attempt.
        attempt: u64,
    },
    /// The presence connection is up.
    Connected {
        /// `ws` or `wss`.
        transport: &'static str,
        /// `HOST[:PORT]`.
        host: &'a str,
        /// The attempt (from 1).
        attempt: u64,
        /// Sessions kept from the last connection, about to be signalled (resumable only).
        kept: usize,
    },
    /// An attempt failed.
    ConnectFailed(&'a ConnectError),
    /// The connection ended.
    Disconnected(&'a RecvError),
    /// The next attempt is in `delay`.
    Retrying {
        /// The delay.
        delay: Duration,
    },
    /// Something happened to a session (never [`Event::Message`], [`Event::Delivered`] or
    /// [`Event::ReplyFailed`]: see `Received` and `ReplyFailed`).
    Session(&'a Event),
    /// A message of `len` bytes arrived for `sid` (its plaintext went to the handler).
    Received {
        /// The session.
        sid: SessionId,
        /// Plaintext bytes.
        len: usize,
    },
    /// A reply could not be sealed.
    ReplyFailed {
        /// The session.
        sid: SessionId,
        /// Why.
        error: String,
    },
}

/// [`RelayDaemon::run`] ended (only with `once`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DaemonError {
    /// Connecting failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The connection ended.
    #[error(transparent)]
    Connection(#[from] RecvError),
}

/// A daemon on a relay: one presence connection, every session multiplexed on it.
///
/// The table's [`Limits`](crate::endpoint::Limits) apply: `max_sessions` and the handshake
/// budget per connection, and `idle_timeout` on the presence connection (a relay pings every
/// 20 s, R3, so only a dead relay goes silent that long; the daemon reconnects).
///
/// With [`RelayDaemon::resumable`] (the token must carry scope `session:resume`) a dropped
/// connection keeps the established sessions ([`SessionTable::suspend`]); after reconnecting
/// the daemon sends `Signal(ready)` for each kept session and `Signal(close, state_lost)` for
/// any it cannot restore, before handling any frame. Bound: at most `max_sessions`, for at
/// most `resume_window`.
///
/// ```no_run
/// use sbrp::relay_client::{RelayConfig, RelayDaemon, TokenSource};
/// use sbrp::{Daemon, IdentityKeyPair};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let daemon = Daemon::new(IdentityKeyPair::generate()?, "daemon-001");
/// let relay = RelayConfig::new("wss://relay.example.net")?;
/// let echo = |_sid, msg: Vec<u8>| vec![msg];
/// RelayDaemon::new(relay, TokenSource::File("daemon.jwt".into()), daemon)
///     .run(echo, |event| eprintln!("{event:?}"))
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RelayDaemon {
    config: RelayConfig,
    tokens: TokenSource,
    table: SessionTable,
    once: bool,
    resumable: bool,
    backoff: Backoff,
}

impl RelayDaemon {
    /// A daemon for `daemon` on the relay of `config`, with tokens from `tokens`, with the
    /// default [`Limits`](crate::endpoint::Limits).
    pub fn new(config: RelayConfig, tokens: TokenSource, daemon: Daemon) -> Self {
        Self {
            config,
            tokens,
            table: SessionTable::with_limits(daemon, crate::endpoint::Limits::default()),
            once: false,
            resumable: false,
            backoff: Backoff::default(),
        }
    }

    /// Uses `table` (for other limits or a key observer).
    pub fn with_table(mut self, table: SessionTable) -> Self {
        self.table = table;
        self
    }

    /// Do not reconnect: [`RelayDaemon::run`] returns when the first connection ends.
    pub fn once(mut self, once: bool) -> Self {
        self.once = once;
        self
    }

    /// Keep sessions across reconnects and signal them (needs a token with scope
    /// `session:resume`; without it the relay expires them anyway).
    pub fn resumable(mut self, resumable: bool) -> Self {
        self.resumable = resumable;
        self
    }

    /// Replaces the backoff (tests use short delays).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Runs until cancelled (or, with `once`, until the connection ends).
    pub async fn run(
        self,
        handler: impl SessionHandler,
        log: impl FnMut(&DaemonEvent<'_>),
    ) -> Result<(), DaemonError> {
        self.run_until(handler, log, std::future::pending()).await
    }

    /// Like [`RelayDaemon::run`], until `shutdown` resolves: then the presence connection is
    /// closed with 1001 (going away) and `Ok(())` returned.
    pub async fn run_until(
        mut self,
        mut handler: impl SessionHandler,
        mut log: impl FnMut(&DaemonEvent<'_>),
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), DaemonError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut attempt = 0u64;
        loop {
            attempt += 1;
            log(&DaemonEvent::Connecting { attempt });
            let attempt_conn = async {
                match self.tokens.fetch() {
                    Ok(token) => connect(&self.config, &token).await,
                    Err(e) => Err(e),
                }
            };
            let conn = tokio::select! {
                c = attempt_conn => c,
                () = &mut shutdown => return Ok(()),
            };
            match conn {
                Ok(mut conn) => {
                    let started = Instant::now();
                    log(&DaemonEvent::Connected {
                        transport: conn.transport(),
                        host: conn.host(),
                        attempt,
                        kept: self.table.resumable_at(started),
                    });
                    let end = match resume(&mut self.table, &mut handler, &mut log, started) {
                        Some(frames) => send_all(&mut conn, frames).await.err(),
                        None => None,
                    };
                    let end = match end {
                        Some(e) => e,
                        None => {
                            let served = serve(&mut conn, &mut self.table, &mut handler, &mut log);
                            tokio::select! {
                                e = served => e,
                                () = &mut shutdown => {
                                    conn.close(close::GOING_AWAY, "shutting down").await;
                                    return Ok(());
                                }
                            }
                        }
                    };
                    if self.resumable && !self.once {
                        self.table.suspend(Instant::now());
                    } else {
                        let mut events = Vec::new();
                        self.table.clear(EndReason::Closed, &mut events);
                        for e in &events {
                            if let Event::Ended { sid, reason, .. } = e {
                                handler.ended(*sid, reason);
                            }
                            log(&DaemonEvent::Session(e));
                        }
                    }
                    log(&DaemonEvent::Disconnected(&end));
                    self.backoff.connection_lasted(started.elapsed());
                    if self.once {
                        return match end {
                            RecvError::Closed { code: 1000, .. } => Ok(()),
                            e => Err(e.into()),
                        };
                    }
                }
                Err(e) => {
                    log(&DaemonEvent::ConnectFailed(&e));
                    if self.once {
                        return Err(e.into());
                    }
                }
            }
            let delay = self.backoff.next_delay(random_unit());
            log(&DaemonEvent::Retrying { delay });
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = &mut shutdown => return Ok(()),
            }
        }
    }
}

/// After a reconnect: the Signals for the kept sessions (`None`: nothing kept).
fn resume(
    table: &mut SessionTable,
    handler: &mut impl SessionHandler,
    log: &mut impl FnMut(&DaemonEvent<'_>),
    now: Instant,
) -> Option<Vec<Vec<u8>>> {
    if !table.is_suspended() {
        table.touch(now);
        return None;
    }
    let mut out = Vec::new();
    let mut events = Vec::new();
    let lost: Vec<SessionId> = table
        .session_ids()
        .filter(|sid| !handler.resumable(*sid))
        .collect();
    for sid in lost {
        if table.lose(sid, &mut out) {
            events.push(Event::Ended {
                sid,
                reason: EndReason::StateLost,
                detail: "state_lost: the handler lost the session's state".into(),
            });
        }
    }
    table.resume(now, &mut out, &mut events);
    for e in &events {
        if let Event::Ended { sid, reason, .. } = e {
            handler.ended(*sid, reason);
        }
        log(&DaemonEvent::Session(e));
    }
    Some(out)
}

async fn send_all(conn: &mut Connection, frames: Vec<Vec<u8>>) -> Result<(), RecvError> {
    for f in frames {
        conn.send_frame(f).await?;
    }
    Ok(())
}

async fn serve(
    conn: &mut Connection,
    table: &mut SessionTable,
    handler: &mut impl SessionHandler,
    log: &mut impl FnMut(&DaemonEvent<'_>),
) -> RecvError {
    let mut out = Vec::new();
    let mut events = Vec::new();
    loop {
        let got = match table.idle_deadline() {
            Some(at) => match tokio::time::timeout_at(at.into(), conn.recv_frame()).await {
                Ok(got) => got,
                Err(_) => {
                    conn.close(close::GOING_AWAY, "idle").await;
                    return RecvError::Idle(table.limits().idle_timeout.unwrap_or_default());
                }
            },
            None => conn.recv_frame().await,
        };
        let bytes = match got {
            Ok(b) => b,
            Err(e) => return e,
        };
        let Ok(raw) = RawFrame::decode(&bytes) else {
            continue; // checked by recv_frame
        };
        table.handle_with(Instant::now(), raw, handler, &mut out, &mut events);
        for e in events.drain(..) {
            match e {
                Event::Delivered { sid, len } => log(&DaemonEvent::Received { sid, len }),
                Event::ReplyFailed { sid, error } => log(&DaemonEvent::ReplyFailed {
                    sid,
                    error: error.to_string(),
                }),
                other => log(&DaemonEvent::Session(&other)),
            }
        }
        for f in out.drain(..) {
            if let Err(e) = conn.send_frame(f).await {
                return e;
            }
        }
    }
}

/// A client session failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Connecting failed (HTTP 401/403/409 included).
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The connection ended or broke framing.
    #[error(transparent)]
    Connection(#[from] RecvError),
    /// The token has no usable `sid` claim.
    #[error("invalid_sid: the token has no sid claim (base64url of 8 bytes, not zero)")]
    NoSessionId,
    /// The handshake failed (`identity_key_changed`, `handshake_failed`).
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// No HandshakeAccept in time.
    #[error("handshake_timeout: no HandshakeAccept within {} s", .0.as_secs_f64())]
    HandshakeTimeout(Duration),
    /// The system RNG failed.
    #[error(transparent)]
    Rng(#[from] crate::RngError),
    /// The session refused a message (decrypt, replay, size).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A terminal Control (or `session_ended`) for this session or the connection.
    #[error("the relay ended the session: Control {} (0x{:04x})", .code.name().unwrap_or("unknown"), .code.0)]
    Terminal {
        /// The code.
        code: ControlCode,
        /// Its text (untrusted; escape before printing).
        message: String,
    },
    /// The session is paused (the daemon is away): wait for [`ClientEvent::Resumed`].
    #[error("session_paused: the daemon is away; wait for session_resumed")]
    Paused,
    /// A frame the client cannot accept.
    #[error("{code}: {message}")]
    Protocol {
        /// The code.
        code: ErrorCode,
        /// What.
        message: String,
    },
}

impl ClientError {
    /// The SBRP error code, when there is one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Connection(e) => e.code(),
            Self::NoSessionId => None,
            Self::Rng(e) => Some(e.code()),
            Self::Handshake(e) => Some(e.code()),
            Self::HandshakeTimeout(_) => Some(ErrorCode::HandshakeTimeout),
            Self::Session(e) => Some(e.code()),
            Self::Terminal { code, .. } => code.known(),
            Self::Paused => Some(ErrorCode::SessionPaused),
            Self::Protocol { code, .. } => Some(*code),
            Self::Connect(_) => None,
        }
    }
}

/// What [`RelayClient::recv`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A decrypted message from the daemon.
    Message(Vec<u8>),
    /// `session_paused`: the daemon dropped; sending is refused until resumed.
    Paused,
    /// `session_pending`: the daemon is back and resuming.
    Pending,
    /// `session_resumed`: sending works again.
    Resumed,
    /// Another non-terminal Control (e.g. `rate_limited`).
    Control {
        /// The code.
        code: ControlCode,
        /// Its text (untrusted).
        message: String,
    },
    /// An SBRP Ping from the relay was answered.
    Ping,
    /// A frame for another session or of a type a client ignores.
    Ignored(String),
}

/// How the daemon's identity is checked.
#[derive(Clone, Copy, Debug)]
pub enum Trust<'a> {
    /// Exactly this (pinned) key.
    Pinned(&'a IdentityPublicKey),
    /// First contact: accept the advertised key (the caller pins it after success).
    FirstContact,
}

/// One client session through a relay.
#[derive(Debug)]
pub struct RelayClient {
    conn: Connection,
    session: Session,
    sid: SessionId,
    identity: IdentityPublicKey,
    paused: bool,
}

/// The `sid` claim of a client token (read without verifying it: the relay verifies).
pub fn token_session_id(token: &Token) -> Option<SessionId> {
    let d = crate::token::decode_unverified(token.expose()).ok()?;
    d.payload?
        .get("sid")?
        .as_str()
        .and_then(crate::token::decode_sid)
}

impl RelayClient {
    /// Connects with `token`, opens the session its `sid` names with daemon `daemon_id`, and
    /// checks the daemon's identity per `trust`. `on_event` sees what arrives meanwhile
    /// (Pings answered, session_pending, …).
    pub async fn connect(
        config: &RelayConfig,
        token: &Token,
        daemon_id: &str,
        trust: Trust<'_>,
        mut on_event: impl FnMut(&ClientEvent),
    ) -> Result<Self, ClientError> {
        let sid = token_session_id(token).ok_or(ClientError::NoSessionId)?;
        let mut conn = connect(config, token).await?;
        let hs = ClientHandshake::start(daemon_id, sid)?;
        conn.send_frame(Frame::HandshakeInit(hs.init()).to_vec())
            .await?;
        let deadline = tokio::time::Instant::now() + config.handshake_timeout;
        let accept = loop {
            let bytes = tokio::time::timeout_at(deadline, conn.recv_frame())
                .await
                .map_err(|_| ClientError::HandshakeTimeout(config.handshake_timeout))??;
            let raw = RawFrame::decode(&bytes).map_err(|e| ClientError::Protocol {
                code: e.code(),
                message: e.to_string(),
            })?;
            if raw.frame_type() == FrameType::HandshakeAccept && raw.session_id() == sid.get() {
                break raw.handshake_accept().map_err(|e| ClientError::Protocol {
                    code: e.code(),
                    message: e.to_string(),
                })?;
            }
            let mut paused = false;
            match triage(&mut conn, sid, &raw, &mut paused).await? {
                Some(ClientEvent::Message(_)) => {
                    return Err(ClientError::Protocol {
                        code: ErrorCode::HandshakeFailed,
                        message: "a Data frame before the HandshakeAccept".into(),
                    });
                }
                Some(e) => on_event(&e),
                None => {}
            }
        };
        let identity = accept.identity_key;
        let session = match trust {
            Trust::Pinned(pk) => hs.finish(&accept, pk)?,
            Trust::FirstContact => hs.finish_first_contact(&accept)?,
        };
        Ok(Self {
            conn,
            session,
            sid,
            identity,
            paused: false,
        })
    }

    /// The session id (from the token).
    pub fn session_id(&self) -> SessionId {
        self.sid
    }

    /// The identity key the daemon presented (verified).
    pub fn identity(&self) -> IdentityPublicKey {
        self.identity
    }

    /// The session's keys (for a key log).
    pub fn keys(&self) -> &crate::session::SessionKeys {
        self.session.keys()
    }

    /// The connection (transport name, host).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Whether the relay said `session_paused` (and not yet `session_resumed`).
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Encrypts and sends `plaintext`; refused with [`ClientError::Paused`] while paused.
    pub async fn send(&mut self, plaintext: &[u8]) -> Result<(), ClientError> {
        if self.paused {
            return Err(ClientError::Paused);
        }
        let frame = self.session.encrypt_frame(self.sid, plaintext)?;
        Ok(self.conn.send_frame(frame).await?)
    }

    /// The next event: a message, or a state change of the session.
    pub async fn recv(&mut self) -> Result<ClientEvent, ClientError> {
        loop {
            let bytes = self.conn.recv_frame().await?;
            let raw = RawFrame::decode(&bytes).map_err(|e| ClientError::Protocol {
                code: e.code(),
                message: e.to_string(),
            })?;
            match triage(&mut self.conn, self.sid, &raw, &mut self.paused).await? {
                Some(ClientEvent::Message(_)) => {
                    let data = raw.data().map_err(|e| ClientError::Protocol {
                        code: e.code(),
                        message: e.to_string(),
                    })?;
                    return Ok(ClientEvent::Message(
                        self.session.decrypt(data.payload.as_bytes())?,
                    ));
                }
                Some(e) => return Ok(e),
                None => {}
            }
        }
    }

    /// Closes the WebSocket normally.
    pub async fn close(mut self) {
        self.conn.close(close::NORMAL, "").await;
    }
}

/// Handles what a client must for any frame: Pings, Controls; `Some(Message(empty))` marks a
/// Data frame of this session for the caller to decrypt.
async fn triage(
    conn: &mut Connection,
    sid: SessionId,
    raw: &RawFrame<'_>,
    paused: &mut bool,
) -> Result<Option<ClientEvent>, ClientError> {
    let bad = |e: crate::FrameError| ClientError::Protocol {
        code: e.code(),
        message: e.to_string(),
    };
    match raw.frame_type() {
        FrameType::Ping => {
            let p = raw.ping_payload().map_err(bad)?;
            conn.send_frame(
                Frame::Pong(PingPayload::new(p.as_bytes()).unwrap_or_default()).to_vec(),
            )
            .await?;
            Ok(Some(ClientEvent::Ping))
        }
        FrameType::Control => {
            let c = raw.control().map_err(bad)?;
            let ours = c.session_id == 0 || c.session_id == sid.get();
            let message = c.message_lossy().into_owned();
            let code = c.code;
            if !ours {
                return Ok(Some(ClientEvent::Ignored(format!(
                    "a Control for session {}",
                    c.session_id
                ))));
            }
            if code.is_terminal() || code.known() == Some(ErrorCode::SessionEnded) {
                return Err(ClientError::Terminal { code, message });
            }
            Ok(Some(match code.known() {
                Some(ErrorCode::SessionPaused) => {
                    *paused = true;
                    ClientEvent::Paused
                }
                Some(ErrorCode::SessionPending) => ClientEvent::Pending,
                Some(ErrorCode::SessionResumed) => {
                    *paused = false;
                    ClientEvent::Resumed
                }
                _ => ClientEvent::Control { code, message },
            }))
        }
        FrameType::Data if raw.session_id() == sid.get() => {
            Ok(Some(ClientEvent::Message(Vec::new())))
        }
        t => Ok(Some(ClientEvent::Ignored(format!(
            "a {t} frame for session {}",
            raw.session_id()
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let mut b = Backoff::default();
        let d: Vec<u64> = (0..7).map(|_| b.next_delay(0.0).as_secs()).collect();
        assert_eq!(d, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(b.next_delay(1.0), Duration::from_millis(30_500));
        b.connection_lasted(Duration::from_millis(4999));
        assert_eq!(b.next_delay(0.0), Duration::from_secs(30));
        b.connection_lasted(Duration::from_secs(5));
        assert_eq!(b.next_delay(0.5), Duration::from_millis(1250));
    }

    #[test]
    fn urls_are_checked_and_redacted() {
        let c = RelayConfig::new("wss://relay.example:8443/v1?region=eu").unwrap();
        assert_eq!((c.transport(), c.host()), ("wss", "relay.example:8443"));
        assert_eq!(c.redacted_url(), "wss://relay.example:8443/v1");
        assert!(RelayConfig::new("http://x").is_err());
        assert!(RelayConfig::new("ws://").is_err());
        assert!(RelayConfig::new("ws://u:p@x/").is_err());
        assert!(RelayConfig::new("ws://x/?token=abc").is_err());
        // A relay that percent-decodes names (URLSearchParams does) sees a token in each of
        // these; so would a log of the URL.
        for url in [
            "ws://x/?%74oken=abc",
            "ws://x/?a=1&TOKEN=abc",
            "ws://x/?to%6Ben=a",
            "ws://x/?token",
        ] {
            assert!(RelayConfig::new(url).is_err(), "{url}");
        }
        assert!(RelayConfig::new("ws://x/?tokens=abc&my_token=1").is_ok());
        let t = Token::new("aaa.bbb.ccc");
        let r = c.request(&t).unwrap();
        assert_eq!(r.uri().query(), Some("region=eu&token=aaa.bbb.ccc"));
        assert_eq!(
            c.logged_url(),
            "wss://relay.example:8443/v1?region=eu&token=<redacted>"
        );
        assert!(!format!("{c:?}").contains("aaa.bbb"));
        let mut h = RelayConfig::new("ws://127.0.0.1:1").unwrap();
        h.auth = Auth::Header;
        let r = h.request(&t).unwrap();
        assert_eq!(r.headers()["authorization"], "Bearer aaa.bbb.ccc");
        assert!(r.headers()["authorization"].is_sensitive());
        assert_eq!(r.uri().query(), None);
        assert_eq!(h.logged_url(), "ws://127.0.0.1:1/");
        assert_eq!(r.uri().path(), "/");
        // No path: the request target still starts with `/`.
        let q = RelayConfig::new("ws://127.0.0.1:1")
            .unwrap()
            .request(&t)
            .unwrap();
        assert_eq!(q.uri().to_string(), "ws://127.0.0.1:1/?token=aaa.bbb.ccc");
        let q = RelayConfig::new("ws://h:1?a=b")
            .unwrap()
            .request(&t)
            .unwrap();
        assert_eq!(q.uri().to_string(), "ws://h:1/?a=b&token=aaa.bbb.ccc");
    }
}
