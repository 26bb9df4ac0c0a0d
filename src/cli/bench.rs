//! `sbrp bench`: how fast the library is, measured in one process, with every ratio computed
//! from numbers of the same run.
//!
//! | row | what one operation is |
//! |---|---|
//! | handshake | a whole loopback handshake, both sides: client start, daemon accept, client finish |
//! | primitives | X25519 base-point ×2, X25519 DH ×2, Ed25519 sign, Ed25519 verify (strict), transcript + HKDF ×2 |
//! | session seal | [`sbrp::Session::seal_frame_in_place`]: header, nonce, counter, AEAD |
//! | session open | copy a sealed payload into a work buffer + [`sbrp::Session::open_in_place`] (window check, AEAD, window update) |
//! | raw seal / open | the AEAD backend alone on the same sizes (open: the same copy + [`sbrp::aead::Cipher::open_in_place`]) |
//! | frame encode / decode | one 1 KiB Data frame: `Frame::encode_into` a reused buffer / `decode_frame` with every rule |
//! | stream decoder | 1 KiB Data frames pushed through [`sbrp::StreamDecoder`] in 64 KiB chunks |
//!
//! The open rows copy the payload first (opening decrypts in place, so the sealed bytes must be
//! restored for the next round): raw and session pay the same copy.

use std::hint::black_box;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use sbrp::aead::{BACKEND, Cipher};
use sbrp::frame::{HEADER_LEN, MIN_DATA_LEN, NONCE_LEN, TAG_LEN};
use sbrp::handshake::{derive_session_keys, transcript_hash};
use sbrp::{
    ClientHandshake, Daemon, Frame, IdentityKeyPair, Role, Session, SessionId, SessionKeys,
    StreamDecoder, decode_frame,
};
use serde::Serialize;
use zeroize::Zeroizing;

use super::exit::{CliError, CliResult, Exit};
use super::output::Output;

#[cfg(feature = "relay")]
pub mod relay;

/// Message sizes of the AEAD rows.
pub const SIZES: [usize; 4] = [64, 1024, 16 * 1024, 65508];

/// `sbrp bench`
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<BenchCommand>,

    /// Seconds per measurement (13 measurements plus 4 per size)
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = super::peer::parse_seconds)]
    seconds: Duration,

    /// Print the results as JSON (schema sbrp.bench/1)
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum BenchCommand {
    /// Measure `sbrp relay` (a child process) against a direct WebSocket echo on 127.0.0.1:
    /// throughput, round trips, 10,000 sessions' memory, handshakes
    #[cfg(feature = "relay")]
    Relay(relay::Args),
}

/// Runs `f` (which does `batch` operations per call) for about `time`; returns operations per
/// second.
fn rate(time: Duration, batch: u64, mut f: impl FnMut()) -> f64 {
    // Warm up once, then run whole batches until the time is up.
    f();
    let start = Instant::now();
    let mut ops = 0u64;
    loop {
        f();
        ops += batch;
        let elapsed = start.elapsed();
        if elapsed >= time {
            return ops as f64 / elapsed.as_secs_f64();
        }
    }
}

fn keys(a: u8) -> SessionKeys {
    SessionKeys {
        client_to_daemon: Zeroizing::new([a; 32]),
        daemon_to_client: Zeroizing::new([a ^ 0x5a; 32]),
    }
}

/// The handshake row and its primitives.
#[derive(Debug, Serialize)]
pub struct HandshakeResult {
    /// Whole loopback handshakes (both sides) per second, in the median round (by ratio).
    pub per_sec: f64,
    /// Handshakes per second the primitives allow: 1 / (sum of their costs), median round.
    pub primitive_bound_per_sec: f64,
    /// The median over the rounds of (the round's bound in µs / the round's handshake in
    /// µs): the share of the primitives' speed that whole handshakes reach.
    pub ratio: f64,
    /// Interleaved rounds: each measures the handshake and every primitive once.
    pub rounds: u32,
    /// Cost of each primitive in microseconds.
    pub primitives_us: Primitives,
}

/// Microseconds per primitive operation, in the median round.
#[derive(Debug, Serialize)]
pub struct Primitives {
    /// X25519 key generation (OS random + base-point multiplication).
    pub x25519_keygen: f64,
    /// X25519 Diffie-Hellman.
    pub x25519_dh: f64,
    /// Ed25519 signature over 32 bytes.
    pub ed25519_sign: f64,
    /// Strict Ed25519 verification.
    pub ed25519_verify: f64,
    /// Transcript hash + HKDF-SHA256 to 64 bytes.
    pub hkdf: f64,
}

