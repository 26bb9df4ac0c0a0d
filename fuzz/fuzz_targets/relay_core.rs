//! Fuzz target: the relay's sans-I/O state machine (`RelayCore`) driven by a sequence of events
//! with small limits, its invariants checked after every step (not just "no panic").
//!
//! The input is a list of operations, one opcode byte and its argument bytes each (the layout
//! is in `step`; `fuzz/seeds/make-relay-core-seeds.py` writes the seeds): open a daemon or a
//! client connection (admissions from three daemon ids and four session ids; sometimes with an
//! id already in use), a well-formed frame of any type or raw bytes from a connection, flushes,
//! ticks with advancing time, text and oversized messages, closes; connection ids are never
//! reused after a close, as the server never does.
//!
//! Checked after every step:
//! - every Action names a connection that is open (or the one just closed), and no Send or
//!   second Close follows a Close of that connection;
//! - every sent frame decodes; a Forwarded frame is the input message byte for byte, from
//!   another connection, never a Control; an Answered frame is a Pong to the sender;
//! - unsent bytes per connection stay within `max_queue` (plus the one `backpressure` Control);
//! - unsent bytes of the open connections together (`queued_bytes`) stay within
//!   `max_total_queue`;
//! - the session counts that the SessionState events add up to equal `sessions_in` for each
//!   state, and so does the sum of `session_state` over every (daemon id, session id);
//! - `connections()` equals the open connections and stays within `max_connections`; `open`
//!   refuses exactly when it must (full, session live, duplicate id) and a refusal changes
//!   nothing;
//! - a new session never takes a daemon over its cap (the latest daemon connection's
//!   `lim.concurrent_sessions`, else `max_sessions_per_daemon`);
//! - the daemon table stays within connections + `LINGERING_DAEMONS_CAP`, lingering entries
//!   within `LINGERING_DAEMONS_CAP`, a recently-ended list within `RECENTLY_ENDED_CAP`.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU64;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sbrp::frame::RawFrame;
use sbrp::relay::core::{LINGERING_DAEMONS_CAP, RECENTLY_ENDED_CAP};
use sbrp::relay::{
    Action, Admission, ConnId, Refusal, RelayConfig, RelayCore, RelayEvent, SendKind, SessionState,
};

const DIDS: [&str; 3] = ["d1", "d2", "d3"];
const SIDS: u64 = 4;
const STATES: [SessionState; 3] = [
    SessionState::Paired,
    SessionState::Paused,
    SessionState::Pending,
];
/// The `backpressure` Control the relay queues beyond `max_queue` before it closes.
const CONTROL_LEN: usize = 15;

fn config() -> RelayConfig {
    RelayConfig {
        grace: Duration::from_secs(5),
        ping_interval: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(10),
        rate: 20,
        burst: 6,
        max_queue: 120,
        max_total_queue: 300,
        max_connections: 6,
        max_sessions_per_daemon: 2,
    }
}

struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let start = self.pos.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.pos = start + n;
        &self.data[start..end]
    }
}

/// What the event was, for judging its actions.
enum Cause<'a> {
    Message { from: ConnId, msg: &'a [u8] },
    Other,
}

#[derive(Default)]
struct Model {
    /// Admitted and not yet `on_closed`.
    open: HashSet<ConnId>,
    /// Every id ever admitted (never reused).
    ever: Vec<ConnId>,
    /// The relay sent a Close for these.
    closed: HashSet<ConnId>,
    queued: HashMap<ConnId, usize>,
    /// The cap of each daemon id's latest daemon connection.
    cap: HashMap<String, usize>,
    /// Sessions per state, as the SessionState events add up.
    counts: [i64; 3],
    next: ConnId,
}

fn state_index(s: SessionState) -> usize {
    STATES.iter().position(|&x| x == s).expect("a state")
}

impl Model {
    fn pick(&self, b: u8) -> ConnId {
        let i = usize::from(b) % (self.ever.len() + 1);
        // One past the end: an id never admitted.
        self.ever.get(i).copied().unwrap_or(10_000)
    }

