//! Conformance against the reference vectors (`tests/vectors/sbrp-reference.json`, produced by
//! `@sideband/secure-relay` 0.5.0; see `tests/vectors/README.md`).
//!
//! Every entry of every section is walked. Each section has its own test
//! (`section_<name>`), which fails if the section is missing, empty, or walked fewer entries than
//! it holds; `vectors_walk_every_section` walks them all again, prints the per-section table and
//! fails on a top-level key this file does not know.
//!
//! Only `ok` and `code` of an error are normative; `message` strings are never compared. Where the
//! protocol page (`sbrp-protocol.md` §7) lists a label, the reference's recorded outcome differs
//! from ours on purpose: the test asserts OUR rule there and names it (D1…D11). Everything else
//! must match the reference exactly.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroU64;
use std::sync::OnceLock;

use serde_json::Value;

use sbrp::error::{Category, ControlCode, ErrorCode};
use sbrp::frame::{
    self, Control, Data, DataPayload, Direction, Frame, FrameHeader, FrameType, HandshakeAccept,
    HandshakeInit, PingPayload, RawFrame, Signal, SignalFrame, SignalReason, decode_frame,
    read_frame_header,
};
use sbrp::handshake::{
    self, ClientHandshake, Daemon, derive_session_keys, signature_payload, transcript_hash,
};
use sbrp::keys::{self, EphemeralSecret, IdentityKeyPair, IdentityPublicKey, fingerprint};
use sbrp::replay::{self, ReplayWindow};
use sbrp::session::{MAX_PLAINTEXT_LEN, Role, Session, SessionKeys, open_payload, seal_payload};
use sbrp::stream::{FrameReader, StreamDecoder};

// ---------------------------------------------------------------------------------------------
// Loading and small helpers
// ---------------------------------------------------------------------------------------------

const VECTORS: &str = include_str!("vectors/sbrp-reference.json");

fn vectors() -> &'static Value {
    static V: OnceLock<Value> = OnceLock::new();
    V.get_or_init(|| serde_json::from_str(VECTORS).expect("the vector file is valid JSON"))
}

fn section(name: &str) -> &'static Value {
    vectors()
        .get(name)
        .unwrap_or_else(|| panic!("the vector file has no section {name:?}"))
}

fn list(v: &Value) -> &Vec<Value> {
    v.as_array().expect("a JSON array")
}

fn obj(v: &Value) -> &serde_json::Map<String, Value> {
    v.as_object().expect("a JSON object")
}

fn st(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

fn hx(v: &Value) -> Vec<u8> {
    hex::decode(st(v)).unwrap_or_else(|e| panic!("bad hex {v}: {e}"))
}

fn hx32(v: &Value) -> [u8; 32] {
    hx(v).try_into().expect("32 bytes")
}

fn num(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("expected a number, got {v}"))
}

fn dec(v: &Value) -> u64 {
    st(v)
        .parse()
        .unwrap_or_else(|e| panic!("bad decimal u64 {v}: {e}"))
}

fn boolean(v: &Value) -> bool {
    v.as_bool()
        .unwrap_or_else(|| panic!("expected a bool, got {v}"))
}

fn label(e: &Value) -> &str {
    st(&e["label"])
}

/// Asserts that an object has exactly the keys we walk (a new key means a new kind of entry that
/// this file does not check yet).
fn assert_keys(v: &Value, known: &[&str], what: &str) {
    let have: BTreeSet<&str> = obj(v).keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = known.iter().copied().collect();
    assert_eq!(have, want, "{what}: unexpected set of keys");
}

/// The reference's error code of an `{ok:false, error:{code}}` entry (`None` when the reference
/// threw an untyped error).
fn ref_code(entry: &Value) -> Option<ErrorCode> {
    assert!(!boolean(&entry["ok"]), "expected an error entry: {entry}");
    match &entry["error"]["code"] {
        Value::Null => None,
        c => Some(ErrorCode::from_name(st(c)).unwrap_or_else(|| panic!("unknown code {c}"))),
    }
}

fn direction(name: &str) -> Direction {
    match name {
        "client_to_daemon" => Direction::ClientToDaemon,
        "daemon_to_client" => Direction::DaemonToClient,
        other => panic!("unknown direction {other:?}"),
    }
}

fn sid(v: u64) -> NonZeroU64 {
    NonZeroU64::new(v).expect("non-zero session id")
}

fn keys_of(c2d: [u8; 32], d2c: [u8; 32]) -> SessionKeys {
    SessionKeys {
        client_to_daemon: c2d.into(),
        daemon_to_client: d2c.into(),
    }
}

/// The receiving role for a direction.
fn receiver(dir: Direction) -> Role {
    match dir {
        Direction::ClientToDaemon => Role::Daemon,
        Direction::DaemonToClient => Role::Client,
    }
}

fn sender(dir: Direction) -> Role {
    match dir {
        Direction::ClientToDaemon => Role::Client,
        Direction::DaemonToClient => Role::Daemon,
    }
}

/// Runs handshake `hs` through the typed flow (ClientHandshake / Daemon with the fixed
/// ephemerals) and returns the session keys both sides agree on.
fn handshake_keys(hs: &Value) -> SessionKeys {
    static CACHE: OnceLock<Vec<SessionKeys>> = OnceLock::new();
    let all = CACHE.get_or_init(|| {
        list(section("handshakes"))
            .iter()
            .map(|h| run_typed_handshake(h).0)
            .collect()
    });
    let idx = list(section("handshakes"))
        .iter()
        .position(|h| std::ptr::eq(h, hs))
        .expect("a handshake of the file");
    all[idx].clone()
}

/// Returns (keys, accept frame bytes, init frame bytes).
fn run_typed_handshake(h: &Value) -> (SessionKeys, Vec<u8>, Vec<u8>) {
    let daemon_id = st(&h["daemonId"]);
    let session_id = sid(dec(&h["sessionId"]));
    let client = ClientHandshake::with_ephemeral(
        daemon_id,
        session_id,
        EphemeralSecret::from_bytes(hx32(&h["clientEphemeralPrivateKey"])),
    );
    let init = client.init();
    let init_frame = Frame::HandshakeInit(init).to_vec();
    // The daemon decodes the init from the wire.
    let Frame::HandshakeInit(init_rx) = decode_frame(&init_frame).expect("init decodes") else {
        panic!("not a HandshakeInit");
    };
    let daemon = Daemon::new(
        IdentityKeyPair::from_seed(&hx32(&h["identitySeed"])),
        daemon_id,
    );
    let (accept, daemon_session) = daemon
        .accept_with_ephemeral(
            &init_rx,
            EphemeralSecret::from_bytes(hx32(&h["daemonEphemeralPrivateKey"])),
        )
        .expect("daemon accepts");
    let accept_frame = Frame::HandshakeAccept(accept).to_vec();
    let Frame::HandshakeAccept(accept_rx) = decode_frame(&accept_frame).expect("accept decodes")
    else {
        panic!("not a HandshakeAccept");
    };
    let pinned = IdentityPublicKey::from_bytes(hx32(&h["identityPublicKey"]));
    let client_session = client.finish(&accept_rx, &pinned).expect("client finishes");
    assert_eq!(
        client_session.keys(),
        daemon_session.keys(),
        "both sides agree"
    );
    assert_eq!(client_session.role(), Role::Client);
    assert_eq!(daemon_session.role(), Role::Daemon);
    (client_session.keys().clone(), accept_frame, init_frame)
}

// ---------------------------------------------------------------------------------------------
// Section walkers: each returns how many entries it checked.
// ---------------------------------------------------------------------------------------------

fn walk_schema(v: &Value) -> usize {
    assert_eq!(st(v), "sbrp-vectors/1", "schema");
    1
}

fn walk_meta(v: &Value) -> usize {
    let mut n = 0;
    for (k, val) in obj(v) {
        match k.as_str() {
            // The file's own name: any non-empty string (a variant file may carry another).
            "name" => assert!(!st(val).trim().is_empty(), "meta.name"),
            "reference" => assert!(st(val).starts_with("@sideband/secure-relay 0.5.0")),
            "noble" => {
                assert_keys(val, &["ciphers", "curves", "hashes"], "meta.noble");
                for ver in obj(val).values() {
                    assert_eq!(st(ver), "2.4.0");
                }
            }
            "node" => assert!(st(val).starts_with("v20."), "Node 20"),
            "encoding" => assert!(st(val).contains("lowercase hex")),
            "rng" => assert!(st(val).contains("32 bytes")),
            other => panic!("meta: unknown key {other:?}"),
        }
        n += 1;
    }
    n
}

fn walk_constants(c: &Value) -> usize {
    let mut n = 0;
    for (k, v) in obj(c) {
        let int = || usize::try_from(num(v)).expect("usize");
        match k.as_str() {
            "SBRP_HANDSHAKE_CONTEXT" => assert_eq!(st(v).as_bytes(), handshake::HANDSHAKE_CONTEXT),
            "SBRP_TRANSCRIPT_CONTEXT" => {
                assert_eq!(st(v).as_bytes(), handshake::TRANSCRIPT_CONTEXT)
            }
            "SBRP_SESSION_KEYS_INFO" => assert_eq!(st(v).as_bytes(), handshake::SESSION_KEYS_INFO),
            "SESSION_KEYS_LENGTH" => {
                let k = derive_session_keys(&[1; 32], &[2; 32]);
                assert_eq!(int(), k.client_to_daemon.len() + k.daemon_to_client.len());
            }
            "SYMMETRIC_KEY_LENGTH" => assert_eq!(int(), sbrp::aead::KEY_LEN),
            "ED25519_PUBLIC_KEY_LENGTH"
            | "ED25519_PRIVATE_KEY_LENGTH"
            | "X25519_PUBLIC_KEY_LENGTH"
            | "X25519_PRIVATE_KEY_LENGTH" => assert_eq!(int(), keys::KEY_LEN, "{k}"),
            "ED25519_SIGNATURE_LENGTH" => assert_eq!(int(), keys::SIGNATURE_LEN),
            "NONCE_LENGTH" => assert_eq!(int(), frame::NONCE_LEN),
            "AUTH_TAG_LENGTH" => assert_eq!(int(), frame::TAG_LEN),
            "DEFAULT_REPLAY_WINDOW_SIZE" => {
                assert_eq!(num(v), u64::from(replay::DEFAULT_WINDOW));
                assert_eq!(num(v), u64::from(ReplayWindow::new().size()));
                let s = Session::new(Role::Client, keys_of([0; 32], [0; 32]));
                assert_eq!(num(v), u64::from(s.replay_window().size()));
                // The specification demands at least 64 for a session.
                let k = || keys_of([0; 32], [0; 32]);
                assert!(Session::with_window(Role::Client, k(), 63).is_none());
                assert!(Session::with_window(Role::Client, k(), 64).is_some());
            }
            "DIRECTION_CLIENT_TO_DAEMON" => assert_eq!(
                hx(v),
                Direction::ClientToDaemon.as_u32().to_be_bytes(),
                "{k}"
            ),
            "DIRECTION_DAEMON_TO_CLIENT" => assert_eq!(
                hx(v),
                Direction::DaemonToClient.as_u32().to_be_bytes(),
                "{k}"
            ),
            "FRAME_HEADER_SIZE" => assert_eq!(int(), frame::HEADER_LEN),
            "MAX_PAYLOAD_SIZE" => {
                assert_eq!(int(), frame::MAX_PAYLOAD_LEN);
                assert_eq!(frame::MAX_FRAME_LEN, frame::HEADER_LEN + int());
                assert_eq!(MAX_PLAINTEXT_LEN, int() - frame::MIN_DATA_LEN);
                assert_eq!(MAX_PLAINTEXT_LEN, 65508);
            }
            "HANDSHAKE_INIT_PAYLOAD_SIZE" => assert_eq!(int(), frame::HANDSHAKE_INIT_LEN),
            "HANDSHAKE_ACCEPT_PAYLOAD_SIZE" => assert_eq!(int(), frame::HANDSHAKE_ACCEPT_LEN),
            "MIN_ENCRYPTED_PAYLOAD_SIZE" => assert_eq!(int(), frame::MIN_DATA_LEN),
            "MIN_CONTROL_PAYLOAD_SIZE" => assert_eq!(int(), frame::MIN_CONTROL_LEN),
            "SIGNAL_PAYLOAD_SIZE" => assert_eq!(int(), frame::SIGNAL_LEN),
            "MAX_PING_PAYLOAD_SIZE" => assert_eq!(int(), frame::MAX_PING_LEN),
            "FrameType" => {
                let map = obj(v);
                assert_eq!(
                    map.len(),
                    FrameType::ALL.len(),
                    "same number of frame types"
                );
                for (name, byte) in map {
                    let t = FrameType::from_u8(u8::try_from(num(byte)).unwrap())
                        .unwrap_or_else(|| panic!("frame type {name} unknown to us"));
                    assert_eq!(t.name(), name);
                    assert_eq!(u64::from(t.as_u8()), num(byte));
                }
                // Every other byte is invalid for us too.
                let known: BTreeSet<u64> = map.values().map(num).collect();
                for b in 0..=255u8 {
                    assert_eq!(
                        FrameType::from_u8(b).is_some(),
                        known.contains(&u64::from(b)),
                        "type byte {b:#04x}"
                    );
                }
            }
            "SignalCode" => {
                let map = obj(v);
                for (name, byte) in map {
                    let s = Signal::from_u8(u8::try_from(num(byte)).unwrap())
                        .unwrap_or_else(|| panic!("signal {name} unknown to us"));
                    assert_eq!(format!("{s:?}"), *name);
                    assert_eq!(u64::from(s as u8), num(byte));
                }
                assert!(Signal::from_u8(map.len() as u8).is_none());
            }
            "SignalReason" => {
                let map = obj(v);
                for (name, byte) in map {
                    let r = SignalReason::from_u8(u8::try_from(num(byte)).unwrap());
                    assert_eq!(format!("{r:?}"), *name);
                    assert_eq!(u64::from(r.as_u8()), num(byte));
                }
                let next = map.len() as u8;
                assert_eq!(SignalReason::from_u8(next), SignalReason::Unknown(next));
            }
            "Direction" => {
                let map = obj(v);
                assert_eq!(map.len(), 2);
                for (name, value) in map {
                    let d = Direction::from_u32(u32::try_from(num(value)).unwrap())
                        .unwrap_or_else(|| panic!("direction {name} unknown to us"));
                    assert_eq!(format!("{d:?}"), *name);
                }
            }
            other => panic!("constants: {other:?} is not compared with ours; add it"),
        }
        n += 1;
    }
    n
}

