//! Captures of what the relay does, written to files the caller opened (the CLI opens them
//! with its file rules: created new, never through a symlink, 0600):
//!
//! - [`CaptureStream`]: every frame the relay sent (forwarded, answered or generated),
//!   appended as a raw SBRP stream — the frames back to back, exactly as sent, which
//!   `sbrp decode` reads and, with a key log from either endpoint, decrypts
//!   (`docs/relay-capture.md`).
//! - [`CaptureLog`]: one JSON line per frame handled, sent or not, and per connection
//!   opened, refused or closed (schema `sbrp.relay-capture-log/1`, `docs/relay-capture-log.md`).
//!
//! # Slow or full disks
//!
//! The observer call never touches the file: it copies the record into a bounded in-memory
//! queue ([`CaptureOptions::max_queue`] bytes) and returns; one writer thread per file writes
//! the queue out in batches. So a slow disk never stalls the relay, and a relay never waits
//! on a capture:
//!
//! - **Queue full** (the disk is slower than the traffic): the record is dropped whole and
//!   counted; never half a record. The raw stream stays a valid stream (it simply lacks those
//!   frames: a decoder decrypts each Data frame on its own); the JSON log says so in-band with
//!   a `loss` line before the next record it writes.
//! - **Write error** (disk full, I/O error): the file is cut back to the end of the last
//!   batch written whole (`set_len`), the batch's records are counted lost, and later batches
//!   are tried again (a disk that fills up may drain). If the file cannot be cut back (not a
//!   regular file), a partial record may be on it: the writer says so, stops writing, and
//!   counts every later record lost.
//! - Every loss is logged (`tracing`, at most one line every [`LOSS_LOG_INTERVAL`] with the
//!   running totals), kept in [`CaptureOptions::counters`] (the relay's Prometheus metrics),
//!   and reported by [`CaptureStream::finish`] / [`CaptureLog::finish`].
//!
//! Memory: at most `max_queue` bytes of queued records plus one batch being written.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::core::ConnId;
use super::metrics::CaptureCounters;
use super::observe::{ConnectionEvent, FrameAction, FrameRecord, Observer, Party};
use crate::error::ErrorCode;
use crate::frame::{FrameType, HEADER_LEN};

/// The JSON capture log's schema name (its header line's `schema`).
pub const LOG_SCHEMA: &str = "sbrp.relay-capture-log/1";
/// Default bound of a capture's queue of unwritten records, in bytes.
pub const DEFAULT_MAX_QUEUE: usize = 16 * 1024 * 1024;
/// Loss is logged at most this often (with the totals so far).
pub const LOSS_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// A batch is written once it holds this many bytes, or when the queue is empty.
const BATCH_BYTES: usize = 256 * 1024;

/// How a capture buffers and counts.
#[derive(Clone, Debug)]
pub struct CaptureOptions {
    /// Unwritten records kept in memory, in bytes; a record that does not fit is lost.
    pub max_queue: usize,
    /// Counters to keep (written, lost) in the relay's metrics.
    pub counters: Option<CaptureCounters>,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        Self {
            max_queue: DEFAULT_MAX_QUEUE,
            counters: None,
        }
    }
}

/// What a capture wrote and lost, from [`CaptureStream::finish`] or [`CaptureLog::finish`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureReport {
    /// Records written whole.
    pub written: u64,
    /// Records dropped because the queue was full.
    pub lost_queue_full: u64,
    /// Records lost to write errors (and after the writer stopped).
    pub lost_write_error: u64,
    /// The writer stopped after an error it could not undo (see the module documentation).
    pub stopped: bool,
    /// Records still queued when `finish` gave up waiting (lost too).
    pub unflushed: u64,
}

impl CaptureReport {
    /// Every record lost, for any reason.
    pub fn lost(&self) -> u64 {
        self.lost_queue_full + self.lost_write_error + self.unflushed
    }
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Vec<u8>>,
    bytes: usize,
    closed: bool,
    lost_queue_full: u64,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    report: Mutex<CaptureReport>,
    max_queue: usize,
    counters: Option<CaptureCounters>,
    what: &'static str,
}