/// One AEAD size.
#[derive(Debug, Serialize)]
pub struct AeadResult {
    /// Plaintext bytes per message.
    pub size: usize,
    /// Session seal, MB/s of plaintext (10^6 bytes).
    pub session_seal_mb_s: f64,
    /// Session open, MB/s.
    pub session_open_mb_s: f64,
    /// Raw backend seal, MB/s.
    pub raw_seal_mb_s: f64,
    /// Raw backend open, MB/s.
    pub raw_open_mb_s: f64,
    /// session / raw, seal.
    pub seal_ratio: f64,
    /// session / raw, open.
    pub open_ratio: f64,
}

/// Frame and decoder rows.
#[derive(Debug, Serialize)]
pub struct DecoderResult {
    /// Wire bytes of each frame (1 KiB plaintext Data).
    pub frame_len: usize,
    /// Streaming decoder, MB/s of wire bytes, zero-copy framing: frames are lent out of the
    /// caller's chunk and only their headers are read.
    pub stream_mb_s: f64,
    /// Streaming decoder with every payload byte copied out to a buffer, MB/s of wire bytes:
    /// the figure to compare with decoders that hand out owned frames.
    pub stream_copy_mb_s: f64,
    /// `decode_frame` on one frame, MB/s.
    pub decode_mb_s: f64,
    /// `Frame::encode_into` a reused buffer, MB/s.
    pub encode_mb_s: f64,
}

/// Everything (`--json`: schema `sbrp.bench/1`).
#[derive(Debug, Serialize)]
pub struct Report {
    /// `"sbrp.bench/1"`.
    pub schema: &'static str,
    /// `"rustcrypto"` or `"ring"`.
    pub backend: &'static str,
    /// Seconds per measurement.
    pub seconds: f64,
    /// Whether this is an optimised build (debug numbers mean nothing).
    pub release: bool,
    /// Handshakes.
    pub handshake: HandshakeResult,
    /// AEAD at each size.
    pub aead: Vec<AeadResult>,
    /// Frames and the streaming decoder.
    pub decoder: DecoderResult,
    /// The targets of the issue, judged on this run.
    pub targets: Targets,
}

/// The targets, as ratios of this run.
#[derive(Debug, Serialize)]
pub struct Targets {
    /// handshake ≥ 90 % of the primitive bound.
    pub handshake_90pct: bool,
    /// session ≥ 90 % of raw at 1 KiB and 65508 B, both directions.
    pub session_90pct_of_raw: bool,
    /// stream decoder ≥ 1000 MB/s on 1 KiB frames.
    pub decoder_1gb_s: bool,
}

struct Progress(bool);

impl Progress {
    fn step(&self, out: &Output, what: &str) {
        if self.0 {
            out.eprintln(&format!("sbrp bench: {what}…"));
        }
    }
}

