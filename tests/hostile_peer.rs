//! `sbrp peer daemon` against hostile peers, on the real binary (issue 8): HandshakeInit
//! floods on stdin and on a socket are refused beyond `--max-sessions` and the handshake
//! budget while the open sessions keep being served; idle connections and stalled frames are
//! closed, after which new connections are served. Sockets on 127.0.0.1 only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sbrp::frame::FrameType;
use sbrp::stream::FrameReader;
use sbrp::{ClientHandshake, Frame, IdentityPublicKey, Session, SessionId};

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("sbrp")
}

fn key(dir: &Path) -> (PathBuf, IdentityPublicKey) {
    let path = dir.join("k.pem");
    let st = Command::new(bin())
        .args(["keygen", "-o"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(st.status.success(), "{st:?}");
    let bytes = std::fs::read(&path).unwrap();
    let decoded = sbrp::keyfile::decode(&bytes, sbrp::keyfile::BareKey::Refuse).unwrap();
    (path, decoded.key.public_key())
}

/// A HandshakeInit of session `sid` (the same client key for all: the flood is cheap to make).
fn junk_init(sid: u64) -> Vec<u8> {
    let mut f = vec![0x01, 0, 0, 0, 32];
    f.extend_from_slice(&sid.to_be_bytes());
    f.extend_from_slice(&[9; 32]);
    f
}

fn accepts(out: &[u8]) -> Vec<u64> {
    FrameReader::new(out)
        .filter_map(Result::ok)
        .filter(|f| f.frame.frame_type() == FrameType::HandshakeAccept)
        .map(|f| f.frame.session_id())
        .collect()
}

/// A real client session 1: its HandshakeInit now, the session once the accept is in.
struct RealClient {
    hs: Option<ClientHandshake>,
    session: Option<Session>,
    sid: SessionId,
}

impl RealClient {
    fn new() -> Self {
        let sid = SessionId::new(1).unwrap();
        Self {
            hs: Some(ClientHandshake::start("d", sid).unwrap()),
            session: None,
            sid,
        }
    }
    fn init(&self) -> Vec<u8> {
        Frame::HandshakeInit(self.hs.as_ref().unwrap().init()).to_vec()
    }
    /// Finishes the handshake from the daemon's output; returns the frames after the accept.
    fn finish(&mut self, out: &[u8], pk: &IdentityPublicKey) {
        let accept = FrameReader::new(out)
            .filter_map(Result::ok)
            .find(|f| f.frame.session_id() == 1)
            .expect("an accept for session 1");
        let Ok(Frame::HandshakeAccept(a)) = accept.frame.parse() else {
            panic!("not an accept")
        };
        self.session = Some(self.hs.take().unwrap().finish(&a, pk).unwrap());
    }
    fn data(&mut self, text: &[u8]) -> Vec<u8> {
        self.session
            .as_mut()
            .unwrap()
            .encrypt_frame(self.sid, text)
            .unwrap()
    }
    fn echo_in(&mut self, out: &[u8]) -> Vec<u8> {
        let f = FrameReader::new(out)
            .filter_map(Result::ok)
            .filter(|f| f.frame.frame_type() == FrameType::Data && f.frame.session_id() == 1)
            .last()
            .expect("an echo for session 1");
        self.session
            .as_mut()
            .unwrap()
            .decrypt(f.frame.payload())
            .unwrap()
    }
}

#[test]
fn a_handshake_flood_on_stdin_is_refused_and_the_open_session_still_served() {
    let dir = tempfile::tempdir().unwrap();
    let (key, pk) = key(dir.path());
    for (extra, want_accepts, reason) in [
        (
            vec!["--max-sessions", "10", "--handshake-rate", "0"],
            Some(10),
            "10",
        ),
        (
            vec!["--handshake-rate", "128"],
            None,
            "over --handshake-rate",
        ),
    ] {
        // The real session first, then a flood of 300,000 new sessions, then the real
        // session's Data: written by a thread while the daemon's output is read.
        let mut child = Command::new(bin())
            .args(["peer", "daemon", "--raw", "--daemon-id", "d", "--key"])
            .arg(&key)
            .args(&extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let client = RealClient::new();
        let mut stdin = child.stdin.take().unwrap();
        let first = client.init();
        stdin.write_all(&first).unwrap();
        stdin.flush().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut accept = vec![0u8; 13 + 128];
        stdout.read_exact(&mut accept).unwrap();
        let mut client = client;
        client.finish(&accept, &pk);
        let data = client.data(b"after the flood");
        let writer = std::thread::spawn(move || {
            let flood: Vec<u8> = (2..300_002u64).flat_map(junk_init).collect();
            stdin.write_all(&flood).unwrap();
            stdin.write_all(&data).unwrap();
        });
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).unwrap();
        writer.join().unwrap();
        let st = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&st.stderr);
        assert!(st.status.success(), "{err}");
        let got = accepts(&out);
        if let Some(n) = want_accepts {
            assert_eq!(got.len() + 1, n, "{extra:?}");
        } else {
            assert!(got.len() < 10_000, "{extra:?}: {} accepts", got.len());
        }
        assert_eq!(client.echo_in(&out), b"after the flood", "{extra:?}");
        assert!(err.contains("HandshakeInit refused"), "{err}");
        assert!(err.contains(reason), "{err}");
        // 300,000 refusals, logged at the 1st, 2nd, 4th, 8th …: the log stays short.
        let logged = err.matches("HandshakeInit refused").count();
        assert!((10..=20).contains(&logged), "{logged} refusals logged");
    }
}

struct Listener {
    child: Child,
    addr: String,
    log: std::sync::mpsc::Receiver<String>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listen(key: &Path, extra: &[&str]) -> Listener {
    let mut child = Command::new(bin())
        .args([
            "peer",
            "daemon",
            // These tests check limits with bare echoes (SBP is tested in peer_sbp.rs).
            "--raw",
            "--daemon-id",
            "d",
            "--listen",
            "127.0.0.1:0",
            "--key",
        ])
        .arg(key)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .split("listening on ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    Listener {
        child,
        addr,
        log: rx,
    }
}

/// Connects and completes a handshake of session 1.
fn handshake(addr: &str, pk: &IdentityPublicKey) -> (TcpStream, RealClient) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut c = RealClient::new();
    s.write_all(&c.init()).unwrap();
    let mut accept = vec![0u8; 13 + 128];
    s.read_exact(&mut accept).unwrap();
    c.finish(&accept, pk);
    (s, c)
}

/// True when the daemon closed `s` (end of stream or reset) within the read timeout.
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(n) => n == 0,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn idle_connections_are_closed_and_new_ones_served() {
    let dir = tempfile::tempdir().unwrap();
    let (key, pk) = key(dir.path());
    let l = listen(&key, &["--max-connections", "2", "--idle-timeout", "1"]);
    // Two connections that each complete a handshake, then go quiet: every slot is held.
    let (mut a, _) = handshake(&l.addr, &pk);
    let (mut b, _) = handshake(&l.addr, &pk);
    // Both are closed once idle for a second; a new connection is then served.
    assert!(closed(&mut a), "idle connection a closed");
    assert!(closed(&mut b), "idle connection b closed");
    std::thread::sleep(Duration::from_millis(200));
    let (mut c, mut client) = handshake(&l.addr, &pk);
    c.write_all(&client.data(b"served")).unwrap();
    let mut buf = vec![0u8; 13 + 12 + 6 + 16];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(client.echo_in(&buf), b"served");
    let log: Vec<String> = l.log.try_iter().collect();
    assert!(
        log.iter().filter(|l| l.contains("--idle-timeout")).count() >= 2,
        "{log:?}"
    );
}

#[test]
fn a_started_frame_must_finish_within_the_handshake_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (key, pk) = key(dir.path());
    // No idle timeout: only the frame deadline can close these.
    let l = listen(
        &key,
        &[
            "--idle-timeout",
            "0",
            "--handshake-timeout",
            "1",
            "--max-connections",
            "1",
        ],
    );
    let (mut s, _) = handshake(&l.addr, &pk);
    // Three bytes of a header, then nothing.
    s.write_all(&[0x03, 0, 0]).unwrap();
    assert!(closed(&mut s), "a stalled header is closed");
    // A frame whose header is whole but whose payload trickles in also has a deadline.
    std::thread::sleep(Duration::from_millis(200));
    let (mut s, _) = handshake(&l.addr, &pk);
    s.write_all(&[0x10, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        .unwrap();
    assert!(closed(&mut s), "a stalled payload is closed");
    std::thread::sleep(Duration::from_millis(200));
    let log: Vec<String> = l.log.try_iter().collect();
    assert!(
        log.iter()
            .filter(|l| l.contains("started but not finished"))
            .count()
            == 2,
        "{log:?}"
    );
}

#[test]
fn a_handshake_flood_on_a_socket_is_refused_and_the_open_session_still_served() {
    let dir = tempfile::tempdir().unwrap();
    let (key, pk) = key(dir.path());
    let l = listen(&key, &["--max-sessions", "5", "--handshake-rate", "0"]);
    let (s, mut client) = handshake(&l.addr, &pk);
    let mut w = s.try_clone().unwrap();
    let data = client.data(b"after the flood");
    let writer = std::thread::spawn(move || {
        let flood: Vec<u8> = (2..200_002u64).flat_map(junk_init).collect();
        w.write_all(&flood).unwrap();
        w.write_all(&data).unwrap();
        w.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut out = Vec::new();
    let mut r = s;
    r.read_to_end(&mut out).unwrap();
    writer.join().unwrap();
    assert_eq!(accepts(&out).len(), 4, "five sessions in all");
    assert_eq!(client.echo_in(&out), b"after the flood");
    std::thread::sleep(Duration::from_millis(200));
    let log: Vec<String> = l.log.try_iter().collect();
    assert!(
        log.iter()
            .any(|l| l.contains("refused 199996 HandshakeInits")),
        "{log:?}"
    );
}
