//! The per-flow state held in the table.

use super::conn::TcpConn;
use super::direction::Direction;
use super::key::{AddrTails, Endpoint, FlowKey, StoredKey};
use crate::tcp::FlowPerf;
use crate::wire::TunnelInfo;

/// Counters of one direction since the last report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerCounters {
    /// Saturating (more than 4 G packets of one flow in one interval is beyond a core's rate).
    pub packets: u32,
    /// L2 header + IP total length of the inner packet (DeepFlow's byte count).
    pub bytes: u64,
    /// IP payload bytes.
    pub l3_bytes: u64,
    /// L4 payload bytes.
    pub l4_bytes: u64,
    /// OR of TCP flags seen.
    pub tcp_flags: u8,
}

/// One side of a flow: what it sent (its endpoint is in the flow's key, [`Flow::ep`]). Endpoint
/// 0 sent the flow's first packet; which side is the client is decided when a row is built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowSide {
    /// Source MAC of its packets (the first packet's destination MAC until it sends).
    pub mac: [u8; 6],
    /// A local L2 end (virtual mirror: its MAC is a local VM / pod).
    pub l2_end: bool,
    /// It has sent a packet.
    pub sent: bool,
    /// What it sent in the current reporting interval (what it sent before is in the flow's
    /// [`Carried`] block, once the flow has had a row).
    pub interval: PeerCounters,
    /// Its last packet, ns (0 = none yet; its first is [`Flow::first_ns`]).
    pub last_ns: u64,
}

impl FlowSide {
    /// A packet this side sent ([`Flow::count_packet`]).
    fn on_packet(
        &mut self,
        ts_ns: u64,
        bytes: u64,
        l3_bytes: u64,
        l4_bytes: u64,
        src_mac: [u8; 6],
    ) {
        let i = &mut self.interval;
        i.packets = i.packets.saturating_add(1);
        i.bytes += bytes;
        i.l3_bytes += l3_bytes;
        i.l4_bytes += l4_bytes;
        self.sent = true;
        self.last_ns = ts_ns;
        if self.mac == [0; 6] {
            self.mac = src_mac;
        }
    }
}

/// What a flow's earlier rows counted, per side (a pooled block, taken at the first row of a
/// flow that goes on: most flows end within their first interval and never need it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carried {
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
}

/// Carried blocks for a flow table of `flow_capacity`: one per flow (every flow may live past
/// a report boundary).
pub fn carried_blocks_for(flow_capacity: u32) -> usize {
    flow_capacity as usize
}

/// Outstanding ICMP echo requests kept per flow (for SRT of echo request -> reply).
pub const ICMP_PENDING: usize = 4;

/// An ICMP flow's outstanding echo requests (id, sequence, time), in a pooled block.
pub type IcmpEchoes = [(u16, u16, u64); ICMP_PENDING];

/// A tunnelled flow's outer tunnel as seen on packets from endpoint 0, and the outer addresses
/// of the reverse direction (in a pooled block: most flows have no tunnel).
#[derive(Debug, Clone, Copy)]
pub struct FlowTunnel {
    pub fwd: TunnelInfo,
    pub rev: Option<([u8; 16], [u8; 16])>,
}

impl Default for FlowTunnel {
    fn default() -> Self {
        FlowTunnel {
            fwd: TunnelInfo::NONE,
            rev: None,
        }
    }
}

/// Tunnel blocks for a flow table of `flow_capacity`: one per flow (an overlay capture
/// tunnels every flow).
pub fn tunnel_blocks_for(flow_capacity: u32) -> usize {
    flow_capacity as usize
}

/// Echo-request blocks for a flow table of `flow_capacity`: one for every fourth flow at once.
pub fn icmp_blocks_for(flow_capacity: u32) -> usize {
    (flow_capacity as usize / 4).max(64)
}

/// [`Flow`] flag: endpoint 0 (the first sender) is the key's lower endpoint.
const SIDE0_IS_LO: u8 = 1;
/// [`Flow`] flag: a row was already produced (later rows have is_new_flow = false).
const REPORTED: u8 = 2;
/// [`Flow`] flag: the slot holds a live flow.
const ACTIVE: u8 = 4;
/// [`Flow`] flag: endpoint 1 sent the last packet.
const LAST_SIDE_1: u8 = 8;
/// [`Flow`] flag: a flow of a traced socket (its id is [`TRACED_ID_BASE`] + a counter).
const TRACED: u8 = 16;

