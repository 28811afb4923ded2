//! `--clickhouse`: records of `tapflow run` / `tapflow analyze` into ClickHouse (DeepFlow's
//! tables), beside the files.

use std::sync::Arc;

use anyhow::anyhow;
use clap::Args;
use tapflow_control::clickhouse::{ClickHouseConfig, ClickHouseCounters, ClickHouseSink};
use tapflow_control::sink::FanOut;

#[derive(Debug, Clone, Args)]
pub(crate) struct ClickHouseArgs {
    /// Also store every record in ClickHouse, http://[USER[:PASSWORD]@]HOST[:PORT] (HTTP
    /// interface, default port 8123): DeepFlow's flow_log and flow_metrics tables, created if
    /// missing.
    #[arg(long, value_name = "URL")]
    clickhouse: Option<String>,
    /// Hours the flow_log tables keep rows (ClickHouse 20 and later; 0: forever).
    #[arg(long, default_value_t = 72, value_name = "HOURS")]
    flow_log_ttl_hours: u32,
    /// Hours the flow_metrics tables keep rows.
    #[arg(long, default_value_t = 168, value_name = "HOURS")]
    flow_metrics_ttl_hours: u32,
}

impl ClickHouseArgs {
    /// The store's settings, when a URL was given.
    pub(crate) fn config(&self) -> Option<ClickHouseConfig> {
        let url = self.clickhouse.as_ref()?;
        let mut c = ClickHouseConfig::new(url.clone());
        c.flow_log_ttl_hours = self.flow_log_ttl_hours;
        c.flow_metrics_ttl_hours = self.flow_metrics_ttl_hours;
        Some(c)
    }
}

/// Adds the ClickHouse sink to `sink` when asked.
pub(crate) fn attach(
    a: &ClickHouseArgs,
    sink: &mut FanOut,
    quiet: bool,
) -> anyhow::Result<Option<Arc<ClickHouseCounters>>> {
    let Some(cfg) = a.config() else {
        return Ok(None);
    };
    let url = cfg.url.clone();
    let s = ClickHouseSink::start(cfg).map_err(|e| anyhow!("--clickhouse: {e}"))?;
    let c = s.counters();
    sink.push(Box::new(s));
    if !quiet {
        eprintln!("tapflow: storing records in ClickHouse at {url}");
    }
    Ok(Some(c))
}

/// The store's counters into a stats map, and a line on standard error.
pub(crate) fn report(
    c: Option<&Arc<ClickHouseCounters>>,
    stats: &mut serde_json::Map<String, serde_json::Value>,
    quiet: bool,
) {
    let Some(c) = c else { return };
    let entries = c.entries();
    for (k, v) in &entries {
        stats.insert((*k).into(), (*v).into());
    }
    let get = |name: &str| entries.iter().find(|(k, _)| *k == name).map_or(0, |e| e.1);
    if !quiet {
        let err = c.last_error();
        let version = c.server_version();
        eprintln!(
            "tapflow: clickhouse{}: {} rows inserted in {} batches, {} dropped, {} unsent at exit{}",
            if version.is_empty() { String::new() } else { format!(" {version}") },
            get("clickhouse.rows_inserted"),
            get("clickhouse.batches"),
            get("clickhouse.rows_dropped"),
            get("clickhouse.rows_queued"),
            if err.is_empty() { String::new() } else { format!(" (last error: {err})") }
        );
    }
}
