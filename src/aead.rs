//! ChaCha20-Poly1305 with an empty AAD, behind one small interface so the backend can be
//! chosen at build time: pure Rust by default (ChaCha20 from our own AVX-512 code in
//! `chacha_simd` where the CPU has AVX-512, else from RustCrypto's `chacha20`; Poly1305 by
//! message size; composed here; see the README's backend section for why and the
//! measurements), or `ring` with the cargo feature `ring`. Both produce identical bytes.
//!
//! | backend | feature | key wiped on drop | buffer after a failed open |
//! |---|---|---|---|
//! | our AVX-512 ChaCha20 or RustCrypto `chacha20` + Poly1305 by size | (default) | yes (`zeroize`) | the ciphertext, unchanged |
//! | `ring` 0.17 | `ring` | **no**: ring keeps its expanded key in a private type and offers no way to wipe it | all zeros (ring wipes it) |
//!
//! With `ring`, the 32-byte session keys that [`crate::session::SessionKeys`] holds are still
//! wiped; only ring's own copy inside its `LessSafeKey` is not (it is freed without being
//! overwritten). Choose the default backend where that matters.
//!
//! The default backend makes the ChaCha20 keystream by one of two plans, chosen per call
//! (the CPU test behind it is made once and cached by `pulp`): our AVX-512 code where the CPU
//! has AVX-512, else the `chacha20` crate's code. [`Cipher::seal_in_place`] and
//! [`Cipher::open_in_place`] always take that choice. For tests only, hidden from the docs and
//! outside the stable API: `aead::plans()` lists every plan this machine can run and
//! `Cipher::seal_in_place_with` / `Cipher::open_in_place_with` run the one given, so that
//! `tests/no_alloc.rs` can check the `chacha20` plan too on an AVX-512 CPU. `ring` has one
//! plan.

use crate::frame::{NONCE_LEN, TAG_LEN};

/// Length of a ChaCha20-Poly1305 key.
pub const KEY_LEN: usize = 32;

/// The name of the AEAD backend compiled in: `"rustcrypto"` or `"ring"`.
pub const BACKEND: &str = backend::NAME;

/// For tests: one way of making the keystream (see the module doc). Only [`plans`] makes one,
/// so a plan that needs a CPU feature exists only where the CPU has it.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Plan(backend::Plan);

impl Plan {
    /// `"avx512"` (our AVX-512 ChaCha20), `"chacha20"` (the `chacha20` crate's code) or
    /// `"ring"`.
    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

/// For tests: every plan this machine can run, first the one [`Cipher::seal_in_place`] takes.
#[doc(hidden)]
pub fn plans() -> Vec<Plan> {
    backend::plans().into_iter().map(Plan).collect()
}

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
        self.0.seal(backend::plan, nonce, buf)
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
        self.0.open(backend::plan, nonce, buf, tag)
    }

    /// For tests: [`Cipher::seal_in_place`] with the keystream made by `plan` instead of the
    /// plan the CPU picks. Same bytes under every plan.
    #[doc(hidden)]
    pub fn seal_in_place_with(
        &self,
        plan: Plan,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
    ) -> [u8; TAG_LEN] {
        self.0.seal(|| plan.0, nonce, buf)
    }

    /// For tests: [`Cipher::open_in_place`] with the keystream made by `plan`.
    #[doc(hidden)]
    pub fn open_in_place_with(
        &self,
        plan: Plan,
        nonce: &[u8; NONCE_LEN],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenError> {
        self.0.open(|| plan.0, nonce, buf, tag)
    }
}

impl core::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Cipher({BACKEND}, <key redacted>)")
    }
}

#[cfg(all(not(feature = "ring"), target_arch = "x86_64"))]
mod chacha_simd;
#[cfg(not(feature = "ring"))]
mod poly;

/// ChaCha20 from the `chacha20` crate (SIMD chosen at run time) and Poly1305 chosen by
/// message size, composed here in safe Rust (RFC 8439 §2.8 with an empty AAD).
#[cfg(not(feature = "ring"))]
mod backend {
    #[cfg(target_arch = "x86_64")]
    use super::chacha_simd::{Avx512, Input};
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

    /// Keystream blocks per `chacha20` call: its AVX2 code makes 4 blocks per pass, so a
    /// request that is not a multiple of 4 wastes part of a pass.
    const GROUP: usize = 4;

