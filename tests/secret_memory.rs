//! Reading, decoding and encoding a secret key leaves no copy of it in freed heap memory.
//!
//! A global allocator wraps the system one and, while armed, scans every block handed back
//! (by `dealloc`, and the old block of a `realloc`) for the secret in the forms it takes on
//! the way: the raw seed, its hex text, and the base64 text of seed ‖ public key. A buffer
//! that grows by reallocation (`read_to_end`, `String::push`) or a temporary that is not
//! wiped shows up as a hit. As in `tests/no_alloc.rs`, the `unsafe impl GlobalAlloc` is fine
//! here: `#![forbid(unsafe_code)]` covers the library and the binary, not this test.
//!
//! One test function runs the cases one after another (the allocator is process-wide, so
//! parallel tests would scan each other's blocks).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sbrp::IdentityKeyPair;
use sbrp::keyfile::{self, BareKey, SecretFormat};

struct Scanning;

static ARMED: AtomicBool = AtomicBool::new(false);
static HITS: AtomicUsize = AtomicUsize::new(0);
static NEEDLES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();

fn scan(ptr: *const u8, size: usize) {
    if !ARMED.load(Ordering::SeqCst) {
        return;
    }
    let Some(needles) = NEEDLES.get() else {
        return;
    };
    // SAFETY: the block is still allocated (we scan before handing it back) and `size` bytes
    // long; we only read it.
    let block = unsafe { std::slice::from_raw_parts(ptr, size) };
    for needle in needles {
        if block.len() >= needle.len() && block.windows(needle.len()).any(|w| w == &needle[..]) {
            HITS.fetch_add(1, Ordering::SeqCst);
        }
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the scan only reads a
// block before it is released.
unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        scan(ptr, layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A moving realloc frees the old block with its content: scan it first.
        scan(ptr, layout.size().min(new_size));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Scanning = Scanning;

/// A reader that hands out a few bytes at a time, so a reading buffer has to grow.
struct Trickle<'a>(&'a [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0.len()).min(7);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// Runs `f` armed and returns how many freed blocks held the secret.
fn hits_during(f: impl FnOnce()) -> usize {
    HITS.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    f();
    ARMED.store(false, Ordering::SeqCst);
    HITS.load(Ordering::SeqCst)
}

#[test]
fn secrets_leave_no_copy_in_freed_memory() {
    let seed: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let pair = IdentityKeyPair::from_seed(&seed);
    let mut full = seed.to_vec();
    full.extend_from_slice(pair.public_key().as_bytes());
    // Half of each form is enough to count a partial copy.
    let hex_text = hex::encode(seed);
    let b64_text = keyfile::base64_encode(&full);
    NEEDLES
        .set(vec![
            seed[..16].to_vec(),
            hex_text.as_bytes()[..32].to_vec(),
            b64_text.as_bytes()[..32].to_vec(),
        ])
        .unwrap();
    // The check can fail: a plain `read_to_end` into a growing Vec leaves copies.
    let pem = keyfile::encode_secret(&pair, SecretFormat::Hex).to_string();
    let leaky = hits_during(|| {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut Trickle(pem.as_bytes()), &mut v).unwrap();
        drop(zeroize::Zeroizing::new(v));
    });
    assert!(
        leaky > 0,
        "the scanner sees nothing: the test would prove nothing"
    );

    for format in [
        SecretFormat::Pem,
        SecretFormat::Hex,
        SecretFormat::Base64,
        SecretFormat::Json,
    ] {
        // Made before arming, dropped after: the input itself is not what we look for.
        let text = keyfile::encode_secret(&pair, format);
        let hits = hits_during(|| {
            let buf = keyfile::read_zeroizing(Trickle(text.as_bytes()), 0, 1 << 20).unwrap();
            let decoded = keyfile::decode(&buf, BareKey::Public).unwrap();
            assert!(decoded.key.is_secret());
            assert_eq!(decoded.key.public_key(), pair.public_key());
            drop(decoded);
            drop(buf);
        });
        assert_eq!(
            hits, 0,
            "{format:?}: freed blocks held the secret while reading"
        );
        let hits = hits_during(|| {
            let again = keyfile::encode_secret(&pair, format);
            assert_eq!(again.as_str(), text.as_str());
            drop(again);
        });
        assert_eq!(
            hits, 0,
            "{format:?}: freed blocks held the secret while encoding"
        );
        drop(text);
    }
}
