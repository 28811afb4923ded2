//! What reaches the logs, through `tapflow analyze`: `outputs.flow_log.filters`, `throttles`,
//! the health-check aggregation and the request log blacklist (`tag_filters`).
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
//!
//! Health checks: 20 TCP probes of one service (handshake, client RST) across a minute's start
//! become one row per minute with client port 0, the same with two workers, the metrics unchanged.
//!
//! Request log blacklist: HTTP requests to `/health...` are neither written nor counted (l4 rows'
//! `l7_request`, the application documents), with one and two workers; `cbpf_disabled` turns
//! packet request logs off; `custom_fields` puts headers into the rows' `attributes`, as `raw`
//! does with the bytes of failed exchanges.

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

/// A classic pcap of `frames` (time ns, frame), microsecond timestamps.
fn pcap(frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    // Magic, version 2.4, zone and accuracy 0, snap length, Ethernet.
    let mut out = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    out.extend_from_slice(&[2, 0, 4, 0]);
    for word in [0u32, 0, 65_535, 1] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for (ns, f) in frames {
        let len = f.len() as u32;
        for word in [(ns / S / 1000) as u32, (ns / 1000 % S) as u32, len, len] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    out
}

/// `n` TCP probes of 10.0.0.2:80 from 10.0.0.1 (handshake, then the client's RST), one every
/// 2 s from `start_s`, from client ports 40000 on; and one exchange with data (not a probe).
fn probes_capture(path: &Path, start_s: u64, n: u16) {
    use tapflow_analyzer::wire::build::{ethernet_ip, ip, tcp, TcpSpec};
    let (c, s) = (
        std::net::IpAddr::from([10, 0, 0, 1]),
        std::net::IpAddr::from([10, 0, 0, 2]),
    );
    let (cm, sm) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let seg = |from_client: bool, port: u16, flags: u8, seq: u32, ack: u32, data: &[u8]| {
        let spec = TcpSpec {
            src_port: if from_client { port } else { 80 },
            dst_port: if from_client { 80 } else { port },
            seq,
            ack,
            flags,
            window: 65_535,
            ..TcpSpec::default()
        };
        let (a, b, ma, mb) = if from_client {
            (c, s, cm, sm)
        } else {
            (s, c, sm, cm)
        };
        ethernet_ip(mb, ma, &[], &ip(a, b, 6, 1, 64, &tcp(a, b, &spec, data)))
    };
    let mut frames = Vec::new();
    for i in 0..n {
        let port = 40_000 + i;
        let t = (start_s + 2 * u64::from(i)) * S * 1000;
        frames.push((t, seg(true, port, 0x02, 100, 0, b"")));
        frames.push((t + 100_000, seg(false, port, 0x12, 500, 101, b"")));
        frames.push((t + 200_000, seg(true, port, 0x10, 101, 501, b"")));
        frames.push((t + 300_000, seg(true, port, 0x14, 101, 501, b"")));
    }
    // A conversation with data, from the same client: not a probe.
    let (port, t) = (39_999, start_s * S * 1000 + 500_000_000);
    frames.push((t, seg(true, port, 0x02, 7, 0, b"")));
    frames.push((t + 100_000, seg(false, port, 0x12, 70, 8, b"")));
    frames.push((
        t + 200_000,
        seg(true, port, 0x18, 8, 71, b"GET / HTTP/1.1\r\n\r\n"),
    ));
    frames.push((t + 300_000, seg(true, port, 0x14, 26, 71, b"")));
    frames.sort_by_key(|(t, _)| *t);
    std::fs::write(path, pcap(&frames)).expect("write capture");
}

#[test]
fn health_check_probes_become_one_row_per_service_and_minute() {
    let dir = Scratch::new("health-checks");
    let input = dir.0.join("probes.pcap");
    // 20 probes from second 1,700,000,010, one every 2 s: 15 in its minute, 5 in the next.
    probes_capture(&input, 1_700_000_010, 20);

    let off = flow_log("aggregators", "aggregate_health_check_l4_flow_log: false");
    let each = analyze_with(&dir.0, "each", &input, &off, 1);
    let unmerged = rows(&each, "l4_flow_log");
    let probes: Vec<Value> = unmerged
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.0).expect("row"))
        .filter(|r| r["close_type"] == 20)
        .collect();
    // The exchange with data spans the minute's end: a minute row, then its closing row.
    assert_eq!(
        (unmerged.len(), probes.len()),
        (22, 20),
        "one row per probe when off"
    );

    for workers in [1, 2] {
        let out = analyze(&dir.0, &format!("merged{workers}"), &input, "", workers);
        let rows: Vec<Value> = rows(&out, "l4_flow_log")
            .iter()
            .map(|r| serde_json::from_str(&r.0).expect("row"))
            .collect();
        let merged: Vec<&Value> = rows.iter().filter(|r| r["close_type"] == 20).collect();
        assert_eq!(rows.len(), 4, "{workers} workers: {rows:#?}");
        // The minute boundary: 1,700,000,040 is minute 28,333,334's start.
        let in_minute = |r: &Value| r["start_time"].as_u64().unwrap() < 1_700_000_040 * S;
        let (first, second): (Vec<&Value>, Vec<&Value>) = merged.iter().partition(|r| in_minute(r));
        assert_eq!((first.len(), second.len()), (1, 1), "{merged:#?}");
        for (m, n) in [(first[0], 15u64), (second[0], 5)] {
            assert_eq!(m["client_port"], 0, "{m}");
            assert_eq!(m["server_port"], 80);
            assert_eq!(m["packet_tx"].as_u64(), Some(3 * n), "{m}");
            assert_eq!(m["packet_rx"].as_u64(), Some(n), "{m}");
            // The earliest probe's flow id and start, the last one's end.
            let of_minute: Vec<&Value> = probes
                .iter()
                .filter(|p| in_minute(p) == in_minute(m))
                .collect();
            let earliest = of_minute
                .iter()
                .min_by_key(|p| p["start_time"].as_u64())
                .unwrap();
            assert_eq!(m["flow_id"], earliest["flow_id"]);
            assert_eq!(m["start_time"], earliest["start_time"]);
            let last_end = of_minute
                .iter()
                .filter_map(|p| p["end_time"].as_u64())
                .max();
            assert_eq!(m["end_time"].as_u64(), last_end);
        }
        assert_eq!(stat(&out, "health_check.merged"), 18);
        // The metrics count every probe, as without the aggregation.
        assert_eq!(
            metrics_files(&out),
            metrics_files(&each),
            "{workers} workers"
        );
    }
}

