//! ChaCha20 (RFC 8439: 32-bit block counter, 96-bit nonce) for CPUs with AVX-512, in safe
//! Rust: `pulp`'s [`V4`] token proves at run time that the CPU has AVX-512F/BW/CD/DQ/VL, and
//! `V4::vectorize` runs our code inside a function compiled with those features, where the
//! `core::arch` intrinsics are safe methods of the token. Every helper below is
//! `#[inline(always)]` so that it is compiled inside that function: a helper left out of line
//! would be compiled without the features and its intrinsics would become calls (the defect
//! that made the `poly1305` crate's AVX2 code slow, README "AEAD backend").
//!
//! Why our own and not `chacha20`'s AVX-512 code: that code holds 4 blocks per zmm register
//! row by row, so its 20 rounds are one long dependency chain (latency-bound: 16 blocks cost
//! about 4 blocks' time, 2 blocks a separate pass), and it writes the keystream to a buffer
//! that the caller XORs in a second pass. Here:
//!
//! - [`wide`]: 16 blocks per pass "vertically": one zmm register per state word, lane i =
//!   block i, so the rounds are 16 independent lanes with native 32-bit rotates (`vprold`);
//!   then a 16 × 16 transpose (64 shuffles) gives each block in one register, XORed straight
//!   into the message (no keystream buffer, no second pass).
//! - The same pass can carry **one more block** row by row in four xmm registers
//!   (`ONE = true`): a 1 KiB message needs 17 blocks (the Poly1305 key block and 16 data
//!   blocks), and the 17th block's latency-bound chain hides in the wide pass's
//!   throughput-bound rounds instead of costing a pass of its own.
//! - [`rows4`]: up to 4 blocks row by row in four zmm registers (one 128-bit lane per block),
//!   for messages of at most 3 data blocks and tails of at most 3: there the pass is
//!   latency-bound anyway and the vertical one would compute 16 lanes for 2–4 blocks.
//! - [`one`]: the key block alone in xmm registers (open: the tag is verified before any
//!   keystream touches the buffer).
//!
//! No branch or index depends on a secret: only on lengths and the block counter.
//! The one-time Poly1305 key leaves in a [`Zeroizing`] array; keystream beyond it is XORed
//! into the caller's buffer from registers (on open of ≤ 192 bytes it waits in a wiped stack
//! array until the tag is verified).

use core::arch::x86_64::{__m128i, __m512i};
use pulp::x86::V4;
use zeroize::Zeroizing;

/// "expand 32-byte k".
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// Bytes covered by one [`wide`] pass.
const WIDE_BYTES: usize = 16 * 64;
/// Bytes covered by one [`rows4`] pass after its key block (3 data blocks).
const SMALL_BYTES: usize = 3 * 64;

/// The key and nonce of one message as little-endian words (state words 4–11 and 13–15).
pub struct Input<'a> {
    pub key: &'a [u32; 8],
    pub nonce: [u32; 3],
}

/// The AVX-512 ChaCha20: exists only where the CPU has AVX-512F/BW/CD/DQ/VL.
#[derive(Clone, Copy, Debug)]
pub struct Avx512(V4);

impl Avx512 {
    /// `Some` where the CPU (and OS) support AVX-512; the result is cached by `pulp`.
    pub fn new() -> Option<Self> {
        V4::try_new().map(Self)
    }

    /// Seal's keystream: XORs ChaCha20 blocks 1.. into `buf` in place and returns block 0's
    /// first 32 bytes (the Poly1305 key).
    pub fn seal(self, input: &Input<'_>, buf: &mut [u8]) -> Zeroizing<[u8; 32]> {
        let mut otk = Zeroizing::new([0u8; 32]);
        self.0.vectorize(Job::<SEAL> {
            simd: self.0,
            input,
            buf,
            otk: &mut otk,
            data: &mut [],
            counter: 0,
        });
        otk
    }

