//! The analyzer's typed, already-validated settings. Parsing and validation of the YAML file
//! lives in `tapflow-control`; workers only ever see this.

use crate::mirror::MirrorConfig;
use crate::wire::DecodeConfig;

pub use crate::flow::{TableFullPolicy, Timeouts};
pub use crate::ports::PortSet;

/// Everything one analyzer worker needs to know.
#[derive(Debug, Clone)]
pub struct AnalyzerConfig {
    pub decode: DecodeConfig,
    pub timeouts: Timeouts,
    /// Most flows tracked at once by this worker (`concurrent_flow_limit`).
    pub flow_capacity: u32,
    pub on_table_full: TableFullPolicy,
    /// Ports that mark the server side of a flow (`flow_generation.server_ports`).
    pub server_ports: PortSet,
    /// Worker id, part of flow ids (8 bits).
    pub worker_id: u8,
    /// Capture mode, VLAN -> tap_type, local MACs, de-dup.
    pub mirror: MirrorConfig,
    /// Application protocols: inference, parsing, request logs.
    pub l7: crate::l7::L7Config,
    /// A live flow's interval row comes this often: 60 s (DeepFlow's flow log minute), or 1 s
    /// when 1-second metrics are on (the output stage then merges the rows back into minutes:
    /// `aggregate::FlowAggr`).
    pub report_period_ns: u64,
    /// `inputs.cbpf.af_packet.extra_bpf_filter`, compiled: frames it rejects are counted and
    /// dropped before anything else.
    pub capture_filter: Option<crate::capture_filter::CaptureFilter>,
}

impl AnalyzerConfig {
    /// One of `workers` analyzers' share of this configuration: the flow, L7 and de-dup tables
    /// are the whole process's limits (DeepFlow's `concurrent_flow_limit` is the agent's), so
    /// each worker gets its part, rounded up.
    pub fn per_worker(&self, workers: usize) -> AnalyzerConfig {
        let n = u32::try_from(workers.max(1)).unwrap_or(u32::MAX);
        let part = |v: u32, floor: u32| v.div_ceil(n).max(floor.min(v));
        let mut c = self.clone();
        c.flow_capacity = part(self.flow_capacity, 1);
        c.l7.flow_capacity = part(self.l7.flow_capacity, 1);
        c.l7.pending_capacity = part(self.l7.pending_capacity, 16);
        c.l7.large_state_capacity = part(self.l7.large_state_capacity, 4);
        c.l7.hold_buffers = part(self.l7.hold_buffers, 16);
        c.mirror.dedup.capacity = part(self.mirror.dedup.capacity, 1024);
        c
    }

    /// What one analyzer with this configuration reserves, bytes: the flow table and its pools
    /// (full TCP state past the opening, sequence ranges, ICMP echo requests, tunnels), the L7 tables and pools, the de-dup table.
    pub fn memory_bytes(&self) -> u64 {
        u64::from(self.flow_capacity) * crate::flow::FlowTable::reserved_bytes_per_flow() as u64
            + crate::tcp::PerfPools::memory_bytes(self.flow_capacity) as u64
            + crate::block_pool::BlockPool::<crate::flow::IcmpEchoes>::memory_bytes(
                crate::flow::icmp_blocks_for(self.flow_capacity),
            ) as u64
            + crate::block_pool::BlockPool::<crate::flow::FlowTunnel>::memory_bytes(
                crate::flow::tunnel_blocks_for(self.flow_capacity),
            ) as u64
            + crate::block_pool::BlockPool::<crate::flow::Carried>::memory_bytes(
                crate::flow::carried_blocks_for(self.flow_capacity),
            ) as u64
            + crate::l7::L7Tracker::memory_bytes(&self.l7)
            + crate::mirror::Dedup::memory_bytes(&self.mirror.dedup)
    }

    /// The settings of `new` that a running analyzer cannot take over (tables are sized or
    /// flows keyed by them): changing any of these needs a new analyzer. Everything else
    /// (timeouts within the timer horizon, server ports, VLAN -> tap_type, local MACs, de-dup
    /// switches, tunnel trimming, L7 protocols, inference, tags, endpoints, request timeouts)
    /// switches live with [`crate::Analyzer::reconfigure`].
    pub fn restart_only_changes(&self, new: &AnalyzerConfig) -> Vec<&'static str> {
        let mut v = Vec::new();
        if new.flow_capacity != self.flow_capacity {
            v.push("processors.flow_log.tunning.concurrent_flow_limit");
        }
        if new.timeouts.max_ns() > self.timeouts.max_ns() {
            v.push("processors.flow_log.conntrack.timeouts (a longer maximum)");
        }
        if new.report_period_ns != self.report_period_ns {
            v.push("outputs.flow_metrics.filters.second_metrics");
        }
        if new.decode.snap_len != self.decode.snap_len {
            // The AF_PACKET ring cuts frames when it is opened.
            v.push("inputs.cbpf.tunning.max_capture_packet_size");
        }
        if new.mirror.mode != self.mirror.mode {
            v.push("inputs.cbpf.common.capture_mode");
        }
        if new.mirror.dedup.capacity != self.mirror.dedup.capacity {
            v.push("de-dup table capacity");
        }
        let (a, b) = (&self.l7, &new.l7);
        if a.flow_capacity != b.flow_capacity
            || a.pending_capacity != b.pending_capacity
            || a.large_state_capacity != b.large_state_capacity
            || a.hold_buffers != b.hold_buffers
        {
            v.push("processors.request_log.tunning (table sizes)");
        }
        v
    }
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        Self {
            decode: DecodeConfig::default(),
            timeouts: Timeouts::default(),
            flow_capacity: 65_535,
            on_table_full: TableFullPolicy::default(),
            server_ports: PortSet::new(),
            worker_id: 0,
            mirror: MirrorConfig::default(),
            l7: crate::l7::L7Config::default(),
            report_period_ns: 60_000_000_000,
            capture_filter: None,
        }
    }
}
