//! `tapflow trace`: request logs from the host's processes' own socket calls (and OpenSSL's
//! plaintext), with the eBPF syscall tracer.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use tapflow_analyzer::syscall::{SyscallConfig, SyscallTracker};
use tapflow_analyzer::RecordKind;
use tapflow_control::sink::{FanOut, OutputTarget};
use tapflow_control::Config;
use tapflow_dataplane::sys::{clock, signal};
use tapflow_dataplane::trace::{checks, event, procfs, EventHandler, TraceOptions, Tracer};
use tapflow_xdp_prog::trace::counter;

#[derive(Debug, Args)]
pub(crate) struct TraceArgs {
    /// Output directory (l7_flow_log.jsonl, metrics, stats.json), or - for rows on standard
    /// output.
    #[arg(long, short, default_value = "tapflow-trace-out")]
    out: String,
    /// Stop after this many seconds (default: until SIGINT / SIGTERM).
    #[arg(long)]
    duration: Option<f64>,
    /// Trace only these processes (repeatable; at most 1024).
    #[arg(long = "pid", value_name = "PID")]
    pids: Vec<u32>,
    /// Trace only processes whose name (comm) matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    comm: Option<String>,
    /// YAML config file (request-log settings: protocols, ports, timeouts, payload_truncation).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Print the startup checks and exit (0 when the tracer can run, 2 when not).
    #[arg(long)]
    check: bool,
    /// Payload bytes captured per call (default: processors.request_log.tunning.payload_truncation).
    #[arg(long, value_name = "BYTES")]
    payload_cap: Option<u32>,
    /// Ring buffer between the kernel and tapflow, MiB.
    #[arg(long, default_value_t = 8)]
    ring_mib: u32,
    /// An OpenSSL libssl to put uprobes on, besides the system's and those processes have
    /// mapped (repeatable).
    #[arg(long, value_name = "PATH")]
    libssl: Vec<PathBuf>,
    /// No OpenSSL uprobes (no TLS plaintext).
    #[arg(long)]
    no_openssl: bool,
    /// Most sockets followed at once (DeepFlow's inputs.ebpf.tunning.max_socket_entries).
    #[arg(long, default_value_t = 131_072)]
    max_sockets: u32,
    /// No summary on standard error.
    #[arg(long, short)]
    quiet: bool,
}

/// Exit code when the tracer cannot run here (missing privilege, kernel feature or mount).
const EXIT_CANNOT_TRACE: u8 = 2;

