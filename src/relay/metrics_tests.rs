use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use super::*;
use crate::relay::core::control_frame;

/// One sample: metric name and its labels, sorted.
type Key = (String, BTreeMap<String, String>);

/// Parses the OpenMetrics text format strictly enough to catch a malformed exposition: every
/// sample line is `name{label="value",…} value`, every family has `# TYPE` and `# HELP`
/// before its samples, label values are unescaped, and the text ends with `# EOF`.
pub(crate) fn parse(text: &str) -> BTreeMap<Key, f64> {
    assert!(text.ends_with("# EOF\n"), "no # EOF: {text}");
    let mut out = BTreeMap::new();
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            typed.insert(name.to_owned());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("bad sample line {line:?}"),
        };
        let mut labels = BTreeMap::new();
        let rest = if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices();
            let end = loop {
                // key="value"
                let mut key = String::new();
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    key.push(c);
                }
                assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                let mut value = String::new();
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next().map(|(_, c)| c) {
                            Some('n') => value.push('\n'),
                            Some(c) => value.push(c),
                            None => panic!("{line}"),
                        },
                        '"' => break,
                        c => value.push(c),
                    }
                }
                labels.insert(key, value);
                match chars.next() {
                    Some((_, ',')) => continue,
                    Some((i, '}')) => break i + 1,
                    other => panic!("{line}: {other:?}"),
                }
            };
            &body[end..]
        } else {
            rest
        };
        let value: f64 = rest.trim().parse().unwrap_or_else(|_| panic!("{line}"));
        assert!(
            typed.iter().any(|t| name.starts_with(t.as_str())),
            "sample {name} before its # TYPE"
        );
        assert!(name.starts_with("sbrp_relay_"), "{name}");
        let prev = out.insert((name.to_owned(), labels), value);
        assert!(prev.is_none(), "duplicate sample {line}");
    }
    out
}

pub(crate) fn get(m: &BTreeMap<Key, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    m.get(&(name.to_owned(), labels)).copied()
}

fn peer() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 40000))
}

fn record<'a>(
    action: FrameAction,
    from: Party,
    to: Party,
    bytes: &'a [u8],
    reason: Option<&'static str>,
) -> FrameRecord<'a> {
    FrameRecord {
        at: SystemTime::now(),
        conn: 1,
        from,
        to,
        session_id: 7,
        frame_type: bytes.first().copied().unwrap_or(0x03),
        len: if bytes.is_empty() { 40 } else { bytes.len() },
        bytes,
        action,
        reason,
    }
}

