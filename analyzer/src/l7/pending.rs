//! Requests waiting for their responses.
//!
//! [`PendingPool`]: one ring per worker of half-built `l7_flow_log` rows in arrival order, so the
//! oldest is always at the head: unanswered requests leave from there when their window passes,
//! and when the ring is full the oldest is pushed out. Entries are addressed by a sequence number
//! that is never reused, so a flow's stale reference to an entry that left is simply not found.
//! [`PendingRefs`]: a flow's own list of at most [`PER_FLOW`] pending entries (DeepFlow's limit of
//! 16 outstanding requests per flow), each with its pairing key (DNS id, HTTP/2 stream id; 0 for
//! in-order protocols).

use crate::record::L7FlowLog;

/// Outstanding requests per flow.
pub const PER_FLOW: usize = 16;

/// One pending request.
#[derive(Debug)]
pub struct PendingEntry {
    seq: u64,
    live: bool,
    pub deadline_ns: u64,
    /// The owning flow's L7 state slot and flow id (to find it again at expiry).
    pub slot: u32,
    pub flow_id: u64,
    pub row: L7FlowLog,
}

/// The ring of pending requests.
#[derive(Debug)]
pub struct PendingPool {
    entries: Vec<PendingEntry>,
    cap: u64,
    head: u64,
    tail: u64,
}

impl PendingPool {
    /// A ring of `capacity` entries; memory is reserved now and touched as it fills.
    pub fn new(capacity: u32) -> Self {
        let cap = capacity.max(1);
        PendingPool {
            entries: Vec::with_capacity(cap as usize),
            cap: u64::from(cap),
            head: 0,
            tail: 0,
        }
    }

    fn index(&self, seq: u64) -> usize {
        (seq % self.cap) as usize
    }

    pub fn is_full(&self) -> bool {
        self.tail - self.head == self.cap
    }

    /// Removes the oldest entry; returns it when it was still waiting (the caller reports it).
    pub fn pop_oldest(&mut self) -> Option<&mut PendingEntry> {
        if self.head == self.tail {
            return None;
        }
        let i = self.index(self.head);
        self.head += 1;
        let e = &mut self.entries[i];
        let was_live = e.live;
        e.live = false;
        was_live.then_some(e)
    }

    /// Removes and returns the oldest waiting entry if its deadline has passed at `now_ns`
    /// (answered entries at the head are dropped on the way).
    pub fn pop_expired(&mut self, now_ns: u64) -> Option<&mut PendingEntry> {
        while self.head < self.tail {
            let i = self.index(self.head);
            let e = &self.entries[i];
            if e.live && e.deadline_ns > now_ns {
                return None;
            }
            self.head += 1;
            if e.live {
                let e = &mut self.entries[i];
                e.live = false;
                return Some(e);
            }
        }
        None
    }

    /// Adds an entry (the pool must not be full); returns its sequence number and the row to
    /// fill, reset to defaults.
    pub fn push(&mut self, slot: u32, flow_id: u64, deadline_ns: u64) -> (u64, &mut L7FlowLog) {
        debug_assert!(!self.is_full());
        let seq = self.tail;
        self.tail += 1;
        let i = self.index(seq);
        if i == self.entries.len() {
            self.entries.push(PendingEntry {
                seq,
                live: true,
                deadline_ns,
                slot,
                flow_id,
                row: L7FlowLog::default(),
            });
        } else {
            let e = &mut self.entries[i];
            e.seq = seq;
            e.live = true;
            e.deadline_ns = deadline_ns;
            e.slot = slot;
            e.flow_id = flow_id;
            e.row = L7FlowLog::default();
        }
        (seq, &mut self.entries[i].row)
    }

    /// Takes the waiting entry `seq` out of the pool (None when it already left).
    pub fn take(&mut self, seq: u64) -> Option<&mut PendingEntry> {
        let i = self.index(seq);
        let e = self.entries.get_mut(i)?;
        if e.live && e.seq == seq {
            e.live = false;
            Some(e)
        } else {
            None
        }
    }

    /// The waiting entry `seq`, left in the pool.
    pub fn get_mut(&mut self, seq: u64) -> Option<&mut PendingEntry> {
        let i = self.index(seq);
        self.entries.get_mut(i).filter(|e| e.live && e.seq == seq)
    }

    /// Is entry `seq` still waiting?
    pub fn is_waiting(&self, seq: u64) -> bool {
        self.entries
            .get(self.index(seq))
            .is_some_and(|e| e.live && e.seq == seq)
    }
}

/// A flow's pending requests, oldest first.
#[derive(Debug, Clone, Copy, Default)]
pub struct PendingRefs {
    seq: [u64; PER_FLOW],
    key: [u32; PER_FLOW],
    len: u8,
}

impl PendingRefs {
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a reference; when full, the oldest is pushed out and returned.
    pub fn push(&mut self, seq: u64, key: u32) -> Option<u64> {
        let mut out = None;
        if self.len() == PER_FLOW {
            out = Some(self.remove(0).0);
        }
        let n = self.len();
        self.seq[n] = seq;
        self.key[n] = key;
        self.len += 1;
        out
    }

    fn remove(&mut self, i: usize) -> (u64, u32) {
        let n = self.len();
        let r = (self.seq[i], self.key[i]);
        self.seq.copy_within(i + 1..n, i);
        self.key.copy_within(i + 1..n, i);
        self.len -= 1;
        r
    }

    /// Removes and returns the oldest reference with `key`.
    pub fn take_key(&mut self, key: u32) -> Option<u64> {
        let i = self.key[..self.len()].iter().position(|k| *k == key)?;
        Some(self.remove(i).0)
    }

    /// Removes and returns the oldest reference.
    pub fn take_oldest(&mut self) -> Option<u64> {
        (!self.is_empty()).then(|| self.remove(0).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_order_expiry_and_eviction() {
        let mut p = PendingPool::new(3);
        let (a, _) = p.push(0, 1, 100);
        let (b, row) = p.push(0, 1, 50);
        row.flow_id = 7;
        let (c, _) = p.push(0, 1, 300);
        assert!(p.is_full());
        assert!(p.pop_expired(99).is_none(), "the head (a) waits until 100");
        assert_eq!(p.take(b).map(|e| e.row.flow_id), Some(7));
        assert!(p.take(b).is_none());
        assert!(p.pop_expired(100).is_some_and(|e| e.deadline_ns == 100));
        assert!(p.pop_expired(200).is_none(), "b answered, c waits");
        let (d, _) = p.push(0, 1, 400);
        assert!(!p.is_waiting(a) && p.is_waiting(c) && p.is_waiting(d));
        let (_, _) = p.push(0, 1, 500);
        assert!(p.is_full());
        assert_eq!(p.pop_oldest().map(|e| e.deadline_ns), Some(300));
        assert!(!p.is_waiting(c));
    }

    #[test]
    fn refs_by_key_and_order() {
        let mut r = PendingRefs::default();
        for i in 0..PER_FLOW as u64 {
            assert_eq!(r.push(i, i as u32 % 3), None);
        }
        assert_eq!(r.push(99, 5), Some(0), "oldest pushed out");
        assert_eq!(r.take_key(2), Some(2));
        assert_eq!(r.take_oldest(), Some(1));
        assert_eq!(r.take_key(5), Some(99));
        assert_eq!(r.len(), PER_FLOW - 3);
    }
}
