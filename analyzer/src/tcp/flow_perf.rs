//! A flow's performance state as the flow table holds it: a few bytes while the flow is only an
//! opening (SYNs from one endpoint, answered at most by an RST: a scan, an unanswered attempt,
//! a closed port), and the full [`TcpPerf`] in a pooled block from the first packet that needs
//! more. A mirror of a scanned network holds a flow per probe; those stay small.
//!
//! Non-TCP flows keep their request/response samples (UDP ART, ICMP echo SRT) in the same block,
//! taken at their first sample.

use super::perf::{stateless_verdict, PerfInterval, PerfVerdict, TcpPerf};
use super::ranges::RangePool;
use crate::block_pool::{BlockPool, BlockRef};
use crate::wire::{TcpFlags, TcpHeader};

/// Blocks of full TCP state for a flow table of `flow_capacity`: one per flow (every flow may
/// carry data), taken and touched only as flows need them.
pub fn perf_blocks_for(flow_capacity: u32) -> usize {
    flow_capacity as usize
}

/// The pools a flow's performance state takes from.
#[derive(Debug)]
pub struct PerfPools {
    /// Full state of the flows past their opening.
    pub blocks: BlockPool<TcpPerf>,
    /// Sequence ranges of the TCP directions with more holes than fit in their state.
    pub ranges: RangePool,
}

impl PerfPools {
    pub fn new(flow_capacity: u32) -> Self {
        PerfPools {
            blocks: BlockPool::new(perf_blocks_for(flow_capacity)),
            ranges: RangePool::new(super::range_blocks_for(flow_capacity)),
        }
    }

    /// What the pools for a flow table of `flow_capacity` take at most, bytes.
    pub fn memory_bytes(flow_capacity: u32) -> usize {
        BlockPool::<TcpPerf>::memory_bytes(perf_blocks_for(flow_capacity))
            + RangePool::memory_bytes(super::range_blocks_for(flow_capacity))
    }
}

/// SYNs from one endpoint, nothing else that changed the state.
#[derive(Debug, Clone, Copy, Default)]
struct Opening {
    first_ns: u64,
    last_ns: u64,
    seq: u32,
    /// SYNs in the current interval, and how many of them were repeats.
    syns: u32,
    repeats: u32,
    side: u8,
    seen: bool,
}

/// A flow's performance state: its opening, or the block of its full state.
#[derive(Debug, Clone, Copy)]
pub struct FlowPerf(State);

#[derive(Debug, Clone, Copy)]
enum State {
    Opening(Opening),
    Full(BlockRef),
}

impl Default for FlowPerf {
    fn default() -> Self {
        FlowPerf(State::Opening(Opening::default()))
    }
}

/// Only a SYN, no other flag that changes the state.
#[inline]
fn plain_syn(f: u8) -> bool {
    f & (TcpFlags::SYN
        | TcpFlags::ACK
        | TcpFlags::FIN
        | TcpFlags::RST
        | TcpFlags::PSH
        | TcpFlags::URG)
        == TcpFlags::SYN
}

impl FlowPerf {
    /// The full state's block, where the flow has one (an address to prefetch).
    #[inline(always)]
    pub fn block<'p>(&self, blocks: &'p BlockPool<TcpPerf>) -> Option<&'p TcpPerf> {
        match self.0 {
            State::Full(b) => blocks.get(b),
            State::Opening(_) => None,
        }
    }

    /// Feeds one TCP packet sent by endpoint `side` at `ts_ns` (as [`TcpPerf::on_packet`]).
    /// The first packet that is more than an opening takes the flow's block; none left: the
    /// packet is not measured (counted by the pool).
    pub fn on_packet(
        &mut self,
        side: usize,
        ts_ns: u64,
        tcp: &TcpHeader,
        pools: &mut PerfPools,
    ) -> PerfVerdict {
        let side = side & 1;
        if let State::Opening(o) = &mut self.0 {
            let f = tcp.flags.masked();
            if f & TcpFlags::FIN == 0 {
                if let Some(v) = stateless_verdict(f) {
                    return v;
                }
            }
            if plain_syn(f) && (!o.seen || usize::from(o.side) == side) {
                o.syns += 1;
                if o.seen {
                    o.repeats += 1;
                } else {
                    *o = Opening {
                        first_ns: ts_ns,
                        seq: tcp.seq,
                        side: side as u8,
                        seen: true,
                        ..*o
                    };
                }
                o.last_ns = ts_ns;
                return PerfVerdict::Used;
            }
        }
        match self.full(&mut pools.blocks) {
            Some(block) => block.on_packet(side, ts_ns, tcp, &mut pools.ranges),
            None => PerfVerdict::Used,
        }
    }

    /// The flow's full state, taken from the pool (and rebuilt from its opening) if it has none.
    fn full<'p>(&mut self, blocks: &'p mut BlockPool<TcpPerf>) -> Option<&'p mut TcpPerf> {
        if let State::Opening(o) = self.0 {
            let block = blocks.take()?;
            let state = if o.seen {
                TcpPerf::after_syns(
                    usize::from(o.side),
                    (o.first_ns, o.last_ns),
                    o.seq,
                    o.syns,
                    o.repeats,
                )
            } else {
                TcpPerf::default()
            };
            if let Some(b) = blocks.get_mut(block) {
                *b = state;
            }
            self.0 = State::Full(block);
        }
        match self.0 {
            State::Full(b) => blocks.get_mut(b),
            State::Opening(_) => None,
        }
    }

    /// The current interval's metrics, to add samples to (non-TCP flows); None when no block
    /// was left (counted by the pool).
    pub fn interval_mut<'p>(&mut self, pools: &'p mut PerfPools) -> Option<&'p mut PerfInterval> {
        self.full(&mut pools.blocks).map(|b| &mut b.interval)
    }

    /// Takes the interval's metrics and starts a new interval.
    pub fn take_interval(&mut self, pools: &mut PerfPools) -> PerfInterval {
        let o = match &mut self.0 {
            State::Full(b) => {
                return pools
                    .blocks
                    .get_mut(*b)
                    .map(|b| b.take_interval())
                    .unwrap_or_default();
            }
            State::Opening(o) => o,
        };
        let mut i = PerfInterval {
            syn_count: o.syns,
            retrans_syn: o.repeats,
            ..PerfInterval::default()
        };
        i.retrans[usize::from(o.side & 1)] = o.repeats;
        o.syns = 0;
        o.repeats = 0;
        i
    }

    /// Gives the flow's blocks back (the flow is closing).
    pub fn release(&mut self, pools: &mut PerfPools) {
        if let State::Full(mut block) = self.0 {
            if let Some(b) = pools.blocks.get_mut(block) {
                b.release(&mut pools.ranges);
            }
            pools.blocks.release(&mut block);
        }
        *self = FlowPerf::default();
    }

    /// Whether the flow holds a full-state block.
    pub fn has_block(&self) -> bool {
        matches!(self.0, State::Full(_))
    }
}

#[cfg(test)]
mod tests;
