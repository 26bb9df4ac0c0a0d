//! Helpers shared by the tests that run the `sbrp` binary as peers and relays (`sbrp peer …`,
//! `sbrp relay`, `sbrp token …`): the command with the caller's SBRP_* and colour variables
//! removed, keys made with `sbrp keygen`, tokens minted with `sbrp token mint`, a child's
//! stderr collected, SIGTERM. Each test file uses a different part.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Lines, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex};

use assert_cmd::cargo::cargo_bin;

/// `sbrp` without the caller's NO_COLOR, SBRP_PINS, SBRP_KEYLOGFILE, SBRP_TOKEN and SBRP_LOG.
pub fn sbrp() -> Command {
    let mut cmd = Command::new(cargo_bin("sbrp"));
    cmd.env_remove("NO_COLOR")
        .env_remove("SBRP_PINS")
        .env_remove("SBRP_KEYLOGFILE")
        .env_remove("SBRP_TOKEN")
        .env_remove("SBRP_LOG");
    cmd
}

/// Runs `cmd`, fails the test (showing its stderr) unless it exits 0; returns its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The process ended with `code`; otherwise fail showing its stderr.
pub fn assert_exit(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `sbrp keygen -o DIR/NAME` with SBRP_HOME=DIR; returns the key's path.
pub fn keygen(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    run_ok(
        sbrp()
            .args(["keygen", "-o"])
            .arg(&key)
            .env("SBRP_HOME", dir),
    );
    key
}

/// `sbrp pubkey KEY`, trimmed.
pub fn pubkey(key: &Path) -> String {
    run_ok(sbrp().arg("pubkey").arg(key)).trim().to_owned()
}

/// A temp dir with a daemon key `k.pem` (made by `sbrp keygen`, 0600); returns the dir, the
/// key's path and its public key (base64).
pub fn key_dir() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "k.pem");
    let pk = pubkey(&key);
    (dir, key, pk)
}

/// `sbrp peer daemon --daemon-id DID --listen 127.0.0.1:0 --key KEY` (stdin null, stderr piped);
/// returns the child, the rest of its stderr (keep it open as long as the daemon runs) and the
/// address from its first stderr line ("… listening on ADDR …").
pub fn tcp_daemon(key: &Path, did: &str) -> (Child, Lines<BufReader<ChildStderr>>, String) {
    let mut daemon = sbrp()
        .args([
            "peer",
            "daemon",
            "--daemon-id",
            did,
            "--listen",
            "127.0.0.1:0",
            "--key",
        ])
        .arg(key)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(daemon.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    (daemon, lines, addr)
}

/// The daemon id the tokens are minted for.
pub const DID: &str = "daemon-1";

/// A temp dir with a daemon key `daemon.pem` (with its public key) and a token issuer key
/// `issuer.pem`, made by `sbrp keygen`.
pub struct Keys {
    pub dir: tempfile::TempDir,
    pub daemon_key: PathBuf,
    pub daemon_pub: String,
    pub issuer: PathBuf,
}

impl Keys {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let daemon_key = keygen(dir.path(), "daemon.pem");
        let issuer = keygen(dir.path(), "issuer.pem");
        let daemon_pub = pubkey(&daemon_key);
        Self {
            dir,
            daemon_key,
            daemon_pub,
            issuer,
        }
    }

    /// `name` in the temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Mints a token for [`DID`] with `sbrp token mint` into `name` in the temp dir (replacing
    /// an earlier one of that name); returns the path.
    pub fn mint(&self, name: &str, role: &str, extra: &[&str]) -> PathBuf {
        mint(self.dir.path(), &self.issuer, DID, name, role, extra)
    }
}

/// `sbrp token jwks ISSUER`: the issuer's JWKS text.
pub fn jwks_text(issuer: &Path) -> String {
    run_ok(sbrp().args(["token", "jwks"]).arg(issuer))
}

/// Writes `sbrp token jwks ISSUER` to `DIR/jwks.json`; returns the path.
pub fn write_jwks(dir: &Path, issuer: &Path) -> PathBuf {
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, jwks_text(issuer)).unwrap();
    jwks
}

/// Mints a token with `sbrp token mint --key ISSUER --role ROLE --did DID EXTRA…` into
/// `DIR/NAME` (replacing an earlier one of that name); returns the path.
pub fn mint(
    dir: &Path,
    issuer: &Path,
    did: &str,
    name: &str,
    role: &str,
    extra: &[&str],
) -> PathBuf {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    run_ok(
        sbrp()
            .args(["token", "mint", "--key"])
            .arg(issuer)
            .args(["--role", role, "--did", did])
            .args(extra)
            .arg("-o")
            .arg(&path),
    );
    path
}

/// `sbrp decode --strict --format ndjson --keylog KEYLOG CAPTURE`, which must exit 0; its records.
pub fn decode_ndjson(capture: &Path, keylog: &Path) -> Vec<serde_json::Value> {
    let out = sbrp()
        .args(["decode", "--strict", "--format", "ndjson", "--keylog"])
        .arg(keylog)
        .arg(capture)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Collects everything `stream` (a child's stderr) yields, on a thread, into the returned text.
pub fn collect(mut stream: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

/// Sends SIGTERM to `child`.
#[cfg(unix)]
pub fn terminate(child: &Child) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
}
