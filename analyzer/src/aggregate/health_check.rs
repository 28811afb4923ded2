//! DeepFlow's health-check aggregation (`outputs.flow_log.aggregators.
//! aggregate_health_check_l4_flow_log`, on by default): the flows of a load balancer's or a
//! monitor's TCP probes (handshake, then the client's RST, no data: close type
//! `tcp_fin_client_rst`) become one l4 row per probed service and minute instead of one per
//! probe. Probes differ only in their client port, so the rows of a minute that agree on
//! everything else are merged, and the merged row's `client_port` is 0 (DeepFlow's `port_src`).
//! A probe alone in its minute is written as it came.
//!
//! The merged row takes the identity (flow id, sequence numbers, flags of the flow) of its
//! earliest probe (by start time, then flow id), adds the counters, and spans the probes' first
//! start to their last end: every part of it is independent of the order the rows come in, so
//! `analyze --workers N` writes the same rows as one worker.
//!
//! A minute's rows are written once the output's time is [`HOLD_NS`] past the minute's end: a
//! probe's row comes when its flow is reported, up to the RST timeout (35 s) after its last
//! packet (DeepFlow holds them about as long: its minute slots plus their delay). A row that
//! comes after its minute was written, or finds the table full ([`MAX_KEYS`] services), is
//! written on its own (counted).

// foldhash rather than SipHash: a lookup per probe.
use hashbrown::hash_map::{Entry, HashMap};

use super::flow_aggr::add_interval;
use crate::flow::CloseType;
use crate::record::{L4FlowLog, Record, RecordSink};

const MINUTE_US: u64 = 60_000_000;
/// How long after its minute ends a minute's merged rows are written.
pub const HOLD_NS: u64 = 60_000_000_000;
/// Services (probed address, port, observation point, ...) and minutes held at most.
pub const MAX_KEYS: usize = 4096;

/// What the probes of one service agree on (the row without its client port and counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ServiceKey {
    minute: u64,
    ip_0: std::net::IpAddr,
    ip_1: std::net::IpAddr,
    mac_0: [u8; 6],
    mac_1: [u8; 6],
    server_port: u16,
    protocol: u8,
    capture_network_type: u8,
    tap_side: u8,
    signal_source: u8,
    vlan: u16,
    agent_id: u16,
    tap_port: u64,
    tunnel_id: u32,
}

impl ServiceKey {
    fn of(r: &L4FlowLog) -> Self {
        ServiceKey {
            minute: r.start_time / MINUTE_US,
            ip_0: r.peers.ip_0,
            ip_1: r.peers.ip_1,
            mac_0: r.peers.mac_0.0,
            mac_1: r.peers.mac_1.0,
            server_port: r.peers.server_port,
            protocol: r.peers.protocol,
            capture_network_type: r.capture_network_type,
            tap_side: r.tap_side,
            signal_source: r.signal_source,
            vlan: r.vlan,
            agent_id: r.agent_id,
            tap_port: r.tap_port,
            tunnel_id: r.tunnel_id,
        }
    }
}

/// Counters of the aggregation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthCheckCounters {
    /// Probe rows merged into another one's row (DeepFlow's `heartbeat_aggred`).
    pub merged: u64,
    /// Probe rows written on their own: their minute was already written.
    pub late: u64,
    /// Probe rows written on their own: [`MAX_KEYS`] services were held.
    pub table_full: u64,
}

/// The probe rows held, by service and minute.
#[derive(Debug, Default)]
pub struct HealthCheckAggr {
    open: HashMap<ServiceKey, L4FlowLog>,
    /// Minutes before this one are written.
    written_before: u64,
    counters: HealthCheckCounters,
}

/// Whether `r` is a probe's row (DeepFlow's heartbeat: close type `tcp_fin_client_rst`).
#[inline]
pub fn is_health_check(r: &L4FlowLog) -> bool {
    r.close_type == CloseType::TcpFinClientRst as u8
}

