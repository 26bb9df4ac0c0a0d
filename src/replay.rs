//! The receive-side anti-replay window (a sliding bitmap, as in IPsec and WireGuard).
//!
//! Bit `i` of the bitmap records whether `max_seen - i` has been accepted. A sequence number
//! above the highest seen is new; one at most `size - 1` below it is new unless its bit is set;
//! anything older is refused. A jump of `size` or more clears the bitmap in constant time.
//!
//! The session layer asks [`ReplayWindow::check`] before decrypting and calls
//! [`ReplayWindow::mark`] only after the tag verified, so a forged frame cannot move the window
//! (protocol §7 D6).

/// The window size used by sessions unless told otherwise.
pub const DEFAULT_WINDOW: u32 = 128;
/// The largest supported window.
pub const MAX_WINDOW: u32 = 256;
/// The smallest window the specification allows for a session.
pub const MIN_SESSION_WINDOW: u32 = 64;

const WORDS: usize = (MAX_WINDOW / 64) as usize;

/// A sliding replay window of 1 to 256 sequence numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayWindow {
    max_seen: Option<u64>,
    /// 256-bit bitmap, `bits[0]` least significant; bits at or above `size` are always zero.
    bits: [u64; WORDS],
    size: u32,
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self {
            max_seen: None,
            bits: [0; WORDS],
            size: DEFAULT_WINDOW,
        }
    }
}

impl ReplayWindow {
    /// A window of the default size (128).
    pub fn new() -> Self {
        Self::default()
    }

    /// A window of `size` sequence numbers, 1 to 256; `None` outside that range.
    pub const fn with_size(size: u32) -> Option<Self> {
        if size == 0 || size > MAX_WINDOW {
            return None;
        }
        Some(Self {
            max_seen: None,
            bits: [0; WORDS],
            size,
        })
    }

    /// The window size.
    pub const fn size(&self) -> u32 {
        self.size
    }

    /// The highest sequence number accepted so far.
    pub const fn max_seen(&self) -> Option<u64> {
        self.max_seen
    }

    /// The bitmap (bit `i` = `max_seen - i` accepted), least significant word first.
    pub const fn bitmap(&self) -> [u64; WORDS] {
        self.bits
    }

    /// Whether `seq` would be accepted now (new and not too old). Does not change the window.
    pub fn check(&self, seq: u64) -> bool {
        let Some(max) = self.max_seen else {
            return true;
        };
        if seq > max {
            return true;
        }
        let behind = max - seq;
        behind < u64::from(self.size) && !self.bit(behind as u32)
    }

    /// Records `seq` as accepted. Call only after [`check`](Self::check) said yes and the
    /// message authenticated; marking an old or repeated number changes nothing.
    pub fn mark(&mut self, seq: u64) {
        match self.max_seen {
            None => {
                self.bits = [0; WORDS];
                self.bits[0] = 1;
                self.max_seen = Some(seq);
            }
            Some(max) if seq > max => {
                let ahead = seq - max;
                if ahead >= u64::from(self.size) {
                    self.bits = [0; WORDS];
                } else {
                    self.shift_left(ahead as u32);
                }
                self.bits[0] |= 1;
                self.max_seen = Some(seq);
            }
            Some(max) => {
                let behind = max - seq;
                if behind < u64::from(self.size) {
                    let i = behind as u32;
                    self.bits[(i / 64) as usize] |= 1 << (i % 64);
                }
            }
        }
    }

    /// [`check`](Self::check) then [`mark`](Self::mark): true when `seq` was new.
    pub fn accept(&mut self, seq: u64) -> bool {
        let ok = self.check(seq);
        if ok {
            self.mark(seq);
        }
        ok
    }

    fn bit(&self, i: u32) -> bool {
        self.bits[(i / 64) as usize] >> (i % 64) & 1 == 1
    }

    /// Shifts the bitmap left by `n` < size bits and clears bits at or above `size`.
    fn shift_left(&mut self, n: u32) {
        let words = (n / 64) as usize;
        let bits = n % 64;
        let old = self.bits;
        for i in (0..WORDS).rev() {
            let mut v = 0;
            if i >= words {
                v = old[i - words] << bits;
                if bits > 0 && i > words {
                    v |= old[i - words - 1] >> (64 - bits);
                }
            }
            self.bits[i] = v;
        }
        for (i, word) in self.bits.iter_mut().enumerate() {
            let lo = (i as u32) * 64;
            if self.size <= lo {
                *word = 0;
            } else if self.size < lo + 64 {
                *word &= (1u64 << (self.size - lo)) - 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_edges() {
        let mut w = ReplayWindow::new();
        assert!(w.accept(1000));
        assert!(w.check(1000 - 127));
        assert!(!w.check(1000 - 128));
        assert!(!w.accept(1000));
        assert!(w.accept(u64::MAX));
        assert!(!w.check(0));
        assert!(!w.check(u64::MAX));
        assert!(w.check(u64::MAX - 1));
    }

    #[test]
    fn sizes_out_of_range() {
        assert!(ReplayWindow::with_size(0).is_none());
        assert!(ReplayWindow::with_size(257).is_none());
        assert!(ReplayWindow::with_size(1).is_some());
    }
}
