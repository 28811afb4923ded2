//! Bounded bookkeeping of which sequence ranges one direction has sent, to tell new data from
//! retransmissions and out-of-order segments (DeepFlow keeps 16 ranges per direction).

use super::seq::SeqNumber;
use crate::block_pool::{BlockPool, BlockRef};

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

/// Ranges kept in the flow itself; a direction that needs more (several holes at once) takes a
/// block of [`MAX_RANGES`] from the analyzer's [`RangePool`].
pub const INLINE_RANGES: usize = 2;

/// Seen ranges `[start, end)` as offsets from a base sequence number, sorted, disjoint, not
/// adjacent: up to [`INLINE_RANGES`] inline, up to [`MAX_RANGES`] in a pooled block.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeqRanges {
    base: SeqNumber,
    has_base: bool,
    len: u8,
    inline: [(u32, u32); INLINE_RANGES],
    /// The pool block holding the ranges (none: inline).
    block: BlockRef,
}

/// Blocks of [`MAX_RANGES`] ranges for the directions that need more than [`INLINE_RANGES`]
/// (bounded; taken on demand, given back when the flow closes). When none is left a direction
/// keeps its newest [`INLINE_RANGES`] ranges, and the miss is counted.
pub type RangePool = BlockPool<[(u32, u32); MAX_RANGES]>;

/// Blocks for a flow table of `flow_capacity`: one for every fourth TCP direction at once (holes
/// in several places at a time are rare; a miss is counted).
pub fn range_blocks_for(flow_capacity: u32) -> usize {
    (flow_capacity as usize / 2).max(64)
}

/// Gives `r`'s block back (a closing flow).
pub(super) fn release(pool: &mut RangePool, r: &mut SeqRanges) {
    if r.block.is_some() {
        pool.release(&mut r.block);
        r.len = r.len.min(INLINE_RANGES as u8);
    }
}

const HALF_SPACE: u32 = 1 << 31;

/// An insertion needs one more range than the store holds, and the store may grow.
struct NeedRoom;

impl SeqRanges {
    /// Sets the base (the first sequence number after the SYN, or the first seen). A pooled
    /// block stays with the direction.
    pub fn set_base(&mut self, base: SeqNumber) {
        *self = SeqRanges {
            base,
            has_base: true,
            block: self.block,
            ..SeqRanges::default()
        };
    }

    pub fn has_base(&self) -> bool {
        self.has_base
    }

    /// Records segment `[seq, seq+len)` and classifies it. `len` must be > 0.
    pub fn insert(&mut self, seq: SeqNumber, len: u32, pool: &mut RangePool) -> SeqOutcome {
        if !self.has_base {
            self.set_base(seq);
        }
        let start = seq.offset_from(self.base);
        if start >= HALF_SPACE || len >= HALF_SPACE {
            return SeqOutcome::Unknown;
        }
        let end = start.saturating_add(len).min(HALF_SPACE - 1);
        // Data beyond the first half of the space: rebase to keep offsets meaningful.
        let (start, end) = if end >= HALF_SPACE - 1 {
            self.set_base(seq);
            (0, len.min(HALF_SPACE - 1))
        } else {
            (start, end)
        };
        loop {
            let may_grow = !self.block.is_some();
            let SeqRanges {
                len: n,
                inline,
                block,
                ..
            } = self;
            let store: &mut [(u32, u32)] = match pool.get_mut(*block) {
                Some(b) => &mut b[..],
                None => &mut inline[..],
            };
            match classify(store, n, start, end, may_grow) {
                Ok(outcome) => return outcome,
                Err(NeedRoom) => match pool.take() {
                    Some(b) => {
                        let k = usize::from(self.len);
                        if let Some(block) = pool.get_mut(b) {
                            block[..k].copy_from_slice(&self.inline[..k]);
                        }
                        self.block = b;
                    }
                    // None left: keep the newest ranges inline (counted in the pool).
                    None => {
                        let SeqRanges { len: n, inline, .. } = self;
                        return classify(inline, n, start, end, false)
                            .unwrap_or(SeqOutcome::Unknown);
                    }
                },
            }
        }
    }

