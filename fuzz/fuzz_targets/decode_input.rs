//! Fuzz target: `sbrp decode`'s input detection and text decoders (the binary's
//! `src/cli/decode/input.rs`, compiled in here).
//!
//! The first byte picks a chunk size; the rest is the input. Detection must be stable (a kind
//! decided on a prefix before 4 KiB stays decided on longer prefixes, and `detect_final`
//! agrees), `confirm` never panics, and each text decoder gives the same bytes and the same
//! error fed whole or in chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/cli/decode/input.rs"]
mod input;

use input::{Detection, InputKind, TextDecoder, confirm, detect, detect_final};

fn run(kind: InputKind, text: &[u8], chunk: usize) -> (Vec<u8>, Option<(u64, String)>) {
    let mut d = TextDecoder::new(kind).expect("a text kind");
    let mut out = Vec::new();
    for c in text.chunks(chunk.max(1)) {
        if let Err(e) = d.feed(c, &mut out) {
            return (out, Some((e.offset, e.message)));
        }
    }
    match d.finish(&mut out) {
        Ok(()) => (out, None),
        Err(e) => (out, Some((e.offset, e.message))),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pattern, text)) = data.split_first() else {
        return;
    };
    // Detection on every prefix a reader could present.
    let mut decided: Option<(usize, InputKind)> = None;
    // Every short prefix, then a sample of longer ones (each check rescans the prefix).
    let lens = (0..=text.len().min(4200)).filter(|&n| n < 96 || n % 97 == 0 || n == text.len());
    for n in lens {
        match detect(&text[..n]) {
            Detection::Kind(k) => {
                assert_eq!(detect_final(&text[..n]), k, "detect vs detect_final at {n}");
                if let Some((at, first)) = decided
                    && at < 4096
                {
                    assert_eq!(k, first, "decided at {at}, changed at {n}");
                }
                if decided.is_none() {
                    decided = Some((n, k));
                    let _ = confirm(k, &text[..n]);
                }
            }
            Detection::NeedMore => assert!(decided.is_none(), "undecided again at {n}"),
        }
    }
    let _ = confirm(detect_final(text), text);
    for kind in [InputKind::Hex, InputKind::Base64] {
        let whole = run(kind, text, text.len());
        let chunked = run(kind, text, 1 + usize::from(pattern) % 17);
        assert_eq!(whole, chunked, "{kind:?}: whole vs chunked");
    }
});
