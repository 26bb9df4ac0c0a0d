//! Presentation of dissected frames: text for people, JSON and NDJSON for programs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use colored::{Color, Colorize};
use serde::Serialize;

use sbrp::frame::FrameType;

use super::dissect::{Diagnostic, FrameRecord, Stats};
use super::sessions::{MAX_COUNTED_SESSIONS, MAX_LISTED_SESSIONS};
use crate::cli::escape::{escape, needs_escape};
use crate::cli::output::harden_json;

/// The version of the JSON schema (`docs/decode-json.md`).
pub const SCHEMA: &str = "sbrp.decode/2";

/// The `--format` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per frame, then a summary.
    Text,
    /// One JSON document: `{"schema", "frames": [...], "summary": {...}}`.
    Json,
    /// One JSON object per line: one per frame, then the summary.
    Ndjson,
}

/// The closing summary (the JSON summary object).
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Always `"summary"`.
    pub record: &'static str,
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// The input encoding used (`raw`, `hex`, `base64`).
    pub input: &'static str,
    /// Complete frames decoded.
    pub frames: u64,
    /// Bytes of the decoded stream (after hex/base64 decoding), including an incomplete tail.
    pub bytes: u64,
    /// Frames per type name.
    pub frames_by_type: BTreeMap<&'static str, u64>,
    /// Distinct non-zero session ids: exact when `sessions_exact`, else a lower bound.
    pub sessions: usize,
    /// False when there were more than `MAX_COUNTED_SESSIONS` distinct session ids.
    pub sessions_exact: bool,
    /// Idle sessions without keys evicted from the dissector's state table.
    pub sessions_evicted: u64,
    /// The first session ids, as decimal strings, in ascending order.
    pub session_ids: Vec<String>,
    /// More sessions than listed (or than tracked).
    pub session_ids_truncated: bool,
    /// Data frames for which a key was known.
    pub decrypt_attempted: u64,
    /// Of those, frames whose tag verified.
    pub authenticated: u64,
    /// Of those, frames whose tag did not verify.
    pub decrypt_failed: u64,
    /// All diagnostics, frames' and stream's.
    pub diagnostics_total: u64,
    /// All diagnostics per SBRP code.
    pub diagnostics_by_code: BTreeMap<&'static str, u64>,
    /// False when the input could not be read or parsed (see `error`): the counts then cover
    /// only what was read before, and nothing here is a clean result.
    pub ok: bool,
    /// Why the input could not be read or parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<InputError>,
    /// True when the stream ended on a frame boundary and nothing stopped decoding.
    pub complete: bool,
    /// Diagnostics of the stream itself (an untrustworthy header, a truncated tail).
    pub diagnostics: Vec<Diagnostic>,
    /// The SBP layer, when any plaintext was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbp: Option<super::sbp_view::SbpSummary>,
    /// RPC pairing, when any plaintext was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc: Option<super::sbp_view::RpcSummary>,
    /// The WebSocket sockets of a HAR input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sockets: Option<Vec<super::har::SocketSummary>>,
}

/// The summary's `error`: the input could not be read or parsed.
#[derive(Clone, Debug, Serialize)]
pub struct InputError {
    /// `read_failed`, `invalid_text`, `unknown_input` or `bad_option`.
    pub code: &'static str,
    /// What happened, in English (not stable: match on `code`).
    pub message: String,
}

