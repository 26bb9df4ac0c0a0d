//! Cuts a byte stream into frames for the dissector, in bounded memory.
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

use sbrp::frame::{FrameError, FrameHeader, FrameType, HEADER_LEN};

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

/// A header that cannot be trusted: decoding stops here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fatal {
    /// Stream offset of the header.
    pub offset: u64,
    /// The header as read.
    pub header: FrameHeader,
    /// Why it cannot be trusted.
    pub error: FrameError,
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
        /// The header.
        header: FrameHeader,
        /// Payload bytes present.
        have: usize,
    },
}

enum Judgement {
    Frame(FrameType, usize, Option<FrameError>),
    Fatal(FrameError),
}

fn judge(header: &FrameHeader) -> Judgement {
    match header.validate() {
        Ok((t, len)) => Judgement::Frame(t, HEADER_LEN + len, None),
        Err(e @ FrameError::InvalidSessionId { frame_type, .. }) => {
            Judgement::Frame(frame_type, HEADER_LEN + header.length as usize, Some(e))
        }
        Err(e) => Judgement::Fatal(e),
    }
}

/// The push-style framer.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    offset: u64,
    fatal: Option<Fatal>,
}

impl Framer {
    /// A framer at stream offset 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fatal header, once one was met.
    pub fn fatal(&self) -> Option<&Fatal> {
        self.fatal.as_ref()
    }

    /// Feeds `input`, calling `on_frame` for each complete frame, and `on_fatal` once if a
    /// header cannot be trusted (after which all input is ignored). Stops early and returns
    /// the first error of a callback.
    pub fn push<E>(
        &mut self,
        mut input: &[u8],
        on_frame: &mut impl FnMut(CutFrame<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        while !input.is_empty() && self.fatal.is_none() {
            if self.buf.is_empty() {
                let Some(h) = input.first_chunk::<HEADER_LEN>() else {
                    self.buf.extend_from_slice(input);
                    return Ok(());
                };
                let header = FrameHeader::from_bytes(h);
                match judge(&header) {
                    Judgement::Fatal(error) => self.stop(header, error),
                    Judgement::Frame(frame_type, len, session_error) => {
                        let Some(bytes) = input.get(..len) else {
                            // Grows with the bytes that arrived, never by the announced
                            // length alone.
                            self.buf.extend_from_slice(input);
                            return Ok(());
                        };
                        let offset = self.offset;
                        self.offset += len as u64;
                        input = &input[len..];
                        on_frame(CutFrame {
                            offset,
                            header,
                            frame_type,
                            bytes,
                            session_error,
                        })?;
                    }
                }
                continue;
            }
            // Completing a frame that started in an earlier chunk.
            if self.buf.len() < HEADER_LEN {
                let take = (HEADER_LEN - self.buf.len()).min(input.len());
                self.buf.extend_from_slice(&input[..take]);
                input = &input[take..];
                if self.buf.len() < HEADER_LEN {
                    return Ok(());
                }
            }
            let mut h = [0u8; HEADER_LEN];
            h.copy_from_slice(&self.buf[..HEADER_LEN]);
            let header = FrameHeader::from_bytes(&h);
            match judge(&header) {
                Judgement::Fatal(error) => self.stop(header, error),
                Judgement::Frame(frame_type, len, session_error) => {
                    let take = (len - self.buf.len()).min(input.len());
                    self.buf.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if self.buf.len() < len {
                        return Ok(());
                    }
                    let offset = self.offset;
                    self.offset += len as u64;
                    let result = on_frame(CutFrame {
                        offset,
                        header,
                        frame_type,
                        bytes: &self.buf,
                        session_error,
                    });
                    self.buf.clear();
                    result?;
                }
            }
        }
        Ok(())
    }

    fn stop(&mut self, header: FrameHeader, error: FrameError) {
        self.buf.clear();
        self.buf.shrink_to_fit();
        self.fatal = Some(Fatal {
            offset: self.offset,
            header,
            error,
        });
    }

    /// At the end of the stream: the incomplete frame left over, if any.
    pub fn tail(&self) -> Option<Tail> {
        if self.fatal.is_some() || self.buf.is_empty() {
            return None;
        }
        if self.buf.len() < HEADER_LEN {
            return Some(Tail::PartialHeader {
                offset: self.offset,
                have: self.buf.len(),
            });
        }
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(&self.buf[..HEADER_LEN]);
        Some(Tail::PartialPayload {
            offset: self.offset,
            header: FrameHeader::from_bytes(&h),
            have: self.buf.len() - HEADER_LEN,
        })
    }

    /// Capacity held, for the memory-bound test.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
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
            assert!(f.capacity() <= 65549);
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
                header: FrameHeader {
                    type_byte: 0x10,
                    length: 8,
                    session_id: 0
                },
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