fn walk_identities(v: &Value) -> usize {
    for e in list(v) {
        let seed = hx32(&e["seed"]);
        let id = IdentityKeyPair::from_seed(&seed);
        assert_eq!(
            hx(&e["privateKey"]),
            seed,
            "{}: private key is the seed",
            label(e)
        );
        assert_eq!(*id.seed(), seed);
        assert_eq!(
            id.public_key().as_bytes().to_vec(),
            hx(&e["publicKey"]),
            "{}",
            label(e)
        );
        let fp = st(&e["fingerprint"]);
        assert_eq!(id.fingerprint(), fp, "{}", label(e));
        assert_eq!(id.public_key().fingerprint(), fp);
        assert_eq!(fingerprint(&hx(&e["publicKey"])), fp);
        assert_eq!(fp.len(), keys::FINGERPRINT_LEN);
    }
    list(v).len()
}

fn walk_ephemeral_keys(v: &Value) -> usize {
    for e in list(v) {
        let secret = EphemeralSecret::from_bytes(hx32(&e["privateKey"]));
        assert_eq!(
            secret.public_key().to_vec(),
            hx(&e["publicKey"]),
            "{}",
            label(e)
        );
    }
    list(v).len()
}

fn walk_fingerprints(v: &Value) -> usize {
    for e in list(v) {
        assert_eq!(
            fingerprint(&hx(&e["input"])),
            st(&e["fingerprint"]),
            "{}",
            label(e)
        );
    }
    list(v).len()
}

