//! A small test relay on 127.0.0.1 (until `sbrp relay` exists), on the library's stack
//! (tokio + tokio-tungstenite, optional rustls): validates tokens with `sbrp::token::verify`
//! before the upgrade (401/403), refuses a second client for a live session id (409), pairs
//! by `did` and `sid`, forwards HandshakeInit/HandshakeAccept/Data byte for byte, answers
//! Pings, tells the daemon `session_ended` when a client leaves, tells clients
//! `session_paused` when their daemon drops and `session_expired` when it returns without
//! `session:resume`; with it `session_pending`, then `session_resumed` on the daemon's
//! `Signal(ready)` or `session_expired` on `Signal(close)` (every Signal is recorded); client
//! frames for a paused or pending session are dropped and counted, as `sbrp relay` does. Tests
//! can inject messages, stall a session, and drop the daemons (at once, or right after a given
//! daemon Data frame).
#![allow(dead_code, clippy::result_large_err)] // the tungstenite callback type is fixed

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use sbrp::token::{Jwks, Role, VerifyPolicy};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, http};

/// What a connection's writer task is told to do.
#[derive(Debug)]
pub enum Out {
    Msg(Message),
    Close(u16),
}

#[derive(Default)]
pub struct State {
    pub daemons: HashMap<String, UnboundedSender<Out>>,
    pub clients: HashMap<(String, u64), UnboundedSender<Out>>,
    pub paused: Vec<(String, u64)>,
    /// Paused sessions whose resumable daemon is back, waiting for its Signal.
    pub pending: Vec<(String, u64)>,
    /// Signals from daemons: (session id, signal byte, reason byte).
    pub signals: Vec<(u64, u8, u8)>,
    /// Client frames dropped because their session was paused or pending (as `sbrp relay`
    /// does: `not_ready`).
    pub dropped_not_ready: usize,
    /// Drop the daemon right after forwarding the n-th daemon Data of this session.
    pub drop_daemon_after: Option<(u64, usize)>,
    /// Forward no daemon Data of this session after the n-th (its client is left waiting).
    pub stall_after: Option<(u64, usize)>,
    /// Daemon Data frames forwarded per session.
    pub forwarded: HashMap<u64, usize>,
    pub daemon_connections: usize,
    pub pongs: Vec<(String, Vec<u8>)>,
    pub closes_seen: Vec<u16>,
}

impl State {
    /// The daemon of `did` is gone: close its connection, pause its clients.
    fn drop_daemon(&mut self, did: &str) {
        if let Some(tx) = self.daemons.remove(did) {
            let _ = tx.send(Out::Close(1001));
        }
        self.pause_clients_of(did);
    }

    fn pause_clients_of(&mut self, did: &str) {
        let paired: Vec<_> = self
            .clients
            .keys()
            .filter(|(d, _)| d == did)
            .filter(|k| !self.paused.contains(k))
            .cloned()
            .collect();
        for key in paired {
            let _ =
                self.clients[&key].send(Out::Msg(Message::Binary(control(0x1001, key.1).into())));
            self.pending.retain(|k| *k != key);
            self.paused.push(key);
        }
    }
}

#[derive(Clone)]
pub struct TestRelay {
    pub port: u16,
    pub state: Arc<Mutex<State>>,
}

fn control(code: u16, sid: u64) -> Vec<u8> {
    let mut f = vec![0x20, 0, 0, 0, 2];
    f.extend_from_slice(&sid.to_be_bytes());
    f.extend_from_slice(&code.to_be_bytes());
    f
}

