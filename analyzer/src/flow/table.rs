//! The bounded flow table: a slab preallocated to the configured capacity, a hash index over
//! slab positions, a free list, and the timer wheel. It never grows past its capacity.

use std::hash::{BuildHasher, Hash, Hasher};

use hashbrown::DefaultHashBuilder;

use super::index::FlowIndex;
use super::key::{AddrTails, Endpoint, FlowKey, StoredKey};
use super::node::Flow;
use super::timer::TimerWheel;

/// Why a flow could not be inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertError {
    Full,
}

/// Flows of one worker.
#[derive(Debug)]
pub struct FlowTable {
    flows: Vec<Flow>,
    /// IPv6 flows' address tails, by slot (zero-filled at creation: the pages of an IPv4-only
    /// capture are never touched).
    tails: Vec<AddrTails>,
    index: FlowIndex,
    hasher: DefaultHashBuilder,
    free: Vec<u32>,
    capacity: usize,
    len: usize,
    pub wheel: TimerWheel,
}

impl FlowTable {
    /// A table for at most `capacity` flows with deadlines up to `horizon_ns` ahead.
    pub fn new(capacity: u32, horizon_ns: u64) -> Self {
        let capacity = capacity.max(1) as usize;
        FlowTable {
            flows: Vec::with_capacity(capacity),
            tails: vec![[[0; 12]; 2]; capacity],
            index: FlowIndex::new(capacity),
            hasher: DefaultHashBuilder::default(),
            free: Vec::with_capacity(capacity),
            capacity,
            len: 0,
            wheel: TimerWheel::new(capacity, horizon_ns),
        }
    }

    /// The hash of `key` in this table (of its stored form: hashing a slot's key again builds
    /// nothing). Inlined always, with the stored form's building and hashing: called out of
    /// line (as `#[inline]` left it), the key just built went through memory and the hash's
    /// wide loads waited on its narrow stores (a store-forwarding stall; 4 % of a small-packet
    /// run).
    #[inline(always)]
    pub fn hash(&self, key: &FlowKey) -> u64 {
        let stored = StoredKey::of(key);
        let tails = if stored.is_v6 {
            StoredKey::tails_of(key)
        } else {
            [[0; 12]; 2]
        };
        Self::hash_stored(&self.hasher, &stored, &tails)
    }

    /// The one hash of a stored key (and, for IPv6, its tails): lookups and the slots' rehash
    /// and removal all use it.
    #[inline(always)]
    fn hash_stored(hasher: &DefaultHashBuilder, key: &StoredKey, tails: &AddrTails) -> u64 {
        // One hasher fed inline rather than `hash_one((key, tails))`: the IPv6 branch then takes
        // only the tails' address, and the key just built stays in registers (taken by address
        // for that call, it was stored in pieces and read back in wider loads: a
        // store-forwarding stall, 10 % of the frame loop's samples on 64-byte frames). The same
        // hash values as before.
        let mut h = hasher.build_hasher();
        key.hash(&mut h);
        if key.is_v6 {
            tails.hash(&mut h);
        }
        h.finish()
    }

    /// The cache line a lookup of `hash` reads first: what to prefetch for a packet analysed
    /// soon.
    #[inline]
    pub fn lookup_line(&self, hash: u64) -> *const u8 {
        self.index.home_line(hash)
    }

    /// The slot a lookup of `hash` most likely finds ([`FlowTable::lookup_line`] read, a tag
    /// matched, the key not compared) and that slot's flow, to prefetch from a frame or two
    /// before its lookup. The flow may be another key's, or free: only an address.
    #[inline(always)]
    pub fn likely_flow(&self, hash: u64) -> Option<(u32, &Flow)> {
        let slot = self.index.likely_slot(hash)?;
        self.slot(slot).map(|f| (slot, f))
    }