    /// Open's keystream: computes the Poly1305 key, calls `verify(otk, buf)` (the tag check)
    /// and only if it returns `true` XORs blocks 1.. into `buf`. Returns `verify`'s answer;
    /// on `false`, `buf` is unchanged.
    pub fn open(
        self,
        input: &Input<'_>,
        buf: &mut [u8],
        verify: impl FnOnce(&[u8; 32], &[u8]) -> bool,
    ) -> bool {
        let mut otk = Zeroizing::new([0u8; 32]);
        // ≤ 192 bytes: one latency-bound pass for the key and the data keystream, which
        // waits in this wiped array (a second pass would cost as much as the first).
        let mut data = Zeroizing::new([[0u64; 8]; 3]);
        let small = buf.len() <= SMALL_BYTES;
        let (otk_job, data_job) = (&mut otk, &mut data[..]);
        if small {
            self.0.vectorize(Job::<SMALL_KEYSTREAM> {
                simd: self.0,
                input,
                buf: &mut [],
                otk: otk_job,
                data: data_job,
                counter: 0,
            });
        } else {
            self.0.vectorize(Job::<KEY> {
                simd: self.0,
                input,
                buf: &mut [],
                otk: otk_job,
                data: &mut [],
                counter: 0,
            });
        }
        if !verify(&otk, buf) {
            return false;
        }
        if small {
            self.0.vectorize(Job::<XOR_DATA> {
                simd: self.0,
                input,
                buf,
                otk: &mut otk,
                data: &mut data[..],
                counter: 0,
            });
        } else {
            self.0.vectorize(Job::<XOR_FROM> {
                simd: self.0,
                input,
                buf,
                otk: &mut otk,
                data: &mut [],
                counter: 1,
            });
        }
        true
    }

    /// XORs the keystream from block `counter` on into `buf` (the tests compare it with the
    /// `chacha20` crate; the AEAD uses [`Self::seal`] and [`Self::open`]).
    #[cfg(test)]
    pub fn apply_keystream(self, input: &Input<'_>, counter: u32, buf: &mut [u8]) {
        self.0.vectorize(Job::<XOR_FROM> {
            simd: self.0,
            input,
            buf,
            otk: &mut [0; 32],
            data: &mut [],
            counter,
        });
    }
}

/// What a [`Job`] does (its `W`; a constant, so that each kind of call gets its own small
/// `#[target_feature]` function instead of one with every path and a run-time match).
/// Seal: `otk` = block 0, `buf` ^= blocks 1...
const SEAL: u8 = 0;
/// Open, ≤ 192 bytes: `otk` = block 0, `data` = blocks 1–3.
const SMALL_KEYSTREAM: u8 = 1;
/// Open: `otk` = block 0.
const KEY: u8 = 2;
/// `buf` ^= `data`.
const XOR_DATA: u8 = 3;
/// `buf` ^= blocks from `counter` on.
const XOR_FROM: u8 = 4;

/// One call into the AVX-512 code. A struct with an `#[inline(always)]` `call` rather than a
/// closure: `V4::vectorize` compiles `call` inside its `#[target_feature]` function only if
/// `call` is inlined there, and a closure's body is not always inlined (measured: it was
/// not, and every intrinsic became a function call, 30 µs for 1 KiB).
struct Job<'a, 'b, const W: u8> {
    simd: V4,
    input: &'a Input<'b>,
    buf: &'a mut [u8],
    otk: &'a mut [u8; 32],
    data: &'a mut [[u64; 8]],
    counter: u32,
}

impl<const W: u8> pulp::NullaryFnOnce for Job<'_, '_, W> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        let Job {
            simd,
            input,
            buf,
            otk,
            data,
            counter,
        } = self;
        let f = simd.avx512f;
        match W {
            SEAL if buf.len() <= SMALL_BYTES => {
                let ks = rows4(simd, input, 0);
                *otk = pulp::cast(f._mm512_castsi512_si256(ks[0]));
                xor_blocks(simd, buf, &ks[1..]);
            }
            SEAL if buf.len() <= WIDE_BYTES - 64 => {
                let (ks, _) = wide::<false>(simd, input, 0, 0);
                *otk = pulp::cast(f._mm512_castsi512_si256(ks[0]));
                xor_blocks(simd, buf, &ks[1..]);
            }
            SEAL => {
                // Blocks 1–16 vertically, block 0 (the key) row-wise in the same pass.
                let (head, rest) = buf.split_at_mut(buf.len().min(WIDE_BYTES));
                let (ks, key_block) = wide::<true>(simd, input, 1, 0);
                *otk = pulp::cast([key_block[0], key_block[1]]);
                xor_blocks(simd, head, &ks);
                xor_from(simd, input, 17, rest);
            }
            SMALL_KEYSTREAM => {
                let ks = rows4(simd, input, 0);
                *otk = pulp::cast(f._mm512_castsi512_si256(ks[0]));
                for (d, k) in data.iter_mut().zip(&ks[1..]) {
                    *d = pulp::cast(*k);
                }
            }
            KEY => {
                let key_block = one(simd, input, 0);
                *otk = pulp::cast([key_block[0], key_block[1]]);
            }
            XOR_DATA => {
                let mut ks = [f._mm512_setzero_si512(); 3];
                for (k, d) in ks.iter_mut().zip(data.iter()) {
                    *k = pulp::cast(*d);
                }
                xor_blocks(simd, buf, &ks);
            }
            _ => xor_from(simd, input, counter, buf),
        }
    }
}