    /// Which ChaCha20 code makes a message's keystream.
    #[derive(Clone, Copy, Debug)]
    pub enum Plan {
        /// Our own AVX-512 ChaCha20 (`chacha_simd`): 16 blocks per pass vertically, XORed
        /// straight into the buffer. Holds the proof that the CPU has AVX-512.
        #[cfg(target_arch = "x86_64")]
        Avx512(Avx512),
        /// `chacha20`'s code (AVX2, SSE2, NEON or portable, as that crate picks at run time),
        /// in calls of [`GROUP`] blocks, the first one holding the Poly1305 key.
        Crate,
    }

    impl Plan {
        pub fn name(self) -> &'static str {
            match self {
                #[cfg(target_arch = "x86_64")]
                Self::Avx512(_) => "avx512",
                Self::Crate => "chacha20",
            }
        }
    }

    /// Every plan this machine can run, for the tests: each must give the same bytes. Our
    /// AVX-512 code is included only where the CPU has it (the tests print a note otherwise),
    /// and first, as [`plan`] prefers it.
    pub fn plans() -> Vec<Plan> {
        let mut plans = vec![Plan::Crate];
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = Avx512::new() {
            plans.insert(0, Plan::Avx512(simd));
        }
        plans
    }

    /// [`Plan::Avx512`] where the CPU has AVX-512F/BW/CD/DQ/VL (tested once by `pulp` and
    /// cached), else [`Plan::Crate`]. Every plan gives the same bytes; only the speed differs.
    pub fn plan() -> Plan {
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = Avx512::new() {
            return Plan::Avx512(simd);
        }
        Plan::Crate
    }

    /// The key as bytes (for `chacha20`) and as little-endian words (for our code), both
    /// wiped on drop.
    pub struct Key {
        bytes: Zeroizing<[u8; KEY_LEN]>,
        #[cfg(target_arch = "x86_64")]
        words: Zeroizing<[u32; 8]>,
    }

    impl Key {
        pub fn new(key: &[u8; KEY_LEN]) -> Self {
            Self {
                bytes: Zeroizing::new(*key),
                #[cfg(target_arch = "x86_64")]
                words: Zeroizing::new(core::array::from_fn(|i| {
                    u32::from_le_bytes([key[4 * i], key[4 * i + 1], key[4 * i + 2], key[4 * i + 3]])
                })),
            }
        }

        fn core(&self, nonce: &[u8; NONCE_LEN]) -> Core {
            Core::new((&*self.bytes).into(), nonce.into())
        }

        #[cfg(target_arch = "x86_64")]
        fn input(&self, nonce: &[u8; NONCE_LEN]) -> Input<'_> {
            Input {
                key: &self.words,
                nonce: core::array::from_fn(|i| {
                    u32::from_le_bytes([
                        nonce[4 * i],
                        nonce[4 * i + 1],
                        nonce[4 * i + 2],
                        nonce[4 * i + 3],
                    ])
                }),
            }
        }

        /// `plan` is asked for first. It comes as a function so that `Cipher`'s methods (with
        /// [`plan`]) and the test hooks (with a given plan) get instances of their own, each
        /// with one caller: the default path compiles as it did before the hooks existed.
        /// (With a `Plan` value, one instance served both, and the compiler made it, or our
        /// AVX-512 open inside it, a call of its own on the default path.)
        pub fn seal(
            &self,
            plan: impl FnOnce() -> Plan,
            nonce: &[u8; NONCE_LEN],
            buf: &mut [u8],
        ) -> [u8; TAG_LEN] {
            let plan = plan();
            check_len(buf.len());
            match plan {
                #[cfg(target_arch = "x86_64")]
                Plan::Avx512(simd) => {
                    // Encrypt, then the tag over the ciphertext.
                    let otk = simd.seal(&self.input(nonce), buf);
                    tag(&otk, buf)
                }
                Plan::Crate => {
                    let mut core = self.core(nonce);
                    let ks = Keystream::first(&mut core);
                    apply(&mut core, ks.data(), buf);
                    tag(ks.otk(), buf)
                }
            }
        }

        /// As [`Key::seal`] for `plan`.
        pub fn open(
            &self,
            plan: impl FnOnce() -> Plan,
            nonce: &[u8; NONCE_LEN],
            buf: &mut [u8],
            tag: &[u8; TAG_LEN],
        ) -> Result<(), OpenError> {
            let plan = plan();
            check_len(buf.len());
            // The tag is checked before any byte of `buf` changes.
            let verify = |otk: &[u8; 32], buf: &[u8]| bool::from(self::tag(otk, buf).ct_eq(tag));
            let ok = match plan {
                #[cfg(target_arch = "x86_64")]
                Plan::Avx512(simd) => simd.open(&self.input(nonce), buf, verify),
                Plan::Crate => {
                    let mut core = self.core(nonce);
                    let ks = Keystream::first(&mut core);
                    let ok = verify(ks.otk(), buf);
                    if ok {
                        apply(&mut core, ks.data(), buf);
                    }
                    ok
                }
            };
            ok.then_some(()).ok_or(OpenError)
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

    /// The first [`GROUP`] keystream blocks of one message: block 0 gives the Poly1305 key,
    /// blocks 1.. encrypt.
    ///
    /// Only block 0 is wiped on drop: it holds the one-time Poly1305 key. The other blocks
    /// are keystream that XORs the message, equal to plaintext ⊕ ciphertext, both of which
    /// the caller holds anyway; wiping them byte by byte cost more than the whole AEAD at
    /// 64 bytes.
    struct Keystream {
        blocks: [Block; GROUP],
    }

    impl Keystream {
        /// The first [`GROUP`] blocks, the core left at block `GROUP`.
        fn first(core: &mut Core) -> Self {
            let mut blocks = [Block::default(); GROUP];
            core.write_keystream_blocks(&mut blocks);
            Self { blocks }
        }

        fn otk(&self) -> &[u8; 32] {
            match self.blocks[0].first_chunk() {
                Some(otk) => otk,
                None => unreachable!("a ChaCha20 block is 64 bytes"),
            }
        }

        /// The keystream that encrypts, from block 1 on.
        fn data(&self) -> &[Block] {
            &self.blocks[1..]
        }
    }

    impl Drop for Keystream {
        fn drop(&mut self) {
            self.blocks[0].zeroize();
        }
    }

    /// Poly1305 over `ct` padded, then the lengths block (AAD length 0), with the one-time
    /// key `otk`: ours below [`AVX2_FROM`] bytes, the `poly1305` crate's from there on.
    fn tag(otk: &[u8; 32], ct: &[u8]) -> [u8; TAG_LEN] {
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

    /// Encrypts or decrypts `buf`: XORs `first` (the keystream after the key block) into its
    /// start (all of a message of ≤ 192 bytes), then the rest from `core`: whole groups of
    /// [`GROUP`] blocks in place (inside the backend's SIMD code), then the last < 256 bytes
    /// from one more group.
    fn apply(core: &mut Core, first: &[Block], buf: &mut [u8]) {
        let head_len = buf.len().min(first.len() * 64);
        let (head, rest) = buf.split_at_mut(head_len);
        xor(head, first);
        if rest.is_empty() {
            return;
        }
        let whole = rest.len() / (GROUP * 64) * (GROUP * 64);
        let (bulk, tail) = rest.split_at_mut(whole);
        let (blocks, _) = Array::slice_as_chunks_mut(bulk);
        core.apply_keystream_blocks(blocks);
        if !tail.is_empty() {
            let mut last = [Block::default(); GROUP];
            core.write_keystream_blocks(&mut last);
            xor(tail, &last);
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

    /// One way only: ring cuts the work itself.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Plan;

    impl Plan {
        pub fn name(self) -> &'static str {
            "ring"
        }
    }

    pub fn plans() -> Vec<Plan> {
        vec![Plan]
    }

    pub fn plan() -> Plan {
        Plan
    }

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

        pub fn seal(
            &self,
            _: impl FnOnce() -> Plan,
            nonce: &[u8; NONCE_LEN],
            buf: &mut [u8],
        ) -> [u8; TAG_LEN] {
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
            _: impl FnOnce() -> Plan,
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

    /// [`backend::plans`], with a note where the CPU lacks AVX-512.
    fn plans() -> Vec<backend::Plan> {
        let plans = backend::plans();
        if cfg!(all(not(feature = "ring"), target_arch = "x86_64"))
            && !plans.iter().any(|p| p.name() == "avx512")
        {
            eprintln!("note: this CPU has no AVX-512: our AVX-512 ChaCha20 not tested");
        }
        plans
    }

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
    /// dev-dependency: an implementation independent of our composition): every length to
    /// 2100 bytes (each 64-byte boundary, 1 KiB and 2 KiB: with our AVX-512 code one 4-block
    /// pass ≤ 192 bytes, one 16-block pass ≤ 960, 16 blocks + the key block beyond, tails of
    /// ≤ 4 blocks; with `chacha20`, one call of 4 blocks ≤ 192 bytes, groups of 256 bytes
    /// beyond) and around 3 KiB, 4 KiB, the switch of Poly1305 backend at 16 KiB and
    /// 65508 B; under each keystream plan this machine can run.
    #[test]
    fn matches_chacha20poly1305_crate() {
        use chacha20poly1305::ChaCha20Poly1305;
        use chacha20poly1305::aead::{AeadInOut, KeyInit};
        let (key, nonce) = kat();
        let ours = Cipher::new(&key).0;
        let rc = ChaCha20Poly1305::new((&key).into());
        let mut lens: Vec<usize> = (0..=2100).collect();
        for edge in [3072usize, 4096, 16 * 1024, 65508] {
            lens.extend([65, 64, 63, 1, 0].map(|d| edge - d));
            lens.extend([1, 63, 64, 65].map(|d| edge + d));
        }
        let plans = plans();
        for (len, plan) in lens
            .into_iter()
            .flat_map(|l| plans.iter().map(move |p| (l, *p)))
        {
            let plain: Vec<u8> = (0..len).map(|i| (i * 13 + 1) as u8).collect();
            let mut a = plain.clone();
            let tag_a = ours.seal(|| plan, &nonce, &mut a);
            let mut opened = a.clone();
            ours.open(|| plan, &nonce, &mut opened, &tag_a).unwrap();
            assert_eq!(opened, plain, "len {len}, {plan:?}");
            let mut b = plain.clone();
            let tag_b: [u8; TAG_LEN] = rc
                .encrypt_inout_detached((&nonce).into(), &[], b.as_mut_slice().into())
                .unwrap()
                .into();
            assert_eq!(
                (a.as_slice(), tag_a),
                (b.as_slice(), tag_b),
                "len {len}, {plan:?}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Random keys, nonces and messages, with lengths drawn mostly around our
        /// boundaries (192, 960, 1024, 1088, 1216 and 16 KiB), under each plan: seal agrees with
        /// `chacha20poly1305`, open round-trips, and one flipped bit anywhere is refused
        /// with `buf` unchanged.
        #[test]
        fn random_messages_match_chacha20poly1305(
            key in proptest::array::uniform32(0u8..),
            nonce in proptest::array::uniform12(0u8..),
            len in proptest::prop_oneof![
                0usize..=300,
                900usize..=1300,
                1060usize..=1120,
                16 * 1024 - 80usize..=16 * 1024 + 80,
                0usize..=65508,
            ],
            seed in 0u64..,
            flip in 0usize..,
            plan in proptest::sample::select(plans()),
        ) {
            use chacha20poly1305::ChaCha20Poly1305;
            use chacha20poly1305::aead::{AeadInOut, KeyInit};
            let mut x = seed | 1;
            let plain: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let ours = Cipher::new(&key).0;
            let mut sealed = plain.clone();
            let tag = ours.seal(|| plan, &nonce, &mut sealed);
            let mut theirs = plain.clone();
            let their_tag: [u8; TAG_LEN] = ChaCha20Poly1305::new((&key).into())
                .encrypt_inout_detached((&nonce).into(), &[], theirs.as_mut_slice().into())
                .unwrap()
                .into();
            proptest::prop_assert_eq!(&sealed, &theirs);
            proptest::prop_assert_eq!(tag, their_tag);
            let mut opened = sealed.clone();
            proptest::prop_assert!(ours.open(|| plan, &nonce, &mut opened, &tag).is_ok());
            proptest::prop_assert_eq!(&opened, &plain);
            // Flip one bit of the ciphertext or the tag.
            let bit = flip % ((len + TAG_LEN) * 8);
            let (mut ct, mut t) = (sealed.clone(), tag);
            if bit < len * 8 {
                ct[bit / 8] ^= 1 << (bit % 8);
            } else {
                t[bit / 8 - len] ^= 1 << (bit % 8);
            }
            let before = ct.clone();
            proptest::prop_assert_eq!(ours.open(|| plan, &nonce, &mut ct, &t), Err(OpenError));
            if cfg!(not(feature = "ring")) {
                proptest::prop_assert_eq!(ct, before, "a failed open leaves the ciphertext");
            }
        }
    }
}
