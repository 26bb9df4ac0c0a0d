//! ChaCha20-Poly1305 with an empty AAD, behind one small interface so the backend can be
//! chosen at build time: pure Rust by default (ChaCha20 from RustCrypto's `chacha20`, Poly1305
//! by message size, composed here; see the README's backend section for why and the
//! measurements), or `ring` with the cargo feature `ring`. Both produce identical bytes.
//!
//! | backend | feature | key wiped on drop | buffer after a failed open |
//! |---|---|---|---|
//! | RustCrypto `chacha20` + Poly1305 by size | (default) | yes (`zeroize`) | the ciphertext, unchanged |
//! | `ring` 0.17 | `ring` | **no**: ring keeps its expanded key in a private type and offers no way to wipe it | all zeros (ring wipes it) |
//!
//! With `ring`, the 32-byte session keys that [`crate::session::SessionKeys`] holds are still
//! wiped; only ring's own copy inside its `LessSafeKey` is not (it is freed without being
//! overwritten). Choose the default backend where that matters.

use crate::frame::{NONCE_LEN, TAG_LEN};

/// Length of a ChaCha20-Poly1305 key.
pub const KEY_LEN: usize = 32;

/// The name of the AEAD backend compiled in: `"rustcrypto"` or `"ring"`.
pub const BACKEND: &str = backend::NAME;

/// The tag did not verify (wrong key, wrong nonce, or altered bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenError;

/// A ChaCha20-Poly1305 key ready for use. The key schedule is wiped on drop.
pub struct Cipher(backend::Key);

impl Cipher {
    /// Prepares `key`.
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self(backend::Key::new(key))
    }

    /// Encrypts `buf` in place and returns the tag.
    pub fn seal_in_place(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> [u8; TAG_LEN] {
        self.0.seal(nonce, buf)
    }

    /// Verifies `tag` and, only if it is right, returns with `buf` decrypted in place. On
    /// failure no plaintext is exposed: RustCrypto leaves the ciphertext unchanged, `ring`
    /// overwrites `buf` with zeros. Do not rely on either.
    pub fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenError> {
        self.0.open(nonce, buf, tag)
    }
}

impl core::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Cipher({BACKEND}, <key redacted>)")
    }
}

#[cfg(not(feature = "ring"))]
mod poly;

/// ChaCha20 from the `chacha20` crate (SIMD chosen at run time) and Poly1305 chosen by
/// message size, composed here in safe Rust (RFC 8439 §2.8 with an empty AAD).
#[cfg(not(feature = "ring"))]
mod backend {
    use super::poly::{AVX2_FROM, Poly1305};
    use super::{KEY_LEN, NONCE_LEN, OpenError, TAG_LEN};
    use chacha20::cipher::array::Array;
    use chacha20::cipher::consts::U64;
    use chacha20::cipher::{KeyIvInit, StreamCipherCore};
    use chacha20::variants::Ietf;
    use chacha20::{ChaChaCore, R20};
    use poly1305::universal_hash::{KeyInit, UniversalHash};
    use subtle::ConstantTimeEq;
    use zeroize::{Zeroize, Zeroizing};

    pub const NAME: &str = "rustcrypto";

    type Core = ChaChaCore<R20, Ietf>;
    type Block = Array<u8, U64>;

    /// Keystream blocks made in one call: 4 is the AVX2 backend's width and one AVX-512
    /// vector, so block 0 (the Poly1305 key) and the first 192 bytes cost one pass.
    const FIRST: usize = 4;

    pub struct Key(Zeroizing<[u8; KEY_LEN]>);

    impl Key {
        pub fn new(key: &[u8; KEY_LEN]) -> Self {
            Self(Zeroizing::new(*key))
        }

        pub fn seal(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> [u8; TAG_LEN] {
            check_len(buf.len());
            let mut stream = Stream::new(&self.0, nonce);
            stream.apply(buf);
            stream.tag(buf)
        }

        pub fn open(
            &self,
            nonce: &[u8; NONCE_LEN],
            buf: &mut [u8],
            tag: &[u8; TAG_LEN],
        ) -> Result<(), OpenError> {
            check_len(buf.len());
            let mut stream = Stream::new(&self.0, nonce);
            let expected = stream.tag(buf);
            if bool::from(expected.ct_eq(tag)) {
                stream.apply(buf);
                Ok(())
            } else {
                Err(OpenError)
            }
        }
    }

