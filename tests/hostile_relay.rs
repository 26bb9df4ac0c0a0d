//! The real `sbrp relay` binary against hostile clients on 127.0.0.1: raw TCP and hand-built
//! WebSocket frames an honest client library would never send (frame headers claiming huge
//! lengths, runaway fragments, partial upgrade requests held open, oversized request heads,
//! extension offers, WebSocket ping floods, a daemon id reconnecting in a loop, clients that
//! never read, together over the relay-wide queue budget). Every test
//! asserts behaviour: what was closed, refused or answered, what the relay still serves
//! afterwards, and that it never panicked. Measurements of the same attacks (memory, CPU) are in
//! docs/relay.md "Hostile clients" (tests/python/hostile_relay_probe.py); none is asserted here.
#![cfg(all(feature = "relay", feature = "tls"))]

#[path = "common/relay.rs"]
mod relay;

use std::time::Duration;

use relay::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DID: &str = "hostile-daemon";

fn upgrade_request(token: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET /?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// Reads an HTTP response head (or whatever came before the socket closed).
async fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(WAIT, tcp.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A raw WebSocket connection, upgraded with `token` (panics unless the answer is 101).
async fn raw_ws(relay: &Relay, token: &str, extra: &str) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(&relay.addr).await.unwrap();
    tcp.write_all(&upgrade_request(token, extra)).await.unwrap();
    let head = read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head:?}");
    (tcp, head)
}

/// A masked client frame header (mask key 0, so the payload goes as is) announcing `len`.
fn ws_header(opcode: u8, fin: bool, len: u64) -> Vec<u8> {
    let mut h = vec![if fin { 0x80 } else { 0 } | opcode];
    if len < 126 {
        h.push(0x80 | len as u8);
    } else if len < 65536 {
        h.push(0x80 | 126);
        h.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        h.push(0x80 | 127);
        h.extend_from_slice(&len.to_be_bytes());
    }
    h.extend_from_slice(&[0, 0, 0, 0]);
    h
}

/// Reads server frames until a close frame: its code; `None` if the socket ended without one.
async fn close_code(tcp: &mut TcpStream) -> Option<u16> {
    loop {
        let mut h = [0u8; 2];
        tokio::time::timeout(WAIT, tcp.read_exact(&mut h))
            .await
            .ok()?
            .ok()?;
        let mut n = u64::from(h[1] & 0x7f);
        if n == 126 {
            let mut b = [0u8; 2];
            tcp.read_exact(&mut b).await.ok()?;
            n = u64::from(u16::from_be_bytes(b));
        } else if n == 127 {
            let mut b = [0u8; 8];
            tcp.read_exact(&mut b).await.ok()?;
            n = u64::from_be_bytes(b);
        }
        let mut body = vec![0u8; usize::try_from(n).ok()?];
        tcp.read_exact(&mut body).await.ok()?;
        if h[0] & 0x0f == 8 {
            return Some(
                body.get(..2)
                    .map_or(1005, |c| u16::from_be_bytes([c[0], c[1]])),
            );
        }
    }
}

/// A paired session still forwards a Data frame both ways: the relay is alive and serving.
async fn still_serves(relay: &Relay, sid: u64) {
    let (mut d, mut c) = relay.pair(&format!("{DID}-check-{sid}"), sid, false).await;
    let up = data(sid, 1, 100);
    c.send(up.clone()).await;
    d.expect(&up).await;
    let down = data(sid, 2, 100);
    d.send(down.clone()).await;
    c.expect(&down).await;
}

