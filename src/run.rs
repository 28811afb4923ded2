//! `tapflow run`: live capture through the same analyzer as `tapflow analyze`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use tapflow_analyzer::RecordKind;
use tapflow_control::clickhouse::ClickHouseCounters;
use tapflow_control::ingest::SenderHandle;
use tapflow_control::sink::{FanOut, OutputTarget, PrometheusCounters, PrometheusSink};
use tapflow_control::Config;
use tapflow_dataplane::capture_rate::CaptureRate;
use tapflow_dataplane::epoch::ConfigEpoch;
use tapflow_dataplane::runtime::{
    self, DpdkSettings, Engine, LiveConfig, LiveSummary, WorkerMode, XdpSettings,
};
use tapflow_dataplane::sys::af_packet::{RingConfig, FANOUT_EBPF, FANOUT_HASH};
use tapflow_dataplane::sys::xsk::{BindMode, XskConfig};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EngineArg {
    #[value(name = "af_packet")]
    AfPacket,
    #[value(name = "af_xdp")]
    AfXdp,
    Auto,
    /// DPDK poll-mode drivers (build with --features dpdk).
    Dpdk,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    /// Run to completion: each worker captures and analyses its own share.
    Rtc,
    /// Capture workers steer frames by inner flow to --analyzers analyzer workers.
    Pipeline,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FanoutArg {
    /// The kernel's symmetric hash of the outer headers (PACKET_FANOUT_HASH).
    Hash,
    /// tapflow's steering program: the innermost flow, through the tunnels the analyzer peels
    /// (PACKET_FANOUT_EBPF).
    Ebpf,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// YAML config file (see docs/configuration.md).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Interface to capture (repeatable); default: interfaces matching
    /// inputs.cbpf.af_packet.interface_regex.
    #[arg(long = "iface", short = 'i')]
    ifaces: Vec<String>,
    /// Capture engine.
    #[arg(long, value_enum, default_value = "auto")]
    engine: EngineArg,
    /// AF_XDP: attach the XDP program in generic (SKB) mode instead of trying native mode first.
    #[arg(long)]
    xdp_generic: bool,
    /// AF_XDP early filter: hand frames of this EtherType (e.g. 0x0806) to the kernel stack
    /// instead of capturing them (repeatable).
    #[arg(long = "xdp-pass-ethertype", value_parser = parse_ethertype)]
    xdp_pass_ethertypes: Vec<u16>,
    /// AF_XDP early filter: drop frames of this EtherType (e.g. 0x88cc LLDP) (repeatable).
    #[arg(long = "xdp-drop-ethertype", value_parser = parse_ethertype)]
    xdp_drop_ethertypes: Vec<u16>,
    /// DPDK: EAL arguments as one string, e.g. "-l 0-1 --no-huge --vdev net_pcap0,rx_pcap=x.pcap"
    /// (default: inputs.cbpf.special_network.dpdk.eal_args).
    #[arg(long, allow_hyphen_values = true)]
    dpdk_eal: Option<String>,
    /// DPDK: port to capture, a PCI address or vdev name (repeatable; default: the config's ports).
    #[arg(long = "dpdk-port")]
    dpdk_ports: Vec<String>,
    /// AF_XDP: force copy mode (default: zero-copy when the driver supports it).
    #[arg(long)]
    xdp_copy: bool,
    /// Workers per interface: AF_PACKET sockets spread by a symmetric flow hash, or AF_XDP rx
    /// queues (0..N). Default 1; with --engine af_packet, the configuration's
    /// inputs.cbpf.af_packet.tunning.packet_fanout_count.
    #[arg(long)]
    queues: Option<u16>,
    /// How the AF_PACKET sockets of an interface share its frames: hash (the kernel's, of the
    /// outer headers: a mirror's ERSPAN or a VXLAN overlay between two hosts all reaches one
    /// socket) or ebpf (tapflow's steering program hashes the innermost flow). Default: the
    /// configuration's inputs.cbpf.af_packet.tunning.packet_fanout_mode, else hash.
    #[arg(long, value_enum)]
    fanout: Option<FanoutArg>,
    /// Cores to pin workers to, e.g. 0,1 (default: no pinning).
    #[arg(long, value_delimiter = ',')]
    cores: Vec<usize>,
    /// Worker mode.
    #[arg(long, value_enum, default_value = "rtc")]
    mode: ModeArg,
    /// Analyzer workers in pipeline mode.
    #[arg(long, default_value_t = 2)]
    analyzers: usize,
    /// Output directory for flow logs and stats.json.
    #[arg(long, short, default_value = "tapflow-out")]
    out: PathBuf,
    /// Stop after this many seconds (default: run until SIGINT / SIGTERM).
    #[arg(long)]
    duration: Option<f64>,
    /// No per-second summary.
    #[arg(long, short)]
    quiet: bool,
    /// Export every flow to this IPFIX collector (UDP host:port; default:
    /// outputs.ipfix.collector).
    #[arg(long, value_name = "HOST:PORT")]
    ipfix: Option<String>,
    /// Capture filter, tcpdump's syntax (`man pcap-filter`): frames it does not select are
    /// dropped and counted (default: inputs.cbpf.af_packet.extra_bpf_filter; "" turns it off); holds across reloads and the
    /// controller's configurations.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Serve Prometheus' /metrics on this address:port (default: outputs.prometheus.listen).
    #[arg(long, value_name = "HOST:PORT")]
    prometheus_listen: Option<String>,
    /// Take the configuration from a tapflow (or DeepFlow) server: each new one restarts the
    /// dataplane in-process (flows flushed, output files kept).
    #[command(flatten)]
    controller: crate::agent::ControllerArgs,
    #[command(flatten)]
    ingester: crate::ingest_out::IngesterArgs,
    #[command(flatten)]
    integration: crate::integration_out::IntegrationArgs,
    #[command(flatten)]
    clickhouse: crate::clickhouse_out::ClickHouseArgs,
    /// Also run the eBPF syscall tracer on this host (as `tapflow trace`): request logs from
    /// the processes' own socket calls and OpenSSL, in the same output.
    #[arg(long)]
    ebpf: bool,
    #[command(flatten)]
    tracer: crate::trace::TracerArgs,
}

/// SIGHUP: the `--config` file read again (None, with the reason on stderr, when there is none
/// or it does not load: the running configuration stays).
fn reload(
    path: Option<&std::path::Path>,
    ipfix: Option<&str>,
    filter: Option<&str>,
) -> Option<Config> {
    let Some(path) = path else {
        eprintln!("tapflow: SIGHUP: no --config file to read again");
        return None;
    };
    let loaded = Config::load(path)
        .map_err(anyhow::Error::from)
        .and_then(|mut c| crate::capture_filter::apply(&mut c, filter).map(|()| c));
    match loaded {
        Ok(mut c) => {
            for w in &c.warnings {
                eprintln!("tapflow: config: {w}");
            }
            if let Some(i) = ipfix {
                c.ipfix.collector = Some(i.to_string());
            }
            Some(c)
        }
        Err(e) => {
            eprintln!(
                "tapflow: SIGHUP: {} refused ({e:#}); the running configuration stays",
                path.display()
            );
            None
        }
    }
}

/// Writes `v` to `path` through a temporary file and a rename, so readers never see half a file.
pub(crate) fn write_json_atomically(
    path: &std::path::Path,
    v: &serde_json::Value,
) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    serde_json::to_writer_pretty(&mut f, v)?;
    f.write_all(b"\n")?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// stats.json while the run goes on: every analyzer counter and the capture's totals.
fn live_stats(s: &LiveSummary, rate: &CaptureRate) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in s.counters.entries() {
        m.insert(k, v.into());
    }
    m.insert("frames".into(), s.frames.into());
    m.insert("kernel_drops".into(), s.drops.into());
    m.insert("capture_rate_limited_ms".into(), rate.paused_ms().into());
    m.insert("active_flows".into(), s.active_flows.into());
    m.insert("elapsed_seconds".into(), s.elapsed.as_secs().into());
    m.insert("running".into(), true.into());
    serde_json::Value::Object(m)
}

