//! Prometheus metrics of the relay: [`Metrics`] is an [`Observer`] that counts what the server
//! reports, [`Metrics::render`] prints them in the OpenMetrics text format, and
//! [`MetricsServer`] serves them over HTTP (`GET /metrics`, `GET /healthz`).
//!
//! Every metric is named `sbrp_relay_…` (the list, with meanings, is in `docs/relay.md`). Label
//! values come from fixed sets only (roles, frame type names, directions, error-code names,
//! the core's drop reasons, a short list of HTTP statuses and close codes, else `other`), so
//! the number of series is bounded whatever the traffic; nothing is ever labelled by session
//! id, daemon id, address or token.
//!
//! What is counted from which report (each fact is counted once, from one report):
//!
//! | report | counts |
//! |---|---|
//! | [`ConnectionEvent`] | connections open, opened, refused (by HTTP status), closed (by close code) |
//! | [`FrameRecord`] | frames and bytes forwarded, frames the relay answered or generated, Controls by code, frames dropped and refused by reason |
//! | [`RelayEvent`] | sessions by state, rate limiting, backpressure closes, handshake latency |
//!
//! [`RelayEvent::Opened`], [`RelayEvent::Dropped`] and [`RelayEvent::Refused`] are not counted:
//! the server reports the same facts as a [`ConnectionEvent`] or a [`FrameRecord`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::core::{RelayEvent, SessionState};
use super::observe::{ConnectionEvent, FrameAction, FrameRecord, Observer, Party};
use crate::error::ErrorCode;
use crate::frame::{FrameType, HEADER_LEN};

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the handshake latency histogram's buckets.
pub const HANDSHAKE_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

type Labels1 = [(&'static str, &'static str); 1];
type Labels2 = [(&'static str, &'static str); 2];

