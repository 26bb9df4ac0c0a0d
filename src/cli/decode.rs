//! `sbrp decode`: a streaming dissector for captures of SBRP frames, which can decrypt Data
//! frames given a key log or a captured handshake plus one ephemeral secret.
//!
//! Data flow: input bytes (raw, or hex/base64 text decoded on the fly) → [`framer`] (frame
//! boundaries, bounded memory) → [`dissect`] (one structured record per frame, cross-frame
//! state per session) → [`render`] (text, JSON, NDJSON). Memory stays bounded: one read
//! buffer, one decoded-text buffer, at most one incomplete frame, and per-session state for at
//! most [`dissect::MAX_TRACKED_SESSIONS`] sessions. Output is flushed after every read, so it
//! appears as frames arrive on a live pipe, and is written in large blocks for big files.

pub mod dissect;
pub mod framer;
pub mod har;
pub mod input;
pub mod render;
pub mod sbp_view;

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use zeroize::Zeroizing;

use sbrp::keylog::KeyLog;

use self::dissect::{Config, Dissector, Side, stream_diagnostics};
use self::framer::Framer;
use self::input::{Detection, InputKind, TextDecoder, detect, detect_final};
use self::render::{Format, Renderer, Summary};
use super::escape::{escape, escape_path};
use super::exit::{CliError, CliResult, Exit, stdout_error};
use super::output::{Output, Style};
use super::pinstore::PinStore;

/// Size of one read from the input.
const READ_SIZE: usize = 64 * 1024;

/// Decode (and optionally decrypt) a capture of SBRP frames
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Input is a byte stream of concatenated SBRP frames, as a relay or an endpoint sends them.
Diagnostics name the SBRP error code and the byte offset. Exit status: 0 when the input was
readable (even with diagnostics), 1 when it was not, 6 with --strict when there was any
diagnostic. The JSON schema is in docs/decode-json.md, the key-log format in docs/keylog.md.

Examples:
  sbrp decode capture.bin
  sbrp selftest --keylog keys.log --capture cap.bin && sbrp decode --keylog keys.log cap.bin
  sbrp decode --format ndjson --input hex frames.txt | jq .type")]
pub struct Args {
    /// The capture: a file, or - for standard input
    #[arg(value_name = "FILE", default_value = "-")]
    file: PathBuf,

    /// Encoding of the input: auto detects hex text, then base64 text, else raw bytes
    #[arg(long = "input", value_enum, value_name = "KIND", default_value_t = InputKind::Auto)]
    input_kind: InputKind,

    /// Output format
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Text)]
    format: Format,

    /// Show every field with its offset and length, and a hex dump coloured by field
    #[arg(short, long)]
    verbose: bool,

    /// Exit with status 6 when there is any diagnostic
    #[arg(long)]
    strict: bool,

    /// Decrypt Data frames with the keys of this key log (see docs/keylog.md)
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

fn parse_secret(flag: &str, value: &str) -> CliResult<Zeroizing<[u8; 32]>> {
    let mut out = Zeroizing::new([0u8; 32]);
    let mut from_file = Zeroizing::new(String::new());
    let text = match value.strip_prefix('@') {
        Some(path) => {
            let path = std::path::Path::new(path);
            File::open(path)
                .and_then(|mut f| f.read_to_string(&mut from_file))
                .map_err(|e| CliError::io(&format!("cannot read {flag}"), path, &e))?;
            from_file.trim()
        }
        None => value.trim(),
    };
    if hex::decode_to_slice(text, out.as_mut()).is_err() {
        return Err(CliError::new(
            Exit::Usage,
            format!(
                "{flag} must be 64 hex digits (a 32-byte X25519 secret), or @FILE holding them"
            ),
        )
        .hint("copy the secret exactly, without spaces or a 0x prefix"));
    }
    Ok(out)
}

fn load_keylog(path: &PathBuf) -> CliResult<KeyLog> {
    let mut text = Zeroizing::new(String::new());
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| CliError::io("cannot read key log", path, &e))?;
    KeyLog::parse(&text).map_err(|e| {
        CliError::error(format!("invalid key log {}: {e}", escape_path(path))).hint(
            "each line is CLIENT_TO_DAEMON or DAEMON_TO_CLIENT, a 16-digit hex session id and a \
             64-digit hex key; see docs/keylog.md",
        )
    })
}

