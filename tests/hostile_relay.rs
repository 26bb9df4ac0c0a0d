//! The real `sbrp relay` binary against hostile clients on 127.0.0.1: raw TCP and hand-built
//! WebSocket frames an honest client library would never send (frame headers claiming huge
//! lengths, runaway fragments, partial upgrade requests held open, oversized request heads,
//! extension offers, WebSocket ping floods, a daemon id reconnecting in a loop). Every test
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

/// More partial upgrade requests than the relay will authenticate at once (1024): the ones
/// beyond get a raw 503 at once, and every one of them is closed by the relay (10 s cut-off):
/// none is held forever, and once they are gone a legitimate daemon is admitted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_upgrades_beyond_the_cap_get_503_and_all_are_closed() {
    let n = sbrp::relay::server::MAX_HANDSHAKES + 16;
    // This test and the relay (which inherits the limit) each hold n sockets: raise the soft
    // open-file limit to the hard one before the relay starts.
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
    let relay = Relay::start(&[]);
    let mut socks = Vec::with_capacity(n);
    for _ in 0..n {
        let mut tcp = TcpStream::connect(&relay.addr).await.unwrap();
        // A request line that never ends.
        tcp.write_all(b"GET /?token=").await.unwrap();
        socks.push(tcp);
    }
    let mut refused_503 = 0;
    let mut closed = 0;
    for tcp in &mut socks {
        let mut buf = vec![0u8; 256];
        let mut got = Vec::new();
        loop {
            match tokio::time::timeout(WAIT * 2, tcp.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(k)) => got.extend_from_slice(&buf[..k]),
                Err(_) => panic!("a partial upgrade request was held open past 40 s"),
            }
        }
        closed += 1;
        if got.starts_with(b"HTTP/1.1 503") {
            refused_503 += 1;
        }
    }
    assert_eq!(closed, n);
    assert!(
        refused_503 >= 1,
        "none of {n} partial requests was refused 503"
    );
    assert!(refused_503 < n, "all {n} refused: the cap admitted none");
    let err = wait_log(&relay, "reason=\"handshake_timeout\"", 1).await;
    assert!(err.contains("reason=\"too_many_handshakes\""), "{err}");
    assert!(err.contains("reason=\"handshake_timeout\""), "{err}");
    // The slots are free again.
    let mut d = relay.daemon(DID, false).await;
    d.sync().await;
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
