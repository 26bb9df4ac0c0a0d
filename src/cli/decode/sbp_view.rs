//! The inner layer of `sbrp decode`: every authenticated Data plaintext read as an SBP frame,
//! RPC envelopes paired by `cid` per session, handshakes per side, SBP/RPC diagnostics.
//!
//! A plaintext that is not SBP (a bare SBRP peer such as `sbrp peer --raw`) keeps the Data
//! fields and gets a note, never a diagnostic (R13). It counts as SBP when it decodes, or when
//! its session already carried SBP, or when only reserved flag bits stop it from decoding.
//!
//! Memory: state for at most [`MAX_TRACKED_SESSIONS`] sessions, at most
//! [`MAX_PENDING`] unanswered requests per session, and at most [`MAX_LISTED`] cids in each
//! summary list; beyond that, counts go on and the lists say they are truncated.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use sbrp::frame::Direction;
use sbrp::rpc::{Envelope, RpcError};
use sbrp::sbp::{Body, Frame, FrameId, Handshake, RESERVED_FLAGS, SbpError, WireCode};

use super::dissect::{Diagnostic, Field, FrameRecord};

/// Sessions with SBP state at most.
pub const MAX_TRACKED_SESSIONS: usize = 4096;

/// Unanswered requests remembered per session.
pub const MAX_PENDING: usize = 4096;
/// Cids (and sessions) listed in the summary at most.
pub const MAX_LISTED: usize = 256;
/// Characters of params/result/data shown in short.
const PREVIEW_CHARS: usize = 120;

/// The `sbp` object of a Data frame (`docs/decode-json.md`).
#[derive(Debug, Default, Serialize)]
pub struct SbpView {
    /// `control`, `message`, `ack`, `error`.
    pub kind: &'static str,
    /// 32 hex digits.
    pub frame_id: String,
    /// Milliseconds since the epoch, when flagged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
    /// Control op.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<&'static str>,
    /// The Handshake's JSON object (as sent, when it is JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake: Option<Value>,
    /// Close reason (UTF-8, U+FFFD for invalid bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Message subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Message data length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_length: Option<usize>,
    /// The RPC envelope of `rpc`/`event` Messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc: Option<RpcView>,
    /// Ack: the acknowledged frame id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack_id: Option<String>,
    /// Error frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorView>,
    /// With `-v`: the fields, offsets inside the plaintext.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
}

/// An RPC envelope in short.
#[derive(Debug, Default, Serialize)]
pub struct RpcView {
    /// `r`, `R`, `E`, `N`.
    pub t: String,
    /// Request method (for responses: the paired request's method).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Correlation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    /// Notification event name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// Its registry name (or range).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_name: Option<&'static str>,
    /// Error message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// params / result / data / d, as compact JSON, cut at 120 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    /// Response: index of the request frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_index: Option<u64>,
    /// Response: round trip in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// `capture` (capture times) or `sbp_timestamps` (the two frames' own timestamps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_source: Option<&'static str>,
}

/// An SBP Error frame.
#[derive(Debug, Serialize)]
pub struct ErrorView {
    /// The code.
    pub code: u16,
    /// Registry name or range.
    pub name: &'static str,
    /// The message.
    pub message: String,
    /// Details length.
    pub details_length: usize,
}

/// One side's handshake, for the summary.
#[derive(Clone, Debug, Serialize)]
pub struct SideHandshake {
    /// `peerId`.
    pub peer_id: String,
    /// `caps`.
    pub caps: Vec<String>,
    /// Index of the frame.
    pub index: u64,
}

/// A session's handshakes (summary `sbp.sessions`).
#[derive(Clone, Debug, Serialize)]
pub struct SessionView {
    /// Decimal session id.
    pub session_id: String,
    /// The client's handshake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<SideHandshake>,
    /// The daemon's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daemon: Option<SideHandshake>,
}

/// Summary `sbp` object.
#[derive(Debug, Default, Serialize)]
pub struct SbpSummary {
    /// Plaintexts read as SBP frames.
    pub frames: u64,
    /// Plaintexts that are not SBP (shown as bytes, with a note).
    pub not_sbp: u64,
    /// SBP frames per kind.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Per session with SBP traffic, in session-id order.
    pub sessions: Vec<SessionView>,
    /// More sessions than listed.
    pub sessions_truncated: bool,
}

/// Round-trip statistics.
#[derive(Debug, Serialize)]
pub struct RttStats {
    /// Responses with a round trip.
    pub count: usize,
    /// Milliseconds.
    pub min: f64,
    /// Milliseconds.
    pub median: f64,
    /// Milliseconds.
    pub max: f64,
}

