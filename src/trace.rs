//! `tapflow trace`: request logs from the host's processes' own socket calls (and OpenSSL's
//! plaintext), with the eBPF syscall tracer.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use tapflow_analyzer::syscall::SyscallConfig;
use tapflow_analyzer::RecordSink;
use tapflow_control::Config;
use tapflow_dataplane::sys::signal;
use tapflow_dataplane::trace::session::{run_session, TraceReport, TraceSettings};
use tapflow_dataplane::trace::{checks, procfs, TraceError, TraceOptions};

/// The tracer's options shared by `tapflow trace` and `tapflow run --ebpf`.
#[derive(Debug, Args)]
pub(crate) struct TracerArgs {
    /// Trace only these processes (repeatable; at most 1024).
    #[arg(long = "pid", value_name = "PID")]
    pub(crate) pids: Vec<u32>,
    /// Trace only processes whose name (comm) matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub(crate) comm: Option<String>,
    /// Payload bytes captured per call (default: processors.request_log.tunning.payload_truncation).
    #[arg(long, value_name = "BYTES")]
    pub(crate) payload_cap: Option<u32>,
    /// Ring buffer between the kernel and tapflow, MiB.
    #[arg(long, default_value_t = 8)]
    pub(crate) ring_mib: u32,
    /// An OpenSSL or BoringSSL libssl, or an executable with one linked in statically, to put
    /// uprobes on, besides the system's and the libssl.so* processes have mapped (repeatable).
    #[arg(long, value_name = "PATH")]
    pub(crate) libssl: Vec<PathBuf>,
    /// No OpenSSL uprobes (no TLS plaintext).
    #[arg(long)]
    pub(crate) no_openssl: bool,
    /// Probe Go programs' crypto/tls: the executables of the Go processes running now (and
    /// every process started from them later). Default: inputs.ebpf.socket.uprobe.golang.enabled.
    #[arg(long)]
    pub(crate) go_tls: bool,
    /// A Go executable whose crypto/tls to probe, running or not (repeatable).
    #[arg(long, value_name = "PATH")]
    pub(crate) go_exe: Vec<PathBuf>,
    /// Most sockets followed at once (default: inputs.ebpf.tunning.max_socket_entries, 131072).
    #[arg(long)]
    pub(crate) max_sockets: Option<u32>,
    /// Trace unix stream and seqpacket sockets too (default:
    /// inputs.ebpf.socket.kprobe.enable_unix_socket, false): their rows have no addresses and
    /// made-up ports.
    #[arg(long)]
    pub(crate) unix_sockets: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TraceArgs {
    /// Output directory (l7_flow_log.jsonl, metrics, stats.json), or - for rows on standard
    /// output.
    #[arg(long, short, default_value = "tapflow-trace-out")]
    out: String,
    /// Stop after this many seconds (default: until SIGINT / SIGTERM).
    #[arg(long)]
    duration: Option<f64>,
    /// YAML config file (request-log settings: protocols, ports, timeouts, payload_truncation).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Print the startup checks and exit (0 when the tracer can run, 2 when not).
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    tracer: TracerArgs,
    #[command(flatten)]
    ingester: crate::ingest_out::IngesterArgs,
    #[command(flatten)]
    clickhouse: crate::clickhouse_out::ClickHouseArgs,
    /// No summary on standard error.
    #[arg(long, short)]
    quiet: bool,
}

/// Exit code when the tracer cannot run here (missing privilege, kernel feature or mount).
pub(crate) const EXIT_CANNOT_TRACE: u8 = 2;

pub(crate) fn main(args: TraceArgs) -> ExitCode {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "tapflow: {}",
                tapflow_control::error_text::joined(e.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}

/// The startup checks for `a`; Err(table) when the tracer cannot run.
pub(crate) fn preflight(a: &TracerArgs, cfg: &Config) -> (Vec<PathBuf>, Result<String, String>) {
    let libssl = if a.no_openssl || cfg.ebpf.tls_uprobes == Some(false) {
        Vec::new()
    } else {
        let mut named = a.libssl.clone();
        named.extend(cfg.ebpf.libssl_paths.iter().map(PathBuf::from));
        procfs::libssl_paths(&cfg.process.proc_root, &named, &a.pids)
    };
    let table = checks::run(&libssl);
    let text = checks::render(&table);
    let verdict = match checks::first_failure(&table) {
        Some(f) => Err(format!(
            "{text}cannot trace: {}: {} ({})",
            f.name, f.detail, f.fix
        )),
        None => Ok(text),
    };
    (libssl, verdict)
}

/// The session settings from the command line and config.
pub(crate) fn settings(
    a: &TracerArgs,
    cfg: &Config,
    libssl: Vec<PathBuf>,
) -> anyhow::Result<TraceSettings> {
    let comm = a
        .comm
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .context("--comm")?;
    let opts = TraceOptions {
        payload_cap: a
            .payload_cap
            .unwrap_or(u32::from(cfg.analyzer.l7.payload_truncation)),
        ring_bytes: a.ring_mib.saturating_mul(1 << 20),
        pids: a.pids.clone(),
        libssl,
        go_exes: procfs::go_executables(
            &cfg.process.proc_root,
            &a.go_exe,
            a.go_tls || cfg.ebpf.go_tls,
            &a.pids,
        ),
        data_syscalls: cfg.ebpf.hooked_syscalls.clone(),
        unix_sockets: a.unix_sockets || cfg.ebpf.unix_sockets,
    };
    let mut s = TraceSettings::new(opts, cfg.analyzer.l7.clone());
    s.comm = comm;
    s.proc_root = cfg.process.proc_root.clone();
    s.sockets = SyscallConfig {
        max_sockets: a.max_sockets.unwrap_or(cfg.ebpf.max_socket_entries),
        trace_ids: !cfg.ebpf.syscall_trace_id_disabled,
        ports: cfg.ebpf.ports.clone(),
        max_rate: cfg.ebpf.max_capture_rate,
        ..SyscallConfig::default()
    };
    Ok(s)
}

fn run(args: TraceArgs) -> anyhow::Result<ExitCode> {
    let cfg = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if cfg.ebpf.disabled {
        anyhow::bail!(
            "the syscall tracer is turned off in the config (inputs.ebpf.disabled: true)"
        );
    }
    let (libssl, verdict) = preflight(&args.tracer, &cfg);
    if args.check {
        return Ok(match verdict {
            Ok(table) => {
                print!("{table}");
                ExitCode::SUCCESS
            }
            Err(table) => {
                println!("{table}");
                ExitCode::from(EXIT_CANNOT_TRACE)
            }
        });
    }
    if let Err(table) = verdict {
        eprintln!("tapflow: {table}");
        return Ok(ExitCode::from(EXIT_CANNOT_TRACE));
    }
    let mut settings = settings(&args.tracer, &cfg, libssl)?;
    signal::install_stop_handler().context("signal handlers")?;
    let to_stdout = args.out == "-";
    let crate::analyze::Outputs {
        mut sink,
        ingester,
        clickhouse,
    } = crate::analyze::open_outputs(
        &cfg,
        &args.out,
        &args.ingester,
        &args.clickhouse,
        args.quiet,
    )?;
    settings.ready_file = (!to_stdout).then(|| Path::new(&args.out).join("trace.ready"));
    let inventory = if to_stdout || !cfg.process.enabled {
        None
    } else {
        let (observer, inv) =
            crate::trace_procs::Inventory::create(&cfg.process, Path::new(&args.out))
                .context("processes.jsonl")?
                .shared();
        settings.processes = Some(observer);
        Some(inv)
    };
    let started = Instant::now();
    let deadline = args.duration.map(Duration::from_secs_f64);
    let quiet = args.quiet;
    let report = run_session(
        &settings,
        &mut sink,
        |t| {
            not_probed(t);
            if !quiet {
                eprintln!(
                    "tapflow trace: {} probes attached ({} libssl, {} Go), payload cap {} B; stop with Ctrl-C",
                    t.links(),
                    t.libssl_attached.len(),
                    t.go_attached.len(),
                    settings.opts.payload_cap
                );
            }
        },
        || deadline.is_some_and(|d| started.elapsed() >= d) || signal::stop_requested(),
    );
    let report = match report {
        Ok(r) => r,
        Err(e @ (TraceError::Load(_) | TraceError::Attach { .. } | TraceError::NotBuilt)) => {
            eprintln!("tapflow: cannot trace: {e}");
            return Ok(ExitCode::from(EXIT_CANNOT_TRACE));
        }
        Err(e) => return Err(e.into()),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    sink.tick(now);
    sink.finish()
        .map_err(|e| anyhow::anyhow!("writing records failed: {e}"))?;
    let mut senders = serde_json::Map::new();
    if let Some(inv) = &inventory {
        crate::trace_procs::report(inv, &mut senders);
    }
    crate::ingest_out::report(ingester.as_ref(), &mut senders, quiet);
    crate::clickhouse_out::report(clickhouse.as_ref(), &mut senders, quiet);
    if !to_stdout {
        write_stats(&args.out, &report, started.elapsed(), senders)?;
    }
    if !quiet {
        eprintln!(
            "events {}  (data {}, tls {}), sockets {}, l7 rows {}, ring full {}, decode errors {}",
            report.get("trace.events"),
            report.get("trace.data_events"),
            report.get("trace.tls_events"),
            report.get("trace.sockets_opened"),
            report.rows,
            report.get("trace.bpf.ring_full"),
            report.get("trace.decode_errors"),
        );
        if !to_stdout {
            eprintln!(
                "output       {0}/l7_flow_log.jsonl, {0}/processes.jsonl, {0}/stats.json",
                args.out
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Names on standard error the files whose TLS the tracer cannot see, and why.
pub(crate) fn not_probed(t: &tapflow_dataplane::trace::Tracer) {
    for (lib, why) in &t.libssl_failed {
        eprintln!("tapflow: no TLS plaintext from {}: {why}", lib.display());
    }
    for (exe, why) in &t.go_failed {
        eprintln!("tapflow: no Go TLS plaintext from {}: {why}", exe.display());
    }
}

/// The session's counters as stats.json entries.
pub(crate) fn report_entries(r: &TraceReport, m: &mut serde_json::Map<String, serde_json::Value>) {
    for (k, v) in &r.counters {
        m.insert(k.clone(), (*v).into());
    }
    m.insert("trace.probes".into(), r.probes.into());
    let named = |v: &[(PathBuf, String)]| -> Vec<String> {
        v.iter()
            .map(|(p, what)| format!("{} ({what})", p.display()))
            .collect()
    };
    let failed = |v: &[(PathBuf, String)]| -> Vec<String> {
        v.iter()
            .map(|(p, why)| format!("{}: {why}", p.display()))
            .collect()
    };
    m.insert("trace.libssl".into(), named(&r.libssl).into());
    m.insert(
        "trace.libssl_not_probed".into(),
        failed(&r.libssl_failed).into(),
    );
    m.insert("trace.go_executables".into(), named(&r.go).into());
    m.insert(
        "trace.go_executables_not_probed".into(),
        failed(&r.go_failed).into(),
    );
}

fn write_stats(
    out: &str,
    r: &TraceReport,
    elapsed: Duration,
    senders: serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let mut m = serde_json::Map::new();
    report_entries(r, &mut m);
    m.extend(senders);
    m.insert(
        "elapsed_seconds".into(),
        serde_json::Value::from((elapsed.as_secs_f64() * 1000.0).round() / 1000.0),
    );
    let path = Path::new(out).join("stats.json");
    let mut f =
        std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
    serde_json::to_writer_pretty(&mut f, &serde_json::Value::Object(m))?;
    f.write_all(b"\n")?;
    Ok(())
}