impl TestRelay {
    /// Starts a relay; `tls` serves wss with that server config.
    pub async fn start(
        jwks: Jwks,
        policy: VerifyPolicy,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = TestRelay {
            port,
            state: Arc::default(),
        };
        let r = relay.clone();
        let jwks = Arc::new(jwks);
        let policy = Arc::new(policy);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (r, jwks, policy, tls) = (r.clone(), jwks.clone(), policy.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(cfg) => {
                            let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
                            if let Ok(s) = acceptor.accept(tcp).await {
                                r.serve(s, &jwks, &policy).await;
                            }
                        }
                        None => r.serve(tcp, &jwks, &policy).await,
                    }
                });
            }
        });
        relay
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    /// Sends `msg` to the daemon of `did`.
    pub fn to_daemon(&self, did: &str, msg: Out) {
        if let Some(tx) = self.state.lock().unwrap().daemons.get(did) {
            let _ = tx.send(msg);
        }
    }

    /// Sends `msg` to the client of (`did`, `sid`).
    pub fn to_client(&self, did: &str, sid: u64, msg: Out) {
        if let Some(tx) = self
            .state
            .lock()
            .unwrap()
            .clients
            .get(&(did.to_owned(), sid))
        {
            let _ = tx.send(msg);
        }
    }

    /// Closes every daemon connection (as a relay restart would); their clients are paused
    /// at once.
    pub fn drop_daemons(&self) {
        let mut st = self.state.lock().unwrap();
        let dids: Vec<String> = st.daemons.keys().cloned().collect();
        for did in dids {
            st.drop_daemon(&did);
        }
    }

    /// Forwards no daemon Data of session `sid` after the `n`-th: its client is in flight,
    /// waiting.
    pub fn stall_after(&self, sid: u64, n: usize) {
        self.state.lock().unwrap().stall_after = Some((sid, n));
    }

    /// Drops the daemon right after it sends its `n`-th Data frame of session `sid`.
    pub fn drop_daemon_after(&self, sid: u64, n: usize) {
        self.state.lock().unwrap().drop_daemon_after = Some((sid, n));
    }

    async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
        &self,
        stream: S,
        jwks: &Jwks,
        policy: &VerifyPolicy,
    ) {
        let mut claims = None;
        let state = self.state.clone();
        let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
            let from_query = req.uri().query().and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("token=").map(str::to_owned))
            });
            let from_header = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned));
            let token = from_header.or(from_query).unwrap_or_default();
            let refuse =
                |status: u16| Err(http::Response::builder().status(status).body(None).unwrap());
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            match sbrp::token::verify(&token, jwks, policy, now) {
                Ok(c) => {
                    if c.role == Role::Client {
                        let key = (c.did.clone(), c.sid.map_or(0, |s| s.get()));
                        if state.lock().unwrap().clients.contains_key(&key) {
                            return refuse(409);
                        }
                    }
                    claims = Some(c);
                    Ok(resp)
                }
                Err(e) => refuse(e.http_status()),
            }
        };
        let Ok(ws) = tokio_tungstenite::accept_hdr_async_with_config(
            stream,
            callback,
            Some(sbrp::relay_client::websocket_config()),
        )
        .await
        else {
            return;
        };
        let Some(claims) = claims else { return };
        let (mut sink, mut source) = ws.split();
        let (tx, mut rx) = unbounded_channel::<Out>();
        let writer = tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                match out {
                    Out::Msg(m) => {
                        if sink.send(m).await.is_err() {
                            return;
                        }
                    }
                    Out::Close(code) => {
                        let _ = sink
                            .send(Message::Close(Some(CloseFrame {
                                code: code.into(),
                                reason: "".into(),
                            })))
                            .await;
                        return;
                    }
                }
            }
        });
        let did = claims.did.clone();
        let sid = claims.sid.map_or(0, |s| s.get());
        let is_daemon = claims.role == Role::Daemon;
        {
            let mut st = self.state.lock().unwrap();
            if is_daemon {
                st.daemon_connections += 1;
                // Returning without session:resume: the paused sessions expire; with it they
                // are pending until the daemon's Signal.
                let back: Vec<_> = st
                    .paused
                    .iter()
                    .filter(|(d, _)| *d == did)
                    .cloned()
                    .collect();
                st.paused.retain(|(d, _)| *d != did);
                let resumable = claims.has_scope(sbrp::token::SCOPE_SESSION_RESUME);
                for key in back {
                    if let Some(c) = st.clients.get(&key) {
                        if resumable {
                            let _ =
                                c.send(Out::Msg(Message::Binary(control(0x1004, key.1).into())));
                        } else {
                            let _ =
                                c.send(Out::Msg(Message::Binary(control(0x0302, key.1).into())));
                            let _ = c.send(Out::Close(1000));
                        }
                    }
                    if resumable {
                        st.pending.push(key);
                    }
                }
                st.daemons.insert(did.clone(), tx.clone());
            } else {
                st.clients.insert((did.clone(), sid), tx.clone());
            }
        }
        while let Some(msg) = source.next().await {
            let bytes = match msg {
                Ok(Message::Binary(b)) => b.to_vec(),
                Ok(Message::Close(c)) => {
                    self.state
                        .lock()
                        .unwrap()
                        .closes_seen
                        .push(c.map_or(1005, |c| c.code.into()));
                    break;
                }
                Ok(Message::Text(_)) => {
                    let _ = tx.send(Out::Close(1003));
                    break;
                }
                Ok(_) => continue,
                Err(_) => break,
            };
            if bytes.len() < 13 {
                continue;
            }
            let fsid = u64::from_be_bytes(bytes[5..13].try_into().unwrap());
            let mut st = self.state.lock().unwrap();
            match bytes[0] {
                0x10 => {
                    let mut pong = bytes.clone();
                    pong[0] = 0x11;
                    let _ = tx.send(Out::Msg(Message::Binary(pong.into())));
                }
                0x11 => st.pongs.push((did.clone(), bytes[13..].to_vec())),
                0x04 if is_daemon && bytes.len() == 15 => {
                    st.signals.push((fsid, bytes[13], bytes[14]));
                    let key = (did.clone(), fsid);
                    if st.pending.contains(&key) {
                        st.pending.retain(|k| *k != key);
                        if let Some(c) = st.clients.get(&key) {
                            if bytes[13] == 0 {
                                let _ =
                                    c.send(Out::Msg(Message::Binary(control(0x1002, fsid).into())));
                            } else {
                                let _ =
                                    c.send(Out::Msg(Message::Binary(control(0x0302, fsid).into())));
                                let _ = c.send(Out::Close(1000));
                            }
                        }
                    }
                }
                0x03 if is_daemon
                    && st
                        .stall_after
                        .is_some_and(|(s, n)| s == fsid && st.forwarded.get(&s) >= Some(&n)) =>
                {
                    // Stalled: the client waits for an answer that does not come.
                }
                0x02 | 0x03 if is_daemon => {
                    if let Some(c) = st.clients.get(&(did.clone(), fsid)) {
                        let _ = c.send(Out::Msg(Message::Binary(bytes.clone().into())));
                    }
                    if bytes[0] == 0x03 {
                        let n = st.forwarded.entry(fsid).or_default();
                        *n += 1;
                        let n = *n;
                        if st.drop_daemon_after == Some((fsid, n))
                            && st.daemons.get(&did).is_some_and(|d| d.same_channel(&tx))
                        {
                            st.drop_daemon_after = None;
                            st.drop_daemon(&did);
                        }
                    }
                }
                0x01 | 0x03
                    if !is_daemon
                        && fsid == sid
                        && (st.paused.contains(&(did.clone(), sid))
                            || st.pending.contains(&(did.clone(), sid))) =>
                {
                    st.dropped_not_ready += 1;
                }
                0x01 | 0x03 if !is_daemon && fsid == sid => match st.daemons.get(&did) {
                    Some(d) => {
                        let _ = d.send(Out::Msg(Message::Binary(bytes.into())));
                    }
                    None => {
                        let _ = tx.send(Out::Msg(Message::Binary(control(0x0202, sid).into())));
                        let _ = tx.send(Out::Close(1000));
                    }
                },
                _ => {}
            }
        }
        {
            let mut st = self.state.lock().unwrap();
            if is_daemon {
                if st.daemons.get(&did).is_some_and(|d| d.same_channel(&tx)) {
                    st.daemons.remove(&did);
                    st.pause_clients_of(&did);
                }
            } else {
                st.clients.remove(&(did.clone(), sid));
                st.paused.retain(|k| *k != (did.clone(), sid));
                st.pending.retain(|k| *k != (did.clone(), sid));
                if let Some(d) = st.daemons.get(&did) {
                    let _ = d.send(Out::Msg(Message::Binary(control(0x1003, sid).into())));
                }
            }
        }
        drop(tx);
        let _ = writer.await;
    }
}