    /// ChaCha20's 32-bit block counter covers 2^32 − 1 blocks after the key block (256 GiB);
    /// SBRP payloads are ≤ 64 KiB. A longer buffer would repeat keystream: refuse it, as
    /// `chacha20poly1305` and ring do.
    fn check_len(len: usize) {
        if len as u64 > (u64::from(u32::MAX) - 1) * 64 {
            unreachable!("ChaCha20-Poly1305 refused a buffer of {len} bytes");
        }
    }

    /// One message's keystream: block 0 gives the Poly1305 key, blocks 1.. encrypt.
    ///
    /// Only block 0 is wiped on drop: it holds the one-time Poly1305 key. The other blocks
    /// are keystream that XORs the message, equal to plaintext ⊕ ciphertext, both of which
    /// the caller holds anyway; wiping them byte by byte cost more than the whole AEAD at
    /// 64 bytes.
    struct Stream {
        core: Core,
        first: [Block; FIRST],
    }

    impl Stream {
        fn new(key: &[u8; KEY_LEN], nonce: &[u8; NONCE_LEN]) -> Self {
            let mut core = Core::new(key.into(), nonce.into());
            let mut first = [Block::default(); FIRST];
            core.write_keystream_blocks(&mut first);
            Self { core, first }
        }

        /// Poly1305 over `ct` padded, then the lengths block (AAD length 0).
        fn tag(&self, ct: &[u8]) -> [u8; TAG_LEN] {
            let otk: &[u8; 32] = match self.first[0].first_chunk() {
                Some(otk) => otk,
                None => unreachable!("a ChaCha20 block is 64 bytes"),
            };
            let mut lengths = [0u8; 16];
            lengths[8..].copy_from_slice(&(ct.len() as u64).to_le_bytes());
            if ct.len() < AVX2_FROM {
                let mut mac = Poly1305::new(otk);
                mac.update_padded(ct);
                mac.update_padded(&lengths);
                mac.finalize()
            } else {
                let mut mac = poly1305::Poly1305::new(otk.into());
                mac.update_padded(ct);
                mac.update(&[lengths.into()]);
                mac.finalize().into()
            }
        }

        /// XORs the keystream from block 1 on into `buf`.
        fn apply(&mut self, buf: &mut [u8]) {
            let head_len = buf.len().min((FIRST - 1) * 64);
            let (head, rest) = buf.split_at_mut(head_len);
            xor(head, &self.first[1..]);
            if rest.is_empty() {
                return;
            }
            // Whole groups of 4 blocks in place (inside the backend's SIMD code), then the
            // last < 256 bytes from one more group.
            let whole = rest.len() / (FIRST * 64) * (FIRST * 64);
            let (bulk, tail) = rest.split_at_mut(whole);
            let (blocks, _) = Array::slice_as_chunks_mut(bulk);
            self.core.apply_keystream_blocks(blocks);
            if !tail.is_empty() {
                let mut last = [Block::default(); FIRST];
                self.core.write_keystream_blocks(&mut last);
                xor(tail, &last);
            }
        }
    }

    impl Drop for Stream {
        fn drop(&mut self) {
            // `core` wipes its own state (chacha20's `zeroize` feature).
            self.first[0].zeroize();
        }
    }

    /// `dst ^= keystream`, one 64-byte block at a time (so the compiler vectorises it);
    /// `dst` is at most as long as the blocks.
    fn xor(dst: &mut [u8], keystream: &[Block]) {
        for (d, k) in dst.chunks_mut(64).zip(keystream) {
            for (d, k) in d.iter_mut().zip(k.iter()) {
                *d ^= k;
            }
        }
    }
}

#[cfg(feature = "ring")]
mod backend {
    use super::{KEY_LEN, NONCE_LEN, OpenError, TAG_LEN};
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, Tag, UnboundKey};

    pub const NAME: &str = "ring";

    /// ring's key. Not wiped on drop: ring gives no access to its key schedule.
    pub struct Key(LessSafeKey);

    impl Key {
        pub fn new(key: &[u8; KEY_LEN]) -> Self {
            // ring refuses only keys of the wrong length; ours is 32 bytes by type.
            match UnboundKey::new(&CHACHA20_POLY1305, key) {
                Ok(k) => Self(LessSafeKey::new(k)),
                Err(_) => unreachable!("ring refused a 32-byte ChaCha20-Poly1305 key"),
            }
        }