/// Summary `rpc` object.
#[derive(Debug, Default, Serialize)]
pub struct RpcSummary {
    /// Requests seen.
    pub requests: u64,
    /// Requests with a response or an error.
    pub answered: u64,
    /// Cids of requests without an answer.
    pub unanswered: Vec<String>,
    /// Responses whose cid matches no request seen.
    pub orphan_responses: Vec<String>,
    /// A list above holds only its first [`MAX_LISTED`] cids.
    pub truncated: bool,
    /// RPC errors (`E`) by code, as decimal strings.
    pub errors: BTreeMap<String, u64>,
    /// Notifications.
    pub notifications: u64,
    /// Round trips, when the capture (or the frames) carry times.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<RttStats>,
}

struct Pending {
    method: String,
    index: u64,
    time: Option<f64>,
    timestamp: Option<i64>,
}

#[derive(Default)]
struct SessionState {
    seen_sbp: bool,
    handshake: [Option<SideHandshake>; 2],
    pending: HashMap<FrameId, Pending>,
    pending_overflow: bool,
}

/// Where a frame is, for the tracker.
pub struct At {
    /// Session id.
    pub sid: u64,
    /// Data direction.
    pub direction: Direction,
    /// Frame index.
    pub index: u64,
    /// Stream offset of the first plaintext (ciphertext) byte: plaintext byte `i` is at
    /// `base + i`, as ChaCha20 maps bytes one to one.
    pub base: u64,
    /// Capture time in seconds, when the capture has times.
    pub time: Option<f64>,
    /// Build `fields` (`-v`).
    pub fields: bool,
}

/// Cross-frame SBP/RPC state.
#[derive(Default)]
pub struct SbpTracker {
    sessions: HashMap<u64, SessionState>,
    overflow: bool,
    c: Counters,
}

#[derive(Default)]
struct Counters {
    summary: SbpSummary,
    rpc: RpcSummary,
    rtts: Vec<f64>,
}

fn side(d: Direction) -> usize {
    match d {
        Direction::ClientToDaemon => 0,
        Direction::DaemonToClient => 1,
    }
}

fn preview(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(PREVIEW_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s,
    }
}

fn diag(rec: &mut FrameRecord, code: WireCode, offset: u64, message: String) {
    let prefix = format!("{}: ", code.name());
    let message = message
        .strip_prefix(&prefix)
        .map(str::to_owned)
        .unwrap_or(message);
    rec.diagnostics.push(Diagnostic {
        code: code.name(),
        offset,
        message,
        unauthenticated: false,
    });
}

impl Counters {
    fn envelope(
        &mut self,
        rec: &mut FrameRecord,
        st: &mut SessionState,
        env: &Envelope,
        frame: &Frame<'_>,
        at: &At,
        data_at: u64,
    ) -> RpcView {
        let mut v = RpcView {
            t: env.t().to_string(),
            cid: env.cid().map(|c| c.to_hex()),
            ..RpcView::default()
        };
        match env {
            Envelope::Request {
                method,
                params,
                cid,
            } => {
                self.rpc.requests += 1;
                v.method = Some(method.clone());
                v.preview = params.as_ref().map(preview);
                if *cid != frame.frame_id {
                    rec.notes.push(
                        "the request's cid is not its frame id (ADR-010 asks for the frame id)"
                            .into(),
                    );
                }
                if st.pending.len() < MAX_PENDING || st.pending.contains_key(cid) {
                    st.pending.insert(
                        *cid,
                        Pending {
                            method: method.clone(),
                            index: at.index,
                            time: at.time,
                            timestamp: frame.timestamp,
                        },
                    );
                } else {
                    st.pending_overflow = true;
                    self.rpc.truncated = true;
                }
            }
            Envelope::Response { cid, result } => {
                v.preview = result.as_ref().map(preview);
                self.answer(rec, st, &mut v, *cid, frame, at, data_at);
            }
            Envelope::Error {
                cid,
                code,
                message,
                data,
            } => {
                v.code = Some(*code);
                v.code_name = Some(WireCode::describe(*code));
                v.message = Some(message.clone());
                v.preview = data.as_ref().map(preview);
                *self.rpc.errors.entry(code.to_string()).or_default() += 1;
                self.answer(rec, st, &mut v, *cid, frame, at, data_at);
            }
            Envelope::Notification { event, data } => {
                self.rpc.notifications += 1;
                v.event = Some(event.clone());
                v.preview = data.as_ref().map(preview);
            }
        }
        v
    }

