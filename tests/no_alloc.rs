//! The in-place path allocates nothing per message: sealing a frame, opening a payload, and
//! streaming frames that lie whole in the caller's chunk.
//!
//! A counting global allocator wraps the system one. Implementing `GlobalAlloc` takes an
//! `unsafe impl`; that is fine here: `#![forbid(unsafe_code)]` applies to the library and the
//! binary, and this test binary is neither.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

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
