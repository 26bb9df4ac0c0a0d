//! The real `sbrp relay` binary on 127.0.0.1, driven by a small WebSocket client that sends
//! hand-built SBRP frames and checks the relay's replies byte for byte: every row of the relay
//! state machine, frame authority, the validation order (frames that break two rules at once),
//! the client's sid binding, Control codes with their scope and close code (R6), R7–R11,
//! Ping/Pong, keepalive (R3), rate limiting (R4), a slow consumer (R5), grace expiry (R2),
//! authentication at the upgrade, and SIGTERM. No test asserts a duration.
#![cfg(feature = "relay")]

#[path = "common/relay.rs"]
mod relay;

use std::time::{Duration, Instant};

use relay::code::*;
use relay::*;

const DID: &str = "daemon-1";
const SID: u64 = 0x0102_0304_0506_0708;

/// A frame for a session id.
type MakeFrame = fn(u64) -> Vec<u8>;

// ---------------------------------------------------------------------------------------------
// State machine (state-machine.md §Relay; conformance.md §Relay).

#[tokio::test]
async fn none_to_paired_forwards_endpoint_frames_byte_for_byte() {
    let relay = Relay::start(&[]);
    let (mut d, mut c) = relay.pair(DID, SID, false).await;
    c.send(init(SID)).await;
    d.expect(&init(SID)).await;
    d.send(accept(SID)).await;
    c.expect(&accept(SID)).await;
    // Data both ways, payloads the relay must not look into (not valid AEAD output), from the
    // smallest to the largest frame (R10: 65549 bytes is accepted).
    for (i, len) in [28usize, 29, 1000, 65536].into_iter().enumerate() {
        let up = data(SID, i as u32, len);
        c.send(up.clone()).await;
        d.expect(&up).await;
        let mut down = data(SID, 0x8000_0000 | i as u32, len);
        down[20] ^= 0xFF;
        d.send(down.clone()).await;
        c.expect(&down).await;
    }
    assert_eq!(data(SID, 3, 65536).len(), 65549);
    // The relay does not judge endpoint payloads: a 3-byte HandshakeInit, an empty Data and a
    // 1-byte HandshakeAccept are the endpoints' business and pass unchanged.
    for (from_client, f) in [
        (true, frame(INIT, SID, &[1, 2, 3])),
        (true, frame(DATA, SID, &[])),
        (false, frame(ACCEPT, SID, &[9])),
        (false, frame(DATA, SID, &[7])),
    ] {
        if from_client {
            c.send(f.clone()).await;
            d.expect(&f).await;
        } else {
            d.send(f.clone()).await;
            c.expect(&f).await;
        }
    }
    d.sync().await;
    c.sync().await;
    let log = relay.stderr();
    assert!(!log.contains("token="), "a log line names a token: {log}");
}

#[tokio::test]
async fn none_to_closed_with_daemon_offline() {
    let relay = Relay::start(&[]);
    // Another daemon online changes nothing: routing is by the token's `did`.
    let mut other = relay.daemon("someone-else", false).await;
    other.sync().await;
    let mut c = relay.client(DID, SID).await;
    c.expect_terminal(SID, DAEMON_OFFLINE, 1000).await;
    other.sync().await;
    // The session never existed: the daemon arriving later hears nothing of it.
    let mut d = relay.daemon(DID, true).await;
    d.sync().await;
}

#[tokio::test]
async fn client_disconnect_sends_session_ended_to_the_daemon() {
    let relay = Relay::start(&[]);
    let (mut d, c) = relay.pair(DID, SID, false).await;
    c.close().await;
    d.expect(&ctrl(SID, SESSION_ENDED)).await;
    // A client whose TCP connection just drops.
    let mut c2 = relay.client(DID, SID + 1).await;
    c2.sync().await;
    c2.abort();
    d.expect(&ctrl(SID + 1, SESSION_ENDED)).await;
    // Non-terminal: the daemon's connection carries on.
    d.sync().await;
    let mut c3 = relay.client(DID, SID + 2).await;
    c3.sync().await;
    c3.send(data(SID + 2, 1, 40)).await;
    d.expect(&data(SID + 2, 1, 40)).await;
}

#[tokio::test]
async fn paired_to_paused_then_grace_expiry_closes() {
    let relay = Relay::start(&["--grace", &secs(1)]);
    let (d, mut c) = relay.pair(DID, SID, true).await;
    d.abort();
    c.expect(&ctrl(SID, SESSION_PAUSED)).await;
    // Nothing for the session while paused is forwarded anywhere (there is nowhere to go).
    c.send(data(SID, 1, 40)).await;
    c.expect_terminal(SID, SESSION_EXPIRED, 1000).await;
    // The daemon coming back afterwards hears nothing of the expired session (R8: its frames
    // for it are dropped, not answered).
    let mut d2 = relay.daemon(DID, true).await;
    d2.sync().await;
    d2.send(data(SID, 2, 40)).await;
    d2.sync().await;
}