    #[allow(clippy::too_many_arguments)]
    fn answer(
        &mut self,
        rec: &mut FrameRecord,
        st: &mut SessionState,
        v: &mut RpcView,
        cid: FrameId,
        frame: &Frame<'_>,
        at: &At,
        data_at: u64,
    ) {
        match st.pending.remove(&cid) {
            Some(p) => {
                self.rpc.answered += 1;
                v.method = Some(p.method);
                v.request_index = Some(p.index);
                let rtt = match (p.time, at.time, p.timestamp, frame.timestamp) {
                    (Some(a), Some(b), _, _) => Some(((b - a) * 1000.0, "capture")),
                    (_, _, Some(a), Some(b)) => Some(((b - a) as f64, "sbp_timestamps")),
                    _ => None,
                };
                if let Some((ms, source)) = rtt {
                    let ms = (ms * 1000.0).round() / 1000.0;
                    v.rtt_ms = Some(ms);
                    v.rtt_source = Some(source);
                    self.rtts.push(ms);
                }
            }
            None => {
                let hex = cid.to_hex();
                if self.rpc.orphan_responses.len() < MAX_LISTED {
                    self.rpc.orphan_responses.push(hex.clone());
                } else {
                    self.rpc.truncated = true;
                }
                if !st.pending_overflow {
                    diag(
                        rec,
                        WireCode::CorrelationMismatch,
                        data_at,
                        format!(
                            "a response for cid {hex}, which no request in this capture carries"
                        ),
                    );
                }
            }
        }
    }
}

impl SbpTracker {
    /// Reads the plaintext of an authenticated Data frame into `rec`.
    pub fn inspect(&mut self, rec: &mut FrameRecord, pt: &[u8], at: &At) {
        let SbpTracker {
            sessions,
            overflow,
            c,
        } = self;
        let state = if at.sid == 0 {
            None
        } else if sessions.contains_key(&at.sid) || sessions.len() < MAX_TRACKED_SESSIONS {
            Some(sessions.entry(at.sid).or_default())
        } else {
            *overflow = true;
            None
        };
        let seen_sbp = state.as_ref().is_some_and(|s| s.seen_sbp);
        let frame = match Frame::decode(pt) {
            Ok(f) => f,
            Err(e) => {
                let reserved_only = matches!(e, SbpError::ReservedFlags(_)) && {
                    let mut fixed = pt.to_vec();
                    fixed[1] &= !RESERVED_FLAGS;
                    Frame::decode(&fixed).is_ok()
                };
                if seen_sbp || reserved_only {
                    c.summary.frames += 1;
                    if let Some(s) = state {
                        s.seen_sbp = true;
                    }
                    diag(rec, e.code(), at.base + e.offset() as u64, e.to_string());
                } else if pt.is_empty() {
                    c.summary.not_sbp += 1;
                    rec.notes
                        .push("an empty plaintext is not an SBP frame".into());
                } else {
                    c.summary.not_sbp += 1;
                    rec.notes.push(format!(
                        "the plaintext is not an SBP frame ({}): shown as bytes",
                        e.to_string()
                            .split_once(": ")
                            .map_or(e.to_string(), |(_, m)| m.to_owned())
                    ));
                }
                return;
            }
        };
        c.summary.frames += 1;
        *c.summary
            .by_kind
            .entry(frame.body.kind().name())
            .or_default() += 1;
        let mut view = SbpView {
            kind: frame.body.kind().name(),
            frame_id: frame.frame_id.to_hex(),
            timestamp_ms: frame.timestamp,
            op: frame.body.op().map(|o| o.name()),
            ..SbpView::default()
        };
        let spans = frame.fields();
        let offset_of = |name: &str| {
            at.base
                + spans
                    .iter()
                    .find(|s| s.name == name)
                    .map_or(0, |s| s.offset as u64)
        };
        if at.fields {
            view.fields = spans
                .iter()
                .map(|s| Field {
                    name: s.name,
                    offset: s.offset,
                    length: s.length,
                })
                .collect();
        }
        let mut dummy = SessionState::default();
        let st = match state {
            Some(s) => s,
            None => &mut dummy,
        };
        st.seen_sbp = true;
        let me = side(at.direction);
        let is_handshake = matches!(frame.body, Body::Handshake(_));
        if !is_handshake && st.handshake[me].is_none() {
            diag(
                rec,
                WireCode::ProtocolViolation,
                at.base,
                format!(
                    "a {} frame from the {} before its Handshake: the first frame each side sends must be the Handshake",
                    view.op.unwrap_or(view.kind),
                    if me == 0 { "client" } else { "daemon" }
                ),
            );
        }
        match frame.body {
            Body::Handshake(json) => {
                view.handshake = serde_json::from_slice::<Value>(json).ok();
                match Handshake::parse(json) {
                    Ok(h) => {
                        if st.handshake[me].is_some() {
                            diag(
                                rec,
                                WireCode::ProtocolViolation,
                                at.base,
                                "a second Handshake from this side".into(),
                            );
                        }
                        st.handshake[me] = Some(SideHandshake {
                            peer_id: h.peer_id,
                            caps: h.caps,
                            index: at.index,
                        });
                    }
                    Err(e) => diag(rec, e.code(), offset_of("sbp.handshake"), e.to_string()),
                }
            }
            Body::Ping | Body::Pong => {}
            Body::Close(reason) => {
                view.reason = Some(String::from_utf8_lossy(reason).into_owned());
            }
            Body::Message { subject, data } => {
                view.subject = Some(subject.to_owned());
                view.data_length = Some(data.len());
                match Envelope::decode(subject, data) {
                    Ok(None) => {}
                    Ok(Some(env)) => {
                        view.rpc =
                            Some(c.envelope(rec, st, &env, &frame, at, offset_of("sbp.data")));
                    }
                    Err(e) => {
                        let off = match e {
                            RpcError::Stream | RpcError::Subject(_) => offset_of("sbp.subject"),
                            _ => offset_of("sbp.data"),
                        };
                        diag(rec, e.code(), off, e.to_string());
                    }
                }
            }
            Body::Ack(id) => view.ack_id = Some(id.to_hex()),
            Body::Error {
                code,
                message,
                details,
            } => {
                view.error = Some(ErrorView {
                    code,
                    name: WireCode::describe(code.into()),
                    message: message.to_owned(),
                    details_length: details.len(),
                });
            }
        }
        rec.sbp = Some(view);
    }