/// The queue and its writer thread, shared by both capture kinds.
struct Writer {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Builds the in-band line that reports a loss (the JSON log), or nothing (the raw stream).
type LossLine = fn(u64, &'static str, SystemTime) -> Option<Vec<u8>>;

impl Writer {
    fn start(
        file: File,
        options: CaptureOptions,
        what: &'static str,
        first: Option<Vec<u8>>,
        loss_line: LossLine,
    ) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            report: Mutex::new(CaptureReport::default()),
            max_queue: options.max_queue,
            counters: options.counters,
            what,
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("sbrp-{what}"))
            .spawn(move || write_loop(file, &worker, first, loss_line))?;
        Ok(Self {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues one whole record, or counts it lost; never blocks on the file.
    fn push(&self, record: Vec<u8>) {
        let Ok(mut q) = self.shared.queue.lock() else {
            return;
        };
        if q.closed {
            return;
        }
        if q.bytes.saturating_add(record.len()) > self.shared.max_queue {
            q.lost_queue_full += 1;
            if let Some(c) = &self.shared.counters {
                c.lost.inc();
            }
            return;
        }
        q.bytes += record.len();
        q.items.push_back(record);
        drop(q);
        self.shared.ready.notify_one();
    }

    /// Stops taking records, lets the writer drain the queue for up to `wait`, and reports.
    fn finish(&self, wait: Duration) -> CaptureReport {
        if let Ok(mut q) = self.shared.queue.lock() {
            q.closed = true;
        }
        self.shared.ready.notify_all();
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        let mut unflushed = 0;
        if let Some(handle) = handle {
            let until = Instant::now() + wait;
            while !handle.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            if handle.is_finished() {
                let _ = handle.join();
            } else {
                // A disk that hangs: give up on what is queued (the thread ends by itself
                // when its write returns).
                if let Ok(mut q) = self.shared.queue.lock() {
                    unflushed = q.items.len() as u64;
                    q.items.clear();
                    q.bytes = 0;
                }
                tracing::warn!(
                    capture = self.shared.what,
                    unflushed,
                    "capture writer still busy at shutdown; its queued records are lost"
                );
            }
        }
        let mut report = self.report();
        report.unflushed += unflushed;
        report
    }

    fn report(&self) -> CaptureReport {
        let mut r = self.shared.report.lock().map(|r| *r).unwrap_or_default();
        r.lost_queue_full = self.shared.queue.lock().map_or(0, |q| q.lost_queue_full);
        r
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.finish(Duration::from_secs(5));
    }
}

fn write_loop(mut file: File, shared: &Shared, first: Option<Vec<u8>>, loss_line: LossLine) {
    // Where the last whole batch ends: a failed write is cut back to it.
    let mut good = file.seek(SeekFrom::End(0)).ok();
    let mut batch: Vec<u8> = Vec::with_capacity(BATCH_BYTES);
    let mut records: u64 = 0;
    let mut stopped = false;
    // Losses not yet told in-band (the log), by cause.
    let mut untold_full: u64 = 0;
    let mut untold_error: u64 = 0;
    let mut told_full: u64 = 0;
    let mut last_log: Option<Instant> = None;
    if let Some(first) = first {
        batch.extend_from_slice(&first);
    }
    loop {
        let mut taken = VecDeque::new();
        let closed = {
            let Ok(mut q) = shared.queue.lock() else {
                return;
            };
            while q.items.is_empty() && !q.closed && batch.is_empty() {
                q = match shared.ready.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
            std::mem::swap(&mut taken, &mut q.items);
            q.bytes = 0;
            untold_full += q.lost_queue_full - told_full;
            told_full = q.lost_queue_full;
            q.closed && taken.is_empty()
        };
        if stopped {
            add_lost_error(shared, taken.len() as u64);
            if closed {
                return;
            }
            continue;
        }
        let now = SystemTime::now();
        for (n, cause) in [(untold_full, "queue_full"), (untold_error, "write_error")] {
            if n > 0
                && let Some(line) = loss_line(n, cause, now)
            {
                batch.extend_from_slice(&line);
            }
        }
        untold_full = 0;
        untold_error = 0;
        let mut iter = taken.into_iter().peekable();
        loop {
            while batch.len() < BATCH_BYTES {
                let Some(rec) = iter.next() else { break };
                batch.extend_from_slice(&rec);
                records += 1;
            }
            if batch.is_empty() {
                break;
            }
            match file.write_all(&batch).and_then(|()| file.flush()) {
                Ok(()) => {
                    good = good.map(|g| g + batch.len() as u64);
                    if let Ok(mut r) = shared.report.lock() {
                        r.written += records;
                    }
                    if let Some(c) = &shared.counters {
                        c.written.inc_by(records);
                    }
                }
                Err(e) => {
                    add_lost_error(shared, records);
                    untold_error += records;
                    let cut = good.is_some_and(|g| {
                        file.set_len(g).is_ok() && file.seek(SeekFrom::Start(g)).is_ok()
                    });
                    if cut {
                        tracing::error!(
                            capture = shared.what,
                            error = %e,
                            lost = records,
                            "capture write failed; the file was cut back to its last whole record and writing goes on"
                        );
                    } else {
                        stopped = true;
                        if let Ok(mut r) = shared.report.lock() {
                            r.stopped = true;
                        }
                        tracing::error!(
                            capture = shared.what,
                            error = %e,
                            "capture write failed and the file cannot be cut back: its last record may be partial; the capture stops here"
                        );
                    }
                }
            }
            batch.clear();
            records = 0;
            if stopped {
                add_lost_error(shared, iter.count() as u64);
                break;
            }
            if iter.peek().is_none() {
                break;
            }
        }
        let lost_full = shared.queue.lock().map_or(0, |q| q.lost_queue_full);
        if lost_full > 0 && last_log.is_none_or(|t| t.elapsed() >= LOSS_LOG_INTERVAL) {
            last_log = Some(Instant::now());
            tracing::warn!(
                capture = shared.what,
                lost_queue_full = lost_full,
                "capture queue full (the disk is slower than the traffic): records lost whole"
            );
        }
        if closed {
            let _ = file.sync_data();
            return;
        }
    }
}

fn add_lost_error(shared: &Shared, n: u64) {
    if n == 0 {
        return;
    }
    if let Ok(mut r) = shared.report.lock() {
        r.lost_write_error += n;
    }
    if let Some(c) = &shared.counters {
        c.lost.inc_by(n);
    }
}

/// Every frame the relay sent, as a raw SBRP stream (see the module documentation).
pub struct CaptureStream {
    writer: Writer,
}

impl std::fmt::Debug for CaptureStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CaptureStream { .. }")
    }
}

impl CaptureStream {
    /// Starts the writer on a file opened for writing (appended at its end).
    pub fn new(file: File, options: CaptureOptions) -> io::Result<Self> {
        Ok(Self {
            writer: Writer::start(file, options, "capture", None, |_, _, _| None)?,
        })
    }

    /// Stops capturing, waits up to `wait` for the queue to be written, and reports.
    pub fn finish(&self, wait: Duration) -> CaptureReport {
        self.writer.finish(wait)
    }

    /// What was written and lost so far.
    pub fn report(&self) -> CaptureReport {
        self.writer.report()
    }
}

impl Observer for CaptureStream {
    fn frame(&self, r: &FrameRecord<'_>) {
        if matches!(
            r.action,
            FrameAction::Forwarded | FrameAction::Answered | FrameAction::Generated
        ) && !r.bytes.is_empty()
        {
            self.writer.push(r.bytes.to_vec());
        }
    }
}

/// One JSON line per frame handled and per connection event (see the module documentation
/// and `docs/relay-capture-log.md`).
pub struct CaptureLog {
    writer: Writer,
    /// The role of each open connection (bounded by the relay's open connections: an entry
    /// is removed when its connection closes).
    roles: Mutex<HashMap<ConnId, &'static str>>,
}

impl std::fmt::Debug for CaptureLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CaptureLog { .. }")
    }
}