/// Ids of flows made from traced sockets: this base plus a counter (a packet flow's id has its
/// start time's upper bits there, which equal this only for packets of January 2004).
pub const TRACED_ID_BASE: u64 = 1 << 62;

/// One tracked flow. Endpoint 0 sent the first packet.
#[derive(Debug, Clone, Copy)]
pub struct Flow {
    /// Its key (an IPv6 flow's address tails are kept beside it: [`Flow::endpoints`]).
    pub key: StoredKey,
    /// [`SIDE0_IS_LO`], [`REPORTED`], [`ACTIVE`], [`LAST_SIDE_1`], [`TRACED`].
    flags: u8,
    /// The low half of its id ([`Flow::id`]).
    id_low: u32,
    pub sides: [FlowSide; 2],
    pub vlan: u16,
    /// Its tunnel, for tunnelled flows (a pooled [`FlowTunnel`]).
    pub tunnel: crate::block_pool::BlockRef,
    pub start_ns: u64,
    /// First packet of endpoint 1 (endpoint 0's first is the flow's start), valid once it sent.
    reply_first_ns: u64,
    /// Start of the current reporting interval once a row was produced (a report boundary, a
    /// whole second); before that the flow's start.
    interval_start_s: u32,
    pub conn: TcpConn,
    /// TCP performance and response-time state (compact until the flow needs more).
    pub perf: FlowPerf,
    pub direction: Direction,
    /// What its earlier rows counted (flows that had a row and go on: a pooled [`Carried`]).
    pub carried: crate::block_pool::BlockRef,
    /// Its outstanding echo requests (ICMP flows that sent one: a pooled [`IcmpEchoes`]).
    pub icmp_pending: crate::block_pool::BlockRef,
    /// L7 inference progress or the flow's L7 state slot.
    l7: super::l7_link::PackedL7Link,
}

impl Flow {
    /// A flow of `key` whose first packet came from `ep[0]` to `ep[1]` at `ts_ns`; its id is
    /// `ts_ns`'s upper bits (`ts_ns >> 30`, about a second) above `id_low`.
    pub fn new(
        key: &FlowKey,
        id_low: u32,
        ep: [Endpoint; 2],
        ts_ns: u64,
        direction: Direction,
    ) -> Self {
        debug_assert!(
            (ep[0] == key.lo && ep[1] == key.hi) || (ep[0] == key.hi && ep[1] == key.lo),
            "a flow's endpoints are its key's"
        );
        Flow {
            key: StoredKey::of(key),
            flags: ACTIVE | if ep[0] == key.lo { SIDE0_IS_LO } else { 0 },
            id_low,
            sides: [FlowSide::default(); 2],
            vlan: 0,
            tunnel: crate::block_pool::BlockRef::NONE,
            start_ns: ts_ns,
            reply_first_ns: 0,
            interval_start_s: 0,
            conn: TcpConn::default(),
            perf: FlowPerf::default(),
            direction,
            carried: crate::block_pool::BlockRef::NONE,
            icmp_pending: crate::block_pool::BlockRef::NONE,
            l7: Default::default(),
        }
    }

    /// A flow of a traced socket (`ep[0]` the local end), the `n`th of its table.
    pub fn traced(
        key: &FlowKey,
        n: u32,
        ep: [Endpoint; 2],
        ts_ns: u64,
        direction: Direction,
    ) -> Self {
        let mut f = Flow::new(key, n, ep, ts_ns, direction);
        f.flags |= TRACED;
        f
    }

    /// Its id: unique among the flows of one analyzer over about 2^24 flows per second.
    #[inline]
    pub fn id(&self) -> u64 {
        let high = if self.flags & TRACED != 0 {
            TRACED_ID_BASE
        } else {
            (self.start_ns >> 30) << 32
        };
        high | u64::from(self.id_low)
    }

    /// Start of the current reporting interval: the flow's start until its first row, then the
    /// report boundary its last row ended at.
    #[inline]
    pub fn interval_start_ns(&self) -> u64 {
        if self.reported() {
            u64::from(self.interval_start_s) * 1_000_000_000
        } else {
            self.start_ns
        }
    }