    /// True once any plaintext was looked at.
    pub fn active(&self) -> bool {
        self.c.summary.frames + self.c.summary.not_sbp > 0
    }

    /// The summary objects (`sbp`, `rpc`).
    pub fn finish(&mut self) -> (SbpSummary, RpcSummary) {
        let mut summary = std::mem::take(&mut self.c.summary);
        let mut rpc = std::mem::take(&mut self.c.rpc);
        let mut ids: Vec<&u64> = self.sessions.keys().collect();
        ids.sort_unstable();
        let mut unanswered: Vec<(u64, String)> = Vec::new();
        for sid in ids {
            let s = &self.sessions[sid];
            if !s.seen_sbp {
                continue;
            }
            if summary.sessions.len() < MAX_LISTED {
                let [client, daemon] = s.handshake.clone();
                summary.sessions.push(SessionView {
                    session_id: sid.to_string(),
                    client,
                    daemon,
                });
            } else {
                summary.sessions_truncated = true;
            }
            unanswered.extend(s.pending.iter().map(|(c, p)| (p.index, c.to_hex())));
        }
        summary.sessions_truncated |= self.overflow;
        unanswered.sort();
        if unanswered.len() > MAX_LISTED {
            rpc.truncated = true;
        }
        rpc.unanswered = unanswered
            .into_iter()
            .take(MAX_LISTED)
            .map(|(_, c)| c)
            .collect();
        if !self.c.rtts.is_empty() {
            let mut r = self.c.rtts.clone();
            r.sort_by(f64::total_cmp);
            rpc.rtt_ms = Some(RttStats {
                count: r.len(),
                min: r[0],
                median: r[r.len() / 2],
                max: r[r.len() - 1],
            });
        }
        (summary, rpc)
    }
}