#[derive(Serialize)]
struct HeaderLine<'a> {
    record: &'static str,
    schema: &'static str,
    time: &'a str,
}

#[derive(Serialize)]
struct FrameLine<'a> {
    record: &'static str,
    time: &'a str,
    conn: u64,
    role: &'static str,
    from: &'static str,
    to: &'static str,
    session_id: String,
    session_id_hex: String,
    #[serde(rename = "type")]
    type_name: &'static str,
    type_code: u8,
    length: usize,
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    control: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    control_code: Option<u16>,
}

#[derive(Serialize)]
struct ConnectionLine<'a> {
    record: &'static str,
    time: &'a str,
    event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    conn: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lifetime_ms: Option<u64>,
}

#[derive(Serialize)]
struct LossLineJson<'a> {
    record: &'static str,
    time: &'a str,
    lost: u64,
    reason: &'static str,
}

fn json_line(value: &impl Serialize) -> Vec<u8> {
    // Serialising these plain structs cannot fail.
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    line
}

impl CaptureLog {
    /// Starts the writer on a file opened for writing; the first line written is the header
    /// (`{"record":"header","schema":"sbrp.relay-capture-log/1",…}`).
    pub fn new(file: File, options: CaptureOptions) -> io::Result<Self> {
        let time = rfc3339_utc(SystemTime::now());
        let header = json_line(&HeaderLine {
            record: "header",
            schema: LOG_SCHEMA,
            time: &time,
        });
        let loss: LossLine = |lost, reason, at| {
            Some(json_line(&LossLineJson {
                record: "loss",
                time: &rfc3339_utc(at),
                lost,
                reason,
            }))
        };
        Ok(Self {
            writer: Writer::start(file, options, "capture-log", Some(header), loss)?,
            roles: Mutex::new(HashMap::new()),
        })
    }

