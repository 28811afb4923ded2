//! The benchmark harness behind `tapflow bench`: the standard inputs, tapflow and its peers on
//! the same input in alternation, several rounds, one core each, and a table of ratios.
//!
//! Every tool runs as `taskset -c CORE /usr/bin/time -o FILE -f "%e %M %U %S" TOOL ...`: peak RSS
//! and CPU time come from GNU time, wall time from the harness's own clock around the run (GNU
//! time's `%e` has 10 ms steps, 4 % of a 0.27 s run), packets and bytes from the input. A peer
//! that is not installed is skipped with a note; nothing is estimated.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;

use crate::gen::{generate_files, Encap, GenSpec, Scenario};

/// A standard input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// (a) realistic mix: HTTP/1, gRPC/HTTP2, DNS, TLS, MySQL, Redis, bulk, retransmissions.
    Mix,
    /// (b) 64-byte-frame UDP flood.
    Small,
    /// (c) one million concurrent flows: unanswered SYNs.
    SynFlood,
    /// (d) the mix in ERSPAN III.
    MixErspan3,
    /// (d) the mix in VXLAN.
    MixVxlan,
}

impl Input {
    pub const ALL: [Input; 5] = [
        Input::Mix,
        Input::Small,
        Input::SynFlood,
        Input::MixErspan3,
        Input::MixVxlan,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Input::Mix => "mix",
            Input::Small => "small",
            Input::SynFlood => "synflood",
            Input::MixErspan3 => "mix_erspan3",
            Input::MixVxlan => "mix_vxlan",
        }
    }

    pub fn from_name(s: &str) -> Option<Input> {
        Input::ALL.into_iter().find(|i| i.name() == s)
    }

    /// The generator spec (smoke = tiny, for CI).
    pub fn spec(self, smoke: bool) -> GenSpec {
        let size = |full: u64, tiny: u64| if smoke { tiny } else { full };
        let mix = |encap| GenSpec {
            seed: 1,
            scenarios: Scenario::MIX.to_vec(),
            flows: size(100_000, 200),
            encap,
            spacing_ns: 50_000,
            ..GenSpec::default()
        };
        match self {
            Input::Mix => mix(Encap::None),
            Input::MixErspan3 => mix(Encap::ErspanIII),
            Input::MixVxlan => mix(Encap::Vxlan),
            Input::Small => GenSpec {
                seed: 2,
                scenarios: vec![Scenario::SmallFlood],
                flows: size(250_000, 500),
                spacing_ns: 4_000,
                ..GenSpec::default()
            },
            Input::SynFlood => GenSpec {
                seed: 3,
                scenarios: vec![Scenario::SynFlood],
                flows: size(1_000_000, 2_000),
                spacing_ns: 1_000,
                ..GenSpec::default()
            },
        }
    }
}

/// One measured run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub seconds: f64,
    /// CPU time, user + system (several threads can take more than `seconds`).
    pub cpu_seconds: f64,
    pub peak_rss_kib: u64,
}

/// All rounds of one tool on one input.
#[derive(Debug, Clone, Serialize)]
pub struct ToolResult {
    pub input: &'static str,
    pub tool: &'static str,
    pub packets: u64,
    pub bytes: u64,
    pub samples: Vec<Sample>,
    pub median_seconds: f64,
    /// Median CPU time (user + system) of the rounds.
    pub median_cpu_seconds: f64,
    pub min_seconds: f64,
    pub max_seconds: f64,
    pub mpps: f64,
    pub mbit_s: f64,
    pub peak_rss_kib: u64,
    /// This tool's packets/s divided by tapflow's (same input, same run); 0 when no tapflow
    /// tool ran.
    pub ratio_to_tapflow: f64,
    /// The tapflow tool `ratio_to_tapflow` divides by: `tapflow` when it ran, else the first
    /// tapflow variant that did (`tapflow-null`, ...).
    pub ratio_base: &'static str,
    /// This tool's median time divided by the floor's (`tcpdump -r F -w /dev/null`, same input,
    /// same run), the ratio issue 19's goals are stated in; absent when tcpdump did not run.
    pub time_vs_floor: Option<f64>,
    /// User-space instructions of one run under callgrind (`--instructions`).
    pub instructions: Option<u64>,
    /// `instructions` divided by the floor's.
    pub instructions_vs_floor: Option<f64>,
}

