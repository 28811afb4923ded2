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

/// Adds the sender to `sink` when an ingester is configured.
pub(crate) fn attach(
    a: &IngesterArgs,
    cfg: &Config,
    sink: &mut FanOut,
    quiet: bool,
) -> anyhow::Result<Option<SenderHandle>> {
    let addr = match &a.ingester {
        Some(h) => with_port(h, cfg.ingester.port),
        None => match &cfg.ingester.addr {
            Some(addr) => addr.clone(),
            None => return Ok(None),
        },
    };
    let mut sc = SenderConfig::new(addr.clone());
    sc.compress_l4 = cfg.ingester.compress_l4;
    sc.compress_l7 = cfg.ingester.compress_l7;
    sc.overflow = if cfg.ingester.wait_on_overflow {
        Overflow::Wait
    } else {
        Overflow::Drop
    };
    let s = IngesterSink::start(sc)?;
    let h = s.handle();
    if let Some(id) = a.agent_id {
        h.set_agent_id(id);
    }
    sink.push(Box::new(s));
    if !quiet {
        eprintln!("tapflow: sending records to the ingester at {addr}");
    }
    Ok(Some(h))
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
        eprintln!(
            "tapflow: ingester: {} records sent in {} frames, {} dropped, {} unsent at exit ({} connection failures)",
            get("ingester.records_sent"),
            get("ingester.frames_sent"),
            get("ingester.records_dropped"),
            get("ingester.records_queued"),
            get("ingester.failures"),
        );
    }
}