    fn judge(&mut self, core: &RelayCore, actions: &[Action], cause: &Cause<'_>) {
        let max_queue = core.config().max_queue;
        assert!(
            core.queued_bytes() <= core.config().max_total_queue,
            "open connections queue {} bytes",
            core.queued_bytes()
        );
        for a in actions {
            match a {
                Action::Send { conn, bytes, kind } => {
                    assert!(self.open.contains(conn), "Send to {conn}, not open: {a:?}");
                    assert!(
                        !self.closed.contains(conn),
                        "Send to {conn} after its Close"
                    );
                    RawFrame::decode(bytes).expect("every sent frame decodes");
                    let q = self.queued.entry(*conn).or_default();
                    *q += bytes.len();
                    assert!(*q <= max_queue + CONTROL_LEN, "{conn} queues {q} bytes");
                    match (kind, cause) {
                        (SendKind::Forwarded, Cause::Message { from, msg }) => {
                            assert_eq!(bytes.as_slice(), *msg, "forwarded bytes differ");
                            assert_ne!(conn, from, "forwarded back to its sender");
                            assert_ne!(msg[0], 0x20, "a Control was forwarded");
                        }
                        (SendKind::Forwarded, Cause::Other) => {
                            panic!("a Forwarded frame with no message: {a:?}")
                        }
                        (SendKind::Answered, Cause::Message { from, .. }) => {
                            assert_eq!(conn, from, "a Pong to another connection");
                            assert_eq!(bytes[0], 0x11, "an Answered frame that is not a Pong");
                        }
                        (SendKind::Answered, Cause::Other) => {
                            panic!("an Answered frame with no message: {a:?}")
                        }
                        (SendKind::Generated, _) => {
                            assert!(matches!(bytes[0], 0x10 | 0x20), "generated {a:?}");
                        }
                    }
                }
                Action::Close { conn, .. } => {
                    assert!(self.open.contains(conn), "Close of {conn}, not open");
                    assert!(self.closed.insert(*conn), "a second Close of {conn}");
                }
                Action::Event(RelayEvent::SessionState { from, to, .. }) => {
                    assert_ne!(from, to, "a SessionState event that changes nothing");
                    if let Some(f) = from {
                        self.counts[state_index(*f)] -= 1;
                    }
                    if let Some(t) = to {
                        self.counts[state_index(*t)] += 1;
                    }
                }
                Action::Event(_) => {}
            }
        }
    }

    fn check(&self, core: &RelayCore) {
        let c = core.config();
        assert_eq!(core.connections(), self.open.len());
        assert!(core.connections() <= c.max_connections);
        let mut sum = [0i64; 3];
        for did in DIDS {
            for sid in 1..=SIDS {
                if let Some(s) = core.session_state(did, sid) {
                    sum[state_index(s)] += 1;
                }
            }
            // No session of an id outside 1..=SIDS, ever.
            assert!(core.session_state(did, 0).is_none());
        }
        for (i, &s) in STATES.iter().enumerate() {
            let n = i64::try_from(core.sessions_in(s)).expect("small");
            assert_eq!(n, self.counts[i], "events vs sessions_in({s:?})");
            assert_eq!(n, sum[i], "session_state vs sessions_in({s:?})");
        }
        let (daemons, lingering, ended) = core.table_sizes();
        assert!(daemons <= core.connections() + LINGERING_DAEMONS_CAP);
        assert!(lingering <= LINGERING_DAEMONS_CAP);
        assert!(ended <= RECENTLY_ENDED_CAP);
    }

    fn live(core: &RelayCore, did: &str) -> usize {
        (1..=SIDS)
            .filter(|&s| core.session_state(did, s).is_some())
            .count()
    }
}

