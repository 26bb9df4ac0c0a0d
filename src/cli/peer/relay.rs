//! `--relay`: the peer's byte-stream [`Transport`] over a WebSocket to a relay, using the
//! library's [`sbrp::relay_client`] (one SBRP frame per binary message, 1003/1009 closes,
//! `?token=` or `Authorization: Bearer`, `--ca`).
//!
//! A thread runs a small tokio runtime with the [`Connection`]: every received message (already
//! checked to be exactly one frame) becomes one chunk for the protocol loop, and the bytes the
//! loop sends are cut back into frames, each sent as one binary message. The token is never
//! printed: messages name the relay by `ws[s]://HOST[:PORT]` only.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{self, SyncSender};
use std::thread;

use sbrp::relay_client::{
    self, Auth, ConnectError, Connection, RecvError, RelayConfig, TokenSource,
};
use sbrp::token::Token;

use super::transport::{Incoming, Transport};
use crate::cli::escape::escape;
use crate::cli::exit::{CliError, CliResult, Exit};
use crate::cli::output::Output;

/// How the token is presented at the upgrade.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// `?token=<jwt>` on the URL (what browsers do)
    #[default]
    Query,
    /// `Authorization: Bearer <jwt>`
    Header,
}

/// The relay options shared by `peer client` and `peer daemon`.
#[derive(Debug, Clone, clap::Args)]
pub struct RelayArgs {
    /// Talk through the relay at ws[s]://HOST[:PORT][/PATH] (one SBRP frame per WebSocket
    /// message; needs a token)
    #[arg(long, value_name = "URL")]
    pub relay: Option<String>,

    /// Read the relay token from FILE (re-read at every connection attempt) [env: SBRP_TOKEN
    /// holds the token itself]
    #[arg(long, value_name = "FILE", requires = "relay")]
    pub token_file: Option<PathBuf>,

    /// The relay token itself (visible to other users in the process list: prefer
    /// --token-file or SBRP_TOKEN)
    #[arg(
        long,
        value_name = "JWT",
        requires = "relay",
        conflicts_with = "token_file",
        hide = true
    )]
    pub token: Option<OsString>,

    /// How the token reaches the relay: query (?token=, the default) or header
    /// (Authorization: Bearer)
    #[arg(long, value_enum, value_name = "MODE", requires = "relay")]
    pub auth: Option<AuthMode>,

    /// Trust the CA certificates in this PEM FILE for wss:// (instead of the system's roots)
    #[arg(long, value_name = "FILE", requires = "relay")]
    pub ca: Option<PathBuf>,
}

/// A checked `--relay` setup.
#[derive(Debug)]
pub struct Relay {
    pub config: RelayConfig,
    pub tokens: TokenSource,
}

impl Relay {
    /// `None` without `--relay`.
    pub fn from_args(out: &Output, args: &RelayArgs, who: &str) -> CliResult<Option<Self>> {
        let Some(url) = &args.relay else {
            return Ok(None);
        };
        let mut config = RelayConfig::new(url).map_err(|e| {
            CliError::new(Exit::Usage, format!("--relay: {}", escape(&e.to_string())))
                .hint("give ws://HOST[:PORT][/PATH] or wss://HOST[:PORT][/PATH], without the token")
        })?;
        config.auth = match args.auth.unwrap_or_default() {
            AuthMode::Query => Auth::Query,
            AuthMode::Header => Auth::Header,
        };
        config.ca_file = args.ca.clone();
        let env = std::env::var_os("SBRP_TOKEN").filter(|v| !v.is_empty());
        let tokens = if let Some(path) = &args.token_file {
            TokenSource::File(path.clone())
        } else if let Some(t) = &args.token {
            out.eprintln(&format!(
                "sbrp {who}: warning: a token on the command line can be read by other users \
                 (ps, shell history); use --token-file or SBRP_TOKEN"
            ));
            TokenSource::Fixed(token_of(t)?)
        } else if let Some(t) = env {
            TokenSource::Fixed(token_of(&t)?)
        } else {
            return Err(CliError::new(Exit::Usage, "--relay needs a relay token")
                .hint("give --token-file FILE (e.g. from `sbrp token mint -o FILE`) or set SBRP_TOKEN"));
        };
        Ok(Some(Self { config, tokens }))
    }

    /// The relay for messages and JSON: `ws[s]://HOST[:PORT][/PATH]`, never the token.
    pub fn label(&self) -> String {
        self.config.redacted_url()
    }
}

fn token_of(t: &std::ffi::OsStr) -> CliResult<Token> {
    let s = t
        .to_str()
        .ok_or_else(|| CliError::error("the relay token is not UTF-8"))?;
    let tok = Token::new(s);
    if tok.expose().is_empty() {
        return Err(CliError::error("the relay token is empty"));
    }
    Ok(tok)
}

