//! Fuzz target: the frame decoders must never panic and must agree with each other.
//!
//! The input's first byte chooses a chunking pattern; the rest is the byte stream. The stream
//! goes through `FrameReader` (whole buffer), `StreamDecoder::push` in data-dependent chunks,
//! and `StreamDecoder::decode` step by step; all three must yield the same frames at the same
//! offsets and the same first error. A single-frame buffer also goes through `decode_frame`,
//! whose verdict must agree with the raw layer, and a frame it accepts must re-encode to the
//! same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sbrp::frame::{FrameType, RawFrame, decode_frame};
use sbrp::stream::{FrameReader, StreamDecoder, StreamError};

type Seen = (u64, FrameType, u64, Vec<u8>);

fn seen(f: &sbrp::stream::Located<'_>) -> Seen {
    (
        f.offset,
        f.frame.frame_type(),
        f.frame.session_id(),
        f.frame.payload().to_vec(),
    )
}

fn reader(bytes: &[u8]) -> (Vec<Seen>, Option<StreamError>) {
    let mut frames = Vec::new();
    for item in FrameReader::new(bytes) {
        match item {
            Ok(f) => {
                let _ = f.frame.parse();
                frames.push(seen(&f));
            }
            Err(e) => return (frames, Some(e)),
        }
    }
    (frames, None)
}

/// Chunk sizes derived from the data: `pattern` picks a rule, the stream bytes feed it.
fn chunk_len(pattern: u8, bytes: &[u8], pos: usize, i: usize) -> usize {
    let b = usize::from(bytes[pos]);
    match pattern % 4 {
        0 => 1,
        1 => 1 + b % 16,
        2 => 1 + (b * 7 + i) % 200,
        _ => 13,
    }
}

fn pushed(pattern: u8, bytes: &[u8]) -> (Vec<Seen>, Option<StreamError>) {
    let mut dec = StreamDecoder::new();
    let mut frames = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < bytes.len() {
        let end = (pos + chunk_len(pattern, bytes, pos, i)).min(bytes.len());
        i += 1;
        let r = dec.push(&bytes[pos..end], |f| frames.push(seen(&f)));
        pos = end;
        if let Err(e) = r {
            assert_eq!(
                dec.push(&[0], |_| panic!("frame after an error")),
                Err(e.clone())
            );
            return (frames, Some(e));
        }
    }
    match dec.finish() {
        Ok(()) => (frames, None),
        Err(e) => (frames, Some(e)),
    }
}

fn stepped(bytes: &[u8]) -> (Vec<Seen>, Option<StreamError>) {
    let mut dec = StreamDecoder::new();
    let mut frames = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        match dec.decode(rest) {
            Ok((used, frame)) => {
                if let Some(f) = frame {
                    frames.push(seen(&f));
                }
                rest = &rest[used..];
            }
            Err(e) => return (frames, Some(e)),
        }
    }
    match dec.finish() {
        Ok(()) => (frames, None),
        Err(e) => (frames, Some(e)),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pattern, bytes)) = data.split_first() else {
        return;
    };

    // One frame filling the buffer: typed and raw decoders agree.
    match (RawFrame::decode(bytes), decode_frame(bytes)) {
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Err(a), Ok(_)) => panic!("raw refused ({a}) but decode_frame accepted"),
        (Ok(_), Ok(f)) => assert_eq!(f.to_vec(), bytes),
        (Ok(_), Err(_)) => {} // a per-type payload rule
    }

    // A stream: three ways of reading it agree.
    let whole = reader(bytes);
    assert_eq!(
        pushed(pattern, bytes),
        whole,
        "push in chunks vs FrameReader"
    );
    assert_eq!(stepped(bytes), whole, "decode step by step vs FrameReader");
});
