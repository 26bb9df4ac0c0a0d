//! The tools that read bytes off the wire never panic, whatever the bytes: arbitrary input
//! into `sbrp decode` (raw, hex and base64 readers) and into `sbrp peer daemon` ends with a
//! documented exit code and a clean message. (The library's decoders get the same treatment,
//! with far more cases, in `tests/properties.rs` and `fuzz/`.)

use std::io::Write;
use std::process::{Command, Output, Stdio};

use assert_cmd::cargo::cargo_bin;
use proptest::prelude::*;

fn run(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(cargo_bin("sbrp"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("SBRP_KEYLOGFILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The child may stop reading early (a fatal header): a closed pipe is fine here.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

fn assert_clean(out: &Output, allowed: &[i32]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let code = out.status.code().expect("ended by a signal");
    assert!(allowed.contains(&code), "exit {code}: {stderr}");
}

/// Bytes that look like SBRP often enough to get past the header: a valid type byte and a
/// small length are likely, then anything.
fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
    let frame = (
        prop::sample::select(vec![0x01u8, 0x02, 0x03, 0x04, 0x10, 0x11, 0x20, 0x00, 0x99]),
        0u32..200,
        prop_oneof![Just(0u64), Just(1u64), any::<u64>()],
        prop::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(t, len, sid, body)| {
            let mut f = vec![t];
            f.extend_from_slice(&len.to_be_bytes());
            f.extend_from_slice(&sid.to_be_bytes());
            f.extend_from_slice(&body);
            f
        });
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        prop::collection::vec(frame, 0..6).prop_map(|fs| fs.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn decode_never_panics(bytes in wire_bytes()) {
        for input in ["raw", "auto"] {
            let out = run(&["decode", "--input", input, "--format", "ndjson", "-"], &bytes);
            assert_clean(&out, &[0, 1]);
            let strict = run(&["decode", "--input", input, "--strict", "-"], &bytes);
            assert_clean(&strict, &[0, 1, 6]);
        }
        // The same bytes as text: hex and base64 readers.
        let hex = hex::encode(&bytes);
        assert_clean(&run(&["decode", "--input", "hex", "-"], hex.as_bytes()), &[0, 1]);
        // Arbitrary bytes given as text to the hex reader: refused cleanly, or read.
        assert_clean(&run(&["decode", "--input", "hex", "-"], &bytes), &[0, 1]);
        assert_clean(&run(&["decode", "--input", "base64", "-"], &bytes), &[0, 1]);
    }
}

/// One daemon key for all cases.
fn daemon_key() -> &'static str {
    static KEY: std::sync::OnceLock<(tempfile::TempDir, String)> = std::sync::OnceLock::new();
    let (_, path) = KEY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        let st = Command::new(cargo_bin("sbrp"))
            .args(["keygen", "-o"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(st.status.success(), "{st:?}");
        let path = key.to_str().unwrap().to_owned();
        (dir, path)
    });
    path
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn peer_daemon_never_panics(bytes in wire_bytes()) {
        let args = ["peer", "daemon", "-q", "--daemon-id", "d", "--key", daemon_key()];
        // 0: end of input; 6: a header error ended the connection.
        assert_clean(&run(&args, &bytes), &[0, 6]);
    }
}