impl Summary {
    /// Builds the summary from the statistics: `stream` holds the framer's diagnostics,
    /// `limits` the `tracking_limit` ones.
    pub fn new(
        stats: &Stats,
        input: &'static str,
        bytes: u64,
        stream: Vec<Diagnostic>,
        limits: Vec<Diagnostic>,
        error: Option<InputError>,
    ) -> Self {
        let frames_by_type = stats
            .by_type
            .iter()
            .map(|(t, n)| {
                (
                    FrameType::from_u8(*t).map_or("unknown", FrameType::name),
                    *n,
                )
            })
            .collect();
        Self {
            record: "summary",
            schema: SCHEMA,
            input,
            frames: stats.frames,
            bytes,
            frames_by_type,
            sessions: stats.sessions.count(),
            sessions_exact: !stats.sessions.overflow,
            sessions_evicted: stats.sessions_evicted,
            session_ids: stats.sessions.smallest.iter().map(u64::to_string).collect(),
            session_ids_truncated: stats.sessions.count() > MAX_LISTED_SESSIONS
                || stats.sessions.overflow,
            decrypt_attempted: stats.decrypt_attempts,
            authenticated: stats.authenticated,
            decrypt_failed: stats.decrypt_failed,
            diagnostics_total: stats.diagnostics,
            diagnostics_by_code: stats.by_code.clone(),
            ok: error.is_none(),
            complete: stream.is_empty() && error.is_none(),
            error,
            diagnostics: stream.into_iter().chain(limits).collect(),
            sbp: None,
            rpc: None,
            sockets: None,
        }
    }
}

/// Writes records in one format.
pub struct Renderer<W: Write> {
    w: W,
    format: Format,
    verbose: bool,
    color: bool,
    first: bool,
    line: Vec<u8>,
}

const PALETTE: [Color; 6] = [
    Color::Cyan,
    Color::Yellow,
    Color::Magenta,
    Color::Green,
    Color::Blue,
    Color::Red,
];

/// How much plaintext a text line shows before eliding.
const TEXT_PLAINTEXT_MAX: usize = 200;

impl<W: Write> Renderer<W> {
    /// A renderer; `color` only applies to text.
    pub fn new(w: W, format: Format, verbose: bool, color: bool) -> Self {
        Self {
            w,
            format,
            verbose,
            color: color && format == Format::Text,
            first: true,
            line: Vec::with_capacity(4096),
        }
    }

    /// The writer (to flush it).
    pub fn writer(&mut self) -> &mut W {
        &mut self.w
    }

    /// A section heading (text only: JSON frames carry their `websocket` object).
    pub fn section(&mut self, line: &str) -> io::Result<()> {
        if self.format == Format::Text {
            let line = self.bold(line);
            writeln!(self.w, "{line}")?;
        }
        Ok(())
    }

    /// Writes what comes before the first frame.
    pub fn begin(&mut self) -> io::Result<()> {
        if self.format == Format::Json {
            write!(self.w, "{{\"schema\":\"{SCHEMA}\",\"frames\":[")?;
        }
        Ok(())
    }

    fn paint(&self, text: &str, color: Color) -> String {
        if self.color {
            text.color(color).to_string()
        } else {
            text.to_owned()
        }
    }

    fn bold(&self, text: &str) -> String {
        if self.color {
            text.bold().to_string()
        } else {
            text.to_owned()
        }
    }

