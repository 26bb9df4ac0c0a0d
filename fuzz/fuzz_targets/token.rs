//! Fuzz target: relay tokens. `token::inspect` and `token::verify` never panic on any string;
//! `verify` never accepts a token that `inspect` (with the same JWKS, policy and time) reports
//! a problem for, and when both judge the same text their first failure is at the same step;
//! a valid token made here with a fixed key, once mutated, verifies only if it is unchanged,
//! and with its signature part replaced it never verifies.
//!
//! The first byte picks the mode: 0 the rest as text; 1 edits (`pos`, `byte` pairs) of a valid
//! token; 2 a valid token whose signature part is the rest; 3 a valid token with the rest
//! inserted at a position (the next byte). Bit 0x80 picks the daemon token over the client one.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sbrp::token::{self, Claims, Jwks, Limits, Role, VerifyPolicy};
use sbrp::{IdentityKeyPair, SessionId};

const NOW: i64 = 1_800_000_000;

struct Fixture {
    jwks: Jwks,
    policy: VerifyPolicy,
    client: String,
    daemon: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let key = IdentityKeyPair::from_seed(&[7; 32]);
        let kid = token::thumbprint(&key.public_key());
        let jwks = Jwks::from_keys([key.public_key()]);
        let mut c = Claims::new(Role::Client, "d1", NOW - 10, 120);
        c.sid = SessionId::new(7);
        c.sub = Some("user-1".into());
        let mut d = Claims::new(Role::Daemon, "d1", NOW - 10, 3600);
        d.scp = vec![token::SCOPE_SESSION_RESUME.into()];
        d.lim = Limits {
            concurrent_sessions: Some(3),
        };
        let policy = VerifyPolicy::default();
        let client = token::mint(&c, &key, &kid).unwrap().expose().to_owned();
        let daemon = token::mint(&d, &key, &kid).unwrap().expose().to_owned();
        assert!(token::verify(&client, &jwks, &policy, NOW).is_ok());
        assert!(token::verify(&daemon, &jwks, &policy, NOW).is_ok());
        Fixture {
            jwks,
            policy,
            client,
            daemon,
        }
    })
}

/// Judges one text; returns whether `verify` accepted it.
fn judge(text: &str) -> bool {
    let f = fixture();
    let verified = token::verify(text, &f.jwks, &f.policy, NOW);
    let inspected = token::inspect(text, Some(&f.jwks), &f.policy, NOW);
    let _ = token::inspect(text, None, &f.policy, NOW);
    let _ = token::decode_unverified(text);
    match &verified {
        Ok(claims) => {
            assert!(
                inspected.problems.is_empty(),
                "verify accepted what inspect refuses: {:?}",
                inspected.problems
            );
            assert!(inspected.signature_checked);
            assert_eq!(inspected.claims.as_ref(), Some(claims));
        }
        Err(e) => {
            // `inspect` trims the text; on the same text both must see the first failure at
            // the same step.
            if text.trim() == text {
                let first = inspected.problems.first();
                assert_eq!(
                    first.map(|p| p.step()),
                    Some(e.step()),
                    "verify: {e:?}, inspect: {:?}",
                    inspected.problems
                );
            }
        }
    }
    verified.is_ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let valid = if mode & 0x80 != 0 {
        &f.daemon
    } else {
        &f.client
    };
    match mode & 0x7f {
        0 => {
            judge(&String::from_utf8_lossy(rest));
        }
        1 => {
            let mut bytes = valid.clone().into_bytes();
            for pair in rest.chunks_exact(2) {
                let at = usize::from(pair[0]) * bytes.len() / 256;
                bytes[at] = pair[1];
            }
            let text = String::from_utf8_lossy(&bytes);
            if judge(&text) {
                assert_eq!(&*text, valid.as_str(), "a mutated token verified");
            }
        }
        2 => {
            let (signed, _) = valid.rsplit_once('.').unwrap();
            let sig = String::from_utf8_lossy(rest);
            let text = format!("{signed}.{sig}");
            if judge(&text) {
                assert_eq!(&text, valid, "a replaced signature verified");
            }
        }
        3 => {
            let Some((&at, ins)) = rest.split_first() else {
                return;
            };
            let at = usize::from(at) * valid.len() / 256;
            let text = format!(
                "{}{}{}",
                &valid[..at],
                String::from_utf8_lossy(ins),
                &valid[at..]
            );
            if judge(&text) {
                assert_eq!(&text, valid, "a token with bytes inserted verified");
            }
        }
        _ => {
            judge(valid);
        }
    }
});
