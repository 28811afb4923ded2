//! `tapflow analyze --workers N` gives the records of one worker: every table, sorted, line for
//! line, and the same counters. The reader steers by service (the end the ports name as the
//! server), so what one analyzer learns about a service from its flows is learned by one
//! worker; `direction_score` still reports what each worker's service table saw of the
//! clients too (DeepFlow's table is per flow-map thread as well), so it is taken out of l4
//! rows before comparing. Where the ports do not name the server, a direction learned from
//! other flows may be learned by another worker: the shared captures (odd traffic from 62
//! suites) allow that for a few rows, and nothing else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod pcap_truth;
mod procs;

const BIN: &str = env!("CARGO_BIN_EXE_tapflow");

/// `tapflow analyze FILES --workers N [--config C]`; the output directory.
fn analyze(files: &[PathBuf], workers: u16, out: &Path, config: Option<&Path>) {
    let o = Command::new(BIN)
        .arg("analyze")
        .args(files)
        .args(["--quiet", "--out", out.to_str().expect("utf8")])
        .args(["--workers", &workers.to_string()])
        .args(config.iter().flat_map(|c| [Path::new("--config"), c]))
        .output()
        .expect("run tapflow");
    assert!(
        o.status.success(),
        "analyze --workers {workers}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every table's rows (rotated parts joined), each as comparable text, sorted.
fn tables(out: &Path) -> BTreeMap<String, Vec<String>> {
    let mut t: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in std::fs::read_dir(out).expect("out dir").flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".jsonl") else {
            continue;
        };
        // `l4_flow_log.1.jsonl` is a rotated part of `l4_flow_log`.
        let table = match stem.rsplit_once('.') {
            Some((base, n)) if n.chars().all(|c| c.is_ascii_digit()) => base.to_string(),
            _ => stem.to_string(),
        };
        let rows = t.entry(table.clone()).or_default();
        for line in std::fs::read_to_string(e.path()).expect("read").lines() {
            let mut v: Value = serde_json::from_str(line).expect("json row");
            if table == "l4_flow_log" {
                v.as_object_mut().expect("row").remove("direction_score");
            }
            rows.push(v.to_string());
        }
    }
    for rows in t.values_mut() {
        rows.sort();
    }
    t
}

/// The counters that must not depend on the split.
fn counters(out: &Path) -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(out.join("stats.json")).expect("stats.json");
    let v: Value = serde_json::from_str(&text).expect("json");
    v.as_object()
        .expect("object")
        .iter()
        // The inference cache is per worker (shared-nothing, as DeepFlow's AppTable is per
        // flow map): a server whose flows are split between workers is probed once by each, so
        // its hits depend on the split; the rows do not.
        .filter(|(k, _)| *k != "elapsed_seconds" && *k != "l7.inference_cached")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// How far `--workers` may stray from one worker.
#[derive(Clone, Copy)]
enum Expect {
    /// Every row of every table, and the counters.
    Identical,
    /// Request logs identical; every flow once with its times, packets and bytes, at most
    /// `permille` of the flow rows seen from the other end (direction learned from other
    /// flows of an end the ports do not name as a server, which one worker may not see), and
    /// the metrics' totals equal.
    SameFlows { permille: usize },
}

fn assert_same(files: &[PathBuf], dir: &Path, workers: &[u16], min_rows: usize, expect: Expect) {
    assert_same_with(files, dir, workers, min_rows, expect, None);
}

fn assert_same_with(
    files: &[PathBuf],
    dir: &Path,
    workers: &[u16],
    min_rows: usize,
    expect: Expect,
    config: Option<&Path>,
) {
    let one = dir.join("w1");
    analyze(files, 1, &one, config);
    let want = tables(&one);
    let rows: usize = want.values().map(Vec::len).sum();
    assert!(rows >= min_rows, "one worker wrote {rows} rows");
    let want_counters = counters(&one);
    for &n in workers {
        let out = dir.join(format!("w{n}"));
        analyze(files, n, &out, config);
        let got = tables(&out);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "tables"
        );
        match expect {
            Expect::Identical => {
                for (t, w) in &want {
                    let g = &got[t];
                    assert_eq!(g.len(), w.len(), "{t}: rows with {n} workers vs one");
                    for (a, b) in g.iter().zip(w) {
                        assert_eq!(a, b, "{t}: a row differs with {n} workers");
                    }
                }
                assert_eq!(counters(&out), want_counters, "stats.json with {n} workers");
            }
            Expect::SameFlows { permille } => {
                assert_eq!(got["l7_flow_log"], want["l7_flow_log"], "{n} workers");
                let (g, w) = (&got["l4_flow_log"], &want["l4_flow_log"]);
                assert_eq!(flows(g), flows(w), "flows with {n} workers");
                let differ = g.iter().filter(|r| w.binary_search(r).is_err()).count();
                assert!(
                    differ * 1000 <= w.len() * permille,
                    "{differ} of {} flow rows differ with {n} workers",
                    w.len()
                );
                for t in want.keys().filter(|t| t.starts_with("flow_metrics.")) {
                    assert_eq!(totals(&got[t]), totals(&want[t]), "{t}, {n} workers");
                }
                let c = counters(&out);
                for k in ["frames", "rx_packets", "flows_created", "ts_backwards"] {
                    assert_eq!(c.get(k), want_counters.get(k), "{k}, {n} workers");
                }
            }
        }
    }
}

