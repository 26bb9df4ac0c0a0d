//! Fuzz target: session decryption of forged payloads. Whatever the payload, `decrypt` and
//! `open_in_place` never panic, agree, and a payload that fails leaves the replay window
//! exactly as it was (protocol §7 D6); genuine frames interleaved still decrypt.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sbrp::keys::EphemeralSecret;
use sbrp::session::{Role, Session, SessionKeys};
use sbrp::{ClientHandshake, Daemon, IdentityKeyPair, SessionId};

fn keys() -> &'static SessionKeys {
    static KEYS: OnceLock<SessionKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let daemon = Daemon::new(IdentityKeyPair::from_seed(&[1; 32]), "fuzz");
        let client = ClientHandshake::with_ephemeral(
            "fuzz",
            SessionId::new(1).unwrap(),
            EphemeralSecret::from_bytes([2; 32]),
        );
        let (accept, _) = daemon
            .accept_with_ephemeral(&client.init(), EphemeralSecret::from_bytes([3; 32]))
            .unwrap();
        client
            .finish(&accept, &daemon.identity().public_key())
            .unwrap()
            .keys()
            .clone()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut sender = Session::new(Role::Client, keys().clone());
    // Two receivers in lockstep: one uses `decrypt`, the other `open_in_place`.
    let mut a = Session::new(Role::Daemon, keys().clone());
    let mut b = Session::new(Role::Daemon, keys().clone());
    // Payloads are separated by 0xfe; a payload "G" is replaced by a genuine one.
    for forged in data.split(|&x| x == 0xfe) {
        if forged == b"G" {
            let p = sender.encrypt(b"genuine").unwrap();
            assert_eq!(a.decrypt(&p).unwrap(), b"genuine");
            let mut buf = p.clone();
            assert_eq!(b.open_in_place(&mut buf).unwrap(), b"genuine");
            continue;
        }
        let before = a.replay_window().clone();
        let ra = a.decrypt(forged);
        let mut buf = forged.to_vec();
        let rb = b.open_in_place(&mut buf).map(|p| p.to_vec());
        assert_eq!(
            ra.as_ref().map_err(|e| e.code()),
            rb.as_ref().map_err(|e| e.code())
        );
        if ra.is_err() {
            assert_eq!(a.replay_window(), &before, "D6: a forged payload moved the window");
        }
        assert_eq!(a.replay_window(), b.replay_window());
    }
});