/// The median of `values` (which must not be empty).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Handshakes and the primitives they are made of, measured in the same rounds: each round
/// runs the handshake, then every primitive, for a slice of time each, and computes that
/// round's bound from that round's primitive costs. The figures reported are those of the
/// median round by ratio, so a quiet or a busy moment of the machine falls on both sides of
/// the comparison, and the handshake rate, the bound and the ratio come from one round.
fn measure_handshake(daemon: &Daemon, time: Duration) -> CliResult<HandshakeResult> {
    let pinned = daemon.identity().public_key();
    let sid = SessionId::MIN;
    let mut failed = false;
    let mut handshake_f = || {
        let ok = ClientHandshake::start("bench-daemon", sid)
            .ok()
            .and_then(|c| {
                let (accept, d) = daemon.accept(&c.init()).ok()?;
                let s = c.finish(&accept, &pinned).ok()?;
                Some((s, d))
            });
        failed |= black_box(ok).is_none();
    };
    let mut keygen_f = || {
        black_box(sbrp::EphemeralSecret::generate().ok());
    };
    let a = x25519_dalek::StaticSecret::from([7u8; 32]);
    let b_pub = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([9u8; 32]));
    let mut dh_f = || {
        black_box(a.diffie_hellman(black_box(&b_pub)));
    };
    let msg = [0x42u8; 32];
    let identity = daemon.identity();
    let mut sign_f = || {
        black_box(identity.sign(black_box(&msg)));
    };
    let sig = identity.sign(&msg);
    let mut verify_f = || {
        black_box(pinned.verify_strict(black_box(&msg), &sig));
    };
    let mut hkdf_f = || {
        let t = transcript_hash(b"bench-daemon", &msg, &msg, &sig);
        black_box(derive_session_keys(black_box(&msg), &t));
    };

    // The handshake gets `time` in all, each primitive half of it.
    let hs_slice = time / ROUNDS;
    let prim_slice = time / (2 * ROUNDS);
    let us = |per_sec: f64| 1e6 / per_sec;
    let mut rounds: Vec<[f64; 6]> = Vec::new();
    for _ in 0..ROUNDS {
        rounds.push([
            us(rate(hs_slice, 1, &mut handshake_f)),
            us(rate(prim_slice, 1, &mut keygen_f)),
            us(rate(prim_slice, 1, &mut dh_f)),
            us(rate(prim_slice, 1, &mut sign_f)),
            us(rate(prim_slice, 1, &mut verify_f)),
            us(rate(prim_slice, 1, &mut hkdf_f)),
        ]);
    }
    if failed {
        return Err(CliError::new(
            Exit::ProtocolFailure,
            "a loopback handshake failed",
        ));
    }
    // 2 × keygen + 2 × DH + sign + verify + 2 × (transcript + HKDF), per round.
    let bound_us = |r: &[f64; 6]| 2.0 * r[1] + 2.0 * r[2] + r[3] + r[4] + 2.0 * r[5];
    // The median round by ratio (ROUNDS is odd): every figure below is from that one round,
    // so the handshake, its bound and the ratio agree with one another.
    rounds.sort_by(|x, y| (bound_us(x) / x[0]).total_cmp(&(bound_us(y) / y[0])));
    let r = rounds[rounds.len() / 2];
    Ok(HandshakeResult {
        per_sec: 1e6 / r[0],
        primitive_bound_per_sec: 1e6 / bound_us(&r),
        ratio: bound_us(&r) / r[0],
        rounds: ROUNDS,
        primitives_us: Primitives {
            x25519_keygen: r[1],
            x25519_dh: r[2],
            ed25519_sign: r[3],
            ed25519_verify: r[4],
            hkdf: r[5],
        },
    })
}

/// Measures everything.
pub fn measure(out: &Output, time: Duration, progress: bool) -> CliResult<Report> {
    let p = Progress(progress);
    let rng = |e: sbrp::RngError| CliError::new(Exit::Error, format!("the system RNG failed: {e}"));
    let daemon = Daemon::new(IdentityKeyPair::generate().map_err(rng)?, "bench-daemon");

    p.step(out, "handshakes and their primitives");
    let handshake = measure_handshake(&daemon, time)?;

    let mut aead = Vec::new();
    for size in SIZES {
        p.step(out, &format!("AEAD at {size} bytes"));
        aead.push(measure_aead(size, time));
    }

    p.step(out, "frames and the streaming decoder");
    let decoder = measure_decoder(time)?;

    let at = |s: usize| aead.iter().find(|r| r.size == s);
    let session_ok = [1024, 65508]
        .iter()
        .filter_map(|s| at(*s))
        .all(|r| r.seal_ratio >= 0.9 && r.open_ratio >= 0.9);
    Ok(Report {
        schema: "sbrp.bench/1",
        backend: BACKEND,
        seconds: time.as_secs_f64(),
        release: !cfg!(debug_assertions),
        targets: Targets {
            handshake_90pct: handshake.ratio >= 0.9,
            session_90pct_of_raw: session_ok,
            decoder_1gb_s: decoder.stream_mb_s >= 1000.0,
        },
        handshake,
        aead,
        decoder,
    })
}

/// Interleaved rounds per comparison (the median round counts).
const ROUNDS: u32 = 5;

/// How many pre-sealed payloads the open rows cycle through.
const POOL: usize = 32;