/// Each flow row's identity and size, independent of which end it is seen from.
fn flows(rows: &[String]) -> Vec<String> {
    let mut v: Vec<String> = rows
        .iter()
        .map(|r| {
            let r: Value = serde_json::from_str(r).expect("row");
            let n = |k: &str| r[k].as_u64().unwrap_or(0);
            format!(
                "{} {} {} {} {} {}",
                r["flow_id"],
                r["start_time"],
                r["end_time"],
                r["close_type"],
                n("packet_tx") + n("packet_rx"),
                n("byte_tx") + n("byte_rx")
            )
        })
        .collect();
    v.sort();
    v
}

/// Packets and bytes summed over a metrics table's documents.
fn totals(rows: &[String]) -> (u64, u64) {
    rows.iter().fold((0, 0), |(p, b), r| {
        let r: Value = serde_json::from_str(r).expect("row");
        let n = |k: &str| r[k].as_u64().unwrap_or(0);
        (
            p + n("packet_tx") + n("packet_rx"),
            b + n("byte_tx") + n("byte_rx"),
        )
    })
}

/// `tapflow gen` into `dir` (`g.pcap`): every scenario of the generator, `flows` conversations
/// each.
fn generate(dir: &Path, seed: u64, flows: u32) {
    let o = Command::new(BIN)
        .args(["gen", "--out", dir.to_str().expect("utf8"), "--name", "g"])
        .args(["--seed", &seed.to_string(), "--flows", &flows.to_string()])
        .output()
        .expect("gen");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Every scenario of the generator (TCP handshakes, resets, retransmissions, UDP, DNS, HTTP,
/// the L7 protocols, tunnels), 400 conversations each.
#[test]
fn generated_traffic_same_records_with_2_and_3_workers() {
    let dir = procs::Scratch::new("workers", "gen");
    generate(&dir, 11, 400);
    assert_same(
        &[dir.join("g.pcap")],
        &dir,
        &[2, 3],
        1_000,
        Expect::Identical,
    );
}

/// A compressed capture is decompressed once, by a reader that hands the workers their frames
/// (plain files are read by every worker): the same records either way.
#[test]
fn compressed_capture_same_records_with_2_workers() {
    let dir = procs::Scratch::new("workers", "gz");
    generate(&dir, 13, 300);
    let plain = std::fs::read(dir.join("g.pcap")).expect("read");
    let gz = dir.join("g.pcap.gz");
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::fs::File::create(&gz).expect("create"))
        .spawn()
        .expect("gzip");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), &plain).expect("write");
    drop(child.stdin.take());
    assert!(child.wait().expect("gzip").success());
    assert_same(&[gz], &dir, &[2, 3], 1_000, Expect::Identical);
}

/// A capture coming through a pipe (a FIFO, as `<(zcat f.pcap.gz)` gives) can be read by one
/// reader only: the one reader takes it and hands the workers their frames; the records are
/// one worker's on the file.
#[test]
fn piped_capture_same_records_with_2_workers() {
    let dir = procs::Scratch::new("workers", "fifo");
    generate(&dir, 17, 200);
    let one = dir.join("w1");
    analyze(&[dir.join("g.pcap")], 1, &one, None);
    let fifo = dir.join("g.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let mut writer = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cat '{}' > '{}'",
            dir.join("g.pcap").display(),
            fifo.display()
        ))
        .spawn()
        .expect("writer");
    let two = dir.join("w2");
    analyze(&[fifo], 2, &two, None);
    assert!(writer.wait().expect("writer").success());
    let (want, got) = (tables(&one), tables(&two));
    assert!(
        want["l4_flow_log"].len() >= 200,
        "{}",
        want["l4_flow_log"].len()
    );
    assert_eq!(got, want);
    assert_eq!(counters(&two), counters(&one));
}

