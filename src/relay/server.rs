//! The relay server: tokio + tokio-tungstenite (+ tokio-rustls) around [`RelayCore`].
//!
//! Every connection is authenticated **before** the WebSocket upgrade: the token comes from
//! `Authorization: Bearer` or `?token=`, runs every step of [`token::verify`], and the core
//! admits it or refuses it ([`Refusal`](super::Refusal)); refusals are HTTP statuses (401 missing or invalid
//! token, 403 valid but not allowed, 409 session already live, 503 full) and no upgrade
//! happens. After the upgrade each connection is one task that owns the whole WebSocket: in
//! each turn it writes what its queue holds (the core's [`Action`]s, in order, never waiting for
//! the socket), reads what has arrived (messages into the core) and watches the close
//! deadline, so a stalled write never stops reading or the close handling. The bytes flushed
//! are reported with [`RelayCore::on_flushed`] under the next hub lock the task takes (at the
//! latest at the end of the turn), so R5's byte accounting is exact. One [`RelayCore`] sits
//! behind a mutex that is never held across an `.await`: a frame is routed and queued for its
//! receiver in one short critical section, with no extra task hop on the hot path.
//!
//! Bounds (what input can grow):
//!
//! | what | bound |
//! |---|---|
//! | connections being authenticated (TCP or TLS accepted, upgrade not done) | [`HandshakeLimits::max_pending`] (default [`MAX_HANDSHAKES`]) and [`HandshakeLimits::max_pending_per_source`] per IPv4 address or IPv6 /64; beyond either the **oldest** unfinished one in that scope is closed, never the newest ([`PendingHandshakes`]) |
//! | time to finish TLS + the HTTP upgrade | [`HANDSHAKE_TIMEOUT`] |
//! | the HTTP upgrade request | 64 KiB and 124 headers (tungstenite's limits) |
//! | admitted connections | [`RelayConfig::max_connections`] (HTTP 503 beyond) |
//! | one message | [`MAX_MESSAGE`] (R10: close 1009 before it is buffered whole) |
//! | a connection's unsent frames | [`RelayConfig::max_queue`] bytes, accounted by the core (R5: `backpressure`, close 1013); the connection's queue holds only frames the core has counted |
//! | per-connection buffers | a 4 KiB read buffer, a write buffer that flushes at 16 KiB |
//! | waiting for a peer's close reply | [`CLOSE_TIMEOUT`] |
//! | the JWKS file | [`MAX_JWKS_FILE`] bytes |
//!
//! Tokens are never logged: refusals are reported with the failed step's code name only, and
//! the request URI (which may carry `?token=`) is never reported at all.
//!
//! ```no_run
//! # #[cfg(feature = "tls")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use sbrp::relay::{JwksSource, LogObserver, RelayConfig, RelayServer, ServerConfig};
//!
//! let server = RelayServer::bind(ServerConfig {
//!     listen: "127.0.0.1:8787".parse()?,
//!     relay: RelayConfig::default(),
//!     jwks: JwksSource::File("jwks.json".into()), // re-read when it changes
//!     iss: Some("https://issuer.example".into()),
//!     handshakes: Default::default(), // 1024 pending, 32 per source address
//!     tls: None,
//!     observer: Some(Arc::new(LogObserver)),
//! })
//! .await?;
//! println!("listening on {}", server.local_addr());
//! // Until Ctrl-C; then every connection gets 1001.
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, http};

use super::core::{Action, Admission, ConnId, RelayConfig, RelayCore, RelayEvent, SendKind};
use super::observe::{ConnectionEvent, FrameAction, FrameInterest, FrameRecord, Observer, Party};
use super::pending::{
    DEFAULT_MAX_PENDING, Eviction, HandshakeId, HandshakeLimits, PendingHandshakes, Source,
};
use crate::token::{self, Jwks, Role, TokenError, VerifyPolicy};
use crate::ws::MAX_MESSAGE;

/// Connections accepted whose TLS handshake or HTTP upgrade is not finished yet, by default
/// ([`HandshakeLimits::max_pending`]); a newer one evicts the oldest beyond it.
pub const MAX_HANDSHAKES: usize = DEFAULT_MAX_PENDING;
/// How long a connection may take from TCP accept to the end of the upgrade (TLS included).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the relay waits for a peer's close reply after it sent a close frame.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest JWKS file read.
pub const MAX_JWKS_FILE: u64 = 1024 * 1024;
/// How often the JWKS file's metadata is looked at.
pub const JWKS_POLL: Duration = Duration::from_secs(1);
/// Frames a writer hands to the WebSocket before it flushes and reports them.
const WRITE_BATCH: usize = 64;
/// The reason sent with close 1001 at shutdown.
pub const SHUTDOWN_REASON: &str = "relay shutting down";

