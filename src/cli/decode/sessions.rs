//! The dissector's per-session state, bounded against captures with any number of session
//! ids, and the exact session count.
//!
//! - Sessions that hold keys (the key log has keys for them, or keys were derived from their
//!   handshake) are always tracked: their number is bounded by what the user supplied.
//! - At most [`MAX_KEYLESS_SESSIONS`] sessions without keys are tracked at once. When a new one
//!   arrives and the table is full, the one idle for longest is evicted (least recently used,
//!   O(1) amortised) and counted; every frame still gets a session state, so no frame goes
//!   unexamined. An evicted session id is remembered in a fixed-size filter: if it comes back,
//!   its state is marked *resumed*, and checks that rest on the absence of earlier frames
//!   (e.g. "no HandshakeInit before this accept") are skipped for it.
//! - Distinct session ids are counted exactly up to [`MAX_COUNTED_SESSIONS`]; beyond that the
//!   count is a lower bound.
//!
//! Reaching either bound is a `tracking_limit` stream diagnostic (see `docs/decode-json.md`).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

/// Sessions without keys tracked at once.
pub const MAX_KEYLESS_SESSIONS: usize = 4096;
/// Distinct session ids counted exactly.
pub const MAX_COUNTED_SESSIONS: usize = 100_000;
/// Session ids listed in the summary at most (the smallest).
pub const MAX_LISTED_SESSIONS: usize = 64;
/// Bits of the filter that remembers evicted session ids (128 KiB).
const FILTER_BITS: usize = 1 << 20;

struct Entry<S> {
    state: S,
    stamp: u64,
    keyed: bool,
}

/// The table of per-session states.
pub struct Table<S> {
    map: HashMap<u64, Entry<S>>,
    /// Keyless sessions by last use: `(sid, stamp)`; stale pairs (the session was used again
    /// since, or holds keys now) are skipped when popped.
    lru: VecDeque<(u64, u64)>,
    clock: u64,
    keyless: usize,
    /// Sessions evicted so far.
    pub evicted: u64,
    /// Stream offset of the frame that caused the first eviction.
    pub first_eviction_at: Option<u64>,
    filter: Vec<u64>,
}

impl<S: Default> Default for Table<S> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            lru: VecDeque::new(),
            clock: 0,
            keyless: 0,
            evicted: 0,
            first_eviction_at: None,
            filter: Vec::new(),
        }
    }
}

fn filter_bit(sid: u64) -> (usize, u64) {
    // A multiplicative hash: session ids an adversary picks still spread over the filter.
    let h = sid.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 44;
    let bit = h as usize % FILTER_BITS;
    (bit / 64, 1 << (bit % 64))
}

impl<S: Default> Table<S> {
    /// The state of `sid` (created on first sight), and whether the session may have been
    /// evicted before (its earlier frames are then unknown). `keyed`: the session holds keys
    /// and must never be evicted. `at` is the stream offset of the frame, for the diagnostic.
    pub fn get(&mut self, sid: u64, keyed: bool, at: u64) -> (&mut S, bool) {
        self.clock += 1;
        let stamp = self.clock;
        let new = !self.map.contains_key(&sid);
        if new && !keyed && self.keyless >= MAX_KEYLESS_SESSIONS {
            self.evict_one(at);
        }
        let fresh = || Entry {
            state: S::default(),
            stamp,
            keyed,
        };
        let entry = self.map.entry(sid).or_insert_with(fresh);
        entry.stamp = stamp;
        let became_keyed = keyed && !entry.keyed;
        entry.keyed |= keyed;
        let is_keyed = entry.keyed;
        if new && !keyed {
            self.keyless += 1;
        }
        if became_keyed {
            self.keyless -= 1;
        }
        if !is_keyed {
            self.lru.push_back((sid, stamp));
        }
        let resumed = new && !self.filter.is_empty() && {
            let (w, m) = filter_bit(sid);
            self.filter[w] & m != 0
        };
        if self.lru.len() > 4 * MAX_KEYLESS_SESSIONS + 64 {
            // Drop the stale pairs: one per keyless session is left, in order of last use.
            let mut live: Vec<(u64, u64)> = self
                .map
                .iter()
                .filter(|(_, e)| !e.keyed)
                .map(|(sid, e)| (e.stamp, *sid))
                .collect();
            live.sort_unstable();
            self.lru = live.into_iter().map(|(stamp, sid)| (sid, stamp)).collect();
        }
        let entry = self.map.entry(sid).or_insert_with(fresh);
        (&mut entry.state, resumed)
    }