/// XORs the keystream from block `counter` on into `buf`: [`wide`] passes of 16 blocks, the
/// last ≤ 4 blocks by [`rows4`].
#[inline(always)]
fn xor_from(simd: V4, input: &Input<'_>, mut counter: u32, buf: &mut [u8]) {
    for chunk in buf.chunks_mut(WIDE_BYTES) {
        if chunk.len() <= 4 * 64 {
            let ks = rows4(simd, input, counter);
            xor_blocks(simd, chunk, &ks);
        } else {
            let (ks, _) = wide::<false>(simd, input, counter, 0);
            xor_blocks(simd, chunk, &ks);
        }
        counter = counter.wrapping_add(16);
    }
}

/// `buf ^= ks`, block by block; `buf` is at most `ks.len()` blocks long. A last partial
/// block goes through a 64-byte copy of its keystream on the stack: `pulp`'s masked load of
/// a short slice does not compile in 0.22.3 (a size assertion fails for `u8x64`), and the
/// unsafe intrinsic is not ours to call. That copy is not wiped: it equals plaintext ⊕
/// ciphertext of bytes the caller holds (seal, or open after the tag verified).
#[inline(always)]
fn xor_blocks(simd: V4, buf: &mut [u8], ks: &[__m512i]) {
    let f = simd.avx512f;
    let (whole, tail) = buf.as_chunks_mut::<64>();
    for (m, k) in whole.iter_mut().zip(ks) {
        *m = pulp::cast(f._mm512_xor_si512(pulp::cast(*m), *k));
    }
    if let Some(k) = ks.get(whole.len()) {
        let k: [u8; 64] = pulp::cast(*k);
        for (m, k) in tail.iter_mut().zip(k) {
            *m ^= k;
        }
    }
}

/// One ChaCha quarter round on four lanes-wide columns at once: `a`, `b`, `c`, `d` are
/// indices into the 16 vertical state registers.
#[inline(always)]
fn quarter4(simd: V4, x: &mut [__m512i; 16], q: [[usize; 4]; 4]) {
    let f = simd.avx512f;
    macro_rules! step {
        ($a:expr, $b:expr, $d:expr, $r:literal) => {
            for v in q {
                let (a, b, d) = (v[$a], v[$b], v[$d]);
                x[a] = f._mm512_add_epi32(x[a], x[b]);
                x[d] = f._mm512_rol_epi32::<$r>(f._mm512_xor_si512(x[d], x[a]));
            }
        };
    }
    step!(0, 1, 3, 16);
    step!(2, 3, 1, 12);
    step!(0, 1, 3, 8);
    step!(2, 3, 1, 7);
}

/// One quarter round on the four rows of a row-wise state (any register width): `$t` is the
/// token that has `$add` and `$xor`, `$r` the one that has `$rol`. A macro, not a closure: a
/// closure would be compiled without the target features (see the module comment).
macro_rules! rows_round {
    ($t:expr, $add:ident, $xor:ident, $r:expr, $rol:ident, $s:expr) => {{
        let [a, b, c, d] = $s;
        let a = $t.$add(a, b);
        let d = $r.$rol::<16>($t.$xor(d, a));
        let c = $t.$add(c, d);
        let b = $r.$rol::<12>($t.$xor(b, c));
        let a = $t.$add(a, b);
        let d = $r.$rol::<8>($t.$xor(d, a));
        let c = $t.$add(c, d);
        let b = $r.$rol::<7>($t.$xor(b, c));
        [a, b, c, d]
    }};
}

/// The row-wise state of one block in xmm registers: row r holds words 4r..4r+4.
#[inline(always)]
fn one_init(input: &Input<'_>, counter: u32) -> [__m128i; 4] {
    let k = input.key;
    let n = input.nonce;
    [
        pulp::cast(SIGMA),
        pulp::cast([k[0], k[1], k[2], k[3]]),
        pulp::cast([k[4], k[5], k[6], k[7]]),
        pulp::cast([counter, n[0], n[1], n[2]]),
    ]
}

