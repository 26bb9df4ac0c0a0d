//! `cargo bench`: the hot paths `sbrp bench` measures, under criterion.
//! `cargo bench --features ring` for the ring backend.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sbrp::aead::Cipher;
use sbrp::{
    ClientHandshake, Daemon, IdentityKeyPair, Role, Session, SessionId, SessionKeys, StreamDecoder,
    decode_frame,
};
use zeroize::Zeroizing;

fn keys() -> SessionKeys {
    SessionKeys {
        client_to_daemon: Zeroizing::new([1; 32]),
        daemon_to_client: Zeroizing::new([2; 32]),
    }
}

fn handshake(c: &mut Criterion) {
    let daemon = Daemon::new(IdentityKeyPair::from_seed(&[3; 32]), "bench");
    let pinned = daemon.identity().public_key();
    c.bench_function("handshake/loopback_both_sides", |b| {
        b.iter(|| {
            let client = ClientHandshake::start("bench", SessionId::MIN).unwrap();
            let (accept, d) = daemon.accept(&client.init()).unwrap();
            black_box((client.finish(&accept, &pinned).unwrap(), d))
        })
    });
}

fn aead(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("seal/{}", sbrp::aead::BACKEND));
    for size in [64usize, 1024, 16 * 1024, 65508] {
        g.throughput(Throughput::Bytes(size as u64));
        let mut session = Session::new(Role::Client, keys());
        let mut frame = vec![0u8; 13 + 28 + size];
        g.bench_with_input(BenchmarkId::new("session", size), &size, |b, _| {
            b.iter(|| session.seal_frame_in_place(SessionId::MIN, black_box(&mut frame)))
        });
        let cipher = Cipher::new(&[1; 32]);
        let mut body = vec![0u8; size];
        g.bench_with_input(BenchmarkId::new("raw", size), &size, |b, _| {
            b.iter(|| cipher.seal_in_place(&[0; 12], black_box(&mut body)))
        });
    }
    g.finish();
}

fn decoder(c: &mut Criterion) {
    let mut s = Session::new(Role::Client, keys());
    let one = s.encrypt_frame(SessionId::MIN, &[7; 1024]).unwrap();
    let stream: Vec<u8> = one.iter().copied().cycle().take(one.len() * 256).collect();
    let mut g = c.benchmark_group("frames_1KiB");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("stream_decoder_64KiB_chunks", |b| {
        let mut dec = StreamDecoder::new();
        b.iter(|| {
            let mut n = 0;
            for chunk in stream.chunks(64 * 1024) {
                n += dec.push(black_box(chunk), |_| {}).unwrap();
            }
            n
        })
    });
    g.throughput(Throughput::Bytes(one.len() as u64));
    g.bench_function("decode_frame", |b| {
        b.iter(|| decode_frame(black_box(&one)).unwrap().session_id())
    });
    g.finish();
}

criterion_group!(benches, handshake, aead, decoder);
criterion_main!(benches);
