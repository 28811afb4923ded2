//! The integration collector of `tapflow run` (`inputs.integration`, DeepFlow's port 38086):
//! applications' OpenTelemetry traces (and their application documents), Prometheus remote
//! write, Telegraf metrics, Pyroscope profiles and application logs, forwarded over the
//! ingester connection. It listens only when records go to an ingester.

use std::net::SocketAddr;

use clap::Args;
use tapflow_control::ingest::SenderHandle;
use tapflow_control::integration::Collector;
use tapflow_control::Config;

#[derive(Debug, Clone, Args)]
pub(crate) struct IntegrationArgs {
    /// Listen for integration data (OTLP and SkyWalking traces, Prometheus remote write,
    /// Telegraf, Pyroscope profiles, application logs) on this address:port instead of every address at
    /// inputs.integration.listen_port (38086).
    #[arg(long, value_name = "HOST:PORT")]
    integration_listen: Option<SocketAddr>,
}

/// Starts the collector when it applies; a port that cannot be bound is said on standard error
/// and the run goes on without it (as DeepFlow's agent goes on).
pub(crate) fn start(
    a: &IntegrationArgs,
    cfg: &Config,
    ingester: Option<&SenderHandle>,
    quiet: bool,
) -> Option<Collector> {
    let (true, Some(h)) = (cfg.integration.enabled, ingester) else {
        return None;
    };
    let port = cfg.integration.listen_port;
    let tries: Vec<SocketAddr> = match a.integration_listen {
        Some(addr) => vec![addr],
        None => vec![
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)),
            SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, port)),
        ],
    };
    // The spans' application documents follow outputs.flow_metrics, as the packets' do.
    let mut ic = cfg.integration.clone();
    ic.span_metrics = cfg.metrics.enabled && cfg.metrics.application;
    ic.span_metrics_second = cfg.metrics.second;
    ic.endpoints = cfg.analyzer.l7.endpoints.clone();
    let mut last = None;
    for addr in tries {
        match Collector::start(addr, ic.clone(), h.clone()) {
            Ok(c) => {
                if !quiet {
                    eprintln!(
                        "tapflow: integration collector on http://{} (OTLP and SkyWalking \
                         traces, Prometheus remote write, Telegraf, Pyroscope profiles, \
                         application logs), forwarded to the ingester",
                        c.local_addr()
                    );
                }
                return Some(c);
            }
            Err(e) => last = Some(format!("{addr}: {e}")),
        }
    }
    eprintln!(
        "tapflow: integration collector not started ({}); inputs.integration.enabled: false \
         turns it off",
        last.unwrap_or_default()
    );
    None
}

/// The collector's counters into stats.json.
pub(crate) fn report(
    c: Option<&Collector>,
    stats: &mut serde_json::Map<String, serde_json::Value>,
) {
    let Some(c) = c else { return };
    for (k, v) in c.counters().entries() {
        stats.insert(k.into(), v.into());
    }
    stats.insert(
        "integration.listen".into(),
        c.local_addr().to_string().into(),
    );
}

/// Stops the collector at the end of the run and writes its final counters (the spans' last
/// windows sent at the stop included) into the run's stats.json.
pub(crate) fn finish(c: Option<Collector>, stats_json: &std::path::Path) {
    let Some(c) = c else { return };
    let counters = c.finish();
    let Ok(text) = std::fs::read_to_string(stats_json) else {
        return;
    };
    let Ok(serde_json::Value::Object(mut stats)) = serde_json::from_str(&text) else {
        return;
    };
    for (k, v) in counters.entries() {
        stats.insert(k.into(), v.into());
    }
    let _ = crate::run::write_json_atomically(stats_json, &serde_json::Value::Object(stats));
}
