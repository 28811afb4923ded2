//! A hashed timer wheel with one-second slots and intrusive lists over slab indexes: O(1)
//! schedule/cancel, no allocation after construction.

const NIL: u32 = u32::MAX;
const NS_PER_SEC: u64 = 1_000_000_000;

/// An entry's place in its slot's list (16 bytes: the slot follows from the deadline).
#[derive(Debug, Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
    /// The deadline, ns, as two halves (4-byte alignment keeps the link at 16 bytes);
    /// [`NOT_SCHEDULED`] when the entry is in no list.
    deadline: [u32; 2],
}

/// The deadline of an entry in no list (a scheduled deadline is at most one less).
const NOT_SCHEDULED: u64 = u64::MAX;

impl Link {
    #[inline]
    fn deadline_ns(&self) -> u64 {
        (u64::from(self.deadline[0]) << 32) | u64::from(self.deadline[1])
    }
}

const fn halves(ns: u64) -> [u32; 2] {
    [(ns >> 32) as u32, ns as u32]
}

const UNLINKED: Link = Link {
    prev: NIL,
    next: NIL,
    deadline: halves(NOT_SCHEDULED),
};

/// Timer wheel over entries `0..capacity`.
#[derive(Debug)]
pub struct TimerWheel {
    heads: Box<[u32]>,
    mask: u64,
    links: Vec<Link>,
    /// Last second whose slot was fully processed (None before the first advance).
    cursor_s: Option<u64>,
    /// While processing a slot: the next entry to examine.
    scan: Option<u32>,
}

impl TimerWheel {
    /// A wheel for `capacity` entries whose deadlines are at most `horizon_ns` ahead.
    pub fn new(capacity: usize, horizon_ns: u64) -> Self {
        let slots = (horizon_ns / NS_PER_SEC + 2).next_power_of_two() as usize;
        TimerWheel {
            heads: vec![NIL; slots].into_boxed_slice(),
            mask: slots as u64 - 1,
            links: Vec::with_capacity(capacity),
            cursor_s: None,
            scan: None,
        }
    }

    /// Where entry `idx`'s link lies (an address to prefetch; None before it was first
    /// scheduled).
    #[inline(always)]
    pub fn link_line(&self, idx: u32) -> Option<*const u8> {
        self.links
            .get(idx as usize)
            .map(|l| std::ptr::from_ref(l).cast())
    }

    fn ensure(&mut self, idx: u32) {
        let i = idx as usize;
        if i >= self.links.len() {
            // Only grows up to the capacity reserved in `new` (the table never exceeds it).
            self.links.resize(i + 1, UNLINKED);
        }
    }

    fn unlink(&mut self, idx: u32) {
        let l = self.links[idx as usize];
        let deadline_ns = l.deadline_ns();
        if deadline_ns == NOT_SCHEDULED {
            return;
        }
        if self.scan == Some(idx) {
            self.scan = Some(l.next);
        }
        if l.prev == NIL {
            self.heads[self.slot_of(deadline_ns)] = l.next;
        } else {
            self.links[l.prev as usize].next = l.next;
        }
        if l.next != NIL {
            self.links[l.next as usize].prev = l.prev;
        }
        self.links[idx as usize] = UNLINKED;
    }

    #[inline]
    fn slot_of(&self, deadline_ns: u64) -> usize {
        (deadline_ns.div_ceil(NS_PER_SEC) & self.mask) as usize
    }

    /// Bytes per entry.
    pub const fn bytes_per_entry() -> usize {
        std::mem::size_of::<Link>()
    }

    /// Schedules (or reschedules) entry `idx` to expire at `deadline_ns`.
    pub fn schedule(&mut self, idx: u32, deadline_ns: u64) {
        self.ensure(idx);
        let deadline_ns = deadline_ns.min(NOT_SCHEDULED - 1);
        let slot = self.slot_of(deadline_ns);
        let old = self.links[idx as usize].deadline_ns();
        if old != NOT_SCHEDULED && self.slot_of(old) == slot {
            // Same slot (the usual case: another packet within the second): the list stays,
            // and its neighbours are not touched.
            self.links[idx as usize].deadline = halves(deadline_ns);
            return;
        }
        self.unlink(idx);
        let head = self.heads[slot];
        self.links[idx as usize] = Link {
            prev: NIL,
            next: head,
            deadline: halves(deadline_ns),
        };
        if head != NIL {
            self.links[head as usize].prev = idx;
        }
        self.heads[slot] = idx;
    }

    /// Removes every entry (the cursor stays: time does not go back).
    pub fn clear(&mut self) {
        self.heads.fill(NIL);
        self.links.clear();
        self.scan = None;
    }