/// Waits (up to WAIT) until the relay's log holds `needle` at least `n` times; returns the log.
async fn wait_log(relay: &Relay, needle: &str, n: usize) -> String {
    let until = std::time::Instant::now() + WAIT;
    loop {
        let err = relay.stderr();
        if err.matches(needle).count() >= n || std::time::Instant::now() > until {
            return err;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_no_panic(relay: &Relay) {
    let err = relay.stderr();
    assert!(!err.contains("panicked"), "the relay panicked:\n{err}");
}

/// Frame headers announcing more than R10 allows (just over, 10 MB, 2^63 − 1) and fragments
/// adding up past it: each connection is closed with 1009, the relay does not panic (it did: the
/// reader polled the writer's JoinHandle again after the 1009 close had completed it) and it
/// still serves a session afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame_headers_and_fragments_close_1009_without_a_panic() {
    let relay = Relay::start(&[]);
    let mut daemon = relay.daemon(DID, false).await;
    daemon.sync().await;
    let claims = [65_550u64, 10_000_000, (1 << 63) - 1];
    for (i, claim) in claims.into_iter().enumerate() {
        let sid = 100 + i as u64;
        let (mut tcp, _) = raw_ws(&relay, &relay.issuer.client(DID, sid), "").await;
        tcp.write_all(&ws_header(2, true, claim)).await.unwrap();
        // Some payload bytes, as a real attacker would send; the relay must not wait for them all.
        let _ = tcp.write_all(&[0u8; 4096]).await;
        assert_eq!(close_code(&mut tcp).await, Some(1009), "claim {claim}");
    }
    // Three 30 000-byte fragments of one message: 90 000 bytes, over 65 549.
    let (mut tcp, _) = raw_ws(&relay, &relay.issuer.client(DID, 110), "").await;
    let chunk = vec![0u8; 30_000];
    for (op, _) in [(2u8, 0), (0, 1), (0, 2)] {
        let mut f = ws_header(op, false, chunk.len() as u64);
        f.extend_from_slice(&chunk);
        if tcp.write_all(&f).await.is_err() {
            break;
        }
    }
    assert_eq!(close_code(&mut tcp).await, Some(1009), "fragments");
    still_serves(&relay, 120).await;
    assert_no_panic(&relay);
}

/// Raises the soft open-file limit to the hard one (this test and the relay, which inherits the
/// limit, each hold `n` sockets), and says so when the hard limit is too low.
fn raise_fd_limit(n: usize) {
    let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let hard = lim.maximum;
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: hard,
            maximum: hard,
        },
    )
    .expect("raising the soft open-file limit to the hard one");
    assert!(
        hard.is_none_or(|h| h >= n as u64 + 200),
        "this test needs an open-file limit of at least {} (hard limit {hard:?}: raise it with ulimit -Hn)",
        n + 200
    );
}

/// `n` sockets from 127.0.0.1, each sending a request line that never ends.
async fn partial_requests(relay: &Relay, n: usize) -> Vec<TcpStream> {
    let mut socks = Vec::with_capacity(n);
    for _ in 0..n {
        let mut tcp = TcpStream::connect(&relay.addr).await.unwrap();
        tcp.write_all(b"GET /?token=").await.unwrap();
        socks.push(tcp);
    }
    socks
}

/// What the relay sent before it closed the socket (`None` if it is still open after `wait`).
async fn closed_with(tcp: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout(wait, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(k)) => got.extend_from_slice(&buf[..k]),
            Err(_) => return None,
        }
    }
}

/// The relay's `--metrics 127.0.0.1:0` address, from its `metrics` log line.
async fn metrics_addr(relay: &Relay) -> String {
    let err = wait_log(relay, "event=\"metrics\"", 1).await;
    let line = err
        .lines()
        .find(|l| l.contains("event=\"metrics\""))
        .unwrap_or_else(|| panic!("no metrics line:\n{err}"));
    let url = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("url=http://"))
        .unwrap();
    url.trim_end_matches("/metrics").to_owned()
}

