//! Key material: the daemon's long-lived Ed25519 identity, X25519 ephemeral keys, and the
//! reference's `SHA256:AB:CD:…` fingerprint.
//!
//! Secret halves live in zeroizing types, never appear in `Debug` output, and are compared in
//! constant time.

use core::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::RngError;

/// Length of an Ed25519 seed, an Ed25519 public key, an X25519 key.
pub const KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Length of a fingerprint string: `"SHA256:"` + 32 pairs of hex digits joined by `:`.
pub const FINGERPRINT_LEN: usize = 7 + 32 * 3 - 1;

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), RngError> {
    getrandom::fill(buf).map_err(|e| RngError(e.to_string()))
}

/// The reference fingerprint of arbitrary bytes: `"SHA256:"` followed by the SHA-256 digest as
/// upper-case hex pairs joined by `:` (102 characters in all).
///
/// For an identity key, prefer [`IdentityPublicKey::fingerprint`].
pub fn fingerprint(bytes: &[u8]) -> String {
    fingerprint_of_digest(&Sha256::digest(bytes).into())
}

/// Formats an already computed SHA-256 digest in the fingerprint form.
pub fn fingerprint_of_digest(digest: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(FINGERPRINT_LEN);
    out.push_str("SHA256:");
    for (i, b) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0x0f)] as char);
    }
    out
}

/// A daemon's public identity key (Ed25519, 32 bytes), as advertised in HandshakeAccept and
/// pinned by clients.
///
/// Holding one does not mean the bytes are a valid curve point: validation happens when a
/// signature is verified (strictly, see [`IdentityPublicKey::verify_strict`]).
#[derive(Clone, Copy, Eq)]
pub struct IdentityPublicKey([u8; KEY_LEN]);

impl IdentityPublicKey {
    /// Wraps 32 bytes.
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Wraps a slice, which must be exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The reference fingerprint, `SHA256:AB:CD:…`.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }

    /// The SHA-256 digest of the key (what the fingerprint and the randomart show).
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0).into()
    }

    /// Verifies an Ed25519 signature with strict rules: the key must be a canonical encoding of
    /// a point that is not of small order, and the signature's `S` must be canonical. Returns
    /// `false` for anything else.
    pub fn verify_strict(&self, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        key.verify_strict(message, &sig).is_ok()
    }
}

impl PartialEq for IdentityPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl core::hash::Hash for IdentityPublicKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for IdentityPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityPublicKey({})", self.fingerprint())
    }
}

/// A daemon's long-lived Ed25519 identity (seed and derived public key).
///
/// The seed is wiped when the value is dropped; `Debug` shows only the public fingerprint.
#[derive(Clone)]
pub struct IdentityKeyPair {
    signing: SigningKey,
}

impl IdentityKeyPair {
    /// A fresh identity from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, RngError> {
        let mut seed = Zeroizing::new([0u8; KEY_LEN]);
        random_bytes(seed.as_mut())?;
        Ok(Self::from_seed(&seed))
    }

    /// The identity for a 32-byte Ed25519 seed (RFC 8032 "private key").
    pub fn from_seed(seed: &[u8; KEY_LEN]) -> Self {
        Self {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// A copy of the 32-byte seed, in a buffer that is wiped on drop.
    pub fn seed(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The public half.
    pub fn public_key(&self) -> IdentityPublicKey {
        IdentityPublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Shorthand for `self.public_key().fingerprint()`.
    pub fn fingerprint(&self) -> String {
        self.public_key().fingerprint()
    }

    /// Signs `message` (deterministic Ed25519, RFC 8032).
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.signing.sign(message).to_bytes()
    }

    /// The underlying `ed25519-dalek` key, for encoding to PKCS#8 and similar.
    pub fn as_dalek(&self) -> &SigningKey {
        &self.signing
    }
}

impl PartialEq for IdentityKeyPair {
    fn eq(&self, other: &Self) -> bool {
        self.signing
            .as_bytes()
            .ct_eq(other.signing.as_bytes())
            .into()
    }
}

impl Eq for IdentityKeyPair {}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.fingerprint())
            .field("seed", &"<redacted>")
            .finish()
    }
}

/// An X25519 ephemeral secret for one handshake, wiped on drop.
///
/// Consumed by the handshake that uses it, so it cannot be used twice.
pub struct EphemeralSecret {
    secret: x25519_dalek::StaticSecret,
    public: [u8; KEY_LEN],
}

impl EphemeralSecret {
    /// A fresh secret from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, RngError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        random_bytes(bytes.as_mut())?;
        Ok(Self::from_bytes(*bytes))
    }

    /// A secret from 32 raw bytes (clamping happens inside X25519). Meant for known-answer
    /// tests; real sessions should use [`EphemeralSecret::generate`].
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let secret = x25519_dalek::StaticSecret::from(bytes);
        let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
        Self { secret, public }
    }

    /// The public key to send to the peer.
    pub fn public_key(&self) -> [u8; KEY_LEN] {
        self.public
    }

    /// X25519 with the peer's public key, consuming the secret. Returns `None` when the result
    /// is all zeros (the peer sent a low-order point), which the handshake reports as
    /// `handshake_failed`.
    ///
    /// The handshake calls this itself; it is public so that known-answer tests and tools can
    /// check the shared secret (the reference vectors' `sharedSecret`). The result is wiped on
    /// drop.
    pub fn diffie_hellman(self, peer: &[u8; KEY_LEN]) -> Option<Zeroizing<[u8; KEY_LEN]>> {
        let shared = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(*peer));
        if !shared.was_contributory() {
            return None;
        }
        Some(Zeroizing::new(shared.to_bytes()))
    }
}

impl fmt::Debug for EphemeralSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EphemeralSecret")
            .field("public", &hex_lower(&self.public))
            .field("secret", &"<redacted>")
            .finish()
    }
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0x0f)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8032_test1_public_key_and_fingerprint() {
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let id = IdentityKeyPair::from_seed(&seed);
        assert_eq!(
            hex_lower(id.public_key().as_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let fp = id.fingerprint();
        assert_eq!(fp.len(), FINGERPRINT_LEN);
        assert_eq!(
            fp,
            "SHA256:21:FE:31:DF:A1:54:A2:61:62:6B:F8:54:04:6F:D2:27:1B:7B:ED:4B:6A:BE:45:AA:58:87:7E:F4:7F:97:21:B9"
        );
    }

    #[test]
    fn debug_never_shows_the_seed() {
        let id = IdentityKeyPair::from_seed(&[0x42; 32]);
        let dbg = format!("{id:?}");
        assert!(!dbg.contains("4242"), "{dbg}");
        assert!(dbg.contains("redacted"));
        let eph = EphemeralSecret::from_bytes([0x42; 32]);
        let dbg = format!("{eph:?}");
        assert!(!dbg.contains("4242424242"), "{dbg}");
    }
}