/// A metrics table's documents summed: (requests, responses) of every `application` document.
fn app_requests(out: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(out.join("flow_metrics.application.1m.jsonl"))
        .expect("application documents");
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("document"))
        .fold((0, 0), |(q, r), d| {
            let n = |k: &str| d[k].as_u64().unwrap_or(0);
            (q + n("request"), r + n("response"))
        })
}

/// `flows` HTTP/1.1 conversations (1-3 requests each) as a capture at `path`.
fn web_capture(path: &Path, flows: u64) {
    let spec = GenSpec {
        flows,
        scenarios: vec![Scenario::Web],
        ..GenSpec::default()
    };
    let mut pcap = Vec::new();
    generate(&spec, &mut pcap, None).expect("generate");
    std::fs::write(path, pcap).expect("write capture");
}

/// The l4 rows' `l7_request`, summed.
fn l4_requests(out: &Path) -> u64 {
    rows(out, "l4_flow_log")
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.0).expect("row")["l7_request"].as_u64())
        .map(Option::unwrap_or_default)
        .sum()
}

#[test]
fn cbpf_disabled_means_no_request_logs_from_packets() {
    let dir = Scratch::new("cbpf-disabled");
    let input = dir.0.join("web.pcap");
    web_capture(&input, 50);
    let all = analyze(&dir.0, "all", &input, "", 1);
    assert!(!rows(&all, "l7_flow_log").is_empty() && l4_requests(&all) > 0);
    let off = "processors:\n  request_log:\n    filters:\n      cbpf_disabled: true\n";
    let out = analyze_with(&dir.0, "off", &input, off, 1);
    assert!(rows(&out, "l7_flow_log").is_empty());
    assert_eq!(l4_requests(&out), 0);
    assert_eq!(
        rows(&out, "l4_flow_log").len(),
        rows(&all, "l4_flow_log").len()
    );
}

