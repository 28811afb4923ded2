//! Flow timeouts and what a full table does: the flow table's own settings.

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
