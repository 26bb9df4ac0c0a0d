//! SBP v1 and the RPC envelope: known answers from `tests/data/sbp/vectors.json` (written from
//! the spec by `make_vectors.py`, with the values of the reference's own codec tests), and
//! property tests (every kind round-trips; arbitrary bytes never panic and are refused with a
//! registry code).

use proptest::prelude::*;
use serde_json::{Value, json};

use sbrp::rpc::{Envelope, RpcError};
use sbrp::sbp::{
    Body, Channel, ControlOp, FrameId, Handshake, Kind, MAX_SUBJECT_LEN, SbpError, WireCode,
};

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sbp/vectors.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} in {v}"))
        .to_owned()
}

#[test]
fn known_answers_decode_and_reencode() {
    let v = vectors();
    let cases = v["sbp_valid"].as_array().unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let name = s(case, "name");
        let bytes = hex::decode(s(case, "hex")).unwrap();
        let want = &case["expect"];
        let f = sbrp::sbp::Frame::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(f.body.kind().name(), want["kind"], "{name}");
        assert_eq!(f.timestamp, want["timestamp"].as_i64(), "{name}");
        assert_eq!(f.frame_id.0[..], bytes[2..18], "{name}");
        match f.body {
            Body::Handshake(json) => {
                assert_eq!(want["op"], "handshake");
                let h = Handshake::parse(json).unwrap();
                assert_eq!(h.peer_id, want["peer_id"], "{name}");
                assert_eq!(json!(h.caps), want["caps"], "{name}");
            }
            Body::Ping => assert_eq!(want["op"], "ping", "{name}"),
            Body::Pong => assert_eq!(want["op"], "pong", "{name}"),
            Body::Close(r) => {
                assert_eq!(want["op"], "close", "{name}");
                assert_eq!(r, s(want, "reason").as_bytes(), "{name}");
            }
            Body::Message { subject, data } => {
                assert_eq!(subject, want["subject"], "{name}");
                assert_eq!(data, s(want, "data").as_bytes(), "{name}");
            }
            Body::Ack(id) => assert_eq!(id.to_hex(), want["ack_id"], "{name}"),
            Body::Error {
                code,
                message,
                details,
            } => {
                assert_eq!(i64::from(code), want["code"].as_i64().unwrap(), "{name}");
                assert_eq!(WireCode::describe(code.into()), want["name"], "{name}");
                assert_eq!(message, want["message"], "{name}");
                assert_eq!(details, s(want, "details").as_bytes(), "{name}");
            }
        }
        assert_eq!(f.encode(), bytes, "{name}: re-encoding");
        assert_eq!(f.encoded_len(), bytes.len(), "{name}");
        // The field layout covers the frame exactly, in order.
        let mut at = 0;
        for span in f.fields() {
            assert_eq!(span.offset, at, "{name}: {}", span.name);
            at += span.length;
        }
        assert_eq!(at, bytes.len(), "{name}: fields cover the frame");
    }
}

#[test]
fn known_answers_refused_with_their_code() {
    let v = vectors();
    for case in v["sbp_invalid"].as_array().unwrap() {
        let name = s(case, "name");
        let bytes = hex::decode(s(case, "hex")).unwrap();
        let e = sbrp::sbp::Frame::decode(&bytes).expect_err(&name);
        assert_eq!(e.code().name(), case["code"], "{name}: {e}");
        assert!(
            e.to_string().starts_with(e.code().name()),
            "{name}: the message names the code: {e}"
        );
    }
}