    fn json_line<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, value).map_err(io::Error::other)?;
        // Everything `harden_json` rewrites is outside ASCII: skip the UTF-8 pass for the rest.
        if self.line.is_ascii() {
            return self.w.write_all(&self.line);
        }
        match std::str::from_utf8(&self.line) {
            Ok(text) => self.w.write_all(harden_json(text).as_bytes()),
            // serde_json writes UTF-8 only.
            Err(_) => self.w.write_all(&self.line),
        }
    }

    /// Writes one frame; `bytes` is the whole frame (for `-v`).
    pub fn frame(&mut self, rec: &FrameRecord, bytes: &[u8]) -> io::Result<()> {
        match self.format {
            Format::Ndjson => {
                self.json_line(rec)?;
                self.w.write_all(b"\n")
            }
            Format::Json => {
                self.w.write_all(if self.first { b"\n" } else { b",\n" })?;
                self.first = false;
                self.json_line(rec)
            }
            Format::Text => {
                let mut s = String::with_capacity(256);
                self.text_line(&mut s, rec);
                s.push('\n');
                if self.verbose {
                    self.text_fields(&mut s, rec, bytes);
                }
                for d in &rec.diagnostics {
                    self.text_diag(&mut s, d);
                }
                for n in &rec.notes {
                    let _ = writeln!(s, "      note: {}", escape(n));
                }
                self.w.write_all(s.as_bytes())
            }
        }
    }

    /// Writes the summary and ends the document.
    pub fn end(&mut self, summary: &Summary) -> io::Result<()> {
        match self.format {
            Format::Ndjson => {
                self.json_line(summary)?;
                self.w.write_all(b"\n")
            }
            Format::Json => {
                self.w
                    .write_all(if self.first { b"],\n" } else { b"\n],\n" })?;
                self.w.write_all(b"\"summary\":")?;
                self.json_line(summary)?;
                self.w.write_all(b"}\n")
            }
            Format::Text => {
                let mut s = String::new();
                self.text_summary(&mut s, summary);
                self.w.write_all(s.as_bytes())
            }
        }
    }

    fn text_line(&self, s: &mut String, r: &FrameRecord) {
        let _ = write!(
            s,
            "{:>5} @{:<8} {} sid={} len={}",
            r.index,
            r.offset,
            self.bold(&format!("{:<15}", r.type_name)),
            r.session_id,
            r.length
        );
        if let Some(ws) = &r.websocket {
            let _ = write!(s, " ws#{} {}", ws.socket, ws.direction);
            if let Some(t) = ws.time {
                let _ = write!(s, " t={t:.3}");
            }
        }
        if let Some(k) = &r.client_ephemeral_key {
            let _ = write!(s, " client_ephemeral={k}");
        }
        if let (Some(id), Some(fp)) = (&r.identity_key, &r.identity_fingerprint) {
            let _ = write!(s, " identity={id} fingerprint={fp}");
        }
        if let Some(k) = &r.daemon_ephemeral_key {
            let _ = write!(s, " ephemeral={k}");
        }
        if let Some(sig) = &r.signature {
            let _ = write!(s, " signature={sig}");
        }
        if let Some(valid) = r.signature_valid {
            let v = if valid {
                self.paint("signature-valid", Color::Green)
            } else {
                self.paint("SIGNATURE-INVALID", Color::Red)
            };
            let _ = write!(s, " {v}");
        }
        if let Some(pin) = r.pin {
            let p = match pin {
                "match" => self.paint("pin=match", Color::Green),
                "mismatch" => self.paint("pin=MISMATCH", Color::Red),
                other => format!("pin={other}"),
            };
            let _ = write!(s, " {p}");
        }
        if r.keys_derived == Some(true) {
            let _ = write!(s, " keys-derived");
        }
        if let Some(code) = r.direction_code {
            match r.direction {
                Some(d) => {
                    let _ = write!(s, " {d}");
                }
                None => {
                    let _ = write!(s, " direction={code}(invalid)");
                }
            }
        }
        if let Some(seq) = r.seq {
            let _ = write!(s, " seq={seq}");
        }
        if let Some(n) = r.ciphertext_length {
            let _ = write!(s, " ciphertext={n}B");
        }
        match r.authenticated {
            Some(true) => {
                let _ = write!(s, " {}", self.paint("authenticated", Color::Green));
                match (&r.sbp, &r.plaintext) {
                    (Some(v), _) => {
                        let _ = write!(s, " {}", super::sbp_view::text(v, |t| self.bold(t)));
                    }
                    (None, Some(pt)) => {
                        let _ = write!(s, " {}", plaintext_text(pt));
                    }
                    _ => {}
                }
            }
            Some(false) => {
                let _ = write!(s, " {}", self.paint("decrypt_failed", Color::Red));
            }
            None => {}
        }
        if let Some(code) = r.signal_code {
            match r.signal {
                Some(name) => {
                    let _ = write!(s, " {name}");
                }
                None => {
                    let _ = write!(s, " signal=0x{code:02x}(unknown)");
                }
            }
        }
        if let (Some(reason), Some(code)) = (r.reason, r.reason_code) {
            if reason == "unknown" {
                let _ = write!(s, " reason=0x{code:02x}(unknown)");
            } else {
                let _ = write!(s, " reason={reason}");
            }
        }
        if let Some(p) = &r.payload_hex {
            if p.is_empty() {
                let _ = write!(s, " payload=(empty)");
            } else {
                let _ = write!(s, " payload={p}");
            }
        }
        if let Some(code) = r.code {
            let name = r.name.unwrap_or("unknown");
            let _ = write!(
                s,
                " 0x{code:04x} {} category={} {}",
                self.bold(name),
                r.category.unwrap_or("?"),
                if r.terminal == Some(true) {
                    "terminal"
                } else {
                    "non-terminal"
                }
            );
            if let Some(m) = &r.message {
                let _ = write!(s, " message=\"{}\"", escape(m));
            }
        }
    }

    fn text_diag(&self, s: &mut String, d: &Diagnostic) {
        let _ = writeln!(
            s,
            "      ! {} at {}{}: {}",
            self.paint(d.code, Color::Red),
            d.offset,
            if d.unauthenticated {
                " (unauthenticated)"
            } else {
                ""
            },
            escape(&d.message)
        );
    }

    fn text_fields(&self, s: &mut String, r: &FrameRecord, bytes: &[u8]) {
        // Colour of each byte: the index of the field that covers it.
        let mut owner = vec![usize::MAX; bytes.len()];
        for (i, f) in r.fields.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let end = (f.offset + f.length).min(bytes.len());
            owner[f.offset.min(end)..end].fill(i);
            let value = &bytes[f.offset.min(end)..end];
            let shown = if value.len() <= 16 {
                hex::encode(value)
            } else {
                format!("{}… ({} bytes)", hex::encode(&value[..16]), value.len())
            };
            let _ = writeln!(
                s,
                "        {} +{:<5} {:>5}  {}",
                self.paint(&format!("{:<22}", f.name), color),
                f.offset,
                f.length,
                shown
            );
        }
        self.hexdump(s, bytes, r.offset, |i| {
            owner
                .get(i)
                .copied()
                .filter(|&o| o != usize::MAX)
                .map(|o| PALETTE[o % PALETTE.len()])
        });
        if let Some(pt) = &r.plaintext {
            let spans = r.sbp.as_ref().map(|v| v.fields.as_slice()).unwrap_or(&[]);
            let _ = writeln!(s, "        plaintext ({} bytes):", pt.len());
            let mut owner = vec![usize::MAX; pt.len()];
            for (i, f) in spans.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let end = (f.offset + f.length).min(pt.len());
                owner[f.offset.min(end)..end].fill(i);
                let _ = writeln!(
                    s,
                    "        {} +{:<5} {:>5}  {}",
                    self.paint(&format!("{:<22}", f.name), color),
                    f.offset,
                    f.length,
                    field_value(&pt[f.offset.min(end)..end])
                );
            }
            self.hexdump(s, pt, 0, |i| {
                owner
                    .get(i)
                    .copied()
                    .filter(|&o| o != usize::MAX)
                    .map(|o| PALETTE[o % PALETTE.len()])
            });
        }
    }

    fn hexdump(
        &self,
        s: &mut String,
        bytes: &[u8],
        base: u64,
        color: impl Fn(usize) -> Option<Color>,
    ) {
        for (row, chunk) in bytes.chunks(16).enumerate() {
            let _ = write!(s, "        {:08x} ", base + row as u64 * 16);
            for i in 0..16 {
                if i == 8 {
                    s.push(' ');
                }
                match chunk.get(i) {
                    Some(b) => {
                        let cell = format!("{b:02x}");
                        match color(row * 16 + i) {
                            Some(c) => {
                                let _ = write!(s, " {}", self.paint(&cell, c));
                            }
                            None => {
                                let _ = write!(s, " {cell}");
                            }
                        }
                    }
                    None => s.push_str("   "),
                }
            }
            s.push_str("  |");
            for &b in chunk {
                s.push(if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                });
            }
            s.push_str("|\n");
        }
    }

    fn text_summary(&self, s: &mut String, m: &Summary) {
        let mut ids = m.session_ids.join(", ");
        if m.session_ids_truncated {
            ids.push_str(", …");
        }
        if let Some(e) = &m.error {
            let _ = writeln!(
                s,
                "-- {}: {} ({}); the counts below cover only what was read",
                self.paint("INPUT FAILED", Color::Red),
                escape(&e.message),
                e.code
            );
        }
        let _ = writeln!(
            s,
            "-- {} frame{}, {} bytes ({} input), {}{} session{}{}",
            m.frames,
            if m.frames == 1 { "" } else { "s" },
            m.bytes,
            m.input,
            if m.sessions_exact { "" } else { "more than " },
            if m.sessions_exact {
                m.sessions
            } else {
                MAX_COUNTED_SESSIONS
            },
            if m.sessions == 1 && m.sessions_exact {
                ""
            } else {
                "s"
            },
            if ids.is_empty() {
                String::new()
            } else {
                format!(" ({ids})")
            }
        );
        if !m.frames_by_type.is_empty() {
            let mut by_type: Vec<(u8, &str, u64)> = m
                .frames_by_type
                .iter()
                .map(|(name, n)| {
                    let code = FrameType::ALL
                        .iter()
                        .find(|t| t.name() == *name)
                        .map_or(0xff, |t| t.as_u8());
                    (code, *name, *n)
                })
                .collect();
            by_type.sort_unstable();
            let list: Vec<String> = by_type.iter().map(|(_, n, c)| format!("{n} {c}")).collect();
            let _ = writeln!(s, "-- by type: {}", list.join(", "));
        }
        if m.decrypt_attempted > 0 {
            let _ = writeln!(
                s,
                "-- decryption: {} Data frames with keys, {} authenticated, {} decrypt_failed",
                m.decrypt_attempted, m.authenticated, m.decrypt_failed
            );
        }
        if m.sessions_evicted > 0 {
            let _ = writeln!(
                s,
                "-- sessions evicted: {} (idle, without keys; see tracking_limit)",
                m.sessions_evicted
            );
        }
        if m.diagnostics_total == 0 && m.error.is_some() {
            let _ = writeln!(s, "-- diagnostics: none in what was read (incomplete)");
        } else if m.diagnostics_total == 0 {
            let _ = writeln!(s, "-- diagnostics: none");
        } else {
            let list: Vec<String> = m
                .diagnostics_by_code
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            let _ = writeln!(
                s,
                "-- diagnostics: {} ({})",
                m.diagnostics_total,
                list.join(", ")
            );
        }
        if let Some(sbp) = &m.sbp {
            super::sbp_view::text_summary(s, sbp, m.rpc.as_ref());
        }
        for d in &m.diagnostics {
            let _ = writeln!(
                s,
                "-- {} at {}: {}",
                self.paint(d.code, Color::Red),
                d.offset,
                escape(&d.message)
            );
        }
    }
}