/// The self-monitoring series of a run: the summary's totals and every analyzer counter.
fn live_series(s: &LiveSummary) -> Vec<(String, u64, bool)> {
    let mut v = vec![
        ("frames".to_string(), s.frames, false),
        ("captured_bytes".to_string(), s.bytes, false),
        ("kernel_drops".to_string(), s.drops, false),
        ("active_flows".to_string(), s.active_flows, true),
        ("workers".to_string(), s.workers as u64, true),
        ("uptime_seconds".to_string(), s.elapsed.as_secs(), true),
    ];
    v.extend(s.counters.entries().into_iter().map(|(k, n)| (k, n, false)));
    v
}

fn parse_ethertype(s: &str) -> Result<u16, String> {
    let t = s.trim_start_matches("0x").trim_start_matches("0X");
    u16::from_str_radix(t, 16).map_err(|_| format!("'{s}' is not an EtherType (hex, e.g. 0x0806)"))
}

fn interfaces_matching(re: &str) -> anyhow::Result<Vec<String>> {
    let re = regex_lite(re)?;
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .context("cannot list network interfaces")?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| re(n))
        .collect();
    names.sort();
    Ok(names)
}

/// Matching through the config crate's validated regex.
fn regex_lite(re: &str) -> anyhow::Result<impl Fn(&str) -> bool> {
    let r = tapflow_control::config::InterfacePattern::new(re)?;
    Ok(move |n: &str| r.is_match(n))
}