#[test]
fn truncation_names_the_field() {
    let v = vectors();
    let msg = &v["sbp_invalid"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "message incomplete subject")
        .unwrap()["hex"];
    let bytes = hex::decode(msg.as_str().unwrap()).unwrap();
    match sbrp::sbp::Frame::decode(&bytes).unwrap_err() {
        SbpError::Truncated {
            field,
            need,
            have,
            offset,
        } => {
            assert_eq!((field, need, have, offset), ("the subject", 10, 3, 22));
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn handshake_versions_and_fields() {
    let ok = br#"{"protocol":"sideband","version":"1","peerId":"p","metadata":{"vendor:x":1},"extra":true}"#;
    let h = Handshake::parse(ok).unwrap();
    assert!(h.caps.is_empty());
    assert_eq!(h.metadata.unwrap()["vendor:x"], 1);
    for (doc, code) in [
        (
            r#"{"protocol":"other","version":"1","peerId":"p"}"#,
            "UnsupportedVersion",
        ),
        (
            r#"{"protocol":"sideband","version":"2","peerId":"p"}"#,
            "UnsupportedVersion",
        ),
        (
            r#"{"protocol":"sideband","version":1,"peerId":"p"}"#,
            "InvalidFrame",
        ),
        (r#"{"protocol":"sideband","version":"1"}"#, "InvalidFrame"),
        (
            r#"{"protocol":"sideband","version":"1","peerId":"p","caps":"rpc"}"#,
            "InvalidFrame",
        ),
        (
            r#"{"protocol":"sideband","version":"1","peerId":"p","caps":[1]}"#,
            "InvalidFrame",
        ),
        (
            r#"{"protocol":"sideband","version":"1","peerId":"p","metadata":[]}"#,
            "InvalidFrame",
        ),
        ("[]", "InvalidFrame"),
        ("{", "InvalidFrame"),
    ] {
        let e = Handshake::parse(doc.as_bytes()).unwrap_err();
        assert_eq!(e.code().name(), code, "{doc}: {e}");
    }
    let ours = Handshake::new("peer-9", &["rpc"]);
    let json: Value = serde_json::from_slice(&ours.to_json()).unwrap();
    assert_eq!(
        json,
        json!({"protocol":"sideband","version":"1","peerId":"peer-9","caps":["rpc"]})
    );
    assert_eq!(Handshake::parse(&ours.to_json()).unwrap(), ours);
}

#[test]
fn rpc_known_answers() {
    let v = vectors();
    for case in v["rpc_valid"].as_array().unwrap() {
        let name = s(case, "name");
        let data = serde_json::to_vec(&case["json"]).unwrap();
        let env = Envelope::decode(&s(case, "subject"), &data)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap();
        assert_eq!(env.t().to_string(), case["json"]["t"], "{name}");
        assert_eq!(env.subject(), case["subject"], "{name}");
        if let Some(cid) = env.cid() {
            assert_eq!(cid.to_hex(), case["json"]["cid"], "{name}");
        }
        // Our encoding is the same JSON object.
        assert_eq!(env.to_value(), case["json"], "{name}");
    }
    for case in v["rpc_invalid"].as_array().unwrap() {
        let name = s(case, "name");
        let e = Envelope::decode(&s(case, "subject"), s(case, "data").as_bytes()).expect_err(&name);
        assert_eq!(e.code().name(), case["code"], "{name}: {e}");
    }
}

#[test]
fn rpc_app_subjects_are_not_envelopes() {
    assert_eq!(Envelope::decode("app/x", b"\xff\xfe"), Ok(None));
    assert!(matches!(
        Envelope::decode("nope", b"{}"),
        Err(RpcError::Subject(_))
    ));
}

#[test]
fn registry_codes() {
    for (v, n) in [
        (1000, "ProtocolViolation"),
        (1001, "UnsupportedVersion"),
        (1002, "InvalidFrame"),
        (1003, "UnsupportedFeature"),
        (1100, "InvalidEnvelope"),
        (1101, "UnsupportedMethod"),
        (1102, "CorrelationMismatch"),
        (1103, "Timeout"),
        (1104, "EnvelopeMismatch"),
        (2000, "ApplicationError"),
    ] {
        assert_eq!(WireCode::from_value(v).unwrap().name(), n);
        assert_eq!(WireCode::describe(v), n);
    }
}

fn frame_id() -> impl Strategy<Value = FrameId> {
    any::<[u8; 16]>().prop_map(FrameId)
}

fn subject() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("rpc".to_owned()),
        Just("event".to_owned()),
        Just("stream".to_owned()),
        "[^\u{0}]{0,60}".prop_map(|s| format!("app/{s}")),
    ]
    .prop_filter("at most 256 bytes", |s| s.len() <= MAX_SUBJECT_LEN)
}

#[derive(Debug, Clone)]
enum Owned {
    Handshake(Vec<u8>),
    Ping,
    Pong,
    Close(Vec<u8>),
    Message(String, Vec<u8>),
    Ack(FrameId),
    Error(u16, String, Vec<u8>),
}

fn owned() -> impl Strategy<Value = Owned> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(Owned::Handshake),
        Just(Owned::Ping),
        Just(Owned::Pong),
        bytes().prop_map(Owned::Close),
        (subject(), bytes()).prop_map(|(s, d)| Owned::Message(s, d)),
        frame_id().prop_map(Owned::Ack),
        (any::<u16>(), ".{0,40}", bytes()).prop_map(|(c, m, d)| Owned::Error(c, m, d)),
    ]
}