/// The SBP part of a text line.
pub fn text(v: &SbpView, bold: impl Fn(&str) -> String) -> String {
    use crate::cli::escape::escape;
    let mut s = format!(
        "{} id={}",
        bold(&format!("SBP {}", v.op.unwrap_or(v.kind))),
        &v.frame_id[..8]
    );
    if let Some(ts) = v.timestamp_ms {
        s.push_str(&format!(" ts={ts}"));
    }
    if let Some(h) = &v.handshake {
        let peer = h.get("peerId").and_then(Value::as_str).unwrap_or("?");
        s.push_str(&format!(" peerId=\"{}\"", escape(peer)));
        if let Some(caps) = h.get("caps") {
            s.push_str(&format!(" caps={}", escape(&caps.to_string())));
        }
        if let Some(m) = h.get("metadata") {
            s.push_str(&format!(" metadata={}", escape(&preview(m))));
        }
    }
    if let Some(r) = &v.reason
        && !r.is_empty()
    {
        s.push_str(&format!(" reason=\"{}\"", escape(r)));
    }
    if let Some(subject) = &v.subject {
        match &v.rpc {
            None => s.push_str(&format!(
                " subject={} data={}B",
                escape(subject),
                v.data_length.unwrap_or(0)
            )),
            Some(r) => {
                let what = match r.t.as_str() {
                    "r" => "request",
                    "R" => "response",
                    "E" => "error",
                    _ => "notification",
                };
                s.push_str(&format!(" {subject} {}", bold(what)));
                if let Some(m) = &r.method {
                    s.push_str(&format!(" {}", escape(m)));
                }
                if let Some(e) = &r.event {
                    s.push_str(&format!(" {}", escape(e)));
                }
                if let Some(c) = &r.cid {
                    s.push_str(&format!(" cid={c}"));
                }
                if let (Some(code), Some(name)) = (r.code, r.code_name) {
                    s.push_str(&format!(" {code} {name}"));
                }
                if let Some(m) = &r.message {
                    s.push_str(&format!(" \"{}\"", escape(m)));
                }
                if let Some(i) = r.request_index {
                    s.push_str(&format!(" (request #{i}"));
                    if let Some(ms) = r.rtt_ms {
                        s.push_str(&format!(", rtt {ms:.3} ms"));
                    }
                    s.push(')');
                }
                if let Some(p) = &r.preview {
                    let label = match r.t.as_str() {
                        "r" => "params",
                        "R" => "result",
                        _ => "data",
                    };
                    s.push_str(&format!(" {label}={}", escape(p)));
                }
            }
        }
    }
    if let Some(a) = &v.ack_id {
        s.push_str(&format!(" of {a}"));
    }
    if let Some(e) = &v.error {
        s.push_str(&format!(
            " {} {} \"{}\"",
            e.code,
            e.name,
            escape(&e.message)
        ));
        if e.details_length > 0 {
            s.push_str(&format!(" details={}B", e.details_length));
        }
    }
    s
}

/// The SBP and RPC lines of the text summary.
pub fn text_summary(s: &mut String, sbp: &SbpSummary, rpc: Option<&RpcSummary>) {
    use crate::cli::escape::escape;
    use std::fmt::Write as _;
    let kinds: Vec<String> = sbp
        .by_kind
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    let _ = writeln!(
        s,
        "-- sbp: {} frame{}{}, {} plaintext{} not SBP",
        sbp.frames,
        if sbp.frames == 1 { "" } else { "s" },
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        },
        sbp.not_sbp,
        if sbp.not_sbp == 1 { "" } else { "s" }
    );
    let hs = |h: &Option<SideHandshake>| match h {
        Some(h) => format!(
            "peerId=\"{}\" caps=[{}]",
            escape(&h.peer_id),
            escape(&h.caps.join(","))
        ),
        None => "no handshake".into(),
    };
    for sess in &sbp.sessions {
        let _ = writeln!(
            s,
            "-- session {}: client {}; daemon {}",
            sess.session_id,
            hs(&sess.client),
            hs(&sess.daemon)
        );
    }
    if sbp.sessions_truncated {
        let _ = writeln!(s, "-- (more sessions not listed)");
    }
    let Some(r) = rpc else { return };
    if r.requests + r.notifications + r.orphan_responses.len() as u64 == 0 && r.errors.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "-- rpc: {} request{}, {} answered, {} unanswered, {} orphan response{}, {} notification{}",
        r.requests,
        if r.requests == 1 { "" } else { "s" },
        r.answered,
        r.unanswered.len(),
        r.orphan_responses.len(),
        if r.orphan_responses.len() == 1 {
            ""
        } else {
            "s"
        },
        r.notifications,
        if r.notifications == 1 { "" } else { "s" },
    );
    for c in &r.unanswered {
        let _ = writeln!(s, "--   unanswered cid={c}");
    }
    for c in &r.orphan_responses {
        let _ = writeln!(s, "--   orphan response cid={c}");
    }
    if !r.errors.is_empty() {
        let list: Vec<String> = r
            .errors
            .iter()
            .map(|(c, n)| {
                let name = c.parse::<i64>().map_or("?", WireCode::describe);
                format!("{c} {name} {n}")
            })
            .collect();
        let _ = writeln!(s, "--   errors: {}", list.join(", "));
    }
    if let Some(t) = &r.rtt_ms {
        let _ = writeln!(
            s,
            "--   rtt: {} measured, min {:.3} ms, median {:.3} ms, max {:.3} ms",
            t.count, t.min, t.median, t.max
        );
    }
}