pub(crate) fn run(a: RunArgs) -> anyhow::Result<()> {
    let mut cfg = match &a.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    crate::capture_filter::apply(&mut cfg, a.filter.as_deref())?;
    if !a.quiet {
        for w in &cfg.warnings {
            eprintln!("tapflow: config: {w}");
        }
        eprintln!("tapflow: {}", crate::huge_pages_note());
        if a.fanout.is_some() && matches!(a.engine, EngineArg::AfXdp | EngineArg::Dpdk) {
            eprintln!(
                "tapflow: --fanout applies to AF_PACKET sockets; AF_XDP and DPDK queues follow the NIC's RSS (--mode pipeline steers by the inner flow)"
            );
        }
    }
    if let Some(c) = &a.ipfix {
        cfg.ipfix.collector = Some(c.clone());
    }
    tapflow_dataplane::sys::signal::install_stop_handler()
        .context("cannot install signal handlers")?;
    let mut sink = FanOut::from_config(&cfg, &OutputTarget::Dir(a.out.clone()))
        .with_context(|| format!("cannot write to {}", a.out.display()))?;
    let prometheus = match a
        .prometheus_listen
        .as_ref()
        .or(cfg.prometheus.listen.as_ref())
    {
        Some(addr) => {
            let p = PrometheusSink::start(addr, cfg.prometheus.max_services)
                .with_context(|| format!("cannot serve /metrics on {addr}"))?;
            if !a.quiet {
                eprintln!("tapflow: Prometheus /metrics on http://{}", p.local_addr);
            }
            let counters = p.counters();
            sink.push(Box::new(p));
            Some(counters)
        }
        None => None,
    };
    let ingester = crate::ingest_out::attach(
        &a.ingester,
        &cfg,
        &mut sink,
        a.quiet,
        a.controller.enabled(),
    )
    .context("cannot start the ingester sender")?;
    let integration =
        crate::integration_out::start(&a.integration, &cfg, ingester.as_ref(), a.quiet);
    let clickhouse = crate::clickhouse_out::attach(&a.clickhouse, &mut sink, a.quiet)?;
    // The outputs outlive dataplane restarts: new flow log filters and throttles reach them
    // through this.
    let log_policy = sink.log_policy_updates();
    // What the outputs were opened with (their other settings apply at the next start).
    let outputs_opened = cfg.clone();
    let control = if a.controller.enabled() {
        let capture_type = match cfg.analyzer.mirror.mode {
            tapflow_analyzer::mirror::CaptureMode::Local => 0,
            tapflow_analyzer::mirror::CaptureMode::VirtualMirror => 1,
            tapflow_analyzer::mirror::CaptureMode::Analyzer => 2,
        };
        Some(crate::agent::ControlThread::start(
            a.controller.options(capture_type)?,
        )?)
    } else {
        None
    };
    let mut last_good = cfg.clone();
    // The configuration being run came from the controller and has not run yet.
    let mut fresh = false;
    loop {
        let mut pending: Option<Config> = None;
        // The configuration in force, hot changes included.
        let mut current = cfg.clone();
        let result = run_once(
            &a,
            &cfg,
            &mut sink,
            (
                prometheus.as_ref(),
                ingester.as_ref(),
                clickhouse.as_ref(),
                integration.as_ref(),
            ),
            &mut |epoch, rate| {
                if let (Some(c), Some(h)) = (&control, &ingester) {
                    if let Some(id) = c.agent_id() {
                        h.set_agent_id(id);
                    }
                }
                let new = if tapflow_dataplane::sys::signal::take_reload() {
                    reload(a.config.as_deref(), a.ipfix.as_deref(), a.filter.as_deref())
                        .map(|c| (c, "the reloaded file"))
                } else {
                    control
                        .as_ref()
                        .and_then(|c| c.latest())
                        .map(|c| (c, "the controller"))
                };
                let Some((mut new, source)) = new else {
                    return;
                };
                if let Some(i) = &a.ipfix {
                    // `--ipfix` holds for the controller's configurations too.
                    new.ipfix.collector = Some(i.clone());
                }
                if a.filter.is_some() {
                    // As does `--filter` (it compiled at the start).
                    if let Err(e) = crate::capture_filter::apply(&mut new, a.filter.as_deref()) {
                        eprintln!("tapflow: {e:#}; the running configuration stays");
                        return;
                    }
                }
                crate::ingest_out::follow(&a.ingester, ingester.as_ref(), &new, a.quiet);
                log_policy.publish(new.log_policy());
                let later = outputs_opened.next_start_changes(&new);
                if !later.is_empty() {
                    eprintln!(
                        "tapflow: {} from {source} apply at the next start of tapflow (the outputs stay open)",
                        later.join(", ")
                    );
                }
                let blocked = current.restart_only_changes(&new);
                if blocked.is_empty() {
                    // Hot: workers take it over between bursts (a new config epoch).
                    epoch.publish(new.analyzer.clone());
                    rate.set(new.max_capture_pps.unwrap_or(0));
                    eprintln!("tapflow: new configuration from {source} applied without restart");
                    current = new;
                } else {
                    eprintln!(
                    "tapflow: new configuration from {source} changes {}: restarting the dataplane",
                    blocked.join(", ")
                );
                    pending = Some(new);
                    tapflow_dataplane::sys::signal::request_restart();
                }
            },
        );
        let hot = pending.is_none().then_some(current);
        match result {
            Ok(()) => last_good = cfg.clone(),
            Err(e) if fresh => {
                eprintln!(
                    "tapflow: the dataplane failed with the controller's configuration: {}; \
                     back to the previous one",
                    tapflow_control::error_text::joined(e.as_ref())
                );
                cfg = last_good.clone();
                log_policy.publish(cfg.log_policy());
                fresh = false;
                continue;
            }
            Err(e) => return Err(e),
        }
        fresh = false;
        if !tapflow_dataplane::sys::signal::take_restart() {
            break;
        }
        if let Some(h) = hot {
            cfg = h;
        }
        if let Some(new) = pending {
            for w in &new.warnings {
                eprintln!("tapflow: config: {w}");
            }
            cfg = new;
            fresh = true;
        }
    }
    crate::integration_out::finish(integration, &a.out.join("stats.json"));
    if let Some(c) = control {
        if c.finish() {
            eprintln!("tapflow: no controller answered within --max-escape: exiting with code 3");
            std::process::exit(3);
        }
    }
    Ok(())
}

