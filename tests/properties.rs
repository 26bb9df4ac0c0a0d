//! Property tests of the protocol core: frame round trips, decoders that never panic, streaming
//! that does not depend on chunking, the replay window against a simple model, and sessions
//! that refuse any single-bit change.
//!
//! Case counts are kept modest so the suite stays fast in debug builds.

use std::collections::HashSet;
use std::num::NonZeroU64;

use proptest::prelude::*;

use sbrp::error::{ControlCode, ErrorCode};
use sbrp::frame::{
    Control, Data, DataPayload, Frame, FrameType, HandshakeAccept, HandshakeInit, PingPayload,
    RawFrame, Signal, SignalFrame, SignalReason, decode_frame, read_frame_header,
};
use sbrp::keys::IdentityPublicKey;
use sbrp::replay::ReplayWindow;
use sbrp::session::{Role, Session, SessionKeys};
use sbrp::stream::{FrameReader, StreamDecoder, StreamError};

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// An owned description of a typed frame (a [`Frame`] borrows its bytes).
#[derive(Clone, Debug)]
enum Spec {
    Init(NonZeroU64, [u8; 32]),
    Accept(NonZeroU64, [u8; 32], [u8; 32], Vec<u8>),
    Data(NonZeroU64, Vec<u8>),
    Signal(NonZeroU64, bool, u8),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Control(u64, u16, Vec<u8>),
}

impl Spec {
    fn frame(&self) -> Frame<'_> {
        match self {
            Spec::Init(sid, key) => Frame::HandshakeInit(HandshakeInit {
                session_id: *sid,
                client_key: *key,
            }),
            Spec::Accept(sid, id, eph, sig) => Frame::HandshakeAccept(HandshakeAccept {
                session_id: *sid,
                identity_key: IdentityPublicKey::from_bytes(*id),
                ephemeral_key: *eph,
                signature: sig.as_slice().try_into().unwrap(),
            }),
            Spec::Data(sid, payload) => Frame::Data(Data {
                session_id: *sid,
                payload: DataPayload::new(payload).unwrap(),
            }),
            Spec::Signal(sid, close, reason) => Frame::Signal(SignalFrame {
                session_id: *sid,
                signal: if *close { Signal::Close } else { Signal::Ready },
                reason: SignalReason::from_u8(*reason),
            }),
            Spec::Ping(p) => Frame::Ping(PingPayload::new(p).unwrap()),
            Spec::Pong(p) => Frame::Pong(PingPayload::new(p).unwrap()),
            Spec::Control(sid, code, msg) => {
                Frame::Control(Control::new(*sid, ControlCode(*code), msg).unwrap())
            }
        }
    }
}

fn session_id() -> impl Strategy<Value = NonZeroU64> {
    prop_oneof![
        Just(NonZeroU64::MIN),
        Just(NonZeroU64::MAX),
        any::<NonZeroU64>(),
    ]
}

fn key() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        (session_id(), key()).prop_map(|(s, k)| Spec::Init(s, k)),
        (
            session_id(),
            key(),
            key(),
            proptest::collection::vec(any::<u8>(), 64)
        )
            .prop_map(|(s, a, b, c)| Spec::Accept(s, a, b, c)),
        (
            session_id(),
            proptest::collection::vec(any::<u8>(), 28..200)
        )
            .prop_map(|(s, p)| Spec::Data(s, p)),
        (session_id(), any::<bool>(), any::<u8>()).prop_map(|(s, c, r)| Spec::Signal(s, c, r)),
        proptest::collection::vec(any::<u8>(), 0..=8).prop_map(Spec::Ping),
        proptest::collection::vec(any::<u8>(), 0..=8).prop_map(Spec::Pong),
        (
            prop_oneof![Just(0u64), any::<u64>()],
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(s, c, m)| Spec::Control(s, c, m)),
    ]
}