#[test]
fn fresh_metrics_render_zeros_for_the_fixed_series() {
    let m = parse(&Metrics::new().render());
    for role in ["daemon", "client"] {
        assert_eq!(
            get(&m, "sbrp_relay_connections", &[("role", role)]),
            Some(0.0)
        );
        assert_eq!(
            get(&m, "sbrp_relay_connections_opened_total", &[("role", role)]),
            Some(0.0)
        );
    }
    for state in ["paired", "paused", "pending"] {
        assert_eq!(
            get(&m, "sbrp_relay_sessions", &[("state", state)]),
            Some(0.0)
        );
    }
    assert_eq!(get(&m, "sbrp_relay_rate_limited_total", &[]), Some(0.0));
    assert_eq!(
        get(&m, "sbrp_relay_handshake_latency_seconds_count", &[]),
        Some(0.0)
    );
    assert_eq!(
        get(
            &m,
            "sbrp_relay_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
}

#[test]
fn a_session_as_the_server_reports_it_is_counted() {
    let metrics = Metrics::new();
    let o: &dyn Observer = &metrics;
    o.connection(&ConnectionEvent::Opened {
        conn: 1,
        role: "daemon",
        peer: peer(),
    });
    o.connection(&ConnectionEvent::Opened {
        conn: 2,
        role: "client",
        peer: peer(),
    });
    o.connection(&ConnectionEvent::Refused {
        peer: peer(),
        status: 401,
        reason: "signature",
    });
    o.connection(&ConnectionEvent::Refused {
        peer: peer(),
        status: 409,
        reason: "session live",
    });
    o.connection(&ConnectionEvent::Refused {
        peer: peer(),
        status: 418,
        reason: "odd",
    });
    for e in [
        super::super::pending::Eviction::SourceCap,
        super::super::pending::Eviction::TableFull,
        super::super::pending::Eviction::TableFull,
    ] {
        o.connection(&ConnectionEvent::Refused {
            peer: peer(),
            status: 503,
            reason: e.reason(),
        });
    }
    o.relay_event(&RelayEvent::Opened {
        conn: 1,
        role: "daemon",
    });
    o.relay_event(&RelayEvent::SessionState {
        session_id: 7,
        from: None,
        to: Some(SessionState::Paired),
    });
    let init = vec![0x01u8; 45];
    let accept = vec![0x02u8; 141];
    let data = vec![0x03u8; 60];
    o.frame(&record(
        FrameAction::Forwarded,
        Party::Client,
        Party::Daemon,
        &init,
        None,
    ));
    o.frame(&record(
        FrameAction::Forwarded,
        Party::Daemon,
        Party::Client,
        &accept,
        None,
    ));
    o.relay_event(&RelayEvent::HandshakeLatency {
        session_id: 7,
        latency: Duration::from_millis(3),
    });
    for _ in 0..3 {
        o.frame(&record(
            FrameAction::Forwarded,
            Party::Client,
            Party::Daemon,
            &data,
            None,
        ));
    }
    o.frame(&record(
        FrameAction::Forwarded,
        Party::Daemon,
        Party::Client,
        &data,
        None,
    ));
    let pong = [0x11u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    o.frame(&record(
        FrameAction::Answered,
        Party::Relay,
        Party::Client,
        &pong,
        None,
    ));
    let paused = control_frame(7, ErrorCode::SessionPaused);
    o.frame(&record(
        FrameAction::Generated,
        Party::Relay,
        Party::Client,
        &paused,
        None,
    ));
    let limited = control_frame(0, ErrorCode::RateLimited);
    o.frame(&record(
        FrameAction::Generated,
        Party::Relay,
        Party::Client,
        &limited,
        None,
    ));
    o.relay_event(&RelayEvent::RateLimited { conn: 2 });
    for _ in 0..2 {
        o.frame(&record(
            FrameAction::Dropped,
            Party::Client,
            Party::Relay,
            &[],
            Some("rate_limited"),
        ));
        // The same fact as a core event is not counted twice.
        o.relay_event(&RelayEvent::Dropped {
            conn: 2,
            type_byte: 3,
            session_id: 7,
            reason: "rate_limited",
        });
    }
    o.frame(&FrameRecord {
        frame_type: 0x20,
        ..record(
            FrameAction::Refused,
            Party::Client,
            Party::Relay,
            &[],
            Some("disallowed_sender"),
        )
    });
    o.relay_event(&RelayEvent::Backpressure {
        conn: 2,
        queued: 1 << 24,
        limit: super::super::core::LIMIT_MAX_QUEUE,
    });
    for conn in [3, 4] {
        o.relay_event(&RelayEvent::Backpressure {
            conn,
            queued: 1 << 20,
            limit: super::super::core::LIMIT_MAX_TOTAL_QUEUE,
        });
    }
    o.relay_event(&RelayEvent::SessionState {
        session_id: 7,
        from: Some(SessionState::Paired),
        to: Some(SessionState::Paused),
    });

    let m = parse(&metrics.render());
    let g = |name: &str, labels: &[(&str, &str)]| get(&m, name, labels);
    assert_eq!(
        g("sbrp_relay_connections", &[("role", "daemon")]),
        Some(1.0)
    );
    assert_eq!(
        g("sbrp_relay_connections", &[("role", "client")]),
        Some(1.0)
    );
    assert_eq!(
        g("sbrp_relay_connections_opened_total", &[("role", "daemon")]),
        Some(1.0),
        "RelayEvent::Opened must not count a second time"
    );
    assert_eq!(
        g("sbrp_relay_connections_refused_total", &[("status", "401")]),
        Some(1.0)
    );
    assert_eq!(
        g("sbrp_relay_connections_refused_total", &[("status", "409")]),
        Some(1.0)
    );
    assert_eq!(
        g(
            "sbrp_relay_connections_refused_total",
            &[("status", "other")]
        ),
        Some(1.0)
    );
    assert_eq!(g("sbrp_relay_sessions", &[("state", "paired")]), Some(0.0));
    assert_eq!(g("sbrp_relay_sessions", &[("state", "paused")]), Some(1.0));
    assert_eq!(g("sbrp_relay_sessions_started_total", &[]), Some(1.0));
    let fwd = |ty: &str, dir: &str| {
        (
            g(
                "sbrp_relay_frames_forwarded_total",
                &[("type", ty), ("direction", dir)],
            ),
            g(
                "sbrp_relay_bytes_forwarded_total",
                &[("type", ty), ("direction", dir)],
            ),
        )
    };
    assert_eq!(
        fwd("HandshakeInit", "client_to_daemon"),
        (Some(1.0), Some(45.0))
    );
    assert_eq!(
        fwd("HandshakeAccept", "daemon_to_client"),
        (Some(1.0), Some(141.0))
    );
    assert_eq!(fwd("Data", "client_to_daemon"), (Some(3.0), Some(180.0)));
    assert_eq!(fwd("Data", "daemon_to_client"), (Some(1.0), Some(60.0)));
    assert_eq!(
        g(
            "sbrp_relay_frames_sent_by_relay_total",
            &[("type", "Pong"), ("action", "answered")]
        ),
        Some(1.0)
    );
    assert_eq!(
        g(
            "sbrp_relay_frames_sent_by_relay_total",
            &[("type", "Control"), ("action", "generated")]
        ),
        Some(2.0)
    );
    assert_eq!(
        g(
            "sbrp_relay_controls_sent_total",
            &[("code", "session_paused")]
        ),
        Some(1.0)
    );
    assert_eq!(
        g(
            "sbrp_relay_controls_sent_total",
            &[("code", "rate_limited")]
        ),
        Some(1.0)
    );
    assert_eq!(
        g(
            "sbrp_relay_frames_dropped_total",
            &[("type", "Data"), ("reason", "rate_limited")]
        ),
        Some(2.0)
    );
    assert_eq!(
        g(
            "sbrp_relay_frames_refused_total",
            &[("type", "Control"), ("reason", "disallowed_sender")]
        ),
        Some(1.0)
    );
    assert_eq!(g("sbrp_relay_rate_limited_total", &[]), Some(1.0));
    assert_eq!(
        g(
            "sbrp_relay_backpressure_closes_total",
            &[("limit", "max_queue")]
        ),
        Some(1.0)
    );
    assert_eq!(
        g(
            "sbrp_relay_backpressure_closes_total",
            &[("limit", "max_total_queue")]
        ),
        Some(2.0)
    );
    assert_eq!(
        g(
            "sbrp_relay_handshakes_evicted_total",
            &[("reason", "source_cap")]
        ),
        Some(1.0)
    );
    assert_eq!(
        g(
            "sbrp_relay_handshakes_evicted_total",
            &[("reason", "table_full")]
        ),
        Some(2.0)
    );
    assert_eq!(
        g("sbrp_relay_connections_refused_total", &[("status", "503")]),
        Some(3.0)
    );
    assert_eq!(
        g("sbrp_relay_handshake_latency_seconds_count", &[]),
        Some(1.0)
    );
    assert_eq!(
        g(
            "sbrp_relay_handshake_latency_seconds_bucket",
            &[("le", "0.0025")]
        ),
        Some(0.0)
    );
    assert_eq!(
        g(
            "sbrp_relay_handshake_latency_seconds_bucket",
            &[("le", "0.005")]
        ),
        Some(1.0)
    );
    assert_eq!(
        g(
            "sbrp_relay_handshake_latency_seconds_bucket",
            &[("le", "+Inf")]
        ),
        Some(1.0)
    );

    // The session ends, the connections close.
    o.relay_event(&RelayEvent::SessionState {
        session_id: 7,
        from: Some(SessionState::Paused),
        to: None,
    });
    o.connection(&ConnectionEvent::Closed {
        conn: 2,
        role: "client",
        code: 1000,
        reason: "",
        lifetime: Duration::from_secs(1),
    });
    o.connection(&ConnectionEvent::Closed {
        conn: 1,
        role: "daemon",
        code: 4321,
        reason: "",
        lifetime: Duration::from_secs(1),
    });
    let m = parse(&metrics.render());
    let g = |name: &str, labels: &[(&str, &str)]| get(&m, name, labels);
    assert_eq!(g("sbrp_relay_sessions", &[("state", "paused")]), Some(0.0));
    assert_eq!(
        g("sbrp_relay_sessions_ended_total", &[("state", "paused")]),
        Some(1.0)
    );
    assert_eq!(
        g("sbrp_relay_connections", &[("role", "client")]),
        Some(0.0)
    );
    assert_eq!(
        g("sbrp_relay_connections", &[("role", "daemon")]),
        Some(0.0)
    );
    assert_eq!(
        g(
            "sbrp_relay_connections_closed_total",
            &[("role", "client"), ("code", "1000")]
        ),
        Some(1.0)
    );
    assert_eq!(
        g(
            "sbrp_relay_connections_closed_total",
            &[("role", "daemon"), ("code", "other")]
        ),
        Some(1.0)
    );
}

/// Label values come from fixed sets: thousands of sessions, statuses, close codes and
/// unknown frame types leave the number of series where it was after the first few.
#[test]
fn series_stay_bounded_whatever_the_traffic() {
    let metrics = Metrics::new();
    let o: &dyn Observer = &metrics;
    let mut bytes = control_frame(1, ErrorCode::SessionEnded);
    let feed = |n: u32, bytes: &mut Vec<u8>| {
        for i in 0..n {
            o.connection(&ConnectionEvent::Refused {
                peer: peer(),
                status: (i % 1000) as u16,
                reason: "x",
            });
            o.connection(&ConnectionEvent::Closed {
                conn: u64::from(i),
                role: if i % 2 == 0 { "daemon" } else { "client" },
                code: (i % 5000) as u16,
                reason: "",
                lifetime: Duration::ZERO,
            });
            bytes[13..15].copy_from_slice(&(i as u16).to_be_bytes());
            o.frame(&FrameRecord {
                session_id: u64::from(i) * 7919,
                conn: u64::from(i),
                ..record(
                    FrameAction::Generated,
                    Party::Relay,
                    Party::Daemon,
                    bytes,
                    None,
                )
            });
            o.frame(&FrameRecord {
                frame_type: (i % 256) as u8,
                ..record(
                    FrameAction::Forwarded,
                    Party::Client,
                    Party::Daemon,
                    &[],
                    None,
                )
            });
        }
    };
    feed(70_000, &mut bytes);
    let first = parse(&metrics.render()).len();
    feed(70_000, &mut bytes);
    let second = parse(&metrics.render()).len();
    assert_eq!(first, second);
    assert!(first < 400, "{first} series");
}

async fn http(addr: SocketAddr, request: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

#[tokio::test]
async fn the_endpoint_serves_metrics_and_health_and_nothing_else() {
    let metrics = Arc::new(Metrics::new());
    metrics.relay_event(&RelayEvent::RateLimited { conn: 1 });
    let server = MetricsServer::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), metrics)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let (status, head, body) = http(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, 200, "{head}");
    assert!(head.contains(CONTENT_TYPE), "{head}");
    let m = parse(&body);
    assert_eq!(get(&m, "sbrp_relay_rate_limited_total", &[]), Some(1.0));
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(len, body.len());

    // A query string and a request sent in pieces are fine.
    let mut s = TcpStream::connect(addr).await.unwrap();
    for piece in [&b"GET /metr"[..], b"ics?x=1 HTTP/1.0\r\n", b"\r\n"] {
        s.write_all(piece).await.unwrap();
        s.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));

    let (status, _, body) = http(addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _, body) = http(addr, b"HEAD /healthz HTTP/1.1\r\n\r\n").await;
    assert_eq!((status, body.as_str()), (200, ""));
    let (status, _, _) = http(addr, b"GET / HTTP/1.1\r\n\r\n").await;
    assert_eq!(status, 404);
    let (status, _, _) = http(addr, b"GET /metrics/../x HTTP/1.1\r\n\r\n").await;
    assert_eq!(status, 404);
    let (status, head, _) = http(addr, b"POST /metrics HTTP/1.1\r\n\r\n").await;
    assert_eq!(status, 405);
    assert!(head.contains("Allow: GET, HEAD"));
    let (status, _, _) = http(addr, b"\x16\x03\x01 not http\r\n\r\n").await;
    assert_eq!(status, 400);
    // A head that never ends is cut at MAX_REQUEST_HEAD.
    let mut big = b"GET /metrics HTTP/1.1\r\n".to_vec();
    while big.len() < MAX_REQUEST_HEAD {
        big.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    big.truncate(MAX_REQUEST_HEAD);
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(&big).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    assert!(
        out.starts_with(b"HTTP/1.1 431 "),
        "{:?}",
        String::from_utf8_lossy(&out)
    );

    let _ = stop.send(());
    task.await.unwrap().unwrap();
    // Stopped: no longer accepting.
    assert!(TcpStream::connect(addr).await.is_err());
}