/// The outputs that outlive a dataplane run, for its counters and its memory plan.
type Outputs<'a> = (
    Option<&'a PrometheusCounters>,
    Option<&'a SenderHandle>,
    Option<&'a Arc<ClickHouseCounters>>,
    Option<&'a tapflow_control::integration::Collector>,
);

/// One run of the dataplane with `cfg` until stopped (signal, duration, or a restart request
/// made by `on_tick`, called every second with the run's configuration epoch and capture rate
/// limit, through which it can switch hot settings).
fn run_once(
    a: &RunArgs,
    cfg: &Config,
    sink: &mut FanOut,
    (prometheus, ingester, clickhouse, integration): Outputs<'_>,
    on_tick: &mut dyn FnMut(&ConfigEpoch, &CaptureRate),
) -> anyhow::Result<()> {
    let epoch = Arc::new(ConfigEpoch::new(cfg.analyzer.clone()));
    let rate = Arc::new(CaptureRate::new(cfg.max_capture_pps.unwrap_or(0)));
    let ifaces = if a.ifaces.is_empty() {
        match &cfg.interface_regex {
            Some(re) => interfaces_matching(re)?,
            None => cfg.src_interfaces.clone(),
        }
    } else {
        a.ifaces.clone()
    };
    // DeepFlow's AF_PACKET fanout keys, for DeepFlow's engine; --queues wins.
    let fanout = cfg
        .af_packet_fanout
        .filter(|_| matches!(a.engine, EngineArg::AfPacket));
    let live = LiveConfig {
        mode: match a.mode {
            ModeArg::Rtc => WorkerMode::RunToCompletion,
            ModeArg::Pipeline => WorkerMode::Pipeline {
                analyzers: a.analyzers.max(1),
            },
        },
        ifaces,
        queues: match (a.queues, fanout) {
            (Some(q), _) => q,
            (None, Some(f)) => f.sockets,
            (None, None) => 1,
        },
        cores: a.cores.clone(),
        engine: {
            let d = RingConfig::default();
            let ring = RingConfig {
                snap_len: cfg.analyzer.decode.snap_len,
                block_count: cfg.af_packet_ring_blocks.unwrap_or(d.block_count),
                fanout_mode: match a.fanout {
                    Some(FanoutArg::Hash) => FANOUT_HASH,
                    Some(FanoutArg::Ebpf) => FANOUT_EBPF,
                    None => fanout.map_or(d.fanout_mode, |f| f.mode),
                },
                ..d
            };
            let xdp = XdpSettings {
                xsk: XskConfig {
                    mode: if a.xdp_copy {
                        BindMode::Copy
                    } else {
                        BindMode::Auto
                    },
                    ..XskConfig::default()
                },
                generic: a.xdp_generic,
                pass_ethertypes: a.xdp_pass_ethertypes.clone(),
                drop_ethertypes: a.xdp_drop_ethertypes.clone(),
            };
            match a.engine {
                EngineArg::AfPacket => Engine::AfPacket(ring),
                EngineArg::AfXdp => Engine::AfXdp(xdp),
                EngineArg::Auto => Engine::Auto { xdp, ring },
                EngineArg::Dpdk => Engine::Dpdk(DpdkSettings {
                    eal_args: match &a.dpdk_eal {
                        Some(s) => s.split_whitespace().map(str::to_string).collect(),
                        None => cfg.dpdk.eal_args.clone(),
                    },
                    ports: if a.dpdk_ports.is_empty() {
                        cfg.dpdk.ports.clone()
                    } else {
                        a.dpdk_ports.clone()
                    },
                    mempool_mbufs: cfg.dpdk.mempool_mbufs,
                    burst: cfg.dpdk.burst,
                }),
            }
        },
        analyzer: cfg.analyzer.clone(),
        max_memory_mib: cfg.max_memory_mib,
        duration: a.duration.map(Duration::from_secs_f64),
        epoch: Some(Arc::clone(&epoch)),
        output_shares: output_shares(
            cfg,
            ingester.is_some(),
            clickhouse.is_some(),
            integration.is_some(),
        ),
        trace: None,
        capture_rate: Arc::clone(&rate),
    };
    let mut live = live;
    let mut inventory = None;
    if a.ebpf {
        if cfg.ebpf.disabled {
            anyhow::bail!("--ebpf: the syscall tracer is turned off in the config (inputs.ebpf.disabled: true)");
        }
        let (libssl, verdict) = crate::trace::preflight(&a.tracer, cfg);
        if let Err(table) = verdict {
            anyhow::bail!("--ebpf: {table}");
        }
        let mut settings = crate::trace::settings(&a.tracer, cfg, libssl)?;
        settings.ready_file = Some(a.out.join("trace.ready"));
        settings.on_attached = crate::trace::not_probed;
        if cfg.process.enabled {
            let (observer, inv) = crate::trace_procs::Inventory::create(&cfg.process, &a.out)
                .context("processes.jsonl")?
                .shared();
            settings.processes = Some(observer);
            inventory = Some(inv);
        }
        live.output_shares.push(tapflow_dataplane::memory::Share {
            part: "syscall tracer (ring buffer, BPF tables)".into(),
            bytes: tapflow_dataplane::trace::memory_bytes(&settings.opts),
        });
        live.trace = Some(settings);
    }
    if !a.quiet {
        eprintln!(
            "tapflow: capturing on {} ({} worker(s) each); Ctrl-C to stop",
            match &live.engine {
                Engine::Dpdk(d) => d.ports.join(", "),
                _ => live.ifaces.join(", "),
            },
            live.queues.max(1)
        );
    }
    let mut prev = LiveSummary::default();
    let mut last_self_report = 0u64;
    // The run's series, and the integration collector's counters.
    let series_of = |s: &LiveSummary| {
        let mut v = live_series(s);
        if let Some(c) = integration {
            v.extend(
                c.counters()
                    .entries()
                    .into_iter()
                    .map(|(k, n)| (k.to_string(), n, false)),
            );
        }
        v
    };
    let mut on_second = |s: &LiveSummary| {
        on_tick(&epoch, &rate);
        if let Some(h) = ingester {
            let secs = s.elapsed.as_secs();
            if secs >= last_self_report + h.stats_interval_s() {
                last_self_report = secs;
                let series = series_of(s).into_iter().map(|(k, v, _)| (k, v));
                crate::ingest_out::report_self(h, series);
            }
        }
        if let Some(p) = prometheus {
            p.set(series_of(s));
            p.set_workers(&s.per_worker);
        }
        // stats.json, rewritten every second while running (replaced at the end).
        let _ = write_json_atomically(&a.out.join("stats.json"), &live_stats(s, &rate));
        if !a.quiet {
            let dt = (s.elapsed.as_secs_f64() - prev.elapsed.as_secs_f64()).max(1e-3);
            let decode: u64 = s
                .counters
                .entries()
                .iter()
                .filter(|(k, _)| k.starts_with("decode."))
                .map(|(_, v)| v)
                .sum();
            eprintln!(
                "{:>7.1}s  {:>10.0} pps  {:>9.2} Mbit/s  {:>8} flows  drops: {} kernel, {} table full, {} decode",
                s.elapsed.as_secs_f64(),
                (s.frames - prev.frames) as f64 / dt,
                (s.bytes - prev.bytes) as f64 * 8.0 / dt / 1e6,
                s.active_flows,
                s.drops,
                s.counters.flow_table_full,
                decode
            );
            prev = s.clone();
        }
    };
    // With the tracer, packet rows of local connections get their processes on the way out.
    let (report, join_counters) = if live.trace.is_some() {
        let local = tapflow_dataplane::trace::procfs::local_addresses(&cfg.process.proc_root);
        let mut join =
            tapflow_control::sink::process_join::ProcessJoin::with_local_ips(&mut *sink, &local);
        let r = runtime::run(&live, &mut join, &mut on_second);
        join.finish();
        (r, Some(join.counters))
    } else {
        (runtime::run(&live, &mut *sink, &mut on_second), None)
    };
    let report = report?;
    // The metric documents of the minutes still open are written now (a dataplane restart
    // starts new minutes).
    sink.finish().context("writing flow logs failed")?;
    let mut stats = serde_json::Map::new();
    for (k, v) in report.counters.entries() {
        stats.insert(k, v.into());
    }
    stats.insert("engine".into(), report.engine.into());
    if let Some(m) = report.xdp_mode {
        stats.insert("xdp_mode".into(), m.into());
    }
    if let Some(x) = report.xdp {
        stats.insert("xdp_seen".into(), x.seen.into());
        stats.insert("xdp_redirected".into(), x.redirected.into());
        stats.insert("xdp_filtered".into(), x.filtered.into());
        stats.insert("xdp_redirect_failed".into(), x.redirect_failed.into());
    }
    if let Some(m) = sink.metrics_counters() {
        stats.insert("metrics.documents".into(), m.documents.into());
        stats.insert("metrics.key_overflow".into(), m.key_overflow.into());
        stats.insert("metrics.late_rows".into(), m.late_rows.into());
        stats.insert(
            "metrics.flow_load_overflow".into(),
            m.flow_load_overflow.into(),
        );
    }
    for (k, v) in sink.log_gate_counters() {
        stats.insert(k.into(), v.into());
    }
    stats.insert("frames".into(), report.frames.into());
    stats.insert("kernel_drops".into(), report.kernel_drops.into());
    stats.insert("capture_rate_limited_ms".into(), rate.paused_ms().into());
    stats.insert("records_dropped".into(), report.records_dropped.into());
    stats.insert("ring_full_drops".into(), report.ring_full_drops.into());
    let queues: Vec<serde_json::Value> = report
        .queues
        .iter()
        .map(|q| {
            let mut m = serde_json::Map::new();
            m.insert("queue".into(), q.name.clone().into());
            m.insert("captured".into(), q.captured.into());
            for (k, v) in &q.counters {
                m.insert((*k).into(), (*v).into());
            }
            serde_json::Value::Object(m)
        })
        .collect();
    stats.insert("queues".into(), queues.into());
    let ports: Vec<serde_json::Value> = report
        .ports
        .iter()
        .map(|q| {
            let mut m = serde_json::Map::new();
            m.insert("port".into(), q.name.clone().into());
            for (k, v) in &q.counters {
                m.insert((*k).into(), (*v).into());
            }
            serde_json::Value::Object(m)
        })
        .collect();
    if !ports.is_empty() {
        stats.insert("ports".into(), ports.into());
    }
    let plan = tapflow_dataplane::memory::plan(&live, &live.output_shares);
    let parts: serde_json::Map<String, serde_json::Value> = plan
        .shares
        .iter()
        .map(|s| (s.part.clone(), s.bytes.into()))
        .collect();
    stats.insert("memory_plan".into(), parts.into());
    stats.insert("memory_budget".into(), plan.budget.into());
    crate::integration_out::report(integration, &mut stats);
    crate::ingest_out::report(ingester, &mut stats, a.quiet);
    crate::clickhouse_out::report(clickhouse, &mut stats, a.quiet);
    if let Some(r) = &report.trace {
        crate::trace::report_entries(r, &mut stats);
    }
    if let Some(inv) = &inventory {
        crate::trace_procs::report(inv, &mut stats);
    }
    if let Some(c) = join_counters {
        for (k, v) in [
            ("processes.tagged_l4_rows", c.tagged_l4),
            ("processes.tagged_l7_rows", c.tagged_l7),
            ("processes.untagged_local_rows", c.untagged),
            ("processes.hold_full", c.hold_full),
        ] {
            stats.insert(k.into(), v.into());
        }
    }
    let path = a.out.join("stats.json");
    write_json_atomically(&path, &serde_json::Value::Object(stats))
        .with_context(|| format!("cannot write {}", path.display()))?;
    if !a.quiet {
        for n in &report.notes {
            eprintln!("tapflow: {n}");
        }
        eprintln!(
            "tapflow: stopped: {} packets, {} flows, {} flow log rows, {} request log rows, \
             {} kernel drops -> {}/ (l4_flow_log, l7_flow_log, flow_metrics.*, stats.json)",
            report.frames,
            report.counters.flows_created,
            crate::analyze::files_written(sink, RecordKind::L4FlowLog),
            crate::analyze::files_written(sink, RecordKind::L7FlowLog),
            report.kernel_drops,
            a.out.display()
        );
    }
    Ok(())
}

