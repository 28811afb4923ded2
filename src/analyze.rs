//! `tapflow analyze`: capture files through the same analyzer a live worker runs.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use tapflow_analyzer::aggregate::MetricsCounters;
use tapflow_analyzer::RecordKind;
use tapflow_analyzer::{Analyzer, Counters};
use tapflow_control::sink::{FanOut, OutputTarget, ThrottleCounters};
use tapflow_control::Config;
use tapflow_dataplane::pcap::PcapReader;
use tapflow_dataplane::{split, OfflineRun, RunStats};

#[derive(Debug, Args)]
pub(crate) struct AnalyzeArgs {
    /// Capture files (pcap / pcapng, optionally .gz).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// YAML config file (DeepFlow v7 key names; see docs/configuration.md).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Output directory, or - for every record as JSON lines on standard output.
    #[arg(long, short, default_value = "tapflow-out")]
    out: String,
    /// No progress and no summary on standard error.
    #[arg(long, short)]
    quiet: bool,
    /// Export every flow to this IPFIX collector (UDP host:port; default: outputs.ipfix.collector).
    #[arg(long, value_name = "HOST:PORT")]
    ipfix: Option<String>,
    /// Capture filter, tcpdump's syntax (`man pcap-filter`): frames it does not select are
    /// dropped and counted (default: inputs.cbpf.af_packet.extra_bpf_filter; "" turns it off).
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Analyzer threads: each reads the input and keeps the flows steered to it, by the server
    /// end of each flow (same records as one; the flow table limits are split over them).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: u16,
    #[command(flatten)]
    ingester: crate::ingest_out::IngesterArgs,
    #[command(flatten)]
    clickhouse: crate::clickhouse_out::ClickHouseArgs,
}

pub(crate) fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    let mut cfg = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(c) = &args.ipfix {
        cfg.ipfix.collector = Some(c.clone());
    }
    crate::capture_filter::apply(&mut cfg, args.filter.as_deref())?;
    if !args.quiet {
        for w in &cfg.warnings {
            eprintln!("tapflow: config: {w}");
        }
    }
    let to_stdout = args.out == "-";
    let Outputs {
        mut sink,
        ingester,
        clickhouse,
    } = open_outputs(
        &cfg,
        &args.out,
        &args.ingester,
        &args.clickhouse,
        args.quiet,
    )?;
    let started = Instant::now();
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let (counters, stats, truncated) = if args.workers > 1 {
        analyze_split(&args, &cfg, &mut sink, show_progress)?
    } else {
        analyze_one(&args, &cfg, &mut sink, show_progress)?
    };
    if let Err(e) = sink.finish() {
        anyhow::bail!("writing flow logs failed: {e}");
    }
    let mut sender_stats = serde_json::Map::new();
    let throttled = sink.throttled();
    for (k, v) in sink.log_gate_counters() {
        sender_stats.insert(k.into(), v.into());
    }
    crate::ingest_out::report(ingester.as_ref(), &mut sender_stats, args.quiet);
    crate::clickhouse_out::report(clickhouse.as_ref(), &mut sender_stats, args.quiet);
    let elapsed = started.elapsed().as_secs_f64();
    if !to_stdout {
        write_stats(
            &args.out,
            &counters,
            &stats,
            (truncated, sink.metrics_counters()),
            elapsed,
            sender_stats,
        )?;
    }
    if !args.quiet {
        summary(
            &counters,
            &stats,
            (truncated, throttled),
            elapsed,
            files_written(&sink, RecordKind::L4FlowLog),
            if to_stdout { None } else { Some(&args.out) },
        );
    }
    Ok(())
}

/// The files through one analyzer on this thread.
fn analyze_one(
    args: &AnalyzeArgs,
    cfg: &Config,
    sink: &mut FanOut,
    show_progress: bool,
) -> anyhow::Result<(Counters, RunStats, u64)> {
    let mut analyzer = Analyzer::new(cfg.analyzer.clone());
    let mut run = OfflineRun::new(&mut analyzer);
    let mut truncated = 0;
    for file in &args.files {
        let mut reader =
            PcapReader::open(file, 0).with_context(|| format!("cannot read {}", file.display()))?;
        let total = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        let name = file.display().to_string();
        run.drain(&mut reader, sink, |r, s| {
            if show_progress {
                let pct = (r.bytes_read() * 100)
                    .checked_div(total)
                    .unwrap_or(0)
                    .min(100);
                eprint!("\r{name}: {pct:>3}% {} packets", s.frames);
            }
        })
        .with_context(|| format!("while reading {}", file.display()))?;
        truncated += reader.truncated_records;
        if show_progress {
            eprint!("\r{:width$}\r", "", width = name.len() + 40);
        }
    }
    let stats = run.finish(sink);
    Ok((analyzer.counters().clone(), stats, truncated))
}

/// The files through `--workers` analyzers ([`tapflow_dataplane::split`]).
fn analyze_split(
    args: &AnalyzeArgs,
    cfg: &Config,
    sink: &mut FanOut,
    show_progress: bool,
) -> anyhow::Result<(Counters, RunStats, u64)> {
    use std::sync::atomic::Ordering;
    let sizes: Vec<u64> = args
        .files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .collect();
    let mut shown = Instant::now();
    let out = split::analyze_files(
        &args.files,
        usize::from(args.workers),
        &cfg.analyzer,
        // The workers render the l4 and l7 rows' JSON lines when the files take them.
        sink.takes_rendered_rows()
            .then_some(tapflow_control::sink::render_row_lines as fn(&mut _)),
        sink,
        |at| {
            if !show_progress || shown.elapsed().as_millis() < 100 {
                return;
            }
            shown = Instant::now();
            let i = at.file.load(Ordering::Relaxed).min(args.files.len() - 1);
            let pct = (at.file_bytes.load(Ordering::Relaxed) * 100)
                .checked_div(sizes[i])
                .unwrap_or(0)
                .min(100);
            let frames = at.frames.load(Ordering::Relaxed);
            eprint!("\r{}: {pct:>3}% {frames} packets", args.files[i].display());
        },
    )
    .map_err(|e| {
        anyhow::Error::new(e.error).context(format!("while reading {}", e.path.display()))
    })?;
    if show_progress {
        eprint!("\r{:width$}\r", "", width = 80);
    }
    Ok((out.counters, out.stats, out.truncated))
}

