//! L7 numbers: per-flow performance stats that go into the l4_flow_log row (DeepFlow's
//! `L7PerfStats`), and the worker's L7 self-monitoring counters.

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

/// Self-monitoring of a worker's L7 layer: every give-up and drop has a counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct L7Counters {
    /// Flows that got L7 state (a protocol was inferred).
    pub flows: u64,
    /// Flows given up after `inference_packets_per_flow` payload packets matched no protocol.
    pub inference_failed: u64,
    /// New flows not probed because their server failed inference too often (AppTable).
    pub inference_skipped: u64,
    /// Flows whose protocol came from the AppTable instead of probing.
    pub inference_cached: u64,
    /// Flows that matched a protocol but found no free L7 state (`l7 flow_capacity`).
    pub state_full: u64,
    pub requests: u64,
    pub responses: u64,
    /// Responses with no pending request (request lost, or capture started mid-exchange).
    pub unmatched_responses: u64,
    /// Requests reported unanswered (window passed, or the flow ended).
    pub timeouts: u64,
    /// Pending requests pushed out because the pool or the flow's 16 slots were full.
    pub pending_evicted: u64,
    /// Messages that failed to decode (the parser resynchronises at the next segment).
    pub parse_errors: u64,
    /// Bytes missing in a stream (lost on the mirror): the parser resynchronised.
    pub gap_bytes: u64,
    pub gaps: u64,
    /// Bytes of message heads dropped because they outgrew the hold buffer.
    pub overflow_bytes: u64,
    /// Cut heads dropped because every hold buffer was taken (`hold_buffers`).
    pub hold_exhausted: u64,
    /// Retransmitted segments not parsed again.
    pub duplicate_segments: u64,
    /// HTTP/2 connections whose header compression state was lost (joined mid-stream, a lost
    /// segment, a header block too large to hold): their rows carry no names from then on.
    pub h2_degraded: u64,
    /// HTTP/2 connections not followed: no HTTP/2 state was free.
    pub h2_state_full: u64,
    /// l7_flow_log rows produced.
    pub records: u64,
}

impl L7Counters {
    pub fn merge(&mut self, o: &L7Counters) {
        for (a, b) in self.fields_mut().into_iter().zip(o.values()) {
            *a += b;
        }
    }

    /// (name, value) of every counter.
    pub fn entries(&self) -> Vec<(&'static str, u64)> {
        Self::NAMES.iter().copied().zip(self.values()).collect()
    }

    const NAMES: [&'static str; 19] = [
        "l7.flows",
        "l7.inference_failed",
        "l7.inference_skipped",
        "l7.inference_cached",
        "l7.state_full",
        "l7.requests",
        "l7.responses",
        "l7.unmatched_responses",
        "l7.timeouts",
        "l7.pending_evicted",
        "l7.parse_errors",
        "l7.gap_bytes",
        "l7.gaps",
        "l7.overflow_bytes",
        "l7.hold_exhausted",
        "l7.duplicate_segments",
        "l7.h2_degraded",
        "l7.h2_state_full",
        "l7.records",
    ];

    fn values(&self) -> [u64; 19] {
        [
            self.flows,
            self.inference_failed,
            self.inference_skipped,
            self.inference_cached,
            self.state_full,
            self.requests,
            self.responses,
            self.unmatched_responses,
            self.timeouts,
            self.pending_evicted,
            self.parse_errors,
            self.gap_bytes,
            self.gaps,
            self.overflow_bytes,
            self.hold_exhausted,
            self.duplicate_segments,
            self.h2_degraded,
            self.h2_state_full,
            self.records,
        ]
    }

    fn fields_mut(&mut self) -> [&mut u64; 19] {
        [
            &mut self.flows,
            &mut self.inference_failed,
            &mut self.inference_skipped,
            &mut self.inference_cached,
            &mut self.state_full,
            &mut self.requests,
            &mut self.responses,
            &mut self.unmatched_responses,
            &mut self.timeouts,
            &mut self.pending_evicted,
            &mut self.parse_errors,
            &mut self.gap_bytes,
            &mut self.gaps,
            &mut self.overflow_bytes,
            &mut self.hold_exhausted,
            &mut self.duplicate_segments,
            &mut self.h2_degraded,
            &mut self.h2_state_full,
            &mut self.records,
        ]
    }
}
