//! `flow_load` through the aggregation: rows of connection pools, short flows and several
//! clients, minute and second windows, the setting off, and the bound on paths.

use std::net::{IpAddr, Ipv4Addr};

use super::minutes::{Aggregator, MetricsConfig};
use crate::flow::CloseType;
use crate::metrics::doc::DIRECTION_SERVER;
use crate::record::{Collected, L4FlowLog, RecordRef};

const MIN_US: u64 = 60_000_000;
/// A minute's start (1,700,000,040 s is a multiple of 60).
const T0_US: u64 = 1_700_000_040 * 1_000_000;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

/// A row of the flow from `client` (port `cport`) to 10.0.0.100:3306 over `[start, end]` µs
/// after `T0_US`.
fn row(
    client: IpAddr,
    cport: u16,
    (start, end): (u64, u64),
    new: bool,
    close: CloseType,
) -> L4FlowLog {
    let IpAddr::V4(c) = client else {
        unreachable!("IPv4 clients")
    };
    let mut r = crate::engine::sample::syn_row(crate::engine::sample::Syn {
        client: (c.octets(), cport).into(),
        server: ([10, 0, 0, 100], 3306).into(),
        window: 1,
        ts_ns: (T0_US + start) * 1_000,
        wire_len: None,
    });
    r.start_time = T0_US + start;
    r.end_time = T0_US + end;
    r.is_new_flow = new;
    r.close_type = close as u8;
    (r.packet_rx, r.total_packet_rx) = (1, 1);
    r
}

fn run(cfg: MetricsConfig, rows: &[L4FlowLog]) -> (Collected, Aggregator) {
    let mut agg = Aggregator::new(cfg);
    for r in rows {
        agg.add(RecordRef::L4FlowLog(r));
    }
    let mut docs = Collected::default();
    agg.finish(&mut docs);
    (docs, agg)
}

/// `network_map` loads by (minute index, client).
fn map_loads(docs: &Collected) -> Vec<(u64, IpAddr, u64)> {
    let mut v: Vec<_> = docs
        .network_map_1m
        .iter()
        .map(|d| {
            (
                (d.0.time * 1_000_000 - T0_US) / MIN_US,
                d.0.tags.ip,
                d.0.meter.flow_load,
            )
        })
        .collect();
    v.sort();
    v
}

const FORCED: CloseType = CloseType::ForcedReport;
const FIN: CloseType = CloseType::Finish;

#[test]
fn a_pool_counts_its_idle_connections_while_one_is_busy() {
    let a = ip(1);
    let mut rows = Vec::new();
    // Minute 0: three connections open; minute 1: only one has traffic; minute 2: all
    // three close; minute 3: a new one opens and closes.
    for p in 1..=3 {
        rows.push(row(a, p, (1_000, 2_000), true, FORCED));
    }
    rows.push(row(a, 1, (MIN_US, MIN_US + 5), false, FORCED));
    for p in 1..=3 {
        rows.push(row(a, p, (2 * MIN_US, 2 * MIN_US + 7), false, FIN));
    }
    rows.push(row(a, 4, (3 * MIN_US, 3 * MIN_US + 9), true, FIN));
    let (docs, agg) = run(MetricsConfig::default(), &rows);
    assert_eq!(
        map_loads(&docs),
        vec![(0, a, 3), (1, a, 3), (2, a, 3), (3, a, 1)]
    );
    // Each end has the path's load.
    for d in &docs.network_1m {
        let minute = (d.0.time * 1_000_000 - T0_US) / MIN_US;
        let want = if minute == 3 { 1 } else { 3 };
        assert_eq!(
            d.0.meter.flow_load, want,
            "{:?} minute {minute}",
            d.0.tags.direction
        );
    }
    assert_eq!(docs.network_1m.len(), 8);
    assert_eq!(agg.counters().flow_load_overflow, 0);
    assert_eq!(agg.open_paths(), (0, None), "every connection closed");
}

#[test]
fn short_flows_count_once_and_a_service_sums_its_clients() {
    let (a, b) = (ip(1), ip(2));
    let mut rows = Vec::new();
    // Five short connections from a, each opened and closed in minute 0.
    for p in 1..=5 {
        rows.push(row(a, p, (p as u64 * 10, p as u64 * 10 + 5), true, FIN));
    }
    // b: two long ones.
    for p in 1..=2 {
        rows.push(row(b, p, (100, 200), true, FORCED));
        rows.push(row(b, p, (MIN_US + 100, MIN_US + 200), false, FIN));
    }
    let (docs, _) = run(MetricsConfig::default(), &rows);
    assert_eq!(map_loads(&docs), vec![(0, a, 5), (0, b, 2), (1, b, 2)]);
    let server: Vec<(u64, u64)> = docs
        .network_1m
        .iter()
        .filter(|d| d.0.tags.direction == DIRECTION_SERVER)
        .map(|d| ((d.0.time * 1_000_000 - T0_US) / MIN_US, d.0.meter.flow_load))
        .collect();
    assert_eq!(
        server,
        vec![(0, 7), (1, 2)],
        "the service: both clients' paths"
    );
}

