//! Getting frames out of a byte stream.
//!
//! - [`StreamDecoder`] takes bytes in chunks of any size (from a socket, a pipe, a file) and
//!   hands out complete frames. It judges each header as soon as its 13 bytes are in, so a frame
//!   that claims 4 GiB is refused before any of its payload arrives; it holds at most one
//!   incomplete frame (≤ 65549 bytes); frames that lie whole in the caller's chunk are lent
//!   straight out of it without a copy.
//! - [`FrameReader`] walks one buffer that holds many frames, lending each without a copy.
//! - [`Framer`] is the engine under `StreamDecoder`: it cuts frames by their length and lets
//!   the caller judge every other header rule (a dissector reads on past a bad session id).
//!
//! Both apply the header rules only and yield [`RawFrame`]s; call [`RawFrame::parse`] for the
//! per-type payload rules. Errors carry the stream offset of the frame they concern. A header
//! error leaves the stream impossible to re-synchronise, so the decoder stays failed (every later
//! call returns the same error) until [`StreamDecoder::reset`].

use crate::frame::{FrameError, FrameHeader, FrameType, HEADER_LEN, MAX_PAYLOAD_LEN, RawFrame};

/// A frame error at a position in a stream.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error} (frame at byte offset {offset})")]
pub struct StreamError {
    /// Stream offset of the first byte of the frame concerned.
    pub offset: u64,
    /// What is wrong.
    pub error: FrameError,
}

impl StreamError {
    /// The SBRP error code.
    pub const fn code(&self) -> crate::ErrorCode {
        self.error.code()
    }
}

/// A frame and the stream offset of its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Located<'a> {
    /// Offset of the frame's first header byte in the stream.
    pub offset: u64,
    /// The frame.
    pub frame: RawFrame<'a>,
}

/// A frame cut out of a stream by its length, with the header it was judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut<'a> {
    /// Stream offset of the frame's first header byte.
    pub offset: u64,
    /// The header as read.
    pub header: FrameHeader,
    /// The type the judge accepted.
    pub frame_type: FrameType,
    /// The whole frame, header included.
    pub bytes: &'a [u8],
}

impl<'a> Cut<'a> {
    /// The payload (the bytes after the header).
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..]
    }
}

/// The framing engine under [`StreamDecoder`], for tools that judge headers by their own
/// rules (a dissector that reads on past a bad session id, say).
///
/// It cuts a stream into frames by their length field alone: a length above 65536 is always
/// refused (`payload_too_large`), so memory stays bounded whatever the judge says; every other
/// rule is the judge's, called once per header as soon as its 13 bytes are in. It holds at
/// most one incomplete frame, lends frames that lie whole in the caller's chunk without a
/// copy, and stays failed after an error until [`Framer::reset`].
#[derive(Debug, Default)]
pub struct Framer {
    /// Bytes of the current, incomplete frame (never more than one frame).
    buf: Vec<u8>,
    /// The buffered frame's judged header, once its 13 bytes are in.
    header: Option<(FrameHeader, FrameType)>,
    /// The buffered frame was handed out; drop it on the next call.
    consumed: bool,
    /// Stream offset of `buf[0]`, i.e. of the next frame.
    offset: u64,
    failed: Option<StreamError>,
}

