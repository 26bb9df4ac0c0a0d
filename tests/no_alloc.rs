//! The in-place path allocates nothing per message: sealing a frame, opening a payload, and
//! streaming frames that lie whole in the caller's chunk (through [`Session`], with the
//! ChaCha20 plan the CPU picks); and sealing and opening in place under every ChaCha20 plan
//! this machine can run (through [`Cipher`]: our AVX-512 code where the CPU has it, the
//! `chacha20` crate's code always; ring's one with `--features ring`).
//!
//! A counting global allocator wraps the system one. Implementing `GlobalAlloc` takes an
//! `unsafe impl`; that is fine here: `#![forbid(unsafe_code)]` applies to the library and the
//! binary, and this test binary is neither.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use sbrp::aead::{BACKEND, Cipher};
use sbrp::{Role, Session, SessionId, SessionKeys, StreamDecoder};
use zeroize::Zeroizing;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Only the measuring thread counts: the test harness's own threads (output capture, the
    // slow-test timer) allocate whenever they like, and must not make the count flaky.
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if COUNTING.with(|c| c.get()) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter has no
// effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::SeqCst)
}

fn keys() -> SessionKeys {
    SessionKeys {
        client_to_daemon: Zeroizing::new([1; 32]),
        daemon_to_client: Zeroizing::new([2; 32]),
    }
}

#[test]
fn seal_open_and_stream_without_allocating() {
    let sid = SessionId::new(9).unwrap();
    let mut client = Session::new(Role::Client, keys());
    let mut daemon = Session::new(Role::Daemon, keys());
    let mut decoder = StreamDecoder::new();
    // Buffers are made before counting; the loop must not add any.
    let mut frames: Vec<Vec<u8>> = [0usize, 1, 64, 1024, 16 * 1024, 65508]
        .iter()
        .map(|n| vec![0x5a; 13 + 28 + n])
        .collect();
    let mut seen = 0usize;

    COUNTING.with(|c| c.set(true));
    let before = allocations();
    for round in 0..50 {
        for frame in frames.iter_mut() {
            let n = frame.len();
            frame[25..n - 16].fill(round as u8);
            client.seal_frame_in_place(sid, frame).unwrap();
            decoder
                .push(frame, |f| {
                    seen += f.frame.payload().len();
                })
                .unwrap();
            let plain = daemon.open_in_place(&mut frame[13..]).unwrap();
            assert!(plain.iter().all(|b| *b == round as u8));
        }
    }
    let after = allocations();
    COUNTING.with(|c| c.set(false));
    assert_eq!(after - before, 0, "allocations on the in-place path");
    assert!(seen > 0);
}

/// `Session` above calls the cipher with the plan `backend::plan()` picks (our AVX-512 code on
/// an AVX-512 CPU), so `chacha20`'s code would go unchecked there. Everything the session does
/// around the cipher is the same under every plan; here the cipher alone runs each plan in
/// turn, at lengths that reach each branch of both (`chacha20`'s code: the first 4-block call
/// alone, whole 256-byte groups with and without a tail; ours: 4-block and 16-block passes;
/// Poly1305 below and from 16 KiB).
#[test]
fn seal_and_open_under_every_plan_without_allocating() {
    let plans = sbrp::aead::plans();
    if BACKEND == "rustcrypto"
        && cfg!(target_arch = "x86_64")
        && !plans.iter().any(|p| p.name() == "avx512")
    {
        eprintln!("note: this CPU has no AVX-512: our AVX-512 ChaCha20 not tested");
    }
    let names: Vec<&str> = plans.iter().map(|p| p.name()).collect();
    assert!(
        names.contains(&"chacha20") || BACKEND == "ring",
        "{names:?}"
    );
    let cipher = Cipher::new(&[3; 32]);
    let mut bufs: Vec<Vec<u8>> = [0usize, 1, 64, 192, 193, 448, 1000, 1024, 16 * 1024, 65508]
        .iter()
        .map(|n| vec![0; *n])
        .collect();
    for plan in plans {
        COUNTING.with(|c| c.set(true));
        let before = allocations();
        for round in 0..50u8 {
            let nonce = [round; 12];
            for buf in bufs.iter_mut() {
                buf.fill(round);
                let tag = cipher.seal_in_place_with(plan, &nonce, buf);
                assert!(buf.len() < 2 || buf.iter().any(|b| *b != round));
                cipher.open_in_place_with(plan, &nonce, buf, &tag).unwrap();
                assert!(buf.iter().all(|b| *b == round));
            }
        }
        let after = allocations();
        COUNTING.with(|c| c.set(false));
        assert_eq!(
            after - before,
            0,
            "allocations under the plan {}",
            plan.name()
        );
    }
}