/// What the harness should do.
#[derive(Debug, Clone)]
pub struct Harness {
    pub work: PathBuf,
    pub tapflow: PathBuf,
    /// A second build of tapflow (a profile-guided one, `scripts/build-pgo.sh`), run as
    /// `tapflow-pgo` and `tapflow-pgo-null` in the same rounds.
    pub pgo: Option<PathBuf>,
    pub inputs: Vec<Input>,
    pub rounds: u32,
    pub smoke: bool,
    pub core: usize,
    /// Only these tools (by name; empty = every installed one).
    pub only: Vec<String>,
    /// Count each tool's instructions too, once per input ([`crate::instructions`]).
    pub instructions: bool,
}

/// A peer and how it runs on a capture.
struct Tool {
    name: &'static str,
    needs: Needs,
    args: fn(&Harness, &Path, &Path) -> Vec<String>,
    /// Cores it is pinned to (from `Harness::core` on).
    cores: usize,
    /// Where it writes its records (under the work directory), removed before each run so
    /// that no run pays for replacing the previous round's files.
    out_dir: Option<&'static str>,
}

impl Tool {
    /// Whether `--instructions` counts it: tapflow and the C peers (under callgrind, Python and
    /// tshark's dissectors take minutes).
    fn counted(&self) -> bool {
        self.name.starts_with("tapflow") || matches!(self.name, "tcpdump" | "ndpiReader")
    }
}

const NFSTREAM: &str = "import sys\nfrom nfstream import NFStreamer\nprint(sum(1 for _ in NFStreamer(source=sys.argv[1], n_meters=1)))";

