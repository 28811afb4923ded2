//! `outputs.flow_log.filters` and `throttles` through `tapflow analyze`.
//!
//! Filters: a capture mixing a VLAN mapped to capture network type 4 with untagged traffic
//! (type 3), analysed with and without the filters. The kept rows are exactly the unfiltered
//! run's rows of the kept types and observation points, the `flow_metrics` documents are the
//! same byte for byte (the filters are for the logs), and two workers keep the same rows as one.
//!
//! Throttles: 12 seconds of 1,000 DNS exchanges a second, throttled to 100 l4 and 200 l7
//! rows a second. Each 4-second period keeps at most 4 x the rate, the kept rows are rows of the
//! unthrottled run, spread over the period, and with the throttled ones in `stats.json` they add
//! up to the unthrottled run's; the metrics stay whole and a second run keeps the same rows.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tapflow_bench::gen::{generate, Encap, GenSpec, Scenario};

/// The rows' time unit: µs.
const S: u64 = 1_000_000;

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

/// `section` (`filters` or `throttles`) of `outputs.flow_log` with `lines` in it, as YAML.
fn flow_log(section: &str, lines: &str) -> String {
    let mut yaml = format!("outputs:\n  flow_log:\n    {section}:\n");
    for line in lines.lines() {
        yaml.push_str(&format!("      {line}\n"));
    }
    yaml
}

/// `tapflow analyze` of `input` with the mirror settings and `filters` (YAML lines under
/// `outputs.flow_log.filters`); the output directory.
fn analyze(dir: &Path, name: &str, input: &Path, filters: &str, workers: u16) -> PathBuf {
    let policy = if filters.is_empty() {
        String::new()
    } else {
        flow_log("filters", filters)
    };
    analyze_with(dir, name, input, &policy, workers)
}

