//! `sbrp decode`: a streaming dissector for captures of SBRP frames, which can decrypt Data
//! frames given a key log or a captured handshake plus one ephemeral secret.
//!
//! Data flow: input bytes (raw, or hex/base64 text decoded on the fly) → [`framer`] (frame
//! boundaries, bounded memory) → [`dissect`] (one structured record per frame, cross-frame
//! state per session) → [`render`] (text, JSON, NDJSON). Memory stays bounded: one read
//! buffer, one decoded-text buffer, at most one incomplete frame, and per-session state for at
//! most [`sessions::MAX_KEYLESS_SESSIONS`] sessions without keys (see `sessions.rs`). Output is flushed after every read, so it
//! appears as frames arrive on a live pipe, and is written in large blocks for big files.

pub mod dissect;
pub mod framer;
pub mod har;
pub mod input;
pub mod render;
pub mod sbp_view;
pub mod sessions;

use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use sbrp::keylog::{Inserted, KeyLog, MAX_KEYS_PER_DIRECTION, parse_line};

use self::dissect::{Config, Dissector, Side, stream_diagnostics};
use self::framer::Framer;
use self::input::{Detection, InputKind, TextDecoder, confirm, detect, detect_final};
use self::render::{Format, InputError, Renderer, Summary};
use super::capped;
use super::escape::{escape, escape_path};
use super::exit::{CliError, CliResult, Exit, stdout_error};
use super::output::{Output, Style};
use super::pinstore::PinStore;

/// Size of one read from the input.
const READ_SIZE: usize = 64 * 1024;

/// Decode (and optionally decrypt) a capture of SBRP frames
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Input is a byte stream of concatenated SBRP frames, as a relay or an endpoint sends them, or
a browser's HAR export (its WebSocket messages; URLs are shown with the token redacted).
Decrypted plaintexts are read as SBP frames and RPC envelopes. Diagnostics name the SBRP error code and the byte offset. Exit status: 0 when the input was
readable (even with diagnostics), 1 when it was not, 6 with --strict when there was any
diagnostic. `--format json` prints one object per frame, then a summary (schema sbrp.decode/2);
the key-log format is under FILES in `sbrp man decode`.

Limits: captures are read as streams of any size. A key log may hold at most 512 MiB, lines of
at most 4 KiB, and 4 keys per session and direction (more are ignored with a warning); an
@FILE secret at most 4 KiB; a pin file at most 16 MiB. Sessions with keys are always tracked;
at most 4096 sessions without keys at once (the idlest are evicted, and counted); session ids
are counted exactly up to 100000. Reaching a state bound is a tracking_limit diagnostic.

Examples:
  sbrp decode capture.bin
  sbrp selftest --keylog keys.log --capture cap.bin && sbrp decode --keylog keys.log cap.bin
  sbrp decode --format ndjson --input hex frames.txt | jq .type
  sbrp decode --keylog keys.log page.har")]
pub struct Args {
    /// The capture: a file, or - for standard input
    #[arg(value_name = "FILE", default_value = "-")]
    file: PathBuf,

    /// Encoding of the input: auto detects a HAR file (starts with `{`), hex text, then base64
    /// text, else raw bytes
    #[arg(long = "input", value_enum, value_name = "KIND", default_value_t = InputKind::Auto)]
    input_kind: InputKind,

