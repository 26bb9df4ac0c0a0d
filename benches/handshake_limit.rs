//! How far our handshake is from the fastest X25519 and Ed25519 available as crates:
//! `cargo bench --bench handshake_limit`. Each primitive of the handshake (X25519 public key
//! from a secret, X25519 DH, Ed25519 sign and verify of 32 bytes) under x25519-dalek /
//! ed25519-dalek (what sbrp uses), ring 0.17 and graviola 0.4 (dev-dependencies only: the
//! library does not link them), and our whole loopback handshake for scale.
//!
//! The handshake does 2 × X25519 public key + 2 × DH + 1 sign + 1 verify (+ 2 × HKDF, < 1 µs
//! each): summing a row of the report gives the handshake each library would allow.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::Signer;
use sbrp::{ClientHandshake, Daemon, IdentityKeyPair, SessionId};

const SEED_A: [u8; 32] = [7; 32];
const SEED_B: [u8; 32] = [9; 32];
const MSG: [u8; 32] = [0x42; 32];

fn x25519(c: &mut Criterion) {
    let mut g = c.benchmark_group("x25519_public_key");
    g.bench_function("dalek", |b| {
        let s = x25519_dalek::StaticSecret::from(SEED_A);
        b.iter(|| x25519_dalek::PublicKey::from(black_box(&s)))
    });
    g.bench_function("graviola", |b| {
        let s = graviola::key_agreement::x25519::StaticPrivateKey::from_array(&SEED_A);
        b.iter(|| black_box(&s).public_key().as_bytes())
    });
    g.bench_function("ring", |b| {
        // ring has no static X25519 key: a fresh ephemeral key (OS random) per iteration.
        let rng = ring::rand::SystemRandom::new();
        b.iter(|| {
            let k = ring::agreement::EphemeralPrivateKey::generate(&ring::agreement::X25519, &rng)
                .unwrap();
            black_box(k.compute_public_key().unwrap());
        })
    });
    g.finish();

    let mut g = c.benchmark_group("x25519_dh");
    g.bench_function("dalek", |b| {
        let s = x25519_dalek::StaticSecret::from(SEED_A);
        let p = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(SEED_B));
        b.iter(|| s.diffie_hellman(black_box(&p)))
    });
    g.bench_function("graviola", |b| {
        use graviola::key_agreement::x25519::StaticPrivateKey;
        let s = StaticPrivateKey::from_array(&SEED_A);
        let p = StaticPrivateKey::from_array(&SEED_B).public_key();
        b.iter(|| s.diffie_hellman(black_box(&p)).unwrap().0)
    });
    g.bench_function("ring", |b| {
        // ring's DH consumes the ephemeral key: make one per iteration outside the timing.
        use ring::agreement::{EphemeralPrivateKey, UnparsedPublicKey, X25519, agree_ephemeral};
        let rng = ring::rand::SystemRandom::new();
        let peer = EphemeralPrivateKey::generate(&X25519, &rng).unwrap();
        let peer_pub = peer.compute_public_key().unwrap();
        let peer_pub = UnparsedPublicKey::new(&X25519, peer_pub.as_ref().to_vec());
        b.iter_batched(
            || EphemeralPrivateKey::generate(&X25519, &rng).unwrap(),
            |k| agree_ephemeral(k, &peer_pub, |s| black_box(s[0])).unwrap(),
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn ed25519(c: &mut Criterion) {
    let dalek = ed25519_dalek::SigningKey::from_bytes(&SEED_A);
    let graviola_key = graviola::signing::eddsa::Ed25519SigningKey::from_bytes(&SEED_A).unwrap();
    let ring_key = ring::signature::Ed25519KeyPair::from_seed_unchecked(&SEED_A).unwrap();

    let mut g = c.benchmark_group("ed25519_sign");
    g.bench_function("dalek", |b| b.iter(|| dalek.sign(black_box(&MSG))));
    g.bench_function("graviola", |b| {
        b.iter(|| graviola_key.sign(black_box(&MSG)))
    });
    g.bench_function("ring", |b| b.iter(|| ring_key.sign(black_box(&MSG))));
    g.finish();

    let sig = dalek.sign(&MSG);
    let sig_bytes = sig.to_bytes();
    let public = dalek.verifying_key();
    let mut g = c.benchmark_group("ed25519_verify");
    g.bench_function("dalek_strict", |b| {
        b.iter(|| public.verify_strict(black_box(&MSG), &sig).unwrap())
    });
    g.bench_function("graviola", |b| {
        let v =
            graviola::signing::eddsa::Ed25519VerifyingKey::from_bytes(public.as_bytes()).unwrap();
        b.iter(|| v.verify(&sig_bytes, black_box(&MSG)).unwrap())
    });
    g.bench_function("ring", |b| {
        let v =
            ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public.as_bytes());
        b.iter(|| v.verify(black_box(&MSG), &sig_bytes).unwrap())
    });
    g.finish();
}

fn handshake(c: &mut Criterion) {
    let daemon = Daemon::new(IdentityKeyPair::from_seed(&SEED_A), "bench");
    let pinned = daemon.identity().public_key();
    c.bench_function("sbrp_handshake_both_sides", |b| {
        b.iter(|| {
            let client = ClientHandshake::start("bench", SessionId::MIN).unwrap();
            let (accept, d) = daemon.accept(&client.init()).unwrap();
            black_box((client.finish(&accept, &pinned).unwrap(), d))
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = x25519, ed25519, handshake
}
criterion_main!(benches);