fn frame(ty: u8, declared: u32, sid: u64, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![ty];
    v.extend_from_slice(&declared.to_be_bytes());
    v.extend_from_slice(&sid.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn session_id(b: u8) -> u64 {
    match b % 8 {
        5 => u64::MAX,
        6 => 1 << 32,
        7 => 0,
        n => u64::from(n),
    }
}

fn open(core: &mut RelayCore, m: &mut Model, admission: Admission, dup: bool, now: Duration) {
    let id = match (dup, m.open.iter().min()) {
        (true, Some(&id)) => id,
        _ => {
            m.next += 1;
            m.next
        }
    };
    let full = m.open.len() >= core.config().max_connections;
    let live = match &admission {
        Admission::Client {
            daemon_id,
            session_id,
        } => core.session_state(daemon_id, session_id.get()).is_some(),
        Admission::Daemon { .. } => false,
    };
    let before = (core.connections(), core.sessions_in(SessionState::Paired));
    let checked = core.check(&admission);
    match core.open(id, admission.clone(), now) {
        Ok(actions) => {
            assert!(
                !full && !live && !m.open.contains(&id),
                "admitted when it must refuse"
            );
            assert_eq!(checked, Ok(()));
            m.open.insert(id);
            m.ever.push(id);
            m.judge(core, &actions, &Cause::Other);
            match admission {
                Admission::Daemon {
                    daemon_id,
                    max_sessions,
                    ..
                } => {
                    let cap =
                        max_sessions.map_or(core.config().max_sessions_per_daemon, |n| n as usize);
                    m.cap.insert(daemon_id, cap);
                }
                Admission::Client { daemon_id, .. } => {
                    let created = actions.iter().any(|a| {
                        matches!(
                            a,
                            Action::Event(RelayEvent::SessionState { from: None, .. })
                        )
                    });
                    if created {
                        let cap = m.cap.get(&daemon_id).copied().unwrap_or(0);
                        assert!(
                            Model::live(core, &daemon_id) <= cap,
                            "over the daemon's cap"
                        );
                    }
                }
            }
        }
        Err(r) => {
            let expected = if full {
                Refusal::TooManyConnections
            } else if live {
                Refusal::SessionLive
            } else {
                Refusal::DuplicateConnection
            };
            assert_eq!(r, expected);
            assert!(m.open.contains(&id) || r != Refusal::DuplicateConnection);
            if r != Refusal::DuplicateConnection {
                assert_eq!(checked, Err(r));
            }
            let after = (core.connections(), core.sessions_in(SessionState::Paired));
            assert_eq!(before, after, "a refusal changed the relay");
        }
    }
}

fn step(core: &mut RelayCore, m: &mut Model, inp: &mut Input<'_>, now: &mut Duration) {
    match inp.byte() % 12 {
        // Open a daemon: [d] daemon id d%3, resumable d&4, cap (d>>3)%4 (0: none, n: n-1),
        // an id in use when d&0x80.
        0 => {
            let d = inp.byte();
            let cap = (d >> 3) % 4;
            let admission = Admission::Daemon {
                daemon_id: DIDS[usize::from(d % 3)].into(),
                resumable: d & 4 != 0,
                max_sessions: cap.checked_sub(1).map(u32::from),
            };
            open(core, m, admission, d & 0x80 != 0, *now);
        }
        // Open a client: [d] daemon id d%3, session id 1 + (d>>2)%4, an id in use when d&0x80.
        1 => {
            let d = inp.byte();
            let admission = Admission::Client {
                daemon_id: DIDS[usize::from(d % 3)].into(),
                session_id: NonZeroU64::new(1 + u64::from(d >> 2) % SIDS).expect("nonzero"),
            };
            open(core, m, admission, d & 0x80 != 0, *now);
        }
        // A well-formed header: [conn, type, sid, len, payload…]; type t%8 picks one of the
        // seven types or the raw byte t; the declared length lies when t&0x80 (then [declared]).
        2 => {
            let conn = m.pick(inp.byte());
            let t = inp.byte();
            let ty = [0x01, 0x02, 0x03, 0x04, 0x10, 0x11, 0x20]
                .get(usize::from(t % 8))
                .copied()
                .unwrap_or(t);
            let sid = session_id(inp.byte());
            let len = usize::from(inp.byte() % 24);
            let payload = inp.bytes(len).to_vec();
            let declared = if t & 0x80 != 0 {
                u32::from(inp.byte())
            } else {
                payload.len() as u32
            };
            let msg = frame(ty, declared, sid, &payload);
            message(core, m, conn, &msg, *now);
        }
        // Raw bytes: [conn, len, bytes…].
        3 => {
            let conn = m.pick(inp.byte());
            let len = usize::from(inp.byte() % 40);
            let msg = inp.bytes(len).to_vec();
            message(core, m, conn, &msg, *now);
        }
        // A Signal: [conn, sid, kind].
        4 => {
            let conn = m.pick(inp.byte());
            let sid = session_id(inp.byte());
            let kind = inp.byte() % 3;
            let msg = frame(0x04, 2, sid, &[kind, 0]);
            message(core, m, conn, &msg, *now);
        }
        // Flushed: [conn, n] (n*4 bytes, at most what is queued).
        5 => {
            let conn = m.pick(inp.byte());
            let n = usize::from(inp.byte()) * 4;
            let q = m.queued.entry(conn).or_default();
            let n = n.min(*q);
            *q -= n;
            core.on_flushed(conn, n);
        }
        // Tick after [t] × 250 ms.
        6 => {
            *now += Duration::from_millis(250) * u32::from(inp.byte());
            let actions = core.tick(*now);
            m.judge(core, &actions, &Cause::Other);
        }
        // The connection is gone: [conn].
        7 => {
            let conn = m.pick(inp.byte());
            let actions = core.on_closed(conn, *now);
            m.judge(core, &actions, &Cause::Other);
            m.open.remove(&conn);
            m.queued.remove(&conn);
        }
        // A text message: [conn].
        8 => {
            let conn = m.pick(inp.byte());
            let actions = core.on_text(conn, *now);
            m.judge(core, &actions, &Cause::Other);
        }
        // An oversized message: [conn].
        9 => {
            let conn = m.pick(inp.byte());
            let actions = core.on_oversized(conn, *now);
            m.judge(core, &actions, &Cause::Other);
        }
        // Time passes with no tick: [t] × 50 ms.
        10 => *now += Duration::from_millis(50) * u32::from(inp.byte()),
        // A tick at the same time.
        _ => {
            let actions = core.tick(*now);
            m.judge(core, &actions, &Cause::Other);
        }
    }
}

fn message(core: &mut RelayCore, m: &mut Model, conn: ConnId, msg: &[u8], now: Duration) {
    let actions = core.on_message(conn, msg, now);
    if !m.open.contains(&conn) {
        assert!(
            actions.is_empty(),
            "actions for a message on a closed connection"
        );
    }
    m.judge(core, &actions, &Cause::Message { from: conn, msg });
}

fuzz_target!(|data: &[u8]| {
    let mut core = RelayCore::new(config());
    let mut m = Model::default();
    let mut inp = Input { data, pos: 0 };
    let mut now = Duration::ZERO;
    while !inp.done() {
        step(&mut core, &mut m, &mut inp, &mut now);
        m.check(&core);
    }
});