fn measure_aead(size: usize, time: Duration) -> AeadResult {
    let mb = |ops: f64| ops * size as f64 / 1e6;
    let k = keys(1);
    let sid = SessionId::MIN;

    // Session seal: the whole frame in place.
    let mut sender = Session::new(Role::Client, k.clone());
    let mut frame = vec![0x61u8; HEADER_LEN + MIN_DATA_LEN + size];
    let mut session_seal_f = || {
        let r = sender.seal_frame_in_place(sid, black_box(&mut frame));
        black_box(r.is_ok());
    };

    // Raw seal: the AEAD on the plaintext span only.
    let cipher = Cipher::new(&k.client_to_daemon);
    let nonce = [0u8; NONCE_LEN];
    let mut body = vec![0x61u8; size];
    let mut raw_seal_f = || {
        black_box(cipher.seal_in_place(&nonce, black_box(&mut body)));
    };

    // Sealed payloads for the open rows (seq 0..POOL).
    let mut sender = Session::new(Role::Client, k.clone());
    let pool: Vec<Vec<u8>> = (0..POOL)
        .map(|i| {
            let mut p = vec![i as u8; MIN_DATA_LEN + size];
            let _ = sender.seal_in_place(&mut p);
            p
        })
        .collect();
    let mut work = vec![0u8; MIN_DATA_LEN + size];
    let mut work2 = work.clone();

    // Session open: a fresh receiver per round of POOL payloads (the window forbids replays).
    let mut session_open_f = || {
        let mut receiver = Session::new(Role::Daemon, k.clone());
        for p in &pool {
            work.copy_from_slice(p);
            let r = receiver.open_in_place(black_box(&mut work));
            assert!(r.is_ok(), "benchmark payload did not open");
        }
    };

    // Raw open: the same copy, then the AEAD alone.
    let nonces: Vec<[u8; NONCE_LEN]> = (0..POOL as u64)
        .map(|s| sbrp::Direction::ClientToDaemon.nonce(s))
        .collect();
    let mut raw_open_f = || {
        for (p, n) in pool.iter().zip(&nonces) {
            work2.copy_from_slice(p);
            let (ct, tag) = work2[NONCE_LEN..].split_at_mut(size);
            let mut t = [0u8; TAG_LEN];
            t.copy_from_slice(tag);
            let r = cipher.open_in_place(n, black_box(ct), &t);
            assert!(r.is_ok(), "benchmark payload did not open");
        }
    };
    // Interleaved rounds, the median of each row: interleaving exposes raw and session rows
    // to the same conditions, as in the handshake rows.
    let slice = time / ROUNDS;
    let mut rounds: Vec<[f64; 4]> = Vec::new();
    for _ in 0..ROUNDS {
        rounds.push([
            rate(slice, 1, &mut session_seal_f),
            rate(slice, 1, &mut raw_seal_f),
            rate(slice, POOL as u64, &mut session_open_f),
            rate(slice, POOL as u64, &mut raw_open_f),
        ]);
    }
    let column = |i: usize| median(&mut rounds.iter().map(|r| r[i]).collect::<Vec<_>>());
    let (session_seal, raw_seal, session_open, raw_open) =
        (column(0), column(1), column(2), column(3));
    AeadResult {
        size,
        session_seal_mb_s: mb(session_seal),
        session_open_mb_s: mb(session_open),
        raw_seal_mb_s: mb(raw_seal),
        raw_open_mb_s: mb(raw_open),
        seal_ratio: session_seal / raw_seal,
        open_ratio: session_open / raw_open,
    }
}

fn measure_decoder(time: Duration) -> CliResult<DecoderResult> {
    let mut s = Session::new(Role::Client, keys(2));
    let sid = SessionId::MIN;
    let one = s
        .encrypt_frame(sid, &[0x33; 1024])
        .map_err(|e| CliError::error(e.to_string()))?;
    let frame_len = one.len();
    let stream: Vec<u8> = one.iter().copied().cycle().take(frame_len * 1024).collect();
    let mut decoder = StreamDecoder::new();
    let mut count = 0usize;
    let stream_rate = rate(time, stream.len() as u64, || {
        for chunk in stream.chunks(64 * 1024) {
            let r = decoder.push(black_box(chunk), |f| {
                count += black_box(f.frame.payload().len());
            });
            assert!(r.is_ok(), "benchmark stream did not decode");
        }
    });
    // Like for like with decoders that hand out owned frames: every payload byte is copied
    // out of the stream into the caller's buffer.
    let mut sink: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut copy_decoder = StreamDecoder::new();
    let copy_rate = rate(time, stream.len() as u64, || {
        for chunk in stream.chunks(64 * 1024) {
            let r = copy_decoder.push(black_box(chunk), |f| {
                sink.clear();
                sink.extend_from_slice(f.frame.payload());
                black_box(&sink);
            });
            assert!(r.is_ok(), "benchmark stream did not decode");
        }
    });
    let decode_rate = rate(time, frame_len as u64, || {
        let f = decode_frame(black_box(&one));
        assert!(f.is_ok(), "benchmark frame did not decode");
    });
    let Ok(Frame::Data(data)) = decode_frame(&one) else {
        return Err(CliError::error("benchmark frame did not decode"));
    };
    let mut buf = Vec::with_capacity(frame_len);
    let encode_rate = rate(time, frame_len as u64, || {
        buf.clear();
        Frame::Data(black_box(data)).encode_into(&mut buf);
        black_box(&buf);
    });
    black_box(count);
    Ok(DecoderResult {
        frame_len,
        stream_mb_s: stream_rate / 1e6,
        stream_copy_mb_s: copy_rate / 1e6,
        decode_mb_s: decode_rate / 1e6,
        encode_mb_s: encode_rate / 1e6,
    })
}

