//! `--ingester`: records of `tapflow run` / `tapflow analyze` to a DeepFlow ingester (DeepFlow's
//! server, or `tapflow server --ingest-listen`), beside the files.

use clap::Args;
use tapflow_control::config::with_port;
use tapflow_control::ingest::{IngesterSink, Overflow, SenderConfig, SenderHandle};
use tapflow_control::sink::FanOut;
use tapflow_control::Config;

#[derive(Debug, Clone, Args)]
pub(crate) struct IngesterArgs {
    /// Send every record to this DeepFlow ingester too, HOST[:PORT] (default port
    /// global.communication.ingester_port, 30033; default address: ingester_ip).
    #[arg(long, value_name = "HOST[:PORT]")]
    ingester: Option<String>,
    /// The agent id in every frame header (with --controller: the id the controller hands out).
    #[arg(long, value_name = "ID")]
    agent_id: Option<u16>,
}

impl IngesterArgs {
    /// The address `--ingester` fixes (configurations then cannot move it).
    pub(crate) fn fixed(&self, cfg: &Config) -> Option<String> {
        self.ingester
            .as_ref()
            .map(|h| with_port(h, cfg.ingester.port))
    }
}

/// Adds the sender to `sink` when an ingester is configured, or may be later (`dynamic`: a
/// controller can hand out `ingester_ip`; until then nothing is sent).
pub(crate) fn attach(
    a: &IngesterArgs,
    cfg: &Config,
    sink: &mut FanOut,
    quiet: bool,
    dynamic: bool,
) -> anyhow::Result<Option<SenderHandle>> {
    let addr = a.fixed(cfg).or_else(|| cfg.ingester.addr.clone());
    if addr.is_none() && !dynamic {
        return Ok(None);
    }
    let mut sc = SenderConfig::new(String::new());
    sc.addr.clone_from(&addr);
    sc.compress_l4 = cfg.ingester.compress_l4;
    sc.compress_app_log = cfg.ingester.compress_app_log;
    sc.compress_l7 = cfg.ingester.compress_l7;
    sc.max_bytes_per_s = cfg.ingester.max_bytes_per_s;
    sc.socket_per_type = cfg.ingester.socket_per_type;
    sc.overflow = if cfg.ingester.wait_on_overflow {
        Overflow::Wait
    } else {
        Overflow::Drop
    };
    let s = IngesterSink::start(sc)?;
    let h = s.handle();
    h.set_stats_interval_s(cfg.ingester.stats_interval_s);
    if let Some(id) = a.agent_id {
        h.set_agent_id(id);
    }
    sink.push(Box::new(s));
    if let (false, Some(addr)) = (quiet, &addr) {
        eprintln!("tapflow: sending records to the ingester at {addr}");
    }
    Ok(Some(h))
}

/// A new configuration's ingester address (unless `--ingester` fixed one), throughput limit and
/// connections per type take effect.
pub(crate) fn follow(a: &IngesterArgs, h: Option<&SenderHandle>, new: &Config, quiet: bool) {
    let Some(h) = h else { return };
    h.set_max_bytes_per_s(new.ingester.max_bytes_per_s);
    h.set_socket_per_type(new.ingester.socket_per_type);
    h.set_stats_interval_s(new.ingester.stats_interval_s);
    if a.ingester.is_some() || h.addr() == new.ingester.addr {
        return;
    }
    h.set_addr(new.ingester.addr.clone());
    if !quiet {
        match &new.ingester.addr {
            Some(addr) => eprintln!("tapflow: sending records to the ingester at {addr}"),
            None => eprintln!("tapflow: no ingester configured any more: records are not sent"),
        }
    }
}

/// Reports the run's own counters to the ingester (DeepflowStats, as DeepFlow's agent does every
/// `global.self_monitoring.interval`): `series` (name, value) and the sender's own counters,
/// with the host's name and the wall clock.
pub(crate) fn report_self(h: &SenderHandle, series: impl IntoIterator<Item = (String, u64)>) {
    let mut counters: Vec<(String, f64)> = series.into_iter().map(|(k, v)| (k, v as f64)).collect();
    counters.extend(
        h.counters()
            .entries()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v as f64)),
    );
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    h.send_stats(now, host.trim(), &counters);
}

/// The sender's counters into stats.json, and a line on standard error when records were lost.
pub(crate) fn report(
    h: Option<&SenderHandle>,
    stats: &mut serde_json::Map<String, serde_json::Value>,
    quiet: bool,
) {
    let Some(h) = h else { return };
    let entries = h.counters().entries();
    for (k, v) in &entries {
        stats.insert((*k).into(), (*v).into());
    }
    let get = |name: &str| entries.iter().find(|(k, _)| *k == name).map_or(0, |e| e.1);
    if !quiet {
        let failures = get("ingester.failures");
        let err = h.counters().last_error();
        eprintln!(
            "tapflow: ingester: {} records sent in {} frames, {} dropped, {} unsent at exit ({} connection failures{})",
            get("ingester.records_sent"),
            get("ingester.frames_sent"),
            get("ingester.records_dropped"),
            get("ingester.records_queued"),
            failures,
            if failures == 0 || err.is_empty() { String::new() } else { format!("; last: {err}") }
        );
    }
}
