//! `outputs.flow_log.filters` through `tapflow analyze`: a capture mixing a VLAN mapped to
//! capture network type 4 with untagged traffic (type 3), analysed with and without the
//! filters. The kept rows are exactly the unfiltered run's rows of the kept types and
//! observation points, the `flow_metrics` documents are the same byte for byte (the filters are
//! for the logs), and two workers keep the same rows as one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tapflow_bench::gen::{generate, Encap, GenSpec, Scenario};

const BIN: &str = env!("CARGO_BIN_EXE_tapflow");

/// A scratch directory removed when dropped (also when a test fails).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("tapflow-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("scratch dir");
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A classic pcap's records with their timestamps (seconds, fraction).
fn records(pcap: &[u8]) -> Vec<((u32, u32), &[u8])> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let word = |o: usize| u32::from_le_bytes(pcap[o..o + 4].try_into().expect("4 bytes"));
        let len = word(at + 8) as usize;
        out.push(((word(at), word(at + 4)), &pcap[at..at + 16 + len]));
        at += 16 + len;
    }
    out
}

/// Conversations on VLAN 100 and untagged ones, interleaved in time, as one capture.
fn mixed_capture(path: &Path) {
    let gen = |encap, first_flow, start_ns| {
        let spec = GenSpec {
            flows: 24,
            encap,
            first_flow,
            start_ns,
            scenarios: Scenario::ALL.to_vec(),
            ..GenSpec::default()
        };
        let mut pcap = Vec::new();
        generate(&spec, &mut pcap, None).expect("generate");
        pcap
    };
    let start = GenSpec::default().start_ns;
    let (tagged, untagged) = (
        gen(Encap::Vlan, 0, start),
        gen(Encap::None, 100, start + 1_000),
    );
    assert_eq!(tagged[..24], untagged[..24], "same file header");
    let mut all = records(&tagged);
    all.extend(records(&untagged));
    all.sort_by_key(|(ts, _)| *ts);
    let mut out = tagged[..24].to_vec();
    for (_, r) in all {
        out.extend_from_slice(r);
    }
    std::fs::write(path, out).expect("write capture");
}

const MIRROR: &str = r#"
inputs:
  cbpf:
    common:
      capture_mode: 2
    af_packet:
      vlan_pcp_in_physical_mirror_traffic: 8
    physical_mirror:
      capture_network_types: [{vlan: 100, capture_network_type: 4}]
"#;