/// A connect failure as a CLI error: HTTP refusals exit 7 naming the status.
pub fn connect_error(relay: &str, e: &ConnectError) -> CliError {
    let msg = format!("{}: {}", escape(relay), escape(&e.to_string()));
    match e.http_status() {
        Some(401) => CliError::new(Exit::Refused, msg)
            .hint("the relay rejected the token: mint a fresh one (sbrp token mint) for this relay's issuer and audience, and check `sbrp token inspect`"),
        Some(403) => CliError::new(Exit::Refused, msg)
            .hint("the token is valid but not allowed here: check its role, did and scopes"),
        Some(409) => CliError::new(Exit::Refused, msg)
            .hint("this session id (or daemon id) is already connected: use a token with another sid, or stop the other connection"),
        Some(_) => CliError::new(Exit::Refused, msg),
        None => match e {
            ConnectError::Token(_) => CliError::error(msg)
                .hint("check --token-file (or SBRP_TOKEN)"),
            ConnectError::Tls(_) => CliError::error(msg)
                .hint("for a private CA give --ca FILE; check the host name matches the certificate"),
            _ => CliError::error(msg).hint("check the URL and that the relay is running"),
        },
    }
}

/// The largest frame the sender cuts from the byte stream (header + maximum payload).
const MAX_FRAME: usize = sbrp::frame::MAX_FRAME_LEN;

/// Cuts a byte stream into whole SBRP frames (13-byte header: type, length, session id).
struct Splitter {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
}

impl io::Write for Splitter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        loop {
            if self.buf.len() < sbrp::frame::HEADER_LEN {
                return Ok(bytes.len());
            }
            let len =
                u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
            let total = sbrp::frame::HEADER_LEN + len;
            if total > MAX_FRAME {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "frame too large for one message",
                ));
            }
            if self.buf.len() < total {
                return Ok(bytes.len());
            }
            let rest = self.buf.split_off(total);
            let frame = std::mem::replace(&mut self.buf, rest);
            self.tx
                .blocking_send(frame)
                .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Connects once (a token from the source) and returns the transport.
pub fn open(relay: &Relay) -> Result<Transport, ConnectError> {
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), ConnectError>>(1);
    let (in_tx, in_rx) = mpsc::sync_channel::<Incoming>(8);
    let (out_tx, out_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let config = relay.config.clone();
    let tokens = relay.tokens.clone();
    let handle = thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                let _ = ready_tx.send(Err(ConnectError::Io(format!(
                    "cannot start the runtime: {e}"
                ))));
                return;
            }
        };
        rt.block_on(async move {
            let conn = match tokens.fetch() {
                Ok(t) => relay_client::connect(&config, &t).await,
                Err(e) => Err(e),
            };
            match conn {
                Ok(conn) => {
                    let _ = ready_tx.send(Ok(()));
                    bridge(conn, in_tx, out_rx).await;
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        });
    });
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(Transport::from_channels(
            in_rx,
            Box::new(Splitter {
                buf: Vec::new(),
                tx: out_tx,
            }),
            relay.label(),
            handle,
        )),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ConnectError::Io("the connection thread ended".into())),
    }
}

/// What a framing close from the relay means.
pub fn framing_close(e: &RecvError) -> &'static str {
    match e {
        RecvError::Closed { code: 1003, .. } => {
            "unsupported data: the relay takes binary messages only"
        }
        RecvError::Closed { code: 1009, .. } => {
            "message too big: over 65549 bytes, the largest SBRP frame"
        }
        RecvError::Closed { code: 1002, .. } => {
            "protocol error: a message that is not exactly one SBRP frame"
        }
        _ => "SBRP frames travel one per binary WebSocket message",
    }
}

async fn bridge(
    mut conn: Connection,
    in_tx: SyncSender<Incoming>,
    mut out_rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
) {
    loop {
        tokio::select! {
            frame = out_rx.recv() => match frame {
                Some(f) => {
                    if let Err(e) = conn.send_frame(f).await {
                        let _ = in_tx.send(Incoming::Error(io::Error::other(e.to_string())));
                        return;
                    }
                }
                None => {
                    // The protocol loop is done: close normally.
                    conn.close(sbrp::ws::close::NORMAL, "").await;
                    return;
                }
            },
            got = conn.recv_frame() => {
                let msg = match got {
                    Ok(f) => Incoming::Bytes(f),
                    Err(RecvError::Closed { code: 1000, .. }) => Incoming::Eof,
                    Err(RecvError::Framing(e)) => Incoming::Error(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{e} (we closed with WebSocket {})", e.close_code()),
                    )),
                    // The relay refused what we sent as a WebSocket message.
                    Err(e) if e.is_framing() => Incoming::Error(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} ({})", escape(&e.to_string()), framing_close(&e)),
                    )),
                    Err(e) => Incoming::Error(io::Error::other(escape(&e.to_string()).into_owned())),
                };
                let last = !matches!(msg, Incoming::Bytes(_));
                // The channel is bounded: wait for the protocol loop, and keep sending what it
                // writes meanwhile (so neither side can block the other for good).
                let mut msg = msg;
                loop {
                    match in_tx.try_send(msg) {
                        Ok(()) => break,
                        Err(mpsc::TrySendError::Disconnected(_)) => return,
                        Err(mpsc::TrySendError::Full(m)) => {
                            msg = m;
                            loop {
                                match out_rx.try_recv() {
                                    Ok(f) => {
                                        if conn.send_frame(f).await.is_err() {
                                            return;
                                        }
                                    }
                                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                                        // The protocol loop is done: close normally.
                                        conn.close(sbrp::ws::close::NORMAL, "").await;
                                        return;
                                    }
                                }
                            }
                            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        }
                    }
                }
                if last {
                    return;
                }
            }
        }
    }
}