fn walk_handshakes(v: &Value) -> usize {
    for h in list(v) {
        let l = label(h);
        let daemon_id = st(&h["daemonId"]);
        assert_eq!(hx(&h["daemonIdUtf8Hex"]), daemon_id.as_bytes(), "{l}");
        let session_id = dec(&h["sessionId"]);
        assert_eq!(st(&h["sessionIdHex"]), format!("{session_id:#018x}"), "{l}");

        // Identity.
        let id = IdentityKeyPair::from_seed(&hx32(&h["identitySeed"]));
        assert_eq!(
            id.public_key().as_bytes().to_vec(),
            hx(&h["identityPublicKey"]),
            "{l}"
        );
        assert_eq!(id.fingerprint(), st(&h["identityFingerprint"]), "{l}");

        // Ephemerals.
        let c_pub = hx32(&h["clientEphemeralPublicKey"]);
        let d_pub = hx32(&h["daemonEphemeralPublicKey"]);
        let c_sec = || EphemeralSecret::from_bytes(hx32(&h["clientEphemeralPrivateKey"]));
        let d_sec = || EphemeralSecret::from_bytes(hx32(&h["daemonEphemeralPrivateKey"]));
        assert_eq!(c_sec().public_key(), c_pub, "{l}");
        assert_eq!(d_sec().public_key(), d_pub, "{l}");

        // Signature preimage, payload (= SHA-256 of the preimage), signature.
        let mut pre = handshake::HANDSHAKE_CONTEXT.to_vec();
        pre.extend_from_slice(daemon_id.as_bytes());
        pre.extend_from_slice(&c_pub);
        pre.extend_from_slice(&d_pub);
        assert_eq!(pre, hx(&h["signaturePreimage"]), "{l}: signature preimage");
        let sig_payload = signature_payload(daemon_id.as_bytes(), &c_pub, &d_pub);
        assert_eq!(sig_payload.to_vec(), hx(&h["signaturePayload"]), "{l}");
        assert_eq!(
            sig_payload.to_vec(),
            sha256(&pre),
            "{l}: signature_payload is SHA-256 of the preimage"
        );
        let signature = id.sign(&sig_payload);
        assert_eq!(
            signature.to_vec(),
            hx(&h["signature"]),
            "{l}: Ed25519 is deterministic"
        );
        assert!(
            id.public_key().verify_strict(&sig_payload, &signature),
            "{l}"
        );

        // Shared secret, both sides.
        let shared = c_sec().diffie_hellman(&d_pub).expect("contributory");
        let shared_d = d_sec().diffie_hellman(&c_pub).expect("contributory");
        assert_eq!(*shared, *shared_d, "{l}");
        assert_eq!(
            shared.to_vec(),
            hx(&h["sharedSecret"]),
            "{l}: shared secret"
        );

        // Transcript.
        let mut tpre = handshake::TRANSCRIPT_CONTEXT.to_vec();
        tpre.extend_from_slice(daemon_id.as_bytes());
        tpre.extend_from_slice(&c_pub);
        tpre.extend_from_slice(&d_pub);
        tpre.extend_from_slice(&signature);
        assert_eq!(
            tpre,
            hx(&h["transcriptPreimage"]),
            "{l}: transcript preimage"
        );
        let transcript = transcript_hash(daemon_id.as_bytes(), &c_pub, &d_pub, &signature);
        assert_eq!(transcript.to_vec(), hx(&h["transcriptHash"]), "{l}");
        assert_eq!(transcript.to_vec(), sha256(&tpre), "{l}");

        // HKDF.
        let hk = &h["hkdf"];
        assert_keys(
            hk,
            &["hash", "ikm", "salt", "info", "infoHex", "length", "okm"],
            "hkdf",
        );
        assert_eq!(st(&hk["hash"]), "SHA-256");
        assert_eq!(hx(&hk["ikm"]), shared.to_vec(), "{l}: ikm = shared secret");
        assert_eq!(
            hx(&hk["salt"]),
            transcript.to_vec(),
            "{l}: salt = transcript"
        );
        assert_eq!(st(&hk["info"]).as_bytes(), handshake::SESSION_KEYS_INFO);
        assert_eq!(hx(&hk["infoHex"]), handshake::SESSION_KEYS_INFO);
        assert_eq!(num(&hk["length"]), 64);
        let keys = derive_session_keys(&shared, &transcript);
        let mut okm = keys.client_to_daemon.to_vec();
        okm.extend_from_slice(&*keys.daemon_to_client);
        assert_eq!(okm, hx(&hk["okm"]), "{l}: okm");
        let sk = &h["sessionKeys"];
        assert_eq!(
            keys.client_to_daemon.to_vec(),
            hx(&sk["clientToDaemon"]),
            "{l}"
        );
        assert_eq!(
            keys.daemon_to_client.to_vec(),
            hx(&sk["daemonToClient"]),
            "{l}"
        );

        // Init payload and frame: low-level and typed.
        let sid_nz = sid(session_id);
        assert_eq!(hx(&h["handshakeInitPayload"]), c_pub, "{l}");
        let init_frame = hx(&h["handshakeInitFrame"]);
        assert_eq!(
            RawFrame::new(FrameType::HandshakeInit, session_id, &c_pub)
                .unwrap()
                .to_vec(),
            init_frame,
            "{l}: init frame (raw)"
        );
        assert_eq!(
            Frame::HandshakeInit(HandshakeInit {
                session_id: sid_nz,
                client_key: c_pub
            })
            .to_vec(),
            init_frame,
            "{l}: init frame (typed)"
        );

        // Accept payload and frame.
        let accept_payload = hx(&h["handshakeAcceptPayload"]);
        assert_eq!(
            &accept_payload[..32],
            id.public_key().as_bytes(),
            "{l}: layout"
        );
        assert_eq!(&accept_payload[32..64], &d_pub, "{l}: layout");
        assert_eq!(&accept_payload[64..], &signature, "{l}: layout");
        assert!(st(&h["handshakeAcceptLayout"]).contains("signature[64..128]"));
        let accept = HandshakeAccept {
            session_id: sid_nz,
            identity_key: id.public_key(),
            ephemeral_key: d_pub,
            signature,
        };
        assert_eq!(accept.payload().to_vec(), accept_payload, "{l}");
        let accept_frame = hx(&h["handshakeAcceptFrame"]);
        assert_eq!(Frame::HandshakeAccept(accept).to_vec(), accept_frame, "{l}");
        assert_eq!(
            RawFrame::new(FrameType::HandshakeAccept, session_id, &accept_payload)
                .unwrap()
                .to_vec(),
            accept_frame,
            "{l}"
        );

        // The typed flow with the fixed ephemerals gives the same bytes and keys.
        let (typed_keys, typed_accept, typed_init) = run_typed_handshake(h);
        assert_eq!(typed_init, init_frame, "{l}: ClientHandshake init frame");
        assert_eq!(typed_accept, accept_frame, "{l}: Daemon accept frame");
        assert_eq!(typed_keys, keys, "{l}: typed flow keys");

        // First contact (TOFU) gives the same session.
        let client = ClientHandshake::with_ephemeral(daemon_id, sid_nz, c_sec());
        let Frame::HandshakeAccept(rx) = decode_frame(&accept_frame).unwrap() else {
            panic!("{l}: accept frame is not a HandshakeAccept")
        };
        let s = client.finish_first_contact(&rx).expect("first contact");
        assert_eq!(*s.keys(), keys, "{l}: first contact keys");
    }
    list(v).len()
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

/// Checks a `plaintextPattern` such as `byte[i] = (i*7 + 3) & 0xff`.
fn check_pattern(pattern: &str, pt: &[u8]) {
    let inner = pattern
        .strip_prefix("byte[i] = (i*")
        .and_then(|r| r.strip_suffix(") & 0xff"))
        .unwrap_or_else(|| panic!("unknown pattern {pattern:?}"));
    let (mul, add) = inner.split_once(" + ").expect("i*A + B");
    let (mul, add): (usize, usize) = (mul.parse().unwrap(), add.parse().unwrap());
    for (i, b) in pt.iter().enumerate() {
        assert_eq!(usize::from(*b), (i * mul + add) & 0xff, "pattern byte {i}");
    }
}

fn walk_messages(v: &Value) -> usize {
    let handshakes = list(section("handshakes"));
    // Senders and receivers of the session-API entries, per (handshake, direction).
    let mut senders: HashMap<(u64, Direction), Session> = HashMap::new();
    let mut receivers: HashMap<(u64, Direction), Session> = HashMap::new();
    let mut n = 0;
    for (i, m) in list(v).iter().enumerate() {
        let hs_index = num(&m["handshake"]);
        let hs = &handshakes[hs_index as usize];
        let session_id = dec(&hs["sessionId"]);
        let dir = direction(st(&m["direction"]));
        let seq = dec(&m["seq"]);
        let l = format!("messages[{i}] (handshake {hs_index}, {dir}, seq {seq})");
        assert_eq!(st(&m["seqHex"]), format!("{seq:#018x}"), "{l}");
        let keys = handshake_keys(hs);
        let key = *keys.for_direction(dir);
        assert_eq!(key.to_vec(), hx(&m["key"]), "{l}: key of the direction");
        let pt = hx(&m["plaintext"]);
        assert_eq!(pt.len() as u64, num(&m["plaintextLength"]), "{l}");
        match &m["plaintextUtf8"] {
            Value::Null => {}
            s => assert_eq!(st(s).as_bytes(), pt, "{l}"),
        }
        if let Some(p) = m.get("plaintextPattern") {
            check_pattern(st(p), &pt);
        }
        let nonce = hx(&m["nonce"]);
        assert_eq!(nonce, dir.nonce(seq), "{l}: nonce");
        let payload = hx(&m["payload"]);
        let mut joined = nonce.clone();
        joined.extend(hx(&m["ciphertext"]));
        joined.extend(hx(&m["tag"]));
        assert_eq!(joined, payload, "{l}: payload = nonce || ciphertext || tag");
        let frame_bytes = hx(&m["frame"]);

        // Low level, explicit seq.
        assert_eq!(
            seal_payload(&key, dir, seq, &pt).unwrap(),
            payload,
            "{l}: seal_payload"
        );
        assert_eq!(
            open_payload(&key, &payload).unwrap(),
            (dir.as_u32(), seq, pt.clone()),
            "{l}: open_payload"
        );
        assert_eq!(
            RawFrame::new(FrameType::Data, session_id, &payload)
                .unwrap()
                .to_vec(),
            frame_bytes,
            "{l}: frame (raw)"
        );
        let data = Frame::Data(Data {
            session_id: sid(session_id),
            payload: DataPayload::new(&payload).unwrap(),
        });
        assert_eq!(data.to_vec(), frame_bytes, "{l}: frame (typed)");
        let Frame::Data(rx) = decode_frame(&frame_bytes).unwrap() else {
            panic!("{l}: not a Data frame")
        };
        assert_eq!(rx.payload.seq(), seq);
        assert_eq!(rx.payload.direction(), Some(dir));
        assert_eq!(rx.payload.nonce().to_vec(), nonce);
        assert_eq!(rx.payload.ciphertext().to_vec(), hx(&m["ciphertext"]));
        assert_eq!(rx.payload.tag().to_vec(), hx(&m["tag"]));

        match st(&m["api"]) {
            api @ ("encryptClientToDaemon" | "encryptDaemonToClient") => {
                assert_eq!(
                    api == "encryptClientToDaemon",
                    dir == Direction::ClientToDaemon,
                    "{l}"
                );
                // A Session with its own counter produces this message as its seq-th.
                let tx = senders
                    .entry((hs_index, dir))
                    .or_insert_with(|| Session::new(sender(dir), keys.clone()));
                assert_eq!(tx.next_seq(), Some(seq), "{l}: session counter");
                let out = tx.encrypt_frame(sid(session_id), &pt).unwrap();
                assert_eq!(out, frame_bytes, "{l}: Session::encrypt_frame");
                // The peer decrypts it, in order.
                let rxs = receivers
                    .entry((hs_index, dir))
                    .or_insert_with(|| Session::new(receiver(dir), keys.clone()));
                assert_eq!(rxs.decrypt(&payload).unwrap(), pt, "{l}: Session::decrypt");
                // A sender cannot open its own direction.
                let mut own = Session::new(sender(dir), keys.clone());
                assert_eq!(
                    own.decrypt(&payload).unwrap_err().code(),
                    ErrorCode::DecryptFailed,
                    "{l}: own direction"
                );
            }
            "encrypt" => {
                // Explicit seq: a fresh Session skipped to seq produces the same payload, in place.
                let mut tx = Session::new(sender(dir), keys.clone());
                tx.skip_to(seq).unwrap();
                let mut buf = vec![0u8; pt.len() + frame::MIN_DATA_LEN];
                buf[frame::NONCE_LEN..frame::NONCE_LEN + pt.len()].copy_from_slice(&pt);
                tx.seal_in_place(&mut buf).unwrap();
                assert_eq!(buf, payload, "{l}: Session::seal_in_place at seq");
                assert_eq!(tx.next_seq(), seq.checked_add(1), "{l}");
                // Both ways: the receiving session opens it in place and with decrypt.
                let mut rxs = Session::new(receiver(dir), keys.clone());
                let mut inplace = payload.clone();
                assert_eq!(rxs.open_in_place(&mut inplace).unwrap(), &pt[..], "{l}");
                let mut rxs = Session::new(receiver(dir), keys.clone());
                assert_eq!(rxs.decrypt(&payload).unwrap(), pt, "{l}");
                assert_eq!(rxs.replay_window().max_seen(), Some(seq));
            }
            other => panic!("{l}: unknown api {other:?}"),
        }
        n += 1;
    }
    n
}

fn walk_oversize(v: &Value) -> usize {
    assert_keys(v, &["ok", "error"], "oversizePlaintext65509");
    let want = ref_code(v);
    assert_eq!(want, Some(ErrorCode::PayloadTooLarge));
    let pt = vec![0u8; MAX_PLAINTEXT_LEN + 1];
    assert_eq!(pt.len(), 65509);
    let keys = keys_of([7; 32], [8; 32]);
    let code = seal_payload(&[7; 32], Direction::ClientToDaemon, 0, &pt)
        .unwrap_err()
        .code();
    assert_eq!(Some(code), want, "seal_payload 65509");
    let mut s = Session::new(Role::Client, keys);
    assert_eq!(
        Some(s.encrypt(&pt).unwrap_err().code()),
        want,
        "encrypt 65509"
    );
    assert_eq!(
        Some(s.encrypt_frame(sid(1), &pt).unwrap_err().code()),
        want,
        "encrypt_frame 65509"
    );
    let mut buf = vec![0u8; pt.len() + frame::MIN_DATA_LEN];
    assert_eq!(Some(s.seal_in_place(&mut buf).unwrap_err().code()), want);
    // A refusal does not use up a sequence number.
    assert_eq!(s.next_seq(), Some(0));
    // The largest plaintext is fine.
    assert!(s.encrypt(&pt[..MAX_PLAINTEXT_LEN]).is_ok());
    1
}

fn walk_sequence_exhaustion(v: &Value) -> usize {
    assert_keys(v, &["note", "lastValid", "next"], "sequenceExhaustion");
    let keys = handshake_keys(&list(section("handshakes"))[0]);
    let key = *keys.client_to_daemon;
    let last = &v["lastValid"];
    assert_eq!(dec(&last["seq"]), u64::MAX);
    assert_eq!(
        hx(&last["nonce"]),
        Direction::ClientToDaemon.nonce(u64::MAX)
    );
    let last_payload = hx(&last["payload"]);
    let (d, seq, pt) = open_payload(&key, &last_payload).expect("lastValid opens with c2d key");
    assert_eq!((d, seq), (1, u64::MAX));
    // Our session reaches seq 2^64-1 and produces the same bytes.
    let mut s = Session::new(Role::Client, keys.clone());
    s.skip_to(u64::MAX).unwrap();
    assert_eq!(s.encrypt(&pt).unwrap(), last_payload, "lastValid payload");
    assert_eq!(s.next_seq(), None);

    // D5: after seq 2^64-1 the next encrypt fails with sequence_error; it never wraps to 0
    // (the reference wraps and reuses the seq-0 nonce, recorded in `next`).
    let next = &v["next"];
    assert_eq!(
        st(&next["returnedSeq"]).parse::<u128>().unwrap(),
        u128::from(u64::MAX) + 1,
        "the reference's counter went past u64 (unrepresentable in our u64 counter)"
    );
    assert!(boolean(&next["nonceEqualsSeq0Nonce"]));
    assert_eq!(hx(&next["nonce"]), Direction::ClientToDaemon.nonce(0));
    let err = s.encrypt(&pt).unwrap_err();
    assert_eq!(
        err.code(),
        ErrorCode::SequenceError,
        "D5: no encrypt after 2^64-1"
    );
    let mut buf = vec![0u8; pt.len() + frame::MIN_DATA_LEN];
    assert_eq!(
        s.seal_in_place(&mut buf).unwrap_err().code(),
        ErrorCode::SequenceError,
        "D5 (in place)"
    );
    assert_eq!(
        s.encrypt_frame(sid(1), &pt).unwrap_err().code(),
        ErrorCode::SequenceError,
        "D5 (frame)"
    );
    assert_eq!(
        s.skip_to(0).unwrap_err().code(),
        ErrorCode::SequenceError,
        "D5: the counter cannot be moved back"
    );
    // The reference's wrapped payload really is a seq-0 nonce: our receiver accepts it once
    // as seq 0, proving why wrapping is unsafe.
    let (_, wrapped_seq, _) = open_payload(&key, &hx(&next["payload"])).unwrap();
    assert_eq!(wrapped_seq, 0);
    2
}

fn walk_frames(v: &Value) -> usize {
    for f in list(v) {
        let l = label(f);
        let bytes = hx(&f["frame"]);
        let d = &f["decoded"];
        let raw = RawFrame::decode(&bytes).unwrap_or_else(|e| panic!("{l}: {e}"));
        assert_eq!(u64::from(raw.frame_type().as_u8()), num(&d["type"]), "{l}");
        assert_eq!(
            st(&d["typeHex"]),
            format!("{:#04x}", raw.frame_type().as_u8()),
            "{l}"
        );
        assert_eq!(raw.payload().len() as u64, num(&d["length"]), "{l}");
        assert_eq!(
            u64::from(FrameHeader::read(&bytes).unwrap().length),
            num(&d["length"])
        );
        assert_eq!(raw.session_id(), dec(&d["sessionId"]), "{l}");
        assert_eq!(raw.payload().to_vec(), hx(&d["payload"]), "{l}");
        assert_eq!(
            RawFrame::new(raw.frame_type(), raw.session_id(), raw.payload())
                .unwrap()
                .to_vec(),
            bytes,
            "{l}: raw re-encode"
        );

        let typed = decode_frame(&bytes).unwrap_or_else(|e| panic!("{l}: {e}"));
        assert_eq!(typed.to_vec(), bytes, "{l}: typed re-encode");
        assert_eq!(typed.frame_type(), raw.frame_type());
        assert_eq!(typed.session_id(), raw.session_id());
        let t = f.get("typed");
        match typed {
            Frame::HandshakeInit(i) => {
                let t = t.expect("typed");
                assert_keys(t, &["initPublicKey"], l);
                assert_eq!(i.client_key.to_vec(), hx(&t["initPublicKey"]), "{l}");
            }
            Frame::HandshakeAccept(a) => {
                let t = t.expect("typed");
                assert_keys(t, &["identityPublicKey", "acceptPublicKey", "signature"], l);
                assert_eq!(
                    a.identity_key.as_bytes().to_vec(),
                    hx(&t["identityPublicKey"])
                );
                assert_eq!(a.ephemeral_key.to_vec(), hx(&t["acceptPublicKey"]), "{l}");
                assert_eq!(a.signature.to_vec(), hx(&t["signature"]), "{l}");
            }
            Frame::Data(dt) => {
                let t = t.expect("typed");
                assert_keys(t, &["seq", "data"], l);
                assert_eq!(dt.payload.seq(), dec(&t["seq"]), "{l}");
                assert_eq!(dt.payload.as_bytes().to_vec(), hx(&t["data"]), "{l}");
            }
            Frame::Signal(s) => {
                let t = t.expect("typed");
                assert_keys(t, &["signal", "reason"], l);
                assert_eq!(u64::from(s.signal as u8), num(&t["signal"]), "{l}");
                assert_eq!(u64::from(s.reason.as_u8()), num(&t["reason"]), "{l}");
                assert!(!matches!(s.reason, SignalReason::Unknown(_)), "{l}");
            }
            Frame::Ping(p) | Frame::Pong(p) => {
                assert!(t.is_none(), "{l}: Ping/Pong have no typed fields");
                assert_eq!(p.as_bytes().to_vec(), hx(&d["payload"]), "{l}");
            }
            Frame::Control(c) => {
                let t = t.expect("typed");
                for key in obj(t).keys() {
                    assert!(
                        ["code", "codeHex", "name", "sbrpCode", "terminal", "message"]
                            .contains(&key.as_str()),
                        "{l}: typed field {key} not checked"
                    );
                }
                assert_eq!(u64::from(c.code.0), num(&t["code"]), "{l}");
                let known = c.code.known().expect("known code");
                if let Some(h) = t.get("codeHex") {
                    assert_eq!(st(h), format!("{:#06x}", c.code.0));
                }
                if let Some(n) = t.get("name") {
                    assert_eq!(format!("{known:?}"), st(n), "{l}");
                }
                if let Some(n) = t.get("sbrpCode") {
                    assert_eq!(c.code.name(), Some(st(n)), "{l}");
                }
                if let Some(term) = t.get("terminal") {
                    assert_eq!(c.code.is_terminal(), boolean(term), "{l}");
                }
                assert_eq!(c.message_lossy(), st(&t["message"]), "{l}");
            }
        }
    }
    list(v).len()
}

/// The encoder refusals. Our typed encoder ([`Frame`]) makes most of the reference's
/// argument errors unrepresentable; the checked raw path (`RawFrame::new` + `parse`) is what we
/// compare codes with.
fn walk_encode_errors(v: &Value) -> usize {
    let zeros = [0u8; 65537];
    for e in list(v) {
        let l = label(e);
        let ok = boolean(&e["ok"]);
        let ours_new = |t: FrameType, sid: u64, len: usize| {
            RawFrame::new(t, sid, &zeros[..len]).map(|f| f.to_vec())
        };
        let ours_parse = |t: FrameType, len: usize| {
            RawFrame::new(t, 1, &zeros[..len])
                .unwrap()
                .parse()
                .map(|f| f.to_vec())
        };
        match l {
            "encodeFrame Data sid=0"
            | "encodeFrame HandshakeInit sid=0"
            | "encodeFrame HandshakeAccept sid=0"
            | "encodeFrame Signal sid=0" => {
                let t = match l.split(' ').nth(1).unwrap() {
                    "Data" => FrameType::Data,
                    "HandshakeInit" => FrameType::HandshakeInit,
                    "HandshakeAccept" => FrameType::HandshakeAccept,
                    _ => FrameType::Signal,
                };
                assert_eq!(ref_code(e), Some(ErrorCode::MalformedFrame));
                // D2: session-id rule → invalid_session_id (reference: malformed_frame).
                let len = match t {
                    FrameType::Data => 28,
                    FrameType::HandshakeInit => 32,
                    FrameType::HandshakeAccept => 128,
                    _ => 2,
                };
                assert_eq!(
                    ours_new(t, 0, len).unwrap_err().code(),
                    ErrorCode::InvalidSessionId,
                    "{l}: D2 session-id rule → invalid_session_id"
                );
                // The typed frames carry a NonZeroU64: sid 0 is unrepresentable.
                assert!(NonZeroU64::new(0).is_none());
            }
            "encodeFrame Ping sid=1" | "encodeFrame Pong sid=1" => {
                assert_eq!(ref_code(e), Some(ErrorCode::MalformedFrame));
                let t = if l.contains("Ping") {
                    FrameType::Ping
                } else {
                    FrameType::Pong
                };
                assert_eq!(
                    ours_new(t, 1, 0).unwrap_err().code(),
                    ErrorCode::InvalidSessionId,
                    "{l}: D2 session-id rule → invalid_session_id"
                );
                // Frame::Ping / Frame::Pong carry no session id at all: always 0 on the wire.
                let p = Frame::Ping(PingPayload::default());
                assert_eq!(p.session_id(), 0);
            }
            "encodeFrame sid=-1" | "encodeFrame sid=2^64" => {
                assert_eq!(ref_code(e), Some(ErrorCode::MalformedFrame));
                // D2 (encode): a session id outside u64 cannot even be expressed: our session ids
                // are u64 / NonZeroU64.
                let wanted: i128 = if l.ends_with("-1") { -1 } else { 1 << 64 };
                assert!(
                    u64::try_from(wanted).is_err(),
                    "{l}: unrepresentable in our types"
                );
            }
            "encodeFrame payload 65537" => {
                assert_eq!(ref_code(e), Some(ErrorCode::PayloadTooLarge));
                for t in FrameType::ALL {
                    let sid = u64::from(t.session_rule().allows(1));
                    assert_eq!(
                        ours_new(t, sid, 65537).unwrap_err().code(),
                        ErrorCode::PayloadTooLarge,
                        "{l} ({t})"
                    );
                }
                assert!(DataPayload::new(&zeros).is_none(), "typed Data payload");
            }
            "encodeFrame payload 65536 (ok)" => {
                assert!(ok);
                let bytes = ours_new(FrameType::Data, 1, 65536).unwrap();
                assert_eq!(bytes.len() as u64, num(&e["value"]), "{l}");
                let typed = Frame::Data(Data {
                    session_id: sid(1),
                    payload: DataPayload::new(&zeros[..65536]).unwrap(),
                });
                assert_eq!(typed.to_vec(), bytes, "{l}");
            }
            "encodeFrame sid=0 AND payload 65537 (which check wins)" => {
                assert_eq!(ref_code(e), Some(ErrorCode::MalformedFrame));
                assert_eq!(
                    ours_new(FrameType::Data, 0, 65537).unwrap_err().code(),
                    ErrorCode::PayloadTooLarge,
                    "{l}: D2 with D1 order: size is checked first → payload_too_large"
                );
            }
            "encodeFrame unknown type 0x99 (not validated by encoder)" => {
                assert!(ok);
                assert_eq!(num(&e["value"]), 14);
                // Reference quirk: it encodes any type byte. Our FrameType has no 0x99, so an
                // unknown frame type cannot reach our encoder; the conversion refuses it.
                assert!(FrameType::from_u8(0x99).is_none(), "{l}: unrepresentable");
                assert_eq!(
                    FrameType::try_from(0x99).unwrap_err().code(),
                    ErrorCode::InvalidFrameType,
                    "{l}: refused"
                );
            }
            "encodeHandshakeInit 31-byte key" | "encodeHandshakeInit 33-byte key" => {
                let len = if l.contains("31") { 31 } else { 33 };
                assert_eq!(ref_code(e), Some(ErrorCode::MalformedFrame));
                assert!(
                    <[u8; 32]>::try_from(&zeros[..len]).is_err(),
                    "typed: [u8; 32]"
                );
                assert_eq!(
                    Some(
                        ours_parse(FrameType::HandshakeInit, len)
                            .unwrap_err()
                            .code()
                    ),
                    ref_code(e),
                    "{l}"
                );
            }
            "encodeHandshakeAccept identity 31"
            | "encodeHandshakeAccept accept 33"
            | "encodeHandshakeAccept signature 63" => {
                assert_eq!(ref_code(e), Some(ErrorCode::MalformedFrame));
                // Fields are [u8; 32] / [u8; 64] in HandshakeAccept: wrong sizes are
                // unrepresentable; the checked raw path refuses the 127/129-byte payload.
                let len = match l.rsplit(' ').next().unwrap() {
                    "31" => {
                        assert!(<[u8; 32]>::try_from(&zeros[..31]).is_err());
                        127
                    }
                    "33" => {
                        assert!(<[u8; 32]>::try_from(&zeros[..33]).is_err());
                        129
                    }
                    _ => {
                        assert!(<[u8; 64]>::try_from(&zeros[..63]).is_err());
                        127
                    }
                };
                assert_eq!(
                    Some(
                        ours_parse(FrameType::HandshakeAccept, len)
                            .unwrap_err()
                            .code()
                    ),
                    ref_code(e),
                    "{l}"
                );
            }
            "encodeData 27-byte payload" => {
                assert!(
                    DataPayload::new(&zeros[..27]).is_none(),
                    "{l}: typed refuses"
                );
                assert_eq!(
                    Some(ours_parse(FrameType::Data, 27).unwrap_err().code()),
                    ref_code(e),
                    "{l}"
                );
            }
            "encodePing 9 bytes" | "encodePong 9 bytes" => {
                assert_eq!(
                    Some(PingPayload::new(&zeros[..9]).unwrap_err().code()),
                    ref_code(e),
                    "{l}"
                );
                let t = if l.contains("Ping") {
                    FrameType::Ping
                } else {
                    FrameType::Pong
                };
                let raw = RawFrame::new(t, 0, &zeros[..9]).unwrap();
                assert_eq!(Some(raw.parse().unwrap_err().code()), ref_code(e), "{l}");
            }
            "encodeSignal unknown signal 0x07 (not validated by encoder)" => {
                assert!(ok);
                // Reference quirk: it encodes any signal byte. Our Signal enum has only Ready and
                // Close, so signal 0x07 is unrepresentable in a typed Signal frame; the raw
                // layer writes the same bytes, and our decoder refuses them (malformed_frame).
                assert!(Signal::from_u8(7).is_none(), "{l}: unrepresentable");
                let bytes = RawFrame::new(FrameType::Signal, 1, &[7, 9])
                    .unwrap()
                    .to_vec();
                assert_eq!(bytes, hx(&e["value"]), "{l}: raw bytes");
                assert_eq!(
                    decode_frame(&bytes).unwrap_err().code(),
                    ErrorCode::MalformedFrame
                );
            }
            "encodeControl unknown code 0x9999 (not validated by encoder)" => {
                assert!(ok);
                let bytes =
                    Frame::Control(Control::new(0, ControlCode(0x9999), b"").unwrap()).to_vec();
                assert_eq!(bytes, hx(&e["value"]), "{l}");
            }
            "encodeControl code > 0xffff 0x10101 (DataView truncates to uint16)" => {
                assert!(ok);
                // Reference quirk: a 17-bit code is silently truncated. Our ControlCode is a
                // u16, so 0x10101 is unrepresentable.
                assert!(u16::try_from(0x10101u32).is_err(), "{l}: unrepresentable");
                // (What the reference wrote is code 0x0101.)
                assert_eq!(
                    Frame::Control(Control::new(0, ControlCode(0x0101), b"").unwrap()).to_vec(),
                    hx(&e["value"])
                );
            }
            other => panic!("encodeErrors: no check for {other:?}"),
        }
    }
    list(v).len()
}

/// What our decoder for `decoder` returns, as `(type-specific JSON like the reference's
/// "decoded", or the error code)`.
fn our_decode(decoder: &str, input: &[u8]) -> Result<Value, ErrorCode> {
    let c = |e: frame::FrameError| e.code();
    Ok(match decoder {
        // Our counterpart of the reference's decodeFrame is the full decoder; RawFrame::decode
        // (header rules only) must agree with it on every header or framing error.
        "decodeFrame" => {
            let raw = RawFrame::decode(input);
            let full = decode_frame(input);
            if let Err(e) = &raw {
                assert_eq!(full.as_ref().map(|_| ()).unwrap_err().code(), e.code());
            }
            let raw = raw.map_err(c)?;
            full.map_err(c)?;
            serde_json::json!({
                "type": raw.frame_type().as_u8(),
                "typeHex": format!("{:#04x}", raw.frame_type().as_u8()),
                "length": raw.payload().len(),
                "sessionId": raw.session_id().to_string(),
                "payload": hex::encode(raw.payload()),
            })
        }
        "readFrameHeader" => {
            let (t, len, sid) = read_frame_header(input).map_err(c)?;
            serde_json::json!({"type": t.as_u8(), "length": len, "sessionId": sid.to_string()})
        }
        "decodeHandshakeInit" => {
            let i = RawFrame::decode(input)
                .map_err(c)?
                .handshake_init()
                .map_err(c)?;
            serde_json::json!({"initPublicKey": hex::encode(i.client_key)})
        }
        "decodeHandshakeAccept" => {
            let a = RawFrame::decode(input)
                .map_err(c)?
                .handshake_accept()
                .map_err(c)?;
            serde_json::json!({"payload": hex::encode(a.payload())})
        }
        "decodeData" => {
            let d = RawFrame::decode(input).map_err(c)?.data().map_err(c)?;
            serde_json::json!({"seq": d.payload.seq().to_string(), "data": hex::encode(d.payload.as_bytes())})
        }
        "decodeSignal" => {
            let s = RawFrame::decode(input).map_err(c)?.signal().map_err(c)?;
            serde_json::json!({"signal": s.signal as u8, "reason": s.reason.as_u8()})
        }
        "decodeControl" => {
            let k = RawFrame::decode(input).map_err(c)?.control().map_err(c)?;
            serde_json::json!({"code": k.code.0, "message": k.message_lossy()})
        }
        other => panic!("decodeErrors: unknown decoder {other:?}"),
    })
}

fn walk_decode_errors(v: &Value) -> usize {
    for e in list(v) {
        let l = label(e);
        let decoder = st(&e["decoder"]);
        let input = hx(&e["input"]);
        let ours = our_decode(decoder, &input);
        let ref_ok = boolean(&e["ok"]);
        match l {
            "unknown type AND length>max (type check runs first in code)" => {
                assert_eq!(ref_code(e), Some(ErrorCode::InvalidFrameType));
                assert_eq!(
                    ours,
                    Err(ErrorCode::PayloadTooLarge),
                    "{l}: D1 validation order, size before type → payload_too_large"
                );
            }
            "HandshakeInit sid=0"
            | "HandshakeAccept sid=0"
            | "Data sid=0"
            | "Signal sid=0"
            | "Ping sid!=0"
            | "Pong sid=max u64" => {
                assert_eq!(ref_code(e), Some(ErrorCode::MalformedFrame));
                assert_eq!(
                    ours,
                    Err(ErrorCode::InvalidSessionId),
                    "{l}: D2 session-id rule → invalid_session_id"
                );
            }
            _ if l.starts_with("Ping with 9-byte payload")
                || l.starts_with("Pong with 100-byte payload") =>
            {
                assert!(ref_ok);
                assert_eq!(
                    ours,
                    Err(ErrorCode::PayloadTooLarge),
                    "{l}: D4 Ping/Pong payload over 8 bytes → payload_too_large on decode"
                );
                // The header layer (RawFrame, what streams yield) still reads the frame as the
                // reference does; the per-type rule is applied by parse().
                let raw = RawFrame::decode(&input).unwrap();
                assert_eq!(hex::encode(raw.payload()), st(&e["decoded"]["payload"]));
            }
            "Signal unknown reason 0x05" => {
                assert_eq!(ref_code(e), Some(ErrorCode::MalformedFrame));
                // D3: an unknown Signal reason is accepted and reported as unknown.
                let s = RawFrame::decode(&input)
                    .unwrap()
                    .signal()
                    .expect("D3: accepted");
                assert_eq!(s.signal, Signal::Close, "{l}");
                assert_eq!(
                    s.reason,
                    SignalReason::Unknown(5),
                    "{l}: D3 unknown reason kept"
                );
                assert_eq!(s.reason.name(), "unknown");
            }
            _ if l.starts_with("Control unknown code ")
                || l.starts_with("Control endpoint-only") =>
            {
                assert_eq!(ref_code(e), Some(ErrorCode::MalformedFrame));
                // D9: an unknown Control code decodes as unknown (terminal, category by range).
                let k = RawFrame::decode(&input)
                    .unwrap()
                    .control()
                    .expect("D9: accepted");
                let code = k.code;
                assert_eq!(code.known(), None, "{l}: D9 unknown");
                assert!(code.is_terminal(), "{l}: D9 unknown codes are terminal");
                assert_eq!(code.category(), Category::of(code.0), "{l}");
                let expected_category = match code.0 {
                    0x0000 | 0x9999 => Category::Unassigned,
                    0x0103 => Category::Auth,
                    0x0903 => Category::RateLimiting,
                    0xE001 => Category::EndpointOnly,
                    other => panic!("{l}: unexpected code {other:#06x}"),
                };
                assert_eq!(code.category(), expected_category, "{l}: D9 category");
                assert!(decode_frame(&input).is_ok(), "{l}: D9 full decode accepts");
            }
            _ => {
                // Must match the reference exactly.
                if ref_ok {
                    let ours = ours.unwrap_or_else(|c| panic!("{l}: we refused with {c}"));
                    for (k, want) in obj(&e["decoded"]) {
                        assert_eq!(&ours[k], want, "{l}: field {k}");
                    }
                } else {
                    assert_eq!(ours.err(), ref_code(e), "{l}");
                }
            }
        }
    }
    list(v).len()
}

fn walk_decrypt_errors(v: &Value) -> usize {
    let messages = list(section("messages"));
    let handshakes = list(section("handshakes"));
    let keys = handshake_keys(&handshakes[0]);
    // The first client→daemon message of handshake 0.
    let m0 = messages
        .iter()
        .find(|m| num(&m["handshake"]) == 0 && st(&m["direction"]) == "client_to_daemon")
        .unwrap();
    let p0 = hx(&m0["payload"]);
    let daemon = || Session::new(Role::Daemon, keys.clone());
    let client = || Session::new(Role::Client, keys.clone());
    for e in list(v) {
        let l = label(e);
        match l {
            "tampered tag (c2d)" => {
                let mut p = p0.clone();
                *p.last_mut().unwrap() ^= 1;
                assert_eq!(
                    Some(daemon().decrypt(&p).unwrap_err().code()),
                    ref_code(e),
                    "{l}"
                );
                let mut s = daemon();
                assert_eq!(
                    Some(s.open_in_place(&mut p).unwrap_err().code()),
                    ref_code(e)
                );
            }
            "replay of accepted message" => {
                let mut s = daemon();
                s.decrypt(&p0).unwrap();
                assert_eq!(Some(s.decrypt(&p0).unwrap_err().code()), ref_code(e), "{l}");
            }
            "c2d payload decrypted as d2c (wrong key/direction)" => {
                assert_eq!(
                    Some(client().decrypt(&p0).unwrap_err().code()),
                    ref_code(e),
                    "{l}"
                );
                assert_eq!(
                    Some(
                        open_payload(&keys.daemon_to_client, &p0)
                            .unwrap_err()
                            .code()
                    ),
                    ref_code(e),
                    "{l} (low level, d2c key)"
                );
            }
            "payload 11 bytes (< nonce): extractSequence throws plain Error" => {
                assert_eq!(ref_code(e), None);
                // D7: any Data payload under 28 bytes is decrypt_failed (never a panic).
                assert_eq!(
                    daemon().decrypt(&p0[..11]).unwrap_err().code(),
                    ErrorCode::DecryptFailed,
                    "{l}: D7 short payload → decrypt_failed"
                );
                assert_eq!(
                    open_payload(&keys.client_to_daemon, &p0[..11])
                        .unwrap_err()
                        .code(),
                    ErrorCode::DecryptFailed,
                    "{l}: D7"
                );
                for n in 0..frame::MIN_DATA_LEN {
                    assert_eq!(
                        daemon().decrypt(&p0[..n]).unwrap_err().code(),
                        ErrorCode::DecryptFailed,
                        "D7 at {n} bytes"
                    );
                }
            }
            "payload 27 bytes (>= 12, < 28)" => {
                assert_eq!(
                    Some(daemon().decrypt(&p0[..27]).unwrap_err().code()),
                    ref_code(e)
                );
                let mut buf = p0[..27].to_vec();
                assert_eq!(
                    Some(daemon().open_in_place(&mut buf).unwrap_err().code()),
                    ref_code(e)
                );
            }
            _ if l.starts_with("forged frame with seq=") => {
                let mut s = daemon();
                let forged = hx(&e["forgedPayload"]);
                // The forged seq: from the payload's nonce, as the label and the window say.
                let forged_seq = u64::from_be_bytes(forged[4..12].try_into().unwrap());
                let in_label: u64 = l["forged frame with seq=".len()..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or_else(|| panic!("{l}: no seq in the label"));
                assert_eq!(in_label, forged_seq, "{l}");
                assert_eq!(
                    Some(s.decrypt(&forged).unwrap_err().code()),
                    ref_code(&e["forgedResult"]),
                    "{l}: forged"
                );
                assert_eq!(ref_code(&e["legitResult"]), Some(ErrorCode::SequenceError));
                assert_eq!(dec(&e["windowAfter"]["maxSeen"]), forged_seq);
                // D6: the window moves only after the tag verifies: the forgery left it empty,
                // so the legitimate seq 0 decrypts (the reference refused it).
                assert_eq!(
                    s.replay_window().max_seen(),
                    None,
                    "{l}: D6 window untouched by a forged frame"
                );
                let legit = hx(&e["legitPayload"]);
                let pt = s
                    .decrypt(&legit)
                    .expect("D6: the legitimate frame decrypts");
                assert!(!pt.is_empty());
                assert_eq!(s.replay_window().max_seen(), Some(0), "{l}: D6");
            }
            "EncryptedMessage.seq mismatch is ignored (seq taken from nonce bytes 4..12)" => {
                assert!(boolean(&e["ok"]));
                let want = st(&e["value"]).as_bytes();
                // Our decrypt takes only the payload: the seq is always read from the nonce,
                // there is no separate seq field that could disagree.
                let mut c = client();
                c.skip_to(5).unwrap();
                let p = c.encrypt(want).unwrap();
                assert_eq!(daemon().decrypt(&p).unwrap(), want, "{l}");
                assert_eq!(open_payload(&keys.client_to_daemon, &p).unwrap().1, 5);
            }
            other => panic!("decryptErrors: no check for {other:?}"),
        }
    }
    list(v).len()
}

fn walk_handshake_errors(v: &Value) -> usize {
    for e in list(v) {
        let l = label(e);
        let daemon_id = st(&e["daemonId"]);
        let is_d8 = l.contains("low-order")
            || l.contains("u=0")
            || l.contains("u=1")
            || l.contains("u=p")
            || l.contains("order-8 point");
        let ours_expected = |e: &Value| -> Option<ErrorCode> {
            if is_d8 {
                assert_eq!(
                    ref_code(e),
                    None,
                    "{l}: the reference threw an untyped error"
                );
                Some(ErrorCode::HandshakeFailed)
            } else {
                ref_code(e)
            }
        };
        match e.get("side").map(st) {
            Some("daemon") => {
                let daemon = Daemon::new(
                    IdentityKeyPair::from_seed(&hx32(&e["identitySeed"])),
                    daemon_id,
                );
                // The session id is the one of the expected accept frame; an entry that
                // fails carries none, and its outcome must not depend on it.
                let frame_sid = e
                    .get("result")
                    .and_then(|r| r.get("acceptFrame"))
                    .map(|f| FrameHeader::read(&hx(f)).expect("accept header").session_id);
                let init_for = |s: u64| HandshakeInit {
                    session_id: sid(s),
                    client_key: hx32(&e["initPublicKey"]),
                };
                let eph = || EphemeralSecret::from_bytes(hx32(&e["daemonEphemeralPrivateKey"]));
                let init = init_for(frame_sid.unwrap_or(1));
                let got = daemon.accept_with_ephemeral(&init, eph());
                if frame_sid.is_none() {
                    let other = daemon.accept_with_ephemeral(&init_for(u64::MAX), eph());
                    assert_eq!(
                        other.map(|_| ()).map_err(|e| e.code()),
                        got.as_ref().map(|_| ()).map_err(|e| e.code()),
                        "{l}: the outcome does not depend on the session id"
                    );
                }
                if boolean(&e["ok"]) {
                    let (accept, session) = got.unwrap_or_else(|err| panic!("{l}: {err}"));
                    let r = &e["result"];
                    assert_keys(r, &["acceptFrame", "clientToDaemon"], l);
                    assert_eq!(
                        Frame::HandshakeAccept(accept).to_vec(),
                        hx(&r["acceptFrame"])
                    );
                    assert_eq!(
                        session.keys().client_to_daemon.to_vec(),
                        hx(&r["clientToDaemon"]),
                        "{l}"
                    );
                } else {
                    // D8: a low-order / non-contributory X25519 key is handshake_failed.
                    assert_eq!(
                        got.map(|_| ()).unwrap_err().code(),
                        ours_expected(e).unwrap(),
                        "{l}: D8 low-order key → handshake_failed (daemon side)"
                    );
                }
            }
            None => {
                let eph = EphemeralSecret::from_bytes(hx32(&e["clientEphemeralPrivateKey"]));
                assert_eq!(
                    eph.public_key(),
                    hx32(&e["clientEphemeralPublicKey"]),
                    "{l}"
                );
                let frame_bytes = hx(&e["acceptFrame"]);
                let Frame::HandshakeAccept(accept) = decode_frame(&frame_bytes).unwrap() else {
                    panic!("{l}: not a HandshakeAccept")
                };
                let client = ClientHandshake::with_ephemeral(daemon_id, accept.session_id, eph);
                let pinned = IdentityPublicKey::from_bytes(hx32(&e["pinnedIdentityPublicKey"]));
                let got = client.finish(&accept, &pinned);
                if boolean(&e["ok"]) {
                    let s = got.unwrap_or_else(|err| panic!("{l}: {err}"));
                    let sk = &e["sessionKeys"];
                    assert_eq!(
                        s.keys().client_to_daemon.to_vec(),
                        hx(&sk["clientToDaemon"])
                    );
                    assert_eq!(
                        s.keys().daemon_to_client.to_vec(),
                        hx(&sk["daemonToClient"])
                    );
                } else {
                    let code = got.map(|_| ()).unwrap_err().code();
                    let why = if is_d8 {
                        "D8 low-order key → handshake_failed (client side)"
                    } else if l.contains("S = 0xff") {
                        "D11 strict Ed25519: non-canonical S → handshake_failed (same as reference)"
                    } else {
                        "same as reference"
                    };
                    assert_eq!(Some(code), ours_expected(e), "{l}: {why}");
                }
            }
            Some(other) => panic!("{l}: unknown side {other:?}"),
        }
    }
    list(v).len()
}

fn walk_control_codes(v: &Value) -> usize {
    assert_keys(
        v,
        &["sdkEndpointOnlyNumbering", "table", "unknownWireCodes"],
        "controlCodes",
    );
    let mut n = 0;
    // The endpoint-only numbering of the documentation (0xE001 …) is ours.
    let note = st(&v["sdkEndpointOnlyNumbering"]);
    for part in note.split(" (").next().unwrap().split(", ") {
        let (hexv, name) = part.split_once(' ').unwrap();
        let value = u16::from_str_radix(hexv.trim_start_matches("0x"), 16).unwrap();
        let code = ErrorCode::from_name(name).unwrap();
        assert_eq!(code.value(), value, "{name}");
        assert!(code.is_endpoint_only());
        assert_eq!(code.wire(), None);
        assert_eq!(code.category(), Category::EndpointOnly);
    }
    n += 1;

    let table = list(&v["table"]);
    assert_eq!(table.len(), ErrorCode::ALL.len(), "same number of codes");
    for t in table {
        let name = st(&t["code"]);
        let code = ErrorCode::from_name(name).unwrap_or_else(|| panic!("{name} unknown to us"));
        assert_eq!(format!("{code:?}"), st(&t["key"]), "{name}");
        assert_eq!(code.name(), name);
        match &t["wire"] {
            Value::Null => {
                // Endpoint-only: no wire value (the reference refuses toWire).
                assert!(!t["toWireError"].is_null(), "{name}");
                assert!(t["fromWireRoundTrip"].is_null());
                assert!(t["terminal"].is_null());
                assert_eq!(code.wire(), None, "{name}: endpoint-only");
                assert!(code.is_endpoint_only());
                // Its 0xE0xx value read off the wire is not a wire code (see D9).
                assert_eq!(ErrorCode::from_wire(code.value()), None);
            }
            w => {
                let w = u16::try_from(num(w)).unwrap();
                assert_eq!(code.wire(), Some(w), "{name}");
                assert_eq!(st(&t["wireHex"]), format!("{w:#06x}"));
                assert_eq!(
                    code.is_terminal(),
                    boolean(&t["terminal"]),
                    "{name}: terminal"
                );
                let back = ErrorCode::from_wire(w).unwrap();
                assert_eq!(back.name(), st(&t["fromWireRoundTrip"]), "{name}: fromWire");
                assert!(t["toWireError"].is_null());
                let cc = ControlCode(w);
                assert_eq!(cc.known(), Some(code));
                assert_eq!(cc.name(), Some(name));
                assert_eq!(cc.is_terminal(), code.is_terminal());
                assert_eq!(ControlCode::from(code), cc);
            }
        }
        n += 1;
    }
    for u in list(&v["unknownWireCodes"]) {
        let w = u16::try_from(num(&u["wire"])).unwrap();
        assert_eq!(st(&u["wireHex"]), format!("{w:#06x}"));
        // The reference's fromWireControlCode fails (untyped); our from_wire says None.
        assert_eq!(ref_code(&u["fromWireControlCode"]), None);
        assert_eq!(ErrorCode::from_wire(w), None, "{w:#06x}");
        // D9: our ControlCode keeps it as unknown, terminal (fail-safe), category by range.
        let cc = ControlCode(w);
        assert_eq!(cc.known(), None, "D9: {w:#06x} unknown");
        assert_eq!(
            cc.is_terminal(),
            boolean(&u["isTerminalCode"]),
            "{w:#06x} terminal"
        );
        assert!(cc.is_terminal(), "D9: unknown codes are terminal");
        let want = match w >> 8 {
            0x01 => Category::Auth,
            0x09 => Category::RateLimiting,
            0x10 => Category::SessionState,
            0xE0 => Category::EndpointOnly,
            _ => Category::Unassigned,
        };
        assert_eq!(cc.category(), want, "D9: category of {w:#06x}");
        n += 1;
    }
    n
}

/// Our bitmap as the reference prints `finalBitmapMasked`: bit i = max_seen - i, as a hex number
/// without leading zeros.
fn bitmap_hex(w: &ReplayWindow) -> String {
    let words = w.bitmap();
    let mut s = String::new();
    for word in words.iter().rev() {
        s.push_str(&format!("{word:016x}"));
    }
    let t = s.trim_start_matches('0');
    if t.is_empty() { "0".into() } else { t.into() }
}

fn walk_replay(v: &Value) -> usize {
    for e in list(v) {
        let l = label(e);
        let size = u32::try_from(num(&e["windowSize"])).unwrap();
        let mut w = ReplayWindow::with_size(size).unwrap_or_else(|| panic!("{l}: size {size}"));
        let seqs = list(&e["seqs"]);
        let accepted = list(&e["accepted"]);
        assert_eq!(seqs.len(), accepted.len(), "{l}");
        for (i, (s, a)) in seqs.iter().zip(accepted).enumerate() {
            let seq = dec(s);
            let check = w.check(seq);
            assert_eq!(w.accept(seq), boolean(a), "{l}: seqs[{i}] = {seq}");
            assert_eq!(check, boolean(a));
        }
        assert_eq!(w.max_seen(), Some(dec(&e["finalMaxSeen"])), "{l}: maxSeen");
        assert_eq!(bitmap_hex(&w), st(&e["finalBitmapMasked"]), "{l}: bitmap");
        // The reference keeps stale bits above the window in its raw bitmap
        // (finalBitmapRawHasBitsBeyondWindow); ours never has any: compare with the masked one.
        let _ = boolean(&e["finalBitmapRawHasBitsBeyondWindow"]);
        for (i, word) in w.bitmap().iter().enumerate() {
            for bit in 0..64u32 {
                if (i as u32) * 64 + bit >= size {
                    assert_eq!(word >> bit & 1, 0, "{l}: no bit beyond the window");
                }
            }
        }
        for p in list(&e["probes"]) {
            let seq = dec(&p["seq"]);
            assert_eq!(
                w.check(seq),
                boolean(&p["isValidSequence"]),
                "{l}: probe {seq}"
            );
        }
    }
    list(v).len()
}

fn walk_session_replay(v: &Value) -> usize {
    assert_keys(
        v,
        &["handshake", "direction", "note", "payloads", "outcomes"],
        "sessionReplay",
    );
    let hs = &list(section("handshakes"))[num(&v["handshake"]) as usize];
    let keys = handshake_keys(hs);
    let dir = direction(st(&v["direction"]));
    let key = *keys.for_direction(dir);
    let mut n = 0;
    let mut payloads = BTreeMap::new();
    for p in list(&v["payloads"]) {
        let seq = dec(&p["seq"]);
        let bytes = hx(&p["payload"]);
        // The payloads are messages "m<seq>" sealed at their seq.
        let pt = format!("m{seq}");
        assert_eq!(
            seal_payload(&key, dir, seq, pt.as_bytes()).unwrap(),
            bytes,
            "seq {seq}"
        );
        payloads.insert(seq, bytes);
        n += 1;
    }
    let mut rx = Session::new(receiver(dir), keys.clone());
    for (i, o) in list(&v["outcomes"]).iter().enumerate() {
        let seq = num(&o["deliverSeq"]);
        let got = rx.decrypt(&payloads[&seq]);
        if boolean(&o["ok"]) {
            assert_eq!(
                got.unwrap_or_else(|e| panic!("outcome {i}: {e}")),
                st(&o["plaintext"]).as_bytes(),
                "outcome {i} (seq {seq})"
            );
        } else {
            let want = ErrorCode::from_name(st(&o["code"])).unwrap();
            assert_eq!(got.unwrap_err().code(), want, "outcome {i} (seq {seq})");
        }
        n += 1;
    }
    n
}

fn decoded_json(f: &RawFrame<'_>) -> Value {
    serde_json::json!({
        "type": f.frame_type().as_u8(),
        "typeHex": format!("{:#04x}", f.frame_type().as_u8()),
        "length": f.payload().len(),
        "sessionId": f.session_id().to_string(),
        "payload": hex::encode(f.payload()),
    })
}

fn walk_streaming(v: &Value) -> usize {
    assert_keys(
        v,
        &[
            "stream",
            "frameBoundaries",
            "runs",
            "errorMidStream",
            "oversizeHeaderInPieces",
            "quirks",
        ],
        "streaming",
    );
    let mut n = 0;
    let stream = hx(&v["stream"]);

    // The stream and its boundaries, through FrameReader over the whole buffer.
    let lens: Vec<u64> = list(&v["frameBoundaries"]).iter().map(num).collect();
    assert_eq!(lens.iter().sum::<u64>(), stream.len() as u64);
    let mut offset = 0;
    let mut reader_frames = Vec::new();
    for (f, len) in FrameReader::new(&stream).zip(&lens) {
        let f = f.unwrap();
        assert_eq!(f.offset, offset);
        assert_eq!(f.frame.wire_len() as u64, *len);
        offset += len;
        reader_frames.push(decoded_json(&f.frame));
    }
    assert_eq!(reader_frames.len(), lens.len());
    n += 1;

    // Every chunking run.
    for (name, run) in obj(&v["runs"]) {
        let sizes: Vec<usize> = list(&run["chunkSizes"])
            .iter()
            .map(|x| num(x) as usize)
            .collect();
        let per_push: Vec<u64> = list(&run["framesYieldedPerPush"]).iter().map(num).collect();
        let buffered: Vec<u64> = list(&run["bufferedBytesAfterEachPush"])
            .iter()
            .map(num)
            .collect();
        assert_eq!(sizes.len(), per_push.len(), "{name}");
        assert_eq!(sizes.len(), buffered.len(), "{name}");
        if let Some(pushes) = run.get("pushes") {
            let pushes = list(pushes);
            assert_eq!(pushes.len(), sizes.len(), "{name}");
            for (i, p) in pushes.iter().enumerate() {
                assert_eq!(num(&p["len"]) as usize, sizes[i]);
                assert_eq!(num(&p["framesYielded"]), per_push[i]);
                assert_eq!(num(&p["bufferedBytes"]), buffered[i]);
            }
        }
        let mut dec = StreamDecoder::new();
        let mut pos = 0;
        let mut frames = Vec::new();
        let mut offsets = Vec::new();
        for (i, size) in sizes.iter().enumerate() {
            let chunk = &stream[pos..pos + size];
            pos += size;
            let got = dec
                .push(chunk, |f| {
                    offsets.push(f.offset);
                    frames.push(decoded_json(&f.frame));
                })
                .unwrap_or_else(|e| panic!("{name}: push {i}: {e}"));
            assert_eq!(
                got as u64, per_push[i],
                "{name}: frames yielded by push {i}"
            );
            assert_eq!(
                dec.buffered_len() as u64,
                buffered[i],
                "{name}: bytes buffered after push {i}"
            );
        }
        assert_eq!(pos, stream.len(), "{name}: chunks cover the stream");
        dec.finish().unwrap();
        assert_eq!(&frames, list(&run["decoded"]), "{name}: decoded frames");
        assert_eq!(frames, reader_frames, "{name}: same as FrameReader");
        let expected_offsets: Vec<u64> = lens
            .iter()
            .scan(0, |acc, l| {
                let o = *acc;
                *acc += l;
                Some(o)
            })
            .collect();
        assert_eq!(offsets, expected_offsets, "{name}: offsets");
        n += 1;
    }

    // An error in mid-stream.
    let ems = &v["errorMidStream"];
    let input = hx(&ems["input"]);
    let mut dec = StreamDecoder::new();
    let mut frames = Vec::new();
    let err = dec
        .push(&input, |f| frames.push(decoded_json(&f.frame)))
        .unwrap_err();
    assert_eq!(
        &frames,
        list(&ems["framesYieldedBeforeError"]),
        "frames before the error"
    );
    assert_eq!(
        Some(err.code()),
        ref_code(&serde_json::json!({"ok": false, "error": ems["error"]}))
    );
    let bad_offset: u64 = list(&ems["framesYieldedBeforeError"])
        .iter()
        .map(|f| frame::HEADER_LEN as u64 + num(&f["length"]))
        .sum();
    assert_eq!(
        err.offset, bad_offset,
        "the error names the failing frame's offset"
    );
    assert_eq!(input[bad_offset as usize], 0x99);
    // The reference keeps the 30 unconsumed bytes in its buffer (bufferedBytesAfterError);
    // ours does not copy bytes it has refused. Either way the decoder is dead until reset.
    assert_eq!(
        input.len() as u64 - bad_offset,
        num(&ems["bufferedBytesAfterError"])
    );
    assert_eq!(
        dec.buffered_len(),
        0,
        "ours holds nothing after refusing a header (the reference holds the rest: not normative)"
    );
    assert_eq!(dec.error(), Some(&err));
    let again = dec.push(&input[..frame::HEADER_LEN + 4], |_| {
        panic!("no frame while failed")
    });
    assert_eq!(again.unwrap_err(), err, "stays failed");
    assert_eq!(Some(err.code()), ref_code(&ems["pushAfterError"]));
    assert_eq!(dec.finish().unwrap_err(), err);
    dec.reset();
    let after = dec.push(&input[..frame::HEADER_LEN + 4], |_| {}).unwrap();
    assert!(boolean(&ems["pushAfterReset"]["ok"]));
    assert_eq!(
        after as u64,
        num(&ems["pushAfterReset"]["value"]),
        "works after reset"
    );
    // FrameReader agrees on frames, error and offset.
    let mut rd = FrameReader::new(&input);
    assert!(rd.next().unwrap().is_ok());
    assert!(rd.next().unwrap().is_ok());
    assert_eq!(rd.next().unwrap().unwrap_err(), err);
    assert!(rd.next().is_none());
    n += 1;

    // A header claiming 65537 bytes is refused as soon as its 13th byte arrives.
    let o = &v["oversizeHeaderInPieces"];
    assert_keys(
        o,
        &["first12Bytes", "thirteenthByte"],
        "oversizeHeaderInPieces",
    );
    let header = FrameHeader {
        type_byte: FrameType::Data.as_u8(),
        length: 65537,
        session_id: 1,
    }
    .to_bytes();
    let mut dec = StreamDecoder::new();
    let got = dec.push(&header[..12], |_| {}).unwrap();
    assert!(boolean(&o["first12Bytes"]["ok"]));
    assert_eq!(got as u64, num(&o["first12Bytes"]["value"]));
    let err = dec.push(&header[12..], |_| {}).unwrap_err();
    assert_eq!(Some(err.code()), ref_code(&o["thirteenthByte"]));
    assert_eq!(err.offset, 0);
    n += 1;

    // Reference quirks of its lazy generator API, mapped onto ours.
    let q = &v["quirks"];
    for (k, val) in obj(q) {
        match k.as_str() {
            "pushIsLazyGenerator_bufferedBytesWhenNotIterated" => {
                // Our lazy counterpart is `decode`: it takes one frame at a time, and a frame
                // that lies whole in the input is lent without being buffered.
                let mut dec = StreamDecoder::new();
                let (used, frame) = dec.decode(&stream).unwrap();
                assert_eq!(used as u64, lens[0]);
                assert!(frame.is_some());
                assert_eq!(dec.buffered_len() as u64, num(val), "{k}");
            }
            "earlyBreak_bufferedBytes" => {
                // The reference buffers the whole chunk when the caller stops iterating after
                // the first frame. With `decode`, the caller keeps the unused bytes itself:
                // nothing is buffered and nothing is lost.
                let pair = &input[..num(val) as usize];
                let mut dec = StreamDecoder::new();
                let (used, _) = dec.decode(pair).unwrap();
                assert_eq!(dec.buffered_len(), 0, "{k}");
                assert_eq!(used + (pair.len() - used), num(val) as usize);
            }
            "earlyBreak_framesOnNextEmptyPush" => {
                // Every frame of the chunk is delivered: the first by the first `decode`, the
                // rest when the caller offers the unused bytes again.
                let want = list(val);
                let total: u64 = want
                    .iter()
                    .map(|f| frame::HEADER_LEN as u64 + num(&f["length"]))
                    .sum();
                let pair = &input[..total as usize];
                let mut dec = StreamDecoder::new();
                let mut got = Vec::new();
                let mut rest = pair;
                while !rest.is_empty() {
                    let (used, f) = dec.decode(rest).unwrap();
                    if let Some(f) = f {
                        got.push(decoded_json(&f.frame));
                    }
                    rest = &rest[used..];
                }
                assert_eq!(&got, want, "{k}");
                // And an empty push afterwards yields nothing more.
                assert_eq!(dec.push(&[], |_| panic!("nothing left")).unwrap(), 0);
            }
            other => panic!("streaming.quirks: no check for {other:?}"),
        }
        n += 1;
    }
    n
}

// ---------------------------------------------------------------------------------------------
// Sections, counts and tests
// ---------------------------------------------------------------------------------------------

type Walker = fn(&Value) -> usize;

/// Every top-level key of the vector file, with its walker and how many entries it holds.
const SECTIONS: &[(&str, Walker, Walker)] = &[
    ("schema", walk_schema, |_| 1),
    ("meta", walk_meta, |v| obj(v).len()),
    ("constants", walk_constants, |v| obj(v).len()),
    ("identities", walk_identities, |v| list(v).len()),
    ("ephemeralKeys", walk_ephemeral_keys, |v| list(v).len()),
    ("fingerprints", walk_fingerprints, |v| list(v).len()),
    ("handshakes", walk_handshakes, |v| list(v).len()),
    ("messages", walk_messages, |v| list(v).len()),
    ("oversizePlaintext65509", walk_oversize, |_| 1),
    ("sequenceExhaustion", walk_sequence_exhaustion, |v| {
        obj(v).keys().filter(|k| *k != "note").count()
    }),
    ("frames", walk_frames, |v| list(v).len()),
    ("encodeErrors", walk_encode_errors, |v| list(v).len()),
    ("decodeErrors", walk_decode_errors, |v| list(v).len()),
    ("decryptErrors", walk_decrypt_errors, |v| list(v).len()),
    ("handshakeErrors", walk_handshake_errors, |v| list(v).len()),
    ("controlCodes", walk_control_codes, |v| {
        1 + list(&v["table"]).len() + list(&v["unknownWireCodes"]).len()
    }),
    ("replay", walk_replay, |v| list(v).len()),
    ("sessionReplay", walk_session_replay, |v| {
        list(&v["payloads"]).len() + list(&v["outcomes"]).len()
    }),
    ("streaming", walk_streaming, |v| {
        // stream + boundaries, each run, errorMidStream, oversizeHeaderInPieces, each quirk
        1 + obj(&v["runs"]).len() + 1 + 1 + obj(&v["quirks"]).len()
    }),
];

/// Walks one section; fails if it is missing, empty, or walked fewer entries than it holds.
fn check_section(name: &str) -> (usize, usize) {
    let (_, walk, holds) = SECTIONS
        .iter()
        .find(|(n, _, _)| *n == name)
        .unwrap_or_else(|| panic!("no walker for section {name}"));
    let v = section(name);
    let held = holds(v);
    assert!(held > 0, "section {name} is empty");
    let walked = walk(v);
    assert_eq!(
        walked, held,
        "section {name}: walked {walked} of {held} entries"
    );
    (walked, held)
}

macro_rules! section_tests {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                let (walked, held) = check_section($name);
                eprintln!("{}: {walked}/{held} entries checked", $name);
            }
        )*
        const SECTION_TESTS: &[&str] = &[$($name),*];
    };
}

