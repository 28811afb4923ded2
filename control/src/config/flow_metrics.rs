//! `outputs.flow_metrics`: DeepFlow's keys for the metric documents, and tapflow's bound on keys
//! per minute (`tunning.max_keys_per_window`), checked against `global.limits.max_memory`.

use serde::Deserialize;
use tapflow_analyzer::aggregate::MetricsConfig;

use super::ConfigError;

const MIB: u64 = 1 << 20;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FlowMetricsOutput {
    enabled: Option<bool>,
    filters: Filters,
    tunning: Tunning,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Filters {
    inactive_server_port_aggregation: Option<bool>,
    inactive_ip_aggregation: Option<bool>,
    npm_metrics: Option<bool>,
    npm_metrics_concurrent: Option<bool>,
    apm_metrics: Option<bool>,
    second_metrics: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Tunning {
    sender_queue_size: Option<u64>,
    max_keys_per_window: Option<usize>,
}

impl FlowMetricsOutput {
    /// The aggregation settings; `budget_bytes`: what `max_memory` leaves after the worker
    /// tables.
    pub(super) fn build(
        &self,
        budget_bytes: u64,
        warnings: &mut Vec<String>,
    ) -> Result<MetricsConfig, ConfigError> {
        let d = MetricsConfig::default();
        let f = &self.filters;
        let cfg = MetricsConfig {
            enabled: self.enabled.unwrap_or(d.enabled),
            second: f.second_metrics.unwrap_or(d.second),
            network: f.npm_metrics.unwrap_or(d.network),
            concurrent: f.npm_metrics_concurrent.unwrap_or(d.concurrent),
            application: f.apm_metrics.unwrap_or(d.application),
            inactive_server_port_aggregation: f
                .inactive_server_port_aggregation
                .unwrap_or(d.inactive_server_port_aggregation),
            inactive_ip_aggregation: f
                .inactive_ip_aggregation
                .unwrap_or(d.inactive_ip_aggregation),
            max_keys: self.tunning.max_keys_per_window.unwrap_or(d.max_keys),
            // Set from processors.request_log by the caller.
            consistent_l7_time: d.consistent_l7_time,
        };
        // Unset: the default, or what the budget leaves room for (at least 256 keys).
        let cfg = if self.tunning.max_keys_per_window.is_none()
            && cfg.memory_bytes() as u64 > budget_bytes
        {
            let per_key = (cfg.memory_bytes() / cfg.max_keys.max(1)) as u64;
            MetricsConfig {
                max_keys: (budget_bytes / per_key.max(1)).max(256) as usize,
                ..cfg
            }
        } else {
            cfg
        };
        const KEYS: &str = "outputs.flow_metrics.tunning.max_keys_per_window";
        if !(1..=10_000_000).contains(&cfg.max_keys) {
            return Err(ConfigError::Invalid {
                key: KEYS,
                problem: format!("{} is outside 1..=10000000", cfg.max_keys),
            });
        }
        let need = cfg.memory_bytes() as u64;
        if self.tunning.max_keys_per_window.is_some() && need > budget_bytes {
            return Err(ConfigError::Invalid {
                key: KEYS,
                problem: format!(
                    "{} keys per table and minute need up to {} MiB, more than global.limits.max_memory leaves ({} MiB); lower it or raise max_memory",
                    cfg.max_keys,
                    need.div_ceil(MIB),
                    budget_bytes / MIB
                ),
            });
        }
        if self.tunning.sender_queue_size.is_some() {
            warnings.push(
                "outputs.flow_metrics: tunning.sender_queue_size is accepted, not applied".into(),
            );
        }
        Ok(cfg)
    }
}