/// Where the relay's token-signing keys come from.
#[derive(Clone, Debug)]
pub enum JwksSource {
    /// A JWKS file, re-read when its modification time, length or inode changes (key
    /// rotation); a new version that does not parse keeps the old keys and logs an error.
    File(PathBuf),
    /// Fixed keys.
    Static(Jwks),
}

/// What [`RelayServer::bind`] needs.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to listen on (port 0 picks a free one; see [`RelayServer::local_addr`]).
    pub listen: SocketAddr,
    /// The R-rule limits and timers.
    pub relay: RelayConfig,
    /// The keys tokens are verified with.
    pub jwks: JwksSource,
    /// The expected issuer (`None` accepts any, as `sbrp token verify` without `--iss`).
    pub iss: Option<String>,
    /// The table of connections still authenticating: its size and the per-source cap.
    pub handshakes: HandshakeLimits,
    /// Serve wss:// with this TLS configuration.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Who is told about connections, frames and core events.
    pub observer: Option<Arc<dyn Observer>>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("ServerConfig");
        d.field("listen", &self.listen)
            .field("relay", &self.relay)
            .field("jwks", &self.jwks)
            .field("iss", &self.iss)
            .field("handshakes", &self.handshakes);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls.is_some());
        d.field("observer", &self.observer.is_some()).finish()
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The JWKS file could not be read or parsed at start.
    #[error("JWKS {path}: {message}")]
    Jwks {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Accepting connections failed for good.
    #[error("accept failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What a connection's task is told to write.
enum Out {
    Frame(Vec<u8>),
    Close(u16, &'static str),
}

struct Slot {
    tx: UnboundedSender<Out>,
    party: Party,
    opened: Instant,
    /// The close code the relay sent (or queued).
    sent_close: Option<(u16, &'static str)>,
    closing: Arc<Notify>,
}

struct Hub {
    core: RelayCore,
    conns: HashMap<ConnId, Slot>,
    shutting_down: bool,
    /// The frame actions the observer wants records of (asked once, at bind).
    interest: FrameInterest,
}

/// The keys, swapped whole when the file changes.
struct Keys {
    source: Option<PathBuf>,
    current: RwLock<Arc<Jwks>>,
    stamp: Mutex<Option<FileStamp>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    ino: u64,
}

fn stamp_of(meta: &std::fs::Metadata) -> FileStamp {
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let ino = 0;
    FileStamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        ino,
    }
}

fn read_jwks(path: &std::path::Path) -> Result<(Jwks, FileStamp), String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_JWKS_FILE {
        return Err(format!("larger than {MAX_JWKS_FILE} bytes"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_JWKS_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_JWKS_FILE {
        return Err(format!("larger than {MAX_JWKS_FILE} bytes"));
    }
    let jwks = Jwks::parse(&bytes).map_err(|e| e.to_string())?;
    Ok((jwks, stamp_of(&meta)))
}

impl Keys {
    fn load(source: JwksSource) -> Result<Self, ServerError> {
        match source {
            JwksSource::Static(jwks) => Ok(Self {
                source: None,
                current: RwLock::new(Arc::new(jwks)),
                stamp: Mutex::new(None),
            }),
            JwksSource::File(path) => {
                let (jwks, stamp) = read_jwks(&path).map_err(|message| ServerError::Jwks {
                    path: path.clone(),
                    message,
                })?;
                Ok(Self {
                    source: Some(path),
                    current: RwLock::new(Arc::new(jwks)),
                    stamp: Mutex::new(Some(stamp)),
                })
            }
        }
    }

    fn get(&self) -> Arc<Jwks> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads the file if it changed. A file that does not parse keeps the old keys (and is
    /// not tried again until it changes again).
    fn refresh(&self) {
        let Some(path) = &self.source else {
            return;
        };
        let Ok(meta) = std::fs::metadata(path) else {
            let mut stamp = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
            if stamp.is_some() {
                *stamp = None;
                tracing::error!(
                    event = "jwks_error",
                    path = %path.display(),
                    "JWKS file is gone; keeping the keys already loaded"
                );
            }
            return;
        };
        let now = stamp_of(&meta);
        let mut stamp = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
        if *stamp == Some(now) {
            return;
        }
        match read_jwks(path) {
            Ok((jwks, read_stamp)) => {
                let keys = jwks.keys.len();
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(jwks);
                *stamp = Some(read_stamp);
                tracing::info!(event = "jwks_reloaded", path = %path.display(), keys, "JWKS reloaded");
            }
            Err(message) => {
                *stamp = Some(now);
                tracing::error!(
                    event = "jwks_error",
                    path = %path.display(),
                    error = %message,
                    "JWKS file changed but cannot be used; keeping the keys already loaded"
                );
            }
        }
    }
}

struct Shared {
    hub: Mutex<Hub>,
    start: Instant,
    observer: Option<Arc<dyn Observer>>,
    keys: Keys,
    policy: VerifyPolicy,
    next_conn: AtomicU64,
    ws_config: WebSocketConfig,
    pending: Mutex<Pending>,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// The connections still authenticating, and how to tell each one it was evicted (one sender
/// per table entry, so this map has the table's bound).
struct Pending {
    table: PendingHandshakes,
    evict: HashMap<HandshakeId, oneshot::Sender<Eviction>>,
}

/// A connection's entry in the table of pending handshakes; gone when this is dropped or
/// [`finish`](Self::finish)ed.
struct PendingSlot {
    shared: Arc<Shared>,
    id: HandshakeId,
}

impl PendingSlot {
    /// The handshake is no longer pending (its request head was read): it cannot be evicted.
    fn finish(&self) {
        let mut p = self.shared.pending();
        p.table.finish(self.id);
        p.evict.remove(&self.id);
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new connection from `peer`: its entry in the table, and the signal that it was evicted
    /// (an older entry it displaced is told at once).
    fn admit_pending(
        self: &Arc<Self>,
        peer: SocketAddr,
    ) -> (PendingSlot, oneshot::Receiver<Eviction>) {
        let (tx, rx) = oneshot::channel();
        let mut p = self.pending();
        let admitted = p.table.admit(Source::of(peer.ip()));
        if let Some((old, why)) = admitted.evicted
            && let Some(signal) = p.evict.remove(&old)
        {
            let _ = signal.send(why);
        }
        p.evict.insert(admitted.id, tx);
        drop(p);
        let slot = PendingSlot {
            shared: self.clone(),
            id: admitted.id,
        };
        (slot, rx)
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn refused(&self, peer: SocketAddr, status: u16, reason: &str) {
        if let Some(o) = &self.observer {
            o.connection(&ConnectionEvent::Refused {
                peer,
                status,
                reason,
            });
        }
    }
}

fn header_of(bytes: &[u8]) -> (u8, u64) {
    let ty = bytes.first().copied().unwrap_or(0);
    let sid = bytes
        .get(5..13)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes);
    (ty, sid)
}

fn other(p: Party) -> Party {
    match p {
        Party::Daemon => Party::Client,
        Party::Client => Party::Daemon,
        Party::Relay => Party::Relay,
    }
}

/// A frame the server handled, before it is a [`FrameRecord`] (which adds the clock).
struct Handled<'b> {
    conn: ConnId,
    from: Party,
    to: Party,
    /// The header's type byte and session id.
    header: (u8, u64),
    len: usize,
    /// The bytes the record carries: the frame when it was sent, else empty.
    bytes: &'b [u8],
    action: FrameAction,
    reason: Option<&'static str>,
}

/// Reports a frame to the observer when it wants frames handled with that action; the clock
/// is read and the record built only then.
fn report(observer: Option<&dyn Observer>, interest: FrameInterest, h: Handled<'_>) {
    let Some(o) = observer.filter(|_| interest.wants(h.action)) else {
        return;
    };
    let (frame_type, session_id) = h.header;
    o.frame(&FrameRecord {
        at: SystemTime::now(),
        conn: h.conn,
        from: h.from,
        to: h.to,
        session_id,
        frame_type,
        len: h.len,
        bytes: h.bytes,
        action: h.action,
        reason: h.reason,
    });
}

/// Carries out the core's actions (under the hub lock). `incoming` is the connection and
/// bytes of the message being handled, when there is one: a message the actions neither
/// forward, answer, drop nor refuse was consumed by the relay (a Signal, an endpoint's Pong),
/// and is reported as dropped with the reason `consumed`, so the observers see every frame.
fn execute(
    hub: &mut Hub,
    observer: Option<&dyn Observer>,
    actions: Vec<Action>,
    incoming: Option<(ConnId, &[u8])>,
) {
    let interest = hub.interest;
    let mut accounted = false;
    for action in actions {
        match action {
            Action::Send { conn, bytes, kind } => {
                accounted |= kind != SendKind::Generated;
                let Some(slot) = hub.conns.get(&conn) else {
                    continue;
                };
                let (from, action) = match kind {
                    SendKind::Forwarded => (other(slot.party), FrameAction::Forwarded),
                    SendKind::Answered => (Party::Relay, FrameAction::Answered),
                    SendKind::Generated => (Party::Relay, FrameAction::Generated),
                };
                report(
                    observer,
                    interest,
                    Handled {
                        conn,
                        from,
                        to: slot.party,
                        header: header_of(&bytes),
                        len: bytes.len(),
                        bytes: &bytes,
                        action,
                        reason: None,
                    },
                );
                if let Err(e) = slot.tx.send(Out::Frame(bytes)) {
                    // The writer is gone (its socket failed): the reader is ending too. Say
                    // so rather than losing a forwarded frame silently.
                    if let (SendKind::Forwarded, Out::Frame(bytes)) = (kind, e.0) {
                        report(
                            observer,
                            interest,
                            Handled {
                                conn,
                                from,
                                to: Party::Relay,
                                header: header_of(&bytes),
                                len: bytes.len(),
                                bytes: &[],
                                action: FrameAction::Dropped,
                                reason: Some("receiver_gone"),
                            },
                        );
                    }
                }
            }
            Action::Close { conn, code, reason } => {
                let Some(slot) = hub.conns.get_mut(&conn) else {
                    continue;
                };
                if slot.sent_close.is_none() {
                    slot.sent_close = Some((code, reason));
                    let _ = slot.tx.send(Out::Close(code, reason));
                    slot.closing.notify_one();
                }
            }
            Action::Event(event) => {
                accounted |= matches!(
                    event,
                    RelayEvent::Dropped { .. } | RelayEvent::Refused { .. }
                );
                let Some(o) = observer else {
                    continue;
                };
                let party_of = |c: &ConnId| hub.conns.get(c).map_or(Party::Relay, |s| s.party);
                match &event {
                    RelayEvent::Dropped {
                        conn,
                        type_byte,
                        session_id,
                        reason,
                    } => {
                        // Backpressure and a closing receiver name the receiver's connection.
                        let from = if matches!(*reason, "backpressure" | "receiver_closing") {
                            other(party_of(conn))
                        } else {
                            party_of(conn)
                        };
                        report(
                            observer,
                            interest,
                            Handled {
                                conn: *conn,
                                from,
                                to: Party::Relay,
                                header: (*type_byte, *session_id),
                                len: incoming.map_or(0, |(_, b)| b.len()),
                                bytes: &[],
                                action: FrameAction::Dropped,
                                reason: Some(reason),
                            },
                        );
                    }
                    RelayEvent::Refused {
                        conn,
                        type_byte,
                        session_id,
                        code,
                    } => report(
                        observer,
                        interest,
                        Handled {
                            conn: *conn,
                            from: party_of(conn),
                            to: Party::Relay,
                            header: (*type_byte, *session_id),
                            len: incoming
                                .filter(|(c, _)| c == conn)
                                .map_or(0, |(_, b)| b.len()),
                            bytes: &[],
                            action: FrameAction::Refused,
                            reason: Some(code.name()),
                        },
                    ),
                    _ => {}
                }
                o.relay_event(&event);
            }
        }
    }
    if let (false, Some((conn, bytes))) = (accounted, incoming) {
        report(
            observer,
            interest,
            Handled {
                conn,
                from: hub.conns.get(&conn).map_or(Party::Relay, |s| s.party),
                to: Party::Relay,
                header: header_of(bytes),
                len: bytes.len(),
                bytes: &[],
                action: FrameAction::Dropped,
                reason: Some("consumed"),
            },
        );
    }
}

/// A bound relay, ready to [`run`](Self::run).
pub struct RelayServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RelayServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// The WebSocket settings of the relay's side: R10's limit, small buffers.
pub fn server_websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
        .read_buffer_size(4096)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(16 * 1024 + 2 * MAX_MESSAGE)
}

impl RelayServer {
    /// Reads the keys and binds the listening socket.
    pub async fn bind(config: ServerConfig) -> Result<Self, ServerError> {
        let keys = Keys::load(config.jwks)?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr()?;
        let policy = VerifyPolicy {
            iss: config.iss,
            ..VerifyPolicy::default()
        };
        let shared = Arc::new(Shared {
            hub: Mutex::new(Hub {
                core: RelayCore::new(config.relay),
                conns: HashMap::new(),
                shutting_down: false,
                interest: FrameInterest::of(config.observer.as_deref()),
            }),
            start: Instant::now(),
            observer: config.observer,
            keys,
            policy,
            next_conn: AtomicU64::new(1),
            ws_config: server_websocket_config(),
            pending: Mutex::new(Pending {
                table: PendingHandshakes::new(config.handshakes),
                evict: HashMap::new(),
            }),
            #[cfg(feature = "tls")]
            tls: config.tls.map(tokio_rustls::TlsAcceptor::from),
        });
        Ok(Self {
            listener,
            local_addr,
            shared,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether it serves wss://.
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.shared.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// Serves until `shutdown` resolves; then stops accepting, closes every connection with
    /// 1001 and returns (within a few seconds).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServerError> {
        let shared = self.shared;
        let mut background = JoinSet::new();
        // Timers: R2 grace, R3 keepalive and idle.
        {
            let shared = shared.clone();
            let period = tick_period(shared.hub().core.config());
            background.spawn(async move {
                let mut timer = tokio::time::interval(period);
                timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    timer.tick().await;
                    let now = shared.now();
                    let mut hub = shared.hub();
                    let actions = hub.core.tick(now);
                    if !actions.is_empty() {
                        execute(&mut hub, shared.observer.as_deref(), actions, None);
                    }
                }
            });
        }
        if shared.keys.source.is_some() {
            let shared = shared.clone();
            background.spawn(async move {
                let mut timer = tokio::time::interval(JWKS_POLL);
                timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    timer.tick().await;
                    let s = shared.clone();
                    let _ = tokio::task::spawn_blocking(move || s.keys.refresh()).await;
                }
            });
        }

        let mut conns = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let (slot, evicted) = shared.admit_pending(peer);
                        let shared = shared.clone();
                        conns.spawn(async move {
                            handle(shared, tcp, peer, slot, evicted).await;
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: log, back off a little, go on.
                        tracing::warn!(event = "accept_error", error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(self.listener);
        // Close everyone with 1001.
        {
            let mut hub = shared.hub();
            hub.shutting_down = true;
            for slot in hub.conns.values_mut() {
                if slot.sent_close.is_none() {
                    slot.sent_close = Some((1001, SHUTDOWN_REASON));
                    let _ = slot.tx.send(Out::Close(1001, SHUTDOWN_REASON));
                    slot.closing.notify_one();
                }
            }
        }
        let deadline = tokio::time::sleep(CLOSE_TIMEOUT + Duration::from_secs(1));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => break,
                next = conns.join_next() => if next.is_none() { break },
            }
        }
        conns.abort_all();
        background.abort_all();
        // Connections that never answered: dropping their queues ends their writers.
        shared.hub().conns.clear();
        Ok(())
    }
}

/// How often `tick` runs: a quarter of the shortest timer, between 10 ms and 1 s.
fn tick_period(c: &RelayConfig) -> Duration {
    let shortest = c.grace.min(c.ping_interval).min(c.idle_timeout);
    (shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// An evicted handshake: its socket is closed without an answer (mid-TLS or mid-request there
/// is nothing sound to answer), logged once as refused with 503 and the eviction's reason.
fn evicted(shared: &Shared, peer: SocketAddr, why: Eviction) {
    shared.refused(peer, 503, why.reason());
}

async fn handle(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    slot: PendingSlot,
    eviction: oneshot::Receiver<Eviction>,
) {
    let _ = tcp.set_nodelay(true);
    #[cfg(feature = "tls")]
    if let Some(acceptor) = shared.tls.clone() {
        let mut eviction = eviction;
        let started = Instant::now();
        let tls = tokio::select! {
            r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => r,
            Ok(why) = &mut eviction => return evicted(&shared, peer, why),
        };
        match tls {
            Ok(Ok(stream)) => {
                let left = HANDSHAKE_TIMEOUT.saturating_sub(started.elapsed());
                serve(shared, stream, peer, slot, eviction, left).await;
            }
            Ok(Err(_)) => shared.refused(peer, 0, "tls_handshake_failed"),
            Err(_) => shared.refused(peer, 408, "handshake_timeout"),
        }
        return;
    }
    serve(shared, tcp, peer, slot, eviction, HANDSHAKE_TIMEOUT).await;
}

/// What the upgrade callback decided.
enum Verdict {
    Admitted { conn: ConnId, role: &'static str },
    Refused { status: u16, reason: &'static str },
}

/// The token of an upgrade request: `Authorization: Bearer` first, else `?token=` (an
/// `Authorization` header of another scheme is ignored).
fn token_of(req: &Request) -> Option<&str> {
    let bearer = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    if let Some(t) = bearer {
        return Some(t).filter(|t| !t.is_empty());
    }
    req.uri()
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .filter(|t| !t.is_empty())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn refusal_response(status: u16, reason: &str) -> ErrorResponse {
    let mut resp = http::Response::new(Some(format!("{reason}\n")));
    *resp.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if status == 401 {
        resp.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
    }
    resp
}

/// Verifies the token and admits the connection into the core (the whole decision happens
/// here, before the upgrade response is written).
fn authorize(
    shared: &Shared,
    req: &Request,
    tx: UnboundedSender<Out>,
    closing: Arc<Notify>,
    peer: SocketAddr,
) -> Verdict {
    let Some(text) = token_of(req) else {
        return Verdict::Refused {
            status: 401,
            reason: TokenError::Missing.code(),
        };
    };
    let claims = {
        let mut jwks = shared.keys.get();
        let mut result = token::verify(text, &jwks, &shared.policy, unix_now());
        if matches!(result, Err(TokenError::UnknownKid { .. })) {
            // A key we do not know yet: the file may have just been rotated.
            shared.keys.refresh();
            jwks = shared.keys.get();
            result = token::verify(text, &jwks, &shared.policy, unix_now());
        }
        match result {
            Ok(c) => c,
            Err(e) => {
                return Verdict::Refused {
                    status: e.http_status(),
                    reason: e.code(),
                };
            }
        }
    };
    // Valid but not allowed: a client token must grant `session:create` (authentication.md:
    // the relay acts on `scp` alone, no implicit defaults).
    if claims.role == Role::Client && !claims.has_scope(token::SCOPE_SESSION_CREATE) {
        return Verdict::Refused {
            status: 403,
            reason: "missing_scope",
        };
    }
    let Some(admission) = Admission::from_claims(&claims) else {
        return Verdict::Refused {
            status: 401,
            reason: "invalid_sid",
        };
    };
    let role = admission.role();
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let now = shared.now();
    let mut hub = shared.hub();
    if hub.shutting_down {
        return Verdict::Refused {
            status: 503,
            reason: "shutting_down",
        };
    }
    // Check before adding the slot, so a refused connection never receives a frame.
    if let Err(r) = hub.core.check(&admission) {
        return Verdict::Refused {
            status: r.http_status(),
            reason: refusal_reason(r),
        };
    }
    hub.conns.insert(
        conn,
        Slot {
            tx,
            party: Party::from_role(role),
            opened: Instant::now(),
            sent_close: None,
            closing,
        },
    );
    match hub.core.open(conn, admission, now) {
        Ok(actions) => {
            if let Some(o) = &shared.observer {
                o.connection(&ConnectionEvent::Opened { conn, role, peer });
            }
            execute(&mut hub, shared.observer.as_deref(), actions, None);
            Verdict::Admitted { conn, role }
        }
        Err(r) => {
            hub.conns.remove(&conn);
            Verdict::Refused {
                status: r.http_status(),
                reason: refusal_reason(r),
            }
        }
    }
}

fn refusal_reason(r: super::core::Refusal) -> &'static str {
    match r {
        super::core::Refusal::SessionLive => "session_live",
        super::core::Refusal::TooManyConnections => "too_many_connections",
        super::core::Refusal::DuplicateConnection => "duplicate_connection",
    }
}

async fn serve<S>(
    shared: Arc<Shared>,
    stream: S,
    peer: SocketAddr,
    slot: PendingSlot,
    mut eviction: oneshot::Receiver<Eviction>,
    time_left: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = unbounded_channel();
    let closing = Arc::new(Notify::new());
    let mut verdict = None;
    #[allow(clippy::result_large_err)] // the tungstenite callback's type is fixed
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        // The whole request head is here: no longer pending, no longer evictable.
        slot.finish();
        let v = authorize(&shared, req, tx, closing.clone(), peer);
        let out = match &v {
            Verdict::Admitted { .. } => Ok(resp),
            Verdict::Refused { status, reason } => Err(refusal_response(*status, reason)),
        };
        verdict = Some(v);
        out
    };
    let upgrade = tokio::time::timeout(
        time_left,
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(shared.ws_config)),
    );
    // Evicted before the request head was read (a head read later has finished its entry, so
    // its eviction signal is gone and this branch is disabled).
    let (upgraded, evicted_by) = tokio::select! {
        biased;
        r = upgrade => (Some(r), None),
        Ok(why) = &mut eviction => (None, Some(why)),
    };
    drop(slot);
    let (conn, role) = match (verdict, upgraded.ok_or(evicted_by)) {
        (None, Err(Some(why))) => {
            evicted(&shared, peer, why);
            return;
        }
        (None, Err(None)) => return, // cannot happen: one of the two branches ran
        (Some(Verdict::Admitted { conn, role }), Ok(Ok(Ok(ws)))) => {
            connection(&shared, ws, conn, role, rx, closing).await;
            return;
        }
        (Some(Verdict::Admitted { conn, role }), _) => (conn, role),
        (Some(Verdict::Refused { status, reason }), _) => {
            shared.refused(peer, status, reason);
            return;
        }
        (None, Ok(Err(_))) => {
            shared.refused(peer, 408, "handshake_timeout");
            return;
        }
        (None, Ok(Ok(Err(e)))) => {
            let reason = match e {
                // AttackAttempt: a head over 64 KiB; Capacity: more than 124 headers.
                WsError::AttackAttempt | WsError::Capacity(_) => "request_too_large",
                WsError::Http(_) | WsError::HttpFormat(_) | WsError::Protocol(_) => {
                    "not_a_websocket_upgrade"
                }
                _ => "handshake_failed",
            };
            shared.refused(peer, 400, reason);
            return;
        }
        (None, Ok(Ok(Ok(_)))) => return, // cannot happen: the callback always runs first
    };
    // Admitted, but the upgrade response could not be written: the connection is gone.
    finish(&shared, conn, role, None);
}

/// The end of a connection: tell the core, forget the slot, report the close.
fn finish(shared: &Shared, conn: ConnId, role: &'static str, peer_code: Option<u16>) {
    let now = shared.now();
    let mut hub = shared.hub();
    let actions = hub.core.on_closed(conn, now);
    execute(&mut hub, shared.observer.as_deref(), actions, None);
    let slot = hub.conns.remove(&conn);
    drop(hub);
    if let (Some(o), Some(slot)) = (&shared.observer, slot) {
        let (code, reason) = match (slot.sent_close, peer_code) {
            (Some((code, reason)), _) => (code, reason),
            (None, Some(code)) => (code, "closed by peer"),
            (None, None) => (1006, "connection lost"),
        };
        o.connection(&ConnectionEvent::Closed {
            conn,
            role,
            code,
            reason,
            lifetime: slot.opened.elapsed(),
        });
    }
}

/// The sending side of a connection: what was handed to the WebSocket and not yet flushed,
/// and how far the relay's own close got. Driven by the connection's one task, between reads.
#[derive(Default)]
struct Outgoing {
    /// Bytes of frames handed to the WebSocket since the last completed flush.
    unflushed: usize,
    /// Bytes flushed and not yet reported with [`RelayCore::on_flushed`].
    flushed: usize,
    /// Something was handed to the WebSocket since the last completed flush.
    dirty: bool,
    /// The relay's close frame was handed to the WebSocket.
    close_sent: bool,
    /// The queue's senders are gone (the connection's slot was removed) and it is empty.
    queue_ended: bool,
    /// Nothing more is written: the close frame went out whole, or a write failed.
    done: bool,
}

impl Outgoing {
    /// Writes what the queue holds, in order, as far as the socket takes it without waiting
    /// (up to [`WRITE_BATCH`] frames per flush); returns at once when the socket is full, so
    /// reading and the close deadline never wait for a write. A failed write ends the writing
    /// and closes the queue: a frame routed here later is reported `receiver_gone`.
    fn poll_write<S>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        rx: &mut UnboundedReceiver<Out>,
        cx: &mut Context<'_>,
    ) where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        while !self.done {
            let mut taken = 0;
            while !self.close_sent && taken < WRITE_BATCH {
                match Pin::new(&mut *ws).poll_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => return self.fail(rx),
                    Poll::Pending => break,
                }
                let item = match rx.poll_recv(cx) {
                    Poll::Ready(Some(item)) => item,
                    Poll::Ready(None) => {
                        self.queue_ended = true;
                        break;
                    }
                    Poll::Pending => break,
                };
                taken += 1;
                let message = match item {
                    Out::Frame(bytes) => {
                        self.unflushed += bytes.len();
                        Message::Binary(bytes.into())
                    }
                    Out::Close(code, reason) => {
                        self.close_sent = true;
                        Message::Close(Some(CloseFrame {
                            code: CloseCode::from(code),
                            reason: reason.into(),
                        }))
                    }
                };
                self.dirty = true;
                if Pin::new(&mut *ws).start_send(message).is_err() {
                    return self.fail(rx);
                }
            }
            if !self.dirty {
                return;
            }
            match Pin::new(&mut *ws).poll_flush(cx) {
                Poll::Ready(Ok(())) => {
                    self.flushed += std::mem::take(&mut self.unflushed);
                    self.dirty = false;
                    if self.close_sent {
                        self.done = true;
                        rx.close();
                    }
                }
                Poll::Ready(Err(_)) => return self.fail(rx),
                Poll::Pending => return,
            }
        }
    }

    fn fail(&mut self, rx: &mut UnboundedReceiver<Out>) {
        self.done = true;
        rx.close();
    }

    /// Everything queued so far is written and flushed (or nothing more can be).
    fn idle(&self) -> bool {
        self.done || (self.queue_ended && !self.dirty)
    }

    /// Tells the core what was flushed since the last report (R5's accounting).
    fn report(&mut self, hub: &mut Hub, conn: ConnId) {
        let n = std::mem::take(&mut self.flushed);
        if n > 0 {
            hub.core.on_flushed(conn, n);
        }
    }
}

/// How a connection's reading ended.
#[derive(PartialEq, Eq)]
enum ReadEnd {
    /// The peer closed, the socket failed, or the close deadline passed.
    Ended,
    /// R10: a message too large; the stream cannot be read on.
    Oversized,
}

/// One connection after the upgrade: a single task owns the WebSocket and, in each turn,
/// writes what its queue holds (without waiting for the socket), reads what has arrived (each
/// binary message into the core under the hub lock) and watches the close deadline.
async fn connection<S>(
    shared: &Arc<Shared>,
    mut ws: WebSocketStream<S>,
    conn: ConnId,
    role: &'static str,
    mut rx: UnboundedReceiver<Out>,
    closing: Arc<Notify>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut out = Outgoing::default();
    let mut peer_code = None;
    let mut deadline: Option<Pin<Box<tokio::time::Sleep>>> = None;
    // One waiter for the whole connection: a `notified()` made per turn would register with
    // the Notify and deregister again (a lock each) for every message read.
    let closed_by_relay = closing.notified();
    tokio::pin!(closed_by_relay);
    let end = std::future::poll_fn(|cx| {
        loop {
            out.poll_write(&mut ws, &mut rx, cx);
            match Pin::new(&mut ws).poll_next(cx) {
                Poll::Ready(Some(Ok(msg))) => {
                    match msg {
                        Message::Binary(bytes) => {
                            let now = shared.now();
                            let mut hub = shared.hub();
                            // Flushed bytes ride on the lock this message takes anyway.
                            out.report(&mut hub, conn);
                            if hub.shutting_down {
                                continue;
                            }
                            let actions = hub.core.on_message(conn, &bytes, now);
                            execute(
                                &mut hub,
                                shared.observer.as_deref(),
                                actions,
                                Some((conn, &bytes)),
                            );
                        }
                        Message::Text(_) => {
                            let now = shared.now();
                            let mut hub = shared.hub();
                            out.report(&mut hub, conn);
                            let actions = hub.core.on_text(conn, now);
                            execute(&mut hub, shared.observer.as_deref(), actions, None);
                        }
                        Message::Close(frame) => {
                            peer_code = Some(frame.map_or(1005, |f| u16::from(f.code)));
                        }
                        _ => {} // WebSocket Ping/Pong: tungstenite answers them itself
                    }
                    continue;
                }
                Poll::Ready(Some(Err(WsError::Capacity(_)))) => {
                    // R10: too large, refused before it was buffered whole.
                    let now = shared.now();
                    let mut hub = shared.hub();
                    out.report(&mut hub, conn);
                    let actions = hub.core.on_oversized(conn, now);
                    execute(&mut hub, shared.observer.as_deref(), actions, None);
                    return Poll::Ready(ReadEnd::Oversized);
                }
                Poll::Ready(Some(Err(_)) | None) => return Poll::Ready(ReadEnd::Ended),
                Poll::Pending => {}
            }
            if deadline.is_none() && closed_by_relay.as_mut().poll(cx).is_ready() {
                deadline = Some(Box::pin(tokio::time::sleep(CLOSE_TIMEOUT)));
            }
            if let Some(d) = deadline.as_mut()
                && d.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(ReadEnd::Ended);
            }
            // Nothing more to do now: report what was flushed in this turn.
            if out.flushed > 0 {
                out.report(&mut shared.hub(), conn);
            }
            return Poll::Pending;
        }
    })
    .await;
    if end == ReadEnd::Oversized {
        // The close 1009 (after the frames queued before it) goes out before the end is
        // reported.
        let _ = tokio::time::timeout(
            CLOSE_TIMEOUT,
            std::future::poll_fn(|cx| {
                out.poll_write(&mut ws, &mut rx, cx);
                if out.done {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }),
        )
        .await;
    }
    finish(shared, conn, role, peer_code);
    // The slot (and its sender) is gone: write what the queue still holds, then close, all
    // within CLOSE_TIMEOUT (a peer that reads nothing is dropped after it).
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        std::future::poll_fn(|cx| {
            out.poll_write(&mut ws, &mut rx, cx);
            if out.idle() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        if !out.done {
            let _ = futures_util::SinkExt::close(&mut ws).await;
        }
    })
    .await;
}