impl Framer {
    /// A framer at stream offset 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offers `input` and returns how many of its bytes were used and, when a frame became
    /// complete, that frame. `judge` is called at most once, for the header that completes
    /// during this call, and returns the frame's type or the error that stops the stream.
    ///
    /// When no frame is returned, all of `input` was used. Call again with the unused rest
    /// until it is empty. The frame borrows either `input` (no copy) or the framer's buffer.
    pub fn next<'s>(
        &'s mut self,
        input: &'s [u8],
        judge: impl FnOnce(&FrameHeader) -> Result<FrameType, FrameError>,
    ) -> Result<(usize, Option<Cut<'s>>), StreamError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.consumed {
            self.buf.clear();
            self.header = None;
            self.consumed = false;
        }
        if self.buf.is_empty() {
            // Fast path: a frame that lies whole in `input` is lent without a copy.
            if let Some(bytes) = input.first_chunk::<HEADER_LEN>() {
                let header = FrameHeader::from_bytes(bytes);
                let frame_type = self.judge(&header, judge)?;
                let frame_len = HEADER_LEN + header.length as usize;
                if let Some(bytes) = input.get(..frame_len) {
                    let offset = self.offset;
                    self.offset += frame_len as u64;
                    let cut = Cut {
                        offset,
                        header,
                        frame_type,
                        bytes,
                    };
                    return Ok((frame_len, Some(cut)));
                }
                self.header = Some((header, frame_type));
            }
            self.buf.extend_from_slice(input);
            return Ok((input.len(), None));
        }

        let mut used = 0;
        let (header, frame_type) = match self.header {
            Some(judged) => judged,
            None => {
                let take = (HEADER_LEN - self.buf.len()).min(input.len());
                self.buf.extend_from_slice(&input[..take]);
                used += take;
                let Some(bytes) = self.buf.first_chunk::<HEADER_LEN>() else {
                    return Ok((used, None));
                };
                let header = FrameHeader::from_bytes(bytes);
                let frame_type = self.judge(&header, judge)?;
                self.header = Some((header, frame_type));
                (header, frame_type)
            }
        };
        let frame_len = HEADER_LEN + header.length as usize;
        let take = (frame_len - self.buf.len()).min(input.len() - used);
        self.buf.extend_from_slice(&input[used..used + take]);
        used += take;
        if self.buf.len() < frame_len {
            return Ok((used, None));
        }
        self.consumed = true;
        let offset = self.offset;
        self.offset += frame_len as u64;
        let cut = Cut {
            offset,
            header,
            frame_type,
            bytes: &self.buf,
        };
        Ok((used, Some(cut)))
    }

    /// Call at the end of the stream: an error if a frame was left incomplete (a truncated
    /// tail), saying how many bytes were missing; the stream's error if it had failed.
    pub fn finish(&self) -> Result<(), StreamError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let held = self.buffered_len();
        if held == 0 {
            return Ok(());
        }
        let error = match self.header {
            Some((header, _)) => FrameError::Truncated {
                expected: header.length as usize,
                actual: held - HEADER_LEN,
            },
            None => FrameError::HeaderTooShort { len: held },
        };
        Err(StreamError {
            offset: self.offset,
            error,
        })
    }

    /// Bytes held for a frame that is not complete yet.
    pub fn buffered_len(&self) -> usize {
        if self.consumed { 0 } else { self.buf.len() }
    }

    /// Stream offset of the next frame (bytes handed out so far as complete frames).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The error the framer failed with, if any.
    pub fn error(&self) -> Option<&StreamError> {
        self.failed.as_ref()
    }

    /// Forgets buffered bytes and any error, and restarts at stream offset 0.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.header = None;
        self.consumed = false;
        self.offset = 0;
        self.failed = None;
    }

    /// The framing rule (length), then the judge's; an error fails the stream.
    fn judge(
        &mut self,
        header: &FrameHeader,
        judge: impl FnOnce(&FrameHeader) -> Result<FrameType, FrameError>,
    ) -> Result<FrameType, StreamError> {
        let result = if header.length as usize > MAX_PAYLOAD_LEN {
            Err(FrameError::PayloadTooLarge {
                length: u64::from(header.length),
                max: MAX_PAYLOAD_LEN,
            })
        } else {
            judge(header)
        };
        result.map_err(|error| {
            let err = StreamError {
                offset: self.offset,
                error,
            };
            self.failed = Some(err.clone());
            err
        })
    }
}

/// Incremental frame decoder for a byte stream, applying every header rule of the protocol.
///
/// ```
/// use sbrp::stream::StreamDecoder;
/// let mut dec = StreamDecoder::new();
/// let bytes = [0x10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xaa]; // Ping with one byte
/// let mut seen = Vec::new();
/// for chunk in bytes.chunks(3) {
///     dec.push(chunk, |f| seen.push((f.offset, f.frame.payload().to_vec()))).unwrap();
/// }
/// dec.finish().unwrap();
/// assert_eq!(seen, vec![(0, vec![0xaa])]);
/// ```
#[derive(Debug, Default)]
pub struct StreamDecoder {
    framer: Framer,
}

