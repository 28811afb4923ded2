//! The harness's ratios and table.
use super::*;

fn row(tool: &'static str, seconds: f64) -> ToolResult {
    ToolResult {
        input: "small",
        tool,
        packets: 1_000_000,
        bytes: 64_000_000,
        samples: Vec::new(),
        median_seconds: seconds,
        median_cpu_seconds: seconds,
        min_seconds: seconds,
        max_seconds: seconds,
        mpps: 1.0 / seconds,
        mbit_s: 512.0 / seconds,
        peak_rss_kib: 1024,
        ratio_to_tapflow: 0.0,
        ratio_base: "",
        time_vs_floor: None,
        instructions: None,
        instructions_vs_floor: None,
    }
}

#[test]
fn ratios_fall_back_to_a_tapflow_variant_and_the_floor() {
    let mut rows = vec![row("tapflow-null", 0.4), row("tcpdump", 0.2)];
    relate(&mut rows);
    assert_eq!(rows[0].ratio_base, "tapflow-null");
    assert!((rows[1].ratio_to_tapflow - 2.0).abs() < 1e-9);
    assert!((rows[0].time_vs_floor.unwrap() - 2.0).abs() < 1e-9);
    assert!((rows[1].time_vs_floor.unwrap() - 1.0).abs() < 1e-9);
    let text = table(&rows);
    assert!(text.contains("vs tapflow-null"), "{text}");
    assert!(text.contains("2.00x"), "{text}");
}

#[test]
fn instructions_are_related_to_the_floors_and_shown_when_counted() {
    let mut rows = vec![row("tapflow-null", 0.4), row("tcpdump", 0.2)];
    assert!(!table(&rows).contains("instructions"));
    rows[0].instructions = Some(4_000_000_000);
    rows[1].instructions = Some(1_600_000_000);
    relate(&mut rows);
    assert!((rows[0].instructions_vs_floor.unwrap() - 2.5).abs() < 1e-9);
    assert!((rows[1].instructions_vs_floor.unwrap() - 1.0).abs() < 1e-9);
    let text = table(&rows);
    assert!(text.contains("instr/floor"), "{text}");
    assert!(text.contains("4000000000       2.50x"), "{text}");
    // Without the floor's count, no ratio.
    rows[1].instructions = None;
    relate(&mut rows);
    assert_eq!(rows[0].instructions_vs_floor, None);
}

#[test]
fn tapflow_is_the_base_when_it_ran_and_no_floor_without_tcpdump() {
    let mut rows = vec![
        row("tapflow-null", 0.4),
        row("tapflow", 0.5),
        row("ndpiReader", 1.0),
    ];
    relate(&mut rows);
    assert!(rows.iter().all(|r| r.ratio_base == "tapflow"));
    assert!((rows[2].ratio_to_tapflow - 0.5).abs() < 1e-9);
    assert!(rows.iter().all(|r| r.time_vs_floor.is_none()));
    let text = table(&rows);
    assert!(!text.contains("0.00x"), "{text}");
}
