//! Browser captures (R14): the WebSocket messages of a Chrome/Chromium HAR file
//! (`log.entries[]._webSocketMessages[]`: `type` `send`|`receive`, `time` in seconds,
//! `opcode` 1 text / 2 binary, `data` base64 for binary), decoded like any capture.
//!
//! Every entry with WebSocket messages is a socket, numbered from 1 in file order. Each binary
//! message must be exactly one SBRP frame (a message holding a truncated frame or several
//! frames is `malformed_frame`); offsets count the bytes of the socket's binary messages, as if
//! they were one capture of that socket. Text messages are skipped with a note (SBRP is
//! binary-only). URLs are shown with the value of a `token` query parameter and any
//! user-info replaced by `REDACTED`: relay tokens are secrets.
//!
//! A HAR is one JSON document and is read whole; it may be at most [`MAX_HAR_BYTES`].

use std::io::Write;

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use super::dissect::{Diagnostic, Dissector, stream_diagnostics};
use super::framer::{CutFrame, Framer};
use super::render::Renderer;
use crate::cli::escape::escape;

/// Largest HAR file read.
pub const MAX_HAR_BYTES: u64 = 512 * 1024 * 1024;

/// The `websocket` object of a frame from a HAR.
#[derive(Clone, Debug, Serialize)]
pub struct WsInfo {
    /// Socket number (1-based, file order).
    pub socket: usize,
    /// `send` (browser → relay) or `receive`.
    pub direction: &'static str,
    /// Capture time, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<f64>,
    /// Message number within the socket (0-based, binary and text).
    pub message: usize,
}

/// One socket in the summary's `sockets`.
#[derive(Debug, Default, Serialize)]
pub struct SocketSummary {
    /// Socket number.
    pub socket: usize,
    /// URL with secrets redacted.
    pub url: String,
    /// Binary messages decoded.
    pub binary_messages: u64,
    /// Text messages skipped.
    pub text_skipped: u64,
    /// Other messages (unknown opcode, undecodable base64) skipped.
    pub other_skipped: u64,
    /// SBRP frames.
    pub frames: u64,
    /// Remarks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

struct Message {
    send: bool,
    time: Option<f64>,
    index: usize,
    data: Vec<u8>,
}

struct Socket {
    summary: SocketSummary,
    messages: Vec<Message>,
}

/// True when the input looks like a HAR (JSON) rather than a capture: its first non-blank
/// byte is `{`, which neither an SBRP header nor hex or base64 text can start with.
pub fn looks_like_har(prefix: &[u8]) -> Option<bool> {
    prefix
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .map(|&b| b == b'{')
}

pub use sbrp::url_redact::redact_url;

fn parse(bytes: &[u8]) -> Result<Vec<Socket>, String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
    let entries = doc
        .get("log")
        .and_then(|l| l.get("entries"))
        .and_then(Value::as_array)
        .ok_or("no log.entries list: not a HAR file")?;
    let mut sockets = Vec::new();
    for entry in entries {
        let Some(msgs) = entry.get("_webSocketMessages").and_then(Value::as_array) else {
            continue;
        };
        let url = entry
            .get("request")
            .and_then(|r| r.get("url"))
            .and_then(Value::as_str)
            .unwrap_or("(no URL)");
        let mut s = Socket {
            summary: SocketSummary {
                socket: sockets.len() + 1,
                url: redact_url(url),
                ..SocketSummary::default()
            },
            messages: Vec::new(),
        };
        for (index, m) in msgs.iter().enumerate() {
            let send = match m.get("type").and_then(Value::as_str) {
                Some("send") => true,
                Some("receive") => false,
                _ => {
                    s.summary.other_skipped += 1;
                    continue;
                }
            };
            let time = m.get("time").and_then(Value::as_f64);
            let data = m.get("data").and_then(Value::as_str).unwrap_or("");
            match m.get("opcode").and_then(Value::as_u64) {
                Some(2) => match base64::engine::general_purpose::STANDARD.decode(data) {
                    Ok(data) => {
                        s.summary.binary_messages += 1;
                        s.messages.push(Message {
                            send,
                            time,
                            index,
                            data,
                        });
                    }
                    Err(_) => {
                        s.summary.other_skipped += 1;
                        s.summary.notes.push(format!(
                            "message {index}: binary data that is not base64, skipped"
                        ));
                    }
                },
                Some(1) => s.summary.text_skipped += 1,
                _ => s.summary.other_skipped += 1,
            }
        }
        if s.summary.text_skipped > 0 {
            s.summary.notes.push(format!(
                "{} text message{} skipped: SBRP travels in binary messages only (a relay closes a socket that sends text with 1003)",
                s.summary.text_skipped,
                if s.summary.text_skipped == 1 { "" } else { "s" }
            ));
        }
        sockets.push(s);
    }
    Ok(sockets)
}

