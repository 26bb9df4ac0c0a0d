//! Throughput of `sbrp decode` on a capture of 1 KiB Data frames (a benchmark, not a test):
//! `--format ndjson` with and without `--keylog`, and the default text format.
//!
//! `cargo bench --bench decode_cli` (set `SBRP_BENCH_MIB` to change the capture size, 256 MiB
//! by default). It writes one session — a handshake, then Data frames of 983-byte plaintexts
//! (1024-byte frames) in both directions — and its key log to a temporary directory, runs the
//! release binary on it three times per format, and reports the best time as MB/s of input.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sbrp::{ClientHandshake, Daemon, Frame, IdentityKeyPair, SessionId};

/// Plaintext length that makes a 1024-byte Data frame (13 header + 12 nonce + 16 tag).
const PLAINTEXT_LEN: usize = 1024 - 41;

fn write_capture(
    capture: &Path,
    keylog: &Path,
    total: u64,
) -> Result<u64, Box<dyn std::error::Error>> {
    let daemon = Daemon::new(IdentityKeyPair::generate()?, "bench-daemon");
    let sid = SessionId::MIN;
    let client = ClientHandshake::start("bench-daemon", sid)?;
    let init = client.init();
    let (accept, mut daemon_session) = daemon.accept(&init)?;
    let mut client_session = client.finish(&accept, &daemon.identity().public_key())?;
    std::fs::write(
        keylog,
        sbrp::keylog::format_session(sid.get(), client_session.keys()).as_bytes(),
    )?;
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(capture)?);
    w.write_all(&Frame::HandshakeInit(init).to_vec())?;
    w.write_all(&Frame::HandshakeAccept(accept).to_vec())?;
    let plaintext: Vec<u8> = (0..PLAINTEXT_LEN).map(|i| b'a' + (i % 26) as u8).collect();
    let mut written = 0u64;
    let mut i = 0u64;
    while written < total {
        let session = if i.is_multiple_of(2) {
            &mut client_session
        } else {
            &mut daemon_session
        };
        let frame = session.encrypt_frame(sid, &plaintext)?;
        w.write_all(&frame)?;
        written += frame.len() as u64;
        i += 1;
    }
    w.flush()?;
    Ok(std::fs::metadata(capture)?.len())
}

fn best_of_3(args: &[&str], capture: &Path) -> Result<Duration, Box<dyn std::error::Error>> {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_sbrp"))
            .arg("decode")
            .args(args)
            .arg(capture)
            .stdout(Stdio::null())
            .status()?;
        let elapsed = start.elapsed();
        if !status.success() {
            return Err(format!("sbrp decode {args:?} exited with {status}").into());
        }
        best = best.min(elapsed);
    }
    Ok(best)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing special. Either
    // way, run only when benchmarking, not as part of the test suite.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let mib: u64 = std::env::var("SBRP_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let dir = tempfile::tempdir()?;
    let capture = dir.path().join("capture.bin");
    let keylog = dir.path().join("keys.log");
    let bytes = write_capture(&capture, &keylog, mib * 1024 * 1024)?;
    let keylog_arg = keylog.to_str().ok_or("temporary path is not UTF-8")?;
    println!("sbrp decode on {bytes} bytes of 1 KiB Data frames (best of 3)");
    for (label, args) in [
        ("--format ndjson", vec!["--format", "ndjson"]),
        (
            "--format ndjson --keylog",
            vec!["--format", "ndjson", "--keylog", keylog_arg],
        ),
        ("--format text", vec!["--format", "text"]),
    ] {
        let t = best_of_3(&args, &capture)?;
        println!(
            "{label:<28} {:>9.1} MB/s  ({:.3} s)",
            bytes as f64 / t.as_secs_f64() / 1e6,
            t.as_secs_f64()
        );
    }
    Ok(())
}