/// One double round of the row-wise one-block state.
#[inline(always)]
fn one_double_round(simd: V4, s: [__m128i; 4]) -> [__m128i; 4] {
    let (e, f) = (simd.sse2, simd.avx512f);
    let s = rows_round!(e, _mm_add_epi32, _mm_xor_si128, f, _mm_rol_epi32, s);
    // Diagonals into columns: rotate rows 1, 2, 3 left by 1, 2, 3 words.
    let s = [
        s[0],
        e._mm_shuffle_epi32::<0x39>(s[1]),
        e._mm_shuffle_epi32::<0x4e>(s[2]),
        e._mm_shuffle_epi32::<0x93>(s[3]),
    ];
    let s = rows_round!(e, _mm_add_epi32, _mm_xor_si128, f, _mm_rol_epi32, s);
    [
        s[0],
        e._mm_shuffle_epi32::<0x93>(s[1]),
        e._mm_shuffle_epi32::<0x4e>(s[2]),
        e._mm_shuffle_epi32::<0x39>(s[3]),
    ]
}

/// Block `counter` alone, row-wise in xmm registers: four rows of four words.
#[inline(always)]
fn one(simd: V4, input: &Input<'_>, counter: u32) -> [__m128i; 4] {
    let init = one_init(input, counter);
    let mut s = init;
    for _ in 0..10 {
        s = one_double_round(simd, s);
    }
    let e = simd.sse2;
    for i in 0..4 {
        s[i] = e._mm_add_epi32(s[i], init[i]);
    }
    s
}

/// Blocks `counter`..`counter + 4`, row-wise in zmm registers (128-bit lane i = block
/// `counter + i`); returns one register per block, in memory order.
#[inline(always)]
fn rows4(simd: V4, input: &Input<'_>, counter: u32) -> [__m512i; 4] {
    let f = simd.avx512f;
    let k = input.key;
    let n = input.nonce;
    // Rows broadcast from 16 bytes each (a zmm built from scalars would go through memory
    // and stall store forwarding); lane i's counter is `counter + i`.
    let row = |w: [u32; 4]| -> __m128i { pulp::cast(w) };
    let step: __m512i = pulp::cast([[0u32; 4], [1, 0, 0, 0], [2, 0, 0, 0], [3, 0, 0, 0]]);
    let init: [__m512i; 4] = [
        f._mm512_broadcast_i32x4(row(SIGMA)),
        f._mm512_broadcast_i32x4(row([k[0], k[1], k[2], k[3]])),
        f._mm512_broadcast_i32x4(row([k[4], k[5], k[6], k[7]])),
        f._mm512_add_epi32(
            f._mm512_broadcast_i32x4(row([counter, n[0], n[1], n[2]])),
            step,
        ),
    ];
    let mut s = init;
    for _ in 0..10 {
        s = rows_round!(
            f,
            _mm512_add_epi32,
            _mm512_xor_si512,
            f,
            _mm512_rol_epi32,
            s
        );
        s = [
            s[0],
            f._mm512_shuffle_epi32::<0x39>(s[1]),
            f._mm512_shuffle_epi32::<0x4e>(s[2]),
            f._mm512_shuffle_epi32::<0x93>(s[3]),
        ];
        s = rows_round!(
            f,
            _mm512_add_epi32,
            _mm512_xor_si512,
            f,
            _mm512_rol_epi32,
            s
        );
        s = [
            s[0],
            f._mm512_shuffle_epi32::<0x93>(s[1]),
            f._mm512_shuffle_epi32::<0x4e>(s[2]),
            f._mm512_shuffle_epi32::<0x39>(s[3]),
        ];
    }
    for i in 0..4 {
        s[i] = f._mm512_add_epi32(s[i], init[i]);
    }
    let [a, b, c, d] = s;
    // 4 × 4 transpose of 128-bit lanes: block i = [a_i, b_i, c_i, d_i].
    let ab_lo = f._mm512_shuffle_i32x4::<0x44>(a, b); // a0 a1 b0 b1
    let ab_hi = f._mm512_shuffle_i32x4::<0xee>(a, b); // a2 a3 b2 b3
    let cd_lo = f._mm512_shuffle_i32x4::<0x44>(c, d);
    let cd_hi = f._mm512_shuffle_i32x4::<0xee>(c, d);
    [
        f._mm512_shuffle_i32x4::<0x88>(ab_lo, cd_lo),
        f._mm512_shuffle_i32x4::<0xdd>(ab_lo, cd_lo),
        f._mm512_shuffle_i32x4::<0x88>(ab_hi, cd_hi),
        f._mm512_shuffle_i32x4::<0xdd>(ab_hi, cd_hi),
    ]
}