    /// Stops logging, waits up to `wait` for the queue to be written, and reports.
    pub fn finish(&self, wait: Duration) -> CaptureReport {
        self.writer.finish(wait)
    }

    /// What was written and lost so far.
    pub fn report(&self) -> CaptureReport {
        self.writer.report()
    }
}

/// The line for one frame; `role` is the connection's role when it is known.
fn frame_line(r: &FrameRecord<'_>, role: Option<&'static str>) -> Vec<u8> {
    let sends = matches!(
        r.action,
        FrameAction::Forwarded | FrameAction::Answered | FrameAction::Generated
    );
    // Without a known role: the connection is the receiver of what was sent, the sender of
    // what was not.
    let role = role.unwrap_or(match if sends { r.to } else { r.from } {
        Party::Relay => "relay",
        p => p.name(),
    });
    let (control, control_code) = if sends && r.frame_type == FrameType::Control.as_u8() {
        match r.bytes.get(HEADER_LEN..HEADER_LEN + 2) {
            Some(b) => {
                let v = u16::from_be_bytes([b[0], b[1]]);
                (
                    Some(ErrorCode::from_wire(v).map_or("unknown", ErrorCode::name)),
                    Some(v),
                )
            }
            None => (None, None),
        }
    } else {
        (None, None)
    };
    json_line(&FrameLine {
        record: "frame",
        time: &rfc3339_utc(r.at),
        conn: r.conn,
        role,
        from: r.from.name(),
        to: r.to.name(),
        session_id: r.session_id.to_string(),
        session_id_hex: format!("{:016x}", r.session_id),
        type_name: FrameType::from_u8(r.frame_type).map_or("unknown", FrameType::name),
        type_code: r.frame_type,
        length: r.len,
        action: r.action.name(),
        reason: r.reason,
        control,
        control_code,
    })
}

impl Observer for CaptureLog {
    fn frame(&self, r: &FrameRecord<'_>) {
        let role = self.roles.lock().ok().and_then(|m| m.get(&r.conn).copied());
        self.writer.push(frame_line(r, role));
    }

    fn connection(&self, event: &ConnectionEvent<'_>) {
        let time = rfc3339_utc(SystemTime::now());
        let mut line = ConnectionLine {
            record: "connection",
            time: &time,
            event: "",
            conn: None,
            role: None,
            peer: None,
            status: None,
            code: None,
            reason: None,
            lifetime_ms: None,
        };
        match event {
            ConnectionEvent::Opened { conn, role, peer } => {
                let role = role_name(role);
                if let Ok(mut m) = self.roles.lock() {
                    m.insert(*conn, role);
                }
                line.event = "opened";
                line.conn = Some(*conn);
                line.role = Some(role);
                line.peer = Some(peer.to_string());
            }
            ConnectionEvent::Refused {
                peer,
                status,
                reason,
            } => {
                line.event = "refused";
                line.peer = Some(peer.to_string());
                line.status = Some(*status);
                line.reason = Some(reason);
            }
            ConnectionEvent::Closed {
                conn,
                role,
                code,
                reason,
                lifetime,
            } => {
                if let Ok(mut m) = self.roles.lock() {
                    m.remove(conn);
                }
                line.event = "closed";
                line.conn = Some(*conn);
                line.role = Some(role_name(role));
                line.code = Some(*code);
                line.reason = Some(reason);
                line.lifetime_ms = Some(u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX));
            }
        }
        self.writer.push(json_line(&line));
    }
}

fn role_name(role: &str) -> &'static str {
    match role {
        "daemon" => "daemon",
        "client" => "client",
        _ => "other",
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds); times before 1970 print as the epoch.
pub fn rfc3339_utc(t: SystemTime) -> String {
    crate::utc::rfc3339_micros(t)
}

#[cfg(test)]
#[path = "capture_tests.rs"]
mod tests;