    /// Number of ranges held (for tests).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Classifies `[start, end)` against the `*n` ranges of `store` (its length is the capacity) and
/// records it. Err when a range must be added to a full store that may grow instead (nothing
/// changed then).
fn classify(
    store: &mut [(u32, u32)],
    n: &mut u8,
    start: u32,
    end: u32,
    may_grow: bool,
) -> Result<SeqOutcome, NeedRoom> {
    let len = usize::from(*n);
    let full = len == store.len();
    if len == 0 {
        push(store, n, start, end);
        return Ok(SeqOutcome::New);
    }
    let last_end = store[len - 1].1;
    if start >= last_end {
        if start == last_end {
            store[len - 1].1 = end;
        } else {
            if full && may_grow {
                return Err(NeedRoom);
            }
            push(store, n, start, end);
        }
        return Ok(SeqOutcome::New);
    }
    // start < last_end: inside a range, or in a gap.
    for i in 0..len {
        let (a, b) = store[i];
        if start >= a && start < b {
            if end > b {
                store[i].1 = end;
                coalesce(store, n);
            }
            return Ok(SeqOutcome::Retransmission);
        }
        if start < a {
            // In the gap before range i.
            if end > a {
                return Ok(SeqOutcome::PartialOverlap);
            }
            if full && may_grow {
                return Err(NeedRoom);
            }
            insert_at(store, n, i, start, end);
            return Ok(SeqOutcome::OutOfOrder);
        }
    }
    Ok(SeqOutcome::Unknown)
}

fn push(store: &mut [(u32, u32)], n: &mut u8, start: u32, end: u32) {
    if usize::from(*n) == store.len() {
        store.copy_within(1.., 0);
        *n -= 1;
    }
    store[usize::from(*n)] = (start, end);
    *n += 1;
}

fn insert_at(store: &mut [(u32, u32)], n: &mut u8, i: usize, start: u32, end: u32) {
    let len = usize::from(*n);
    if len == store.len() {
        if i == 0 {
            // Older than everything kept and no room: merge into the first range's gap is
            // impossible without inventing data, so forget it.
            return;
        }
        store.copy_within(1..i, 0);
        store[i - 1] = (start, end);
        coalesce(store, n);
        return;
    }
    store.copy_within(i..len, i + 1);
    store[i] = (start, end);
    *n += 1;
    coalesce(store, n);
}

/// Merges touching or overlapping neighbours (at most 16 ranges: a linear pass).
fn coalesce(store: &mut [(u32, u32)], n: &mut u8) {
    let len = usize::from(*n);
    if len < 2 {
        return;
    }
    let mut w = 0;
    for r in 1..len {
        let (c, d) = store[r];
        if store[w].1 >= c {
            store[w].1 = store[w].1.max(d);
        } else {
            w += 1;
            store[w] = (c, d);
        }
    }
    *n = (w + 1) as u8;
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
        let (mut s, mut p) = (r(), RangePool::new(4));
        let b = SeqNumber(u32::MAX - 100);
        assert_eq!(s.insert(b, 100, &mut p), SeqOutcome::New);
        assert_eq!(s.insert(b + 100, 100, &mut p), SeqOutcome::New);
        assert_eq!(s.len(), 1);
        assert_eq!(s.insert(b + 50, 100, &mut p), SeqOutcome::Retransmission);
        assert_eq!(s.insert(b, 200, &mut p), SeqOutcome::Retransmission);
    }

    #[test]
    fn gap_then_out_of_order_fill() {
        let (mut s, mut p) = (r(), RangePool::new(4));
        let b = SeqNumber(u32::MAX - 100);
        assert_eq!(s.insert(b, 100, &mut p), SeqOutcome::New);
        assert_eq!(s.insert(b + 200, 100, &mut p), SeqOutcome::New);
        assert_eq!(s.len(), 2);
        assert_eq!(s.insert(b + 100, 100, &mut p), SeqOutcome::OutOfOrder);
        assert_eq!(s.len(), 1, "gap filled and merged");
        assert_eq!(s.insert(b + 150, 10, &mut p), SeqOutcome::Retransmission);
    }

    #[test]
    fn partial_overlap_is_not_retransmission() {
        let (mut s, mut p) = (r(), RangePool::new(4));
        let b = SeqNumber(u32::MAX - 100);
        s.insert(b, 100, &mut p);
        s.insert(b + 200, 100, &mut p);
        assert_eq!(s.insert(b + 150, 100, &mut p), SeqOutcome::PartialOverlap);
    }