/// Blocks `counter`..`counter + 16` vertically (register w = state word w, lane i = block
/// `counter + i`), transposed to one register per block in memory order. With `ONE`, block
/// `one_counter` is computed row-wise in xmm registers in the same rounds and returned as
/// its four rows (otherwise zeros).
#[inline(always)]
fn wide<const ONE: bool>(
    simd: V4,
    input: &Input<'_>,
    counter: u32,
    one_counter: u32,
) -> ([__m512i; 16], [__m128i; 4]) {
    let f = simd.avx512f;
    let k = input.key;
    let n = input.nonce;
    let lanes: __m512i = pulp::cast(core::array::from_fn::<u32, 16, _>(|i| i as u32));
    let ctr = f._mm512_add_epi32(f._mm512_set1_epi32(counter as i32), lanes);
    let words = [
        SIGMA[0], SIGMA[1], SIGMA[2], SIGMA[3], k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], 0,
        n[0], n[1], n[2],
    ];
    let mut init = [ctr; 16];
    for w in 0..16 {
        if w != 12 {
            init[w] = f._mm512_set1_epi32(words[w] as i32);
        }
    }
    let one_start = if ONE {
        one_init(input, one_counter)
    } else {
        [pulp::cast([0u32; 4]); 4]
    };
    let mut x = init;
    let mut s = one_start;
    for _ in 0..10 {
        quarter4(
            simd,
            &mut x,
            [[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15]],
        );
        if ONE {
            s = one_double_round(simd, s);
        }
        quarter4(
            simd,
            &mut x,
            [[0, 5, 10, 15], [1, 6, 11, 12], [2, 7, 8, 13], [3, 4, 9, 14]],
        );
    }
    for w in 0..16 {
        x[w] = f._mm512_add_epi32(x[w], init[w]);
    }
    if ONE {
        let e = simd.sse2;
        for i in 0..4 {
            s[i] = e._mm_add_epi32(s[i], one_start[i]);
        }
    }
    (transpose16(simd, x), s)
}