    /// Output format
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Text)]
    format: Format,

    /// The same as --format json
    #[arg(long, conflicts_with = "format")]
    json: bool,

    /// Show every field with its offset and length, and a hex dump coloured by field
    #[arg(short, long)]
    verbose: bool,

    /// Exit with status 6 when there is any diagnostic
    #[arg(long)]
    strict: bool,

    /// Decrypt Data frames with the keys of this key log (format: FILES below)
    #[arg(long, value_name = "FILE")]
    keylog: Option<PathBuf>,

    /// The daemon id of the captured handshakes: verifies HandshakeAccept signatures
    #[arg(long, value_name = "ID")]
    daemon_id: Option<String>,

    /// The client's X25519 ephemeral secret (64 hex digits, or @FILE to read them from a file
    /// so the secret stays out of the process list): derive the keys of the captured
    /// handshake that used it, then decrypt
    #[arg(
        long,
        value_name = "HEX|@FILE",
        requires = "daemon_id",
        conflicts_with = "daemon_ephemeral"
    )]
    client_ephemeral: Option<String>,

    /// The daemon's X25519 ephemeral secret (64 hex digits or @FILE), as --client-ephemeral
    #[arg(long, value_name = "HEX|@FILE", requires = "daemon_id")]
    daemon_ephemeral: Option<String>,

    /// Pin file: say whether the daemon's identity key matches its pin (needs --daemon-id)
    #[arg(long, value_name = "FILE", requires = "daemon_id")]
    pins: Option<PathBuf>,
}

/// Largest `--client-ephemeral @FILE` / `--daemon-ephemeral @FILE` (64 hex digits and some
/// whitespace fit many times over).
pub const MAX_SECRET_FILE: u64 = 4 * 1024;
/// Largest key log `decode` reads: a key log of 1,000,000 sessions (two 99-byte lines each)
/// fits, with room for comments.
pub const MAX_KEYLOG_FILE: u64 = 512 * 1024 * 1024;
/// Longest key-log line (a key line has 99 characters; comments may be longer).
pub const MAX_KEYLOG_LINE: u64 = 4 * 1024;

fn parse_secret(flag: &str, value: &str) -> CliResult<Zeroizing<[u8; 32]>> {
    let mut out = Zeroizing::new([0u8; 32]);
    let from_file;
    let text: &[u8] = match value.strip_prefix('@') {
        Some(path) => {
            from_file = capped::read(
                std::path::Path::new(path),
                &format!("{flag} file"),
                MAX_SECRET_FILE,
            )?;
            from_file.trim_ascii()
        }
        None => {
            super::output::warn_stderr(&format!(
                "{flag} was given on the command line: other users can see it (`ps`) and it \
                 stays in your shell history; use {flag} @FILE"
            ));
            value.trim().as_bytes()
        }
    };
    let text = text
        .strip_prefix(b"0x")
        .or_else(|| text.strip_prefix(b"0X"))
        .unwrap_or(text);
    if hex::decode_to_slice(text, out.as_mut()).is_err() {
        return Err(CliError::new(
            Exit::Usage,
            format!(
                "{flag} must be 64 hex digits (a 32-byte X25519 secret), or @FILE holding them"
            ),
        )
        .hint("copy the secret exactly: 64 hex digits (a 0x prefix is fine), no spaces"));
    }
    Ok(out)
}

/// Reads a key log line by line (linear time, memory bounded by the keys it holds), under
/// [`MAX_KEYLOG_FILE`] and [`MAX_KEYLOG_LINE`]. Keys beyond
/// [`sbrp::keylog::MAX_KEYS_PER_DIRECTION`] for one session and direction are dropped with a
/// warning.
fn load_keylog(out: &Output, path: &Path) -> CliResult<KeyLog> {
    let mut lines = capped::Lines::open(path, "key log", MAX_KEYLOG_LINE, MAX_KEYLOG_FILE)?;
    let mut line = Zeroizing::new(Vec::new());
    let mut log = KeyLog::new();
    let mut first_dropped: Option<(usize, u64)> = None;
    let invalid = |e: &dyn std::fmt::Display| {
        CliError::error(format!("invalid key log {}: {e}", escape_path(path))).hint(
            "each line is CLIENT_TO_DAEMON or DAEMON_TO_CLIENT, a 16-digit hex session id and a \
             64-digit hex key; see FILES in `sbrp man decode`",
        )
    };
    while lines.next_line(&mut line)? {
        let n = lines.line_no();
        let text = std::str::from_utf8(&line)
            .map_err(|_| invalid(&format!("line {n}: not UTF-8 text")))?;
        if let Some(entry) = parse_line(text, n).map_err(|e| invalid(&e))? {
            let sid = entry.session_id;
            if log.insert(entry) == Inserted::Dropped && first_dropped.is_none() {
                first_dropped = Some((n, sid));
            }
        }
    }
    if let Some((n, sid)) = first_dropped {
        out.warn(&format!(
            "key log {}: {} key{} ignored: at most {MAX_KEYS_PER_DIRECTION} keys are kept per \
             session and direction (the first ignored is on line {n}, session {sid:016x})",
            escape_path(path),
            log.dropped(),
            if log.dropped() == 1 { "" } else { "s" },
        ));
    }
    Ok(log)
}

