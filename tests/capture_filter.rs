//! What the capture keeps: the capture filter (`inputs.cbpf.af_packet.extra_bpf_filter`,
//! legacy `capture_bpf`, `--filter`: tcpdump's expressions, compiled by libpcap) and the snap
//! length (`inputs.cbpf.tunning.max_capture_packet_size`).
//!
//! Offline: `tapflow analyze --filter EXPR` of a generated capture writes the rows `tapflow
//! analyze` writes for the file tcpdump filtered with the same expression (flow ids aside: they
//! number the frames of the input), with one worker and two, and counts what it dropped; the
//! key and its legacy name do the same; a bad expression is refused with libpcap's message.
//! Needs tcpdump. Live: `tapflow run` on a SPAN lab (`netns::SpanLab`) with two HTTP services
//! keeps only the one the filter names. Needs root, python3 and libpcap. Snap length: the rows of
//! the file `editcap -s` cut (needs editcap), with the byte counts of the whole frames.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod live_support;
mod netns;
use live_support::{
    client_ok, client_script, have, l7_rows, run_tapflow, stats, stop_capture, wait_capturing,
    wait_until, Killed,
};
use netns::{is_root, SpanLab};
use tapflow_bench::gen::{generate, GenSpec, Scenario};

const EXPR: &str = "tcp port 80 or udp";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tapflow"))
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(tag: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("tapflow-filter-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    Scratch(d)
}

/// `tapflow analyze INPUT -o DIR ARGS...`; the output directory.
fn analyze(dir: &Path, name: &str, input: &Path, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let st = bin()
        .args(["analyze", "-q"])
        .arg(input)
        .arg("-o")
        .arg(&out)
        .args(args)
        .status()
        .expect("tapflow analyze");
    assert!(st.success(), "tapflow analyze {args:?}");
    out
}

/// The rows of one output file, flow ids taken out, sorted.
fn rows(out: &Path, file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(out.join(format!("{file}.jsonl"))).unwrap_or_default();
    let mut v: Vec<String> = text
        .lines()
        .map(|l| {
            let mut r: serde_json::Value = serde_json::from_str(l).expect("json");
            r.as_object_mut().expect("object").remove("flow_id");
            r.to_string()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn analyze_keeps_what_tcpdump_keeps() {
    if !have("tcpdump") {
        eprintln!("skipped: needs tcpdump");
        return;
    }
    let dir = scratch("offline");
    let d = &dir.0;
    let st = bin()
        .args(["gen", "--flows", "240", "--name", "all", "-o"])
        .arg(d)
        .stdout(Stdio::null())
        .status()
        .expect("tapflow gen");
    assert!(st.success());
    let input = d.join("all.pcap");
    let filtered = d.join("filtered.pcap");
    let st = Command::new("tcpdump")
        .args(["-r"])
        .arg(&input)
        .arg("-w")
        .arg(&filtered)
        .arg(EXPR)
        .stderr(Stdio::null())
        .status()
        .expect("tcpdump");
    assert!(st.success());

    let want = analyze(d, "want", &filtered, &[]);
    let one = analyze(d, "one", &input, &["--filter", EXPR]);
    let two = analyze(d, "two", &input, &["--filter", EXPR, "--workers", "2"]);
    let key = d.join("key.yaml");
    std::fs::write(
        &key,
        format!("inputs:\n  cbpf:\n    af_packet:\n      extra_bpf_filter: '{EXPR}'\n"),
    )
    .expect("config");
    let by_key = analyze(d, "key", &input, &["--config", key.to_str().unwrap()]);
    let legacy = d.join("legacy.yaml");
    std::fs::write(&legacy, format!("capture_bpf: '{EXPR}'\n")).expect("config");
    let by_legacy = analyze(d, "legacy", &input, &["--config", legacy.to_str().unwrap()]);
    for file in ["l4_flow_log", "l7_flow_log", "flow_metrics.network.1m"] {
        let w = rows(&want, file);
        assert!(!w.is_empty(), "{file}");
        for (name, out) in [
            ("--filter", &one),
            ("2 workers", &two),
            ("the key", &by_key),
            ("capture_bpf", &by_legacy),
        ] {
            assert!(rows(out, file) == w, "{file} with {name}");
        }
    }
    // Some of every kind were dropped, all of them counted and none analysed.
    let all = analyze(d, "all", &input, &[]);
    let (n_all, n_want) = (
        stats(&all)["rx_packets"].clone(),
        stats(&want)["rx_packets"].clone(),
    );
    let s = stats(&one);
    assert_eq!(s["rx_packets"], n_want);
    assert_eq!(
        s["capture_filtered"].as_u64().unwrap() + n_want.as_u64().unwrap(),
        n_all.as_u64().unwrap()
    );
    assert!(s["capture_filtered"].as_u64().unwrap() > 0);
    assert!(rows(&all, "l4_flow_log").len() > rows(&want, "l4_flow_log").len());

    // `--filter ""` turns the configured filter off.
    let off = analyze(
        d,
        "off",
        &input,
        &["--config", key.to_str().unwrap(), "--filter", ""],
    );
    assert_eq!(rows(&off, "l4_flow_log"), rows(&all, "l4_flow_log"));

    // Bad expressions: libpcap's message, with the key.
    for (expr, says) in [("tcp port eighty", "eighty"), ("host and", "syntax error")] {
        let out = bin()
            .args(["analyze", "-q", "--filter", expr, "-o"])
            .arg(d.join("bad"))
            .arg(&input)
            .output()
            .expect("tapflow analyze");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{expr}");
        assert!(
            err.contains(says) && err.contains("extra_bpf_filter"),
            "{expr}: {err}"
        );
    }
    let bad = d.join("bad.yaml");
    std::fs::write(&bad, "capture_bpf: 'not a filter ('\n").expect("config");
    let out = bin()
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .expect("config check");
    assert!(!out.status.success());
    let out = bin()
        .args(["config", "check"])
        .arg(&key)
        .output()
        .expect("config check");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(EXPR));
}

#[test]
fn a_live_capture_keeps_what_the_filter_names() {
    // tcpdump stands for libpcap, which it needs too.
    if !is_root() || !have("python3") || !have("tcpdump") {
        eprintln!("skipped: needs root, python3 and libpcap (tcpdump)");
        return;
    }
    let dir = scratch("live");
    let lab = SpanLab::new("cf");
    let script = client_script("http_errors.py");
    let _servers = ["8080", "8081"].map(|port| {
        Killed(
            lab.in_server(&["python3", &script, "serve", lab.server_ip, port])
                .stdout(Stdio::null())
                .spawn()
                .expect("server"),
        )
    });
    wait_until("the servers", 10, || {
        lab.server_port_open(8080) && lab.server_port_open(8081)
    });
    let cfg = dir.0.join("filter.yaml");
    std::fs::write(
        &cfg,
        "inputs:\n  cbpf:\n    af_packet:\n      extra_bpf_filter: 'tcp port 8081'\n",
    )
    .expect("config");
    let out = dir.0.join("out");
    let mut run = run_tapflow(&lab.capture, 60, Some(&cfg), &out);
    wait_capturing(&mut run, &out);
    for port in ["8080", "8081"] {
        client_ok(lab.in_client(&["python3", &script, "ask", lab.server_ip, port]));
    }
    stop_capture(&mut run);
    let l7 = l7_rows(&out);
    assert_eq!(l7.len(), 3, "the three requests to 8081: {l7:#?}");
    assert!(l7.iter().all(|r| r["server_port"] == 8081), "{l7:#?}");
    let l4 = std::fs::read_to_string(out.join("l4_flow_log.jsonl")).expect("l4");
    assert!(
        !l4.is_empty() && !l4.contains("\"server_port\":8080"),
        "{l4}"
    );
    let s = stats(&out);
    assert!(s["capture_filtered"].as_u64().unwrap_or(0) >= 3 * 6, "{s}");
    lab.cleanup();
}

#[test]
fn a_snap_length_reads_what_editcap_cuts_and_counts_whole_frames() {
    if !have("editcap") {
        eprintln!("skipped: needs editcap (wireshark-common)");
        return;
    }
    let dir = scratch("snap");
    let d = &dir.0;
    // Real HTTP and DNS payloads (the CLI's scenarios carry none).
    let spec = GenSpec {
        flows: 120,
        scenarios: vec![Scenario::Web, Scenario::Dns],
        ..GenSpec::default()
    };
    let mut pcap = Vec::new();
    generate(&spec, &mut pcap, None).expect("generate");
    std::fs::write(d.join("all.pcap"), pcap).expect("write capture");
    let input = d.join("all.pcap");
    let cut = d.join("cut.pcap");
    let st = Command::new("editcap")
        .args(["-s", "128"])
        .arg(&input)
        .arg(&cut)
        .status()
        .expect("editcap");
    assert!(st.success());
    let cfg = d.join("snap.yaml");
    std::fs::write(
        &cfg,
        "inputs:\n  cbpf:\n    tunning:\n      max_capture_packet_size: 128\n",
    )
    .expect("config");
    let snapped = analyze(d, "snapped", &input, &["--config", cfg.to_str().unwrap()]);
    let edited = analyze(d, "edited", &cut, &[]);
    let whole = analyze(d, "whole", &input, &[]);
    for file in ["l4_flow_log", "l7_flow_log", "flow_metrics.network.1m"] {
        assert!(rows(&snapped, file) == rows(&edited, file), "{file}");
    }
    // Headers give the lengths: the byte counts are the whole frames'; only L7 lost its view.
    let counts = |out: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_to_string(out.join("l4_flow_log.jsonl"))
            .expect("l4")
            .lines()
            .map(|l| {
                let r: serde_json::Value = serde_json::from_str(l).expect("json");
                format!(
                    "{} {} {} {} {}",
                    r["client_port"], r["packet_tx"], r["packet_rx"], r["byte_tx"], r["byte_rx"]
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(counts(&snapped), counts(&whole));
    // The largest value is whole frames.
    let max = d.join("max.yaml");
    std::fs::write(
        &max,
        "inputs:\n  cbpf:\n    tunning:\n      max_capture_packet_size: 65535\n",
    )
    .expect("config");
    let at_max = analyze(d, "max", &input, &["--config", max.to_str().unwrap()]);
    assert!(rows(&at_max, "l7_flow_log") == rows(&whole, "l7_flow_log"));
    assert!(rows(&snapped, "l7_flow_log").len() < rows(&whole, "l7_flow_log").len());
    let e = Config::check_error(
        d,
        "inputs:\n  cbpf:\n    tunning:\n      max_capture_packet_size: 64\n",
    );
    assert!(e.contains("128..=65535"), "{e}");
}

/// `tapflow config check` of `yaml`: its error output.
struct Config;

impl Config {
    fn check_error(dir: &Path, yaml: &str) -> String {
        let p = dir.join("check.yaml");
        std::fs::write(&p, yaml).expect("config");
        let out = bin()
            .args(["config", "check"])
            .arg(&p)
            .output()
            .expect("check");
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}
