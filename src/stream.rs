//! Getting frames out of a byte stream.
//!
//! - [`StreamDecoder`] takes bytes in chunks of any size (from a socket, a pipe, a file) and
//!   hands out complete frames. It judges each header as soon as its 13 bytes are in, so a frame
//!   that claims 4 GiB is refused before any of its payload arrives; it holds at most one
//!   incomplete frame (≤ 65549 bytes); frames that lie whole in the caller's chunk are lent
//!   straight out of it without a copy.
//! - [`FrameReader`] walks one buffer that holds many frames, lending each without a copy.
//!
//! Both apply the header rules only and yield [`RawFrame`]s; call [`RawFrame::parse`] for the
//! per-type payload rules. Errors carry the stream offset of the frame they concern. A header
//! error leaves the stream impossible to re-synchronise, so the decoder stays failed (every later
//! call returns the same error) until [`StreamDecoder::reset`].

use crate::frame::{FrameError, FrameHeader, FrameType, HEADER_LEN, RawFrame};

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

/// Incremental frame decoder for a byte stream.
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
    /// Bytes of the current, incomplete frame (never more than one frame).
    buf: Vec<u8>,
    /// The buffered frame's validated header, once its 13 bytes are in.
    header: Option<Judged>,
    /// The buffered frame was handed out; drop it on the next call.
    consumed: bool,
    /// Stream offset of `buf[0]`, i.e. of the next frame.
    offset: u64,
    failed: Option<StreamError>,
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
            if let Some(header) = input.first_chunk::<HEADER_LEN>() {
                let judged = self.judge(header)?;
                if let Some(bytes) = input.get(..judged.frame_len) {
                    let offset = self.offset;
                    self.offset += judged.frame_len as u64;
                    let frame = judged.frame(bytes);
                    return Ok((judged.frame_len, Some(Located { offset, frame })));
                }
                self.header = Some(judged);
            }
            self.buf.extend_from_slice(input);
            return Ok((input.len(), None));
        }

        let mut used = 0;
        let judged = match self.header {
            Some(judged) => judged,
            None => {
                let want = HEADER_LEN - self.buf.len();
                let take = want.min(input.len());
                self.buf.extend_from_slice(&input[..take]);
                used += take;
                let Some(header) = self.buf.first_chunk::<HEADER_LEN>() else {
                    return Ok((used, None));
                };
                let header = *header;
                let judged = self.judge(&header)?;
                self.header = Some(judged);
                judged
            }
        };
        let frame_len = judged.frame_len;
        let take = (frame_len - self.buf.len()).min(input.len() - used);
        self.buf.extend_from_slice(&input[used..used + take]);
        used += take;
        if self.buf.len() < frame_len {
            return Ok((used, None));
        }
        self.consumed = true;
        let offset = self.offset;
        self.offset += frame_len as u64;
        Ok((
            used,
            Some(Located {
                offset,
                frame: judged.frame(&self.buf),
            }),
        ))
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
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let held = self.buffered_len();
        if held == 0 {
            return Ok(());
        }
        let error = match self.header {
            Some(judged) => FrameError::Truncated {
                expected: judged.frame_len - HEADER_LEN,
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

    /// The error the decoder failed with, if any.
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

    fn judge(&mut self, header: &[u8; HEADER_LEN]) -> Result<Judged, StreamError> {
        let header = FrameHeader::from_bytes(header);
        match header.validate() {
            Ok((frame_type, len)) => Ok(Judged {
                frame_type,
                session_id: header.session_id,
                frame_len: HEADER_LEN + len,
            }),
            Err(error) => {
                let err = StreamError {
                    offset: self.offset,
                    error,
                };
                self.failed = Some(err.clone());
                Err(err)
            }
        }
    }
}

/// A header that passed the header rules.
#[derive(Clone, Copy, Debug)]
struct Judged {
    frame_type: FrameType,
    session_id: u64,
    frame_len: usize,
}

impl Judged {
    /// The frame in `bytes`, which hold exactly this frame.
    fn frame(self, bytes: &[u8]) -> RawFrame<'_> {
        RawFrame::from_parts_unchecked(self.frame_type, self.session_id, &bytes[HEADER_LEN..])
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