/// The relay's Prometheus metrics (see the module documentation).
pub struct Metrics {
    registry: Registry,
    connections: Family<Labels1, Gauge>,
    connections_opened: Family<Labels1, Counter>,
    connections_refused: Family<Labels1, Counter>,
    connections_closed: Family<Labels2, Counter>,
    sessions: Family<Labels1, Gauge>,
    sessions_started: Counter,
    sessions_ended: Family<Labels1, Counter>,
    frames_forwarded: Family<Labels2, Counter>,
    bytes_forwarded: Family<Labels2, Counter>,
    frames_sent_by_relay: Family<Labels2, Counter>,
    controls_sent: Family<Labels1, Counter>,
    frames_dropped: Family<Labels2, Counter>,
    frames_consumed: Family<Labels1, Counter>,
    frames_refused: Family<Labels2, Counter>,
    rate_limited: Counter,
    backpressure_closes: Family<Labels1, Counter>,
    handshakes_evicted: Family<Labels1, Counter>,
    handshake_latency: Histogram,
    capture_records: Family<Labels1, Counter>,
    capture_lost: Family<Labels1, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics { .. }")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Counters a capture keeps in [`Metrics`] (see [`Metrics::capture_counters`]).
#[derive(Clone, Debug, Default)]
pub struct CaptureCounters {
    /// Records written whole.
    pub written: Counter,
    /// Records lost (queue full, write error).
    pub lost: Counter,
}

impl Metrics {
    /// Every metric registered, at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sbrp_relay");
        let m = Self {
            connections: Family::default(),
            connections_opened: Family::default(),
            connections_refused: Family::default(),
            connections_closed: Family::default(),
            sessions: Family::default(),
            sessions_started: Counter::default(),
            sessions_ended: Family::default(),
            frames_forwarded: Family::default(),
            bytes_forwarded: Family::default(),
            frames_sent_by_relay: Family::default(),
            controls_sent: Family::default(),
            frames_dropped: Family::default(),
            frames_consumed: Family::default(),
            frames_refused: Family::default(),
            rate_limited: Counter::default(),
            backpressure_closes: Family::default(),
            handshakes_evicted: Family::default(),
            handshake_latency: Histogram::new(HANDSHAKE_BUCKETS),
            capture_records: Family::default(),
            capture_lost: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "build",
            "The sbrp version serving these metrics",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        registry.register(
            "connections",
            "Open WebSocket connections by role",
            m.connections.clone(),
        );
        registry.register(
            "connections_opened",
            "Connections admitted (token verified, upgraded) by role",
            m.connections_opened.clone(),
        );
        registry.register(
            "connections_refused",
            "Upgrades refused by HTTP status (401 bad token, 403 not allowed, 409 session live, 503 full, ...)",
            m.connections_refused.clone(),
        );
        registry.register(
            "connections_closed",
            "Connections ended by role and WebSocket close code (1006: dropped without a close)",
            m.connections_closed.clone(),
        );
        registry.register(
            "sessions",
            "Live sessions by state (paired, paused, pending)",
            m.sessions.clone(),
        );
        registry.register(
            "sessions_started",
            "Sessions paired (a client arrived and its daemon was online)",
            m.sessions_started.clone(),
        );
        registry.register(
            "sessions_ended",
            "Sessions closed, by the state they were in",
            m.sessions_ended.clone(),
        );
        registry.register(
            "frames_forwarded",
            "Endpoint frames forwarded byte for byte, by frame type and direction",
            m.frames_forwarded.clone(),
        );
        registry.register(
            "bytes_forwarded",
            "Bytes of forwarded frames (whole messages), by frame type and direction",
            m.bytes_forwarded.clone(),
        );
        registry.register(
            "frames_sent_by_relay",
            "Frames the relay made: answered (Pong) or generated (Control, Ping), by type and action",
            m.frames_sent_by_relay.clone(),
        );
        registry.register(
            "controls_sent",
            "Control frames the relay sent, by code name",
            m.controls_sent.clone(),
        );
        registry.register(
            "frames_dropped",
            "Frames received and not forwarded nor answered, by frame type and reason",
            m.frames_dropped.clone(),
        );
        registry.register(
            "frames_consumed",
            "Frames the relay acted on without forwarding (Signals, endpoints' Pongs), by frame type",
            m.frames_consumed.clone(),
        );
        registry.register(
            "frames_refused",
            "Frames that broke a rule and were answered with a terminal Control, by frame type and code name",
            m.frames_refused.clone(),
        );
        registry.register(
            "rate_limited",
            "Times a connection went over its frame rate (at most once a second per connection; the frames are in frames_dropped)",
            m.rate_limited.clone(),
        );
        registry.register(
            "backpressure_closes",
            "Connections closed with backpressure, by limit (max_queue: its own queue; max_total_queue: the largest queue when all went over the relay-wide budget)",
            m.backpressure_closes.clone(),
        );
        registry.register(
            "handshakes_evicted",
            "Unfinished handshakes closed to make room for a newer one, by reason (source_cap: its address was at --max-pending-per-ip; table_full: --max-handshakes reached)",
            m.handshakes_evicted.clone(),
        );
        registry.register_with_unit(
            "handshake_latency",
            "Time from a HandshakeInit forwarded to its HandshakeAccept forwarded",
            prometheus_client::registry::Unit::Seconds,
            m.handshake_latency.clone(),
        );
        registry.register(
            "capture_records",
            "Records written whole to a capture file, by file (stream, log)",
            m.capture_records.clone(),
        );
        registry.register(
            "capture_lost",
            "Records a capture file lost (its queue was full, or a write failed), by file",
            m.capture_lost.clone(),
        );
        // Series that exist from the start, so dashboards and alerts see zeros, not gaps.
        for role in ["daemon", "client"] {
            drop(m.connections.get_or_create(&[("role", role)]));
            drop(m.connections_opened.get_or_create(&[("role", role)]));
        }
        for state in [
            SessionState::Paired,
            SessionState::Paused,
            SessionState::Pending,
        ] {
            drop(m.sessions.get_or_create(&[("state", state.name())]));
        }
        for (ty, dir) in [
            (FrameType::HandshakeInit, "client_to_daemon"),
            (FrameType::HandshakeAccept, "daemon_to_client"),
            (FrameType::Data, "client_to_daemon"),
            (FrameType::Data, "daemon_to_client"),
        ] {
            let labels = [("type", ty.name()), ("direction", dir)];
            drop(m.frames_forwarded.get_or_create(&labels));
            drop(m.bytes_forwarded.get_or_create(&labels));
        }
        Self { registry, ..m }
    }

    /// Counters for one capture file (`which`: `stream` or `log`), shown as
    /// `sbrp_relay_capture_records_total{file=…}` and `sbrp_relay_capture_lost_total{file=…}`.
    pub fn capture_counters(&self, which: &'static str) -> CaptureCounters {
        CaptureCounters {
            written: self.capture_records.get_or_create_owned(&[("file", which)]),
            lost: self.capture_lost.get_or_create_owned(&[("file", which)]),
        }
    }

