//! The analyzer's typed, already-validated settings. Parsing and validation of the YAML file
//! lives in `tapflow-control`; workers only ever see this.

use crate::mirror::MirrorConfig;
use crate::wire::DecodeConfig;

const NS_PER_SEC: u64 = 1_000_000_000;

/// Flow timeouts (DeepFlow's `processors.flow_log.conntrack.timeouts.*`), in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Established TCP connections without traffic (300 s).
    pub established_ns: u64,
    /// After an RST on an established connection (35 s).
    pub closing_rst_ns: u64,
    /// After an RST during the handshake (1 s).
    pub opening_rst_ns: u64,
    /// Opening, closing, single-direction flows, UDP and other protocols (5 s).
    pub others_ns: u64,
    /// After the last ACK of a FIN handshake (2 s, hard-coded in DeepFlow).
    pub closed_fin_ns: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            established_ns: 300 * NS_PER_SEC,
            closing_rst_ns: 35 * NS_PER_SEC,
            opening_rst_ns: NS_PER_SEC,
            others_ns: 5 * NS_PER_SEC,
            closed_fin_ns: 2 * NS_PER_SEC,
        }
    }
}

impl Timeouts {
    /// The longest timeout (sizes the timer wheel).
    pub fn max_ns(&self) -> u64 {
        self.established_ns
            .max(self.closing_rst_ns)
            .max(self.opening_rst_ns)
            .max(self.others_ns)
            .max(self.closed_fin_ns)
    }
}

/// What to do with a new flow when the table is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TableFullPolicy {
    /// Count the packet and do not track the flow (DeepFlow's behaviour).
    #[default]
    Refuse,
    /// Close the flow nearest to its timeout (reported with its close type) and reuse its slot.
    EvictOldest,
}

/// A set of TCP/UDP ports, one bit each.
#[derive(Clone, PartialEq, Eq)]
pub struct PortSet(Box<[u64; 1024]>);

impl PortSet {
    pub fn new() -> Self {
        PortSet(Box::new([0; 1024]))
    }
    pub fn insert(&mut self, port: u16) {
        self.0[usize::from(port >> 6)] |= 1 << (port & 63);
    }
    #[inline]
    pub fn contains(&self, port: u16) -> bool {
        self.0[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

impl Default for PortSet {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for PortSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ports: Vec<u16> = (0..=u16::MAX)
            .filter(|p| self.contains(*p))
            .take(32)
            .collect();
        f.debug_tuple("PortSet").field(&ports).finish()
    }
}

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
}

impl AnalyzerConfig {
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
        if new.mirror.mode != self.mirror.mode {
            v.push("inputs.cbpf.common.capture_mode");
        }
        if new.mirror.dedup.capacity != self.mirror.dedup.capacity {
            v.push("de-dup table capacity");
        }
        let (a, b) = (&self.l7, &new.l7);
        if a.flow_capacity != b.flow_capacity
            || a.pending_capacity != b.pending_capacity
            || a.http2_flow_capacity != b.http2_flow_capacity
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
        }
    }
}
