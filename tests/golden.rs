//! Golden tests: generated captures (every scenario, every encapsulation) through the analyzer,
//! compared field by field with the generator's own expectations.

use std::collections::BTreeMap;
use std::io::Cursor;

use tapflow_analyzer::aggregate::{Aggregator, MetricsConfig};
use tapflow_analyzer::l7::L7Protocol;
use tapflow_analyzer::{Analyzer, AnalyzerConfig, L4FlowLog, RecordRef};
use tapflow_bench::gen::{generate, Encap, ExpectedFlow, GenSpec, Scenario};
use tapflow_control::sink::metrics_json::{write_app_doc, write_flow_doc};
use tapflow_dataplane::pcap::PcapReader;
use tapflow_dataplane::OfflineRun;

mod record_invariants;
use record_invariants::assert_record_invariants;

fn sock(ip: std::net::IpAddr, port: u16) -> String {
    match ip {
        std::net::IpAddr::V4(v) => format!("{v}:{port}"),
        std::net::IpAddr::V6(v) => format!("[{v}]:{port}"),
    }
}

/// Sums the rows of each flow (a long flow has one row per minute) into an ExpectedFlow.
fn summarize(records: &[L4FlowLog]) -> Vec<(u64, ExpectedFlow)> {
    let mut by_id: BTreeMap<u64, (u64, ExpectedFlow)> = BTreeMap::new();
    for r in records {
        let e = &mut by_id
            .entry(r.flow_id)
            .or_insert_with(|| (r.start_time, ExpectedFlow::default()))
            .1;
        e.client = sock(r.peers.ip_0, r.peers.client_port);
        e.server = sock(r.peers.ip_1, r.peers.server_port);
        e.protocol = r.peers.protocol;
        e.close_type = r.close_type;
        e.packet_tx += r.packet_tx;
        e.packet_rx += r.packet_rx;
        e.byte_tx += r.byte_tx;
        e.byte_rx += r.byte_rx;
        e.l4_byte_tx += r.l4_byte_tx;
        e.l4_byte_rx += r.l4_byte_rx;
        e.syn_count += r.syn_count;
        e.synack_count += r.synack_count;
        e.retrans_tx += r.retrans_tx;
        e.retrans_rx += r.retrans_rx;
        e.ooo_tx += r.ooo_tx;
        e.ooo_rx += r.ooo_rx;
        e.zero_win_tx += r.zero_win_tx;
        e.zero_win_rx += r.zero_win_rx;
        e.rtt = e.rtt.max(r.rtt);
        e.tunnel_type = r.tunnel_type;
        e.vlan = r.vlan;
        if !r.l7_protocol_str.is_empty() {
            e.l7_protocol = r.l7_protocol_str.to_string();
        }
        e.l7_request += r.l7_request;
        e.l7_response += r.l7_response;
        e.l7_client_error += r.l7_client_error;
        e.l7_server_error += r.l7_server_error;
        e.rrt_sum += r.rrt_sum;
    }
    let mut v: Vec<_> = by_id.into_values().collect();
    v.sort_by(|a, b| {
        (a.1.client.as_str(), a.1.server.as_str(), a.0).cmp(&(
            b.1.client.as_str(),
            b.1.server.as_str(),
            b.0,
        ))
    });
    v
}

fn analyze(pcap: Vec<u8>) -> (Vec<L4FlowLog>, tapflow_analyzer::Counters) {
    let mut reader = PcapReader::from_reader(Box::new(Cursor::new(pcap)), 0).expect("pcap");
    // Every protocol tapflow parses, also those off by default (PostgreSQL, memcached, MongoDB).
    let mut cfg = AnalyzerConfig::default();
    for p in L7Protocol::ALL {
        cfg.l7.enabled.insert(*p);
    }
    let mut an = Analyzer::new(cfg);
    let mut out = tapflow_analyzer::RecordBatch::default();
    let mut run = OfflineRun::new(&mut an);
    run.drain(&mut reader, &mut out, |_, _| {}).expect("read");
    run.finish(&mut out);
    let c = an.counters().clone();
    for r in &out.l4 {
        assert_record_invariants(r);
        assert_fast_json_is_serdes(RecordRef::L4FlowLog(r));
    }
    for r in &out.l7 {
        assert_fast_json_is_serdes(RecordRef::L7FlowLog(r));
    }
    // Every document these rows make, per minute and per second.
    let mut agg = Aggregator::new(MetricsConfig {
        second: true,
        ..MetricsConfig::default()
    });
    out.for_each(|r| agg.add(r));
    let mut docs = tapflow_analyzer::RecordBatch::default();
    agg.finish(&mut docs);
    assert!(
        out.l4.is_empty() || !docs.is_empty(),
        "documents from the rows"
    );
    docs.for_each(assert_fast_json_is_serdes);
    (out.l4, c)
}

