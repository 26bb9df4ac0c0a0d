//! Cuts a byte stream into frames for the dissector, in bounded memory: the library's
//! [`sbrp::stream::Framer`] with the dissector's header rules.
//!
//! Like the library's `StreamDecoder` it judges each header as soon as its 13 bytes are in
//! (so a header that claims a huge length allocates nothing), holds at most one incomplete
//! frame, and lends frames that lie whole in the caller's chunk without copying them. Unlike
//! it, it is lenient where the framing is still trustworthy:
//!
//! - `payload_too_large` and `invalid_frame_type` are fatal: a length above 65536 cannot be
//!   believed, and a type byte outside SBRP v1 means either a foreign protocol or a stream that
//!   is out of step; in both cases there is no way to find the next frame boundary, so the
//!   framer says so and stops.
//! - `invalid_session_id` is not: the type is known and the length is within bounds, so the
//!   frame's extent is as trustworthy as any other frame's. It is handed out with the error
//!   attached (a relay would close the connection here; a dissector shows what follows).

use sbrp::frame::{FrameError, FrameHeader, FrameType};
use sbrp::stream::{self, StreamError};

/// A frame cut out of the stream.
#[derive(Debug)]
pub struct CutFrame<'a> {
    /// Stream offset of its first byte.
    pub offset: u64,
    /// The header as read.
    pub header: FrameHeader,
    /// The (known) type.
    pub frame_type: FrameType,
    /// The whole frame, header included.
    pub bytes: &'a [u8],
    /// The header broke the session-id rule.
    pub session_error: Option<FrameError>,
}

/// What is left in the framer at the end of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tail {
    /// Fewer than 13 bytes of a header.
    PartialHeader {
        /// Stream offset of the partial header.
        offset: u64,
        /// Bytes present.
        have: usize,
    },
    /// A complete header with part of its payload.
    PartialPayload {
        /// Stream offset of the frame.
        offset: u64,
        /// Payload length the header announces.
        announced: usize,
        /// Payload bytes present.
        have: usize,
    },
}

/// The dissector's header rules: the protocol's, except that a session-id violation does not
/// stop the stream.
fn lenient(header: &FrameHeader) -> Result<FrameType, FrameError> {
    match header.validate() {
        Ok((frame_type, _)) => Ok(frame_type),
        Err(FrameError::InvalidSessionId { frame_type, .. }) => Ok(frame_type),
        Err(e) => Err(e),
    }
}

/// The push-style framer.
#[derive(Debug, Default)]
pub struct Framer {
    inner: stream::Framer,
}

impl Framer {
    /// A framer at stream offset 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The header that could not be trusted, once one was met (its offset and why).
    pub fn fatal(&self) -> Option<&StreamError> {
        self.inner.error()
    }

    /// Feeds `input`, calling `on_frame` for each complete frame. After a header that cannot
    /// be trusted all input is ignored (see [`Framer::fatal`]). Stops early and returns the
    /// first error of a callback.
    pub fn push<E>(
        &mut self,
        mut input: &[u8],
        on_frame: &mut impl FnMut(CutFrame<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        while !input.is_empty() {
            let Ok((used, cut)) = self.inner.next(input, lenient) else {
                return Ok(());
            };
            if let Some(cut) = cut {
                on_frame(CutFrame {
                    offset: cut.offset,
                    header: cut.header,
                    frame_type: cut.frame_type,
                    bytes: cut.bytes,
                    session_error: cut.header.validate().err(),
                })?;
            }
            input = &input[used..];
        }
        Ok(())
    }

    /// At the end of the stream: the incomplete frame left over, if any.
    pub fn tail(&self) -> Option<Tail> {
        if self.fatal().is_some() {
            return None;
        }
        let err = self.inner.finish().err()?;
        Some(match err.error {
            FrameError::Truncated { expected, actual } => Tail::PartialPayload {
                offset: err.offset,
                announced: expected,
                have: actual,
            },
            FrameError::HeaderTooShort { len } => Tail::PartialHeader {
                offset: err.offset,
                have: len,
            },
            // `finish` reports nothing else once `fatal` is none.
            _ => return None,
        })
    }

    /// Bytes held for an incomplete frame, for the memory-bound test.
    #[cfg(test)]
    pub fn buffered_len(&self) -> usize {
        self.inner.buffered_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(stream: &[u8], chunk: usize) -> (Vec<(u64, Vec<u8>, bool)>, Framer) {
        let mut f = Framer::new();
        let mut seen = Vec::new();
        for c in stream.chunks(chunk) {
            f.push::<()>(c, &mut |cf| {
                seen.push((cf.offset, cf.bytes.to_vec(), cf.session_error.is_some()));
                Ok(())
            })
            .unwrap();
        }
        (seen, f)
    }

    #[test]
    fn frames_in_any_chunking_and_lenient_session_ids() {
        let ping = hex::decode("1000000002000000000000000001ff").unwrap();
        let bad_sid_ping = hex::decode("10000000010000000000000001aa").unwrap();
        let control = hex::decode("200000000200000000000000011001").unwrap();
        let stream = [ping.clone(), bad_sid_ping.clone(), control.clone()].concat();
        for chunk in 1..=stream.len() {
            let (seen, f) = collect(&stream, chunk);
            assert_eq!(
                seen,
                vec![
                    (0, ping.clone(), false),
                    (15, bad_sid_ping.clone(), true),
                    (29, control.clone(), false)
                ],
                "chunk {chunk}"
            );
            assert_eq!(f.tail(), None);
            assert_eq!(f.buffered_len(), 0);
        }
    }

    #[test]
    fn untrustworthy_headers_stop_and_tails_are_reported() {
        let ping = hex::decode("10000000000000000000000000").unwrap();
        for bad in ["99000000000000000000000000", "03ffffffff0000000000000001"] {
            let stream = [ping.clone(), hex::decode(bad).unwrap(), ping.clone()].concat();
            for chunk in [1, 5, 100] {
                let (seen, f) = collect(&stream, chunk);
                assert_eq!(seen.len(), 1);
                assert_eq!(f.fatal().unwrap().offset, 13);
                assert_eq!(f.tail(), None);
            }
        }
        let (seen, f) = collect(&hex::decode("1000000008000000000000000001").unwrap(), 3);
        assert!(seen.is_empty());
        assert_eq!(
            f.tail(),
            Some(Tail::PartialPayload {
                offset: 0,
                announced: 8,
                have: 1
            })
        );
        let (_, f) = collect(&[ping.clone(), vec![0x10, 0]].concat(), 4);
        assert_eq!(
            f.tail(),
            Some(Tail::PartialHeader {
                offset: 13,
                have: 2
            })
        );
    }
}