#[tokio::test]
async fn paused_to_pending_to_paired_on_signal_ready() {
    let relay = Relay::start(&["--grace", &secs(120)]);
    let (mut d, mut c) = relay.pair(DID, SID, true).await;
    c.send(init(SID)).await;
    d.expect(&init(SID)).await;
    d.send(accept(SID)).await;
    c.expect(&accept(SID)).await;
    d.close().await;
    c.expect(&ctrl(SID, SESSION_PAUSED)).await;
    c.send(data(SID, 1, 40)).await; // sent while paused: not delivered later
    c.sync().await;
    let mut d2 = relay.daemon(DID, true).await;
    c.expect(&ctrl(SID, SESSION_PENDING)).await;
    // Pending: the daemon's Data before its Signal is not forwarded, and the client is not yet
    // told the session resumed.
    d2.send(data(SID, 2, 40)).await;
    d2.sync().await;
    c.sync().await;
    d2.send(signal(SID, 0x00, 0x00)).await;
    c.expect(&ctrl(SID, SESSION_RESUMED)).await;
    d2.sync().await; // the Signal is consumed, and the paused-time Data never arrives
    c.send(data(SID, 3, 40)).await;
    d2.expect(&data(SID, 3, 40)).await;
    d2.send(data(SID, 4, 40)).await;
    c.expect(&data(SID, 4, 40)).await;
    // A second ready for a paired session changes nothing.
    d2.send(signal(SID, 0x00, 0x00)).await;
    d2.sync().await;
    c.sync().await;
}

/// The capture log accounts for every frame the relay handled, the ones it consumed too: a
/// daemon's Signal(ready) and an endpoint's Pong appear as `dropped` with the reason `consumed`.
#[tokio::test]
async fn consumed_signals_and_pongs_are_in_the_capture_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("relay.jsonl");
    let mut relay = Relay::start(&[
        "--grace",
        &secs(120),
        "--capture-log",
        log.to_str().unwrap(),
    ]);
    let (d, mut c) = relay.pair(DID, SID, true).await;
    d.abort();
    c.expect(&ctrl(SID, SESSION_PAUSED)).await;
    let mut d2 = relay.daemon(DID, true).await;
    c.expect(&ctrl(SID, SESSION_PENDING)).await;
    d2.send(signal(SID, 0x00, 0x00)).await;
    c.expect(&ctrl(SID, SESSION_RESUMED)).await;
    c.send(frame(PONG, 0, &[7; 8])).await;
    c.sync().await;
    d2.sync().await;
    assert!(relay.terminate().success());
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let consumed = |ty: &str, role: &str| {
        lines
            .iter()
            .filter(|l| {
                l["type"] == ty
                    && l["action"] == "dropped"
                    && l["reason"] == "consumed"
                    && l["from"] == role
            })
            .count()
    };
    assert_eq!(consumed("Signal", "daemon"), 1, "{lines:#?}");
    assert_eq!(consumed("Pong", "client"), 1, "{lines:#?}");
}

#[tokio::test]
async fn pending_to_closed_on_signal_close() {
    let relay = Relay::start(&["--grace", &secs(120)]);
    let (d, mut c) = relay.pair(DID, SID, true).await;
    d.abort();
    c.expect(&ctrl(SID, SESSION_PAUSED)).await;
    let mut d2 = relay.daemon(DID, true).await;
    c.expect(&ctrl(SID, SESSION_PENDING)).await;
    d2.send(signal(SID, 0x01, 0x01)).await; // close, state_lost
    c.expect_terminal(SID, SESSION_EXPIRED, 1000).await;
    // The daemon's connection is not affected, and later frames for the session are dropped
    // (R8), not answered.
    d2.sync().await;
    d2.send(data(SID, 1, 40)).await;
    d2.send(signal(SID, 0x00, 0x00)).await;
    d2.sync().await;
}

#[tokio::test]
async fn paired_signal_close_expires_the_session() {
    let relay = Relay::start(&[]);
    let (mut d, mut c) = relay.pair(DID, SID, true).await;
    d.send(signal(SID, 0x01, 0x02)).await; // close, shutdown
    c.expect_terminal(SID, SESSION_EXPIRED, 1000).await;
    d.sync().await;
}

#[tokio::test]
async fn paused_to_closed_when_the_daemon_returns_without_resume() {
    let relay = Relay::start(&["--grace", &secs(120)]);
    // Resumable before the drop, not after: the scope of the returning connection decides.
    let (d, mut c) = relay.pair(DID, SID, true).await;
    let mut c2 = relay.client(DID, SID + 1).await;
    c2.sync().await;
    d.abort();
    c.expect(&ctrl(SID, SESSION_PAUSED)).await;
    c2.expect(&ctrl(SID + 1, SESSION_PAUSED)).await;
    let mut d2 = relay.daemon(DID, false).await;
    c.expect_terminal(SID, SESSION_EXPIRED, 1000).await;
    c2.expect_terminal(SID + 1, SESSION_EXPIRED, 1000).await;
    // The daemon is not told about sessions it never had on this connection.
    d2.sync().await;
}

#[tokio::test]
async fn pending_grace_expiry_expires_and_tells_the_daemon() {
    // The grace period must be long enough for the second daemon to connect on a loaded
    // machine; the test waits for the expiry, it does not time it.
    let relay = Relay::start(&["--grace", &secs(6)]);
    let (d, mut c) = relay.pair(DID, SID, true).await;
    d.abort();
    c.expect(&ctrl(SID, SESSION_PAUSED)).await;
    let mut d2 = relay.daemon(DID, true).await;
    c.expect(&ctrl(SID, SESSION_PENDING)).await;
    // No Signal: the grace period ends.
    c.expect_terminal(SID, SESSION_EXPIRED, 1000).await;
    d2.expect(&ctrl(SID, SESSION_ENDED)).await;
    d2.sync().await;
}