#[test]
fn seconds_carry_their_own_counts() {
    let a = ip(1);
    let s = 1_000_000;
    // One connection opens in second 0 and stays idle until it closes in second 5; another
    // opens and closes in second 3.
    let rows = [
        row(a, 1, (10, 20), true, FORCED),
        row(a, 2, (3 * s + 10, 3 * s + 20), true, FIN),
        row(a, 1, (5 * s + 10, 5 * s + 20), false, FIN),
    ];
    let cfg = MetricsConfig {
        second: true,
        ..MetricsConfig::default()
    };
    let (docs, agg) = run(cfg, &rows);
    assert_eq!(agg.open_paths(), (0, Some(0)));
    let seconds: Vec<(u64, u64)> = docs
        .network_map_1s
        .iter()
        .map(|d| (d.0.time - T0_US / 1_000_000, d.0.meter.flow_load))
        .collect();
    assert_eq!(seconds, vec![(0, 1), (3, 2), (5, 1)]);
    assert_eq!(map_loads(&docs), vec![(0, a, 2)]);
}

#[test]
fn off_leaves_the_load_at_zero() {
    let rows = [row(ip(1), 1, (10, 20), true, FIN)];
    let cfg = MetricsConfig {
        concurrent: false,
        ..MetricsConfig::default()
    };
    let (docs, _) = run(cfg, &rows);
    assert_eq!(map_loads(&docs), vec![(0, ip(1), 0)]);
}

#[test]
fn paths_beyond_the_bound_are_counted_and_left_out() {
    // Internet clients share the `0.0.0.0` document; each is a path of its own.
    let cfg = MetricsConfig {
        max_keys: 1,
        ..MetricsConfig::default()
    };
    let rows: Vec<L4FlowLog> = (1..=6u8)
        .map(|i| {
            let client = IpAddr::V4(Ipv4Addr::new(8, 8, 8, i));
            row(client, 1, (10, 20), true, FIN)
        })
        .collect();
    let (docs, agg) = run(cfg.clone(), &rows);
    let max = cfg.max_paths() as u64;
    assert_eq!(max, 4);
    assert_eq!(docs.network_map_1m.len(), 1);
    assert_eq!(docs.network_map_1m[0].0.meter.flow_load, max);
    assert_eq!(agg.counters().flow_load_overflow, 6 - max);
}

#[test]
fn only_tcp_and_udp_from_packets_count() {
    let mut icmp = row(ip(1), 0, (10, 20), true, FIN);
    icmp.peers.protocol = 1;
    let mut traced = row(ip(2), 1, (10, 20), true, FIN);
    traced.signal_source = 3;
    let (docs, _) = run(MetricsConfig::default(), &[icmp, traced]);
    assert!(docs.network_map_1m.iter().all(|d| d.0.meter.flow_load == 0));
    assert_eq!(docs.network_map_1m.len(), 2);
}

#[test]
fn a_full_key_table_gives_its_kept_documents_their_loads_whatever_the_order() {
    // 60 clients, client i with i % 3 + 1 connections open over minutes 0 and 1: 2 keys per
    // table, so keys replace each other and the windows drop the pairs of keys given up.
    let mut rows = Vec::new();
    for i in 0..60u8 {
        for p in 0..=u16::from(i % 3) {
            rows.push(row(ip(i + 1), 100 + p, (1_000, 2_000), true, FORCED));
            rows.push(row(
                ip(i + 1),
                100 + p,
                (MIN_US + 10, MIN_US + 20),
                false,
                FIN,
            ));
        }
    }
    let cfg = MetricsConfig {
        max_keys: 2,
        ..MetricsConfig::default()
    };
    let mut reversed = rows.clone();
    reversed.reverse();
    // 37 is prime to the 240 rows: a permutation.
    assert_eq!(rows.len(), 240);
    let scattered: Vec<L4FlowLog> = (0..rows.len())
        .map(|i| rows[(i * 37) % rows.len()])
        .collect();
    let runs: Vec<_> = [rows, reversed, scattered]
        .iter()
        .map(|rows| {
            let (docs, agg) = run(cfg.clone(), rows);
            (map_loads(&docs), docs.network_1m.clone(), agg.counters())
        })
        .collect();
    let (loads, _, counters) = &runs[0];
    assert!(counters.key_overflow > 0);
    // Each kept path has its client's connections, in both minutes.
    assert_eq!(loads.len(), 4, "{loads:?}");
    for &(_, client, load) in loads {
        let IpAddr::V4(c) = client else {
            unreachable!()
        };
        assert_eq!(load, u64::from((c.octets()[3] - 1) % 3 + 1), "{client}");
    }
    for other in &runs[1..] {
        assert_eq!(other, &runs[0]);
    }
}