section_tests! {
    section_schema => "schema",
    section_meta => "meta",
    section_constants => "constants",
    section_identities => "identities",
    section_ephemeral_keys => "ephemeralKeys",
    section_fingerprints => "fingerprints",
    section_handshakes => "handshakes",
    section_messages => "messages",
    section_oversize_plaintext_65509 => "oversizePlaintext65509",
    section_sequence_exhaustion => "sequenceExhaustion",
    section_frames => "frames",
    section_encode_errors => "encodeErrors",
    section_decode_errors => "decodeErrors",
    section_decrypt_errors => "decryptErrors",
    section_handshake_errors => "handshakeErrors",
    section_control_codes => "controlCodes",
    section_replay => "replay",
    section_session_replay => "sessionReplay",
    section_streaming => "streaming",
}

#[test]
fn vectors_walk_every_section() {
    // Every top-level key of the file has a walker and a test, and nothing else is there.
    let keys: BTreeSet<&str> = obj(vectors()).keys().map(String::as_str).collect();
    let walked: BTreeSet<&str> = SECTIONS.iter().map(|(n, _, _)| *n).collect();
    let tested: BTreeSet<&str> = SECTION_TESTS.iter().copied().collect();
    assert_eq!(
        keys, walked,
        "top-level keys of the vector file vs. the sections we walk"
    );
    assert_eq!(walked, tested, "every section has its own test");

    let mut total_walked = 0;
    let mut total_held = 0;
    let mut table = String::from("\nSBRP reference vectors (sbrp-vectors/1): entries checked\n");
    table.push_str(&format!(
        "{:<26} {:>8} {:>8}\n",
        "section", "checked", "in file"
    ));
    for (name, _, _) in SECTIONS {
        let (w, h) = check_section(name);
        table.push_str(&format!("{name:<26} {w:>8} {h:>8}\n"));
        total_walked += w;
        total_held += h;
    }
    table.push_str(&format!(
        "{:<26} {total_walked:>8} {total_held:>8}\n",
        "total"
    ));
    // Written to stderr directly, not through `eprintln!`, so that libtest does not capture it
    // and a plain `cargo test` shows the walk's counts.
    {
        use std::io::Write;
        let _ = std::io::stderr().lock().write_all(table.as_bytes());
    }
    assert_eq!(total_walked, total_held, "{table}");
}

