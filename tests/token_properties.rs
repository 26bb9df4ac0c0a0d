//! Property tests of `sbrp::token`: no input panics `verify`, `inspect` or `decode_unverified`,
//! and `verify` and `inspect` agree (the first rule `inspect` reports broken is the step
//! `verify` stops at; a token `verify` accepts breaks no rule for `inspect`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use sbrp::IdentityKeyPair;
use sbrp::token::{self, Jwks, VerifyPolicy};
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000;

fn key() -> IdentityKeyPair {
    IdentityKeyPair::from_seed(&[7; 32])
}

fn policy() -> VerifyPolicy {
    VerifyPolicy {
        iss: Some("sbrp".into()),
        region: Some("eu".into()),
        ..VerifyPolicy::default()
    }
}

/// JSON values of the kinds claims take, wrong kinds included.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (NOW - 400..NOW + 400).prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::from)),
        "[a-zA-Z0-9_:-]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("sbrp"),
            Just("sideband-relay"),
            Just("client"),
            Just("daemon"),
            Just("eu"),
            Just("AAALOnPOL_I"),
            Just("AAAAAAAAAAA"),
            Just("session:create"),
            Just("EdDSA"),
            Just(token::TOKEN_TYPE)
        ]
        .prop_map(Value::from),
        prop::collection::vec("[a-z:-]{0,8}", 0..3).prop_map(Value::from),
        (0u64..3).prop_map(|n| json!({ "concurrent_sessions": n })),
    ]
}

fn object(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(keys), value()), 0..keys.len() + 2).prop_map(
        |pairs| {
            let mut m = serde_json::Map::new();
            for (k, v) in pairs {
                m.insert(k.to_owned(), v);
            }
            Value::Object(m)
        },
    )
}

const HEADER_KEYS: &[&str] = &["alg", "typ", "kid"];
const CLAIM_KEYS: &[&str] = &[
    "iss", "aud", "iat", "exp", "jti", "ver", "sub", "role", "did", "sid", "scp", "region", "lim",
];

/// A token over arbitrary header and claims, signed by [`key`] (so it passes step 4 when its
/// header names the key).
fn signed(header: &Value, claims: &Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let p = URL_SAFE_NO_PAD.encode(claims.to_string());
    let sig = key().sign(format!("{h}.{p}").as_bytes());
    format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,300}", dots in prop::collection::vec(any::<u8>(), 0..600)) {
        let jwks = Jwks::from_keys([key().public_key()]);
        for text in [s.clone(), String::from_utf8_lossy(&dots).into_owned(), format!("{s}.{s}.{s}")] {
            let _ = token::verify(&text, &jwks, &policy(), NOW);
            let _ = token::inspect(&text, Some(&jwks), &policy(), NOW);
            let _ = token::inspect(&text, None, &policy(), NOW);
            let _ = token::decode_unverified(&text);
        }
    }

    #[test]
    fn base64url_parts_never_panic(a in prop::collection::vec(any::<u8>(), 0..200),
                                   b in prop::collection::vec(any::<u8>(), 0..200),
                                   c in prop::collection::vec(any::<u8>(), 0..80)) {
        let text = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(&a), URL_SAFE_NO_PAD.encode(&b), URL_SAFE_NO_PAD.encode(&c));
        let jwks = Jwks::from_keys([key().public_key()]);
        prop_assert!(token::verify(&text, &jwks, &policy(), NOW).is_err());
        let _ = token::inspect(&text, Some(&jwks), &policy(), NOW);
    }

    #[test]
    fn verify_stops_where_inspect_first_complains(mut header in object(HEADER_KEYS), claims in object(CLAIM_KEYS), name_key in any::<bool>()) {
        if name_key {
            header["kid"] = token::thumbprint(&key().public_key()).into();
        }
        let text = signed(&header, &claims);
        let jwks = Jwks::from_keys([key().public_key()]);
        let verified = token::verify(&text, &jwks, &policy(), NOW);
        let ins = token::inspect(&text, Some(&jwks), &policy(), NOW);
        match verified {
            Ok(c) => {
                prop_assert!(ins.problems.is_empty(), "{:?}", ins.problems);
                prop_assert_eq!(ins.claims, Some(c));
            }
            Err(e) => {
                prop_assert!(!ins.problems.is_empty());
                prop_assert_eq!(e.code(), ins.problems[0].code(), "{:?}", ins.problems);
                // Display never carries the token text.
                let shown = format!("{e} {e:?}");
                prop_assert!(!shown.contains(text.split('.').nth(2).unwrap()));
            }
        }
    }
}
