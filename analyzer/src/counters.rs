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

/// Counters of one analyzer worker. Every drop and decode failure has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// Decode failures by (layer, kind); see [`Counters::decode_error`].
    pub decode_errors: [u64; DECODE_SLOTS],
    /// Frames that are not IP (ARP, LLDP, ...): counted, not tracked as flows.
    pub non_ip: u64,
    /// Non-first IP fragments: counted in their flow, not L4-parsed.
    pub ip_fragments: u64,
    /// Mirrored duplicates dropped (same packet twice within 100 ms).
    pub dedup_dropped: u64,
    /// Packets whose timestamp went backwards by more than 1 ms (clamped to the current time).
    pub ts_backwards: u64,
    pub flows_created: u64,
    pub flows_closed: u64,
    /// Most flows tracked at once.
    pub active_flows_peak: u64,
    /// New flows refused because the table was full.
    pub flow_table_full: u64,
    /// Flows closed early to make room (policy `evict_oldest`).
    pub flows_evicted: u64,
    /// Flows closed because the same 5-tuple started a new connection (SYN after close).
    pub flows_port_reused: u64,
    /// TCP packets ignored by the performance metrics for abnormal flag combinations.
    pub tcp_abnormal_flags: u64,
    /// TCP data segments partly overlapping seen data (not counted as retransmissions).
    pub tcp_partial_overlap: u64,
    /// TCP headers with malformed options (packet still used).
    pub tcp_bad_options: u64,
    /// Flow log rows produced.
    pub records: u64,
    /// New configurations taken over while running.
    pub reconfigurations: u64,
    /// The L7 layer's counters.
    pub l7: crate::l7::L7Counters,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            rx_packets: 0,
            rx_bytes: 0,
            decode_errors: [0; DECODE_SLOTS],
            non_ip: 0,
            ip_fragments: 0,
            dedup_dropped: 0,
            ts_backwards: 0,
            flows_created: 0,
            flows_closed: 0,
            active_flows_peak: 0,
            flow_table_full: 0,
            flows_evicted: 0,
            flows_port_reused: 0,
            tcp_abnormal_flags: 0,
            tcp_partial_overlap: 0,
            tcp_bad_options: 0,
            records: 0,
            reconfigurations: 0,
            l7: crate::l7::L7Counters::default(),
        }
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
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.non_ip += o.non_ip;
        self.ip_fragments += o.ip_fragments;
        self.dedup_dropped += o.dedup_dropped;
        self.ts_backwards += o.ts_backwards;
        self.flows_created += o.flows_created;
        self.flows_closed += o.flows_closed;
        self.active_flows_peak += o.active_flows_peak;
        self.flow_table_full += o.flow_table_full;
        self.flows_evicted += o.flows_evicted;
        self.flows_port_reused += o.flows_port_reused;
        self.tcp_abnormal_flags += o.tcp_abnormal_flags;
        self.tcp_partial_overlap += o.tcp_partial_overlap;
        self.tcp_bad_options += o.tcp_bad_options;
        self.records += o.records;
        self.reconfigurations = self.reconfigurations.max(o.reconfigurations);
        self.l7.merge(&o.l7);
    }

    /// (name, value) for every counter, decode errors as `decode.<layer>.<kind>`, zeros included.
    pub fn entries(&self) -> Vec<(String, u64)> {
        let mut v = vec![
            ("rx_packets".to_string(), self.rx_packets),
            ("rx_bytes".to_string(), self.rx_bytes),
            ("non_ip".to_string(), self.non_ip),
            ("ip_fragments".to_string(), self.ip_fragments),
            ("dedup_dropped".to_string(), self.dedup_dropped),
            ("ts_backwards".to_string(), self.ts_backwards),
            ("flows_created".to_string(), self.flows_created),
            ("flows_closed".to_string(), self.flows_closed),
            ("active_flows_peak".to_string(), self.active_flows_peak),
            ("flow_table_full".to_string(), self.flow_table_full),
            ("flows_evicted".to_string(), self.flows_evicted),
            ("flows_port_reused".to_string(), self.flows_port_reused),
            ("tcp_abnormal_flags".to_string(), self.tcp_abnormal_flags),
            ("tcp_partial_overlap".to_string(), self.tcp_partial_overlap),
            ("tcp_bad_options".to_string(), self.tcp_bad_options),
            ("records".to_string(), self.records),
            ("reconfigurations".to_string(), self.reconfigurations),
        ];
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