fn body(o: &Owned) -> Body<'_> {
    match o {
        Owned::Handshake(d) => Body::Handshake(d),
        Owned::Ping => Body::Ping,
        Owned::Pong => Body::Pong,
        Owned::Close(d) => Body::Close(d),
        Owned::Message(s, d) => Body::Message {
            subject: s,
            data: d,
        },
        Owned::Ack(id) => Body::Ack(*id),
        Owned::Error(c, m, d) => Body::Error {
            code: *c,
            message: m,
            details: d,
        },
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z]{1,5}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn envelope() -> impl Strategy<Value = Envelope> {
    prop_oneof![
        (".{0,30}", proptest::option::of(json_value()), frame_id()).prop_map(|(m, p, c)| {
            Envelope::Request {
                method: m,
                params: p,
                cid: c,
            }
        }),
        (frame_id(), proptest::option::of(json_value()))
            .prop_map(|(cid, result)| Envelope::Response { cid, result }),
        (
            frame_id(),
            any::<i64>(),
            ".{0,30}",
            proptest::option::of(json_value())
        )
            .prop_map(|(cid, code, message, data)| Envelope::Error {
                cid,
                code,
                message,
                data
            }),
        (".{0,30}", proptest::option::of(json_value()))
            .prop_map(|(event, data)| Envelope::Notification { event, data }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_kind_round_trips(o in owned(), id in frame_id(), ts in proptest::option::of(any::<i64>())) {
        let f = sbrp::sbp::Frame { frame_id: id, timestamp: ts, body: body(&o) };
        prop_assert!(f.validate().is_ok());
        let bytes = f.encode();
        prop_assert_eq!(bytes.len(), f.encoded_len());
        let back = sbrp::sbp::Frame::decode(&bytes).unwrap();
        prop_assert_eq!(back, f);
        let kind = Kind::from_u8(bytes[0]).unwrap();
        prop_assert_eq!(kind, f.body.kind());
        if kind == Kind::Control {
            prop_assert_eq!(ControlOp::from_u8(bytes[18 + if ts.is_some() { 8 } else { 0 }]), f.body.op());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        match sbrp::sbp::Frame::decode(&bytes) {
            Ok(f) => prop_assert_eq!(&f.encode(), &bytes),
            Err(e) => {
                prop_assert!(matches!(e.code(), WireCode::InvalidFrame | WireCode::ProtocolViolation));
                prop_assert!(e.offset() <= bytes.len());
            }
        }
        let _ = Handshake::parse(&bytes);
        let _ = Envelope::decode("rpc", &bytes);
    }

    #[test]
    fn header_prefixed_garbage_never_panics(kind in 0u8..5, flags in 0u8..2, rest in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = vec![kind, flags];
        bytes.extend_from_slice(&[9; 16]);
        bytes.extend_from_slice(&rest);
        if let Ok(f) = sbrp::sbp::Frame::decode(&bytes) {
            prop_assert_eq!(&f.encode(), &bytes);
        }
    }

    #[test]
    fn envelopes_round_trip(env in envelope()) {
        let bytes = env.encode();
        let back = Envelope::decode(env.subject(), &bytes).unwrap().unwrap();
        prop_assert_eq!(back, env);
    }

    #[test]
    fn subjects_follow_the_rules(s in ".{0,80}") {
        let ok = Channel::of(&s).is_ok();
        let want = !s.is_empty() && s.len() <= MAX_SUBJECT_LEN && !s.contains('\0')
            && (matches!(s.as_str(), "rpc" | "event" | "stream") || s.starts_with("app/"));
        prop_assert_eq!(ok, want);
    }
}