fn config(out: &Output, args: &Args) -> CliResult<Config> {
    let keylog = match &args.keylog {
        Some(path) => {
            let log = load_keylog(path)?;
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
    let cfg = config(out, &args)?;
    let (mut reader, name): (Box<dyn Read>, String) = if args.file.as_os_str() == "-" {
        if io::IsTerminal::is_terminal(&io::stdin()) {
            out.note("reading frames from the terminal: paste hex or base64, end with Ctrl-D (or give a capture file)");
        }
        (Box::new(io::stdin().lock()), "standard input".into())
    } else {
        let f = File::open(&args.file)
            .map_err(|e| CliError::io("cannot open capture", &args.file, &e))?;
        (Box::new(f), escape_path(&args.file))
    };
    let color = out.style_out("x", Style::Bold) != "x";
    let stdout = io::stdout();
    let writer = BufWriter::with_capacity(READ_SIZE, stdout.lock());
    let mut renderer = Renderer::new(writer, args.format, args.verbose, color);
    let mut dissector = Dissector::new(cfg);
    dissector.json = args.format != Format::Text;
    let mut framer = Framer::new();

    let mut raw = vec![0u8; READ_SIZE];
    let mut decoded: Vec<u8> = Vec::new();
    let mut kind = args.input_kind;
    // Bytes read before the input kind is known (auto only; at most 4 KiB).
    let mut pending: Vec<u8> = Vec::new();
    let mut text: Option<TextDecoder> = TextDecoder::new(kind);
    let mut stream_bytes: u64 = 0;
    let mut index: u64 = 0;
    let mut input_error: Option<CliError> = None;

    renderer.begin().map_err(stdout_error)?;
    if kind == InputKind::Har {
        return har_input(
            out,
            &args,
            reader,
            Vec::new(),
            &mut dissector,
            &mut renderer,
        );
    }
    let mut eof = false;
    while !eof && framer.fatal().is_none() {
        let n = match reader.read(&mut raw) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                input_error = Some(
                    CliError::error(format!("cannot read {name}: {e}"))
                        .hint("check the file or the program writing to the pipe"),
                );
                break;
            }
        };
        eof = n == 0;
        let mut chunk: &[u8] = &raw[..n];
        if kind == InputKind::Auto {
            pending.extend_from_slice(chunk);
            if har::looks_like_har(&pending) == Some(true) {
                return har_input(out, &args, reader, pending, &mut dissector, &mut renderer);
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
            kind = k;
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
                    input_error = Some(
                        CliError::error(format!(
                            "{name} is not valid {} text: {}",
                            kind.name(),
                            escape(&e.to_string())
                        ))
                        .hint("pass --input raw, hex or base64 if the detection guessed wrong"),
                    );
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
            .map_err(stdout_error)?;
        pending.clear();
        if pending.capacity() > 0 && kind != InputKind::Auto {
            pending.shrink_to_fit();
        }
        // Flush after every read: output keeps pace with a live pipe.
        renderer.writer().flush().map_err(stdout_error)?;
    }

    let tail = framer.tail();
    let stream = stream_diagnostics(framer.fatal(), tail.as_ref());
    dissector.count_stream(&stream);
    let input_name = if kind == InputKind::Auto {
        InputKind::Raw.name()
    } else {
        kind.name()
    };
    let mut summary = Summary::new(&dissector.stats, input_name, stream_bytes, stream);
    add_sbp(&mut summary, &mut dissector);
    renderer.end(&summary).map_err(stdout_error)?;
    renderer.writer().flush().map_err(stdout_error)?;

    if let Some(err) = input_error {
        return Err(err);
    }
    strict(out, &args, &summary)
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
) -> CliResult {
    let limit = har::MAX_HAR_BYTES;
    reader
        .take(limit + 1 - bytes.len() as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::error(format!("cannot read the HAR file: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(
            CliError::error(format!("the HAR file is larger than {} MiB", limit >> 20))
                .hint("export only the WebSocket requests from the browser's network panel"),
        );
    }
    let outcome = match har::run(&bytes, dissector, renderer).map_err(stdout_error)? {
        Ok(o) => o,
        Err(why) => {
            return Err(CliError::error(format!(
                "the input starts like JSON but is not a HAR file: {}",
                escape(&why)
            ))
            .hint("export with \"Save all as HAR with content\"; pass --input raw, hex or base64 for other captures"));
        }
    };
    for s in &outcome.sockets {
        for n in &s.notes {
            out.note(&format!("socket {}: {}", s.socket, escape(n)));
        }
    }
    let mut summary = Summary::new(&dissector.stats, "har", outcome.bytes, outcome.diagnostics);
    summary.sockets = Some(outcome.sockets);
    add_sbp(&mut summary, dissector);
    renderer.end(&summary).map_err(stdout_error)?;
    renderer.writer().flush().map_err(stdout_error)?;
    strict(out, args, &summary)
}

fn strict(out: &Output, args: &Args, summary: &Summary) -> CliResult {
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
