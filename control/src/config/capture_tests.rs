//! The capture's DeepFlow keys: `inputs.cbpf.tunning.max_capture_pps`, the AF_PACKET ring size
//! (`inputs.cbpf.af_packet.tunning.ring_blocks`) and its fanout (`packet_fanout_count`,
//! `packet_fanout_mode`), each with DeepFlow's capture-mode rule.

use super::*;

#[test]
fn max_capture_pps_applies_outside_analyzer_mode() {
    let y = |mode: u8, pps: &str| {
        format!("inputs:\n  cbpf:\n    common:\n      capture_mode: {mode}\n    tunning:\n      max_capture_pps: {pps}\n")
    };
    assert_eq!(Config::default().max_capture_pps, None);
    let local = Config::from_yaml(&y(0, "5000")).unwrap();
    assert_eq!(local.max_capture_pps, Some(5000));
    assert!(
        local.restart_only_changes(&Config::default()).is_empty(),
        "hot"
    );
    assert_eq!(
        Config::from_yaml(&y(1, "0")).unwrap().max_capture_pps,
        Some(0)
    );
    let analyzer = Config::from_yaml(&y(2, "5000")).unwrap();
    assert_eq!(analyzer.max_capture_pps, None);
    assert!(analyzer
        .warnings
        .iter()
        .any(|w| w.contains("max_capture_pps") && w.contains("capture_mode 2")));
    let err = Config::from_yaml(&y(0, "2000000000"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("inputs.cbpf.tunning.max_capture_pps"), "{err}");
    assert!(Config::from_yaml(&y(0, "-1")).is_err());
}

#[test]
fn ring_blocks_apply_as_in_deepflow() {
    let y = |enabled: &str, mode: u8, blocks: u32| {
        format!(
            "inputs:\n  cbpf:\n    common:\n      capture_mode: {mode}\n    af_packet:\n      tunning:\n{enabled}        ring_blocks: {blocks}\n"
        )
    };
    let on = "        ring_blocks_enabled: true\n";
    assert_eq!(Config::default().af_packet_ring_blocks, None);
    let c = Config::from_yaml(&y(on, 0, 32)).unwrap();
    assert_eq!(c.af_packet_ring_blocks, Some(32));
    // Capture mode 2 applies it without the switch; mode 0 does not, and says so.
    assert_eq!(
        Config::from_yaml(&y("", 2, 16))
            .unwrap()
            .af_packet_ring_blocks,
        Some(16)
    );
    let off = Config::from_yaml(&y("", 0, 16)).unwrap();
    assert_eq!(off.af_packet_ring_blocks, None);
    assert!(off
        .warnings
        .iter()
        .any(|w| w.contains("ring_blocks_enabled")));
    let e = Config::from_yaml(&y(on, 0, 1)).unwrap_err();
    assert!(
        e.to_string()
            .contains("inputs.cbpf.af_packet.tunning.ring_blocks"),
        "{e}"
    );
    assert_eq!(
        Config::default().restart_only_changes(&c),
        ["inputs.cbpf.af_packet.tunning.ring_blocks"]
    );
}

#[test]
fn packet_fanout_applies_in_local_mode_as_in_deepflow() {
    let y = |mode: u8, count: u32, fanout: u32| {
        format!(
            "inputs:\n  cbpf:\n    common:\n      capture_mode: {mode}\n    af_packet:\n      tunning:\n        packet_fanout_count: {count}\n        packet_fanout_mode: {fanout}\n"
        )
    };
    assert_eq!(Config::default().af_packet_fanout, None);
    let c = Config::from_yaml(&y(0, 4, 0)).unwrap();
    assert_eq!(
        c.af_packet_fanout,
        Some(AfPacketFanout {
            sockets: 4,
            mode: 0
        })
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(
        Config::default().restart_only_changes(&c),
        vec!["inputs.cbpf.af_packet.tunning.packet_fanout_count"]
    );
    // One socket: nothing to spread.
    assert_eq!(
        Config::from_yaml(&y(0, 1, 3)).unwrap().af_packet_fanout,
        None
    );
    // Modes that split a flow apply, with a warning; 7 is tapflow's steering program, which 6
    // (classic BPF) becomes, with a warning.
    let lb = Config::from_yaml(&y(0, 2, 1)).unwrap();
    assert_eq!(lb.af_packet_fanout.map(|f| f.mode), Some(1));
    assert!(
        lb.warnings.iter().any(|w| w.contains("split")),
        "{:?}",
        lb.warnings
    );
    let ebpf = Config::from_yaml(&y(0, 2, 7)).unwrap();
    assert_eq!(ebpf.af_packet_fanout.map(|f| f.mode), Some(7));
    assert!(ebpf.warnings.is_empty(), "{:?}", ebpf.warnings);
    let cbpf = Config::from_yaml(&y(0, 2, 6)).unwrap();
    assert_eq!(cbpf.af_packet_fanout.map(|f| f.mode), Some(7));
    assert!(cbpf.warnings.iter().any(|w| w.contains("steering")));
    // The mirror modes: not applied, and said so.
    for mode in [1, 2] {
        let m = Config::from_yaml(&y(mode, 4, 0)).unwrap();
        assert_eq!(m.af_packet_fanout, None);
        assert!(
            m.warnings.iter().any(|w| w.contains("--queues")),
            "{:?}",
            m.warnings
        );
    }
    for (count, fanout, key) in [
        (0, 0, "packet_fanout_count"),
        (65, 0, "packet_fanout_count"),
        (2, 8, "packet_fanout_mode"),
    ] {
        let e = Config::from_yaml(&y(0, count, fanout))
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{e}");
    }
}
