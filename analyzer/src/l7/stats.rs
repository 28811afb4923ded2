//! L7 numbers: per-flow performance stats that go into the l4_flow_log row (DeepFlow's
//! `L7PerfStats`), and the worker's L7 self-monitoring counters (the layer's own, declared once
//! with [`crate::named_counters`], and each protocol's, named by its descriptor).

use super::parser::MAX_PROTOCOL_COUNTERS;
use super::protocol::ParserKind;

/// Per-flow L7 performance of one reporting interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct L7Stats {
    pub request: u32,
    pub response: u32,
    pub client_error: u32,
    pub server_error: u32,
    /// Requests unanswered within the window, at flow end, or answered later than the request
    /// timeout.
    pub timeout: u32,
    /// Request -> response times, µs.
    pub rrt_sum: u64,
    pub rrt_count: u32,
    pub rrt_max: u32,
    /// ClientHello -> ServerHello, µs (0 = none).
    pub tls_rtt: u32,
}

impl L7Stats {
    pub fn add_rrt(&mut self, us: u64) {
        let us32 = u32::try_from(us).unwrap_or(u32::MAX);
        self.rrt_sum += us;
        self.rrt_count += 1;
        self.rrt_max = self.rrt_max.max(us32);
    }
}

crate::named_counters! {
    /// Self-monitoring of a worker's L7 layer: every give-up and drop has a counter.
    pub struct L7LayerCounters, prefix "l7." {
        /// Flows that got L7 state (a protocol was inferred).
        flows,
        /// Flows given up after `inference_packets_per_flow` payload packets matched no protocol.
        inference_failed,
        /// New flows not probed because their server failed inference too often (AppTable).
        inference_skipped,
        /// Flows whose protocol came from the AppTable instead of probing.
        inference_cached,
        /// Flows that matched a protocol but found no free L7 state (`l7 flow_capacity`).
        state_full,
        /// Flows that matched a protocol whose state pool was full (`large_state_capacity` for
        /// HTTP/2).
        pool_full,
        requests,
        responses,
        /// Responses with no pending request (request lost, or capture started mid-exchange).
        unmatched_responses,
        /// Requests reported unanswered (window passed, or the flow ended).
        timeouts,
        /// Requests (and responses without one) on the `tag_filters` blacklist: not written,
        /// not counted in the flows' L7 performance.
        blacklisted,
        /// Pending requests pushed out because the pool or the flow's 16 slots were full.
        pending_evicted,
        /// Messages that failed to decode (the parser resynchronises at the next segment).
        parse_errors,
        /// Bytes missing in a stream (lost on the mirror): the parser resynchronised.
        gap_bytes,
        gaps,
        /// Bytes of message heads dropped because they outgrew the hold buffer.
        overflow_bytes,
        /// Cut heads dropped because every hold buffer was taken (`hold_buffers`).
        hold_exhausted,
        /// Retransmitted segments not parsed again.
        duplicate_segments,
        /// l7_flow_log rows produced.
        records,
    }
}

/// The L7 layer's counters and each protocol's own (names from its descriptor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L7Counters {
    pub layer: L7LayerCounters,
    /// Per parser (registry order), the counters its descriptor names.
    pub protocol: [[u64; MAX_PROTOCOL_COUNTERS]; ParserKind::COUNT],
}

impl Default for L7Counters {
    fn default() -> Self {
        L7Counters {
            layer: L7LayerCounters::default(),
            protocol: [[0; MAX_PROTOCOL_COUNTERS]; ParserKind::COUNT],
        }
    }
}

impl std::ops::Deref for L7Counters {
    type Target = L7LayerCounters;
    fn deref(&self) -> &L7LayerCounters {
        &self.layer
    }
}

impl std::ops::DerefMut for L7Counters {
    fn deref_mut(&mut self) -> &mut L7LayerCounters {
        &mut self.layer
    }
}

impl L7Counters {
    pub fn merge(&mut self, o: &L7Counters) {
        self.layer.merge(&o.layer);
        for (a, b) in self.protocol.iter_mut().zip(o.protocol.iter()) {
            for (x, y) in a.iter_mut().zip(b.iter()) {
                *x += y;
            }
        }
    }

    /// Counter `i` of protocol `k` (the index into its descriptor's `counters`).
    pub fn protocol_counter(&self, k: ParserKind, i: usize) -> u64 {
        self.protocol[k as usize].get(i).copied().unwrap_or(0)
    }

    /// (name, value) of every counter: the layer's, then each protocol's.
    pub fn entries(&self) -> Vec<(&'static str, u64)> {
        let mut v: Vec<_> = self.layer.entries().collect();
        for k in ParserKind::ALL {
            for (i, name) in k.desc().counters.iter().enumerate() {
                v.push((*name, self.protocol[*k as usize][i]));
            }
        }
        v
    }
}