/// A field's bytes: printable UTF-8 quoted, else hex; long ones cut.
fn field_value(value: &[u8]) -> String {
    if let Ok(t) = std::str::from_utf8(value)
        && !value.is_empty()
        && !t.chars().any(needs_escape)
    {
        let mut end = t.len().min(48);
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        let more = if end < t.len() { "…" } else { "" };
        return format!("\"{}\"{more} ({} bytes)", escape(&t[..end]), value.len());
    }
    if value.len() <= 16 {
        hex::encode(value)
    } else {
        format!("{}… ({} bytes)", hex::encode(&value[..16]), value.len())
    }
}

/// A plaintext for a text line: quoted when it is printable UTF-8, else hex; long ones elided.
fn plaintext_text(pt: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(pt) {
        let printable = !text
            .chars()
            .any(|c| needs_escape(c) && !matches!(c, '\n' | '\t' | '\r'));
        if printable {
            let mut end = text.len().min(TEXT_PLAINTEXT_MAX);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let more = if end < text.len() {
                format!("…(+{} bytes)", text.len() - end)
            } else {
                String::new()
            };
            return format!("\"{}\"{more}", escape(&text[..end]));
        }
    }
    let end = pt.len().min(TEXT_PLAINTEXT_MAX / 2);
    let more = if end < pt.len() {
        format!("…(+{} bytes)", pt.len() - end)
    } else {
        String::new()
    };
    format!("hex={}{more}", hex::encode(&pt[..end]))
}
