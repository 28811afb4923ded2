//! `tapflow`: command-line wiring. Each subcommand lives in its own module.

mod agent;
mod analyze;
mod bench;
mod capture_filter;
mod clickhouse_out;
mod config_check;
mod ctl;
mod gen;
mod ingest_out;
mod integration_out;
mod replay;
mod run;
mod server;
mod trace;
mod trace_procs;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tapflow_control::error_text;
use tapflow_dataplane::huge_page_policy;
use tapflow_dataplane::sys::huge_pages::HugePageAlloc;

/// The system allocator, advising transparent huge pages for the large tables where they pay
/// (`TAPFLOW_HUGE_PAGES`: `auto`, the default, `1`, `0` or `reserved`; see
/// [`huge_page_policy`]).
#[global_allocator]
static ALLOC: HugePageAlloc = HugePageAlloc::new();

/// What `main` chose for huge pages and why (a line `tapflow run` and `tapflow bench` print).
static HUGE_PAGES: std::sync::OnceLock<huge_page_policy::HugePages> = std::sync::OnceLock::new();

/// "huge pages on|off|from the reserved pool (why)".
pub(crate) fn huge_pages_note() -> String {
    match HUGE_PAGES.get() {
        Some(h) if h.reserved => format!("huge pages from the reserved pool ({})", h.why),
        Some(h) => format!(
            "huge pages {} ({})",
            if h.enabled { "on" } else { "off" },
            h.why
        ),
        None => "huge pages: not decided".into(),
    }
}

/// tapflow: mirror-traffic analyzer. Turns packets into flow logs with TCP performance metrics
/// (RTT, SRT, ART, retransmissions, zero window, close types), DeepFlow-compatible field names.
#[derive(Debug, Parser)]
#[command(name = "tapflow", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyze capture files (pcap or pcapng, gzip accepted) and write flow logs.
    ///
    /// Files are read in the order given, as one continuous capture. Output in --out:
    /// l4_flow_log.jsonl and l7_flow_log.jsonl (rotated by size), the flow_metrics tables'
    /// flow_metrics.*.jsonl (1m, and 1s with second_metrics) and stats.json. Time comes only
    /// from packet timestamps: the same input gives byte-identical output.
    Analyze(analyze::AnalyzeArgs),
    /// Capture live traffic (AF_XDP with tapflow's XDP program, or AF_PACKET) and write flow
    /// logs until stopped.
    ///
    /// Workers are pinned to --cores and spread an interface with a symmetric flow hash; a
    /// summary line per second shows pps, Mbit/s, active flows and kernel drops. SIGINT/SIGTERM
    /// stop cleanly: every flow is closed and written.
    Run(Box<run::RunArgs>),
    /// Send capture files out of an interface.
    Replay(replay::ReplayArgs),
    /// Generate a synthetic capture and the flow records tapflow must report for it.
    Gen(gen::GenArgs),
    /// Benchmark tapflow against installed peers (ndpiReader, tshark, nfstream, Suricata,
    /// tcpdump) on the standard generated inputs, one core each, in alternation.
    Bench(bench::BenchArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Control-plane server: agents sync their configuration over DeepFlow's Synchronizer gRPC;
    /// `tapflow ctl` manages groups and configurations. State in SQLite.
    Server(server::ServerArgs),
    /// Manage a tapflow server: agents, agent groups, group configurations.
    Ctl(ctl::CtlArgs),
    /// Run an agent's control loop without capture (registration, configuration sync).
    Agent(agent::AgentArgs),
    /// Request logs from this host's processes' own socket calls and OpenSSL plaintext (eBPF
    /// syscall tracer), with process names and syscall trace ids.
    ///
    /// Needs Linux >= 5.8 with BTF, tracefs, and CAP_BPF + CAP_PERFMON (or root); `--check`
    /// prints what is there and what is missing. Exit code 2 when the tracer cannot run.
    Trace(trace::TraceArgs),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a config file and print a summary: warnings, capture, flows, request logs,
    /// outputs and memory shares.
    Check {
        /// YAML config file.
        file: PathBuf,
        /// `text` (default) or `json`.
        #[arg(short = 'o', long = "output", default_value = "text")]
        output: String,
    },
}

fn main() -> ExitCode {
    let setting = std::env::var("TAPFLOW_HUGE_PAGES").ok();
    match huge_page_policy::decide_here(setting.as_deref()) {
        Ok(mut h) => {
            ALLOC.set_enabled(h.enabled);
            ALLOC.set_reserved(h.reserved);
            if h.reserved {
                let free = tapflow_dataplane::sys::reserved_pages::available_pages();
                h.why
                    .push_str(&format!("; the pool has {free} free 2 MiB pages now"));
            }
            let _ = HUGE_PAGES.set(h);
        }
        Err(e) => {
            eprintln!("tapflow: {e}");
            return ExitCode::FAILURE;
        }
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Trace(t) => return trace::main(t),
        Command::Analyze(a) => analyze::run(a),
        Command::Gen(g) => gen::run(g),
        Command::Bench(b) => bench::run(b),
        Command::Run(r) => run::run(*r),
        Command::Replay(r) => replay::run(r),
        Command::Config(ConfigCommand::Check { file, output }) => match output.as_str() {
            "text" | "json" => config_check::run(&file, output == "json"),
            other => Err(anyhow::anyhow!("-o {other}: expected text or json")),
        },
        Command::Server(s) => server::run(s),
        Command::Ctl(c) => ctl::run(c),
        Command::Agent(a) => agent::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tapflow: {}", error_text::joined(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}