fn config(out: &Output, args: &Args) -> CliResult<Config> {
    let keylog = match &args.keylog {
        Some(path) => {
            let log = load_keylog(out, path)?;
            if log.is_empty() {
                out.warn(&format!(
                    "key log {} holds no keys: nothing will be decrypted",
                    escape_path(path)
                ));
            }
            Some(log)
        }
        None => None,
    };
    let ephemeral = match (&args.client_ephemeral, &args.daemon_ephemeral) {
        (Some(h), _) => Some((Side::Client, parse_secret("--client-ephemeral", h)?)),
        (None, Some(h)) => Some((Side::Daemon, parse_secret("--daemon-ephemeral", h)?)),
        (None, None) => None,
    };
    let pinned = match (&args.pins, &args.daemon_id) {
        (Some(path), Some(id)) => {
            let store = PinStore::open(Some(path.clone()))?;
            Some(store.lookup(id)?.map(|p| p.key()))
        }
        _ => None,
    };
    Ok(Config {
        keylog,
        daemon_id: args.daemon_id.as_ref().map(|s| s.as_bytes().to_vec()),
        ephemeral,
        pinned,
        fields: args.verbose,
    })
}

/// Runs `sbrp decode`.
pub fn run(out: &Output, args: Args) -> CliResult {
    let format = if args.json { Format::Json } else { args.format };
    if format != Format::Text {
        // decode prints its own document on success and on failure (`ok`, `error`).
        out.mark_json_printed();
    }
    let mut started = false;
    let result = decode(out, &args, format, &mut started);
    if let Err((code, err)) = &result
        && !started
        && format != Format::Text
        && !err.is_quiet()
    {
        // JSON is printed on failure too: a document that says so, and nothing else.
        let summary = Summary::new(
            &dissect::Stats::default(),
            args.input_kind.name(),
            0,
            Vec::new(),
            Vec::new(),
            Some(InputError {
                code,
                message: err.message().to_owned(),
            }),
        );
        let stdout = io::stdout();
        let mut renderer = Renderer::new(stdout.lock(), format, false, false);
        renderer
            .begin()
            .and_then(|()| renderer.end(&summary))
            .and_then(|()| renderer.writer().flush())
            .map_err(stdout_error)?;
    }
    result.map_err(|(_, e)| e)
}

/// Tags an error with the summary's `error.code`.
fn tag(code: &'static str) -> impl Fn(CliError) -> (&'static str, CliError) {
    move |e| (code, e)
}