impl StreamDecoder {
    /// A decoder at stream offset 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offers `input` and returns how many of its bytes were used and, when a frame became
    /// complete, that frame.
    ///
    /// When no frame is returned, all of `input` was used (the decoder is waiting for more).
    /// Call again with the unused rest until it is empty. The returned frame borrows either
    /// `input` (no copy) or the decoder's buffer.
    pub fn decode<'s>(
        &'s mut self,
        input: &'s [u8],
    ) -> Result<(usize, Option<Located<'s>>), StreamError> {
        let (used, cut) = self
            .framer
            .next(input, |header| header.validate().map(|(t, _)| t))?;
        let located = cut.map(|c| Located {
            offset: c.offset,
            frame: RawFrame::from_parts_unchecked(c.frame_type, c.header.session_id, c.payload()),
        });
        Ok((used, located))
    }

    /// Offers a whole chunk, calling `on_frame` for every frame it completes. Returns how many
    /// frames were handed out.
    pub fn push(
        &mut self,
        mut chunk: &[u8],
        mut on_frame: impl FnMut(Located<'_>),
    ) -> Result<usize, StreamError> {
        let mut frames = 0;
        loop {
            let (used, frame) = self.decode(chunk)?;
            if let Some(frame) = frame {
                frames += 1;
                on_frame(frame);
            }
            chunk = &chunk[used..];
            if chunk.is_empty() {
                return Ok(frames);
            }
        }
    }

    /// Call at the end of the stream: an error if a frame was left incomplete (a truncated
    /// tail), saying how many bytes were missing.
    pub fn finish(&self) -> Result<(), StreamError> {
        self.framer.finish()
    }

    /// Bytes held for a frame that is not complete yet.
    pub fn buffered_len(&self) -> usize {
        self.framer.buffered_len()
    }

    /// Stream offset of the next frame (bytes handed out so far as complete frames).
    pub fn offset(&self) -> u64 {
        self.framer.offset()
    }

    /// The error the decoder failed with, if any.
    pub fn error(&self) -> Option<&StreamError> {
        self.framer.error()
    }

    /// Forgets buffered bytes and any error, and restarts at stream offset 0.
    pub fn reset(&mut self) {
        self.framer.reset();
    }
}

/// Iterates over the frames of one buffer, lending each without a copy. Stops after the first
/// error (a bad header, or a truncated tail).
#[derive(Clone, Debug)]
pub struct FrameReader<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> FrameReader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            done: false,
        }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }
}

impl<'a> Iterator for FrameReader<'a> {
    type Item = Result<Located<'a>, StreamError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let offset = self.pos as u64;
        match RawFrame::decode_prefix(&self.buf[self.pos..]) {
            Ok((frame, len)) => {
                self.pos += len;
                Some(Ok(Located { offset, frame }))
            }
            Err(error) => {
                self.done = true;
                Some(Err(StreamError { offset, error }))
            }
        }
    }
}

impl core::iter::FusedIterator for FrameReader<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_framer_bounds_the_length_whatever_the_judge_says() {
        let mut framer = Framer::new();
        let header = [0x99, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0];
        let accept_all = |_: &FrameHeader| Ok(FrameType::Ping);
        let err = framer.next(&header, accept_all).unwrap_err();
        assert_eq!(err.offset, 0);
        assert_eq!(err.code(), crate::ErrorCode::PayloadTooLarge);
        assert_eq!(framer.buffered_len(), 0);
        // Failed until reset, whatever comes next.
        assert_eq!(framer.next(&[0x10], accept_all).unwrap_err(), err);
        framer.reset();
        assert!(framer.next(&[0x10], accept_all).is_ok());
    }

    #[test]
    fn the_judge_sees_each_header_once_and_decides_the_type() {
        // A Ping with a non-zero session id: a lenient judge lets it through.
        let frame = [0x10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0xaa];
        let mut framer = Framer::new();
        let mut judged = 0;
        let mut cuts = Vec::new();
        let mut input = &frame[..];
        while !input.is_empty() {
            let (used, cut) = framer
                .next(&input[..input.len().min(4)], |h| {
                    judged += 1;
                    assert_eq!(h.session_id, 7);
                    Ok(FrameType::Ping)
                })
                .unwrap();
            if let Some(cut) = cut {
                cuts.push((cut.offset, cut.frame_type, cut.payload().to_vec()));
            }
            input = &input[used..];
        }
        assert_eq!(judged, 1);
        assert_eq!(cuts, vec![(0, FrameType::Ping, vec![0xaa])]);
        framer.finish().unwrap();
        // The strict decoder refuses the same bytes.
        let err = StreamDecoder::new().push(&frame, |_| ()).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::InvalidSessionId);
    }
}
