//! Self-monitoring counters of one worker: plain `u64` fields, no atomics; the owner publishes
//! snapshots (the sum of several workers is [`Counters::merge`]).

/// Declares a struct of `u64` counters once: the fields, their stats.json names (`prefix` +
/// field name), `NAMES`, `values()`, `merge()` (sum) and `entries()` all come from one list, so a
/// counter is added in one place and every export (stats.json, the live summary, Prometheus)
/// sees it.
#[macro_export]
macro_rules! named_counters {
    (
        $(#[$meta:meta])* $vis:vis struct $name:ident, prefix $prefix:literal {
            $($(#[$fdoc:meta])* $field:ident,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        $vis struct $name {
            $($(#[$fdoc])* pub $field: u64,)+
        }

        impl $name {
            /// Every counter's name, in declaration order.
            pub const NAMES: &'static [&'static str] =
                &[$(concat!($prefix, stringify!($field)),)+];

            /// Every counter's value, in the order of [`Self::NAMES`].
            pub fn values(&self) -> [u64; Self::NAMES.len()] {
                [$(self.$field,)+]
            }

            /// Adds another worker's counters.
            pub fn merge(&mut self, o: &Self) {
                $(self.$field += o.$field;)+
            }

            /// (name, value) of every counter.
            pub fn entries(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
                Self::NAMES.iter().copied().zip(self.values())
            }
        }
    };
}

use crate::wire::{DecodeError, ErrorKind, Layer};

const DECODE_SLOTS: usize = Layer::COUNT * ErrorKind::COUNT;

crate::named_counters! {
    /// The flow layer's counters of one worker (declared once: names and exports follow).
    pub struct FlowCounters, prefix "" {
        rx_packets,
        rx_bytes,
        /// Frames the capture filter (`extra_bpf_filter`) rejected: not in `rx_packets`.
        capture_filtered,
        /// Frames that are not IP (ARP, LLDP, ...): counted, not tracked as flows.
        non_ip,
        /// Non-first IP fragments: counted in their flow, not L4-parsed.
        ip_fragments,
        /// Mirrored duplicates dropped (same packet twice within 100 ms).
        dedup_dropped,
        /// Packets whose timestamp went backwards by more than 1 ms (clamped to the current time).
        ts_backwards,
        flows_created,
        flows_closed,
        /// Most flows tracked at once (summed over workers).
        active_flows_peak,
        /// New flows refused because the table was full.
        flow_table_full,
        /// Flows closed early to make room (policy `evict_oldest`).
        flows_evicted,
        /// Flows closed because the same 5-tuple started a new connection (SYN after close).
        flows_port_reused,
        /// TCP packets ignored by the performance metrics for abnormal flag combinations.
        tcp_abnormal_flags,
        /// TCP data segments partly overlapping seen data (not counted as retransmissions).
        tcp_partial_overlap,
        /// Times a TCP direction needed a block of sequence ranges (more holes than fit in its
        /// flow) and none was left: it kept its newest 2 ranges.
        tcp_range_blocks_exhausted,
        /// Packets of flows past their opening (or non-TCP flows with a response-time sample)
        /// that found no block of full performance state left: not measured.
        perf_blocks_exhausted,
        /// Times an ICMP flow's first echo request found no block for its outstanding requests
        /// left (no SRT for that flow's echoes).
        icmp_echo_blocks_exhausted,
        /// Tunnelled flows that found no tunnel block left (their rows carry no tunnel fields).
        tunnel_blocks_exhausted,
        /// Flows going on past a row that found no block for their running totals left (their
        /// later rows' totals count from that row on; cannot happen: one block per flow).
        carried_blocks_exhausted,
        /// TCP headers with malformed options (packet still used).
        tcp_bad_options,
        /// Flow log rows produced.
        records,
        /// New configurations taken over while running (the most of any worker when merged).
        reconfigurations,
    }
}

/// Counters of one analyzer worker. Every drop and decode failure has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    pub flow: FlowCounters,
    /// Decode failures by (layer, kind); see [`Counters::decode_error`].
    pub decode_errors: [u64; DECODE_SLOTS],
    /// The L7 layer's counters.
    pub l7: crate::l7::L7Counters,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            flow: FlowCounters::default(),
            decode_errors: [0; DECODE_SLOTS],
            l7: crate::l7::L7Counters::default(),
        }
    }
}

impl std::ops::Deref for Counters {
    type Target = FlowCounters;
    fn deref(&self) -> &FlowCounters {
        &self.flow
    }
}

impl std::ops::DerefMut for Counters {
    fn deref_mut(&mut self) -> &mut FlowCounters {
        &mut self.flow
    }
}

impl Counters {
    #[inline]
    pub fn count_decode_error(&mut self, e: DecodeError) {
        self.decode_errors[e.counter_index()] += 1;
    }

    /// Count for one (layer, kind).
    pub fn decode_error(&self, layer: Layer, kind: ErrorKind) -> u64 {
        self.decode_errors[DecodeError { layer, kind }.counter_index()]
    }

    /// All decode failures.
    pub fn decode_errors_total(&self) -> u64 {
        self.decode_errors.iter().sum()
    }

    /// Adds another worker's counters to these.
    pub fn merge(&mut self, o: &Counters) {
        for (a, b) in self.decode_errors.iter_mut().zip(o.decode_errors.iter()) {
            *a += b;
        }
        let reconfigurations = self.reconfigurations.max(o.reconfigurations);
        self.flow.merge(&o.flow);
        self.flow.reconfigurations = reconfigurations;
        self.l7.merge(&o.l7);
    }

    /// (name, value) for every counter, decode errors as `decode.<layer>.<kind>`, zeros included.
    pub fn entries(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .flow
            .entries()
            .map(|(k, n)| (k.to_string(), n))
            .collect();
        v.extend(
            self.l7
                .entries()
                .into_iter()
                .map(|(k, n)| (k.to_string(), n)),
        );
        for layer in Layer::ALL {
            for kind in ErrorKind::ALL {
                v.push((
                    format!("decode.{}.{}", layer.name(), kind.name()),
                    self.decode_error(layer, kind),
                ));
            }
        }
        v
    }
}