fn write_stats(
    out: &str,
    c: &Counters,
    s: &RunStats,
    (truncated, metrics): (u64, Option<MetricsCounters>),
    elapsed: f64,
    extra: serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let mut m = serde_json::Map::new();
    for (k, v) in c.entries() {
        m.insert(k, v.into());
    }
    if let Some(mc) = metrics {
        m.insert("metrics.documents".into(), mc.documents.into());
        m.insert("metrics.key_overflow".into(), mc.key_overflow.into());
        m.insert("metrics.late_rows".into(), mc.late_rows.into());
        m.insert(
            "metrics.flow_load_overflow".into(),
            mc.flow_load_overflow.into(),
        );
    }
    m.insert("frames".into(), s.frames.into());
    m.insert("truncated_records".into(), truncated.into());
    m.extend(extra);
    m.insert(
        "elapsed_seconds".into(),
        serde_json::Value::from((elapsed * 1000.0).round() / 1000.0),
    );
    let path = std::path::Path::new(out).join("stats.json");
    let mut f =
        std::fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
    serde_json::to_writer_pretty(&mut f, &serde_json::Value::Object(m))?;
    f.write_all(b"\n")?;
    Ok(())
}

fn summary(
    c: &Counters,
    s: &RunStats,
    (truncated, throttled): (u64, ThrottleCounters),
    elapsed: f64,
    records: u64,
    out: Option<&String>,
) {
    let secs = elapsed.max(1e-9);
    eprintln!(
        "packets      {:>12}  ({:.3} Mpps, {:.1} Mbit/s over {:.2} s)",
        s.frames,
        s.frames as f64 / secs / 1e6,
        s.bytes as f64 * 8.0 / secs / 1e6,
        elapsed
    );
    eprintln!(
        "flows        {:>12}  ({} flow log rows)",
        c.flows_created, records
    );
    let errors = c.decode_errors_total();
    eprintln!("decode errors{:>12}", errors);
    for (name, v) in c.entries() {
        if name.starts_with("decode.") && v > 0 {
            eprintln!("  {name:<28} {v}");
        }
    }
    for (name, v) in [
        ("non_ip", c.non_ip),
        ("ip_fragments", c.ip_fragments),
        ("ts_backwards", c.ts_backwards),
        ("flow_table_full", c.flow_table_full),
        ("flows_evicted", c.flows_evicted),
        ("flows_port_reused", c.flows_port_reused),
        ("tcp_abnormal_flags", c.tcp_abnormal_flags),
        ("tcp_partial_overlap", c.tcp_partial_overlap),
        ("truncated_records", truncated),
        ("throttled_l4_rows", throttled.l4_rows),
        ("throttled_l7_rows", throttled.l7_rows),
    ] {
        if v > 0 {
            // Numbers end in the same column as those above, names longer than 13 included.
            let width = 25usize.saturating_sub(name.len().max(13)).max(1);
            eprintln!("{name:<13}{v:>width$}");
        }
    }
    if let Some(dir) = out {
        eprintln!(
            "output       {dir}/: l4_flow_log.jsonl, l7_flow_log.jsonl, flow_metrics.*.jsonl, \
             stats.json"
        );
    }
}

/// Where a command that writes records itself sends them: files in a directory (or standard
/// output for `-`), and the ingester sender and ClickHouse when asked.
pub(crate) struct Outputs {
    pub(crate) sink: FanOut,
    pub(crate) ingester: Option<tapflow_control::ingest::SenderHandle>,
    pub(crate) clickhouse: Option<std::sync::Arc<tapflow_control::clickhouse::ClickHouseCounters>>,
}

/// Opens the outputs of `analyze` and `trace`.
pub(crate) fn open_outputs(
    cfg: &Config,
    out: &str,
    ingester: &crate::ingest_out::IngesterArgs,
    clickhouse: &crate::clickhouse_out::ClickHouseArgs,
    quiet: bool,
) -> anyhow::Result<Outputs> {
    let target = if out == "-" {
        OutputTarget::Stdout
    } else {
        OutputTarget::Dir(out.into())
    };
    let mut sink =
        FanOut::from_config(cfg, &target).with_context(|| format!("cannot write to {out}"))?;
    let ingester = crate::ingest_out::attach(ingester, cfg, &mut sink, quiet, false)
        .context("cannot start the ingester sender")?;
    let clickhouse = crate::clickhouse_out::attach(clickhouse, &mut sink, quiet)?;
    Ok(Outputs {
        sink,
        ingester,
        clickhouse,
    })
}

/// Records of `kind` the files (or standard output) got.
pub(crate) fn files_written(sink: &FanOut, kind: RecordKind) -> u64 {
    sink.per_sink()
        .iter()
        .find(|(name, _)| *name == "jsonl")
        .map_or(0, |(_, s)| s.records(kind))
}