#[test]
fn tag_filters_hide_requests_from_the_logs_and_the_metrics() {
    let dir = Scratch::new("tag-filters");
    let input = dir.0.join("web.pcap");
    web_capture(&input, 300);

    let all = analyze(&dir.0, "all", &input, "", 1);
    let requests: Vec<Value> = rows(&all, "l7_flow_log")
        .iter()
        .map(|r| serde_json::from_str(&r.0).expect("row"))
        .collect();
    let health = |r: &Value| {
        r["endpoint"]
            .as_str()
            .is_some_and(|e| e.starts_with("/health"))
    };
    let hidden = requests.iter().filter(|r| health(r)).count() as u64;
    let total = requests.len() as u64;
    assert!(hidden > 10 && hidden < total / 2, "{hidden} of {total}");

    let blacklist = "processors:\n  request_log:\n    filters:\n      tag_filters:\n        \
                     HTTP:\n          - {field_name: endpoint, operator: prefix, value: /health}\n";
    for workers in [1, 2] {
        let out = analyze_with(
            &dir.0,
            &format!("hidden{workers}"),
            &input,
            blacklist,
            workers,
        );
        let kept: Vec<Value> = rows(&out, "l7_flow_log")
            .iter()
            .map(|r| serde_json::from_str(&r.0).expect("row"))
            .collect();
        assert!(!kept.iter().any(health), "{workers} workers");
        assert_eq!(kept.len() as u64, total - hidden);
        assert_eq!(stat(&out, "l7.blacklisted"), hidden);
        // Not counted: the l4 rows' L7 figures and the application documents lose them too.
        assert_eq!(l4_requests(&out), l4_requests(&all) - hidden);
        let (q, r) = app_requests(&out);
        let (q_all, r_all) = app_requests(&all);
        assert_eq!(
            (q, r),
            (q_all - hidden, r_all - hidden),
            "{workers} workers"
        );
    }
}

#[test]
fn custom_fields_put_headers_into_the_rows_attributes() {
    let dir = Scratch::new("custom-fields");
    let input = dir.0.join("web.pcap");
    web_capture(&input, 40);
    let cfg = "processors:\n  request_log:\n    tag_extraction:\n      custom_fields:\n        \
               HTTP:\n          - field_name: User-Agent\n          - field_name: x-request-id\n";
    let out = analyze_with(&dir.0, "custom", &input, cfg, 1);
    let rows: Vec<Value> = rows(&out, "l7_flow_log")
        .iter()
        .map(|r| serde_json::from_str(&r.0).expect("row"))
        .collect();
    assert!(!rows.is_empty());
    for r in &rows {
        let a = &r["attributes"];
        assert_eq!(a["user_agent"], r["http_user_agent"], "{r}");
        assert_eq!(a["x_request_id"], r["x_request_id_0"], "{r}");
    }
    // Without the key only failed exchanges have attributes: the bytes `tag_extraction.raw`
    // keeps by default (256 of the error response's body).
    let plain = analyze(&dir.0, "plain", &input, "", 1);
    let mut failed = 0;
    for l in lines(&plain, "l7_flow_log") {
        let r: Value = serde_json::from_str(&l).expect("row");
        let Some(a) = r.get("attributes") else {
            assert!(r["response_status"] == 0, "{r}");
            continue;
        };
        failed += 1;
        assert!(matches!(r["response_status"].as_u64(), Some(3 | 4)), "{r}");
        let body = a["response_payload"].as_str().expect("response_payload");
        assert!(!body.is_empty() && body.len() <= 256, "{r}");
        assert_eq!(a.as_object().expect("object").len(), 1, "{r}");
    }
    assert!(failed > 0, "the generated web traffic has errors");
    let off = "processors:\n  request_log:\n    tag_extraction:\n      raw:\n        \
               error_response_payload: 0\n";
    let off = analyze_with(&dir.0, "raw-off", &input, off, 1);
    assert!(lines(&off, "l7_flow_log")
        .iter()
        .all(|l| !l.contains("\"attributes\"")));
}