/// 16 × 16 transpose of 32-bit words: in, register w = word w of blocks 0..16; out,
/// register i = the 16 words of block i.
#[inline(always)]
fn transpose16(simd: V4, x: [__m512i; 16]) -> [__m512i; 16] {
    let f = simd.avx512f;
    // t[2p], t[2p+1]: words 2p, 2p+1 interleaved (per 128-bit lane k: blocks 4k..4k+4).
    let mut t = x;
    for p in 0..8 {
        t[2 * p] = f._mm512_unpacklo_epi32(x[2 * p], x[2 * p + 1]);
        t[2 * p + 1] = f._mm512_unpackhi_epi32(x[2 * p], x[2 * p + 1]);
    }
    // u[4g + j], lane k: words 4g..4g+4 of block 4k + j.
    let mut u = t;
    for g in 0..4 {
        let (t0, t1, t2, t3) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
        u[4 * g] = f._mm512_unpacklo_epi64(t0, t2);
        u[4 * g + 1] = f._mm512_unpackhi_epi64(t0, t2);
        u[4 * g + 2] = f._mm512_unpacklo_epi64(t1, t3);
        u[4 * g + 3] = f._mm512_unpackhi_epi64(t1, t3);
    }
    // For each j: a 4 × 4 transpose of 128-bit lanes among u[j], u[4+j], u[8+j], u[12+j]
    // gives blocks j, 4 + j, 8 + j, 12 + j.
    let mut out = u;
    for j in 0..4 {
        let (a, b, c, d) = (u[j], u[4 + j], u[8 + j], u[12 + j]);
        let v0 = f._mm512_shuffle_i32x4::<0x88>(a, b); // a0 a2 b0 b2
        let v1 = f._mm512_shuffle_i32x4::<0xdd>(a, b); // a1 a3 b1 b3
        let v2 = f._mm512_shuffle_i32x4::<0x88>(c, d);
        let v3 = f._mm512_shuffle_i32x4::<0xdd>(c, d);
        out[j] = f._mm512_shuffle_i32x4::<0x88>(v0, v2); // a0 b0 c0 d0
        out[4 + j] = f._mm512_shuffle_i32x4::<0x88>(v1, v3); // a1 b1 c1 d1
        out[8 + j] = f._mm512_shuffle_i32x4::<0xdd>(v0, v2); // a2 b2 c2 d2
        out[12 + j] = f._mm512_shuffle_i32x4::<0xdd>(v1, v3); // a3 b3 c3 d3
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20::ChaCha20;
    use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};

    fn words<const N: usize>(bytes: &[u8]) -> [u32; N] {
        core::array::from_fn(|i| u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap()))
    }

    /// A deterministic pseudo-random byte stream (xorshift), so failures reproduce.
    fn bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    fn simd() -> Option<Avx512> {
        let simd = Avx512::new();
        if simd.is_none() {
            eprintln!("note: this CPU has no AVX-512: our AVX-512 ChaCha20 not tested here");
        }
        simd
    }

    /// `buf` XORed with the `chacha20` crate's keystream from block `counter`.
    fn theirs(key: &[u8; 32], nonce: &[u8; 12], counter: u32, buf: &[u8]) -> Vec<u8> {
        let mut out = buf.to_vec();
        let mut c = ChaCha20::new(key.into(), nonce.into());
        c.seek(u64::from(counter) * 64);
        c.apply_keystream(&mut out);
        out
    }

    /// Every length 0..=2100 (each 64-byte boundary, and 1024 and 2048: one `rows4` pass,
    /// one wide pass, wide + `rows4` tail, two wide passes), then around 4 KiB, 16 KiB and
    /// 65508 B, from block counters 0, 1 and 17 (where the AEAD starts its passes), with a
    /// new random key, nonce and message for each length.
    #[test]
    fn keystream_matches_chacha20_crate() {
        let Some(simd) = simd() else { return };
        let mut lens: Vec<usize> = (0..=2100).collect();
        for edge in [3072usize, 4096, 16 * 1024, 65508, 65536] {
            lens.extend([65, 64, 63, 1, 0].map(|d| edge - d));
            lens.extend([1, 63, 64, 65].map(|d| edge + d));
        }
        for (i, len) in lens.into_iter().enumerate() {
            let seed = bytes(i as u64 + 1, 44 + len);
            let key: [u8; 32] = seed[..32].try_into().unwrap();
            let nonce: [u8; 12] = seed[32..44].try_into().unwrap();
            let msg = &seed[44..];
            let kw = words::<8>(&key);
            let input = Input {
                key: &kw,
                nonce: words::<3>(&nonce),
            };
            for counter in [0u32, 1, 17] {
                let mut ours = msg.to_vec();
                simd.apply_keystream(&input, counter, &mut ours);
                assert_eq!(
                    ours,
                    theirs(&key, &nonce, counter, msg),
                    "len {len}, counter {counter}"
                );
            }
        }
    }

    /// Seal's three layouts (≤ 192 bytes: `rows4`; ≤ 960: one wide pass; beyond: wide + the
    /// key block row-wise, then more passes) and open's two (≤ 192 bytes: one pass held in a
    /// wiped array; beyond: the key block alone, then the passes) against the crate: the
    /// Poly1305 key is block 0, the data keystream starts at block 1; open leaves `buf`
    /// untouched when `verify` refuses and hands `verify` the ciphertext.
    #[test]
    fn seal_and_open_layouts_match_chacha20_crate() {
        let Some(simd) = simd() else { return };
        let mut lens: Vec<usize> = (0..=1300).collect();
        lens.extend([2047, 2048, 2049, 4096, 16 * 1024, 65508]);
        for len in lens {
            let seed = bytes(len as u64 + 7, 44 + len);
            let key: [u8; 32] = seed[..32].try_into().unwrap();
            let nonce: [u8; 12] = seed[32..44].try_into().unwrap();
            let msg = &seed[44..];
            let kw = words::<8>(&key);
            let input = Input {
                key: &kw,
                nonce: words::<3>(&nonce),
            };
            let block0 = theirs(&key, &nonce, 0, &[0; 64]);
            let ct = theirs(&key, &nonce, 1, msg);
            let mut buf = msg.to_vec();
            let otk = simd.seal(&input, &mut buf);
            assert_eq!(&otk[..], &block0[..32], "seal key, len {len}");
            assert_eq!(buf, ct, "seal, len {len}");
            for accept in [false, true] {
                let mut buf = ct.clone();
                let mut seen = None;
                let ok = simd.open(&input, &mut buf, |otk, b| {
                    seen = Some((otk.to_vec(), b.to_vec()));
                    accept
                });
                assert_eq!(ok, accept);
                assert_eq!(seen, Some((block0[..32].to_vec(), ct.clone())), "len {len}");
                let want = if accept { msg } else { &ct[..] };
                assert_eq!(buf, want, "open ({accept}), len {len}");
            }
        }
    }
}
