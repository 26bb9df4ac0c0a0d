use super::*;
use crate::relay::core::control_frame;
use std::time::UNIX_EPOCH;

fn rec<'a>(
    action: FrameAction,
    from: Party,
    to: Party,
    sid: u64,
    bytes: &'a [u8],
    reason: Option<&'static str>,
) -> FrameRecord<'a> {
    FrameRecord {
        at: UNIX_EPOCH + Duration::from_micros(1_764_644_645_123_456),
        conn: 9,
        from,
        to,
        session_id: sid,
        frame_type: bytes.first().copied().unwrap_or(0x03),
        len: if bytes.is_empty() { 77 } else { bytes.len() },
        bytes,
        action,
        reason,
    }
}

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn rfc3339_times() {
    assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
    assert_eq!(
        rfc3339_utc(UNIX_EPOCH + Duration::from_micros(951_782_400_000_001)),
        "2000-02-29T00:00:00.000001Z"
    );
    assert_eq!(
        rfc3339_utc(UNIX_EPOCH + Duration::from_secs(4_102_444_799)),
        "2099-12-31T23:59:59.000000Z"
    );
}

#[test]
fn the_stream_holds_what_was_sent_and_the_log_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let stream_path = dir.path().join("cap.bin");
    let log_path = dir.path().join("cap.jsonl");
    let stream = CaptureStream::new(
        File::create(&stream_path).unwrap(),
        CaptureOptions::default(),
    )
    .unwrap();
    let log = CaptureLog::new(File::create(&log_path).unwrap(), CaptureOptions::default()).unwrap();
    let data: Vec<u8> = [
        &[0x03u8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 0x2c][..],
        &[7, 8],
    ]
    .concat();
    let control = control_frame(300, ErrorCode::SessionPaused);
    let records = [
        rec(
            FrameAction::Forwarded,
            Party::Client,
            Party::Daemon,
            300,
            &data,
            None,
        ),
        rec(
            FrameAction::Generated,
            Party::Relay,
            Party::Client,
            300,
            &control,
            None,
        ),
        rec(
            FrameAction::Dropped,
            Party::Daemon,
            Party::Relay,
            u64::MAX,
            &[],
            Some("recently_ended"),
        ),
        rec(
            FrameAction::Refused,
            Party::Client,
            Party::Relay,
            300,
            &[],
            Some("disallowed_sender"),
        ),
    ];
    for r in &records {
        stream.frame(r);
        log.frame(r);
    }
    let rs = stream.finish(Duration::from_secs(60));
    let rl = log.finish(Duration::from_secs(60));
    assert_eq!((rs.written, rs.lost(), rl.written, rl.lost()), (2, 0, 4, 0));
    assert_eq!(
        std::fs::read(&stream_path).unwrap(),
        [data.clone(), control].concat()
    );

    let v = lines(&log_path);
    assert_eq!(v.len(), 5);
    assert_eq!(v[0]["record"], "header");
    assert_eq!(v[0]["schema"], LOG_SCHEMA);
    let f = &v[1];
    assert_eq!(f["record"], "frame");
    assert_eq!(f["time"], "2025-12-02T03:04:05.123456Z");
    assert_eq!(f["conn"], 9);
    assert_eq!(f["role"], "daemon");
    assert_eq!((&f["from"], &f["to"]), (&"client".into(), &"daemon".into()));
    assert_eq!(f["session_id"], "300");
    assert_eq!(f["session_id_hex"], "000000000000012c");
    assert_eq!((&f["type"], &f["type_code"]), (&"Data".into(), &3.into()));
    assert_eq!(f["length"], 15);
    assert_eq!(f["action"], "forwarded");
    assert!(f.get("reason").is_none() && f.get("control").is_none());
    assert_eq!(v[2]["control"], "session_paused");
    assert_eq!(v[2]["control_code"], 0x1001);
    assert_eq!(v[2]["role"], "client");
    assert_eq!(v[3]["action"], "dropped");
    assert_eq!(v[3]["reason"], "recently_ended");
    assert_eq!(v[3]["role"], "daemon");
    assert_eq!(v[3]["session_id"], u64::MAX.to_string());
    assert_eq!(v[3]["length"], 77);
    assert_eq!(v[4]["reason"], "disallowed_sender");
    assert_eq!(v[4]["role"], "client");
}