fn decode(
    out: &Output,
    args: &Args,
    format: Format,
    started: &mut bool,
) -> Result<Exit, (&'static str, CliError)> {
    let cfg = config(out, args).map_err(tag("bad_option"))?;
    let (mut reader, name): (Box<dyn Read>, String) = if args.file.as_os_str() == "-" {
        if io::IsTerminal::is_terminal(&io::stdin()) {
            out.note("reading frames from the terminal: paste hex or base64, end with Ctrl-D (or give a capture file)");
        }
        (Box::new(io::stdin().lock()), "standard input".into())
    } else {
        // A capture is read as a stream (any size, bounded memory); a directory is refused
        // before anything is printed.
        let f = capped::open(&args.file, "capture").map_err(tag("read_failed"))?;
        (Box::new(f), escape_path(&args.file))
    };
    let color = out.style_out("x", Style::Bold) != "x";
    let stdout = io::stdout();
    let writer = BufWriter::with_capacity(READ_SIZE, stdout.lock());
    let mut renderer = Renderer::new(writer, format, args.verbose, color);
    let mut dissector = Dissector::new(cfg);
    dissector.json = format != Format::Text;
    let mut framer = Framer::new();
    let broken = |e: io::Error| ("write_failed", stdout_error(e));

    let mut raw = vec![0u8; READ_SIZE];
    let mut decoded: Vec<u8> = Vec::new();
    let mut kind = args.input_kind;
    // Bytes read before the input kind is known (auto only; at most 4 KiB).
    let mut pending: Vec<u8> = Vec::new();
    let mut text: Option<TextDecoder> = TextDecoder::new(kind);
    let mut stream_bytes: u64 = 0;
    let mut index: u64 = 0;
    let mut input_error: Option<(&'static str, CliError)> = None;

    *started = true;
    renderer.begin().map_err(broken)?;
    if kind == InputKind::Har {
        return har_input(out, args, reader, Vec::new(), &mut dissector, &mut renderer);
    }
    let mut eof = false;
    while !eof && framer.fatal().is_none() {
        let n = match reader.read(&mut raw) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                input_error = Some((
                    "read_failed",
                    CliError::error(format!("cannot read {name}: {e}"))
                        .hint("check the file or the program writing to the pipe"),
                ));
                break;
            }
        };
        eof = n == 0;
        let mut chunk: &[u8] = &raw[..n];
        if kind == InputKind::Auto {
            pending.extend_from_slice(chunk);
            if har::looks_like_har(&pending) == Some(true) {
                return har_input(out, args, reader, pending, &mut dissector, &mut renderer);
            }
            let decided = if eof {
                Some(detect_final(&pending))
            } else {
                match detect(&pending) {
                    Detection::Kind(k) => Some(k),
                    Detection::NeedMore => None,
                }
            };
            let Some(k) = decided else {
                continue;
            };
            match confirm(k, &pending) {
                Ok(k) => kind = k,
                Err(tried) => {
                    input_error = Some((
                        "unknown_input",
                        CliError::error(format!(
                            "{name} is not an SBRP capture in any known form: tried {}",
                            escape(&tried)
                        ))
                        .hint("pass --input raw, hex or base64 to decode it as that anyway"),
                    ));
                    kind = InputKind::Raw;
                    break;
                }
            }
            text = TextDecoder::new(kind);
            chunk = &pending;
        }
        let bytes: &[u8] = match &mut text {
            None => chunk,
            Some(t) => {
                decoded.clear();
                let fed = t.feed(chunk, &mut decoded);
                let fin = if eof { t.finish(&mut decoded) } else { Ok(()) };
                if let Err(e) = fed.and(fin) {
                    input_error = Some((
                        "invalid_text",
                        CliError::error(format!(
                            "{name} is not valid {} text: {}",
                            kind.name(),
                            escape(&e.to_string())
                        ))
                        .hint("pass --input raw, hex or base64 if the detection guessed wrong"),
                    ));
                    eof = true;
                }
                &decoded
            }
        };
        stream_bytes += bytes.len() as u64;
        framer
            .push(bytes, &mut |cut| {
                let rec = dissector.frame(index, &cut);
                index += 1;
                renderer.frame(&rec, cut.bytes)
            })
            .map_err(broken)?;
        pending.clear();
        if pending.capacity() > 0 && kind != InputKind::Auto {
            pending.shrink_to_fit();
        }
        // Flush after every read: output keeps pace with a live pipe.
        renderer.writer().flush().map_err(broken)?;
    }

    // After a failed read the framer's tail is not the stream's: do not report it.
    let tail = if input_error.is_none() {
        framer.tail()
    } else {
        None
    };
    let stream = stream_diagnostics(framer.fatal(), tail.as_ref());
    let limits = dissector.limit_diagnostics();
    dissector.count_stream(&stream);
    dissector.count_stream(&limits);
    let input_name = if kind == InputKind::Auto {
        InputKind::Raw.name()
    } else {
        kind.name()
    };
    let error = input_error.as_ref().map(|(code, e)| InputError {
        code,
        message: e.message().to_owned(),
    });
    let mut summary = Summary::new(
        &dissector.stats,
        input_name,
        stream_bytes,
        stream,
        limits,
        error,
    );
    add_sbp(&mut summary, &mut dissector);
    renderer.end(&summary).map_err(broken)?;
    renderer.writer().flush().map_err(broken)?;

    if let Some(err) = input_error {
        return Err(err);
    }
    strict(out, args, &summary)
}