/// What the output stage holds, for the memory budget: the metric key tables, the live flows'
/// merged minute rows (with `second_metrics`) and the senders' queues.
fn output_shares(
    cfg: &Config,
    ingester: bool,
    clickhouse: bool,
    integration: bool,
) -> Vec<tapflow_dataplane::memory::Share> {
    use tapflow_dataplane::memory::Share;
    let mut v = Vec::new();
    if cfg.metrics.enabled {
        v.push(Share {
            part: format!(
                "flow_metrics key tables ({} keys per table and window)",
                cfg.metrics.max_keys
            ),
            bytes: cfg.metrics.memory_bytes() as u64,
        });
        if cfg.metrics.second {
            let flows = u64::from(cfg.analyzer.flow_capacity);
            v.push(Share {
                part: format!("second_metrics minute rows (up to {flows} live flows)"),
                bytes: tapflow_analyzer::aggregate::FlowAggr::memory_bytes(flows),
            });
        }
    }
    if cfg.aggregate_health_checks {
        use tapflow_analyzer::aggregate::{health_check::MAX_KEYS, HealthCheckAggr};
        v.push(Share {
            part: format!("health-check probes held ({MAX_KEYS} services and minutes)"),
            bytes: HealthCheckAggr::memory_bytes(),
        });
    }
    if ingester {
        v.push(Share {
            part: "ingester sender queue".into(),
            bytes: tapflow_control::ingest::SenderConfig::new("").memory_bytes(),
        });
    }
    if integration {
        use tapflow_control::integration::{memory_bytes, IN_FLIGHT};
        v.push(Share {
            part: format!("integration collector ({IN_FLIGHT} requests at once, forward queue)"),
            bytes: memory_bytes() + tapflow_control::ingest::forward_queue::QUEUE_BYTES as u64,
        });
    }
    if clickhouse {
        v.push(Share {
            part: "ClickHouse batches".into(),
            bytes: tapflow_control::clickhouse::ClickHouseConfig::new("").memory_bytes(),
        });
    }
    v
}
