//! Per-flow L7 state, kept only for flows that speak a parsed protocol: a slab of
//! [`L7Flow`] slots preallocated to `l7 flow_capacity`, linked from the flow by [`L7Link`].

use super::dns::DnsSession;
use super::http1::Http1Session;
use super::http2::Http2Session;
use super::pending::PendingRefs;
use super::protocol::L7Protocol;
use super::reassembly::DirStream;
use super::stats::L7Stats;
use super::tls::TlsSession;

/// Size of a hold buffer (`payload_truncation` can only lower what a stream holds).
pub const HOLD_MAX: usize = 2048;

/// A flow's relation to the L7 layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L7Link {
    /// No protocol found yet after this many payload packets.
    Untried(u8),
    /// L7 state in this slot.
    Tracked(u32),
    /// Not L7 (inference failed or skipped), or no state was free.
    Skip,
}

impl Default for L7Link {
    fn default() -> Self {
        L7Link::Untried(0)
    }
}

/// The protocol parser of a flow (static dispatch over every parsed protocol).
#[derive(Debug, Clone, Copy)]
pub enum Parser {
    Http1(Http1Session),
    Dns(DnsSession),
    Tls(TlsSession),
    /// HTTP/2: the index of its state in the tracker's HTTP/2 slab.
    Http2(u32),
}

impl Parser {
    pub fn for_protocol(p: L7Protocol) -> Option<Self> {
        Some(match p {
            L7Protocol::Http1 => Parser::Http1(Http1Session::default()),
            L7Protocol::Dns => Parser::Dns(DnsSession::default()),
            L7Protocol::Tls => Parser::Tls(TlsSession::default()),
            // HTTP/2 state lives in its own slab (the tracker allocates it).
            L7Protocol::Http2 | L7Protocol::Grpc | L7Protocol::Unknown => return None,
        })
    }
}

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
    pub parser: Parser,
    pub refs: PendingRefs,
    pub stats: L7Stats,
    /// False while the protocol is a guess from a message start too short to be sure of (a head
    /// cut by a segment boundary): the first decoded message confirms it, a parse error undoes it.
    pub confirmed: bool,
    /// Payload packets inference had looked at before this slot (to continue counting).
    pub tries: u8,
}

/// Preallocated HTTP/2 states (each holds two HPACK tables, so only HTTP/2 flows get one).
#[derive(Debug)]
pub struct H2Slab {
    states: Vec<Http2Session>,
    free: Vec<u32>,
    cap: usize,
}

impl H2Slab {
    pub fn new(capacity: u32) -> Self {
        H2Slab {
            states: Vec::with_capacity(capacity as usize),
            free: Vec::with_capacity(capacity as usize),
            cap: capacity as usize,
        }
    }

    /// A fresh state, or None when all are taken.
    pub fn alloc(&mut self) -> Option<u32> {
        if let Some(i) = self.free.pop() {
            self.states[i as usize].reset();
            return Some(i);
        }
        if self.states.len() < self.cap {
            self.states.push(Http2Session::default());
            return Some((self.states.len() - 1) as u32);
        }
        None
    }

    pub fn release(&mut self, i: u32) {
        if (i as usize) < self.states.len() && !self.free.contains(&i) {
            self.free.push(i);
        }
    }

    pub fn get_mut(&mut self, i: u32) -> Option<&mut Http2Session> {
        self.states.get_mut(i as usize)
    }
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
        parser: Parser,
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
                    parser,
                    refs: PendingRefs::default(),
                    stats: L7Stats::default(),
                    confirmed: true,
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
        f.parser = parser;
        f.refs = PendingRefs::default();
        f.stats = L7Stats::default();
        f.confirmed = true;
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

    /// The parser of live slot `idx`.
    pub fn parser(&self, idx: u32) -> Option<Parser> {
        self.flows
            .get(idx as usize)
            .filter(|f| f.live)
            .map(|f| f.parser)
    }

    pub fn in_use(&self) -> usize {
        self.flows.len() - self.free.len()
    }
}