/// `tapflow analyze` of `input` with the mirror settings and `filters` (YAML under
/// `outputs.flow_log.filters`); the output directory.
fn analyze(dir: &Path, name: &str, input: &Path, filters: &str, workers: u16) -> PathBuf {
    let cfg = dir.join(format!("{name}.yaml"));
    let mut yaml = MIRROR.to_string();
    if !filters.is_empty() {
        yaml.push_str("outputs:\n  flow_log:\n    filters:\n");
        for line in filters.lines() {
            yaml.push_str(&format!("      {line}\n"));
        }
    }
    std::fs::write(&cfg, yaml).expect("config");
    let out = dir.join(name);
    let o = Command::new(BIN)
        .arg("analyze")
        .arg(input)
        .args(["--quiet", "--workers", &workers.to_string(), "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run tapflow");
    assert!(
        o.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// The rows of `table` (sorted, as text) and their (capture network type, tap_side).
fn rows(out: &Path, table: &str) -> Vec<(String, u64, u64)> {
    let text = std::fs::read_to_string(out.join(format!("{table}.jsonl"))).unwrap_or_default();
    let mut v: Vec<(String, u64, u64)> = text
        .lines()
        .map(|l| {
            let mut r: Value = serde_json::from_str(l).expect("json row");
            let num = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} in {l}"));
            let (t, s) = (num("capture_network_type"), num("tap_side"));
            // Learned per worker from other flows (tests/analyze_workers.rs).
            r.as_object_mut().expect("row").remove("direction_score");
            (r.to_string(), t, s)
        })
        .collect();
    v.sort();
    v
}

fn metrics_files(out: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(out)
        .expect("out dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("flow_metrics."))
        .map(|n| {
            let text = std::fs::read_to_string(out.join(&n)).expect("read");
            (n, text)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn filters_keep_the_listed_types_and_leave_the_metrics_whole() {
    let dir = Scratch::new("log-filters");
    let input = dir.0.join("mixed.pcap");
    mixed_capture(&input);

    let all = analyze(&dir.0, "all", &input, "", 1);
    let (l4, l7) = (rows(&all, "l4_flow_log"), rows(&all, "l7_flow_log"));
    let types: BTreeSet<u64> = l4.iter().map(|r| r.1).collect();
    assert_eq!(types, BTreeSet::from([3, 4]), "both kinds of traffic");
    let l7_types: BTreeSet<u64> = l7.iter().map(|r| r.1).collect();
    assert_eq!(l7_types, BTreeSet::from([3, 4]), "requests of both");
    let metrics = metrics_files(&all);
    assert!(
        metrics
            .iter()
            .any(|(n, t)| n.contains("network") && !t.is_empty()),
        "{metrics:?}"
    );

    let filters = "l4_capture_network_types: [4]\nl7_capture_network_types: [3]";
    for workers in [1, 2] {
        let out = analyze(&dir.0, &format!("typed{workers}"), &input, filters, workers);
        let want_l4: Vec<_> = l4.iter().filter(|r| r.1 == 4).cloned().collect();
        let want_l7: Vec<_> = l7.iter().filter(|r| r.1 == 3).cloned().collect();
        assert!(!want_l4.is_empty() && want_l4.len() < l4.len());
        assert_eq!(rows(&out, "l4_flow_log"), want_l4, "{workers} workers");
        assert_eq!(rows(&out, "l7_flow_log"), want_l7, "{workers} workers");
        if workers == 1 {
            assert_eq!(
                metrics_files(&out),
                metrics,
                "flow_metrics count every flow"
            );
        }
    }

    // An observation point ignored drops its rows whatever their type; -1 keeps no row.
    let side = l4[0].2;
    let filters =
        format!("l4_ignored_observation_points: [{side}]\nl7_capture_network_types: [-1]");
    let out = analyze(&dir.0, "sides", &input, &filters, 1);
    let want: Vec<_> = l4.iter().filter(|r| r.2 != side).cloned().collect();
    assert_eq!(rows(&out, "l4_flow_log"), want);
    assert!(rows(&out, "l7_flow_log").is_empty());
    assert_eq!(metrics_files(&out), metrics);
}

/// `tapflow config check` of a file with `filters` under `outputs.flow_log.filters`.
fn config_check(dir: &Path, filters: &str) -> std::process::Output {
    let cfg = dir.join("check.yaml");
    let mut yaml = "outputs:\n  flow_log:\n    filters:\n".to_string();
    for line in filters.lines() {
        yaml.push_str(&format!("      {line}\n"));
    }
    std::fs::write(&cfg, yaml).expect("config");
    Command::new(BIN)
        .args(["config", "check"])
        .arg(&cfg)
        .output()
        .expect("run tapflow")
}

#[test]
fn a_filter_out_of_range_is_refused_with_its_key() {
    let dir = Scratch::new("log-filters-bad");
    let o = config_check(&dir.0, "l4_capture_network_types: [0, 999]");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("outputs.flow_log.filters.l4_capture_network_types")
            && err.contains("999 is not in -1..=255"),
        "{err}"
    );
    // A valid file's summary says what each log keeps.
    let o = config_check(
        &dir.0,
        "l4_capture_network_types: [4, 3]\nl7_ignored_observation_points: [2]",
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        text.contains("l4_rows_kept: capture network types 3 4")
            && text
                .contains("l7_rows_kept: every capture network type, observation points 2 ignored"),
        "{text}"
    );
}