    /// The metrics in the OpenMetrics text format ([`CONTENT_TYPE`]), ending `# EOF`.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// A frame type's name, `unknown` for other bytes.
fn type_name(byte: u8) -> &'static str {
    FrameType::from_u8(byte).map_or("unknown", FrameType::name)
}

fn direction(from: Party, to: Party) -> &'static str {
    match (from, to) {
        (Party::Client, Party::Daemon) => "client_to_daemon",
        (Party::Daemon, Party::Client) => "daemon_to_client",
        (Party::Relay, Party::Client) => "relay_to_client",
        (Party::Relay, Party::Daemon) => "relay_to_daemon",
        (Party::Client, Party::Relay) => "client_to_relay",
        (Party::Daemon, Party::Relay) => "daemon_to_relay",
        _ => "other",
    }
}

fn role_label(role: &str) -> &'static str {
    match role {
        "daemon" => "daemon",
        "client" => "client",
        _ => "other",
    }
}

/// HTTP statuses the relay refuses upgrades with; anything else is `other`.
fn status_label(status: u16) -> &'static str {
    match status {
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        409 => "409",
        413 => "413",
        426 => "426",
        429 => "429",
        431 => "431",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

/// The registered WebSocket close codes (RFC 6455 §7.4.1); application codes are `other`
/// (a peer may close with any of thousands).
fn close_label(code: u16) -> &'static str {
    match code {
        1000 => "1000",
        1001 => "1001",
        1002 => "1002",
        1003 => "1003",
        1005 => "1005",
        1006 => "1006",
        1007 => "1007",
        1008 => "1008",
        1009 => "1009",
        1010 => "1010",
        1011 => "1011",
        1012 => "1012",
        1013 => "1013",
        1014 => "1014",
        1015 => "1015",
        _ => "other",
    }
}

/// The code name of a Control frame's bytes, `unknown` for a code outside the registry.
fn control_code(bytes: &[u8]) -> &'static str {
    bytes
        .get(HEADER_LEN..HEADER_LEN + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .and_then(ErrorCode::from_wire)
        .map_or("unknown", ErrorCode::name)
}

impl Observer for Metrics {
    fn connection(&self, event: &ConnectionEvent<'_>) {
        match event {
            ConnectionEvent::Opened { role, .. } => {
                let l = [("role", role_label(role))];
                self.connections.get_or_create(&l).inc();
                self.connections_opened.get_or_create(&l).inc();
            }
            ConnectionEvent::Refused { status, reason, .. } => {
                self.connections_refused
                    .get_or_create(&[("status", status_label(*status))])
                    .inc();
                if let Some(e) = super::pending::Eviction::from_reason(reason) {
                    self.handshakes_evicted
                        .get_or_create(&[("reason", e.label())])
                        .inc();
                }
            }
            ConnectionEvent::Closed { role, code, .. } => {
                let role = role_label(role);
                self.connections.get_or_create(&[("role", role)]).dec();
                self.connections_closed
                    .get_or_create(&[("role", role), ("code", close_label(*code))])
                    .inc();
            }
        }
    }

    fn frame(&self, r: &FrameRecord<'_>) {
        let ty = type_name(r.frame_type);
        match r.action {
            FrameAction::Forwarded => {
                let l = [("type", ty), ("direction", direction(r.from, r.to))];
                self.frames_forwarded.get_or_create(&l).inc();
                self.bytes_forwarded.get_or_create(&l).inc_by(r.len as u64);
            }
            FrameAction::Answered | FrameAction::Generated => {
                self.frames_sent_by_relay
                    .get_or_create(&[("type", ty), ("action", r.action.name())])
                    .inc();
                if r.frame_type == FrameType::Control.as_u8() {
                    self.controls_sent
                        .get_or_create(&[("code", control_code(r.bytes))])
                        .inc();
                }
            }
            FrameAction::Dropped if r.reason == Some("consumed") => {
                self.frames_consumed.get_or_create(&[("type", ty)]).inc();
            }
            FrameAction::Dropped => {
                self.frames_dropped
                    .get_or_create(&[("type", ty), ("reason", r.reason.unwrap_or("other"))])
                    .inc();
            }
            FrameAction::Refused => {
                self.frames_refused
                    .get_or_create(&[("type", ty), ("reason", r.reason.unwrap_or("other"))])
                    .inc();
            }
        }
    }