#[tokio::test]
async fn client_leaving_while_paused_is_silent() {
    let relay = Relay::start(&["--grace", &secs(120)]);
    let (d, mut c) = relay.pair(DID, SID, true).await;
    d.abort();
    c.expect(&ctrl(SID, SESSION_PAUSED)).await;
    c.close().await;
    // The daemon was offline when the client left: no session_ended, no session_pending.
    let mut d2 = relay.daemon(DID, true).await;
    d2.sync().await;
    d2.send(signal(SID, 0x00, 0x00)).await; // recently ended: dropped (R8)
    d2.sync().await;
}

// ---------------------------------------------------------------------------------------------
// Frame authority.

#[tokio::test]
async fn client_may_not_send_accept_signal_or_control() {
    let relay = Relay::start(&[]);
    let mut d = relay.daemon(DID, true).await;
    d.sync().await;
    let cases: [(&str, MakeFrame); 4] = [
        ("HandshakeAccept", accept),
        ("Signal ready", |s| signal(s, 0, 0)),
        ("Signal close", |s| signal(s, 1, 0)),
        ("Control", |s| ctrl(s, SESSION_RESUMED)),
    ];
    for (i, (what, make)) in cases.into_iter().enumerate() {
        let sid = 0x1000 + i as u64;
        let mut c = relay.client(DID, sid).await;
        c.sync().await;
        c.send(make(sid)).await;
        // disallowed_sender carries the header's session id; 0x04xx closes with 1002 (R6).
        c.expect(&ctrl(sid, DISALLOWED_SENDER)).await;
        c.expect_close(1002).await;
        // Nothing was forwarded; the daemon only hears that the session ended.
        let got = d.sync_collect().await;
        assert_eq!(got, vec![ctrl(sid, SESSION_ENDED)], "{what}");
    }
    // A Control with session id 0 (valid for Control) is refused with session id 0.
    let mut c = relay.client(DID, 0x2000).await;
    c.sync().await;
    c.send(ctrl(0, RATE_LIMITED)).await;
    c.expect_terminal(0, DISALLOWED_SENDER, 1002).await;
    d.expect(&ctrl(0x2000, SESSION_ENDED)).await;
}

#[tokio::test]
async fn daemon_may_not_send_init_or_control_and_keeps_its_connection_r7() {
    let relay = Relay::start(&[]);
    let (mut d, mut c) = relay.pair(DID, SID, false).await;
    let mut c2 = relay.client(DID, SID + 1).await;
    c2.sync().await;
    // A HandshakeInit from the daemon for a live session: session-scoped refusal (R7): the
    // session ends (its client is told session_expired), the daemon's connection stays.
    d.send(init(SID)).await;
    d.expect(&ctrl(SID, DISALLOWED_SENDER)).await;
    c.expect_terminal(SID, SESSION_EXPIRED, 1000).await;
    d.sync().await;
    // The other session is untouched.
    c2.send(data(SID + 1, 1, 40)).await;
    d.expect(&data(SID + 1, 1, 40)).await;
    // Direction is checked before the session lookup: an unknown session id still gets
    // disallowed_sender, not session_not_found.
    d.send(ctrl(0x9999, SESSION_PAUSED)).await;
    d.expect(&ctrl(0x9999, DISALLOWED_SENDER)).await;
    d.sync().await;
    c2.sync().await;
    // A connection-scoped refusal (Control with session id 0) closes the daemon's connection.
    d.send(ctrl(0, SESSION_PAUSED)).await;
    d.expect_terminal(0, DISALLOWED_SENDER, 1002).await;
    c2.expect(&ctrl(SID + 1, SESSION_PAUSED)).await;
}

// ---------------------------------------------------------------------------------------------
// Validation order: header → size → type → session id → one frame → direction (→ sid binding).

/// A frame breaking (at least) two rules; the first rule in the order names the code.
struct Case {
    what: &'static str,
    bytes: Vec<u8>,
    sid: u64,
    code: u16,
}

fn client_cases(own: u64, other: u64) -> Vec<Case> {
    let c = |what, bytes, sid, code| Case {
        what,
        bytes,
        sid,
        code,
    };
    vec![
        c("empty message", vec![], 0, MALFORMED_FRAME),
        c(
            "12-byte header of a Control (header before direction)",
            ctrl(own, 0)[..12].to_vec(),
            0,
            MALFORMED_FRAME,
        ),
        c(
            "unknown type, length 70000 (size before type)",
            header(0x7F, 70_000, own, &[]),
            0,
            PAYLOAD_TOO_LARGE,
        ),
        c(
            "Ping with sid, length 65537 (size before session id)",
            header(PING, 65_537, 9, &[]),
            0,
            PAYLOAD_TOO_LARGE,
        ),
        c(
            "Control, length 65537 (size before direction)",
            header(CONTROL, 65_537, own, &[]),
            0,
            PAYLOAD_TOO_LARGE,
        ),
        c(
            "type 0x05, sid 0 (type before session id)",
            frame(0x05, 0, &[]),
            0,
            INVALID_FRAME_TYPE,
        ),
        c(
            "type 0x00 with the own sid",
            frame(0x00, own, &[1, 2]),
            0,
            INVALID_FRAME_TYPE,
        ),
        c(
            "Signal with sid 0 (session id before direction)",
            signal(0, 0, 0),
            0,
            INVALID_SESSION_ID,
        ),
        c(
            "HandshakeAccept with sid 0 (session id before direction)",
            accept(0),
            0,
            INVALID_SESSION_ID,
        ),
        c(
            "Data with sid 0",
            frame(DATA, 0, &[0; 28]),
            0,
            INVALID_SESSION_ID,
        ),
        c(
            "Ping with a session id",
            frame(PING, own, &[]),
            0,
            INVALID_SESSION_ID,
        ),
        c(
            "truncated Signal with sid 0 (session id before one-frame)",
            header(SIGNAL, 2, 0, &[0]),
            0,
            INVALID_SESSION_ID,
        ),
        c(
            "truncated Signal (one frame before direction)",
            header(SIGNAL, 2, own, &[0]),
            0,
            MALFORMED_FRAME,
        ),
        c(
            "Control with a trailing byte (one frame before direction)",
            [ctrl(own, 0x1001), vec![0]].concat(),
            0,
            MALFORMED_FRAME,
        ),
        c(
            "Data with a trailing byte",
            [data(own, 1, 40), vec![0]].concat(),
            0,
            MALFORMED_FRAME,
        ),
        c(
            "Signal for another session (direction before sid binding)",
            signal(other, 0, 0),
            other,
            DISALLOWED_SENDER,
        ),
        c(
            "Ping with a 9-byte payload",
            frame(PING, 0, &[7; 9]),
            0,
            PAYLOAD_TOO_LARGE,
        ),
        c(
            "Pong with a 9-byte payload",
            frame(PONG, 0, &[7; 9]),
            0,
            PAYLOAD_TOO_LARGE,
        ),
    ]
}