/// Bytes that look like frames often enough to reach the per-type rules: a header with a
/// known or unknown type, a small length, a zero / one / random session id, and a payload that
/// may be shorter or longer than announced.
fn framish() -> impl Strategy<Value = Vec<u8>> {
    let type_byte = prop_oneof![
        proptest::sample::select(vec![0x01u8, 0x02, 0x03, 0x04, 0x10, 0x11, 0x20]),
        any::<u8>(),
    ];
    let length = prop_oneof![0u32..200, Just(65536), Just(65537), any::<u32>()];
    let sid = prop_oneof![Just(0u64), Just(1), any::<u64>()];
    (
        type_byte,
        length,
        sid,
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(t, l, s, p)| {
            let mut out = vec![t];
            out.extend_from_slice(&l.to_be_bytes());
            out.extend_from_slice(&s.to_be_bytes());
            // Often make the payload exactly as long as announced.
            let wanted = l as usize;
            if wanted <= p.len() && !wanted.is_multiple_of(3) {
                out.extend_from_slice(&p[..wanted]);
            } else {
                out.extend_from_slice(&p);
            }
            out
        })
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        framish(),
        // A few valid frames, then junk.
        (
            proptest::collection::vec(spec(), 0..4),
            proptest::collection::vec(any::<u8>(), 0..20)
        )
            .prop_map(|(specs, junk)| {
                let mut out = Vec::new();
                for s in &specs {
                    s.frame().encode_into(&mut out);
                }
                out.extend_from_slice(&junk);
                out
            }),
        // Several framish pieces glued together.
        proptest::collection::vec(framish(), 1..4).prop_map(|v| v.concat()),
    ]
}

// ---------------------------------------------------------------------------------------------
// Stream helpers
// ---------------------------------------------------------------------------------------------

type Seen = (u64, FrameType, u64, Vec<u8>);

/// All frames (offset, type, session id, payload) and the first error, from FrameReader.
fn read_all(bytes: &[u8]) -> (Vec<Seen>, Option<StreamError>) {
    let mut frames = Vec::new();
    for item in FrameReader::new(bytes) {
        match item {
            Ok(f) => frames.push((
                f.offset,
                f.frame.frame_type(),
                f.frame.session_id(),
                f.frame.payload().to_vec(),
            )),
            Err(e) => return (frames, Some(e)),
        }
    }
    (frames, None)
}