#[test]
fn typed_signal_frame_round_trip_of_unknown_reason() {
    // D3 completes: an unknown reason survives decode → encode unchanged.
    let f = Frame::Signal(SignalFrame {
        session_id: sid(1),
        signal: Signal::Close,
        reason: SignalReason::Unknown(5),
    });
    let bytes = f.to_vec();
    assert_eq!(hex::encode(&bytes), "040000000200000000000000010105");
    assert_eq!(decode_frame(&bytes).unwrap(), f);
}

#[test]
fn d10_handshake_timeout_is_enforced_by_callers() {
    // D10: the protocol core keeps no clock; tools that do I/O enforce the 30 s deadline and
    // report handshake_timeout (0xE003). No vector exercises it (the reference never raises it).
    assert_eq!(
        handshake::HANDSHAKE_TIMEOUT,
        std::time::Duration::from_secs(30)
    );
    assert_eq!(ErrorCode::HandshakeTimeout.name(), "handshake_timeout");
    assert_eq!(ErrorCode::HandshakeTimeout.value(), 0xE003);
    assert_eq!(ErrorCode::HandshakeTimeout.wire(), None);
}

#[test]
fn d11_strict_ed25519_rejects_a_weak_identity_key() {
    // D11: verification is strict. The identity point as public key with R = identity, S = 0
    // satisfies the cofactored (ZIP-215) equation for every message; strict rules refuse it.
    let mut weak = [0u8; 32];
    weak[0] = 1;
    let weak = IdentityPublicKey::from_bytes(weak);
    let mut sig = [0u8; 64];
    sig[0] = 1;
    assert!(
        !weak.verify_strict(b"any message", &sig),
        "D11: weak key refused"
    );

    // Through the handshake, on first contact (the advertised key is the weak one).
    let h = &list(section("handshakes"))[0];
    let client = ClientHandshake::with_ephemeral(
        st(&h["daemonId"]),
        sid(1),
        EphemeralSecret::from_bytes(hx32(&h["clientEphemeralPrivateKey"])),
    );
    let accept = HandshakeAccept {
        session_id: sid(1),
        identity_key: weak,
        ephemeral_key: hx32(&h["daemonEphemeralPublicKey"]),
        signature: sig,
    };
    assert_eq!(
        client.finish_first_contact(&accept).unwrap_err().code(),
        ErrorCode::HandshakeFailed,
        "D11: strict Ed25519 → handshake_failed"
    );

    // A non-canonical S (S + L) of an honest signature is refused too.
    let id = IdentityKeyPair::from_seed(&hx32(&h["identitySeed"]));
    let msg = hx(&h["signaturePayload"]);
    let mut sig = hx(&h["signature"]);
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for i in 0..32 {
        let s = u16::from(sig[32 + i]) + u16::from(L[i]) + carry;
        sig[32 + i] = s as u8;
        carry = s >> 8;
    }
    assert_eq!(carry, 0);
    let sig: [u8; 64] = sig.try_into().unwrap();
    assert!(
        !id.public_key().verify_strict(&msg, &sig),
        "D11: S >= L refused"
    );
}