/// `a` and `b`, two probes of one service, as one row.
fn combine(a: &L4FlowLog, b: &L4FlowLog) -> L4FlowLog {
    let (mut m, other) = if (b.start_time, b.flow_id) < (a.start_time, a.flow_id) {
        (*b, a)
    } else {
        (*a, b)
    };
    add_interval(&mut m, other);
    macro_rules! sum {
        ($($f:ident),+) => { $(m.$f += other.$f;)+ };
    }
    sum!(
        total_packet_tx,
        total_packet_rx,
        total_byte_tx,
        total_byte_rx
    );
    let earliest = |x: u64, y: u64| match (x, y) {
        (0, v) | (v, 0) => v,
        (x, y) => x.min(y),
    };
    m.first_time_tx = earliest(m.first_time_tx, other.first_time_tx);
    m.first_time_rx = earliest(m.first_time_rx, other.first_time_rx);
    m.last_time_tx = m.last_time_tx.max(other.last_time_tx);
    m.last_time_rx = m.last_time_rx.max(other.last_time_rx);
    m.l2_end_0 |= other.l2_end_0;
    m.l2_end_1 |= other.l2_end_1;
    m.end_time = m.end_time.max(other.end_time);
    m.duration = m.end_time - m.start_time;
    m.peers.client_port = 0;
    m
}

impl HealthCheckAggr {
    pub fn new() -> Self {
        Self::default()
    }

    /// Most memory the held rows take: [`MAX_KEYS`] rows and their keys, at the least full the
    /// map gets (7/16, right after it grows).
    pub fn memory_bytes() -> u64 {
        let per_row = std::mem::size_of::<(ServiceKey, L4FlowLog)>() as u64 + 1;
        MAX_KEYS as u64 * per_row * 16 / 7
    }

    pub fn counters(&self) -> HealthCheckCounters {
        self.counters
    }

    /// Takes a probe's row (see [`is_health_check`]): held, merged into its service's row of the
    /// minute (true), or to be written as it is (false: late, or the table full).
    pub fn add(&mut self, r: &L4FlowLog) -> bool {
        let key = ServiceKey::of(r);
        if key.minute < self.written_before {
            self.counters.late += 1;
            return false;
        }
        let full = self.open.len() >= MAX_KEYS;
        match self.open.entry(key) {
            Entry::Occupied(mut e) => {
                let merged = combine(e.get(), r);
                *e.get_mut() = merged;
                self.counters.merged += 1;
            }
            Entry::Vacant(_) if full => {
                self.counters.table_full += 1;
                return false;
            }
            Entry::Vacant(e) => {
                e.insert(*r);
            }
        }
        true
    }

    /// Writes the rows of the minutes that ended [`HOLD_NS`] before `now_ns`.
    pub fn close_until(&mut self, now_ns: u64, sink: &mut impl RecordSink) {
        let done = now_ns.saturating_sub(HOLD_NS) / 1_000 / MINUTE_US;
        if done <= self.written_before {
            return;
        }
        self.written_before = done;
        self.write(sink, |k| k.minute < done);
    }

    /// Writes every held row (end of input, shutdown).
    pub fn finish(&mut self, sink: &mut impl RecordSink) {
        self.write(sink, |_| true);
    }