/// `tapflow analyze` of `input` with the mirror settings and `outputs` (YAML); the output
/// directory.
fn analyze_with(dir: &Path, name: &str, input: &Path, outputs: &str, workers: u16) -> PathBuf {
    let cfg = dir.join(format!("{name}.yaml"));
    let yaml = format!("{MIRROR}{outputs}");
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

/// `tapflow config check` of a file with `lines` under `outputs.flow_log.<section>`.
fn config_check(dir: &Path, section: &str, lines: &str) -> std::process::Output {
    let cfg = dir.join("check.yaml");
    std::fs::write(&cfg, flow_log(section, lines)).expect("config");
    Command::new(BIN)
        .args(["config", "check"])
        .arg(&cfg)
        .output()
        .expect("run tapflow")
}

#[test]
fn a_filter_out_of_range_is_refused_with_its_key() {
    let dir = Scratch::new("log-filters-bad");
    let o = config_check(&dir.0, "filters", "l4_capture_network_types: [0, 999]");
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
        "filters",
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

/// 12 seconds of DNS exchanges, one starting every millisecond.
fn busy_capture(path: &Path) {
    let spec = GenSpec {
        flows: 12_000,
        spacing_ns: 1_000_000,
        scenarios: vec![Scenario::Dns],
        ..GenSpec::default()
    };
    let mut pcap = Vec::new();
    generate(&spec, &mut pcap, None).expect("generate");
    std::fs::write(path, pcap).expect("write capture");
}

/// A row's `end_time`, µs.
fn end_time(row: &str) -> u64 {
    let v: Value = serde_json::from_str(row).expect("json row");
    v["end_time"].as_u64().expect("end_time")
}

/// `stats.json`'s counter `key`.
fn stat(out: &Path, key: &str) -> u64 {
    let text = std::fs::read_to_string(out.join("stats.json")).expect("stats.json");
    let v: Value = serde_json::from_str(&text).expect("stats json");
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {text}"))
}

/// The lines of `table` in the order they were written.
fn lines(out: &Path, table: &str) -> Vec<String> {
    let text = std::fs::read_to_string(out.join(format!("{table}.jsonl"))).unwrap_or_default();
    text.lines().map(str::to_string).collect()
}

/// The throttle period each row of an unthrottled run counts in: the period of the latest
/// `end_time` written so far (a row older than that, of a flow that timed out, counts in the
/// period in progress).
fn throttle_periods(written: &[String]) -> std::collections::HashMap<&str, u64> {
    let mut clock = 0;
    written
        .iter()
        .map(|l| {
            clock = clock.max(end_time(l));
            (l.as_str(), clock / (4 * S))
        })
        .collect()
}

/// How many of `kept` fall in each throttle period, and in each second of their end time.
fn counts(
    kept: &[String],
    periods: &std::collections::HashMap<&str, u64>,
) -> (Vec<usize>, Vec<usize>) {
    let (mut per_period, mut per_second) = (
        std::collections::BTreeMap::<u64, usize>::new(),
        std::collections::BTreeMap::<u64, usize>::new(),
    );
    for l in kept {
        let p = periods
            .get(l.as_str())
            .expect("a row of the unthrottled run");
        *per_period.entry(*p).or_default() += 1;
        *per_second.entry(end_time(l) / S).or_default() += 1;
    }
    (
        per_period.into_values().collect(),
        per_second.into_values().collect(),
    )
}

#[test]
fn throttles_bound_each_period_and_sample_across_it() {
    let dir = Scratch::new("log-throttles");
    let input = dir.0.join("busy.pcap");
    busy_capture(&input);
    let all = analyze(&dir.0, "all", &input, "", 1);
    let (l4, l7) = (rows(&all, "l4_flow_log"), rows(&all, "l7_flow_log"));
    assert_eq!(
        (l4.len(), l7.len()),
        (12_000, 12_000),
        "one row each a flow"
    );
    assert_eq!(stat(&all, "throttled.l4_rows"), 0);

    let throttles = flow_log("throttles", "l4_throttle: 100\nl7_throttle: 200");
    let out = analyze_with(&dir.0, "throttled", &input, &throttles, 1);
    for (table, rate) in [("l4_flow_log", 100), ("l7_flow_log", 200)] {
        let written = lines(&all, table);
        let periods = throttle_periods(&written);
        let kept = lines(&out, table);
        // Rows of the unthrottled run, in the same order.
        let (per_period, per_second) = counts(&kept, &periods);
        // 12.035 s from a period's edge. The rows of a flow are written once it has timed
        // out, so the clock reaches the fourth period while rows of the third are still coming.
        // Every period keeps at most 4 x the rate: the first its first rows, the later ones a
        // sample at the rate of the period before (the request rows are written at once).
        assert_eq!(per_period.len(), 4, "{table}: {per_period:?}");
        assert_eq!(per_period[0], rate * 4, "{table}: {per_period:?}");
        for p in &per_period[1..3] {
            assert!((rate..=rate * 4).contains(p), "{table}: {per_period:?}");
        }
        assert!(per_period[3] <= rate * 4, "{table}: {per_period:?}");
        // By end time: the first period's rows are its first 0.4 s; the later periods sample
        // across their seconds, about a tenth of each (1,000 rows a second come).
        assert_eq!(per_second.len(), 10, "{table}: {per_second:?}");
        assert_eq!(per_second[0], rate * 4, "{table}: {per_second:?}");
        for s in &per_second[1..9] {
            assert!((rate / 2..=rate * 2).contains(s), "{table}: {per_second:?}");
        }
        // With the throttled ones they are all of the rows.
        let key = format!("throttled.{}_rows", &table[..2]);
        assert_eq!(kept.len() as u64 + stat(&out, &key), written.len() as u64);
    }
    assert_eq!(
        metrics_files(&out),
        metrics_files(&all),
        "metrics see every row"
    );

    // The same rows again; two workers are bounded the same way.
    let again = analyze_with(&dir.0, "again", &input, &throttles, 1);
    assert_eq!(rows(&again, "l4_flow_log"), rows(&out, "l4_flow_log"));
    assert_eq!(rows(&again, "l7_flow_log"), rows(&out, "l7_flow_log"));
    // Two workers: each period bounded the same way (by the order rows reached the outputs).
    let two = analyze_with(&dir.0, "two", &input, &throttles, 2);
    let kept = rows(&two, "l4_flow_log");
    let unthrottled: BTreeSet<&String> = l4.iter().map(|r| &r.0).collect();
    assert!(kept.iter().all(|r| unthrottled.contains(&r.0)));
    assert!(kept.len() <= 4 * 400, "{}", kept.len());
    assert_eq!(kept.len() as u64 + stat(&two, "throttled.l4_rows"), 12_000);
}

#[test]
fn a_throttle_out_of_range_is_refused_with_its_key() {
    let dir = Scratch::new("log-throttles-bad");
    let o = config_check(&dir.0, "throttles", "l4_throttle: 50");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("outputs.flow_log.throttles.l4_throttle")
            && err.contains("50 rows/s is not in 100..=1000000"),
        "{err}"
    );
    let o = config_check(&dir.0, "throttles", "l7_throttle: 10000");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        text.contains("l4_throttle: off (every row)")
            && text.contains("l7_throttle: 10000 rows/s (at most 40000 per 4 s)"),
        "{text}"
    );
}