/// The value of one series of the relay's metrics (0 when absent).
async fn metric(addr: &str, series: &str) -> f64 {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    tokio::time::timeout(WAIT, tcp.read_to_string(&mut body))
        .await
        .unwrap()
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// The slowloris attack with the per-address cap off (every socket here comes from 127.0.0.1):
/// more partial upgrade requests than the relay authenticates at once (1024). Each one beyond
/// evicts the oldest (closed without an answer, logged, counted), never the newest: while the
/// table is full of them a legitimate daemon is still upgraded (101) and evicts the next
/// oldest; and every partial request is closed by the relay in the end (10 s cut-off).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_handshake_table_evicts_the_oldest_and_a_daemon_still_gets_101() {
    let extra = 16;
    let n = sbrp::relay::server::MAX_HANDSHAKES + extra;
    raise_fd_limit(n);
    let relay = Relay::start(&["--max-pending-per-ip", "0", "--metrics", "127.0.0.1:0"]);
    let metrics = metrics_addr(&relay).await;
    let mut socks = partial_requests(&relay, n).await;
    let reason = "reason=\"handshake_evicted_table_full\"";
    let err = wait_log(&relay, reason, extra).await;
    assert_eq!(err.matches(reason).count(), extra, "{err}");
    // The oldest ones were closed, with nothing sent (mid-request there is nothing to say).
    for (i, tcp) in socks.iter_mut().take(extra).enumerate() {
        let got = closed_with(tcp, WAIT).await;
        assert_eq!(got.as_deref(), Some(&b""[..]), "socket {i}");
    }
    // The newest is still held.
    assert_eq!(
        closed_with(socks.last_mut().unwrap(), Duration::from_millis(100)).await,
        None
    );
    // The table is full of partial requests, and a legitimate daemon is admitted.
    let mut d = relay.daemon(DID, false).await;
    d.sync().await;
    assert_eq!(
        closed_with(&mut socks[extra], WAIT).await.as_deref(),
        Some(&b""[..]),
        "the daemon evicted the oldest pending request"
    );
    let err = wait_log(&relay, reason, extra + 1).await;
    assert_eq!(err.matches(reason).count(), extra + 1, "{err}");
    assert_eq!(
        metric(
            &metrics,
            "sbrp_relay_handshakes_evicted_total{reason=\"table_full\"}"
        )
        .await,
        (extra + 1) as f64
    );
    // None is held forever: the rest are cut off after 10 s.
    for (i, tcp) in socks.iter_mut().enumerate().skip(extra + 1) {
        let got = closed_with(tcp, WAIT * 2).await;
        assert!(got.is_some(), "partial request {i} held open past 40 s");
    }
    let timeouts = "reason=\"handshake_timeout\"";
    let err = wait_log(&relay, timeouts, n - extra - 1).await;
    assert_eq!(err.matches(timeouts).count(), n - extra - 1, "{err}");
    assert!(!err.contains("too_many_handshakes"), "{err}");
    // No token, no request URI in any of those lines.
    assert!(!err.contains("GET /"), "{err}");
    still_serves(&relay, 9).await;
    assert_no_panic(&relay);
}

/// `--max-handshakes` sizes the table on the binary, and `--threads 1` (tokio's current-thread
/// runtime) serves: with a table of 8 and the per-address cap off, 3 partial requests beyond
/// it evict the 3 oldest (closed without an answer, logged), the newer ones are held, and a
/// session still forwards both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_handshakes_sizes_the_table_and_one_thread_serves() {
    let relay = Relay::start(&[
        "--max-handshakes",
        "8",
        "--max-pending-per-ip",
        "0",
        "--threads",
        "1",
    ]);
    let mut socks = partial_requests(&relay, 11).await;
    let reason = "reason=\"handshake_evicted_table_full\"";
    let err = wait_log(&relay, reason, 3).await;
    assert_eq!(err.matches(reason).count(), 3, "{err}");
    for (i, tcp) in socks.iter_mut().take(3).enumerate() {
        let got = closed_with(tcp, WAIT).await;
        assert_eq!(got.as_deref(), Some(&b""[..]), "socket {i}");
    }
    for tcp in socks.iter_mut().skip(3) {
        assert_eq!(closed_with(tcp, Duration::from_millis(50)).await, None);
    }
    drop(socks);
    still_serves(&relay, 5).await;
    assert_no_panic(&relay);
}

/// With `--max-pending-per-ip 4`, a fifth pending request from 127.0.0.1 evicts the oldest of
/// that address (once, logged and counted), and a legitimate upgrade from the same address
/// while four are held is admitted, evicting the next oldest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_address_cap_evicts_that_addresss_oldest_pending_request() {
    let relay = Relay::start(&["--max-pending-per-ip", "4", "--metrics", "127.0.0.1:0"]);
    let metrics = metrics_addr(&relay).await;
    let mut socks = partial_requests(&relay, 4).await;
    let reason = "reason=\"handshake_evicted_source_cap\"";
    // Four held: nobody evicted.
    assert_eq!(
        closed_with(&mut socks[0], Duration::from_millis(300)).await,
        None
    );
    assert!(!relay.stderr().contains(reason));
    socks.extend(partial_requests(&relay, 1).await);
    assert_eq!(
        closed_with(&mut socks[0], WAIT).await.as_deref(),
        Some(&b""[..])
    );
    let err = wait_log(&relay, reason, 1).await;
    assert_eq!(err.matches(reason).count(), 1, "{err}");
    assert!(err.contains("status=503"), "{err}");
    for tcp in &mut socks[1..] {
        assert_eq!(closed_with(tcp, Duration::from_millis(100)).await, None);
    }
    // A daemon from the same address, with four still pending: admitted.
    let mut d = relay.daemon(DID, false).await;
    d.sync().await;
    assert_eq!(
        closed_with(&mut socks[1], WAIT).await.as_deref(),
        Some(&b""[..])
    );
    wait_log(&relay, reason, 2).await;
    assert_eq!(
        metric(
            &metrics,
            "sbrp_relay_handshakes_evicted_total{reason=\"source_cap\"}"
        )
        .await,
        2.0
    );
    assert_eq!(
        metric(
            &metrics,
            "sbrp_relay_handshakes_evicted_total{reason=\"table_full\"}"
        )
        .await,
        0.0
    );
    assert_no_panic(&relay);
}