    #[test]
    fn bounded_to_max_ranges() {
        let (mut s, mut p) = (r(), RangePool::new(4));
        let b = SeqNumber(u32::MAX - 100);
        for i in 0..40u32 {
            assert_eq!(s.insert(b + i * 200, 100, &mut p), SeqOutcome::New);
        }
        assert_eq!(s.len(), MAX_RANGES);
        // The newest ranges are kept: a retransmission of recent data is still recognised.
        assert_eq!(
            s.insert(b + 39 * 200, 100, &mut p),
            SeqOutcome::Retransmission
        );
        // Old data beyond what is kept falls into the first kept gap region or is forgotten.
        let _ = s.insert(b + 0, 100, &mut p);
        assert!(s.len() <= MAX_RANGES);
    }

    /// A direction with more holes than fit inline takes a block, and gives it back on release;
    /// with no block left it keeps its newest ranges inline, counted.
    #[test]
    fn blocks_are_taken_on_demand_and_given_back() {
        let b = SeqNumber(u32::MAX - 100);
        let mut p = RangePool::new(1);
        let (mut s, mut t) = (r(), r());
        for i in 0..INLINE_RANGES as u32 {
            assert_eq!(s.insert(b + i * 200, 100, &mut p), SeqOutcome::New);
        }
        assert_eq!(p.in_use(), 0, "inline so far");
        assert_eq!(s.insert(b + 1_000, 100, &mut p), SeqOutcome::New);
        assert_eq!(p.in_use(), 1);
        assert_eq!(s.len(), INLINE_RANGES + 1);
        // Filling the holes: out of order, then retransmissions, all remembered.
        assert_eq!(s.insert(b + 100, 100, &mut p), SeqOutcome::OutOfOrder);
        assert_eq!(s.insert(b + 50, 10, &mut p), SeqOutcome::Retransmission);
        // The pool is empty: t keeps its newest two ranges inline, and the miss is counted.
        for i in 0..4u32 {
            assert_eq!(t.insert(b + i * 200, 100, &mut p), SeqOutcome::New);
        }
        assert_eq!(t.len(), INLINE_RANGES);
        assert_eq!(p.exhausted, 2);
        assert_eq!(
            t.insert(b + 3 * 200, 100, &mut p),
            SeqOutcome::Retransmission
        );
        release(&mut p, &mut s);
        assert_eq!(p.in_use(), 0);
        // The block is taken again by the next direction that needs one.
        assert_eq!(t.insert(b + 2_000, 100, &mut p), SeqOutcome::New);
        assert_eq!(p.in_use(), 1);
        assert_eq!(t.len(), INLINE_RANGES + 1);
    }

    /// Ranges that start inline and move to a block when needed classify every segment as
    /// one fixed array of 16 does (the reference: the same classifier on a 16-range store from
    /// the start), over random segments with holes, retransmissions and overlaps.
    #[test]
    fn growing_into_a_block_changes_no_outcome() {
        let b = SeqNumber(1_000);
        let mut p = RangePool::new(8);
        let mut s = SeqRanges::default();
        s.set_base(b);
        let (mut store, mut n) = ([(0u32, 0u32); MAX_RANGES], 0u8);
        let mut x = 7u32;
        let mut grew = false;
        for _ in 0..20_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let off = (x >> 12) % 200_000;
            let len = 1 + (x & 0x3ff);
            let want =
                classify(&mut store, &mut n, off, off + len, false).unwrap_or(SeqOutcome::Unknown);
            assert_eq!(
                s.insert(b + off, len, &mut p),
                want,
                "segment at {off}+{len}"
            );
            grew |= p.in_use() > 0;
        }
        assert!(grew, "the test never left the inline ranges");
        assert_eq!(p.exhausted, 0);
    }

    #[test]
    fn before_base_is_unknown() {
        let (mut s, mut p) = (r(), RangePool::new(4));
        let b = SeqNumber(u32::MAX - 100);
        s.insert(b, 100, &mut p);
        assert_eq!(
            s.insert(SeqNumber(b.0.wrapping_sub(1000)), 10, &mut p),
            SeqOutcome::Unknown
        );
    }
}