    fn evict_one(&mut self, at: u64) {
        while let Some((sid, stamp)) = self.lru.pop_front() {
            let live = self
                .map
                .get(&sid)
                .is_some_and(|e| !e.keyed && e.stamp == stamp);
            if live {
                self.map.remove(&sid);
                self.keyless -= 1;
                self.evicted += 1;
                self.first_eviction_at.get_or_insert(at);
                if self.filter.is_empty() {
                    self.filter = vec![0; FILTER_BITS / 64];
                }
                let (w, m) = filter_bit(sid);
                self.filter[w] |= m;
                return;
            }
        }
    }

    /// Sessions tracked now (with and without keys).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

/// The distinct session ids seen: exact up to [`MAX_COUNTED_SESSIONS`], then a lower bound.
#[derive(Debug, Default)]
pub struct Counter {
    seen: HashSet<u64>,
    /// More distinct ids than could be counted.
    pub overflow: bool,
    /// Stream offset of the frame with the first uncounted id.
    pub overflow_at: Option<u64>,
    /// The smallest ids, for the summary.
    pub smallest: BTreeSet<u64>,
}

impl Counter {
    /// Counts `sid` (non-zero), seen in the frame at `at`.
    pub fn add(&mut self, sid: u64, at: u64) {
        if self.seen.contains(&sid) {
            return;
        }
        if self.seen.len() >= MAX_COUNTED_SESSIONS {
            self.overflow = true;
            self.overflow_at.get_or_insert(at);
            return;
        }
        self.seen.insert(sid);
        self.smallest.insert(sid);
        if self.smallest.len() > MAX_LISTED_SESSIONS {
            self.smallest.pop_last();
        }
    }

    /// Distinct ids counted (all of them unless [`Counter::overflow`]).
    pub fn count(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyless_sessions_are_evicted_least_recently_used_first_and_keyed_never() {
        let mut t: Table<u32> = Table::default();
        *t.get(1, true, 0).0 = 7;
        for sid in 100..100 + MAX_KEYLESS_SESSIONS as u64 {
            t.get(sid, false, sid);
        }
        assert_eq!(t.evicted, 0);
        // Touch 100 so that 101 is the oldest keyless session.
        *t.get(100, false, 0).0 = 5;
        let (_, resumed) = t.get(1_000_000, false, 42);
        assert!(!resumed);
        assert_eq!(t.evicted, 1);
        assert_eq!(t.first_eviction_at, Some(42));
        assert_eq!(*t.get(100, false, 0).0, 5);
        assert_eq!(*t.get(1, true, 0).0, 7);
        // 101 was evicted: it comes back fresh and marked resumed.
        let (state, resumed) = t.get(101, false, 0);
        assert_eq!((*state, resumed), (0, true));
        // A flood of new ids: the table stays bounded, the keyed session stays.
        for sid in 2_000_000..2_000_000 + 20 * MAX_KEYLESS_SESSIONS as u64 {
            t.get(sid, false, 0);
            assert!(t.len() <= MAX_KEYLESS_SESSIONS + 1);
            assert!(t.lru.len() <= 4 * MAX_KEYLESS_SESSIONS + 65);
        }
        assert_eq!(*t.get(1, true, 0).0, 7);
        // A keyless session that gains keys is never evicted afterwards.
        *t.get(5, false, 0).0 = 9;
        t.get(5, true, 0);
        for sid in 3_000_000..3_000_000 + 2 * MAX_KEYLESS_SESSIONS as u64 {
            t.get(sid, false, 0);
        }
        assert_eq!(*t.get(5, false, 0).0, 9);
    }

    #[test]
    fn counter_is_exact_up_to_its_bound() {
        let mut c = Counter::default();
        for sid in (1..=MAX_COUNTED_SESSIONS as u64).rev() {
            c.add(sid, 0);
            c.add(sid, 0);
        }
        assert_eq!(c.count(), MAX_COUNTED_SESSIONS);
        assert!(!c.overflow);
        assert_eq!(c.smallest.len(), MAX_LISTED_SESSIONS);
        assert_eq!(c.smallest.first(), Some(&1));
        c.add(u64::MAX, 99);
        assert!(c.overflow);
        assert_eq!(c.overflow_at, Some(99));
    }
}