/// The relay-wide budget of queued bytes: four clients that never read (4 KiB receive
/// buffers), each allowed 1 MiB, together 2 MiB. A daemon sends 16 KiB Data frames to each in
/// turn: before any queue reaches 1 MiB the sum passes 2 MiB, and the largest queue gets
/// `backpressure` (limit `max_total_queue`, logged and counted). Then every client reads: each
/// gets a gap-free, byte-exact prefix of what was sent to it (a closed one then
/// `Control(backpressure)` and 1013), and every frame sent and not delivered is counted as
/// dropped: nothing forwarded is lost silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_total_queue_budget_closes_the_largest_queue_and_loses_nothing_silently() {
    const CLIENTS: u64 = 4;
    const LEN: usize = 16 * 1024;
    let relay = Relay::start(&[
        "--max-queue",
        "1048576",
        "--max-total-queue",
        "2097152",
        "--rate",
        "1000000",
        "--burst",
        "1000000",
        "--metrics",
        "127.0.0.1:0",
    ]);
    let metrics = metrics_addr(&relay).await;
    let mut d = relay.daemon(DID, false).await;
    d.sync().await;
    let mut clients = Vec::new();
    for sid in 1..=CLIENTS {
        let t = relay.issuer.client(DID, sid);
        let mut c = Ws::connect_with(&format!("{}/?token={t}", relay.url), None, Some(4096))
            .await
            .unwrap();
        c.sync().await;
        clients.push(c);
    }
    let needle = "limit=\"max_total_queue\"";
    let mut sent = [0u32; CLIENTS as usize];
    // A round to each client, then a Ping round trip, so the relay has handled the round when
    // the daemon looks for a `session_ended` (what a client closed for backpressure causes).
    let mut ended = Vec::new();
    for _round in 0..2000 {
        for sid in 1..=CLIENTS {
            let i = (sid - 1) as usize;
            d.send(data(sid, sent[i], LEN)).await;
            sent[i] += 1;
        }
        ended = d.sync_collect().await;
        if !ended.is_empty() {
            break;
        }
    }
    assert!(
        ended
            .iter()
            .all(|b| b.len() == 15 && b[13..] == code::SESSION_ENDED.to_be_bytes()),
        "{:?}",
        ended.iter().map(|b| describe(b)).collect::<Vec<_>>()
    );
    let err = wait_log(&relay, needle, 1).await;
    assert!(
        err.contains(needle),
        "no budget backpressure after {sent:?} frames:\n{err}"
    );
    assert!(
        !err.contains("limit=\"max_queue\""),
        "a queue reached --max-queue:\n{err}"
    );
    // Every client reads at once (a closed one's queue is only kept for a few seconds).
    let reads = clients.iter_mut().enumerate().map(|(i, c)| async move {
        let sid = i as u64 + 1;
        let mut next = 0u32;
        loop {
            match c.next_within(Duration::from_secs(3)).await {
                None => return (next, false),
                Some(Got::Bin(b)) if b.first() == Some(&DATA) => {
                    assert_eq!(
                        b,
                        data(sid, next, LEN),
                        "client {sid}: frame {next} intact, in order"
                    );
                    next += 1;
                }
                Some(Got::Bin(b)) => {
                    assert_eq!(
                        b,
                        ctrl(0, code::BACKPRESSURE),
                        "client {sid} after {next} frames"
                    );
                    assert_eq!(c.next().await, Got::Close(Some(1013)), "client {sid}");
                    return (next, true);
                }
                Some(other) => panic!("client {sid} after {next} frames: {other:?}"),
            }
        }
    });
    let got = futures_util::future::join_all(reads).await;
    let closed = got.iter().filter(|g| g.1).count();
    assert!(closed >= 1, "sent {sent:?}, got {got:?}");
    assert_eq!(closed, ended.len(), "sent {sent:?}, got {got:?}");
    assert!(
        closed < CLIENTS as usize,
        "every client was closed: sent {sent:?}, got {got:?}"
    );
    let delivered: u32 = got.iter().map(|g| g.0).sum();
    let total: u32 = sent.iter().sum();
    let mut dropped = 0.0;
    for reason in [
        "backpressure",
        "receiver_closing",
        "recently_ended",
        "receiver_gone",
    ] {
        dropped += metric(
            &metrics,
            &format!("sbrp_relay_frames_dropped_total{{type=\"Data\",reason=\"{reason}\"}}"),
        )
        .await;
    }
    assert_eq!(
        f64::from(total),
        f64::from(delivered) + dropped,
        "sent {sent:?}, delivered {got:?}, dropped {dropped}"
    );
    assert_eq!(
        metric(
            &metrics,
            "sbrp_relay_backpressure_closes_total{limit=\"max_total_queue\"}"
        )
        .await,
        closed as f64
    );
    assert_no_panic(&relay);
}