#[test]
fn tofu_first_contact_still_verifies_the_signature() {
    // TOFU: on first contact the advertised key is used, but only after its signature verified;
    // for every client-side handshakeErrors entry whose pinned key is the advertised one, first
    // contact gives the same verdict as the pinned path.
    let mut checked = 0;
    for e in list(section("handshakeErrors")) {
        if e.get("side").is_some() {
            continue;
        }
        let frame_bytes = hx(&e["acceptFrame"]);
        let Frame::HandshakeAccept(accept) = decode_frame(&frame_bytes).unwrap() else {
            panic!("not a HandshakeAccept")
        };
        let pinned = IdentityPublicKey::from_bytes(hx32(&e["pinnedIdentityPublicKey"]));
        if accept.identity_key != pinned {
            continue;
        }
        let start = || {
            ClientHandshake::with_ephemeral(
                st(&e["daemonId"]),
                accept.session_id,
                EphemeralSecret::from_bytes(hx32(&e["clientEphemeralPrivateKey"])),
            )
        };
        let pinned_result = start().finish(&accept, &pinned).map(|s| s.keys().clone());
        let tofu_result = start()
            .finish_first_contact(&accept)
            .map(|s| s.keys().clone());
        assert_eq!(
            tofu_result.map_err(|e| e.code()),
            pinned_result.map_err(|e| e.code()),
            "{}",
            label(e)
        );
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} entries");
}