fn tools() -> Vec<Tool> {
    vec![
        Tool {
            name: "tapflow",
            needs: Needs::Nothing,
            args: |h, pcap, out| analyze_args(&h.tapflow, pcap, out, 1, Some(TAPFLOW_OUT)),
            cores: 1,
            out_dir: Some(TAPFLOW_OUT),
        },
        Tool {
            // The same analysis with every record rendered and written to standard output, which
            // the harness sends to /dev/null: tapflow's time without the page cache's (the
            // rows' files are hundreds of MB, and a VM's page cache takes them at speeds that
            // vary tenfold run to run).
            name: "tapflow-null",
            needs: Needs::Nothing,
            args: |h, pcap, out| analyze_args(&h.tapflow, pcap, out, 1, None),
            cores: 1,
            out_dir: None,
        },
        Tool {
            // `analyze --workers 2` on two cores: two analyzers (each reading the file) and the output.
            name: "tapflow-2w",
            needs: Needs::Nothing,
            args: |h, pcap, out| analyze_args(&h.tapflow, pcap, out, 2, Some(TAPFLOW_2W_OUT)),
            cores: 2,
            out_dir: Some(TAPFLOW_2W_OUT),
        },
        Tool {
            // Two workers with every row to /dev/null: what the second worker gives without
            // the page cache's part (the files' writes, one after the other).
            name: "tapflow-2w-null",
            needs: Needs::Nothing,
            args: |h, pcap, out| analyze_args(&h.tapflow, pcap, out, 2, None),
            cores: 2,
            out_dir: None,
        },
        Tool {
            // The `--pgo` build, as `tapflow` (rows to files) and as `tapflow-null`.
            name: "tapflow-pgo",
            needs: Needs::PgoBuild,
            args: |h, pcap, out| analyze_args(pgo_bin(h), pcap, out, 1, Some(TAPFLOW_PGO_OUT)),
            cores: 1,
            out_dir: Some(TAPFLOW_PGO_OUT),
        },
        Tool {
            name: "tapflow-pgo-null",
            needs: Needs::PgoBuild,
            args: |h, pcap, out| analyze_args(pgo_bin(h), pcap, out, 1, None),
            cores: 1,
            out_dir: None,
        },
        Tool {
            name: "ndpiReader",
            needs: Needs::Program("ndpiReader"),
            args: |_, pcap, _| {
                vec![
                    "ndpiReader".into(),
                    "-q".into(),
                    "-i".into(),
                    pcap.display().to_string(),
                ]
            },
            cores: 1,
            out_dir: None,
        },
        Tool {
            name: "tshark",
            needs: Needs::Program("tshark"),
            args: |_, pcap, _| {
                vec![
                    "tshark".into(),
                    "-n".into(),
                    "-q".into(),
                    "-r".into(),
                    pcap.display().to_string(),
                    "-z".into(),
                    "conv,tcp".into(),
                ]
            },
            cores: 1,
            out_dir: None,
        },
        Tool {
            name: "nfstream",
            needs: Needs::Program("python3"),
            args: |_, pcap, _| {
                vec![
                    "python3".into(),
                    "-c".into(),
                    NFSTREAM.into(),
                    pcap.display().to_string(),
                ]
            },
            cores: 1,
            out_dir: None,
        },
        Tool {
            name: "suricata",
            needs: Needs::Program("suricata"),
            args: |_, pcap, out| {
                vec![
                    "suricata".into(),
                    "-r".into(),
                    pcap.display().to_string(),
                    "-l".into(),
                    out.display().to_string(),
                    "--runmode".into(),
                    "single".into(),
                ]
            },
            cores: 1,
            out_dir: None,
        },
        Tool {
            name: "tcpdump",
            needs: Needs::Program("tcpdump"),
            args: |_, pcap, _| {
                vec![
                    "tcpdump".into(),
                    "-n".into(),
                    "-r".into(),
                    pcap.display().to_string(),
                    "-w".into(),
                    "/dev/null".into(),
                ]
            },
            cores: 1,
            out_dir: None,
        },
    ]
}

/// The records of `tapflow` and `tapflow-2w`, under the work directory.
const TAPFLOW_OUT: &str = "tapflow_out";
const TAPFLOW_2W_OUT: &str = "tapflow_2w_out";
const TAPFLOW_PGO_OUT: &str = "tapflow_pgo_out";

/// What a tool needs to run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// Only tapflow itself.
    Nothing,
    /// This program on the PATH.
    Program(&'static str),
    /// A second build of tapflow (`--pgo`).
    PgoBuild,
}

fn pgo_bin(h: &Harness) -> &Path {
    h.pgo.as_deref().unwrap_or(&h.tapflow)
}

/// `tapflow analyze` with the bench's config and `workers` analyzers, into directory `dir` of
/// the work directory (`None`: every record to standard output).
fn analyze_args(
    bin: &Path,
    pcap: &Path,
    out: &Path,
    workers: u16,
    dir: Option<&str>,
) -> Vec<String> {
    let dir = dir.map_or_else(|| "-".to_string(), |d| out.join(d).display().to_string());
    vec![
        bin.display().to_string(),
        "analyze".into(),
        "-q".into(),
        "--workers".into(),
        workers.to_string(),
        "--config".into(),
        out.join("tapflow.yaml").display().to_string(),
        "--out".into(),
        dir,
        pcap.display().to_string(),
    ]
}

