//! Requests waiting for their responses.
//!
//! [`PendingPool`]: one ring per worker of waiting requests in arrival order, so the oldest is
//! always at the head: unanswered requests leave from there when their window passes, and when
//! the ring is full the oldest is pushed out. Entries are addressed by a sequence number that is
//! never reused, so a flow's stale reference to an entry that left is simply not found. Each
//! waiting entry owns one half-built `l7_flow_log` row in a slab beside the ring; a row leaves
//! with its request and is the next one handed out (last freed, first reused), so the rows being
//! filled stay in the core's cache while the ring's small entries cycle through its capacity.
//! [`PendingRefs`]: a flow's own list of at most [`PER_FLOW`] pending entries (DeepFlow's limit of
//! 16 outstanding requests per flow), each with its pairing key (DNS id, HTTP/2 stream id; 0 for
//! in-order protocols).

use crate::record::L7FlowLog;

/// Outstanding requests per flow.
pub const PER_FLOW: usize = 16;

/// One place of the ring.
#[derive(Debug, Clone, Copy)]
struct Entry {
    seq: u64,
    live: bool,
    deadline_ns: u64,
    slot: u32,
    flow_id: u64,
    /// Its row in [`PendingPool::rows`] while live.
    row: u32,
    /// On the request log blacklist: neither written nor counted when it leaves.
    hidden: bool,
}

/// One pending request, as a caller sees it: the row it may fill or report.
#[derive(Debug)]
pub struct PendingEntry<'a> {
    pub deadline_ns: u64,
    /// The owning flow's L7 state slot and flow id (to find it again at expiry).
    pub slot: u32,
    pub flow_id: u64,
    pub row: &'a mut L7FlowLog,
    /// On the request log blacklist ([`super::blacklist`]): not written, not counted.
    pub hidden: bool,
}

/// The ring of pending requests and their rows.
#[derive(Debug)]
pub struct PendingPool {
    entries: Vec<Entry>,
    /// At most one per live entry, so never more than the ring's capacity.
    rows: Vec<L7FlowLog>,
    /// Rows no entry holds, the last freed at the end.
    free_rows: Vec<u32>,
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
            rows: Vec::with_capacity(cap as usize),
            free_rows: Vec::with_capacity(cap as usize),
            cap: u64::from(cap),
            head: 0,
            tail: 0,
        }
    }

    /// Most bytes a pool of `capacity` entries takes.
    pub fn memory_bytes(capacity: u32) -> u64 {
        let per = std::mem::size_of::<Entry>() + std::mem::size_of::<L7FlowLog>() + 4;
        u64::from(capacity.max(1)) * per as u64
    }

    fn index(&self, seq: u64) -> usize {
        (seq % self.cap) as usize
    }

    pub fn is_full(&self) -> bool {
        self.tail - self.head == self.cap
    }

    /// Entry `i`, which was live, leaves: its row goes back (to be handed out next) and is
    /// returned with it for the caller to fill or report before anything else is pushed.
    fn leave(&mut self, i: usize) -> PendingEntry<'_> {
        let e = &mut self.entries[i];
        e.live = false;
        let e = *e;
        self.free_rows.push(e.row);
        PendingEntry {
            deadline_ns: e.deadline_ns,
            slot: e.slot,
            flow_id: e.flow_id,
            row: &mut self.rows[e.row as usize],
            hidden: e.hidden,
        }
    }

    /// Removes the oldest entry; returns it when it was still waiting (the caller reports it).
    pub fn pop_oldest(&mut self) -> Option<PendingEntry<'_>> {
        if self.head == self.tail {
            return None;
        }
        let i = self.index(self.head);
        self.head += 1;
        self.entries[i].live.then(|| self.leave(i))
    }

    /// Removes and returns the oldest waiting entry if its deadline has passed at `now_ns`
    /// (answered entries at the head are dropped on the way).
    pub fn pop_expired(&mut self, now_ns: u64) -> Option<PendingEntry<'_>> {
        while self.head < self.tail {
            let i = self.index(self.head);
            let e = &self.entries[i];
            if e.live && e.deadline_ns > now_ns {
                return None;
            }
            self.head += 1;
            if e.live {
                return Some(self.leave(i));
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
        let row = match self.free_rows.pop() {
            Some(r) => {
                self.rows[r as usize].reset();
                r
            }
            None => {
                self.rows.push(L7FlowLog::default());
                (self.rows.len() - 1) as u32
            }
        };
        let e = Entry {
            seq,
            live: true,
            deadline_ns,
            slot,
            flow_id,
            row,
            hidden: false,
        };
        if i == self.entries.len() {
            self.entries.push(e);
        } else {
            debug_assert!(!self.entries[i].live, "the ring's place was left");
            self.entries[i] = e;
        }
        (seq, &mut self.rows[row as usize])
    }

    /// Takes the waiting entry `seq` out of the pool (None when it already left).
    pub fn take(&mut self, seq: u64) -> Option<PendingEntry<'_>> {
        let i = self.index(seq);
        let e = self.entries.get(i)?;
        (e.live && e.seq == seq).then(|| self.leave(i))
    }

    /// The waiting entry `seq`, left in the pool: its flow id and row.
    pub fn get_mut(&mut self, seq: u64) -> Option<(u64, &mut L7FlowLog)> {
        let e = self.entries.get(self.index(seq))?;
        if !(e.live && e.seq == seq) {
            return None;
        }
        let (flow_id, row) = (e.flow_id, e.row);
        Some((flow_id, &mut self.rows[row as usize]))
    }

    /// Marks waiting entry `seq` as on the blacklist.
    pub fn hide(&mut self, seq: u64) {
        let i = self.index(seq);
        if let Some(e) = self.entries.get_mut(i).filter(|e| e.live && e.seq == seq) {
            e.hidden = true;
        }
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
        let (a, row) = p.push(0, 1, 100);
        row.flow_id = 9;
        let (b, row) = p.push(0, 1, 50);
        row.flow_id = 7;
        let (c, _) = p.push(0, 1, 300);
        assert!(p.is_full());
        assert!(p.pop_expired(99).is_none(), "the head (a) waits until 100");
        assert_eq!(p.take(b).map(|e| e.row.flow_id), Some(7));
        assert!(p.take(b).is_none());
        let e = p.pop_expired(100).expect("a expired");
        assert_eq!((e.deadline_ns, e.row.flow_id), (100, 9));
        assert!(p.pop_expired(200).is_none(), "b answered, c waits");
        // d takes the row freed last (a's), reset; no row is added.
        let (d, row) = p.push(0, 1, 400);
        assert_eq!(row.flow_id, 0);
        assert_eq!(p.rows.len(), 3);
        assert_eq!(p.get_mut(d).map(|(id, _)| id), Some(1));
        assert!(!p.is_waiting(a) && p.is_waiting(c) && p.is_waiting(d));
        let (_, _) = p.push(0, 1, 500);
        assert!(p.is_full());
        assert_eq!(p.pop_oldest().map(|e| e.deadline_ns), Some(300));
        assert!(!p.is_waiting(c));
        assert_eq!(p.rows.len(), 3, "never more rows than places");
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