/// The summary's `sbp` and `rpc` objects, when any plaintext was read.
fn add_sbp(summary: &mut Summary, dissector: &mut Dissector) {
    if dissector.sbp.active() {
        let (sbp, rpc) = dissector.sbp.finish();
        summary.sbp = Some(sbp);
        summary.rpc = Some(rpc);
    }
}

/// A HAR file (R14): read whole (bounded), then every binary WebSocket message decoded.
fn har_input<W: Write>(
    out: &Output,
    args: &Args,
    reader: Box<dyn Read>,
    mut bytes: Vec<u8>,
    dissector: &mut Dissector,
    renderer: &mut Renderer<W>,
) -> Result<Exit, (&'static str, CliError)> {
    let broken = |e: io::Error| ("write_failed", stdout_error(e));
    let limit = har::MAX_HAR_BYTES;
    let fail =
        |code: &'static str, err: CliError, dissector: &Dissector, renderer: &mut Renderer<W>| {
            // The document is open: close it with a summary that carries the error.
            let summary = Summary::new(
                &dissector.stats,
                "har",
                0,
                Vec::new(),
                Vec::new(),
                Some(InputError {
                    code,
                    message: err.message().to_owned(),
                }),
            );
            renderer
                .end(&summary)
                .and_then(|()| renderer.writer().flush())
                .map_err(broken)?;
            Err((code, err))
        };
    if let Err(e) = reader
        .take(limit + 1 - bytes.len() as u64)
        .read_to_end(&mut bytes)
    {
        let err = CliError::error(format!("cannot read the HAR file: {e}"));
        return fail("read_failed", err, dissector, renderer);
    }
    if bytes.len() as u64 > limit {
        let err = CliError::error(format!("the HAR file is larger than {} MiB", limit >> 20))
            .hint("export only the WebSocket requests from the browser's network panel");
        return fail("read_failed", err, dissector, renderer);
    }
    let outcome = match har::run(&bytes, dissector, renderer).map_err(broken)? {
        Ok(o) => o,
        Err(why) => {
            let err = CliError::error(format!(
                "the input starts like JSON but is not a HAR file: {}",
                escape(&why)
            ))
            .hint("export with \"Save all as HAR with content\"; pass --input raw, hex or base64 for other captures");
            return fail("unknown_input", err, dissector, renderer);
        }
    };
    for s in &outcome.sockets {
        for n in &s.notes {
            out.note(&format!("socket {}: {}", s.socket, escape(n)));
        }
    }
    let limits = dissector.limit_diagnostics();
    dissector.count_stream(&limits);
    let mut summary = Summary::new(
        &dissector.stats,
        "har",
        outcome.bytes,
        outcome.diagnostics,
        limits,
        None,
    );
    summary.sockets = Some(outcome.sockets);
    add_sbp(&mut summary, dissector);
    renderer.end(&summary).map_err(broken)?;
    renderer.writer().flush().map_err(broken)?;
    strict(out, args, &summary)
}

fn strict(out: &Output, args: &Args, summary: &Summary) -> Result<Exit, (&'static str, CliError)> {
    if args.strict && summary.diagnostics_total > 0 {
        out.eprintln(&format!(
            "sbrp: {} {} diagnostic{} (--strict)",
            out.style_err("protocol failure:", Style::Bad),
            summary.diagnostics_total,
            if summary.diagnostics_total == 1 {
                ""
            } else {
                "s"
            }
        ));
        return Ok(Exit::ProtocolFailure);
    }
    Ok(Exit::Success)
}
