//! Every row of the relay's state machine, frame authority, validation order, Control scope and
//! close codes, keepalive, rate limiting and backpressure, with no sockets.

use super::*;

const D: ConnId = 1;
const C: ConnId = 2;
const T0: Duration = Duration::ZERO;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn daemon(resumable: bool) -> Admission {
    Admission::Daemon {
        daemon_id: "d1".into(),
        resumable,
        max_sessions: None,
    }
}

fn client(sid: u64) -> Admission {
    Admission::Client {
        daemon_id: "d1".into(),
        session_id: NonZeroU64::new(sid).unwrap(),
    }
}

fn frame(ty: u8, sid: u64, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![ty];
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(&sid.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn ctrl(sid: u64, code: u16) -> Vec<u8> {
    frame(0x20, sid, &code.to_be_bytes())
}

/// Sends (conn, bytes) and closes (conn, code) of a batch of actions, events left out.
type Wire = (Vec<(ConnId, Vec<u8>)>, Vec<(ConnId, u16)>);

fn wire(actions: &[Action]) -> Wire {
    let mut sends = Vec::new();
    let mut closes = Vec::new();
    for a in actions {
        match a {
            Action::Send { conn, bytes, .. } => sends.push((*conn, bytes.clone())),
            Action::Close { conn, code, .. } => closes.push((*conn, *code)),
            Action::Event(_) => {}
        }
    }
    (sends, closes)
}

fn paired(resumable: bool) -> RelayCore {
    let mut r = RelayCore::new(RelayConfig::default());
    r.open(D, daemon(resumable), T0).unwrap();
    let a = r.open(C, client(7), T0).unwrap();
    assert_eq!(wire(&a), (vec![], vec![]));
    assert_eq!(r.session_state("d1", 7), Some(SessionState::Paired));
    r
}

fn data(sid: u64) -> Vec<u8> {
    frame(0x03, sid, &[0xAB; 40])
}

#[test]
fn none_to_closed_when_daemon_offline() {
    let mut r = RelayCore::new(RelayConfig::default());
    let a = r.open(C, client(7), T0).unwrap();
    assert_eq!(wire(&a), (vec![(C, ctrl(7, 0x0202))], vec![(C, 1000)]));
    assert_eq!(r.session_state("d1", 7), None);
}

#[test]
fn paired_forwards_byte_for_byte_both_ways() {
    let mut r = paired(false);
    let init = frame(0x01, 7, &[1; 32]);
    assert_eq!(wire(&r.on_message(C, &init, T0)), (vec![(D, init)], vec![]));
    let accept = frame(0x02, 7, &[2; 128]);
    let a = r.on_message(D, &accept, secs(1));
    assert_eq!(wire(&a), (vec![(C, accept)], vec![]));
    assert!(a.iter().any(|x| matches!(x, Action::Event(RelayEvent::HandshakeLatency { latency, .. }) if *latency == secs(1))));
    // Payloads are not inspected: a short "HandshakeInit" still goes through.
    let odd = frame(0x01, 7, &[9; 3]);
    assert_eq!(wire(&r.on_message(C, &odd, T0)), (vec![(D, odd)], vec![]));
    assert_eq!(wire(&r.on_message(D, &data(7), T0)).0, vec![(C, data(7))]);
}

#[test]
fn client_close_sends_session_ended_to_daemon() {
    let mut r = paired(false);
    let a = r.on_closed(C, T0);
    assert_eq!(wire(&a), (vec![(D, ctrl(7, 0x1003))], vec![]));
    assert_eq!(r.session_state("d1", 7), None);
    // R8: late daemon frames for it are dropped, not answered.
    let a = r.on_message(D, &data(7), secs(1));
    assert_eq!(wire(&a), (vec![], vec![]));
    assert!(a.iter().any(|x| matches!(
        x,
        Action::Event(RelayEvent::Dropped {
            reason: "recently_ended",
            ..
        })
    )));
    // After 60 s it is a session never seen: session_not_found, daemon stays open (R7).
    let a = r.on_message(D, &data(7), secs(61));
    assert_eq!(wire(&a), (vec![(D, ctrl(7, 0x0301))], vec![]));
}

#[test]
fn unknown_session_from_daemon_is_session_not_found_and_connection_stays() {
    let mut r = paired(false);
    assert_eq!(
        wire(&r.on_message(D, &data(99), T0)),
        (vec![(D, ctrl(99, 0x0301))], vec![])
    );
    assert_eq!(wire(&r.on_message(D, &data(7), T0)).0, vec![(C, data(7))]);
}

#[test]
fn daemon_drop_pauses_then_grace_expiry_closes() {
    let mut r = paired(true);
    assert_eq!(
        wire(&r.on_closed(D, T0)),
        (vec![(C, ctrl(7, 0x1001))], vec![])
    );
    assert_eq!(r.session_state("d1", 7), Some(SessionState::Paused));
    // Client frames while paused are not forwarded.
    assert_eq!(wire(&r.on_message(C, &data(7), secs(1))), (vec![], vec![]));
    let (sends, closes) = wire(&r.tick(secs(29)));
    assert!(closes.is_empty());
    assert!(
        sends.iter().all(|(_, b)| b[0] == 0x10),
        "only keepalive pings: {sends:?}"
    );
    let a = r.tick(secs(30));
    assert_eq!(wire(&a), (vec![(C, ctrl(7, 0x0302))], vec![(C, 1000)]));
    assert_eq!(r.session_state("d1", 7), None);
}

#[test]
fn paused_client_close_is_silent() {
    let mut r = paired(true);
    r.on_closed(D, T0);
    assert_eq!(wire(&r.on_closed(C, secs(1))), (vec![], vec![]));
    assert_eq!(r.session_state("d1", 7), None);
}

#[test]
fn recently_ended_is_remembered_across_the_daemons_reconnect() {
    // Found by tests/relay_conformance.rs: once the daemon was offline and its last session
    // ended, its entry (and the memory of ended ids) was dropped, so the returning daemon's late
    // frames were answered with session_not_found instead of being dropped (R8).
    for client_leaves in [false, true] {
        let mut r = paired(true);
        r.on_closed(D, T0);
        if client_leaves {
            r.on_closed(C, secs(1)); // silent: the daemon is offline
        } else {
            r.tick(secs(30)); // grace expiry
        }
        let a = r.open(3, daemon(true), secs(31)).unwrap();
        assert_eq!(wire(&a), (vec![], vec![]));
        let a = r.on_message(3, &data(7), secs(32));
        assert_eq!(wire(&a), (vec![], vec![]), "client_leaves={client_leaves}");
        assert!(a.iter().any(|a| matches!(
            a,
            Action::Event(RelayEvent::Dropped {
                reason: "recently_ended",
                ..
            })
        )));
        // After the TTL the id is unknown again.
        r.on_closed(3, secs(33));
        r.tick(secs(100));
        r.open(4, daemon(true), secs(100)).unwrap();
        let a = r.on_message(4, &data(7), secs(100));
        assert_eq!(wire(&a), (vec![(4, ctrl(7, 0x0301))], vec![]));
    }
}

#[test]
fn lingering_daemon_entries_are_capped() {
    let mut r = RelayCore::new(RelayConfig::default());
    let n = LINGERING_DAEMONS_CAP as u64 + 10;
    for i in 0..n {
        let did = format!("d{i}");
        let d = 10 + 2 * i;
        r.open(
            d,
            Admission::Daemon {
                daemon_id: did.clone(),
                resumable: false,
                max_sessions: None,
            },
            T0,
        )
        .unwrap();
        r.open(
            d + 1,
            Admission::Client {
                daemon_id: did,
                session_id: NonZeroU64::new(5).unwrap(),
            },
            T0,
        )
        .unwrap();
        r.on_closed(d, Duration::from_millis(i));
        r.on_closed(d + 1, Duration::from_millis(i));
    }
    assert_eq!(r.daemons.len(), LINGERING_DAEMONS_CAP);
    // The oldest were forgotten first.
    assert!(!r.daemons.contains_key("d0"));
    assert!(r.daemons.contains_key(&format!("d{}", n - 1)));
    // All forgotten after the TTL.
    r.tick(secs(200));
    assert!(r.daemons.is_empty());
}

#[test]
fn non_resumable_daemon_return_expires_paused_sessions() {
    let mut r = paired(false);
    r.on_closed(D, T0);
    let a = r.open(3, daemon(false), secs(1)).unwrap();
    assert_eq!(wire(&a), (vec![(C, ctrl(7, 0x0302))], vec![(C, 1000)]));
}

#[test]
fn resumable_return_pending_then_ready_resumes() {
    let mut r = paired(true);
    r.on_closed(D, T0);
    let a = r.open(3, daemon(true), secs(1)).unwrap();
    assert_eq!(wire(&a), (vec![(C, ctrl(7, 0x1004))], vec![]));
    assert_eq!(r.session_state("d1", 7), Some(SessionState::Pending));
    // No session_resumed before Signal(ready); data held back.
    assert_eq!(wire(&r.on_message(3, &data(7), secs(1))), (vec![], vec![]));
    let a = r.on_message(3, &frame(0x04, 7, &[0, 0]), secs(2));
    assert_eq!(wire(&a), (vec![(C, ctrl(7, 0x1002))], vec![]));
    assert_eq!(r.session_state("d1", 7), Some(SessionState::Paired));
    assert_eq!(
        wire(&r.on_message(3, &data(7), secs(2))).0,
        vec![(C, data(7))]
    );
}

#[test]
fn pending_signal_close_expires() {
    let mut r = paired(true);
    r.on_closed(D, T0);
    r.open(3, daemon(true), secs(1)).unwrap();
    let a = r.on_message(3, &frame(0x04, 7, &[1, 1]), secs(2));
    assert_eq!(wire(&a), (vec![(C, ctrl(7, 0x0302))], vec![(C, 1000)]));
}

#[test]
fn pending_client_close_sends_session_ended() {
    let mut r = paired(true);
    r.on_closed(D, T0);
    r.open(3, daemon(true), secs(1)).unwrap();
    assert_eq!(
        wire(&r.on_closed(C, secs(2))),
        (vec![(3, ctrl(7, 0x1003))], vec![])
    );
}

#[test]
fn pending_grace_expiry_expires() {
    let mut r = paired(true);
    r.on_closed(D, T0);
    r.open(3, daemon(true), secs(1)).unwrap();
    let a = r.tick(secs(30));
    let (sends, closes) = wire(&a);
    assert!(sends.contains(&(C, ctrl(7, 0x0302))));
    assert_eq!(closes, vec![(C, 1000)]);
}

#[test]
fn paired_signal_close_expires() {
    let mut r = paired(false);
    let a = r.on_message(D, &frame(0x04, 7, &[1, 0]), T0);
    assert_eq!(wire(&a), (vec![(C, ctrl(7, 0x0302))], vec![(C, 1000)]));
}

#[test]
fn second_daemon_replaces_first() {
    let mut r = paired(true);
    let a = r.open(3, daemon(true), T0).unwrap();
    let (sends, closes) = wire(&a);
    assert_eq!(closes, vec![(D, 1000)]);
    assert_eq!(sends, vec![(C, ctrl(7, 0x1001)), (C, ctrl(7, 0x1004))]);
    // Frames on the old connection are ignored.
    assert_eq!(wire(&r.on_message(D, &data(7), T0)), (vec![], vec![]));
}

#[test]
fn duplicate_live_client_is_409() {
    let mut r = paired(false);
    assert_eq!(r.open(5, client(7), T0).unwrap_err().http_status(), 409);
    assert!(r.open(5, client(8), T0).is_ok());
}

#[test]
fn concurrent_session_limit_is_forbidden() {
    let mut r = RelayCore::new(RelayConfig::default());
    r.open(
        D,
        Admission::Daemon {
            daemon_id: "d1".into(),
            resumable: false,
            max_sessions: Some(1),
        },
        T0,
    )
    .unwrap();
    r.open(C, client(7), T0).unwrap();
    let a = r.open(5, client(8), T0).unwrap();
    assert_eq!(wire(&a), (vec![(5, ctrl(0, 0x0102))], vec![(5, 1008)]));
}

#[test]
fn max_connections_is_503() {
    let mut r = RelayCore::new(RelayConfig {
        max_connections: 1,
        ..RelayConfig::default()
    });
    r.open(D, daemon(false), T0).unwrap();
    assert_eq!(r.open(C, client(7), T0).unwrap_err().http_status(), 503);
}

#[test]
fn validation_order_first_failure_wins() {
    // (code sent, close code) for each message from a client.
    let cases: Vec<(Vec<u8>, Vec<u8>, u16)> = vec![
        (vec![0x03, 0, 0], ctrl(0, 0x0401), 1002),
        // unknown type and too large: size first.
        (
            frame(0x07, 7, &[])
                .iter()
                .enumerate()
                .map(|(i, b)| if i == 1 { 0xFF } else { *b })
                .collect(),
            ctrl(0, 0x0402),
            1002,
        ),
        (frame(0x07, 7, &[]), ctrl(0, 0x0403), 1002),
        // Signal from a client with sid 0: session id before direction.
        (frame(0x04, 0, &[0, 0]), ctrl(0, 0x0404), 1002),
        (frame(0x10, 1, &[]), ctrl(0, 0x0404), 1002),
        // truncated payload
        (
            frame(0x03, 7, &[0; 30])[..20].to_vec(),
            ctrl(0, 0x0401),
            1002,
        ),
        // direction: Signal, Control, HandshakeAccept from a client
        (frame(0x04, 7, &[0, 0]), ctrl(7, 0x0405), 1002),
        (ctrl(7, 0x1001), ctrl(7, 0x0405), 1002),
        (ctrl(0, 0x1001), ctrl(0, 0x0405), 1002),
        (frame(0x02, 7, &[0; 128]), ctrl(7, 0x0405), 1002),
        // Ping over 8 bytes
        (frame(0x10, 0, &[0; 9]), ctrl(0, 0x0402), 1002),
        // sid binding
        (data(8), ctrl(0, 0x0102), 1008),
    ];
    for (msg, expect, close) in cases {
        let mut r = paired(false);
        let a = r.on_message(C, &msg, T0);
        let (sends, closes) = wire(&a);
        assert_eq!(sends[0], (C, expect), "message {msg:02x?}");
        assert_eq!(closes, vec![(C, close)], "message {msg:02x?}");
        // The client leaving ends the session for the daemon.
        assert!(sends.contains(&(D, ctrl(7, 0x1003))), "message {msg:02x?}");
    }
}

#[test]
fn daemon_session_scoped_refusal_keeps_connection() {
    let mut r = paired(false);
    // HandshakeInit from a daemon: disallowed_sender for that session only (R7).
    let a = r.on_message(D, &frame(0x01, 7, &[0; 32]), T0);
    let (sends, closes) = wire(&a);
    assert_eq!(sends, vec![(D, ctrl(7, 0x0405)), (C, ctrl(7, 0x0302))]);
    assert_eq!(closes, vec![(C, 1000)]);
    // Connection-scoped: Control with sid 0 closes the daemon.
    let a = r.on_message(D, &ctrl(0, 0x0101), T0);
    assert_eq!(wire(&a), (vec![(D, ctrl(0, 0x0405))], vec![(D, 1002)]));
}

#[test]
fn daemon_signal_payload_and_code_checked() {
    let mut r = paired(false);
    let a = r.on_message(D, &frame(0x04, 7, &[0]), T0);
    assert_eq!(wire(&a).0[0], (D, ctrl(0, 0x0401)));
    let mut r = paired(false);
    let a = r.on_message(D, &frame(0x04, 7, &[5, 0]), T0);
    assert_eq!(wire(&a).0[0], (D, ctrl(0, 0x0401)));
}

#[test]
fn ping_answered_never_forwarded_pong_absorbed() {
    let mut r = paired(false);
    let ping = frame(0x10, 0, b"12345678");
    assert_eq!(
        wire(&r.on_message(C, &ping, T0)),
        (vec![(C, frame(0x11, 0, b"12345678"))], vec![])
    );
    assert_eq!(
        wire(&r.on_message(D, &frame(0x10, 0, &[]), T0)),
        (vec![(D, frame(0x11, 0, &[]))], vec![])
    );
    assert_eq!(
        wire(&r.on_message(D, &frame(0x11, 0, b"x"), T0)),
        (vec![], vec![])
    );
}

#[test]
fn keepalive_pings_and_idle_close() {
    let mut r = paired(false);
    let (sends, _) = wire(&r.tick(secs(20)));
    assert_eq!(sends.len(), 2);
    for (_, b) in &sends {
        assert_eq!(&b[..13], &frame(0x10, 0, &[0; 8])[..13]);
        assert_eq!(b.len(), 21);
    }
    // The client answers, the daemon stays silent.
    r.on_message(C, &frame(0x11, 0, &sends[0].1[13..]), secs(21));
    let (_, closes) = wire(&r.tick(secs(60)));
    assert_eq!(closes, vec![(D, 1001)]);
    assert_eq!(r.session_state("d1", 7), Some(SessionState::Paused));
}

#[test]
fn text_and_oversized_close_codes() {
    let mut r = paired(false);
    assert_eq!(wire(&r.on_text(C, T0)).1, vec![(C, 1003)]);
    let mut r = paired(false);
    assert_eq!(wire(&r.on_oversized(D, T0)).1, vec![(D, 1009)]);
}

#[test]
fn rate_limit_one_notice_per_second_not_terminal() {
    let mut r = RelayCore::new(RelayConfig {
        rate: 10,
        burst: 5,
        ..RelayConfig::default()
    });
    r.open(D, daemon(false), T0).unwrap();
    r.open(C, client(7), T0).unwrap();
    let mut forwarded = 0;
    let mut notices = 0;
    for _ in 0..20 {
        let (sends, closes) = wire(&r.on_message(C, &data(7), T0));
        assert!(closes.is_empty());
        for (to, b) in sends {
            if to == D {
                forwarded += 1;
            } else {
                assert_eq!(b, ctrl(0, 0x0901));
                notices += 1;
            }
        }
    }
    assert_eq!((forwarded, notices), (5, 1));
    // 1 s later: 10 more tokens, one more notice allowed.
    let mut notices = 0;
    for _ in 0..20 {
        notices += wire(&r.on_message(C, &data(7), secs(1)))
            .0
            .iter()
            .filter(|(to, _)| *to == C)
            .count();
    }
    assert_eq!(notices, 1);
}

#[test]
fn backpressure_closes_slow_consumer_and_counts_the_frame() {
    let mut r = RelayCore::new(RelayConfig {
        max_queue: 100,
        ..RelayConfig::default()
    });
    r.open(D, daemon(false), T0).unwrap();
    r.open(C, client(7), T0).unwrap();
    assert_eq!(wire(&r.on_message(D, &data(7), T0)).0.len(), 1); // 53 bytes queued
    let a = r.on_message(D, &data(7), T0);
    let (sends, closes) = wire(&a);
    assert_eq!(sends[0], (C, ctrl(0, 0x0902)));
    assert_eq!(closes, vec![(C, 1013)]);
    assert!(a.iter().any(|x| matches!(
        x,
        Action::Event(RelayEvent::Dropped {
            reason: "backpressure",
            ..
        })
    )));
    assert!(a.iter().any(|x| matches!(
        x,
        Action::Event(RelayEvent::Backpressure {
            conn: C,
            queued: 53,
            limit: LIMIT_MAX_QUEUE,
        })
    )));
    // Flushed bytes free the queue.
    let mut r = RelayCore::new(RelayConfig {
        max_queue: 100,
        ..RelayConfig::default()
    });
    r.open(D, daemon(false), T0).unwrap();
    r.open(C, client(7), T0).unwrap();
    for _ in 0..10 {
        r.on_message(D, &data(7), T0);
        r.on_flushed(C, 53);
    }
    assert_eq!(r.session_state("d1", 7), Some(SessionState::Paired));
}

/// A daemon and three clients (sessions 7, 8, 9 on connections 2, 3, 4) under a relay-wide
/// budget of 300 bytes, each queue allowed 1000: `data` frames are 53 bytes.
fn budget_relay() -> RelayCore {
    let mut r = RelayCore::new(RelayConfig {
        max_queue: 1000,
        max_total_queue: 300,
        ..RelayConfig::default()
    });
    r.open(D, daemon(false), T0).unwrap();
    for (conn, sid) in [(2, 7), (3, 8), (4, 9)] {
        r.open(conn, client(sid), T0).unwrap();
    }
    r
}

fn backpressure_events(a: &[Action]) -> Vec<(ConnId, usize, &'static str)> {
    a.iter()
        .filter_map(|x| match x {
            Action::Event(RelayEvent::Backpressure {
                conn,
                queued,
                limit,
            }) => Some((*conn, *queued, *limit)),
            _ => None,
        })
        .collect()
}

fn drops(a: &[Action]) -> Vec<&'static str> {
    a.iter()
        .filter_map(|x| match x {
            Action::Event(RelayEvent::Dropped { reason, .. }) => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn over_the_total_budget_the_largest_queue_gets_backpressure_and_the_frame_goes_through() {
    let mut r = budget_relay();
    for _ in 0..4 {
        r.on_message(D, &data(7), T0); // 212 bytes for connection 2
    }
    r.on_message(D, &data(8), T0); // 53 for connection 3
    assert_eq!(r.queued_bytes(), 265);
    // 53 more for connection 3 would make 318 > 300: connection 2 (212) is the largest.
    let a = r.on_message(D, &data(8), T0);
    assert_eq!(
        backpressure_events(&a),
        vec![(2, 212, LIMIT_MAX_TOTAL_QUEUE)]
    );
    assert_eq!(drops(&a), Vec::<&str>::new(), "nothing is dropped");
    let (sends, closes) = wire(&a);
    assert_eq!(
        sends,
        vec![
            // After the 212 bytes it holds, connection 2 hears why it is closed.
            (2, ctrl(0, 0x0902)),
            // Its session ends: the daemon is told.
            (D, ctrl(7, 0x1003)),
            // And the frame that did not fit is forwarded.
            (3, data(8)),
        ]
    );
    assert_eq!(closes, vec![(2, 1013)]);
    // Connection 2 left the budget (its queue drains or dies with its socket); the rest
    // counts exactly: 106 for connection 3, 15 for the daemon.
    assert_eq!(r.queued_bytes(), 106 + 15);
    assert_eq!(r.queued_of(2), Some(212 + 15));
    assert_eq!(r.session_state("d1", 8), Some(SessionState::Paired));
    assert_eq!(r.session_state("d1", 9), Some(SessionState::Paired));
    // Its queue draining and the connection going do not touch the others' count.
    r.on_flushed(2, 227);
    r.on_closed(2, T0);
    assert_eq!(r.queued_bytes(), 121);
    r.on_flushed(3, 106);
    r.on_flushed(D, 15);
    assert_eq!(r.queued_bytes(), 0);
}

#[test]
fn over_the_total_budget_a_receiver_with_the_largest_queue_pays_and_the_frame_is_counted() {
    let mut r = budget_relay();
    for _ in 0..3 {
        r.on_message(D, &data(7), T0); // 159 for connection 2
    }
    r.on_message(D, &data(8), T0); // 53 for connection 3
    r.on_message(D, &data(9), T0); // 53 for connection 4: 265 in all
    // Connection 2 with this frame (212) is larger than any other: it pays, as beyond
    // max_queue, and the frame is dropped and counted, not lost silently.
    let a = r.on_message(D, &data(7), T0);
    assert_eq!(
        backpressure_events(&a),
        vec![(2, 159, LIMIT_MAX_TOTAL_QUEUE)]
    );
    assert_eq!(drops(&a), vec!["backpressure"]);
    let (sends, closes) = wire(&a);
    assert_eq!(sends, vec![(2, ctrl(0, 0x0902)), (D, ctrl(7, 0x1003))]);
    assert_eq!(closes, vec![(2, 1013)]);
    assert_eq!(r.queued_bytes(), 106 + 15);
}

#[test]
fn a_budget_freed_by_flushes_is_never_exceeded_and_closes_no_one() {
    let mut r = budget_relay();
    // 3000 frames, 159 000 bytes through a 300-byte budget, each flushed before the next.
    for i in 0..3000u64 {
        let sid = 7 + i % 3;
        let conn = 2 + i % 3;
        let a = r.on_message(D, &data(sid), secs(i / 500));
        assert_eq!(wire(&a), (vec![(conn, data(sid))], vec![]), "frame {i}");
        assert!(r.queued_bytes() <= 300);
        r.on_flushed(conn, 53);
        // The relay's keepalive pings, flushed at once.
        r.tick(secs(i / 500));
        for c in [D, 2, 3, 4] {
            let q = r.queued_of(c).unwrap();
            r.on_flushed(c, q);
        }
    }
    assert_eq!(r.queued_bytes(), 0);
    for sid in [7, 8, 9] {
        assert_eq!(r.session_state("d1", sid), Some(SessionState::Paired));
    }
}

/// The per-connection limit still comes first: a queue over `max_queue` is closed for its own
/// sake even when the relay-wide budget has room.
#[test]
fn max_queue_still_applies_under_a_larger_budget() {
    let mut r = RelayCore::new(RelayConfig {
        max_queue: 100,
        max_total_queue: 10_000,
        ..RelayConfig::default()
    });
    r.open(D, daemon(false), T0).unwrap();
    r.open(C, client(7), T0).unwrap();
    r.on_message(D, &data(7), T0);
    let a = r.on_message(D, &data(7), T0);
    assert_eq!(backpressure_events(&a), vec![(C, 53, LIMIT_MAX_QUEUE)]);
    assert_eq!(drops(&a), vec!["backpressure"]);
}

#[test]
fn close_codes_r6() {
    for (code, ws) in [
        (ErrorCode::Unauthorized, 1008),
        (ErrorCode::Forbidden, 1008),
        (ErrorCode::MalformedFrame, 1002),
        (ErrorCode::DisallowedSender, 1002),
        (ErrorCode::InternalError, 1011),
        (ErrorCode::Backpressure, 1013),
        (ErrorCode::SessionExpired, 1000),
        (ErrorCode::DaemonOffline, 1000),
        (ErrorCode::SessionNotFound, 1000),
    ] {
        assert_eq!(close_code_for(code), ws, "{code}");
    }
}

#[test]
fn admission_from_verified_claims() {
    use crate::token::{Claims, Role, SCOPE_SESSION_RESUME};
    let mut d = Claims::new(Role::Daemon, "d1", 0, 3600);
    assert_eq!(Admission::from_claims(&d), Some(daemon(false)));
    d.scp.push(SCOPE_SESSION_RESUME.into());
    d.lim.concurrent_sessions = Some(u64::MAX);
    assert_eq!(
        Admission::from_claims(&d),
        Some(Admission::Daemon {
            daemon_id: "d1".into(),
            resumable: true,
            max_sessions: Some(u32::MAX)
        })
    );
    let mut c = Claims::new(Role::Client, "d1", 0, 120);
    assert_eq!(Admission::from_claims(&c), None);
    c.sid = NonZeroU64::new(7);
    assert_eq!(Admission::from_claims(&c), Some(client(7)));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Ev {
        OpenDaemon(u8, bool),
        OpenClient(u8, u8),
        Msg(u8, Vec<u8>),
        Frame(u8, u8, u8, Vec<u8>),
        Closed(u8),
        Tick(u16),
        Flushed(u8, u16),
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            (0u8..8, any::<bool>()).prop_map(|(c, r)| Ev::OpenDaemon(c, r)),
            (0u8..8, 1u8..4).prop_map(|(c, s)| Ev::OpenClient(c, s)),
            (0u8..8, proptest::collection::vec(any::<u8>(), 0..40))
                .prop_map(|(c, m)| Ev::Msg(c, m)),
            (
                0u8..8,
                proptest::sample::select(vec![1u8, 2, 3, 4, 0x10, 0x11, 0x20]),
                0u8..4,
                proptest::collection::vec(any::<u8>(), 0..10)
            )
                .prop_map(|(c, t, s, p)| Ev::Frame(c, t, s, p)),
            (0u8..8).prop_map(Ev::Closed),
            (0u16..40_000).prop_map(Ev::Tick),
            (0u8..8, any::<u16>()).prop_map(|(c, n)| Ev::Flushed(c, n)),
        ]
    }

    proptest! {
        /// Any sequence of events: no panic, at most one live session per (daemon, sid), the
        /// concurrent-session cap holds, no action for a connection the core never admitted.
        #[test]
        fn any_event_sequence_keeps_the_invariants(events in proptest::collection::vec(ev(), 0..60)) {
            let mut r = RelayCore::new(RelayConfig { max_sessions_per_daemon: 2, max_queue: 200, ..RelayConfig::default() });
            let mut now = Duration::ZERO;
            let mut admitted = std::collections::HashSet::new();
            let mut next = 100u64;
            let mut ids = [0u64; 8];
            for e in events {
                let actions = match e {
                    Ev::OpenDaemon(c, res) => {
                        next += 1;
                        ids[usize::from(c)] = next;
                        let a = r.open(next, daemon(res), now).unwrap_or_default();
                        admitted.insert(next);
                        a
                    }
                    Ev::OpenClient(c, s) => {
                        next += 1;
                        ids[usize::from(c)] = next;
                        match r.open(next, client(u64::from(s)), now) {
                            Ok(a) => { admitted.insert(next); a }
                            Err(e) => { prop_assert_eq!(e, Refusal::SessionLive); vec![] }
                        }
                    }
                    Ev::Msg(c, m) => r.on_message(ids[usize::from(c)], &m, now),
                    Ev::Frame(c, t, s, p) => r.on_message(ids[usize::from(c)], &frame(t, u64::from(s), &p), now),
                    Ev::Closed(c) => r.on_closed(ids[usize::from(c)], now),
                    Ev::Tick(ms) => { now += Duration::from_millis(u64::from(ms)); r.tick(now) }
                    Ev::Flushed(c, n) => { r.on_flushed(ids[usize::from(c)], usize::from(n)); vec![] }
                };
                for a in &actions {
                    if let Action::Send { conn, .. } | Action::Close { conn, .. } = a {
                        prop_assert!(admitted.contains(conn));
                    }
                }
                let live = r.sessions_in(SessionState::Paired) + r.sessions_in(SessionState::Paused) + r.sessions_in(SessionState::Pending);
                prop_assert!(live <= 2, "{live} live sessions over the cap of 2");
            }
        }
    }
}