/// Whether `t` can run here; else why not.
fn available(t: &Tool, h: &Harness) -> Result<(), &'static str> {
    let program = match t.needs {
        Needs::Nothing => return Ok(()),
        Needs::PgoBuild if h.pgo.is_some() => return Ok(()),
        Needs::PgoBuild => return Err("no --pgo build given"),
        Needs::Program(p) => p,
    };
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let found = found
        && (t.name != "nfstream"
            || Command::new("python3")
                .args(["-c", "import nfstream"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()));
    if found {
        Ok(())
    } else {
        Err("not installed")
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Packets and bytes of a capture (read once, through tapflow's own reader).
fn count(pcap: &Path) -> std::io::Result<(u64, u64)> {
    use tapflow_dataplane::pcap::PcapReader;
    let mut r = PcapReader::open(pcap, 0).map_err(|e| std::io::Error::other(e.to_string()))?;
    let (mut p, mut b) = (0u64, 0u64);
    while let Some(f) = r
        .next_frame()
        .map_err(|e| std::io::Error::other(e.to_string()))?
    {
        p += 1;
        b += u64::from(f.meta.wire_len);
    }
    Ok((p, b))
}

/// `cores` cores from `first` on, as taskset takes them (moved down to fit this machine).
fn core_list(first: usize, cores: usize) -> String {
    let have = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cores = cores.clamp(1, have);
    let first = first.min(have - cores);
    format!("{first}-{}", first + cores - 1)
}

/// One run of `args` pinned to `cores` cores, with `env` added to the environment.
fn run_once(
    h: &Harness,
    cores: usize,
    args: &[String],
    dir: &Path,
    env: &[(&str, &str)],
) -> std::io::Result<Sample> {
    let timing = dir.join("time.txt");
    let started = std::time::Instant::now();
    let status = Command::new("taskset")
        .envs(env.iter().copied())
        .arg("-c")
        .arg(core_list(h.core, cores))
        .arg("/usr/bin/time")
        .arg("-o")
        .arg(&timing)
        .args(["-f", "%e %M %U %S"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "{} exited with {status}",
            args[0]
        )));
    }
    let text = std::fs::read_to_string(&timing)?;
    let last = text.lines().last().unwrap_or("");
    let mut it = last.split_whitespace().skip(1);
    let peak_rss_kib = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let cpu_seconds = it.filter_map(|s| s.parse::<f64>().ok()).sum();
    Ok(Sample {
        seconds,
        cpu_seconds,
        peak_rss_kib,
    })
}

/// Whether tapflow's runs take their tables from the reserved huge page pool
/// (`TAPFLOW_HUGE_PAGES=reserved`), which peak RSS does not count: the setting read as the
/// runs read it.
pub fn reserved_pages_on() -> bool {
    let setting = std::env::var("TAPFLOW_HUGE_PAGES").ok();
    tapflow_dataplane::huge_page_policy::decide_here(setting.as_deref()).is_ok_and(|h| h.reserved)
}

/// Writes back what the runs before wrote (`sync`), untimed: otherwise the kernel writes a
/// run's files back while the next tool runs (seen: a run that writes nothing took 0.43-1.58 s
/// right after one that wrote 1.5 GB of rows, 0.43-0.45 s on its own).
fn settle_writes() {
    let _ = Command::new("sync")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A fresh copy of tapflow's executable in `work`, which the runs use: the kernel keeps a file
/// it reads or copies whole in large page-cache pages, but a binary just written by the linker
/// in small ones, and on this project's build VMs the same build ran 15-20 % slower from the
/// linker's file than from a copy of it (the executable's code is read through those pages).
/// The copy is what an installed binary is; `exe` itself when it already is that copy.
pub fn installed_copy(exe: &Path, work: &Path, name: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(work)?;
    let copy = work.join(name);
    if std::fs::canonicalize(exe)? == std::fs::canonicalize(&copy).unwrap_or_default() {
        return Ok(copy);
    }
    let _ = std::fs::remove_file(&copy);
    std::fs::copy(exe, &copy)?;
    Ok(copy)
}

/// Reads the input through once, untimed, so that every run finds all of it in the page cache:
/// a machine may drop cold page cache behind the runs' backs (this project's build VMs run a
/// DAMON scheme that pages out file pages left unread for a minute), and the run that found
/// the input partly evicted would pay the disk.
fn warm_input(path: &Path) {
    if let Ok(mut f) = std::fs::File::open(path) {
        let mut buf = vec![0u8; 1 << 20];
        while matches!(std::io::Read::read(&mut f, &mut buf), Ok(n) if n > 0) {}
    }
}

/// tapflow's config for the benchmark: a flow table for 1.1 M flows (the SYN flood), so nothing
/// is refused, and the memory budget that table and its L7 tables need (the budget counts what
/// the tables may take; the RSS measured is what they do take).
const TAPFLOW_BENCH_YAML: &str = "global:\n  limits:\n    max_memory: 2304\nprocessors:\n  flow_log:\n    tunning:\n      concurrent_flow_limit: 1100000\n";

impl Harness {
    /// Generates missing inputs, runs every round, and returns all results. `log` gets notes.
    pub fn run(&self, mut log: impl FnMut(&str)) -> std::io::Result<Vec<ToolResult>> {
        std::fs::create_dir_all(&self.work)?;
        std::fs::write(self.work.join("tapflow.yaml"), TAPFLOW_BENCH_YAML)?;
        let tools = tools();
        let present: Vec<&Tool> = tools
            .iter()
            .filter(|t| self.only.is_empty() || self.only.iter().any(|o| o == t.name))
            .filter(|t| {
                let why = available(t, self).err();
                // The --pgo tools are named only when asked for by name.
                let quiet = t.needs == Needs::PgoBuild && self.only.is_empty();
                if let (Some(why), false) = (why, quiet) {
                    log(&format!("skipped {}: {why}", t.name));
                }
                why.is_none()
            })
            .collect();
        let mut results = Vec::new();
        for input in &self.inputs {
            let name = format!("{}{}", input.name(), if self.smoke { "_smoke" } else { "" });
            let pcap = self.work.join(format!("{name}.pcap"));
            if !pcap.exists() {
                log(&format!("generating {}", pcap.display()));
                generate_files(&input.spec(self.smoke), &self.work, &name)?;
            }
            let (packets, bytes) = count(&pcap)?;
            log(&format!("{}: {packets} packets", input.name()));
            let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); present.len()];
            for round in 0..self.rounds.max(1) {
                for (i, t) in present.iter().enumerate() {
                    let dir = self.fresh_run_dir(t)?;
                    settle_writes();
                    warm_input(&pcap);
                    let args = (t.args)(self, &pcap, &self.work);
                    match run_once(self, t.cores, &args, &dir, &[]) {
                        Ok(s) => samples[i].push(s),
                        Err(e) => log(&format!(
                            "{} round {round} on {}: {e}",
                            t.name,
                            input.name()
                        )),
                    }
                }
            }
            let counts = self.count_instructions(&present, &pcap, &mut log);
            let mut rows: Vec<ToolResult> = Vec::new();
            for ((t, s), instructions) in present.iter().zip(samples).zip(counts) {
                if s.is_empty() {
                    continue;
                }
                let mut secs: Vec<f64> = s.iter().map(|x| x.seconds.max(1e-3)).collect();
                let med = median(&mut secs);
                let mut cpu: Vec<f64> = s.iter().map(|x| x.cpu_seconds).collect();
                let median_cpu_seconds = median(&mut cpu);
                rows.push(ToolResult {
                    input: input.name(),
                    tool: t.name,
                    packets,
                    bytes,
                    min_seconds: secs.first().copied().unwrap_or(0.0),
                    max_seconds: secs.last().copied().unwrap_or(0.0),
                    median_seconds: med,
                    median_cpu_seconds,
                    mpps: packets as f64 / med / 1e6,
                    mbit_s: bytes as f64 * 8.0 / med / 1e6,
                    peak_rss_kib: s.iter().map(|x| x.peak_rss_kib).max().unwrap_or(0),
                    samples: s,
                    ratio_to_tapflow: 0.0,
                    ratio_base: "",
                    time_vs_floor: None,
                    instructions,
                    instructions_vs_floor: None,
                });
            }
            relate(&mut rows);
            results.extend(rows);
        }
        Ok(results)
    }
}

