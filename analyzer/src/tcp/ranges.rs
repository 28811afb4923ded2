//! Bounded bookkeeping of which sequence ranges one direction has sent, to tell new data from
//! retransmissions and out-of-order segments (DeepFlow keeps 16 ranges per direction).

use super::seq::SeqNumber;

/// Ranges kept per direction; when full, the lowest (oldest) range is forgotten.
pub const MAX_RANGES: usize = 16;

/// How a data segment relates to what was seen before in its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqOutcome {
    /// At or beyond the highest byte seen (in order, or after a gap).
    New,
    /// Starts inside data already seen: a retransmission.
    Retransmission,
    /// Fills a gap below data already seen.
    OutOfOrder,
    /// Starts in a gap but runs into data already seen (DeepFlow: an invalid packet).
    PartialOverlap,
    /// Too far before the tracked window to judge (joined mid-stream, or older than 2 GiB).
    Unknown,
}

/// Seen ranges `[start, end)` as offsets from a base sequence number, sorted, disjoint, not adjacent.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeqRanges {
    base: SeqNumber,
    has_base: bool,
    len: u8,
    ranges: [(u32, u32); MAX_RANGES],
}

const HALF_SPACE: u32 = 1 << 31;

impl SeqRanges {
    /// Sets the base (the first sequence number after the SYN, or the first seen).
    pub fn set_base(&mut self, base: SeqNumber) {
        *self = SeqRanges {
            base,
            has_base: true,
            ..SeqRanges::default()
        };
    }

    pub fn has_base(&self) -> bool {
        self.has_base
    }

    /// Records segment `[seq, seq+len)` and classifies it. `len` must be > 0.
    pub fn insert(&mut self, seq: SeqNumber, len: u32) -> SeqOutcome {
        if !self.has_base {
            self.set_base(seq);
        }
        let start = seq.offset_from(self.base);
        if start >= HALF_SPACE || len >= HALF_SPACE {
            return SeqOutcome::Unknown;
        }
        let end = start.saturating_add(len).min(HALF_SPACE - 1);
        // Data beyond the first half of the space: rebase to keep offsets meaningful.
        if end >= HALF_SPACE - 1 {
            self.set_base(seq);
            self.push(0, len.min(HALF_SPACE - 1));
            return SeqOutcome::New;
        }
        let n = usize::from(self.len);
        if n == 0 {
            self.push(start, end);
            return SeqOutcome::New;
        }
        let last_end = self.ranges[n - 1].1;
        if start >= last_end {
            if start == last_end {
                self.ranges[n - 1].1 = end;
            } else {
                self.push(start, end);
            }
            return SeqOutcome::New;
        }
        // start < last_end: inside a range, or in a gap.
        for i in 0..n {
            let (a, b) = self.ranges[i];
            if start >= a && start < b {
                if end > b {
                    self.ranges[i].1 = end;
                    self.coalesce();
                }
                return SeqOutcome::Retransmission;
            }
            if start < a {
                // In the gap before range i.
                if end > a {
                    return SeqOutcome::PartialOverlap;
                }
                self.insert_at(i, start, end);
                return SeqOutcome::OutOfOrder;
            }
        }
        SeqOutcome::Unknown
    }

    fn push(&mut self, start: u32, end: u32) {
        if usize::from(self.len) == MAX_RANGES {
            self.ranges.copy_within(1.., 0);
            self.len -= 1;
        }
        self.ranges[usize::from(self.len)] = (start, end);
        self.len += 1;
    }

    fn insert_at(&mut self, i: usize, start: u32, end: u32) {
        let n = usize::from(self.len);
        if n == MAX_RANGES {
            if i == 0 {
                // Older than everything kept and no room: merge into the first range's gap is
                // impossible without inventing data, so forget it.
                return;
            }
            self.ranges.copy_within(1..i, 0);
            self.ranges[i - 1] = (start, end);
            self.coalesce();
            return;
        }
        self.ranges.copy_within(i..n, i + 1);
        self.ranges[i] = (start, end);
        self.len += 1;
        self.coalesce();
    }

    /// Merges touching or overlapping neighbours (at most 16 ranges: a linear pass).
    fn coalesce(&mut self) {
        let n = usize::from(self.len);
        if n < 2 {
            return;
        }
        let mut w = 0;
        for r in 1..n {
            let (c, d) = self.ranges[r];
            if self.ranges[w].1 >= c {
                self.ranges[w].1 = self.ranges[w].1.max(d);
            } else {
                w += 1;
                self.ranges[w] = (c, d);
            }
        }
        self.len = (w + 1) as u8;
    }

    /// Number of ranges held (for tests).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> SeqRanges {
        let mut r = SeqRanges::default();
        r.set_base(SeqNumber(u32::MAX - 100));
        r
    }

    #[test]
    fn in_order_then_retransmission() {
        let mut s = r();
        let b = SeqNumber(u32::MAX - 100);
        assert_eq!(s.insert(b, 100), SeqOutcome::New);
        assert_eq!(s.insert(b + 100, 100), SeqOutcome::New);
        assert_eq!(s.len(), 1);
        assert_eq!(s.insert(b + 50, 100), SeqOutcome::Retransmission);
        assert_eq!(s.insert(b, 200), SeqOutcome::Retransmission);
    }

    #[test]
    fn gap_then_out_of_order_fill() {
        let mut s = r();
        let b = SeqNumber(u32::MAX - 100);
        assert_eq!(s.insert(b, 100), SeqOutcome::New);
        assert_eq!(s.insert(b + 200, 100), SeqOutcome::New);
        assert_eq!(s.len(), 2);
        assert_eq!(s.insert(b + 100, 100), SeqOutcome::OutOfOrder);
        assert_eq!(s.len(), 1, "gap filled and merged");
        assert_eq!(s.insert(b + 150, 10), SeqOutcome::Retransmission);
    }

    #[test]
    fn partial_overlap_is_not_retransmission() {
        let mut s = r();
        let b = SeqNumber(u32::MAX - 100);
        s.insert(b, 100);
        s.insert(b + 200, 100);
        assert_eq!(s.insert(b + 150, 100), SeqOutcome::PartialOverlap);
    }

    #[test]
    fn bounded_to_max_ranges() {
        let mut s = r();
        let b = SeqNumber(u32::MAX - 100);
        for i in 0..40u32 {
            assert_eq!(s.insert(b + i * 200, 100), SeqOutcome::New);
        }
        assert_eq!(s.len(), MAX_RANGES);
        // The newest ranges are kept: a retransmission of recent data is still recognised.
        assert_eq!(s.insert(b + 39 * 200, 100), SeqOutcome::Retransmission);
        // Old data beyond what is kept falls into the first kept gap region or is forgotten.
        let _ = s.insert(b + 0, 100);
        assert!(s.len() <= MAX_RANGES);
    }

    #[test]
    fn before_base_is_unknown() {
        let mut s = r();
        let b = SeqNumber(u32::MAX - 100);
        s.insert(b, 100);
        assert_eq!(
            s.insert(SeqNumber(b.0.wrapping_sub(1000)), 10),
            SeqOutcome::Unknown
        );
    }
}
