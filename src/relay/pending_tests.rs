//! The table of pending handshakes, with synthetic addresses: the per-source cap (IPv4 by
//! address, IPv6 by /64), eviction of the oldest, and the bounds of both indexes.

use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn v4(a: u8, b: u8, c: u8, d: u8) -> Source {
    Source::of(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
}

fn v6(s: &str) -> Source {
    Source::of(IpAddr::V6(s.parse::<Ipv6Addr>().unwrap()))
}

fn table(max_pending: usize, per_source: usize) -> PendingHandshakes {
    PendingHandshakes::new(HandshakeLimits {
        max_pending,
        max_pending_per_source: per_source,
    })
}

#[test]
fn sources_group_ipv6_by_64_and_ipv4_mapped_as_ipv4() {
    assert_eq!(
        v6("2001:db8:1:2::1"),
        v6("2001:db8:1:2:ffff:ffff:ffff:ffff")
    );
    assert_ne!(v6("2001:db8:1:2::1"), v6("2001:db8:1:3::1"));
    assert_eq!(v6("::ffff:192.0.2.7"), v4(192, 0, 2, 7));
    assert_ne!(v4(192, 0, 2, 7), v4(192, 0, 2, 8));
}

#[test]
fn the_newcomer_from_a_source_at_its_cap_evicts_that_sources_oldest() {
    let mut t = table(100, 3);
    let a = v4(10, 0, 0, 1);
    let b = v4(10, 0, 0, 2);
    let a1 = t.admit(a);
    let b1 = t.admit(b);
    let a2 = t.admit(a);
    let a3 = t.admit(a);
    for x in [a1, b1, a2, a3] {
        assert_eq!(x.evicted, None);
    }
    let a4 = t.admit(a);
    assert_eq!(a4.evicted, Some((a1.id, Eviction::SourceCap)));
    assert!(!t.contains(a1.id) && t.contains(a4.id) && t.contains(b1.id));
    assert_eq!((t.pending_from(a), t.pending_from(b), t.len()), (3, 1, 4));
    // The oldest left of that source goes next, whatever finished in between.
    assert!(t.finish(a3.id));
    let a5 = t.admit(a);
    assert_eq!(a5.evicted, None);
    let a6 = t.admit(a);
    assert_eq!(a6.evicted, Some((a2.id, Eviction::SourceCap)));
    // One /64 is one source.
    let mut t = table(100, 2);
    t.admit(v6("2001:db8::1"));
    let x = t.admit(v6("2001:db8::2"));
    assert_eq!(x.evicted, None);
    assert!(matches!(
        t.admit(v6("2001:db8::ffff")).evicted,
        Some((_, Eviction::SourceCap))
    ));
    assert_eq!(t.admit(v6("2001:db8:0:1::1")).evicted, None);
}

#[test]
fn a_full_table_evicts_the_oldest_of_all_never_the_newcomer() {
    let mut t = table(4, 0);
    let ids: Vec<_> = (1..=4).map(|i| t.admit(v4(10, 0, 0, i)).id).collect();
    let late = t.admit(v4(192, 0, 2, 1));
    assert_eq!(late.evicted, Some((ids[0], Eviction::TableFull)));
    assert!(t.contains(late.id));
    assert_eq!(t.len(), 4);
    // Finishing in the middle: the next eviction still takes the oldest left.
    t.finish(ids[2]);
    assert_eq!(t.admit(v4(10, 0, 0, 9)).evicted, None);
    assert_eq!(
        t.admit(v4(10, 0, 0, 10)).evicted,
        Some((ids[1], Eviction::TableFull))
    );
}

#[test]
fn per_source_cap_zero_is_off() {
    let mut t = table(8, 0);
    let s = v4(127, 0, 0, 1);
    for _ in 0..8 {
        assert_eq!(t.admit(s).evicted, None);
    }
    assert_eq!(t.pending_from(s), 8);
    assert!(matches!(t.admit(s).evicted, Some((_, Eviction::TableFull))));
}

/// Many sources, many admissions and finishes in a pseudo-random order: the table and the
/// per-source index never exceed their bounds, no source exceeds its cap, and each index
/// agrees with the other.
#[test]
fn both_indexes_stay_bounded_and_consistent() {
    let mut t = table(64, 5);
    let mut live: Vec<HandshakeId> = Vec::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for step in 0..50_000u32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(3) && !live.is_empty() {
            let i = (x as usize / 3) % live.len();
            let id = live.swap_remove(i);
            t.finish(id);
        } else {
            // 300 IPv4 sources and 300 IPv6 /64s (with random host halves).
            let n = (x >> 8) % 600;
            let s = if n < 300 {
                v4(10, 1, (n >> 8) as u8, n as u8)
            } else {
                let host = x >> 20;
                v6(&format!("2001:db8:{:x}::{:x}", n, host & 0xffff))
            };
            let a = t.admit(s);
            if let Some((old, _)) = a.evicted {
                live.retain(|&l| l != old);
            }
            live.push(a.id);
            assert!(t.pending_from(s) <= 5, "step {step}");
        }
        assert!(t.len() <= 64, "step {step}");
        assert!(t.sources() <= t.len(), "step {step}");
        assert_eq!(t.len(), live.len(), "step {step}");
        let indexed: usize = t.by_source.values().map(BTreeSet::len).sum();
        assert_eq!(indexed, t.len(), "step {step}");
        assert!(t.by_source.values().all(|s| !s.is_empty()));
    }
    for id in live {
        assert!(t.finish(id));
    }
    assert!(t.is_empty());
    assert_eq!(t.sources(), 0);
    assert!(!t.finish(1), "finishing twice is a no-op");
}

#[test]
fn eviction_reasons_round_trip() {
    for e in Eviction::ALL {
        assert_eq!(Eviction::from_reason(e.reason()), Some(e));
    }
    assert_eq!(Eviction::from_reason("handshake_timeout"), None);
}