#[test]
fn identity_key_changed_names_both_fingerprints() {
    // The client must be able to show the stored and the new fingerprint.
    let e = list(section("handshakeErrors"))
        .iter()
        .find(|e| e["error"]["code"] == "identity_key_changed")
        .expect("an identity_key_changed entry");
    let Frame::HandshakeAccept(accept) = decode_frame(&hx(&e["acceptFrame"])).unwrap() else {
        panic!("not a HandshakeAccept")
    };
    let pinned = IdentityPublicKey::from_bytes(hx32(&e["pinnedIdentityPublicKey"]));
    let client = ClientHandshake::with_ephemeral(
        st(&e["daemonId"]),
        accept.session_id,
        EphemeralSecret::from_bytes(hx32(&e["clientEphemeralPrivateKey"])),
    );
    let err = client.finish(&accept, &pinned).unwrap_err();
    assert_eq!(err.code(), ErrorCode::IdentityKeyChanged);
    let text = err.to_string();
    assert!(text.contains(&pinned.fingerprint()), "{text}");
    assert!(text.contains(&accept.identity_key.fingerprint()), "{text}");

    // The key comparison comes before the signature check: a broken signature on a changed
    // key still reports identity_key_changed.
    let mut broken = accept;
    broken.signature[0] ^= 1;
    let client = ClientHandshake::with_ephemeral(
        st(&e["daemonId"]),
        accept.session_id,
        EphemeralSecret::from_bytes(hx32(&e["clientEphemeralPrivateKey"])),
    );
    assert_eq!(
        client.finish(&broken, &pinned).unwrap_err().code(),
        ErrorCode::IdentityKeyChanged
    );
}