/// A full queue loses whole records, counts them, and the log says so in-band.
#[test]
fn a_full_queue_loses_whole_records_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let counters = CaptureCounters::default();
    let opts = CaptureOptions {
        max_queue: 0,
        counters: Some(counters.clone()),
    };
    let stream_path = dir.path().join("cap.bin");
    let log_path = dir.path().join("cap.jsonl");
    let stream = CaptureStream::new(File::create(&stream_path).unwrap(), opts.clone()).unwrap();
    let log = CaptureLog::new(File::create(&log_path).unwrap(), opts).unwrap();
    let control = control_frame(1, ErrorCode::SessionEnded);
    for _ in 0..5 {
        let r = rec(
            FrameAction::Generated,
            Party::Relay,
            Party::Daemon,
            1,
            &control,
            None,
        );
        stream.frame(&r);
        log.frame(&r);
    }
    let rs = stream.finish(Duration::from_secs(60));
    let rl = log.finish(Duration::from_secs(60));
    assert_eq!((rs.written, rs.lost_queue_full), (0, 5));
    assert_eq!((rl.written, rl.lost_queue_full), (0, 5));
    assert_eq!(counters.lost.get(), 10);
    assert_eq!(std::fs::read(&stream_path).unwrap(), b"");
    // The header, then loss lines only (the writer may wake between two losses and report
    // them in more than one line), which add up to the 5 records lost.
    let v = lines(&log_path);
    assert_eq!(v[0]["record"], "header", "{v:?}");
    assert!(v.len() >= 2, "{v:?}");
    for l in &v[1..] {
        assert_eq!(l["record"], "loss", "{v:?}");
        assert_eq!(l["reason"], "queue_full", "{v:?}");
    }
    let lost: u64 = v[1..].iter().map(|l| l["lost"].as_u64().unwrap()).sum();
    assert_eq!(lost, 5, "{v:?}");
}

/// A file that cannot be written (a full device, here /dev/full) and cannot be cut back:
/// the writer stops, every record is counted lost, and nothing blocks.
#[cfg(target_os = "linux")]
#[test]
fn a_full_device_stops_the_capture_and_counts_the_loss() {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let stream = CaptureStream::new(file, CaptureOptions::default()).unwrap();
    let control = control_frame(1, ErrorCode::SessionEnded);
    for _ in 0..50 {
        stream.frame(&rec(
            FrameAction::Generated,
            Party::Relay,
            Party::Daemon,
            1,
            &control,
            None,
        ));
    }
    let r = stream.finish(Duration::from_secs(60));
    assert!(r.stopped);
    assert_eq!(r.written, 0);
    assert_eq!(r.lost(), 50);
}

/// Connection events are lines too, and a frame's `role` is its connection's (also for a
/// frame dropped on the receiver's connection, whose `from` is the other party).
#[test]
fn connection_lines_and_the_role_of_each_connection() {
    use std::net::{Ipv4Addr, SocketAddr};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cap.jsonl");
    let log = CaptureLog::new(File::create(&path).unwrap(), CaptureOptions::default()).unwrap();
    let peer = SocketAddr::from((Ipv4Addr::LOCALHOST, 5555));
    log.connection(&ConnectionEvent::Opened {
        conn: 9,
        role: "client",
        peer,
    });
    log.connection(&ConnectionEvent::Refused {
        peer,
        status: 401,
        reason: "bad_signature",
    });
    // Backpressure names the slow receiver's connection, coming from the other party.
    log.frame(&rec(
        FrameAction::Dropped,
        Party::Daemon,
        Party::Relay,
        5,
        &[],
        Some("backpressure"),
    ));
    log.connection(&ConnectionEvent::Closed {
        conn: 9,
        role: "client",
        code: 1013,
        reason: "backpressure",
        lifetime: Duration::from_millis(1500),
    });
    log.frame(&rec(
        FrameAction::Dropped,
        Party::Daemon,
        Party::Relay,
        5,
        &[],
        Some("receiver_gone"),
    ));
    log.finish(Duration::from_secs(60));
    let v = lines(&path);
    assert_eq!(v.len(), 6);
    assert_eq!(v[1]["record"], "connection");
    assert_eq!(v[1]["event"], "opened");
    assert_eq!(
        (&v[1]["conn"], &v[1]["role"]),
        (&9.into(), &"client".into())
    );
    assert_eq!(v[1]["peer"], "127.0.0.1:5555");
    assert_eq!(
        (&v[2]["event"], &v[2]["status"]),
        (&"refused".into(), &401.into())
    );
    assert_eq!(v[2]["reason"], "bad_signature");
    assert!(v[2].get("conn").is_none());
    assert_eq!(v[3]["role"], "client");
    assert_eq!(v[3]["from"], "daemon");
    assert_eq!(v[4]["event"], "closed");
    assert_eq!(
        (&v[4]["code"], &v[4]["lifetime_ms"]),
        (&1013.into(), &1500.into())
    );
    // After the close the map has forgotten the connection: the fallback names the sender.
    assert_eq!(v[5]["role"], "daemon");
}