/// The same through StreamDecoder, fed in chunks of the given sizes (cycled), then `finish`.
fn stream_all(bytes: &[u8], chunk_sizes: &[usize]) -> (Vec<Seen>, Option<StreamError>) {
    let mut dec = StreamDecoder::new();
    let mut frames = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < bytes.len() {
        let size = chunk_sizes[i % chunk_sizes.len()].max(1);
        i += 1;
        let end = (pos + size).min(bytes.len());
        let r = dec.push(&bytes[pos..end], |f| {
            frames.push((
                f.offset,
                f.frame.frame_type(),
                f.frame.session_id(),
                f.frame.payload().to_vec(),
            ))
        });
        pos = end;
        if let Err(e) = r {
            // The decoder stays failed with the same error.
            assert_eq!(
                dec.push(&[0], |_| panic!("frame after error")),
                Err(e.clone())
            );
            assert_eq!(dec.finish(), Err(e.clone()));
            return (frames, Some(e));
        }
    }
    match dec.finish() {
        Ok(()) => {
            assert_eq!(dec.buffered_len(), 0);
            (frames, None)
        }
        Err(e) => (frames, Some(e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Typed frame → bytes → decode_frame gives the same frame, for every frame type; the raw
    /// layer and the streaming decoder see the same header and payload.
    #[test]
    fn frame_round_trip(s in spec()) {
        let frame = s.frame();
        let bytes = frame.to_vec();
        let back = decode_frame(&bytes).expect("a typed frame decodes");
        prop_assert_eq!(back, frame);
        prop_assert_eq!(back.to_vec(), bytes.clone());
        let raw = RawFrame::decode(&bytes).unwrap();
        prop_assert_eq!(raw.frame_type(), frame.frame_type());
        prop_assert_eq!(raw.session_id(), frame.session_id());
        prop_assert_eq!(raw.wire_len(), bytes.len());
        prop_assert_eq!(raw.parse().unwrap(), frame);
        let (t, len, sid) = read_frame_header(&bytes).unwrap();
        prop_assert_eq!((t, len, sid), (frame.frame_type(), bytes.len() - 13, frame.session_id()));
        let (frames, err) = stream_all(&bytes, &[1]);
        prop_assert!(err.is_none());
        prop_assert_eq!(frames.len(), 1);
        prop_assert_eq!(&frames[0].3[..], &bytes[13..]);
    }

    /// No decoder panics on arbitrary bytes, and the typed decoder agrees with the raw one on
    /// header and framing errors.
    #[test]
    fn decoders_never_panic(bytes in any_bytes()) {
        let raw = RawFrame::decode(&bytes);
        let full = decode_frame(&bytes);
        match (&raw, &full) {
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (Err(a), Ok(_)) => prop_assert!(false, "raw refused ({a}) but full accepted"),
            (Ok(r), _) => {
                let _ = r.parse();
                let _ = r.handshake_init();
                let _ = r.handshake_accept();
                let _ = r.data();
                let _ = r.signal();
                let _ = r.ping_payload();
                let _ = r.control().map(|c| c.message_lossy().into_owned());
            }
        }
        if let Ok(f) = full {
            prop_assert_eq!(f.to_vec(), bytes.clone(), "a fully decoded frame re-encodes to its bytes");
        }
        let _ = read_frame_header(&bytes);
        let _ = RawFrame::decode_prefix(&bytes);
        for f in FrameReader::new(&bytes).flatten() {
            let _ = f.frame.parse();
        }
        let mut dec = StreamDecoder::new();
        let _ = dec.push(&bytes, |f| { let _ = f.frame.parse(); });
        let _ = dec.finish();
        // And the step-by-step API.
        let mut dec = StreamDecoder::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            match dec.decode(rest) {
                Ok((used, _)) => rest = &rest[used..],
                Err(_) => break,
            }
        }
    }

    /// StreamDecoder gives the same frames, offsets, first error and error offset for any
    /// chunking, and the same as FrameReader over the whole buffer.
    #[test]
    fn streaming_is_independent_of_chunking(
        bytes in any_bytes(),
        chunks in proptest::collection::vec(1usize..40, 1..8),
    ) {
        let whole = read_all(&bytes);
        let streamed = stream_all(&bytes, &chunks);
        prop_assert_eq!(&streamed, &whole);
        prop_assert_eq!(&stream_all(&bytes, &[1]), &whole);
        prop_assert_eq!(&stream_all(&bytes, &[bytes.len().max(1)]), &whole);
    }
}

/// The model of the replay window: a set of accepted numbers and the highest one.
struct Model {
    seen: HashSet<u64>,
    max: Option<u64>,
    size: u64,
}

impl Model {
    fn accept(&mut self, seq: u64) -> bool {
        let ok = !self.seen.contains(&seq)
            && match self.max {
                None => true,
                Some(max) => seq > max || max - seq < self.size,
            };
        if ok {
            self.seen.insert(seq);
            self.max = Some(self.max.map_or(seq, |m| m.max(seq)));
        }
        ok
    }
}

fn seq_stream() -> impl Strategy<Value = Vec<u64>> {
    let one = prop_oneof![
        4 => 0u64..400,
        2 => (0u64..400).prop_map(|d| u64::MAX - d),
        1 => any::<u64>(),
        1 => (0u64..400).prop_map(|d| (1u64 << 40) + d),
        1 => (0u64..400).prop_map(|d| (1u64 << 63) - 200 + d),
    ];
    proptest::collection::vec(one, 1..300)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The bitmap window agrees with the model on random streams (huge jumps, values near
    /// u64::MAX), for several window sizes; a refused number never changes the window.
    #[test]
    fn replay_window_matches_model(
        seqs in seq_stream(),
        size in proptest::sample::select(vec![1u32, 2, 8, 63, 64, 65, 128, 129, 200, 256]),
    ) {
        let mut w = ReplayWindow::with_size(size).unwrap();
        let mut m = Model { seen: HashSet::new(), max: None, size: u64::from(size) };
        for (i, &seq) in seqs.iter().enumerate() {
            let before = w.clone();
            let check = w.check(seq);
            let got = w.accept(seq);
            let want = m.accept(seq);
            prop_assert_eq!(got, want, "seqs[{}] = {} (window {})", i, seq, size);
            prop_assert_eq!(check, want);
            if !got {
                prop_assert_eq!(&w, &before, "a refused seq leaves the window as it was");
            }
            prop_assert_eq!(w.max_seen(), m.max);
        }
    }
}

fn keys(c2d: [u8; 32], d2c: [u8; 32]) -> SessionKeys {
    SessionKeys {
        client_to_daemon: c2d.into(),
        daemon_to_client: d2c.into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random plaintexts go both ways; any single-bit flip of a sealed payload is refused with
    /// decrypt_failed (or sequence_error when it lands in the seq and hits a seen number), and
    /// the refusal does not stop the genuine payload from decrypting afterwards.
    #[test]
    fn session_round_trip_and_bit_flips(
        c2d in key(),
        d2c in key(),
        msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..5),
        from_daemon in any::<bool>(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let k = keys(c2d, d2c);
        let mut client = Session::new(Role::Client, k.clone());
        let mut daemon = Session::new(Role::Daemon, k);
        // Both ways.
        for m in &msgs {
            let p = client.encrypt(m).unwrap();
            prop_assert_eq!(daemon.decrypt(&p).unwrap(), m.clone());
            let p = daemon.encrypt(m).unwrap();
            prop_assert_eq!(client.decrypt(&p).unwrap(), m.clone());
        }
        let (tx, rx) = if from_daemon { (&mut daemon, &mut client) } else { (&mut client, &mut daemon) };
        let last = tx.encrypt(&msgs[0]).unwrap();
        let i = flip.index(last.len());
        let mut bad = last.clone();
        bad[i] ^= 1 << bit;
        let seen_before = rx.replay_window().clone();
        let err = rx.decrypt(&bad).unwrap_err();
        let mut bad2 = bad.clone();
        let err2 = rx.open_in_place(&mut bad2).unwrap_err();
        prop_assert_eq!(&err, &err2);
        // No plaintext is exposed on failure: RustCrypto leaves the ciphertext as it was,
        // ring wipes it (see `Session::open_in_place`). The nonce is never touched.
        // Nonce and tag are never touched.
        let tag_at = bad.len() - 16;
        prop_assert_eq!(&bad2[..12], &bad[..12]);
        prop_assert_eq!(&bad2[tag_at..], &bad[tag_at..]);
        prop_assert!(
            bad2 == bad || bad2[12..tag_at].iter().all(|&b| b == 0),
            "a refused ciphertext is left as it was or wiped"
        );
        let flipped_seq = u64::from_be_bytes(bad[4..12].try_into().unwrap());
        let expected = if (4..12).contains(&i) && !seen_before.check(flipped_seq) {
            ErrorCode::SequenceError
        } else {
            ErrorCode::DecryptFailed
        };
        prop_assert_eq!(err.code(), expected, "flip of bit {} in byte {}", bit, i);
        prop_assert_eq!(rx.replay_window(), &seen_before, "the window did not move");
        prop_assert_eq!(rx.decrypt(&last).unwrap(), msgs[0].clone());
    }
}