    /// A row up to the report boundary `boundary_ns` (a whole second) was produced: the next
    /// interval starts there.
    pub fn start_interval_at(&mut self, boundary_ns: u64) {
        debug_assert!(self.reported() && boundary_ns % 1_000_000_000 == 0);
        self.interval_start_s = u32::try_from(boundary_ns / 1_000_000_000).unwrap_or(u32::MAX);
    }

    /// A packet side `side` sent at `ts_ns`: `bytes` on the wire (L2 header + IP total
    /// length), `l3_bytes` of IP payload, `l4_bytes` of L4 payload, from `src_mac`.
    #[inline]
    pub fn count_packet(
        &mut self,
        side: usize,
        ts_ns: u64,
        (bytes, l3_bytes, l4_bytes): (u64, u64, u64),
        src_mac: [u8; 6],
    ) {
        if side == 1 && !self.sides[1].sent {
            self.reply_first_ns = ts_ns;
        }
        self.sides[side].on_packet(ts_ns, bytes, l3_bytes, l4_bytes, src_mac);
    }

    /// The endpoint (0/1) of the last packet (for UDP ART; its time is [`Flow::last_ns`]).
    #[inline]
    pub fn last_side(&self) -> usize {
        usize::from(self.flags & LAST_SIDE_1 != 0)
    }

    pub fn set_last_side(&mut self, side: usize) {
        self.flags = (self.flags & !LAST_SIDE_1) | if side == 1 { LAST_SIDE_1 } else { 0 };
    }

    /// The Ethernet type of its packets (IPv4 or IPv6, as its key).
    pub fn eth_type(&self) -> u16 {
        if self.key.is_v6 {
            crate::wire::ETH_P_IPV6
        } else {
            crate::wire::ETH_P_IPV4
        }
    }

    /// Its link to the L7 layer.
    #[inline]
    pub fn l7(&self) -> super::L7Link {
        self.l7.into()
    }

    pub fn set_l7(&mut self, link: super::L7Link) {
        self.l7 = link.into();
    }

    /// Time of side `side`'s first packet (0 while it has sent none).
    pub fn first_ns(&self, side: usize) -> u64 {
        match (self.sides[side].sent, side) {
            (false, _) => 0,
            (true, 0) => self.start_ns,
            (true, _) => self.reply_first_ns,
        }
    }

    /// Time of the flow's last packet (its start before any; packet times never go back).
    #[inline]
    pub fn last_ns(&self) -> u64 {
        self.start_ns
            .max(self.sides[0].last_ns)
            .max(self.sides[1].last_ns)
    }

    /// True while one side has sent nothing (DeepFlow then uses the "others" timeout).
    pub fn is_one_sided(&self) -> bool {
        !self.sides[0].sent || !self.sides[1].sent
    }

    /// Packets in the current interval, both directions.
    pub fn interval_packets(&self) -> u64 {
        u64::from(self.sides[0].interval.packets) + u64::from(self.sides[1].interval.packets)
    }

    /// A row was already produced for this flow (later rows have is_new_flow = false).
    #[inline]
    pub fn reported(&self) -> bool {
        self.flags & REPORTED != 0
    }

    /// A row was produced.
    pub fn set_reported(&mut self) {
        self.flags |= REPORTED;
    }

    /// The slot holds a live flow (not yet removed from the table).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.flags & ACTIVE != 0
    }

    /// The flow left the table.
    pub fn set_removed(&mut self) {
        self.flags &= !ACTIVE;
    }

    /// Which end of the key side `side` (0: the first sender) is: 0 lower, 1 higher.
    #[inline]
    fn end_of(&self, side: usize) -> usize {
        usize::from((side & 1 == 0) != (self.flags & SIDE0_IS_LO != 0))
    }

    /// The endpoints: endpoint 0 (the first sender), then endpoint 1; `tails` are the flow's
    /// address tails (read for IPv6 only).
    #[inline]
    pub fn endpoints(&self, tails: &AddrTails) -> [Endpoint; 2] {
        [
            self.key.end(self.end_of(0), tails),
            self.key.end(self.end_of(1), tails),
        ]
    }

    /// The port of side `side`.
    #[inline]
    pub fn port(&self, side: usize) -> u16 {
        self.key.port(self.end_of(side))
    }

    /// The side (0/1) that sent a packet whose source is its key's lower end (`src_is_lo`) or
    /// higher end.
    #[inline]
    pub fn side_of(&self, src_is_lo: bool) -> usize {
        usize::from(src_is_lo != (self.flags & SIDE0_IS_LO != 0))
    }
}
