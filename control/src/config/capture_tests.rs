//! The capture's DeepFlow keys: `inputs.cbpf.tunning.max_capture_pps` and the AF_PACKET ring
//! size (`inputs.cbpf.af_packet.tunning.ring_blocks`), each with DeepFlow's capture-mode rule.

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
