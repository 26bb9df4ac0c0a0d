//! `sbrp peer` at the SBP/RPC level: our client calls our daemon's reserved methods over TCP on
//! 127.0.0.1, and SBP frames this test assembles byte by byte from the wire format (not with
//! `sbrp::sbp`) are sent to `sbrp peer daemon` over stdio, checked against what it answers
//! (parsed by hand too). The SBRP layer around them is the library's.

#[path = "common/peer.rs"]
mod peer;

use std::io::{Read, Write};
use std::process::Stdio;

use peer::{key_dir as setup, sbrp, tcp_daemon};
use serde_json::{Value, json};

use sbrp::frame::{Frame, RawFrame};
use sbrp::{ClientHandshake, SessionId};

#[test]
fn client_calls_reserved_methods_over_tcp() {
    let (dir, key, pk) = setup();
    let (mut daemon, _stderr, addr) = tcp_daemon(&key, "d9");
    let out = sbrp()
        .args(["peer", "client", "--daemon-id", "d9", "--identity-key", &pk])
        .args(["--connect", &addr, "--json"])
        .args(["--call", "$sideband/echo", "--params", r#"{"a":[1,"x"]}"#])
        .args(["--call", "$sideband/info"])
        .args(["--call", "$sideband/rpc.list"])
        .args(["--call", "files.list", "--params", "[]"])
        .env("SBRP_HOME", dir.path())
        .output()
        .unwrap();
    let _ = daemon.kill();
    let _ = daemon.wait();
    peer::assert_exit(&out, 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mode"], "sbp");
    let calls = v["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 4);
    assert_eq!(calls[0]["method"], "$sideband/echo");
    assert_eq!(calls[0]["params"], json!({"a": [1, "x"]}));
    assert_eq!(calls[0]["result"], json!({"a": [1, "x"]}));
    let info = &calls[1]["result"];
    assert_eq!(info["daemonId"], "d9");
    for k in ["name", "version", "platform", "arch"] {
        assert!(info[k].is_string(), "{k}: {info}");
    }
    assert!(info["uptime"].is_number() && info["capabilities"].is_object());
    let methods: Vec<&str> = calls[2]["result"]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let mut sorted = methods.clone();
    sorted.sort_unstable();
    assert_eq!(methods, sorted, "rpc.list is sorted");
    for m in ["$sideband/echo", "$sideband/info", "$sideband/rpc.list"] {
        assert!(methods.contains(&m), "{methods:?}");
    }
    assert_eq!(calls[3]["error"]["code"], 1101);
    assert_eq!(calls[3]["error"]["name"], "UnsupportedMethod");
    assert!(calls[3].get("result").is_none());
}

// ---- SBP by hand, from the wire format (docs/sbp.md): all integers little-endian ----

fn sbp(kind: u8, flags: u8, id: [u8; 16], body: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, flags];
    v.extend_from_slice(&id);
    v.extend_from_slice(body);
    v
}

fn message(id: [u8; 16], subject: &str, data: &[u8]) -> Vec<u8> {
    let mut body = (subject.len() as u32).to_le_bytes().to_vec();
    body.extend_from_slice(subject.as_bytes());
    body.extend_from_slice(data);
    sbp(1, 0, id, &body)
}

fn handshake(id: [u8; 16]) -> Vec<u8> {
    let mut body = vec![0u8];
    body.extend_from_slice(
        br#"{"protocol":"sideband","version":"1","peerId":"hand-made","caps":["rpc"]}"#,
    );
    sbp(0, 0, id, &body)
}

fn hex(id: [u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the daemon answered, parsed by hand.
#[derive(Debug)]
enum Answer {
    Handshake(Value),
    Message(String, Value),
    Error(u16, String),
    Close(String),
    Other(Vec<u8>),
}

fn parse(pt: &[u8]) -> Answer {
    assert_eq!(pt[1] & 0xfe, 0, "reserved flags clear");
    let body = if pt[1] & 1 == 1 { &pt[26..] } else { &pt[18..] };
    match (pt[0], body.first()) {
        (0, Some(0)) => Answer::Handshake(serde_json::from_slice(&body[1..]).unwrap()),
        (0, Some(3)) => Answer::Close(String::from_utf8_lossy(&body[1..]).into_owned()),
        (1, _) => {
            let n = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
            let subject = String::from_utf8(body[4..4 + n].to_vec()).unwrap();
            Answer::Message(subject, serde_json::from_slice(&body[4 + n..]).unwrap())
        }
        (3, _) => {
            let code = u16::from_le_bytes(body[..2].try_into().unwrap());
            let n = u32::from_le_bytes(body[2..6].try_into().unwrap()) as usize;
            Answer::Error(code, String::from_utf8(body[6..6 + n].to_vec()).unwrap())
        }
        _ => Answer::Other(pt.to_vec()),
    }
}

/// Runs one SBRP session with `sbrp peer daemon` on stdio, sends `plaintexts` in it, and returns
/// every plaintext the daemon sent back.
fn exchange(key: &std::path::Path, sid: u64, plaintexts: &[Vec<u8>]) -> Vec<Answer> {
    let mut daemon = sbrp()
        .args(["peer", "daemon", "-q", "--daemon-id", "dh", "--key"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = daemon.stdin.take().unwrap();
    let mut stdout = daemon.stdout.take().unwrap();
    let sid = SessionId::new(sid).unwrap();
    let hs = ClientHandshake::start("dh", sid).unwrap();
    stdin
        .write_all(&Frame::HandshakeInit(hs.init()).to_vec())
        .unwrap();
    stdin.flush().unwrap();
    let mut accept = vec![0u8; 13 + 128];
    stdout.read_exact(&mut accept).unwrap();
    let raw = RawFrame::decode(&accept).unwrap();
    let mut session = hs
        .finish_first_contact(&raw.handshake_accept().unwrap())
        .unwrap();
    for pt in plaintexts {
        stdin
            .write_all(&session.encrypt_frame(sid, pt).unwrap())
            .unwrap();
    }
    drop(stdin);
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let _ = daemon.wait();
    let mut answers = Vec::new();
    for item in sbrp::stream::FrameReader::new(&rest) {
        let f = item.unwrap();
        assert_eq!(f.frame.frame_type(), sbrp::FrameType::Data);
        answers.push(parse(&session.decrypt(f.frame.payload()).unwrap()));
    }
    answers
}

#[test]
fn daemon_answers_hand_built_sbp() {
    let (_dir, key, _) = setup();
    let req = [0x11; 16];
    let unknown = [0x22; 16];
    let frames = vec![
        handshake([0x01; 16]),
        // A Ping with a timestamp: the Pong keeps the timestamp flag.
        sbp(0, 1, [0x02; 16], &[&7i64.to_le_bytes()[..], &[1]].concat()),
        message(
            req,
            "rpc",
            format!(
                r#"{{"t":"r","m":"$sideband/echo","p":[1,2,3],"cid":"{}"}}"#,
                hex(req)
            )
            .as_bytes(),
        ),
        message(
            unknown,
            "rpc",
            format!(r#"{{"t":"r","m":"no.such","cid":"{}"}}"#, hex(unknown)).as_bytes(),
        ),
        // An envelope on the wrong subject is dropped, not answered, and not fatal.
        message(
            [0x33; 16],
            "event",
            format!(r#"{{"t":"r","m":"x","cid":"{}"}}"#, hex([0x33; 16])).as_bytes(),
        ),
        message(
            [0x44; 16],
            "rpc",
            format!(
                r#"{{"t":"r","m":"$sideband/rpc.list","cid":"{}"}}"#,
                hex([0x44; 16])
            )
            .as_bytes(),
        ),
    ];
    let answers = exchange(&key, 7, &frames);
    let mut it = answers.iter();
    match it.next() {
        Some(Answer::Handshake(h)) => {
            assert_eq!(h["protocol"], "sideband");
            assert_eq!(h["version"], "1");
            assert!(h["peerId"].is_string());
            assert!(h["caps"].as_array().unwrap().contains(&json!("rpc")));
        }
        other => panic!("first answer {other:?}"),
    }
    match it.next() {
        Some(Answer::Other(p)) => {
            assert_eq!((p[0], p[1], p[26]), (0, 1, 2), "a Pong with the timestamp");
            assert_eq!(&p[18..26], &7i64.to_le_bytes());
        }
        other => panic!("pong {other:?}"),
    }
    match it.next() {
        Some(Answer::Message(s, v)) => {
            assert_eq!(s, "rpc");
            assert_eq!(*v, json!({"t": "R", "cid": hex(req), "result": [1, 2, 3]}));
        }
        other => panic!("echo answer {other:?}"),
    }
    match it.next() {
        Some(Answer::Message(_, v)) => {
            assert_eq!(v["t"], "E");
            assert_eq!(v["cid"], hex(unknown));
            assert_eq!(v["code"], 1101);
            assert_eq!(v["message"], "Method not found: no.such");
        }
        other => panic!("unknown-method answer {other:?}"),
    }
    match it.next() {
        Some(Answer::Message(_, v)) => {
            assert_eq!(v["t"], "R");
            assert_eq!(v["cid"], hex([0x44; 16]));
            assert!(v["result"]["methods"].is_array());
        }
        other => panic!("rpc.list answer {other:?}"),
    }
    assert!(it.next().is_none());
}

#[test]
fn daemon_refuses_sbp_faults_with_their_code() {
    let (_dir, key, _) = setup();
    let cid = [0x55; 16];
    let early = message(
        cid,
        "rpc",
        format!(r#"{{"t":"r","m":"$sideband/echo","cid":"{}"}}"#, hex(cid)).as_bytes(),
    );
    let mut reserved = handshake([0x01; 16]);
    reserved[1] = 0x02;
    let mut old = vec![0u8];
    old.extend_from_slice(br#"{"protocol":"sideband","version":"0","peerId":"old"}"#);
    for (frames, code) in [
        (vec![early], 1000u16),
        (vec![reserved], 1002),
        (vec![sbp(0, 0, [0x01; 16], &old)], 1001),
        (
            vec![
                handshake([0x01; 16]),
                message([0x66; 16], "rpc/echo", b"{}"),
            ],
            1000,
        ),
    ] {
        let answers = exchange(&key, 8, &frames);
        // Our Handshake, then the Error and a Close.
        assert!(matches!(answers[0], Answer::Handshake(_)), "{answers:?}");
        match &answers[1] {
            Answer::Error(c, m) => {
                assert_eq!(*c, code, "{answers:?}");
                assert!(!m.is_empty());
            }
            other => panic!("{other:?}"),
        }
        let name = match code {
            1000 => "ProtocolViolation",
            1001 => "UnsupportedVersion",
            _ => "InvalidFrame",
        };
        assert!(
            matches!(&answers[2], Answer::Close(r) if r == name),
            "{answers:?}"
        );
        assert_eq!(answers.len(), 3);
    }
}
