//! Mirror semantics on generated captures: SPAN duplicates, mirror encapsulations and their
//! tap_port, VLAN/PCP -> tap_type, both-ends-local traffic in virtual mirror mode, learned
//! direction, one-way mirrors.

use std::io::Cursor;

use tapflow_analyzer::mirror::{
    CaptureMode, DedupConfig, LocalMacs, MirrorConfig, TapTypeMap, VlanSource,
};
use tapflow_analyzer::{Analyzer, AnalyzerConfig, Counters, L4FlowLog};
use tapflow_bench::gen::{generate, Duplicates, Encap, ExpectedFlow, GenSpec, Scenario};
use tapflow_dataplane::pcap::PcapReader;
use tapflow_dataplane::OfflineRun;

mod record_invariants;
use record_invariants::assert_record_invariants;

fn gen(spec: &GenSpec) -> (Vec<u8>, Vec<ExpectedFlow>) {
    let mut pcap = Vec::new();
    let mut exp = Vec::new();
    generate(spec, &mut pcap, Some(&mut exp)).expect("generate");
    let exp = String::from_utf8(exp)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    (pcap, exp)
}

fn analyze(pcap: &[u8], cfg: AnalyzerConfig) -> (Vec<L4FlowLog>, Counters) {
    let mut reader =
        PcapReader::from_reader(Box::new(Cursor::new(pcap.to_vec())), 1).expect("pcap");
    let mut an = Analyzer::new(cfg);
    let mut out = Vec::new();
    let mut run = OfflineRun::new(&mut an);
    run.drain(&mut reader, &mut out, |_, _| {}).expect("read");
    run.finish(&mut out);
    out.iter().for_each(assert_record_invariants);
    let c = an.counters().clone();
    (out, c)
}

fn mode(mode: CaptureMode) -> AnalyzerConfig {
    AnalyzerConfig {
        mirror: MirrorConfig {
            mode,
            ..MirrorConfig::default()
        },
        ..AnalyzerConfig::default()
    }
}

fn totals(recs: &[L4FlowLog]) -> (u64, u64) {
    recs.iter()
        .fold((0, 0), |(a, b), r| (a + r.packet_tx, b + r.packet_rx))
}

fn expected_totals(exp: &[ExpectedFlow]) -> (u64, u64) {
    exp.iter()
        .fold((0, 0), |(a, b), e| (a + e.packet_tx, b + e.packet_rx))
}

const ALL: u64 = Scenario::ALL.len() as u64;

#[test]
fn span_duplicates_are_counted_once() {
    for enc in [Encap::None, Encap::Vlan, Encap::ErspanIII, Encap::Vxlan] {
        let spec = GenSpec {
            flows: ALL * 2,
            encap: enc,
            duplicates: Duplicates::Identical,
            ..GenSpec::default()
        };
        let (pcap, exp) = gen(&spec);
        for m in [CaptureMode::Analyzer, CaptureMode::VirtualMirror] {
            let (recs, c) = analyze(&pcap, mode(m));
            let (tx, rx) = expected_totals(&exp);
            assert_eq!(
                c.dedup_dropped,
                tx + rx,
                "{enc:?} {m:?}: one copy of each packet dropped"
            );
            assert_eq!(totals(&recs), (tx, rx), "{enc:?} {m:?}");
            let retrans: u32 = recs.iter().map(|r| r.retrans_tx + r.retrans_rx).sum();
            let want: u32 = exp.iter().map(|e| e.retrans_tx + e.retrans_rx).sum();
            assert_eq!(
                retrans, want,
                "{enc:?} {m:?}: duplicates are not retransmissions"
            );
        }
        // Local mode does not de-duplicate: every copy counts.
        let (recs, c) = analyze(&pcap, mode(CaptureMode::Local));
        assert_eq!(c.dedup_dropped, 0);
        let (tx, rx) = expected_totals(&exp);
        assert_eq!(totals(&recs), (2 * tx, 2 * rx));
    }
}

#[test]
fn routed_duplicates_need_ttl_normalisation() {
    let spec = GenSpec {
        flows: ALL,
        duplicates: Duplicates::Routed,
        ..GenSpec::default()
    };
    let (pcap, exp) = gen(&spec);
    let (tx, rx) = expected_totals(&exp);
    let (_, c) = analyze(&pcap, mode(CaptureMode::Analyzer));
    assert_eq!(c.dedup_dropped, 0, "TTL differs: not identical");
    let mut cfg = mode(CaptureMode::Analyzer);
    cfg.mirror.dedup = DedupConfig {
        ignore_ttl: true,
        ..DedupConfig::default()
    };
    let (recs, c) = analyze(&pcap, cfg);
    assert_eq!(c.dedup_dropped, tx + rx);
    assert_eq!(totals(&recs), (tx, rx));
    // And off when disabled.
    let mut cfg = mode(CaptureMode::Analyzer);
    cfg.mirror.dedup = DedupConfig {
        disabled: true,
        ignore_ttl: true,
        ..DedupConfig::default()
    };
    assert_eq!(analyze(&pcap, cfg).1.dedup_dropped, 0);
}