/// The files' l4, l7 and document writers give the same JSON as serde's derive (through the
/// record sum type, as the files wrote it before), for every golden row and its documents.
fn assert_fast_json_is_serdes(r: RecordRef<'_>) {
    let mut fast = tapflow_analyzer::TextBuf::new();
    match r {
        RecordRef::L4FlowLog(row) => tapflow_control::sink::l4_json::write_l4(row, &mut fast),
        RecordRef::L7FlowLog(row) => tapflow_control::sink::l7_json::write_l7(row, &mut fast),
        RecordRef::NetworkDoc(d) => write_flow_doc(&d.0, &mut fast),
        RecordRef::NetworkMapDoc(d) => write_flow_doc(&d.0, &mut fast),
        RecordRef::NetworkDoc1s(d) => write_flow_doc(&d.0, &mut fast),
        RecordRef::NetworkMapDoc1s(d) => write_flow_doc(&d.0, &mut fast),
        RecordRef::ApplicationDoc(d) => write_app_doc(&d.0, &mut fast),
        RecordRef::ApplicationMapDoc(d) => write_app_doc(&d.0, &mut fast),
        RecordRef::ApplicationDoc1s(d) => write_app_doc(&d.0, &mut fast),
        RecordRef::ApplicationMapDoc1s(d) => write_app_doc(&d.0, &mut fast),
    }
    let fast: serde_json::Value = serde_json::from_slice(fast.as_bytes()).expect("valid JSON");
    let serde = serde_json::to_value(r).expect("serde");
    assert_eq!(fast, serde);
}

fn check(encap: Encap, flows: u64, seed: u64) {
    let spec = GenSpec {
        seed,
        flows,
        encap,
        ..GenSpec::default()
    };
    let mut pcap = Vec::new();
    let mut exp_bytes = Vec::new();
    generate(&spec, &mut pcap, Some(&mut exp_bytes)).expect("generate");
    let mut expected: Vec<ExpectedFlow> = String::from_utf8(exp_bytes)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("expected json"))
        .collect();
    let (records, counters) = analyze(pcap);
    assert_eq!(
        counters.decode_errors_total(),
        0,
        "{encap:?}: decode errors {:?}",
        counters.entries()
    );
    let got = summarize(&records);
    // Expected flows in the same order: by (client, server), then start (port reuse -> two flows).
    expected.sort_by(|a, b| {
        (a.client.as_str(), a.server.as_str()).cmp(&(b.client.as_str(), b.server.as_str()))
    });
    assert_eq!(got.len(), expected.len(), "{encap:?}: flow count");
    // The analyzer remembers each server's protocol (DeepFlow's AppTable): a flow without L7
    // messages of its own, to a server another conversation spoke a protocol to, is labeled
    // with that protocol and has no requests (generated servers repeat every 64 conversations).
    let learned: std::collections::HashMap<&str, &str> = expected
        .iter()
        .filter(|e| !e.l7_protocol.is_empty())
        .map(|e| (e.server.as_str(), e.l7_protocol.as_str()))
        .collect();
    for ((_, g), e) in got.iter().zip(expected.iter()) {
        let remembered = e.l7_protocol.is_empty()
            && e.l7_request == 0
            && learned.get(e.server.as_str()) == Some(&g.l7_protocol.as_str());
        let want = ExpectedFlow {
            scenario: String::new(),
            l7_protocol: if remembered {
                g.l7_protocol.clone()
            } else {
                e.l7_protocol.clone()
            },
            ..e.clone()
        };
        assert_eq!(g, &want, "{encap:?} scenario {}", e.scenario);
    }
}

#[test]
fn every_scenario_plain() {
    check(Encap::None, Scenario::ALL.len() as u64 * 3, 1);
}

#[test]
fn every_scenario_in_every_encapsulation() {
    for encap in Encap::ALL {
        check(encap, Scenario::ALL.len() as u64, 7);
    }
}

#[test]
fn many_flows_across_minute_boundaries() {
    // 3000 conversations 40 ms apart: two minutes of traffic, so rows are split per minute.
    let spec = GenSpec {
        seed: 3,
        flows: 3000,
        spacing_ns: 40_000_000,
        ..GenSpec::default()
    };
    let mut pcap = Vec::new();
    let mut exp = Vec::new();
    generate(&spec, &mut pcap, Some(&mut exp)).expect("generate");
    let (records, _) = analyze(pcap);
    assert!(
        records.iter().any(|r| r.close_type == 5),
        "expected per-minute ForcedReport rows"
    );
    let expected_flows = String::from_utf8(exp).expect("utf8").lines().count();
    assert_eq!(summarize(&records).len(), expected_flows);
}

#[test]
fn same_input_same_bytes() {
    let spec = GenSpec {
        seed: 11,
        flows: 200,
        encap: Encap::Vxlan,
        ..GenSpec::default()
    };
    let mut pcap = Vec::new();
    generate(&spec, &mut pcap, None).expect("generate");
    let a = serde_json::to_string(&analyze(pcap.clone()).0).expect("json");
    let b = serde_json::to_string(&analyze(pcap).0).expect("json");
    assert_eq!(a, b);
}