/// A request head over 64 KiB, or with more than 124 headers, is refused before any token is
/// looked at (no 101), and logged as `request_too_large`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_upgrade_requests_are_refused_as_too_large() {
    let relay = Relay::start(&[]);
    let token = relay.issuer.daemon(DID, false, None);
    let big = format!("X-Pad: {}\r\n", "a".repeat(70 * 1024));
    let many: String = (0..130).map(|i| format!("X-H{i}: a\r\n")).collect();
    for extra in [big, many] {
        let mut tcp = TcpStream::connect(&relay.addr).await.unwrap();
        let _ = tcp.write_all(&upgrade_request(&token, &extra)).await;
        let head = read_head(&mut tcp).await;
        assert!(!head.starts_with("HTTP/1.1 101"), "{head:?}");
    }
    let err = wait_log(&relay, "reason=\"request_too_large\"", 2).await;
    assert_eq!(
        err.matches("reason=\"request_too_large\"").count(),
        2,
        "{err}"
    );
    assert!(!err.contains("connection_opened"), "{err}");
    still_serves(&relay, 7).await;
    assert_no_panic(&relay);
}

/// A permessage-deflate offer is not accepted (no compression, so no decompression bomb), and a
/// WebSocket-level ping flood from a client that never reads its socket neither stops the
/// relay from serving others nor makes it panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deflate_offers_are_declined_and_a_ping_flood_does_not_stop_others() {
    let relay = Relay::start(&[]);
    let mut daemon = relay.daemon(DID, false).await;
    daemon.sync().await;
    let (_deflate, head) = raw_ws(
        &relay,
        &relay.issuer.client(DID, 1),
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
    )
    .await;
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions"),
        "{head}"
    );
    let (mut flood, _) = raw_ws(&relay, &relay.issuer.client(DID, 2), "").await;
    let mut ping = ws_header(9, true, 125);
    ping.extend_from_slice(&[b'p'; 125]);
    let burst: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 1000)
        .collect();
    for _ in 0..50 {
        // 50 000 pings; the relay may stop reading (we never read its pongs) or close us.
        match tokio::time::timeout(Duration::from_secs(5), flood.write_all(&burst)).await {
            Ok(Ok(())) => {}
            _ => break,
        }
    }
    still_serves(&relay, 3).await;
    assert_no_panic(&relay);
}

/// R9 churn: one daemon id reconnecting 200 times in a row. Each predecessor is closed with
/// 1000, and in the end exactly one daemon connection is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_reconnect_storm_leaves_exactly_one_connection() {
    let relay = Relay::start(&[]);
    let token = relay.issuer.daemon(DID, false, None);
    let mut prev: Option<Ws> = None;
    for _ in 0..200 {
        let mut next = Ws::connect(&relay.url, &token).await.unwrap();
        next.sync().await;
        if let Some(mut old) = prev.take() {
            old.expect_close(1000).await;
        }
        prev = Some(next);
    }
    let mut last = prev.unwrap();
    last.sync().await;
    let err = wait_log(&relay, "event=\"connection_closed\"", 199).await;
    assert_eq!(err.matches("event=\"connection_opened\"").count(), 200);
    assert_eq!(
        err.matches("event=\"connection_closed\"").count(),
        199,
        "{err}"
    );
    // The survivor is the registered daemon: a client pairs with it.
    let mut c = relay.client(DID, 5).await;
    c.sync().await;
    let up = data(5, 1, 10);
    c.send(up.clone()).await;
    last.expect(&up).await;
    assert_no_panic(&relay);
}