fn table(out: &Output, r: &Report) -> String {
    use super::output::Style;
    let verdict = |ok: bool| {
        if ok {
            out.style_out("ok", Style::Good)
        } else {
            out.style_out("below target", Style::Bad)
        }
    };
    let h = &r.handshake;
    let pr = &h.primitives_us;
    let mut t = format!(
        "sbrp bench: AEAD backend {}, {} s per measurement{}\n\n",
        r.backend,
        r.seconds,
        if r.release {
            ""
        } else {
            " (DEBUG BUILD: numbers are meaningless)"
        }
    );
    t += &format!(
        "handshake (both sides)   {:>10.0} /s   primitive bound {:>8.0} /s   {:>5.1} %  {}\n",
        h.per_sec,
        h.primitive_bound_per_sec,
        h.ratio * 100.0,
        verdict(r.targets.handshake_90pct)
    );
    t += &format!(
        "  (the median of {} rounds, each measuring the handshake and then every primitive)\n",
        h.rounds
    );
    t += &format!(
        "  primitives (µs): X25519 keygen {:.1} ×2, X25519 DH {:.1} ×2, Ed25519 sign {:.1}, verify {:.1}, HKDF {:.2} ×2\n\n",
        pr.x25519_keygen, pr.x25519_dh, pr.ed25519_sign, pr.ed25519_verify, pr.hkdf
    );
    t += "size (B)   session seal   raw seal   ratio   session open   raw open   ratio   (MB/s)\n";
    for a in &r.aead {
        t += &format!(
            "{:>8}   {:>12.1}   {:>8.1}   {:>4.1} %   {:>12.1}   {:>8.1}   {:>4.1} %\n",
            a.size,
            a.session_seal_mb_s,
            a.raw_seal_mb_s,
            a.seal_ratio * 100.0,
            a.session_open_mb_s,
            a.raw_open_mb_s,
            a.open_ratio * 100.0
        );
    }
    t += &format!(
        "  session ≥ 90 % of raw at 1 KiB and 65508 B: {}\n\n",
        verdict(r.targets.session_90pct_of_raw)
    );
    let d = &r.decoder;
    t += &format!(
        "{}-byte Data frames: decode_frame {:.0} MB/s, encode {:.0} MB/s\n",
        d.frame_len, d.decode_mb_s, d.encode_mb_s
    );
    t += &format!(
        "  stream decoder, zero-copy framing (headers read, payloads lent) {:.0} MB/s {}\n",
        d.stream_mb_s,
        verdict(r.targets.decoder_1gb_s)
    );
    t += &format!(
        "  stream decoder, every payload byte copied out                   {:.0} MB/s",
        d.stream_copy_mb_s
    );
    t
}

/// Runs `sbrp bench` (or `sbrp bench relay`).
pub fn run(out: &Output, args: Args) -> CliResult {
    match args.command {
        #[cfg(feature = "relay")]
        Some(BenchCommand::Relay(a)) => return relay::run(out, a),
        None => {}
    }
    if args.seconds.is_zero() {
        return Err(CliError::new(Exit::Usage, "--seconds must be more than 0"));
    }
    let progress = std::io::stderr().is_terminal();
    if cfg!(debug_assertions) {
        out.warn("this is a debug build: run `cargo run --release -- bench` for real numbers");
    }
    let report = measure(out, args.seconds, progress)?;
    if args.json {
        out.json(&report)?;
    } else {
        out.println(&table(out, &report))?;
    }
    Ok(Exit::Success)
}