pub(crate) fn main(args: TraceArgs) -> ExitCode {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tapflow: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: TraceArgs) -> anyhow::Result<ExitCode> {
    let proc_root = Path::new("/proc");
    let libssl = if args.no_openssl {
        Vec::new()
    } else {
        procfs::libssl_paths(proc_root, &args.libssl, &args.pids)
    };
    let table = checks::run(&libssl);
    if args.check {
        print!("{}", checks::render(&table));
        return Ok(if checks::first_failure(&table).is_some() {
            ExitCode::from(EXIT_CANNOT_TRACE)
        } else {
            ExitCode::SUCCESS
        });
    }
    if let Some(f) = checks::first_failure(&table) {
        eprint!("{}", checks::render(&table));
        eprintln!(
            "tapflow: cannot trace: {}: {} ({})",
            f.name, f.detail, f.fix
        );
        return Ok(ExitCode::from(EXIT_CANNOT_TRACE));
    }
    let cfg = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let comm = args
        .comm
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .context("--comm")?;
    let opts = TraceOptions {
        payload_cap: args
            .payload_cap
            .unwrap_or(u32::from(cfg.analyzer.l7.payload_truncation)),
        ring_bytes: args.ring_mib.saturating_mul(1 << 20),
        pids: args.pids.clone(),
        libssl,
    };
    let tracer = match Tracer::start(&opts) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tapflow: cannot trace: {e}");
            return Ok(ExitCode::from(EXIT_CANNOT_TRACE));
        }
    };
    for (lib, why) in &tracer.libssl_failed {
        eprintln!("tapflow: no TLS plaintext from {}: {why}", lib.display());
    }
    signal::install_stop_handler().context("signal handlers")?;
    let to_stdout = args.out == "-";
    let target = if to_stdout {
        OutputTarget::Stdout
    } else {
        OutputTarget::Dir(args.out.clone().into())
    };
    let sink = FanOut::from_config(&cfg, &target)
        .with_context(|| format!("cannot write to {}", args.out))?;
    let (mono, real) = clock::monotonic_and_realtime_ns();
    let mut h = Handler {
        tracker: SyscallTracker::new(
            SyscallConfig {
                max_sockets: args.max_sockets,
                ..SyscallConfig::default()
            },
            cfg.analyzer.l7.clone(),
        ),
        sink,
        comm,
        mono_to_real: real.wrapping_sub(mono),
        proc_root,
        user: UserCounters::default(),
        started: Instant::now(),
        deadline: args.duration.map(Duration::from_secs_f64),
        ready_file: (!to_stdout).then(|| Path::new(&args.out).join("trace.ready")),
    };
    if let Some(f) = &h.ready_file {
        // Tests and scripts wait for this: every probe is attached.
        std::fs::write(f, format!("{}\n", tracer.links()))?;
    }
    if !args.quiet {
        eprintln!(
            "tapflow trace: {} probes attached ({} libssl), payload cap {} B; stop with Ctrl-C",
            tracer.links(),
            tracer.libssl_attached.len(),
            opts.payload_cap
        );
    }
    tracer
        .run(Duration::from_millis(100), &mut h)
        .context("tracer")?;
    let now = h.now();
    h.tracker.finish(&mut h.sink);
    tapflow_analyzer::RecordSink::tick(&mut h.sink, now);
    h.sink
        .finish()
        .map_err(|e| anyhow::anyhow!("writing records failed: {e}"))?;
    let bpf = tracer.counters();
    if let Some(f) = &h.ready_file {
        let _ = std::fs::remove_file(f);
    }
    if !to_stdout {
        write_stats(&args.out, &h, &bpf, &tracer)?;
    }
    if !args.quiet {
        let rows = crate::analyze::files_written(&h.sink, RecordKind::L7FlowLog);
        let c = h.tracker.counters();
        eprintln!(
            "events {}  (data {}, tls {}), sockets {}, l7 rows {}, ring full {}, decode errors {}",
            c.events,
            c.data_events,
            c.tls_events,
            c.sockets_opened,
            rows,
            bpf[counter::RING_FULL as usize],
            h.user.decode_errors
        );
        if !to_stdout {
            eprintln!(
                "output       {0}/l7_flow_log.jsonl, {0}/stats.json",
                args.out
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Counters of the user-space side before the tracker.
#[derive(Debug, Default)]
struct UserCounters {
    decode_errors: u64,
    filtered_comm: u64,
    resolved_by_proc: u64,
    unresolved: u64,
}

struct Handler<'a> {
    tracker: SyscallTracker,
    sink: FanOut,
    comm: Option<regex::Regex>,
    mono_to_real: u64,
    proc_root: &'a Path,
    user: UserCounters,
    started: Instant,
    deadline: Option<Duration>,
    ready_file: Option<PathBuf>,
}

impl Handler<'_> {
    fn now(&self) -> u64 {
        let (mono, _) = clock::monotonic_and_realtime_ns();
        mono.wrapping_add(self.mono_to_real)
    }
}

impl EventHandler for Handler<'_> {
    fn on_event(&mut self, raw: &[u8]) {
        let Ok(e) = event::decode(raw) else {
            self.user.decode_errors += 1;
            return;
        };
        if let Some(re) = &self.comm {
            let len = e.comm.iter().position(|&c| c == 0).unwrap_or(16);
            if !re.is_match(&String::from_utf8_lossy(&e.comm[..len])) {
                self.user.filtered_comm += 1;
                return;
            }
        }
        let ends = match event::tuple(&e) {
            Some(t) => t,
            None => match procfs::tcp_tuple(self.proc_root, e.tgid, e.fd) {
                Some(t) => {
                    self.user.resolved_by_proc += 1;
                    t
                }
                None => {
                    self.user.unresolved += 1;
                    return;
                }
            },
        };
        let ev = e.socket_event(self.mono_to_real, ends);
        self.tracker.on_event(&ev, &mut self.sink);
    }

    fn on_idle(&mut self) -> bool {
        let now = self.now();
        self.tracker.tick(now, &mut self.sink);
        tapflow_analyzer::RecordSink::tick(&mut self.sink, now);
        let expired = self.deadline.is_some_and(|d| self.started.elapsed() >= d);
        !(expired || signal::stop_requested())
    }
}

fn write_stats(
    out: &str,
    h: &Handler<'_>,
    bpf: &[u64; counter::MAX as usize],
    tracer: &Tracer,
) -> anyhow::Result<()> {
    let mut m = serde_json::Map::new();
    for (k, v) in h.tracker.counters().entries() {
        m.insert(k.into(), v.into());
    }
    for (k, v) in h.tracker.l7_counters().entries() {
        m.insert(format!("l7.{k}"), v.into());
    }
    for (name, v) in counter::NAMES.iter().zip(bpf) {
        m.insert(format!("trace.bpf.{name}"), (*v).into());
    }
    let u = &h.user;
    m.insert("trace.decode_errors".into(), u.decode_errors.into());
    m.insert("trace.filtered_comm".into(), u.filtered_comm.into());
    m.insert("trace.resolved_by_proc".into(), u.resolved_by_proc.into());
    m.insert("trace.unresolved".into(), u.unresolved.into());
    m.insert(
        "trace.libssl".into(),
        tracer
            .libssl_attached
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .into(),
    );
    m.insert(
        "elapsed_seconds".into(),
        serde_json::Value::from((h.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0),
    );
    let path = Path::new(out).join("stats.json");
    let mut f =
        std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
    serde_json::to_writer_pretty(&mut f, &serde_json::Value::Object(m))?;
    f.write_all(b"\n")?;
    Ok(())
}