/// What the HAR run adds to the summary.
pub struct HarOutcome {
    /// Per socket.
    pub sockets: Vec<SocketSummary>,
    /// Stream diagnostics (messages that are not one frame).
    pub diagnostics: Vec<Diagnostic>,
    /// Bytes of binary messages.
    pub bytes: u64,
}

/// Decodes every binary message of every socket.
pub fn run<W: Write>(
    bytes: &[u8],
    dissector: &mut Dissector,
    renderer: &mut Renderer<W>,
) -> Result<Result<HarOutcome, String>, std::io::Error> {
    let sockets = match parse(bytes) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let mut index: u64 = 0;
    let mut total: u64 = 0;
    let mut diagnostics = Vec::new();
    let mut summaries = Vec::new();
    for mut socket in sockets {
        let s = &socket.summary;
        let mut line = format!(
            "== socket {} {}: {} binary message{}",
            s.socket,
            escape(&s.url),
            s.binary_messages,
            if s.binary_messages == 1 { "" } else { "s" }
        );
        for n in &s.notes {
            line.push_str(&format!("\n== note: {}", escape(n)));
        }
        renderer.section(&line)?;
        let mut offset: u64 = 0;
        for m in &socket.messages {
            dissector.now = m.time;
            let mut framer = Framer::new();
            let mut frames = 0u64;
            let ws = WsInfo {
                socket: socket.summary.socket,
                direction: if m.send { "send" } else { "receive" },
                time: m.time,
                message: m.index,
            };
            framer.push(&m.data, &mut |cut: CutFrame<'_>| {
                frames += 1;
                let shifted = CutFrame {
                    offset: offset + cut.offset,
                    header: cut.header,
                    frame_type: cut.frame_type,
                    bytes: cut.bytes,
                    session_error: cut.session_error,
                };
                let mut rec = dissector.frame(index, &shifted);
                index += 1;
                rec.websocket = Some(ws.clone());
                renderer.frame(&rec, cut.bytes)
            })?;
            let mut diags = stream_diagnostics(framer.fatal(), framer.tail().as_ref());
            for d in &mut diags {
                d.offset += offset;
                d.message = format!(
                    "socket {} message {}: {}",
                    socket.summary.socket, m.index, d.message
                );
            }
            if frames > 1 {
                diags.push(Diagnostic {
                    code: sbrp::ErrorCode::MalformedFrame.name(),
                    offset,
                    unauthenticated: false,
                    message: format!(
                        "socket {} message {} carries {frames} SBRP frames: a WebSocket message carries exactly one",
                        socket.summary.socket, m.index
                    ),
                });
            }
            if m.data.is_empty() {
                diags.push(Diagnostic {
                    code: sbrp::ErrorCode::MalformedFrame.name(),
                    offset,
                    unauthenticated: false,
                    message: format!(
                        "socket {} message {} is empty: a WebSocket message carries exactly one SBRP frame",
                        socket.summary.socket, m.index
                    ),
                });
            }
            socket.summary.frames += frames;
            dissector.count_stream(&diags);
            diagnostics.extend(diags);
            offset += m.data.len() as u64;
        }
        total += offset;
        summaries.push(socket.summary);
    }
    dissector.now = None;
    Ok(Ok(HarOutcome {
        sockets: summaries,
        diagnostics,
        bytes: total,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection() {
        assert_eq!(looks_like_har(b"  \n{\"log\""), Some(true));
        assert_eq!(looks_like_har(b"0100"), Some(false));
        assert_eq!(looks_like_har(b"  "), None);
    }
}
