//! ChaCha20-Poly1305 with an empty AAD, behind one small interface so the backend can be
//! chosen at build time: the pure-Rust RustCrypto crate by default, or `ring` with the cargo
//! feature `ring`. Both produce identical bytes.

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

    /// Verifies `tag` and, only if it is right, decrypts `buf` in place. On failure `buf` is
    /// left as it was.
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
mod backend {
    use super::{KEY_LEN, NONCE_LEN, OpenError, TAG_LEN};
    use chacha20poly1305::ChaCha20Poly1305;
    use chacha20poly1305::aead::{AeadInOut, KeyInit};

    pub const NAME: &str = "rustcrypto";

    pub struct Key(ChaCha20Poly1305);

    impl Key {
        pub fn new(key: &[u8; KEY_LEN]) -> Self {
            Self(ChaCha20Poly1305::new(key.into()))
        }

        pub fn seal(&self, nonce: &[u8; NONCE_LEN], buf: &mut [u8]) -> [u8; TAG_LEN] {
            // Encryption cannot fail for buffers under 256 GiB; SBRP payloads are ≤ 64 KiB.
            match self.0.encrypt_inout_detached(nonce.into(), &[], buf.into()) {
                Ok(tag) => tag.into(),
                Err(_) => unreachable!("ChaCha20-Poly1305 refused a buffer of {} bytes", buf.len()),
            }
        }

        pub fn open(
            &self,
            nonce: &[u8; NONCE_LEN],
            buf: &mut [u8],
            tag: &[u8; TAG_LEN],
        ) -> Result<(), OpenError> {
            self.0
                .decrypt_inout_detached(nonce.into(), &[], buf.into(), tag.into())
                .map_err(|_| OpenError)
        }
    }
}
