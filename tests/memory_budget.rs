//! One memory budget for a live run: two AF_PACKET workers under a one-million-flow SYN flood
//! replayed on a veth pair. The process's peak RSS stays under `global.limits.max_memory`, the
//! flow table is the configured limit for the whole process (split over the workers), and every
//! SYN is accounted for: a flow created, or refused (table full) and counted, or a counted kernel
//! drop. A budget too small for the run's parts is refused up front with each part's share.

use std::process::Command;
use std::time::{Duration, Instant};

mod netns;
mod procs;
use netns::{is_root, VethNs};
use procs::Proc;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tapflow");
const SYNS: u64 = 1_000_000;
const MAX_MEMORY_MIB: u64 = 1024;
const FLOW_LIMIT: u64 = 300_000;

/// Held by the tests that change the kernel's huge page settings and by those that measure
/// memory, so that no run of the one starts under the other's settings.
static MACHINE_SETTINGS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn machine_settings() -> std::sync::MutexGuard<'static, ()> {
    MACHINE_SETTINGS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn tempdir(name: &str) -> procs::Scratch {
    procs::Scratch::new("mem", name)
}

/// VmHWM (peak RSS) of `pid`, bytes.
fn peak_rss(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[test]
fn two_workers_under_a_million_flow_syn_flood_stay_in_budget() {
    if !is_root() {
        eprintln!("skipped: live capture needs root (CI runs as root)");
        return;
    }
    let _settings = machine_settings();
    let dir = tempdir("flood");
    let g = Command::new(BIN)
        .args(["gen", "--out", dir.to_str().expect("utf8"), "--name", "syn"])
        .args([
            "--scenarios",
            "syn_flood",
            "--flows",
            &SYNS.to_string(),
            "--spacing-ms",
            "0",
        ])
        .output()
        .expect("gen");
    assert!(g.status.success());
    let _ = std::fs::remove_file(dir.join("syn.expected.jsonl"));
    let cfg = dir.join("budget.yaml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  limits:\n    max_memory: {MAX_MEMORY_MIB}\nprocessors:\n  flow_log:\n    tunning:\n      concurrent_flow_limit: {FLOW_LIMIT}\n"
        ),
    )
    .expect("config");
    let net = VethNs::with_mtu("mb", "1500");
    let out = dir.join("out");
    let run = Proc::spawn_env(
        &[
            "run",
            "--engine",
            "af_packet",
            "--iface",
            &net.host,
            "--queues",
            "2",
            "--config",
            cfg.to_str().expect("utf8"),
            "--out",
            out.to_str().expect("utf8"),
        ],
        &[],
    );
    let pid = run.child.id();
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    let st = Command::new("ip")
        .args([
            "netns", "exec", &net.ns, BIN, "replay", "--iface", &net.peer,
        ])
        .args(["--pps", "150000"])
        .arg(dir.join("syn.pcap"))
        .status()
        .expect("replay");
    assert!(st.success(), "replay");
    eprintln!(
        "replayed {SYNS} SYNs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(1));
    let peak = peak_rss(pid);
    assert!(
        run.stop_within(Duration::from_secs(30)),
        "tapflow run did not stop cleanly"
    );
    let stats: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).expect("stats.json"))
            .expect("json");
    let n = |k: &str| stats[k].as_u64().unwrap_or(0);
    eprintln!(
        "peak RSS {} MiB of {MAX_MEMORY_MIB}; frames {}, kernel drops {}, flows created {}, refused {}, evicted {}; plan {}",
        peak >> 20,
        n("frames"),
        n("kernel_drops"),
        n("flows_created"),
        n("flow_table_full"),
        n("flows_evicted"),
        stats["memory_plan"]
    );
    assert!(
        peak > 0 && peak < MAX_MEMORY_MIB << 20,
        "peak RSS {peak} over the budget"
    );
    // Every SYN: analysed (a flow, or refused because the table was full) or a counted drop.
    let frames = n("frames");
    assert!(frames + n("kernel_drops") >= SYNS, "{stats}");
    assert_eq!(
        n("flows_created") + n("flow_table_full"),
        frames,
        "every analysed SYN makes a flow or is counted as refused: {stats}"
    );
    assert!(n("flow_table_full") > 0, "the table filled: {stats}");
    // The table is the limit for the process, not per worker.
    let plan = stats["memory_plan"].as_object().expect("plan");
    assert!(
        plan.keys().any(|k| k.contains("2 x 150000 flows")),
        "tables split over the workers: {plan:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A one-second `tapflow run` of AF_PACKET on `iface` with `queues` workers and `yaml` as its
/// config (written into `dir`), its output in `dir/out`.
fn short_run(iface: &str, queues: u16, yaml: &str, dir: &std::path::Path) -> std::process::Output {
    let cfg = dir.join("run.yaml");
    std::fs::write(&cfg, yaml).expect("config");
    Command::new(BIN)
        .args(["run", "--engine", "af_packet", "--iface", iface])
        .args(["--queues", &queues.to_string()])
        .args(["--duration", "1", "--quiet", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(dir.join("out"))
        .output()
        .expect("run")
}

#[test]
fn a_budget_too_small_is_refused_with_each_part() {
    if !is_root() {
        eprintln!("skipped: live capture needs root (CI runs as root)");
        return;
    }
    let dir = tempdir("small");
    let net = VethNs::with_mtu("ms", "1500");
    let o = short_run(
        &net.host,
        2,
        "global:\n  limits:\n    max_memory: 400\nprocessors:\n  flow_log:\n    tunning:\n      concurrent_flow_limit: 100000\n",
        &dir,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a run over budget must be refused");
    for part in [
        "flow, L7 and de-dup tables (2 x 50000 flows)",
        "AF_PACKET rings (2 x 64 MiB, 1025 KiB scratch each)",
        "record rings",
        "of global.limits.max_memory 400 MiB",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// DeepFlow's `ring_blocks`: a budget the default 64 MiB rings do not fit runs with rings of 8
/// blocks, each part planned with them.
#[test]
fn ring_blocks_size_the_af_packet_rings() {
    if !is_root() {
        eprintln!("skipped: live capture needs root (CI runs as root)");
        return;
    }
    let dir = tempdir("rings");
    let net = VethNs::with_mtu("rb", "1500");
    let run = |rings: &str| {
        let yaml = format!(
            "global:\n  limits:\n    max_memory: 220\nprocessors:\n  flow_log:\n    tunning:\n      concurrent_flow_limit: 10000\n{rings}"
        );
        short_run(&net.host, 2, &yaml, &dir)
    };
    let refused = run("");
    assert!(
        !refused.status.success(),
        "two 64 MiB rings do not fit 220 MiB"
    );
    let small = run(
        "inputs:\n  cbpf:\n    af_packet:\n      tunning:\n        ring_blocks_enabled: true\n        ring_blocks: 8\n",
    );
    assert!(
        small.status.success(),
        "{}",
        String::from_utf8_lossy(&small.stderr)
    );
    let stats: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("out").join("stats.json")).expect("stats"),
    )
    .expect("json");
    let plan = stats["memory_plan"].as_object().expect("plan");
    assert!(
        plan.keys()
            .any(|k| k.contains("AF_PACKET rings (2 x 8 MiB")),
        "{plan:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// With `second_metrics` the output stage holds more: the seconds' key tables and each live
/// flow's merged minute row. A run that fits without them is refused with them, naming them.
#[test]
fn second_metrics_count_in_the_budget() {
    if !is_root() {
        eprintln!("skipped: live capture needs root (CI runs as root)");
        return;
    }
    let dir = tempdir("second");
    let net = VethNs::with_mtu("m1", "1500");
    for second in [false, true] {
        let yaml = format!(
            "global:\n  limits:\n    max_memory: 420\nprocessors:\n  flow_log:\n    tunning:\n      concurrent_flow_limit: 100000\noutputs:\n  flow_metrics:\n    filters:\n      second_metrics: {second}\n"
        );
        let o = short_run(&net.host, 1, &yaml, &dir);
        let err = String::from_utf8_lossy(&o.stderr);
        if !second {
            assert!(o.status.success(), "fits without second_metrics: {err}");
            continue;
        }
        assert!(
            !o.status.success(),
            "over budget with second_metrics: {err}"
        );
        for part in [
            "flow_metrics key tables (4096 keys per table and window)",
            "second_metrics minute rows (up to 100000 live flows)",
        ] {
            assert!(err.contains(part), "{part}: {err}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The mappings of `pid` advised for huge pages (`hg` in their `VmFlags`).
fn advised_mappings(pid: u32) -> usize {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    smaps
        .lines()
        .filter_map(|l| l.strip_prefix("VmFlags:"))
        .filter(|flags| flags.split_whitespace().any(|f| f == "hg"))
        .count()
}

/// `tapflow run` on `iface` with `TAPFLOW_HUGE_PAGES=setting`, once its workers have taken
/// their tables (its first status line); with its line about huge pages.
fn live_run(iface: &str, out: &std::path::Path, setting: &str) -> (Proc, String) {
    let run = Proc::spawn_env(
        &[
            "run",
            "--engine",
            "af_packet",
            "--iface",
            iface,
            "--out",
            out.to_str().expect("utf8"),
        ],
        &[("TAPFLOW_HUGE_PAGES", setting)],
    );
    let line = run.expect("tapflow: huge pages", Duration::from_secs(10));
    run.expect("tapflow: capturing on", Duration::from_secs(20));
    run.expect("drops:", Duration::from_secs(10));
    (run, line)
}

/// `TAPFLOW_HUGE_PAGES` decides whether a live run's large tables are advised for huge pages
/// (the `hg` flag of their mappings); `auto` (the default) follows the machine: off where a
/// virtio balloon reports free memory to the hypervisor and 2 MiB pages are on. The run's first
/// lines say which. A value tapflow does not know is refused before anything starts.
#[test]
fn huge_pages_follow_the_setting_and_the_machine() {
    let o = Command::new(BIN)
        .args(["analyze", "-q", "-o", "-", "/nonexistent.pcap"])
        .env("TAPFLOW_HUGE_PAGES", "sometimes")
        .output()
        .expect("analyze");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("TAPFLOW_HUGE_PAGES=sometimes: expected auto"),
        "{err}"
    );
    if !is_root() {
        eprintln!("skipped the live part: live capture needs root (CI runs as root)");
        return;
    }
    let mode =
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    if !(mode.contains("[madvise]") || mode.contains("[always]")) {
        eprintln!(
            "skipped the live part: huge pages are off here ({})",
            mode.trim()
        );
        return;
    }
    let _settings = machine_settings();
    let reporting = tapflow_dataplane::huge_page_policy::free_page_reporting(std::path::Path::new(
        tapflow_dataplane::huge_page_policy::VIRTIO_DEVICES,
    ));
    let auto = tapflow_dataplane::huge_page_policy::decide_here(None).expect("auto is valid");
    eprintln!("free page reporting: {reporting:?}; auto: {auto:?}");
    let dir = tempdir("huge");
    let net = VethNs::with_mtu("hp", "1500");
    for (setting, on) in [("1", true), ("0", false), ("auto", auto.enabled)] {
        let (run, line) = live_run(&net.host, &dir.join(setting), setting);
        let want = if on {
            "huge pages on"
        } else {
            "huge pages off"
        };
        assert!(line.contains(want), "{setting}: {line}");
        if setting == "auto" {
            if let Some(device) = &reporting {
                assert!(line.contains(device.as_str()), "{line}");
            }
        }
        let advised = advised_mappings(run.child.id());
        assert_eq!(advised > 0, on, "{setting}: {advised} mappings advised");
        assert!(run.stop(), "{setting}: clean exit");
    }
}

/// A capture of 300 generated flows (`tapflow gen --seed SEED`) in `dir`.
fn generated_capture(dir: &std::path::Path, seed: &str) -> std::path::PathBuf {
    let g = Command::new(BIN)
        .args(["gen", "--out", dir.to_str().expect("utf8"), "--name", "g"])
        .args(["--seed", seed, "--flows", "300"])
        .output()
        .expect("gen");
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    dir.join("g.pcap")
}

/// The records `tapflow analyze ARGS PCAP` writes with `TAPFLOW_HUGE_PAGES=setting`.
fn offline_records(pcap: &std::path::Path, args: &[&str], setting: &str) -> Vec<u8> {
    let o = Command::new(BIN)
        .args(["analyze", "-q", "-o", "-"])
        .args(args)
        .arg(pcap)
        .env("TAPFLOW_HUGE_PAGES", setting)
        .output()
        .expect("analyze");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

/// `vm.nr_hugepages` raised for a test, put back when dropped (also when the test fails).
struct HugePagePool(Option<String>);

impl HugePagePool {
    const NR: &'static str = "/proc/sys/vm/nr_hugepages";

    fn raise(by: u64) -> HugePagePool {
        let Ok(before) = std::fs::read_to_string(Self::NR) else {
            return HugePagePool(None);
        };
        let Ok(n) = before.trim().parse::<u64>() else {
            return HugePagePool(None);
        };
        if std::fs::write(Self::NR, (n + by).to_string()).is_err() {
            return HugePagePool(None);
        }
        HugePagePool(Some(before.trim().to_string()))
    }
}

impl Drop for HugePagePool {
    fn drop(&mut self) {
        if let Some(before) = &self.0 {
            let _ = std::fs::write(Self::NR, before);
        }
    }
}

/// The bytes of `pid`'s mappings of reserved huge pages (`ht` in their `VmFlags`), touched
/// or not.
fn hugetlb_mapped(pid: u32) -> u64 {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut size = 0;
    let mut total = 0;
    for line in smaps.lines() {
        if let Some(v) = line.strip_prefix("Size:") {
            size = v
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024;
        } else if let Some(flags) = line.strip_prefix("VmFlags:") {
            if flags.split_whitespace().any(|f| f == "ht") {
                total += size;
            }
        }
    }
    total
}

/// `TAPFLOW_HUGE_PAGES=reserved`: a live run's large tables come from the huge pages the
/// administrator reserved (the process's `HugetlbPages`), and an offline run writes the same
/// records as with 4 KiB pages.
#[test]
fn reserved_huge_pages_hold_the_tables() {
    if !is_root() {
        eprintln!("skipped: reserving huge pages and live capture need root (CI runs as root)");
        return;
    }
    let _settings = machine_settings();
    let pool = HugePagePool::raise(64);
    if pool.0.is_none() || tapflow_dataplane::sys::reserved_pages::available_pages() < 64 {
        eprintln!("skipped: the kernel could not reserve 64 huge pages here");
        return;
    }
    let dir = tempdir("reserved");
    let pcap = generated_capture(&dir, "5");
    let records = |setting: &str| offline_records(&pcap, &[], setting);
    let reserved = records("reserved");
    assert!(
        reserved.len() > 10_000,
        "{} bytes of records",
        reserved.len()
    );
    assert!(
        reserved == records("0"),
        "the same records from either memory"
    );
    let net = VethNs::with_mtu("hr", "1500");
    let (run, line) = live_run(&net.host, &dir.join("out"), "reserved");
    assert!(line.contains("huge pages from the reserved pool"), "{line}");
    let mapped = hugetlb_mapped(run.child.id());
    assert!(
        mapped >= 4 << 20,
        "{mapped} bytes of reserved huge pages mapped: the tables are not in the pool"
    );
    assert!(run.stop(), "clean exit");
    drop(pool);
}

const THP: &str = "/sys/kernel/mm/transparent_hugepage";

/// Per-size transparent huge page settings (`hugepages-<N>kB/enabled`) changed for a test, put
/// back when dropped (also when the test fails).
struct ThpSizes(Vec<(String, String)>);

impl ThpSizes {
    /// Sets each `(size dir, choice)`; None (nothing changed) where a size does not exist.
    fn set(sizes: &[(&str, &str)]) -> Option<ThpSizes> {
        let mut saved = ThpSizes(Vec::new());
        for (size, choice) in sizes {
            let file = format!("{THP}/{size}/enabled");
            let text = std::fs::read_to_string(&file).ok()?;
            let before = text.split(['[', ']']).nth(1)?.to_string();
            std::fs::write(&file, choice).ok()?;
            saved.0.push((file, before));
        }
        Some(saved)
    }
}

impl Drop for ThpSizes {
    fn drop(&mut self) {
        for (file, before) in self.0.iter().rev() {
            let _ = std::fs::write(file, before);
        }
    }
}

/// The kernel's count of 64 KiB anonymous pages it has faulted in since boot.
fn faults_64k() -> u64 {
    std::fs::read_to_string(format!("{THP}/hugepages-64kB/stats/anon_fault_alloc"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Where a balloon reports free memory and the administrator turned the 2 MiB size off and
/// 64 KiB on, `auto` asks for huge pages: the run says so and why, its tables are advised, and
/// the kernel backs them with 64 KiB pages.
#[test]
fn a_reporting_vm_with_smaller_huge_pages_asks_for_them() {
    if !is_root() {
        eprintln!("skipped: changing huge page settings and live capture need root");
        return;
    }
    let reporting = tapflow_dataplane::huge_page_policy::free_page_reporting(std::path::Path::new(
        tapflow_dataplane::huge_page_policy::VIRTIO_DEVICES,
    ));
    let Some(device) = reporting else {
        eprintln!("skipped: no balloon reports free memory here (auto asks for huge pages)");
        return;
    };
    let _settings = machine_settings();
    let Some(_sizes) =
        ThpSizes::set(&[("hugepages-2048kB", "never"), ("hugepages-64kB", "madvise")])
    else {
        eprintln!("skipped: this kernel has no 64 KiB transparent huge pages");
        return;
    };
    let dir = tempdir("thp64");
    let net = VethNs::with_mtu("hq", "1500");
    let (run, line) = live_run(&net.host, &dir.join("auto"), "auto");
    assert!(line.contains("huge pages on"), "{line}");
    assert!(
        line.contains(device.as_str()) && line.contains("pages of 64 KiB only"),
        "{line}"
    );
    let advised = advised_mappings(run.child.id());
    assert!(run.stop(), "clean exit");
    assert!(advised > 0, "{advised} mappings advised");
    // An offline run with a million-flow table: its index alone (8.8 MB) is written whole at
    // start, through 64 KiB pages; the records are those of a run with 4 KiB pages.
    let pcap = generated_capture(&dir, "6");
    let cfg = dir.join("big.yaml");
    std::fs::write(
        &cfg,
        "global:\n  limits:\n    max_memory: 2304\nprocessors:\n  flow_log:\n    tunning:\n      \
         concurrent_flow_limit: 1100000\n",
    )
    .expect("config");
    let cfg = ["-c", cfg.to_str().expect("utf8")];
    let records = |setting: &str| offline_records(&pcap, &cfg, setting);
    let before = faults_64k();
    let small_pages = records("auto");
    let faulted = faults_64k() - before;
    assert!(faulted >= 100, "{faulted} pages of 64 KiB faulted in");
    assert!(small_pages.len() > 10_000, "{} bytes", small_pages.len());
    assert!(small_pages == records("0"), "the same records either way");
}