#[tokio::test]
async fn validation_order_first_broken_rule_wins_client() {
    let relay = Relay::start(&[]);
    let mut d = relay.daemon(DID, false).await;
    d.sync().await;
    let mut failures = Vec::new();
    let n = client_cases(1, 2).len();
    for i in 0..n {
        // Each case on a fresh client connection with its own session id.
        let own = 0x100 + i as u64;
        let case = &client_cases(own, own + 0x1_0000)[i];
        let mut c = relay.client(DID, own).await;
        c.sync().await;
        c.send(case.bytes.clone()).await;
        let want = ctrl(case.sid, case.code);
        match c.next().await {
            Got::Bin(b) if b == want => {}
            other => failures.push(format!(
                "{}: expected {}, got {:?}",
                case.what,
                describe(&want),
                match other {
                    Got::Bin(b) => describe(&b),
                    o => format!("{o:?}"),
                }
            )),
        }
        match c.next().await {
            Got::Close(Some(1002)) => {}
            other => failures.push(format!("{}: expected close 1002, got {other:?}", case.what)),
        }
        let got = d.sync_collect().await;
        if got != vec![ctrl(own, SESSION_ENDED)] {
            failures.push(format!(
                "{}: the daemon got {:?}",
                case.what,
                got.iter().map(|b| describe(b)).collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn validation_order_first_broken_rule_wins_daemon() {
    let relay = Relay::start(&[]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("5 bytes", vec![DATA, 0, 0, 0, 0], MALFORMED_FRAME),
        (
            "HandshakeInit, length 65537 (size before direction)",
            header(INIT, 65_537, SID, &[]),
            PAYLOAD_TOO_LARGE,
        ),
        (
            "HandshakeInit with sid 0 (session id before direction)",
            init(0),
            INVALID_SESSION_ID,
        ),
        (
            "type 0x12 (type before direction)",
            frame(0x12, SID, &[]),
            INVALID_FRAME_TYPE,
        ),
        (
            "truncated HandshakeInit (one frame before direction)",
            header(INIT, 32, SID, &[0; 31]),
            MALFORMED_FRAME,
        ),
        (
            "Signal with a 3-byte payload",
            frame(SIGNAL, SID, &[0, 0, 0]),
            MALFORMED_FRAME,
        ),
        (
            "Signal with a 1-byte payload",
            frame(SIGNAL, SID, &[0]),
            MALFORMED_FRAME,
        ),
        (
            "Signal with an unknown signal code",
            signal(SID, 0x07, 0),
            MALFORMED_FRAME,
        ),
    ];
    let mut failures = Vec::new();
    for (what, bytes, code) in cases {
        let (mut d, mut c) = relay.pair(DID, SID, false).await;
        d.send(bytes).await;
        // Wire-format errors are connection-scoped: SID 0, close 1002, and the session pauses.
        match d.next().await {
            Got::Bin(b) if b == ctrl(0, code) => {}
            other => failures.push(format!("{what}: got {other:?}")),
        }
        match d.next().await {
            Got::Close(Some(1002)) => {}
            other => failures.push(format!("{what}: expected close 1002, got {other:?}")),
        }
        c.expect(&ctrl(SID, SESSION_PAUSED)).await;
        c.close().await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn client_frames_must_carry_the_token_sid() {
    let relay = Relay::start(&[]);
    let mut d = relay.daemon(DID, false).await;
    d.sync().await;
    for (i, make) in [init as MakeFrame, |s| data(s, 1, 40)]
        .into_iter()
        .enumerate()
    {
        let own = 0x500 + i as u64;
        let mut c = relay.client(DID, own).await;
        c.sync().await;
        c.send(make(own + 1)).await;
        // forbidden is connection-scoped (SID 0) and closes with 1008 (R6).
        c.expect_terminal(0, FORBIDDEN, 1008).await;
        let got = d.sync_collect().await;
        assert_eq!(got, vec![ctrl(own, SESSION_ENDED)]);
    }
}

// ---------------------------------------------------------------------------------------------
// R8, R9, R10, R11.

#[tokio::test]
async fn r8_recently_ended_is_dropped_unknown_is_session_not_found() {
    let relay = Relay::start(&[]);
    let (mut d, c) = relay.pair(DID, SID, false).await;
    c.close().await;
    d.expect(&ctrl(SID, SESSION_ENDED)).await;
    // Late frames for the session just ended: dropped, not answered.
    d.send(data(SID, 1, 40)).await;
    d.send(accept(SID)).await;
    d.send(signal(SID, 0, 0)).await;
    d.sync().await;
    // A session id never seen: session_not_found with that id, connection open (R7).
    d.send(data(0xDEAD, 1, 40)).await;
    d.expect(&ctrl(0xDEAD, SESSION_NOT_FOUND)).await;
    d.send(accept(0xBEEF)).await;
    d.expect(&ctrl(0xBEEF, SESSION_NOT_FOUND)).await;
    d.send(signal(0xF00D, 0, 0)).await;
    d.expect(&ctrl(0xF00D, SESSION_NOT_FOUND)).await;
    d.sync().await;
    // The daemon still pairs new sessions.
    let mut c2 = relay.client(DID, SID + 1).await;
    c2.sync().await;
    c2.send(init(SID + 1)).await;
    d.expect(&init(SID + 1)).await;
}

#[tokio::test]
async fn r9_second_client_for_a_live_session_is_409() {
    let relay = Relay::start(&[]);
    let (mut d, mut c) = relay.pair(DID, SID, false).await;
    let t = relay.issuer.client(DID, SID);
    match Ws::connect(&relay.url, &t).await {
        Err(ConnectError::Status(409)) => {}
        Err(e) => panic!("expected HTTP 409, got {e}"),
        Ok(_) => panic!("a second client for a live session was upgraded"),
    }
    // The first pair is untouched.
    c.send(data(SID, 1, 40)).await;
    d.expect(&data(SID, 1, 40)).await;
    c.sync().await;
    // Once the session ended the id can be used again (a new session).
    c.close().await;
    d.expect(&ctrl(SID, SESSION_ENDED)).await;
    let mut again = relay.client(DID, SID).await;
    again.sync().await;
    again.send(init(SID)).await;
    d.expect(&init(SID)).await;
}

#[tokio::test]
async fn r9_second_daemon_replaces_the_first() {
    let relay = Relay::start(&["--grace", &secs(120)]);
    let (mut d1, mut c) = relay.pair(DID, SID, false).await;
    let mut d2 = relay.daemon(DID, false).await;
    d1.expect_close(1000).await;
    // The old connection's sessions go as if it had dropped: paused, then expired because the
    // new connection does not resume.
    c.expect(&ctrl(SID, SESSION_PAUSED)).await;
    c.expect_terminal(SID, SESSION_EXPIRED, 1000).await;
    d2.sync().await;
    // With session:resume the sessions wait for the new connection's Signal.
    let mut c2 = relay.client(DID, SID + 1).await;
    c2.sync().await;
    let mut d3 = relay.daemon(DID, true).await;
    d2.expect_close(1000).await;
    c2.expect(&ctrl(SID + 1, SESSION_PAUSED)).await;
    c2.expect(&ctrl(SID + 1, SESSION_PENDING)).await;
    d3.send(signal(SID + 1, 0, 0)).await;
    c2.expect(&ctrl(SID + 1, SESSION_RESUMED)).await;
    c2.send(data(SID + 1, 1, 40)).await;
    d3.expect(&data(SID + 1, 1, 40)).await;
}

#[tokio::test]
async fn r10_oversized_message_closes_1009() {
    let relay = Relay::start(&[]);
    let (mut d, mut c) = relay.pair(DID, SID, false).await;
    // One byte more than the largest frame, with a header announcing exactly that payload.
    let big = data(SID, 1, 65537);
    assert_eq!(big.len(), 65550);
    let _ = c.try_send(big).await;
    c.expect_close(1009).await;
    assert_eq!(d.sync_collect().await, vec![ctrl(SID, SESSION_ENDED)]);
    // The daemon's side too.
    let mut c2 = relay.client(DID, SID + 1).await;
    c2.sync().await;
    let _ = d.try_send(data(SID + 1, 1, 70_000)).await;
    d.expect_close(1009).await;
    c2.expect(&ctrl(SID + 1, SESSION_PAUSED)).await;
}

#[tokio::test]
async fn text_message_closes_1003() {
    let relay = Relay::start(&[]);
    let (mut d, mut c) = relay.pair(DID, SID, false).await;
    c.send_text("hello").await;
    c.expect_close(1003).await;
    assert_eq!(d.sync_collect().await, vec![ctrl(SID, SESSION_ENDED)]);
    d.send_text("{}").await;
    d.expect_close(1003).await;
}

#[tokio::test]
async fn r11_concurrent_session_limit_is_forbidden() {
    let relay = Relay::start(&[]);
    let t = relay.issuer.daemon(DID, false, Some(2));
    let mut d = Ws::connect(&relay.url, &t).await.unwrap();
    d.sync().await;
    let mut c1 = relay.client(DID, 1).await;
    c1.sync().await;
    let mut c2 = relay.client(DID, 2).await;
    c2.sync().await;
    let mut c3 = relay.client(DID, 3).await;
    c3.expect_terminal(0, FORBIDDEN, 1008).await;
    d.sync().await;
    // A slot frees when a session ends.
    c1.close().await;
    d.expect(&ctrl(1, SESSION_ENDED)).await;
    let mut c4 = relay.client(DID, 4).await;
    c4.sync().await;
    c4.send(init(4)).await;
    d.expect(&init(4)).await;
    c2.sync().await;
}

// ---------------------------------------------------------------------------------------------
// Ping/Pong and keepalive (§Keepalive, R3).

#[tokio::test]
async fn ping_is_answered_with_an_exact_copy_and_never_forwarded() {
    let relay = Relay::start(&[]);
    let (mut d, mut c) = relay.pair(DID, SID, false).await;
    for len in 0..=8u8 {
        let p: Vec<u8> = (0..len).map(|i| 0xF0 ^ i.wrapping_mul(37) ^ len).collect();
        c.send(frame(PING, 0, &p)).await;
        c.expect(&frame(PONG, 0, &p)).await;
        d.send(frame(PING, 0, &p)).await;
        d.expect(&frame(PONG, 0, &p)).await;
    }
    // Pongs from endpoints are absorbed: neither answered nor forwarded.
    c.send(frame(PONG, 0, &[1, 2, 3])).await;
    d.send(frame(PONG, 0, &[])).await;
    c.sync().await;
    d.sync().await;
}

#[tokio::test]
async fn r3_relay_pings_endpoints_and_closes_silent_ones_1001() {
    let relay = Relay::start(&["--ping-interval", &secs(1), "--idle-timeout", &secs(5)]);
    let mut d = relay.daemon(DID, false).await;
    d.sync().await;
    // The daemon answers every relay Ping (Ws does that) and is read all along.
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        loop {
            if stop_rx.try_recv().is_ok() {
                return (d, got);
            }
            match d.next_within(Duration::from_millis(100)).await {
                None => {}
                Some(Got::Bin(b)) => got.push(b),
                Some(other) => panic!("the answering daemon was closed: {other:?}"),
            }
        }
    });
    // A client that never sends anything, not even a Pong.
    let mut c = relay.client(DID, SID).await;
    c.answer_pings = false;
    let mut before_close = Vec::new();
    let code = loop {
        match c.next().await {
            Got::Bin(b) => before_close.push(b),
            Got::Close(code) => break code,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(code, Some(1001), "idle close code");
    assert!(before_close.is_empty(), "{before_close:?}");
    assert!(
        !c.pings.is_empty(),
        "the silent client was pinged before the close"
    );
    // Keep the answering daemon going past more than an idle timeout after the client's close
    // (it must stay open: answered Pings count as hearing from it).
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop_tx.send(()).unwrap();
    let (mut d, got) = reader.await.unwrap();
    assert_eq!(
        got,
        vec![ctrl(SID, SESSION_ENDED)],
        "the daemon hears the client left"
    );
    assert!(
        d.pings.len() >= 3,
        "the answering daemon was pinged {} times",
        d.pings.len()
    );
    for p in d.pings.iter().chain(c.pings.iter()) {
        assert_eq!(p.len(), 8, "relay Pings carry 8 bytes");
    }
    // Pings are distinct (a counter or random), so Pongs can be matched.
    let mut seen = d.pings.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), d.pings.len());
    d.sync().await;
}

// ---------------------------------------------------------------------------------------------
// R4 rate limiting, R5 backpressure.

#[tokio::test]
async fn r4_rate_limit_drops_excess_with_at_most_one_notice_per_second() {
    let relay = Relay::start(&["--rate", "5", "--burst", "10"]);
    let (mut d, mut c) = relay.pair(DID, SID, false).await;
    let started = Instant::now();
    const N: u32 = 200;
    for i in 0..N {
        c.send(data(SID, i, 40)).await;
    }
    let to_client = c.sync_collect().await;
    let forwarded = d.sync_collect().await;
    let elapsed = started.elapsed().as_secs();
    // Counts, bounded by the measured time (never a duration asserted).
    let notices = to_client.len() as u64;
    assert!(
        to_client.iter().all(|b| *b == ctrl(0, RATE_LIMITED)),
        "{:?}",
        to_client.iter().map(|b| describe(b)).collect::<Vec<_>>()
    );
    assert!(notices >= 1, "no rate_limited notice");
    assert!(
        notices <= elapsed + 1,
        "{notices} rate_limited notices in under {} s",
        elapsed + 1
    );
    let n = forwarded.len() as u64;
    assert!(
        n >= 9,
        "only {n} frames forwarded (burst 10, one token for the sync Ping)"
    );
    assert!(
        n <= 10 + 5 * (elapsed + 1),
        "{n} frames forwarded at rate 5, burst 10 in under {} s",
        elapsed + 1
    );
    // What was forwarded is a subsequence of what was sent, byte for byte, in order.
    let mut last = None;
    for f in &forwarded {
        let i = u32::from_be_bytes(f[13..17].try_into().unwrap());
        assert_eq!(*f, data(SID, i, 40));
        assert!(last < Some(i));
        last = Some(i);
    }
    // Not terminal: both connections carry on.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    c.send(data(SID, N, 40)).await;
    d.expect(&data(SID, N, 40)).await;
}

#[tokio::test]
async fn r5_slow_consumer_gets_backpressure_and_nothing_is_dropped_silently() {
    let relay = Relay::start(&[
        "--max-queue",
        "262144",
        "--rate",
        "1000000",
        "--burst",
        "1000000",
    ]);
    // A daemon with a tiny receive buffer that does not read.
    let (mut d, mut c) = relay.pair_small_buffer(DID, SID, 4096).await;
    let mut sent = 0u32;
    let mut paused = false;
    while sent < 3000 {
        if !c.try_send(data(SID, sent, 65536)).await {
            break;
        }
        sent += 1;
        if let Some(g) = c.next_within(Duration::ZERO).await {
            assert_eq!(g, Got::Bin(ctrl(SID, SESSION_PAUSED)));
            paused = true;
            break;
        }
    }
    if !paused {
        c.expect(&ctrl(SID, SESSION_PAUSED)).await;
    }
    // Now the daemon reads: a gap-free prefix of what was sent, then backpressure, then 1013.
    let mut next = 0u32;
    loop {
        match d.next().await {
            Got::Bin(b) if b.len() > 17 && b[0] == DATA => {
                assert_eq!(
                    b,
                    data(SID, next, 65536),
                    "frame {next} arrived intact, in order"
                );
                next += 1;
            }
            Got::Bin(b) => {
                assert_eq!(b, ctrl(0, BACKPRESSURE), "after {next} frames");
                break;
            }
            other => panic!("after {next} of {sent} frames: {other:?}"),
        }
    }
    d.expect_close(1013).await;
    assert!(
        next < sent,
        "the consumer was closed although it got everything"
    );
    assert!(next > 0);
}

// ---------------------------------------------------------------------------------------------
// Control text, authentication at the upgrade, shutdown.

#[tokio::test]
async fn close_reasons_name_no_identifiers() {
    let relay = Relay::start(&["--grace", &secs(1)]);
    let mut reasons = Vec::new();
    // daemon_offline, then session_expired after a pause, then a wire-format refusal.
    let mut c = relay.client(DID, SID).await;
    c.expect_terminal(SID, DAEMON_OFFLINE, 1000).await;
    reasons.push(c.close_reason.clone());
    let (d, mut c) = relay.pair(DID, SID, false).await;
    d.abort();
    c.expect(&ctrl(SID, SESSION_PAUSED)).await;
    c.expect_terminal(SID, SESSION_EXPIRED, 1000).await;
    reasons.push(c.close_reason.clone());
    let (_d, mut c) = relay.pair(DID, SID + 1, false).await;
    c.send(signal(SID + 1, 0, 0)).await;
    c.expect_terminal(SID + 1, DISALLOWED_SENDER, 1002).await;
    reasons.push(c.close_reason.clone());
    let ids = [
        DID.to_owned(),
        SID.to_string(),
        format!("{SID:x}"),
        format!("{:x}", SID + 1),
        (SID + 1).to_string(),
        sbrp::token::encode_sid(std::num::NonZeroU64::new(SID).unwrap()),
    ];
    for r in reasons.iter().flatten() {
        for id in &ids {
            assert!(!r.contains(id.as_str()), "close reason {r:?} names {id}");
        }
    }
}

#[tokio::test]
async fn upgrade_refused_with_401_for_bad_tokens_and_bearer_header_accepted() {
    let relay = Relay::start(&[]);
    let stranger = {
        let dir = tempfile::tempdir().unwrap();
        Issuer::new(dir.path()).client(DID, SID)
    };
    let mut expired = sbrp::token::Claims::new(sbrp::token::Role::Client, DID, 1_000_000, 120);
    expired.iss = Some(ISS.into());
    expired.sid = std::num::NonZeroU64::new(SID);
    let expired = relay.issuer.mint(&expired);
    let mut wrong_iss = sbrp::token::Claims::new(
        sbrp::token::Role::Client,
        DID,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
        120,
    );
    wrong_iss.iss = Some("someone-else".into());
    wrong_iss.sid = std::num::NonZeroU64::new(SID);
    let mut no_sid = wrong_iss.clone();
    no_sid.iss = Some(ISS.into());
    no_sid.sid = None;
    let wrong_iss = relay.issuer.mint(&wrong_iss);
    let no_sid = relay.issuer.mint(&no_sid);
    let cases = [
        ("no token", format!("{}/", relay.url)),
        ("garbage", format!("{}/?token=abc.def.ghi", relay.url)),
        ("unknown key", format!("{}/?token={stranger}", relay.url)),
        ("expired", format!("{}/?token={expired}", relay.url)),
        ("wrong issuer", format!("{}/?token={wrong_iss}", relay.url)),
        (
            "client without sid",
            format!("{}/?token={no_sid}", relay.url),
        ),
    ];
    for (what, url) in cases {
        match Ws::connect_with(&url, None, None).await {
            Err(ConnectError::Status(401)) => {}
            Err(e) => panic!("{what}: expected 401, got {e}"),
            Ok(_) => panic!("{what}: upgraded"),
        }
    }
    // Authorization: Bearer works as well as ?token=.
    let t = relay.issuer.daemon(DID, false, None);
    let mut d = Ws::connect_bearer(&relay.url, &t).await.unwrap();
    d.sync().await;
    let tc = relay.issuer.client(DID, SID);
    let mut c = Ws::connect_bearer(&relay.url, &tc).await.unwrap();
    c.sync().await;
    c.send(init(SID)).await;
    d.expect(&init(SID)).await;
    // No token appears in the relay's log.
    let log = relay.stderr();
    for tok in [&t, &tc, &stranger, &expired] {
        assert!(!log.contains(tok.as_str()), "the log holds a token");
        let sig = tok.rsplit('.').next().unwrap();
        assert!(!log.contains(sig), "the log holds a token's signature");
    }
}

#[tokio::test]
async fn sigterm_closes_everyone_with_1001_and_exits_0() {
    let mut relay = Relay::start(&[]);
    let (mut d, mut c) = relay.pair(DID, SID, false).await;
    let status = tokio::task::spawn_blocking(move || {
        let st = relay.terminate();
        (st, relay)
    });
    for (who, ws) in [("daemon", &mut d), ("client", &mut c)] {
        loop {
            match ws.next().await {
                Got::Close(Some(1001)) => break,
                // The relay may tell the client its daemon went first.
                Got::Bin(b) if b == ctrl(SID, SESSION_PAUSED) || b == ctrl(SID, SESSION_ENDED) => {}
                other => panic!("{who}: expected close 1001, got {other:?}"),
            }
        }
    }
    let (st, _relay) = status.await.unwrap();
    assert!(st.success(), "exit status {st:?}");
}

#[tokio::test]
async fn one_daemon_connection_multiplexes_sessions_by_session_id() {
    let relay = Relay::start(&[]);
    let mut d = relay.daemon(DID, false).await;
    d.sync().await;
    let mut clients = Vec::new();
    for sid in [11u64, 12, 13] {
        let mut c = relay.client(DID, sid).await;
        c.sync().await;
        clients.push((sid, c));
    }
    // Each client's frames reach the daemon with its own sid; the daemon's replies reach only
    // the client of the sid in their header.
    for (sid, c) in clients.iter_mut() {
        c.send(data(*sid, *sid as u32, 50)).await;
        d.expect(&data(*sid, *sid as u32, 50)).await;
    }
    for (sid, _) in clients.iter().rev() {
        d.send(data(*sid, 0x100 + *sid as u32, 60)).await;
    }
    // The relay has handled the daemon's frames (and queued them to the clients) once it
    // answered the daemon's Ping; each client's Ping comes after them on its connection.
    d.sync().await;
    for (sid, c) in clients.iter_mut() {
        assert_eq!(
            c.sync_collect().await,
            vec![data(*sid, 0x100 + *sid as u32, 60)]
        );
    }
}

#[tokio::test]
async fn max_connections_refuses_with_503() {
    let relay = Relay::start(&["--max-connections", "2"]);
    let mut d = relay.daemon(DID, false).await;
    d.sync().await;
    let mut c = relay.client(DID, SID).await;
    c.sync().await;
    let t = relay.issuer.client(DID, SID + 1);
    match Ws::connect(&relay.url, &t).await {
        Err(ConnectError::Status(503)) => {}
        Err(e) => panic!("expected HTTP 503, got {e}"),
        Ok(_) => panic!("upgraded beyond --max-connections"),
    }
    // A slot frees when a connection closes.
    c.close().await;
    d.expect(&ctrl(SID, SESSION_ENDED)).await;
    let mut c2 = relay.client(DID, SID + 1).await;
    c2.sync().await;
}

#[test]
fn json_ready_line_names_the_bound_address() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let issuer = Issuer::new(dir.path());
    let bin =
        std::env::var_os("SBRP_RELAY_TEST_BIN").map_or_else(sbrp_bin, std::path::PathBuf::from);
    let mut child = std::process::Command::new(bin)
        .args(["relay", "--json", "--listen", "127.0.0.1:0", "--jwks"])
        .arg(&issuer.jwks_file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    assert_eq!(v["schema"], "sbrp.relay-ready/1");
    let listen = v["listen"].as_str().unwrap();
    assert!(
        listen.starts_with("127.0.0.1:") && !listen.ends_with(":0"),
        "{v}"
    );
    assert_eq!(v["url"], format!("ws://{listen}"));
    assert!(v["metrics"].is_null(), "{v}");
}

/// A daemon that neither reads nor sends, with frames stuck in its socket: the idle close
/// (R3) still happens although the close frame cannot be written, and its client hears
/// `session_paused`.
#[tokio::test]
async fn r3_idle_close_of_a_stuck_reader_still_pauses_its_sessions() {
    let relay = Relay::start(&[
        "--ping-interval",
        &secs(1),
        "--idle-timeout",
        &secs(3),
        "--rate",
        "1000000",
        "--burst",
        "1000000",
    ]);
    let (d, mut c) = relay.pair_small_buffer(DID, SID, 4096).await;
    // 13 MB: more than the socket buffers hold, less than the 16 MiB of backpressure.
    for i in 0..200 {
        c.send(data(SID, i, 65536)).await;
    }
    // The client keeps talking (answering Pings) so only the daemon is idle.
    c.expect(&ctrl(SID, SESSION_PAUSED)).await;
    c.sync().await;
    drop(d);
}

/// SIGTERM while a connection's writer is blocked on a reader that never reads: the relay
/// still exits 0 (it does not wait forever to flush).
#[tokio::test]
async fn sigterm_with_a_stuck_reader_still_exits_0() {
    let mut relay = Relay::start(&["--rate", "1000000", "--burst", "1000000"]);
    let (d, mut c) = relay.pair_small_buffer(DID, SID, 4096).await;
    for i in 0..200 {
        c.send(data(SID, i, 65536)).await;
    }
    c.sync().await;
    let st = tokio::task::spawn_blocking(move || relay.terminate())
        .await
        .unwrap();
    assert!(st.success(), "exit status {st:?}");
    drop(d);
}