impl Harness {
    /// `t`'s run directory, empty, and its records' directory of the run before removed (no
    /// run pays for replacing another's files).
    fn fresh_run_dir(&self, t: &Tool) -> std::io::Result<PathBuf> {
        let dir = self.work.join(format!("run_{}", t.name));
        let _ = std::fs::remove_dir_all(&dir);
        if let Some(out) = t.out_dir {
            let _ = std::fs::remove_dir_all(self.work.join(out));
        }
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Each of `present`'s instructions on `pcap` when `--instructions` asked for them (None
    /// for a tool not counted, or whose count failed: logged).
    fn count_instructions(
        &self,
        present: &[&Tool],
        pcap: &Path,
        log: &mut impl FnMut(&str),
    ) -> Vec<Option<u64>> {
        if !self.instructions {
            return vec![None; present.len()];
        }
        if !crate::instructions::available() {
            log("instruction counts skipped: valgrind is not installed");
            return vec![None; present.len()];
        }
        present
            .iter()
            .map(|t| {
                if !t.counted() {
                    return None;
                }
                let dir = self.fresh_run_dir(t).ok()?;
                let args = (t.args)(self, pcap, &self.work);
                // tapflow's tables on ordinary pages: callgrind runs the program on one thread
                // of its own, and the count must not depend on what the kernel gave.
                let env: &[(&str, &str)] = if t.name.starts_with("tapflow") {
                    &[("TAPFLOW_HUGE_PAGES", "0")]
                } else {
                    &[]
                };
                log(&format!("counting the instructions of {}", t.name));
                crate::instructions::count(&args, &dir, env)
                    .map_err(|e| log(&format!("{}: {e}", t.name)))
                    .ok()
            })
            .collect()
    }
}

/// Fills in each row's ratios against the input's tapflow row and the floor (tcpdump).
fn relate(rows: &mut [ToolResult]) {
    let base = rows
        .iter()
        .find(|r| r.tool == "tapflow")
        .or_else(|| rows.iter().find(|r| r.tool.starts_with("tapflow")))
        .map(|r| (r.tool, r.mpps));
    let floor = rows
        .iter()
        .find(|r| r.tool == "tcpdump")
        .map(|r| r.median_seconds);
    let floor_instructions = rows
        .iter()
        .find(|r| r.tool == "tcpdump")
        .and_then(|r| r.instructions)
        .filter(|&n| n > 0);
    for r in rows.iter_mut() {
        if let Some((tool, mpps)) = base.filter(|&(_, mpps)| mpps > 0.0) {
            r.ratio_base = tool;
            r.ratio_to_tapflow = r.mpps / mpps;
        }
        r.time_vs_floor = floor.filter(|&f| f > 0.0).map(|f| r.median_seconds / f);
        r.instructions_vs_floor = floor_instructions
            .zip(r.instructions)
            .map(|(f, n)| n as f64 / f as f64);
    }
}

/// The results as a text table.
pub fn table(results: &[ToolResult]) -> String {
    let mut s = String::new();
    let mut last = "";
    let counted = results.iter().any(|r| r.instructions.is_some());
    for r in results {
        if r.input != last {
            let base = if r.ratio_base.is_empty() {
                "vs tapflow".to_string()
            } else {
                format!("vs {}", r.ratio_base)
            };
            s.push_str(&format!(
                "\n{} ({} packets)\n{:<16} {:>9} {:>17} {:>7} {:>8} {:>9} {:>9} {:>16} {:>12}\n",
                r.input,
                r.packets,
                "tool",
                "median s",
                "spread (min-max)",
                "CPU s",
                "Mpps",
                "Mbit/s",
                "RSS MiB",
                base,
                "time/floor"
            ));
            if counted {
                s.pop();
                s.push_str(&format!(" {:>15} {:>11}\n", "instructions", "instr/floor"));
            }
            last = r.input;
        }
        let ratio = if r.ratio_base.is_empty() {
            "-".to_string()
        } else {
            format!("{:.2}x", r.ratio_to_tapflow)
        };
        let floor = r
            .time_vs_floor
            .map_or("-".to_string(), |f| format!("{f:.2}x"));
        s.push_str(&format!(
            "{:<16} {:>9.3} {:>8.3}-{:<8.3} {:>7.2} {:>8.3} {:>9.0} {:>9.1} {:>16} {:>12}\n",
            r.tool,
            r.median_seconds,
            r.min_seconds,
            r.max_seconds,
            r.median_cpu_seconds,
            r.mpps,
            r.mbit_s,
            r.peak_rss_kib as f64 / 1024.0,
            ratio,
            floor
        ));
        if counted {
            s.pop();
            let n = r.instructions.map_or("-".to_string(), |n| n.to_string());
            let f = r
                .instructions_vs_floor
                .map_or("-".to_string(), |f| format!("{f:.2}x"));
            s.push_str(&format!(" {n:>15} {f:>11}\n"));
        }
    }
    s
}

/// Memory per active flow, from the SYN flood (1 M concurrent flows).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MemoryPerFlow {
    pub flows: u64,
    pub peak_rss_kib: u64,
    /// Same process and config on a tiny input (table reserved, barely touched).
    pub baseline_rss_kib: u64,
    pub bytes_per_flow: f64,
}

