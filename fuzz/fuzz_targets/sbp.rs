//! Fuzz target: the SBP frame decoder, the Handshake parser and the RPC envelope decoder never
//! panic; a frame the decoder accepts re-encodes to the same bytes, its field layout covers it
//! exactly, and an envelope that decodes re-decodes to itself from our encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sbrp::rpc::Envelope;
use sbrp::sbp::{Body, Frame, Handshake};

fuzz_target!(|data: &[u8]| {
    match Frame::decode(data) {
        Ok(f) => {
            assert_eq!(f.encode(), data);
            assert_eq!(f.encoded_len(), data.len());
            let mut at = 0;
            for span in f.fields() {
                assert_eq!(span.offset, at);
                at += span.length;
            }
            assert_eq!(at, data.len());
            match f.body {
                Body::Handshake(json) => {
                    let _ = Handshake::parse(json);
                }
                Body::Message { subject, data } => {
                    if let Ok(Some(env)) = Envelope::decode(subject, data) {
                        let again = Envelope::decode(subject, &env.encode());
                        assert_eq!(again, Ok(Some(env)));
                    }
                }
                _ => {}
            }
        }
        Err(e) => assert!(e.offset() <= data.len()),
    }
    // The raw bytes as an envelope and as a handshake, too.
    let _ = Envelope::decode("rpc", data);
    let _ = Handshake::parse(data);
});
