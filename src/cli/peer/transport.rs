//! Moving bytes: stdin/stdout, a TCP connection, or a command's stdin/stdout (`--exec`, like
//! ssh's ProxyCommand). A reader thread turns the input into chunks on a bounded channel, so
//! the protocol loop can wait with a deadline (the handshake timeout) on any kind of input.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use crate::cli::escape::escape;
use crate::cli::exit::{CliError, CliResult};

/// How much one read asks for.
const CHUNK: usize = 64 * 1024;

/// What waiting for input produced.
#[derive(Debug)]
pub enum Incoming {
    /// Bytes.
    Bytes(Vec<u8>),
    /// The peer closed its side.
    Eof,
    /// Reading failed.
    Error(io::Error),
    /// The deadline passed first.
    Timeout,
}

/// A byte stream in both directions.
pub struct Transport {
    rx: Receiver<Incoming>,
    writer: Option<Box<dyn Write + Send>>,
    child: Option<Child>,
    tcp: Option<TcpStream>,
    /// The thread owning a WebSocket (`--relay`): joined on drop, so its close frame is sent
    /// before the process exits.
    bridge: Option<thread::JoinHandle<()>>,
    /// What the other end is, for messages: `stdio`, `127.0.0.1:4000`, `exec`.
    pub label: String,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("label", &self.label)
            .finish()
    }
}

fn spawn_reader(mut reader: impl Read + Send + 'static) -> Receiver<Incoming> {
    let (tx, rx): (SyncSender<Incoming>, _) = mpsc::sync_channel(8);
    thread::spawn(move || {
        loop {
            let mut buf = vec![0u8; CHUNK];
            let msg = match reader.read(&mut buf) {
                Ok(0) => Incoming::Eof,
                Ok(n) => {
                    buf.truncate(n);
                    Incoming::Bytes(buf)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Incoming::Error(e),
            };
            let last = !matches!(msg, Incoming::Bytes(_));
            if tx.send(msg).is_err() || last {
                return;
            }
        }
    });
    rx
}

impl Transport {
    /// A transport fed by another thread (the WebSocket bridge of `--relay`).
    #[cfg(feature = "relay-client")]
    pub fn from_channels(
        rx: Receiver<Incoming>,
        writer: Box<dyn Write + Send>,
        label: String,
        bridge: thread::JoinHandle<()>,
    ) -> Self {
        Self {
            rx,
            writer: Some(writer),
            child: None,
            tcp: None,
            bridge: Some(bridge),
            label,
        }
    }

    /// Standard input and output.
    pub fn stdio() -> Self {
        Self {
            rx: spawn_reader(io::stdin()),
            writer: Some(Box::new(io::stdout())),
            child: None,
            tcp: None,
            bridge: None,
            label: "stdio".into(),
        }
    }

    /// An accepted or connected TCP stream.
    pub fn tcp(stream: TcpStream, label: String) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        let reader = stream.try_clone()?;
        let writer = stream.try_clone()?;
        Ok(Self {
            rx: spawn_reader(reader),
            writer: Some(Box::new(writer)),
            child: None,
            tcp: Some(stream),
            bridge: None,
            label,
        })
    }

    /// Connects to `addr` (HOST:PORT).
    pub fn connect(addr: &str) -> CliResult<Self> {
        let stream = TcpStream::connect(addr).map_err(|e| {
            CliError::error(format!("cannot connect to {}: {e}", escape(addr)))
                .hint("check the address and that the daemon or relay is listening")
        })?;
        let label = stream
            .peer_addr()
            .map_or_else(|_| addr.to_owned(), |a| a.to_string());
        Self::tcp(stream, label)
            .map_err(|e| CliError::error(format!("cannot use the connection: {e}")))
    }

    /// Runs `command` with `sh -c` and talks over its stdin/stdout; its stderr is ours. The
    /// command runs in its own process group, which is ended as a whole when the transport
    /// is dropped (so nothing it started outlives the client; it cannot read the terminal).
    pub fn exec(command: &str) -> CliResult<Self> {
        let mut cmd = Command::new("sh");
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .arg("-c")
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                CliError::error(format!("cannot run `{}`: {e}", escape(command)))
                    .hint("check the --exec command (it runs with sh -c)")
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(CliError::error("the --exec command has no pipes"));
        };
        Ok(Self {
            rx: spawn_reader(stdout),
            writer: Some(Box::new(stdin)),
            child: Some(child),
            tcp: None,
            bridge: None,
            label: "exec".into(),
        })
    }

    /// Waits for input until `deadline` (forever when `None`).
    pub fn recv(&self, deadline: Option<Instant>) -> Incoming {
        match deadline {
            None => self.rx.recv().unwrap_or(Incoming::Eof),
            Some(d) => {
                let wait = d.saturating_duration_since(Instant::now());
                match self.rx.recv_timeout(wait) {
                    Ok(msg) => msg,
                    Err(RecvTimeoutError::Timeout) => Incoming::Timeout,
                    Err(RecvTimeoutError::Disconnected) => Incoming::Eof,
                }
            }
        }
    }

    /// Writes and flushes `bytes`.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let w = self
            .writer
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::BrokenPipe))?;
        w.write_all(bytes)?;
        w.flush()
    }

    /// Closes the sending side (the peer sees end of input).
    pub fn close_send(&mut self) {
        self.writer = None;
        if let Some(tcp) = &self.tcp {
            let _ = tcp.shutdown(std::net::Shutdown::Write);
        }
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.close_send();
        if let Some(tcp) = &self.tcp {
            let _ = tcp.shutdown(std::net::Shutdown::Both);
        }
        if let Some(bridge) = self.bridge.take() {
            // The writer is gone: the bridge sends its close frame and ends (a few seconds at
            // most: the close waits 2 s for the relay's answer).
            let until = Instant::now() + Duration::from_secs(3);
            while !bridge.is_finished() && Instant::now() < until {
                thread::sleep(Duration::from_millis(5));
            }
        }
        if let Some(mut child) = self.child.take() {
            // Give the command a moment to end on its own after end of input, then stop it.
            let until = Instant::now() + Duration::from_millis(500);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < until => thread::sleep(Duration::from_millis(10)),
                    _ => break,
                }
            }
            // End the whole process group (the shell and whatever it started). The group
            // outlives the shell while any member runs, so its id cannot have been reused.
            #[cfg(unix)]
            if let Some(pgid) = i32::try_from(child.id())
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
