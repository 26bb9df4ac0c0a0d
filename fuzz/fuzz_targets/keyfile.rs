//! Fuzz target: the key-file decoder (PEM, DER, OpenSSH, JSON, hex, base64, raw) never
//! panics, and every key it accepts re-encodes in each of our formats and decodes back to the
//! same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sbrp::keyfile::{
    BareKey, DecodedKey, PublicFormat, SecretFormat, decode, encode_public, encode_secret,
};

fuzz_target!(|data: &[u8]| {
    for bare in [BareKey::Public, BareKey::Seed, BareKey::Refuse] {
        let Ok(decoded) = decode(data, bare) else {
            continue;
        };
        let public = decoded.key.public_key();
        for format in [PublicFormat::Base64, PublicFormat::Hex, PublicFormat::Pem] {
            let text = encode_public(&public, format);
            let back = decode(text.as_bytes(), BareKey::Public).expect("our public encoding");
            assert_eq!(back.key.public_key(), public, "{format:?}");
            assert!(!back.key.is_secret());
        }
        if let DecodedKey::Secret(pair) = &decoded.key {
            for format in [
                SecretFormat::Pem,
                SecretFormat::Hex,
                SecretFormat::Base64,
                SecretFormat::Json,
            ] {
                let text = encode_secret(pair, format);
                let back = decode(text.as_bytes(), BareKey::Seed).expect("our secret encoding");
                assert!(back.key.is_secret(), "{format:?}");
                assert_eq!(back.key.public_key(), public, "{format:?}");
            }
        }
    }
});