    /// Writes the rows whose key `due` says, in the order of their start, then flow id.
    fn write(&mut self, sink: &mut impl RecordSink, due: impl Fn(&ServiceKey) -> bool) {
        let mut rows: Vec<L4FlowLog> = Vec::new();
        self.open.retain(|k, r| {
            if due(k) {
                rows.push(*r);
            }
            !due(k)
        });
        rows.sort_unstable_by_key(|r| (r.start_time, r.flow_id));
        for r in &rows {
            sink.record(r.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordRef;

    /// A probe of 10.0.0.2:80 from 10.0.0.1:`port`, starting at `start_us`.
    fn probe(port: u16, start_us: u64, flow_id: u64) -> L4FlowLog {
        let syn = crate::engine::sample::syn_row(crate::engine::sample::Syn {
            client: ([10, 0, 0, 1], port).into(),
            server: ([10, 0, 0, 2], 80).into(),
            window: 1,
            ts_ns: start_us * 1_000,
            wire_len: None,
        });
        L4FlowLog {
            flow_id,
            start_time: start_us,
            end_time: start_us + 300,
            duration: 300,
            close_type: CloseType::TcpFinClientRst as u8,
            packet_tx: 3,
            packet_rx: 1,
            byte_tx: 180,
            byte_rx: 60,
            total_packet_tx: 3,
            total_packet_rx: 1,
            first_time_tx: start_us,
            last_time_tx: start_us + 300,
            first_time_rx: start_us + 100,
            last_time_rx: start_us + 100,
            rtt: 100 + u32::from(port % 7),
            syn_count: 1,
            synack_count: 1,
            ..syn
        }
    }

    #[derive(Default)]
    struct Rows(Vec<L4FlowLog>);

    impl RecordSink for Rows {
        fn record(&mut self, rec: RecordRef<'_>) {
            if let RecordRef::L4FlowLog(r) = rec {
                self.0.push(*r);
            }
        }
    }

    const MIN: u64 = 60_000_000;
    const NS_PER_US: u64 = 1_000;

    #[test]
    fn probes_of_a_service_in_a_minute_become_one_row() {
        let mut a = HealthCheckAggr::new();
        let probes: Vec<_> = (0..5u16)
            .map(|i| {
                probe(
                    40_000 + i,
                    100 * MIN + u64::from(i) * 5_000_000,
                    10 + u64::from(i),
                )
            })
            .collect();
        for p in &probes {
            assert!(is_health_check(p));
            assert!(a.add(p));
        }
        let mut out = Rows::default();
        // Held until a minute after the minute's end.
        a.close_until((102 * MIN - 1) * NS_PER_US, &mut out);
        assert!(out.0.is_empty());
        a.close_until(102 * MIN * NS_PER_US, &mut out);
        assert_eq!(out.0.len(), 1);
        let m = out.0[0];
        assert_eq!(m.peers.client_port, 0);
        assert_eq!((m.flow_id, m.start_time), (10, 100 * MIN));
        assert_eq!(m.end_time, probes[4].end_time);
        assert_eq!(m.duration, m.end_time - m.start_time);
        assert_eq!((m.packet_tx, m.packet_rx, m.byte_tx), (15, 5, 900));
        assert_eq!((m.total_packet_tx, m.syn_count, m.synack_count), (15, 5, 5));
        assert_eq!(m.rtt, probes.iter().map(|p| p.rtt).max().unwrap());
        assert_eq!(
            (m.first_time_rx, m.last_time_tx),
            (probes[0].first_time_rx, probes[4].last_time_tx)
        );
        assert_eq!(a.counters().merged, 4);
    }

    #[test]
    fn the_merged_row_does_not_depend_on_the_order() {
        let probes: Vec<_> = (0..6u16)
            .map(|i| {
                probe(
                    50_000 + i * 3,
                    7 * MIN + u64::from(i % 3) * 1000,
                    99 - u64::from(i),
                )
            })
            .collect();
        let run = |order: &[usize]| {
            let mut a = HealthCheckAggr::new();
            for &i in order {
                a.add(&probes[i]);
            }
            let mut out = Rows::default();
            a.finish(&mut out);
            out.0
        };
        let first = run(&[0, 1, 2, 3, 4, 5]);
        assert_eq!(first.len(), 1);
        assert_eq!(run(&[5, 3, 1, 0, 2, 4]), first);
        assert_eq!(run(&[2, 5, 4, 1, 3, 0]), first);
    }

    #[test]
    fn other_services_minutes_and_sides_stay_apart_and_a_lone_probe_is_unchanged() {
        let mut a = HealthCheckAggr::new();
        let lone = probe(40_001, 5 * MIN, 1);
        let mut other_port = probe(40_002, 5 * MIN + 10, 2);
        other_port.peers.server_port = 443;
        let next_minute = probe(40_003, 6 * MIN, 3);
        let mut other_side = probe(40_004, 5 * MIN + 20, 4);
        other_side.tap_side = 2;
        for r in [&lone, &other_port, &next_minute, &other_side] {
            assert!(a.add(r));
        }
        let mut out = Rows::default();
        a.finish(&mut out);
        assert_eq!(out.0, vec![lone, other_port, other_side, next_minute]);
        assert_eq!(a.counters(), HealthCheckCounters::default());
    }

    #[test]
    fn late_rows_and_a_full_table_are_written_on_their_own() {
        let mut a = HealthCheckAggr::new();
        let mut out = Rows::default();
        a.close_until(10 * MIN * NS_PER_US, &mut out);
        // Minute 8 ended 2 minutes before: written already.
        assert!(!a.add(&probe(1, 8 * MIN, 1)));
        assert_eq!(a.counters().late, 1);
        for i in 0..MAX_KEYS as u32 {
            let mut r = probe(2, 9 * MIN, 2);
            r.tunnel_id = i;
            assert!(a.add(&r));
        }
        let mut r = probe(3, 9 * MIN, 3);
        r.tunnel_id = u32::MAX;
        assert!(!a.add(&r));
        assert_eq!(a.counters().table_full, 1);
        // A service already held still merges.
        let mut r = probe(4, 9 * MIN, 4);
        r.tunnel_id = 7;
        assert!(a.add(&r));
        a.finish(&mut out);
        assert_eq!(out.0.len(), MAX_KEYS);
        assert!(HealthCheckAggr::memory_bytes() < 16 << 20);
    }
}
