//! Per-flow L7 state, kept only for flows that speak a parsed protocol: a slab of
//! [`L7Flow`] slots preallocated to `l7 flow_capacity`, linked from the flow by
//! [`crate::flow::L7Link`]. The parser's own state lives in its protocol's pool
//! ([`super::registry::Pools`]); the slot holds its index.

use super::pending::PendingRefs;
use super::protocol::{L7Protocol, ParserKind};
use super::reassembly::DirStream;
use super::stats::L7Stats;

/// Size of a hold buffer (`payload_truncation` can only lower what a stream holds).
pub const HOLD_MAX: usize = 2048;

/// L7 state of one flow.
#[derive(Debug)]
pub struct L7Flow {
    /// The owning flow (slots are reused).
    pub flow_id: u64,
    live: bool,
    pub proto: L7Protocol,
    /// Flow side (0/1) of the client, from the first message.
    pub client_side: u8,
    /// Reassembly per flow side.
    pub streams: [DirStream; 2],
    /// The parser, and its state in that parser's pool.
    pub kind: ParserKind,
    pub state: u32,
    pub refs: PendingRefs,
    pub stats: L7Stats,
    /// False while the protocol is a guess from a message start too short to be sure of (a head
    /// cut by a segment boundary): the first decoded message confirms it, a parse error undoes it.
    pub confirmed: bool,
    /// While the guess holds a head no protocol is sure of yet: when (ns) and at which TCP
    /// sequence number its first byte came, and how many bytes are held (0: none), so that the
    /// parser is shown them as of that time once a protocol is sure.
    pub held: HeldHead,
    /// Payload packets inference had looked at before this slot (to continue counting).
    pub tries: u8,
}

/// A message head held while no protocol is sure of it (16 bytes: it is in every L7 slot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldHead {
    pub ts_ns: u64,
    pub tcp_seq: u32,
    /// Bytes held; 0 when nothing is.
    pub len: u32,
}

/// Preallocated L7 slots.
#[derive(Debug)]
pub struct L7Slab {
    flows: Vec<L7Flow>,
    free: Vec<u32>,
    cap: usize,
}

impl L7Slab {
    /// Room for `capacity` flows (memory reserved now, touched as slots are first used).
    pub fn new(capacity: u32) -> Self {
        let cap = capacity as usize;
        L7Slab {
            flows: Vec::with_capacity(cap),
            free: Vec::with_capacity(cap),
            cap,
        }
    }

    /// A slot for a new L7 flow, or None when all are taken.
    pub fn alloc(
        &mut self,
        flow_id: u64,
        proto: L7Protocol,
        (kind, state): (ParserKind, u32),
        client_side: u8,
        hold: usize,
    ) -> Option<u32> {
        let idx = match self.free.pop() {
            Some(i) => i,
            None if self.flows.len() < self.cap => {
                self.flows.push(L7Flow {
                    flow_id: 0,
                    live: false,
                    proto,
                    client_side,
                    streams: Default::default(),
                    kind,
                    state,
                    refs: PendingRefs::default(),
                    stats: L7Stats::default(),
                    confirmed: true,
                    held: HeldHead::default(),
                    tries: 0,
                });
                (self.flows.len() - 1) as u32
            }
            None => return None,
        };
        let f = &mut self.flows[idx as usize];
        f.flow_id = flow_id;
        f.live = true;
        f.proto = proto;
        f.client_side = client_side;
        f.streams = Default::default();
        for s in &mut f.streams {
            s.set_limit(hold);
        }
        f.kind = kind;
        f.state = state;
        f.refs = PendingRefs::default();
        f.stats = L7Stats::default();
        f.confirmed = true;
        f.held = HeldHead::default();
        f.tries = 0;
        Some(idx)
    }

    pub fn release(&mut self, idx: u32) {
        if let Some(f) = self.flows.get_mut(idx as usize) {
            if f.live {
                f.live = false;
                self.free.push(idx);
            }
        }
    }

    /// Slot `idx`, live or not (an address to prefetch).
    #[inline(always)]
    pub fn slot(&self, idx: u32) -> Option<&L7Flow> {
        self.flows.get(idx as usize)
    }

    /// Slot `idx` if it still belongs to flow `flow_id`.
    pub fn get_mut(&mut self, idx: u32, flow_id: u64) -> Option<&mut L7Flow> {
        self.flows
            .get_mut(idx as usize)
            .filter(|f| f.live && f.flow_id == flow_id)
    }

    /// The streams of live slot `idx`.
    pub fn streams_mut(&mut self, idx: u32) -> Option<&mut [DirStream; 2]> {
        self.flows
            .get_mut(idx as usize)
            .filter(|f| f.live)
            .map(|f| &mut f.streams)
    }

    /// The parser and its state index of live slot `idx`.
    pub fn parser(&self, idx: u32) -> Option<(ParserKind, u32)> {
        self.flows
            .get(idx as usize)
            .filter(|f| f.live)
            .map(|f| (f.kind, f.state))
    }

    pub fn in_use(&self) -> usize {
        self.flows.len() - self.free.len()
    }
}