#[test]
fn mirror_encapsulations_give_one_flow_per_conversation_with_their_tap_port() {
    for (enc, kind, session) in [
        (Encap::ErspanII, "erspan_ipv4", Some(10u64)),
        (Encap::ErspanIII, "erspan_ipv4", Some(11)),
        (Encap::Vxlan, "capture_interface", None),
        (Encap::Geneve, "capture_interface", None),
    ] {
        let spec = GenSpec {
            flows: ALL,
            encap: enc,
            ..GenSpec::default()
        };
        let (pcap, exp) = gen(&spec);
        let (recs, c) = analyze(&pcap, mode(CaptureMode::Analyzer));
        assert_eq!(c.decode_errors_total(), 0);
        let mut ids: Vec<u64> = recs.iter().map(|r| r.flow_id).collect();
        ids.dedup();
        assert_eq!(
            ids.len(),
            exp.len(),
            "{enc:?}: one flow per conversation, both directions merged"
        );
        for r in &recs {
            assert_eq!(r.tap_port_type, kind, "{enc:?}");
            match session {
                // ERSPAN source 198.51.100.1 and the session id.
                Some(s) => {
                    assert_eq!(r.tap_port & 0xFFFF_FFFF, 0xC633_6401, "{enc:?}");
                    assert_eq!((r.tap_port >> 40) & 0x3FF, s, "{enc:?}");
                    assert_eq!(r.tunnel_type, 0, "mirror transport is trimmed");
                }
                None => assert_eq!(
                    r.tap_port, 0x4000_0000_0000_0001,
                    "{enc:?}: capture interface 1"
                ),
            }
            assert!(
                r.peers.ip_0.to_string().starts_with("10."),
                "inner addresses, not the tunnel's: {r:?}"
            );
        }
    }
}

fn tap_type_of(enc: Encap, source: VlanSource, table: &[(u16, u8)]) -> Vec<u8> {
    let spec = GenSpec {
        flows: 4,
        encap: enc,
        scenarios: vec![Scenario::Http],
        ..GenSpec::default()
    };
    let (pcap, _) = gen(&spec);
    let mut cfg = mode(CaptureMode::Analyzer);
    cfg.mirror.tap_types = TapTypeMap::new(source, 3, table);
    let mut t: Vec<u8> = analyze(&pcap, cfg)
        .0
        .iter()
        .map(|r| r.capture_network_type)
        .collect();
    t.dedup();
    t
}

#[test]
fn vlan_and_pcp_map_to_tap_type() {
    // The generator tags Vlan frames with VLAN 100, PCP 3; QinQ frames with S-tag 200 (0x88A8,
    // PCP 0) over C-tag 100.
    let table = [(100, 4), (200, 5)];
    assert_eq!(
        tap_type_of(Encap::Vlan, VlanSource::OuterWithPcp(3), &table),
        vec![4]
    );
    assert_eq!(
        tap_type_of(Encap::Vlan, VlanSource::OuterWithPcp(0), &table),
        vec![3],
        "PCP differs: default"
    );
    assert_eq!(tap_type_of(Encap::Vlan, VlanSource::Outer, &table), vec![4]);
    assert_eq!(
        tap_type_of(Encap::QinQ, VlanSource::Outer, &table),
        vec![5],
        "0x88A8 outer tag recognised"
    );
    assert_eq!(tap_type_of(Encap::QinQ, VlanSource::Inner, &table), vec![4]);
    assert_eq!(
        tap_type_of(Encap::QinQ, VlanSource::OuterWithPcp(0), &table),
        vec![5]
    );
    assert_eq!(
        tap_type_of(Encap::None, VlanSource::Outer, &table),
        vec![3],
        "untagged: default"
    );
    assert_eq!(
        tap_type_of(Encap::None, VlanSource::Outer, &[(0, 9)]),
        vec![9],
        "untagged: VLAN 0 entry"
    );
}

#[test]
fn idc_tap_types_are_not_deduplicated() {
    let spec = GenSpec {
        flows: 4,
        encap: Encap::Vlan,
        duplicates: Duplicates::Identical,
        ..GenSpec::default()
    };
    let (pcap, _) = gen(&spec);
    let mut cfg = mode(CaptureMode::Analyzer);
    cfg.mirror.tap_types = TapTypeMap::new(VlanSource::Outer, 3, &[(100, 4)]);
    assert_eq!(
        analyze(&pcap, cfg).1.dedup_dropped,
        0,
        "DeepFlow de-duplicates Cloud (3) traffic only"
    );
}