/// The generated capture in `dir` with `config` (YAML): `workers` write one worker's records
/// and counters, line for line.
fn generated_same_with_config(dir: &Path, workers: &[u16], min_rows: usize, config: &str) {
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).expect("config");
    assert_same_with(
        &[dir.join("g.pcap")],
        dir,
        workers,
        min_rows,
        Expect::Identical,
        Some(&path),
    );
}

/// With `second_metrics` (1-second documents too, and live flows' rows merged per minute on
/// the output thread) the documents of the rows of two workers are one worker's: every 1 s and
/// 1 m document line for line, and the same counters.
#[test]
fn generated_traffic_second_metrics_same_documents_with_2_workers() {
    let dir = procs::Scratch::new("workers", "gen1s");
    generate(&dir, 5, 200);
    generated_same_with_config(
        &dir,
        &[2],
        1_000,
        "outputs:\n  flow_metrics:\n    filters:\n      second_metrics: true\n",
    );
    let seconds = tables(&dir.join("w2"));
    assert!(
        seconds["flow_metrics.network.1s"].len() > 10,
        "1 s documents: {}",
        seconds["flow_metrics.network.1s"].len()
    );
}

/// With `flow_metrics` tables too small for the traffic (16 keys a table and minute), which
/// keys a full table keeps does not follow the order the workers' rows reach it: every document
/// and the overflow count are one worker's.
#[test]
fn full_metrics_tables_same_documents_with_2_and_3_workers() {
    let dir = procs::Scratch::new("workers", "full");
    generate(&dir, 23, 400);
    generated_same_with_config(
        &dir,
        &[2, 3],
        500,
        "outputs:\n  flow_metrics:\n    tunning:\n      max_keys_per_window: 16\n",
    );
    let stats = counters(&dir.join("w1"));
    let overflow = stats["metrics.key_overflow"].as_u64().unwrap_or(0);
    assert!(overflow > 500, "the tables were full: {stats:?}");
    let docs = tables(&dir.join("w1"));
    assert!(
        docs["flow_metrics.network_map.1m"].len() <= 16 * 10,
        "at most 16 keys a minute: {}",
        docs["flow_metrics.network_map.1m"].len()
    );
}

/// Every shared capture (62 files from other projects' suites: mirror encapsulations, TCP
/// corner cases, every L7 protocol) as one input: time jumps back between files (clamped and
/// counted as one analyzer does), and flows of many kinds meet in the split.
#[test]
fn shared_captures_same_records_with_2_workers() {
    let Some(root) = pcap_truth::pcaps() else {
        eprintln!("skipped: ../shared/pcaps is not here");
        return;
    };
    let mut files = Vec::new();
    for sub in ["encap", "l7", "tcp"] {
        for e in std::fs::read_dir(root.join(sub)).expect("pcaps").flatten() {
            let p = e.path();
            let name = p.to_string_lossy().to_string();
            if name.ends_with(".pcap") || name.ends_with(".pcapng") || name.ends_with(".pcap.gz") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 20, "shared captures: {}", files.len());
    let dir = procs::Scratch::new("workers", "shared");
    assert_same(&files, &dir, &[2], 500, Expect::SameFlows { permille: 5 });
}

/// Bad input with several workers: a capture cut mid-record is analysed up to the cut (the cut
/// record counted) as with one worker; a file that is not a capture, or is missing, is a clear
/// error naming it, and the run ends (no hang).
#[test]
fn cut_and_unreadable_files_with_workers() {
    let dir = procs::Scratch::new("workers", "bad");
    generate(&dir, 3, 50);
    let full = std::fs::read(dir.join("g.pcap")).expect("read");
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &full[..full.len() * 2 / 3]).expect("write");
    assert_same(&[cut], &dir, &[2], 100, Expect::Identical);
    let stats = counters(&dir.join("w2"));
    assert_eq!(stats["truncated_records"], 1, "{stats:?}");

    let junk = dir.join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture file at all").expect("write");
    for files in [
        vec![dir.join("g.pcap"), junk.clone()],
        vec![dir.join("missing.pcap")],
    ] {
        let o = Command::new(BIN)
            .arg("analyze")
            .args(&files)
            .args(["--quiet", "--workers", "2", "--out"])
            .arg(dir.join("bad-out"))
            .output()
            .expect("run tapflow");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{files:?} accepted");
        let named = files.last().expect("file").display().to_string();
        assert!(err.contains(&named), "the error names {named}: {err}");
    }
}