impl Harness {
    /// Runs tapflow on the SYN flood input and on a tiny one; bytes per active flow.
    pub fn memory_per_flow(&self) -> std::io::Result<MemoryPerFlow> {
        std::fs::create_dir_all(&self.work)?;
        std::fs::write(self.work.join("tapflow.yaml"), TAPFLOW_BENCH_YAML)?;
        let tapflow = &tools()[0];
        let one = |input: Input, smoke: bool| -> std::io::Result<(Sample, u64)> {
            let name = format!("{}{}", input.name(), if smoke { "_smoke" } else { "" });
            let pcap = self.work.join(format!("{name}.pcap"));
            if !pcap.exists() {
                generate_files(&input.spec(smoke), &self.work, &name)?;
            }
            let dir = self.work.join("run_memory");
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_dir_all(self.work.join(TAPFLOW_OUT));
            std::fs::create_dir_all(&dir)?;
            // Peak RSS leaves out pages of the reserved huge page pool: those runs are
            // measured with the default choice instead.
            let env: &[(&str, &str)] = if reserved_pages_on() {
                &[("TAPFLOW_HUGE_PAGES", "auto")]
            } else {
                &[]
            };
            let s = run_once(self, 1, &(tapflow.args)(self, &pcap, &self.work), &dir, env)?;
            let stats: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
                self.work.join(TAPFLOW_OUT).join("stats.json"),
            )?)?;
            Ok((s, stats["active_flows_peak"].as_u64().unwrap_or(0)))
        };
        let (base, _) = one(Input::SynFlood, true)?;
        let (full, flows) = one(Input::SynFlood, self.smoke)?;
        let delta = full.peak_rss_kib.saturating_sub(base.peak_rss_kib) as f64 * 1024.0;
        Ok(MemoryPerFlow {
            flows,
            peak_rss_kib: full.peak_rss_kib,
            baseline_rss_kib: base.peak_rss_kib,
            bytes_per_flow: if flows > 0 { delta / flows as f64 } else { 0.0 },
        })
    }
}

#[cfg(test)]
#[path = "harness_tests.rs"]
mod tests;
