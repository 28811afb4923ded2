//! `inputs.integration`: DeepFlow's integration collector, the HTTP port on which applications
//! and their collectors hand an agent OpenTelemetry traces, Prometheus remote-write samples and
//! Telegraf metrics for the ingester (`tapflow run` with an ingester).

use serde::Deserialize;

use super::ConfigError;

/// The collector's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationConfig {
    /// `enabled` (DeepFlow's default: true). The collector listens only when records go to an
    /// ingester (there is nothing else to hand the data to).
    pub enabled: bool,
    /// `listen_port` (38086), on every address as DeepFlow's agent listens.
    pub listen_port: u16,
    /// `compression.trace` (true): traces go as DeepFlow's OpenTelemetryCompressed messages
    /// (zlib), else as OpenTelemetry ones.
    pub compress_traces: bool,
    /// `prometheus_extra_labels`: request headers added to remote-write data as labels.
    pub extra_labels: ExtraLabels,
    /// `feature_control.trace_integration_disabled`.
    pub traces_disabled: bool,
    /// `feature_control.metric_integration_disabled` (Prometheus and Telegraf).
    pub metrics_disabled: bool,
    /// `feature_control.profile_integration_disabled` (Pyroscope's ingest and push).
    pub profiles_disabled: bool,
    /// `feature_control.log_integration_disabled` (application logs, `/api/v1/log`).
    pub logs_disabled: bool,
    /// Application documents from the spans (`outputs.flow_metrics.enabled` and
    /// `filters.apm_metrics`), per second too (`filters.second_metrics`); set by the caller from
    /// `outputs.flow_metrics` (defaults: on, per minute only).
    pub span_metrics: bool,
    pub span_metrics_second: bool,
    /// HTTP spans' names cut as HTTP paths into endpoints (`tag_extraction.http_endpoint`, as
    /// DeepFlow's agent cuts them); set by the caller.
    pub endpoints: tapflow_analyzer::l7::config::EndpointRules,
}

/// `inputs.integration.prometheus_extra_labels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraLabels {
    pub enabled: bool,
    /// Header names, in order (lower case).
    pub headers: Vec<String>,
    /// The names' and the values' total bytes at most: headers past either are left out.
    pub names_bytes: u32,
    pub values_bytes: u32,
}

impl Default for IntegrationConfig {
    fn default() -> Self {
        IntegrationConfig {
            enabled: true,
            listen_port: 38086,
            compress_traces: true,
            extra_labels: ExtraLabels {
                enabled: false,
                headers: Vec::new(),
                names_bytes: 1024,
                values_bytes: 4096,
            },
            traces_disabled: false,
            metrics_disabled: false,
            profiles_disabled: false,
            logs_disabled: false,
            span_metrics: true,
            span_metrics_second: false,
            endpoints: Default::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawIntegration {
    enabled: Option<bool>,
    listen_port: Option<u32>,
    compression: RawCompression,
    prometheus_extra_labels: RawExtraLabels,
    feature_control: RawFeatureControl,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCompression {
    trace: Option<bool>,
    /// Accepted, not applied: profiles go uncompressed.
    profile: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawExtraLabels {
    enabled: Option<bool>,
    extra_labels: Option<Vec<String>>,
    label_length: Option<u32>,
    value_length: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawFeatureControl {
    profile_integration_disabled: Option<bool>,
    trace_integration_disabled: Option<bool>,
    metric_integration_disabled: Option<bool>,
    log_integration_disabled: Option<bool>,
}

impl RawIntegration {
    pub(super) fn build(
        &self,
        warnings: &mut Vec<String>,
    ) -> Result<IntegrationConfig, ConfigError> {
        let d = IntegrationConfig::default();
        let port = self.listen_port.unwrap_or(u32::from(d.listen_port));
        let listen_port = u16::try_from(port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| ConfigError::Invalid {
                key: "inputs.integration.listen_port",
                problem: format!("{port} is outside 1..=65535"),
            })?;
        let x = &self.prometheus_extra_labels;
        let mut headers = Vec::new();
        for h in x.extra_labels.iter().flatten() {
            let name = h.trim().to_ascii_lowercase();
            let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            if name.is_empty() || !name.bytes().all(token) {
                return Err(ConfigError::Invalid {
                    key: "inputs.integration.prometheus_extra_labels.extra_labels",
                    problem: format!("'{h}' is not an HTTP header name"),
                });
            }
            headers.push(name);
        }
        let length = |v: Option<u32>, default: u32, key: &'static str| match v.unwrap_or(default) {
            n @ 1..=65536 => Ok(n),
            n => Err(ConfigError::Invalid {
                key,
                problem: format!("{n} is outside 1..=65536"),
            }),
        };
        let extra_labels = ExtraLabels {
            enabled: x.enabled.unwrap_or(false),
            headers,
            names_bytes: length(
                x.label_length,
                d.extra_labels.names_bytes,
                "inputs.integration.prometheus_extra_labels.label_length",
            )?,
            values_bytes: length(
                x.value_length,
                d.extra_labels.values_bytes,
                "inputs.integration.prometheus_extra_labels.value_length",
            )?,
        };
        let f = &self.feature_control;
        if self.compression.profile.is_some() {
            warnings.push(
                "inputs.integration: compression.profile is accepted, not applied (profiles go \
                 uncompressed, which every DeepFlow server reads)"
                    .into(),
            );
        }
        Ok(IntegrationConfig {
            enabled: self.enabled.unwrap_or(d.enabled),
            listen_port,
            compress_traces: self.compression.trace.unwrap_or(d.compress_traces),
            extra_labels,
            traces_disabled: f.trace_integration_disabled.unwrap_or(false),
            metrics_disabled: f.metric_integration_disabled.unwrap_or(false),
            profiles_disabled: f.profile_integration_disabled.unwrap_or(false),
            logs_disabled: f.log_integration_disabled.unwrap_or(false),
            span_metrics: d.span_metrics,
            span_metrics_second: d.span_metrics_second,
            endpoints: d.endpoints,
        })
    }
}
