//! The relay's capture observers fed as the server feeds them, with frames of real sessions
//! made by the library (two handshakes and Data both ways, plus the relay's own Ping, Pong and
//! Controls): `sbrp decode` (the real binary) reads the raw capture stream and decrypts it
//! with the key log of either endpoint, and the JSON capture log lists every frame.
#![cfg(feature = "relay")]

#[path = "common/peer.rs"]
mod peer;

use std::time::{Duration, SystemTime};

use peer::decode_ndjson as decode;
use sbrp::relay::capture::LOG_SCHEMA;
use sbrp::relay::core::control_frame;
use sbrp::relay::{
    CaptureLog, CaptureOptions, CaptureStream, FrameAction, FrameRecord, Observer, Party,
};
use sbrp::{ClientHandshake, Daemon, ErrorCode, Frame, IdentityKeyPair, SessionId};

const SID_A: u64 = 0x1234;
const SID_B: u64 = 0xfeed_face_0000_0001;

/// action, from, to, session id, bytes sent (empty when not sent), reason.
type Rec = (
    FrameAction,
    Party,
    Party,
    u64,
    Vec<u8>,
    Option<&'static str>,
);

struct Made {
    /// Every record the server would report, in order.
    records: Vec<Rec>,
    /// (session id, direction, plaintext) of every Data frame sent.
    plaintexts: Vec<(u64, &'static str, Vec<u8>)>,
    client_a_keylog: String,
    daemon_keylog: String,
}

fn make() -> Made {
    let daemon = Daemon::new(IdentityKeyPair::generate().unwrap(), "daemon-1");
    let mut records = Vec::new();
    let mut plaintexts = Vec::new();
    let mut daemon_keylog = String::new();
    let mut client_a_keylog = String::new();
    for (n, sid) in [SID_A, SID_B].into_iter().enumerate() {
        let id = SessionId::new(sid).unwrap();
        let client = ClientHandshake::start("daemon-1", id).unwrap();
        let init = client.init();
        let (accept, mut ds) = daemon.accept(&init).unwrap();
        let mut cs = client
            .finish(&accept, &daemon.identity().public_key())
            .unwrap();
        let fwd = FrameAction::Forwarded;
        records.push((
            fwd,
            Party::Client,
            Party::Daemon,
            sid,
            Frame::HandshakeInit(init).to_vec(),
            None,
        ));
        records.push((
            fwd,
            Party::Daemon,
            Party::Client,
            sid,
            Frame::HandshakeAccept(accept).to_vec(),
            None,
        ));
        for i in 0..3u8 {
            let up = format!("request {i} of session {n}").into_bytes();
            records.push((
                fwd,
                Party::Client,
                Party::Daemon,
                sid,
                cs.encrypt_frame(id, &up).unwrap(),
                None,
            ));
            plaintexts.push((sid, "client_to_daemon", up));
            let down = vec![n as u8, i, 0xff, 0x00];
            records.push((
                fwd,
                Party::Daemon,
                Party::Client,
                sid,
                ds.encrypt_frame(id, &down).unwrap(),
                None,
            ));
            plaintexts.push((sid, "daemon_to_client", down));
        }
        let lines = sbrp::keylog::format_session(sid, cs.keys());
        daemon_keylog.push_str(&lines);
        if sid == SID_A {
            client_a_keylog.push_str(&lines);
        }
    }
    // The relay's own frames, and frames it did not send (not in the stream).
    let ping = [&[0x10u8, 0, 0, 0, 8][..], &[0; 8], &7u64.to_be_bytes()].concat();
    let pong = [&[0x11u8, 0, 0, 0, 8][..], &[0; 8], &7u64.to_be_bytes()].concat();
    records.push((
        FrameAction::Generated,
        Party::Relay,
        Party::Daemon,
        0,
        ping,
        None,
    ));
    records.push((
        FrameAction::Answered,
        Party::Relay,
        Party::Client,
        0,
        pong,
        None,
    ));
    records.push((
        FrameAction::Dropped,
        Party::Client,
        Party::Relay,
        SID_A,
        Vec::new(),
        Some("rate_limited"),
    ));
    records.push((
        FrameAction::Generated,
        Party::Relay,
        Party::Client,
        0,
        control_frame(0, ErrorCode::RateLimited),
        None,
    ));
    records.push((
        FrameAction::Generated,
        Party::Relay,
        Party::Daemon,
        SID_B,
        control_frame(SID_B, ErrorCode::SessionEnded),
        None,
    ));
    Made {
        records,
        plaintexts,
        client_a_keylog: client_a_keylog.to_string(),
        daemon_keylog: daemon_keylog.to_string(),
    }
}

fn feed(made: &Made, observer: &dyn Observer) {
    for (i, (action, from, to, sid, bytes, reason)) in made.records.iter().enumerate() {
        let sent = !matches!(action, FrameAction::Dropped | FrameAction::Refused);
        observer.frame(&FrameRecord {
            at: SystemTime::now(),
            conn: if matches!(to, Party::Daemon) || matches!(from, Party::Daemon) {
                1
            } else {
                2 + i as u64 % 2
            },
            from: *from,
            to: *to,
            session_id: *sid,
            frame_type: if sent { bytes[0] } else { 0x03 },
            len: if sent { bytes.len() } else { 60 },
            bytes: if sent { bytes } else { &[] },
            action: *action,
            reason: *reason,
        });
    }
}

#[test]
fn sbrp_decode_reads_and_decrypts_the_capture_stream_with_either_endpoints_key_log() {
    let made = make();
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("relay.cap");
    let stream = CaptureStream::new(
        std::fs::File::create(&cap).unwrap(),
        CaptureOptions::default(),
    )
    .unwrap();
    feed(&made, &stream);
    let report = stream.finish(Duration::from_secs(60));
    let sent: Vec<&Vec<u8>> = made
        .records
        .iter()
        .filter(|r| !r.4.is_empty())
        .map(|r| &r.4)
        .collect();
    assert_eq!((report.written, report.lost()), (sent.len() as u64, 0));

    let client_log = dir.path().join("client.keys");
    let daemon_log = dir.path().join("daemon.keys");
    std::fs::write(&client_log, &made.client_a_keylog).unwrap();
    std::fs::write(&daemon_log, &made.daemon_keylog).unwrap();

    for (keylog, sessions) in [
        (&client_log, vec![SID_A]),
        (&daemon_log, vec![SID_A, SID_B]),
    ] {
        let v = decode(&cap, keylog);
        let (frames, summary) = v.split_at(v.len() - 1);
        let summary = &summary[0];
        assert_eq!(summary["ok"], true, "{summary}");
        assert_eq!(summary["complete"], true, "{summary}");
        assert_eq!(frames.len(), sent.len());
        // Frames in the order sent, each with its type byte.
        for (f, bytes) in frames.iter().zip(&sent) {
            assert_eq!(f["type_code"], u64::from(bytes[0]), "{f}");
            assert_eq!(f["diagnostics"], serde_json::json!([]), "{f}");
        }
        // Every Data frame of a session in the key log is decrypted to what was sent; the
        // others are shown but not decrypted.
        let data: Vec<&serde_json::Value> = frames.iter().filter(|f| f["type"] == "Data").collect();
        assert_eq!(data.len(), made.plaintexts.len());
        for (f, (sid, dir, plain)) in data.iter().zip(&made.plaintexts) {
            assert_eq!(f["session_id"], sid.to_string());
            assert_eq!(f["direction"], *dir);
            if sessions.contains(sid) {
                assert_eq!(f["authenticated"], true, "{f}");
                assert_eq!(f["plaintext_hex"], hex::encode(plain), "{f}");
            } else {
                assert!(f.get("plaintext_hex").is_none(), "{f}");
            }
        }
        let ctl: Vec<&serde_json::Value> =
            frames.iter().filter(|f| f["type"] == "Control").collect();
        assert_eq!(ctl.len(), 2);
    }
}

#[test]
fn the_capture_log_lists_every_frame_with_its_action() {
    let made = make();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.jsonl");
    let log = CaptureLog::new(
        std::fs::File::create(&path).unwrap(),
        CaptureOptions::default(),
    )
    .unwrap();
    feed(&made, &log);
    let report = log.finish(Duration::from_secs(60));
    assert_eq!(report.written, made.records.len() as u64);
    let v: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v[0]["schema"], LOG_SCHEMA);
    assert_eq!(v.len(), made.records.len() + 1);
    for (line, (action, from, to, sid, bytes, reason)) in v[1..].iter().zip(&made.records) {
        assert_eq!(line["action"], action.name());
        assert_eq!(line["from"], from.name());
        assert_eq!(line["to"], to.name());
        assert_eq!(line["session_id"], sid.to_string());
        assert_eq!(line["session_id_hex"], format!("{sid:016x}"));
        if !bytes.is_empty() {
            assert_eq!(line["length"], bytes.len());
        }
        assert_eq!(line["reason"].as_str(), *reason);
        let t = line["time"].as_str().unwrap();
        assert!(
            t.len() == 27 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
            "{t}"
        );
    }
    let ended = v
        .iter()
        .find(|l| l["control"] == "session_ended")
        .expect("the session_ended Control");
    assert_eq!(ended["control_code"], 0x1003);
    assert_eq!(ended["role"], "daemon");
}