#[test]
fn both_ends_local_gives_two_flows_in_virtual_mirror_mode() {
    // Conversation 0: client MAC 02:c1:00:00:00:00, server MAC 02:5e:00:00:00:00.
    let client = [0x02, 0xc1, 0, 0, 0, 0];
    let server = [0x02, 0x5e, 0, 0, 0, 0];
    let spec = GenSpec {
        flows: 1,
        scenarios: vec![Scenario::Http],
        ..GenSpec::default()
    };
    let (pcap, exp) = gen(&spec);
    let run = |macs: Vec<[u8; 6]>| {
        let mut cfg = mode(CaptureMode::VirtualMirror);
        cfg.mirror.local_macs = LocalMacs::new(macs);
        analyze(&pcap, cfg).0
    };
    let recs = run(vec![client, server]);
    assert_eq!(recs.len(), 2, "one flow per local end");
    let mut points: Vec<(&str, bool, bool, u64)> = recs
        .iter()
        .map(|r| (r.observation_point, r.l2_end_0, r.l2_end_1, r.tap_port))
        .collect();
    points.sort();
    let port = |m: [u8; 6]| {
        (u64::from(m[0]) << 48)
            | (u64::from(m[1]) << 40)
            | u64::from(u32::from_be_bytes([m[2], m[3], m[4], m[5]]))
    };
    assert_eq!(
        points,
        vec![
            ("c-hv", true, false, port(client)),
            ("s-hv", false, true, port(server))
        ]
    );
    for r in &recs {
        assert_eq!(r.tap_port_type, "local_mac");
        assert_eq!(
            (r.packet_tx, r.packet_rx),
            (exp[0].packet_tx, exp[0].packet_rx),
            "each flow sees the whole conversation"
        );
    }
    let recs = run(vec![server]);
    assert_eq!(recs.len(), 1);
    assert_eq!((recs[0].observation_point, recs[0].tap_side), ("s-hv", 18));
    let recs = run(vec![]);
    assert_eq!(
        (recs.len(), recs[0].tap_port_type, recs[0].observation_point),
        (1, "capture_interface", "rest")
    );
}

#[test]
fn one_way_mirror_keeps_useful_counters() {
    let spec = GenSpec {
        flows: ALL,
        one_way: true,
        ..GenSpec::default()
    };
    let (pcap, exp) = gen(&spec);
    let (recs, _) = analyze(&pcap, mode(CaptureMode::Analyzer));
    assert_eq!(totals(&recs), expected_totals(&exp));
    assert_eq!(recs.iter().map(|r| r.packet_rx).sum::<u64>(), 0);
    let retrans: u32 = recs.iter().map(|r| r.retrans_tx + r.retrans_rx).sum();
    assert_eq!(
        retrans,
        exp.iter().map(|e| e.retrans_tx).sum::<u32>(),
        "client retransmissions still counted"
    );
    let zw: u32 = recs.iter().map(|r| r.zero_win_tx + r.zero_win_rx).sum();
    assert_eq!(zw, exp.iter().map(|e| e.zero_win_tx).sum::<u32>());
    assert!(
        recs.iter()
            .all(|r| r.first_time_rx == 0 && r.rtt == 0 && r.srt_count == 0),
        "nothing that needs the reply"
    );
}

/// DeepFlow's `tunnel_decap_protocols` without VXLAN/Geneve/IPIP: the underlay's flows (the
/// tunnel endpoints' UDP or IP-in-IP conversations) instead of the inner ones; trimmed mirror
/// transports (ERSPAN) are peeled whatever the setting. Through the config file, as a DeepFlow
/// operator writes it.
#[test]
fn tunnels_left_encapsulated_give_the_underlays_flows() {
    let cfg = tapflow_control::config::Config::from_yaml(
        "inputs:\n  cbpf:\n    common:\n      capture_mode: 2\n    preprocess:\n      \
         tunnel_decap_protocols: []\n",
    )
    .expect("config")
    .analyzer;
    for (enc, underlay_port) in [
        (Encap::Vxlan, Some(4789)),
        (Encap::Geneve, Some(6081)),
        (Encap::IpIp, None),
        (Encap::Gre, None),
        (Encap::ErspanIII, None),
    ] {
        let spec = GenSpec {
            flows: ALL,
            encap: enc,
            ..GenSpec::default()
        };
        let (pcap, exp) = gen(&spec);
        let (recs, c) = analyze(&pcap, cfg.clone());
        assert_eq!(c.decode_errors_total(), 0, "{enc:?}");
        let inner = recs
            .iter()
            .filter(|r| r.peers.ip_0.to_string().starts_with("10."))
            .count();
        match (enc, underlay_port) {
            (Encap::ErspanIII, _) => assert!(inner > 0 && recs.len() >= exp.len(), "{enc:?}"),
            (_, port) => {
                assert_eq!(inner, 0, "{enc:?}: no inner flow");
                assert!(
                    !recs.is_empty() && recs.len() < exp.len(),
                    "{enc:?}: {}",
                    recs.len()
                );
                if let Some(p) = port {
                    assert!(recs.iter().all(|r| r.peers.server_port == p), "{enc:?}");
                }
                assert!(recs.iter().all(|r| r.tunnel_type == 0), "{enc:?}");
            }
        }
    }
}