    #[inline]
    pub fn find(&self, key: &FlowKey, hash: u64) -> Option<u32> {
        let stored = StoredKey::of(key);
        let tails = stored.is_v6.then(|| StoredKey::tails_of(key));
        let (flows, all_tails) = (&self.flows, &self.tails);
        self.index.find(hash, |i| {
            flows[i as usize].key == stored && tails.is_none_or(|t| all_tails[i as usize] == t)
        })
    }

    /// The endpoints of flow `idx`: endpoint 0 (its first sender), then endpoint 1.
    #[inline]
    pub fn endpoints(&self, idx: u32) -> [Endpoint; 2] {
        self.flows[idx as usize].endpoints(&self.tails[idx as usize])
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn is_full(&self) -> bool {
        self.len >= self.capacity
    }

    /// Inserts a flow with key `key` (its stored form is in `flow`), which hashes to `hash`
    /// ([`FlowTable::hash`]; the key must not be present).
    pub fn insert(&mut self, flow: Flow, key: &FlowKey, hash: u64) -> Result<u32, InsertError> {
        if self.is_full() {
            return Err(InsertError::Full);
        }
        let idx = match self.free.pop() {
            Some(i) => {
                self.flows[i as usize] = flow;
                i
            }
            None => {
                self.flows.push(flow);
                (self.flows.len() - 1) as u32
            }
        };
        if key.is_v6 {
            self.tails[idx as usize] = StoredKey::tails_of(key);
        }
        // Sized for the capacity, which `is_full` keeps: the index has room.
        let added = self.index.insert(hash, idx);
        debug_assert!(added);
        self.len += 1;
        Ok(idx)
    }

    /// Removes flow `idx` from the index and the wheel; its slot is reused later.
    pub fn remove(&mut self, idx: u32) {
        let Some(flow) = self.flows.get_mut(idx as usize) else {
            return;
        };
        if !flow.is_active() {
            return;
        }
        flow.set_removed();
        let hash = Self::hash_stored(&self.hasher, &flow.key, &self.tails[idx as usize]);
        self.index.remove(hash, idx);
        self.wheel.cancel(idx);
        self.free.push(idx);
        self.len -= 1;
    }

    /// Removes every flow at once (the index, the wheel and the slab emptied; their memory
    /// kept).
    pub fn clear(&mut self) {
        self.flows.clear();
        self.index.clear();
        self.free.clear();
        self.wheel.clear();
        self.len = 0;
    }

    /// Slot `idx`'s flow, active or not (None past the slots in use).
    #[inline]
    pub fn slot(&self, idx: u32) -> Option<&Flow> {
        self.flows.get(idx as usize)
    }

    #[inline]
    pub fn get(&self, idx: u32) -> &Flow {
        &self.flows[idx as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> &mut Flow {
        &mut self.flows[idx as usize]
    }

    /// Slab positions in use (slab order: deterministic for a given input).
    pub fn slots(&self) -> usize {
        self.flows.len()
    }

    pub fn is_active(&self, idx: u32) -> bool {
        self.flows.get(idx as usize).is_some_and(|f| f.is_active())
    }

    /// Approximate bytes held per flow slot (slab + index + timer link + free list).
    pub fn bytes_per_flow() -> usize {
        std::mem::size_of::<Flow>()
            + FlowIndex::bytes_per_flow()
            + TimerWheel::bytes_per_entry()
            + std::mem::size_of::<u64>()
    }

    /// What the table reserves per flow: [`FlowTable::bytes_per_flow`] and the address tails of
    /// an IPv6 flow (reserved for every slot, touched only by IPv6 flows).
    pub fn reserved_bytes_per_flow() -> usize {
        Self::bytes_per_flow() + std::mem::size_of::<AddrTails>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_flow_size() {
        // Printed for docs/perf.md; asserted loosely so the struct does not silently balloon.
        let b = FlowTable::bytes_per_flow();
        eprintln!(
            "bytes per flow slot: {b} (Flow {} bytes)",
            std::mem::size_of::<Flow>()
        );
        assert!(b < 300, "flow slot grew to {b} bytes");
    }
}
