//! The table of connections still authenticating (TCP or TLS accepted, HTTP upgrade not
//! answered yet), with no I/O and no clock.
//!
//! Anyone can open a TCP connection and send half a request: no token is needed to hold an
//! entry here. So the table never refuses the newest connection (that would let whoever holds
//! the table deny service to everyone); it evicts the **oldest** unfinished handshake in the
//! scope that is full, and the newcomer takes its place:
//!
//! - at most [`HandshakeLimits::max_pending_per_source`] entries per source (an IPv4 address;
//!   an IPv6 address by its /64, what one host or one customer usually holds); a new one from a
//!   source at its cap evicts that source's oldest ([`Eviction::SourceCap`]). 0 turns the cap
//!   off, for a relay behind a proxy, where every connection comes from the proxy;
//! - at most [`HandshakeLimits::max_pending`] entries in all; a new one when the table is full
//!   evicts the oldest of all ([`Eviction::TableFull`]).
//!
//! An honest client finishes its upgrade within a round trip or two, so it is never the oldest
//! for long: to keep it out an attacker must open `max_pending` connections (or the per-source
//! cap, from the client's own source) within that time, again and again, instead of holding
//! sockets open at a trickle.
//!
//! Bounds: entries ≤ `max_pending`; the per-source index has one key per source with at least
//! one entry (keys with none are removed at once), so it also holds ≤ `max_pending` keys and
//! ≤ `max_pending` ids in all.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// A pending handshake, numbered by the table in the order they arrived (older is smaller).
pub type HandshakeId = u64;

/// Where a connection comes from, as far as the per-source cap is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// An IPv4 address (an IPv4-mapped IPv6 address counts as its IPv4 address).
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 address.
    V6Prefix([u8; 8]),
}

impl Source {
    /// The source of a peer address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4.octets()),
                None => {
                    let o = v6.octets();
                    let mut p = [0u8; 8];
                    p.copy_from_slice(&o[..8]);
                    Self::V6Prefix(p)
                }
            },
        }
    }
}

/// The limits of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandshakeLimits {
    /// Entries in all (at least 1).
    pub max_pending: usize,
    /// Entries per [`Source`]; 0: no per-source cap.
    pub max_pending_per_source: usize,
}

/// The default size of the table.
pub const DEFAULT_MAX_PENDING: usize = 1024;
/// The default per-source cap: far more than one host's honest concurrent connection attempts
/// (each is done within a round trip or two), a small part of the table.
pub const DEFAULT_MAX_PENDING_PER_SOURCE: usize = 32;

impl Default for HandshakeLimits {
    fn default() -> Self {
        Self {
            max_pending: DEFAULT_MAX_PENDING,
            max_pending_per_source: DEFAULT_MAX_PENDING_PER_SOURCE,
        }
    }
}

/// Why an entry was evicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Eviction {
    /// Its source was at [`HandshakeLimits::max_pending_per_source`] and a newer one came.
    SourceCap,
    /// The table was at [`HandshakeLimits::max_pending`] and a newer one came.
    TableFull,
}

impl Eviction {
    /// Every value, for metrics.
    pub const ALL: [Self; 2] = [Self::SourceCap, Self::TableFull];

    /// The reason logged (`connection_refused`'s `reason`) for the evicted connection.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::SourceCap => "handshake_evicted_source_cap",
            Self::TableFull => "handshake_evicted_table_full",
        }
    }

    /// The metrics label (`sbrp_relay_handshakes_evicted_total{reason}`).
    pub const fn label(self) -> &'static str {
        match self {
            Self::SourceCap => "source_cap",
            Self::TableFull => "table_full",
        }
    }

    /// The eviction a logged reason names, if it names one.
    pub fn from_reason(reason: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.reason() == reason)
    }
}

/// What [`PendingHandshakes::admit`] decided: the newcomer always gets an entry; at most one
/// older entry was evicted to make room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admitted {
    /// The newcomer's entry.
    pub id: HandshakeId,
    /// The entry evicted for it, and why.
    pub evicted: Option<(HandshakeId, Eviction)>,
}

/// The table (see the module documentation).
#[derive(Debug)]
pub struct PendingHandshakes {
    limits: HandshakeLimits,
    next: HandshakeId,
    /// Every entry, oldest first.
    order: BTreeMap<HandshakeId, Source>,
    /// Each source's entries, oldest first; no empty set is kept.
    by_source: HashMap<Source, BTreeSet<HandshakeId>>,
}

impl PendingHandshakes {
    /// An empty table (`max_pending` 0 is taken as 1).
    pub fn new(limits: HandshakeLimits) -> Self {
        Self {
            limits: HandshakeLimits {
                max_pending: limits.max_pending.max(1),
                ..limits
            },
            next: 1,
            order: BTreeMap::new(),
            by_source: HashMap::new(),
        }
    }

    /// The limits.
    pub fn limits(&self) -> HandshakeLimits {
        self.limits
    }

    /// Entries in the table.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Entries of one source.
    pub fn pending_from(&self, source: Source) -> usize {
        self.by_source.get(&source).map_or(0, BTreeSet::len)
    }

    /// Sources with at least one entry (the size of the per-source index).
    pub fn sources(&self) -> usize {
        self.by_source.len()
    }

    /// Whether `id` is still pending.
    pub fn contains(&self, id: HandshakeId) -> bool {
        self.order.contains_key(&id)
    }

    /// A new connection from `source`: it gets an entry, evicting the oldest of its source when
    /// the source is at its cap, else the oldest of all when the table is full.
    pub fn admit(&mut self, source: Source) -> Admitted {
        let cap = self.limits.max_pending_per_source;
        let evicted = if cap > 0 && self.pending_from(source) >= cap {
            self.oldest_of(source).map(|id| (id, Eviction::SourceCap))
        } else if self.order.len() >= self.limits.max_pending {
            self.order
                .first_key_value()
                .map(|(&id, _)| (id, Eviction::TableFull))
        } else {
            None
        };
        if let Some((old, _)) = evicted {
            self.finish(old);
        }
        let id = self.next;
        self.next += 1;
        self.order.insert(id, source);
        self.by_source.entry(source).or_default().insert(id);
        Admitted { id, evicted }
    }

    /// The handshake ended (upgraded, refused, failed, timed out or evicted); `false` if it was
    /// not in the table (any more).
    pub fn finish(&mut self, id: HandshakeId) -> bool {
        let Some(source) = self.order.remove(&id) else {
            return false;
        };
        if let Some(set) = self.by_source.get_mut(&source) {
            set.remove(&id);
            if set.is_empty() {
                self.by_source.remove(&source);
            }
        }
        true
    }

    fn oldest_of(&self, source: Source) -> Option<HandshakeId> {
        self.by_source.get(&source)?.first().copied()
    }
}

#[cfg(test)]
#[path = "pending_tests.rs"]
mod tests;