    /// Removes entry `idx` from the wheel.
    pub fn cancel(&mut self, idx: u32) {
        if (idx as usize) < self.links.len() {
            self.unlink(idx);
        }
    }

    /// Next entry whose deadline is `<= now_ns`, unlinked; `None` when there is none left.
    /// Call repeatedly until `None` after time advances.
    pub fn next_expired(&mut self, now_ns: u64) -> Option<u32> {
        let now_s = now_ns / NS_PER_SEC;
        let slots = self.heads.len() as u64;
        loop {
            let idx = match self.scan {
                Some(idx) => idx,
                None => {
                    let cursor = match self.cursor_s {
                        Some(c) => c,
                        None => {
                            self.cursor_s = Some(now_s.saturating_sub(1));
                            now_s.saturating_sub(1)
                        }
                    };
                    if cursor >= now_s {
                        return None;
                    }
                    // After a long gap, visit each slot once.
                    let next = if now_s - cursor > slots {
                        now_s - slots + 1
                    } else {
                        cursor + 1
                    };
                    self.cursor_s = Some(next);
                    let head = self.heads[(next & self.mask) as usize];
                    self.scan = Some(head);
                    head
                }
            };
            if idx == NIL {
                self.scan = None;
                continue;
            }
            let l = self.links[idx as usize];
            self.scan = Some(l.next);
            if l.deadline_ns() <= now_ns {
                self.unlink(idx);
                return Some(idx);
            }
        }
    }

    /// The scheduled entry with the earliest slot at or after the cursor (for eviction).
    pub fn soonest(&self) -> Option<u32> {
        let start = self.cursor_s.unwrap_or(0);
        (1..=self.heads.len() as u64)
            .map(|i| self.heads[((start + i) & self.mask) as usize])
            .find(|h| *h != NIL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = NS_PER_SEC;

    #[test]
    fn expires_in_deadline_order_by_second() {
        let mut w = TimerWheel::new(8, 10 * S);
        w.next_expired(100 * S);
        w.schedule(0, 105 * S);
        w.schedule(1, 102 * S + 5);
        w.schedule(2, 300 * S); // beyond one rotation: same slot as others later, must not fire early
        assert_eq!(w.next_expired(102 * S), None);
        assert_eq!(w.next_expired(103 * S), Some(1));
        assert_eq!(w.next_expired(103 * S), None);
        w.schedule(0, 104 * S); // rescheduled earlier
        assert_eq!(w.next_expired(110 * S), Some(0));
        assert_eq!(w.next_expired(110 * S), None);
        assert_eq!(w.next_expired(299 * S), None);
        assert_eq!(w.next_expired(300 * S), Some(2));
    }

    /// A deadline at the end of time is still scheduled (the unscheduled mark is not a deadline).
    #[test]
    fn the_last_deadline_is_scheduled() {
        let mut w = TimerWheel::new(4, 10 * S);
        w.next_expired(S);
        w.schedule(1, u64::MAX);
        assert_eq!(w.soonest(), Some(1));
        assert_eq!(w.next_expired(u64::MAX), Some(1));
        assert_eq!(w.soonest(), None);
        assert_eq!(TimerWheel::bytes_per_entry(), 16);
    }

    /// A later deadline in the same slot only moves the deadline: the entry still expires by
    /// its new deadline, and a move to another slot relinks it.
    #[test]
    fn rescheduled_within_its_slot() {
        let mut w = TimerWheel::new(8, 10 * S);
        w.next_expired(100 * S);
        w.schedule(0, 104 * S + 1);
        w.schedule(1, 104 * S + 2);
        w.schedule(0, 104 * S + 900);
        w.schedule(1, 104 * S + 3);
        assert_eq!(w.next_expired(104 * S + 2), None);
        assert_eq!(w.next_expired(105 * S), Some(1));
        assert_eq!(w.next_expired(105 * S), Some(0));
        w.schedule(2, 106 * S + 1);
        w.schedule(2, 108 * S);
        assert_eq!(w.next_expired(107 * S), None);
        assert_eq!(w.soonest(), Some(2));
        assert_eq!(w.next_expired(108 * S), Some(2));
    }

    #[test]
    fn cancel_and_soonest() {
        let mut w = TimerWheel::new(8, 10 * S);
        w.next_expired(10 * S);
        w.schedule(3, 15 * S);
        w.schedule(4, 12 * S);
        assert_eq!(w.soonest(), Some(4));
        w.cancel(4);
        assert_eq!(w.soonest(), Some(3));
        assert_eq!(w.next_expired(20 * S), Some(3));
        assert_eq!(w.soonest(), None);
    }
}