/// A variant of the vector file with other values where the walk once hard-coded today's
/// (the file's name, the session id of the daemon-side handshake errors, the forged seq of
/// the window-poisoning entry), regenerated consistently with our own library: another
/// identity seed, daemon id, daemon ephemeral key and session id for every daemon-side
/// handshake error (the expected accept frames and session keys re-derived), and another
/// forged sequence number (payload nonce, label and window all changed together).
fn variant() -> Value {
    let mut v = vectors().clone();
    v["meta"]["name"] = "vectors-variant-regenerated".into();
    let seed = [0x42u8; 32];
    let daemon_id = "variant-daemon-\u{e9}-7";
    let eph = [0x24u8; 32];
    let session = 0x0123_4567_89ab_cdef_u64;
    for e in v["handshakeErrors"].as_array_mut().unwrap() {
        if e.get("side").and_then(Value::as_str) != Some("daemon") {
            continue;
        }
        e["identitySeed"] = hex::encode(seed).into();
        e["daemonId"] = daemon_id.into();
        e["daemonEphemeralPrivateKey"] = hex::encode(eph).into();
        if e["ok"] == true {
            let daemon = Daemon::new(IdentityKeyPair::from_seed(&seed), daemon_id);
            let init = HandshakeInit {
                session_id: sid(session),
                client_key: hx32(&e["initPublicKey"]),
            };
            let (accept, s) = daemon
                .accept_with_ephemeral(&init, EphemeralSecret::from_bytes(eph))
                .unwrap();
            e["result"]["acceptFrame"] =
                hex::encode(Frame::HandshakeAccept(accept).to_vec()).into();
            e["result"]["clientToDaemon"] = hex::encode(*s.keys().client_to_daemon).into();
        }
    }
    let new_seq = 987_654_321_u64;
    for e in v["decryptErrors"].as_array_mut().unwrap() {
        let l = label(e).to_owned();
        let Some(rest) = l.strip_prefix("forged frame with seq=") else {
            continue;
        };
        let digits = rest.split(|c: char| !c.is_ascii_digit()).next().unwrap();
        e["label"] = format!("forged frame with seq={new_seq}{}", &rest[digits.len()..]).into();
        let mut p = hx(&e["forgedPayload"]);
        p[4..12].copy_from_slice(&new_seq.to_be_bytes());
        e["forgedPayload"] = hex::encode(p).into();
        e["windowAfter"]["maxSeen"] = new_seq.to_string().into();
    }
    v
}

#[test]
fn the_walk_derives_its_checks_from_the_data() {
    let v = variant();
    // The variant really differs where the old walk hard-coded values.
    assert_ne!(v["meta"]["name"], vectors()["meta"]["name"]);
    assert_ne!(v["handshakeErrors"], vectors()["handshakeErrors"]);
    assert_ne!(v["decryptErrors"], vectors()["decryptErrors"]);
    for name in ["meta", "handshakeErrors", "decryptErrors"] {
        let (_, walk, holds) = SECTIONS.iter().find(|(n, _, _)| *n == name).unwrap();
        assert_eq!(
            walk(&v[name]),
            holds(&v[name]),
            "{name} of the variant file"
        );
    }
    // And the variant is not accepted blindly: a wrong expected accept frame fails.
    let mut bad = v.clone();
    let e = bad["handshakeErrors"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e.get("side").and_then(Value::as_str) == Some("daemon") && e["ok"] == true)
        .unwrap();
    e["daemonId"] = "daemon-001".into();
    let walk = SECTIONS
        .iter()
        .find(|(n, _, _)| *n == "handshakeErrors")
        .unwrap()
        .1;
    let bad_section = bad["handshakeErrors"].clone();
    assert!(std::panic::catch_unwind(|| walk(&bad_section)).is_err());
}