    fn relay_event(&self, event: &RelayEvent) {
        match event {
            RelayEvent::SessionState { from, to, .. } => {
                if let Some(s) = from {
                    self.sessions.get_or_create(&[("state", s.name())]).dec();
                }
                if let Some(s) = to {
                    self.sessions.get_or_create(&[("state", s.name())]).inc();
                }
                match (from, to) {
                    (None, Some(_)) => {
                        self.sessions_started.inc();
                    }
                    (Some(s), None) => {
                        self.sessions_ended
                            .get_or_create(&[("state", s.name())])
                            .inc();
                    }
                    _ => {}
                }
            }
            RelayEvent::RateLimited { .. } => {
                self.rate_limited.inc();
            }
            RelayEvent::Backpressure { limit, .. } => {
                let limit = match *limit {
                    super::core::LIMIT_MAX_TOTAL_QUEUE => super::core::LIMIT_MAX_TOTAL_QUEUE,
                    _ => super::core::LIMIT_MAX_QUEUE,
                };
                self.backpressure_closes
                    .get_or_create(&[("limit", limit)])
                    .inc();
            }
            RelayEvent::HandshakeLatency { latency, .. } => {
                self.handshake_latency.observe(latency.as_secs_f64());
            }
            RelayEvent::Opened { .. } | RelayEvent::Dropped { .. } | RelayEvent::Refused { .. } => {
            }
        }
    }
}

/// Longest request head (request line and headers) the endpoint reads.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// How long a client has to send its request head, and to take the response.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests served at once; connections beyond it are closed at once.
pub const MAX_CONCURRENT: usize = 32;

/// The HTTP endpoint for [`Metrics`]: `GET /metrics` (the OpenMetrics text), `GET /healthz`
/// (`200 ok`), `404` for other paths, `405` for other methods, `400` for what is not
/// HTTP/1.x, `431` for a request head over [`MAX_REQUEST_HEAD`]. One request per connection
/// (`Connection: close`), each bounded in size and time ([`REQUEST_TIMEOUT`]), at most
/// [`MAX_CONCURRENT`] at once.
///
/// A minimal HTTP/1.1 responder on tokio and httparse (both already in the tree through
/// tokio-tungstenite) rather than hyper: two fixed GET routes need no keep-alive, chunking or
/// HTTP/2, and hyper would add hyper, http-body and hyper-util for them.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
    metrics: Arc<Metrics>,
}

impl MetricsServer {
    /// Binds the endpoint (`127.0.0.1:0` picks a free port).
    pub async fn bind(addr: SocketAddr, metrics: Arc<Metrics>) -> io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            metrics,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves (requests in progress are abandoned).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> io::Result<()> {
        let limit = Arc::new(Semaphore::new(MAX_CONCURRENT));
        tokio::pin!(shutdown);
        loop {
            let (stream, _) = tokio::select! {
                () = &mut shutdown => return Ok(()),
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    // Out of file descriptors and the like: wait a little, keep serving.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                drop(stream);
                continue;
            };
            let metrics = self.metrics.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(REQUEST_TIMEOUT, serve_one(stream, &metrics)).await;
                drop(permit);
            });
        }
    }
}

async fn serve_one(mut stream: TcpStream, metrics: &Metrics) -> io::Result<()> {
    let mut buf = vec![0u8; MAX_REQUEST_HEAD];
    let mut len = 0;
    let (status, body, content_type, head_only, allow) = loop {
        if len == buf.len() {
            break (
                431,
                "request head too large\n".to_owned(),
                "text/plain",
                false,
                false,
            );
        }
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            return Ok(());
        }
        len += n;
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..len]) {
            Ok(httparse::Status::Partial) => continue,
            Err(httparse::Error::TooManyHeaders) => {
                break (
                    431,
                    "too many headers\n".to_owned(),
                    "text/plain",
                    false,
                    false,
                );
            }
            Err(_) => break (400, "bad request\n".to_owned(), "text/plain", false, false),
            Ok(httparse::Status::Complete(_)) => {
                let method = req.method.unwrap_or("");
                let path = req.path.unwrap_or("");
                let path = path.split_once('?').map_or(path, |(p, _)| p);
                let head = method == "HEAD";
                let get = method == "GET" || head;
                break match path {
                    "/metrics" if get => (200, metrics.render(), CONTENT_TYPE, head, false),
                    "/healthz" if get => (200, "ok\n".to_owned(), "text/plain", head, false),
                    "/metrics" | "/healthz" => (
                        405,
                        "method not allowed\n".to_owned(),
                        "text/plain",
                        false,
                        true,
                    ),
                    _ => (404, "not found\n".to_owned(), "text/plain", head, false),
                };
            }
        }
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n",
        body.len()
    );
    if allow {
        response.push_str("Allow: GET, HEAD\r\n");
    }
    response.push_str("\r\n");
    if !head_only {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await?;
    // Take (and discard) a little of what the client may still be sending, so that closing
    // with unread bytes does not reset the connection before it reads the response.
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < 64 * 1024 {
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => break,
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