        pub fn seal(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> [u8; TAG_LEN] {
            let nonce = Nonce::assume_unique_for_key(*nonce);
            // ring refuses only inputs over 256 GiB; SBRP payloads are ≤ 64 KiB.
            match self.0.seal_in_place_separate_tag(nonce, Aad::empty(), buf) {
                Ok(tag) => {
                    let mut out = [0u8; TAG_LEN];
                    out.copy_from_slice(tag.as_ref());
                    out
                }
                Err(_) => unreachable!("ring refused a buffer of {} bytes", buf.len()),
            }
        }

        pub fn open(
            &self,
            nonce: &[u8; NONCE_LEN],
            buf: &mut [u8],
            tag: &[u8; TAG_LEN],
        ) -> Result<(), OpenError> {
            let nonce = Nonce::assume_unique_for_key(*nonce);
            self.0
                .open_in_place_separate_tag(nonce, Aad::empty(), Tag::from(*tag), buf, 0..)
                .map(|_| ())
                .map_err(|_| OpenError)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kat() -> ([u8; KEY_LEN], [u8; NONCE_LEN]) {
        let mut key = [0u8; KEY_LEN];
        for (i, b) in key.iter_mut().enumerate() {
            *b = 0x80 + i as u8;
        }
        let nonce = [
            0x07, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
        ];
        (key, nonce)
    }

    /// The first client→daemon message of the reference's vectors (`messages[0]` of
    /// `sbrp-vectors/1`: "Hello from client!", seq 0): run under whichever backend is built.
    #[test]
    fn reference_message_vector() {
        let key: [u8; KEY_LEN] =
            hex::decode("9aed6a2acec2cc049b01efa7677698845126f24a2dbdb9ee9570531b1e7d83f3")
                .unwrap()
                .try_into()
                .unwrap();
        let nonce: [u8; NONCE_LEN] = hex::decode("000000010000000000000000")
            .unwrap()
            .try_into()
            .unwrap();
        let mut buf = b"Hello from client!".to_vec();
        let tag = Cipher::new(&key).seal_in_place(&nonce, &mut buf);
        assert_eq!(hex::encode(&buf), "990c7a087ab4c262a8e22194702fd5d8dbc0");
        assert_eq!(hex::encode(tag), "600727d9182f9e146d5f3a7fc5cafa2a");
        Cipher::new(&key)
            .open_in_place(&nonce, &mut buf, &tag)
            .unwrap();
        assert_eq!(buf, b"Hello from client!");
    }

    #[test]
    fn round_trip_and_tamper() {
        let (key, nonce) = kat();
        let cipher = Cipher::new(&key);
        for len in [0usize, 1, 63, 64, 65, 1024, 16 * 1024, 65508] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut buf = plain.clone();
            let tag = cipher.seal_in_place(&nonce, &mut buf);
            let mut opened = buf.clone();
            cipher.open_in_place(&nonce, &mut opened, &tag).unwrap();
            assert_eq!(opened, plain, "len {len}");
            let mut bad = tag;
            bad[0] ^= 1;
            let mut copy = buf.clone();
            assert_eq!(
                cipher.open_in_place(&nonce, &mut copy, &bad),
                Err(OpenError)
            );
            if len > 0 {
                assert_ne!(copy, plain, "no plaintext after a failed open");
            }
        }
    }

    /// Every backend must agree on every byte with RustCrypto's `chacha20poly1305` (a
    /// dev-dependency: an implementation independent of our composition), around each
    /// boundary of ours: the 192 bytes of the first keystream pass, groups of 256 bytes, and
    /// the switch of Poly1305 backend at 16 KiB.
    #[test]
    fn matches_chacha20poly1305_crate() {
        use chacha20poly1305::ChaCha20Poly1305;
        use chacha20poly1305::aead::{AeadInOut, KeyInit};
        let (key, nonce) = kat();
        let ours = Cipher::new(&key);
        let rc = ChaCha20Poly1305::new((&key).into());
        let mut lens: Vec<usize> = (0..=520).collect();
        for edge in [1024usize, 4096, 16 * 1024, 65508] {
            lens.extend(edge - 17..=edge + 17);
        }
        for len in lens {
            let plain: Vec<u8> = (0..len).map(|i| (i * 13 + 1) as u8).collect();
            let mut a = plain.clone();
            let tag_a = ours.seal_in_place(&nonce, &mut a);
            let mut opened = a.clone();
            ours.open_in_place(&nonce, &mut opened, &tag_a).unwrap();
            assert_eq!(opened, plain, "len {len}");
            let mut b = plain.clone();
            let tag_b: [u8; TAG_LEN] = rc
                .encrypt_inout_detached((&nonce).into(), &[], b.as_mut_slice().into())
                .unwrap()
                .into();
            assert_eq!((a.as_slice(), tag_a), (b.as_slice(), tag_b), "len {len}");
        }
    }
}
