//! `outputs.prometheus` (tapflow's keys): the `/metrics` endpoint of `tapflow run`.

use serde::Deserialize;

use super::ConfigError;

/// The endpoint's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusConfig {
    /// `host:port` to serve `/metrics` on (None: no endpoint; `--prometheus-listen` overrides).
    pub listen: Option<String>,
    /// Services with labels of their own; later ones are summed into `service="other"`.
    pub max_services: usize,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig {
            listen: None,
            max_services: 200,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct PrometheusOutput {
    listen: Option<String>,
    max_services: Option<usize>,
}

impl PrometheusOutput {
    pub(super) fn build(&self) -> Result<PrometheusConfig, ConfigError> {
        let d = PrometheusConfig::default();
        let listen = self.listen.clone().filter(|l| !l.is_empty());
        if let Some(l) = &listen {
            if l.parse::<std::net::SocketAddr>().is_err() {
                return Err(ConfigError::Invalid {
                    key: "outputs.prometheus.listen",
                    problem: format!("'{l}' is not an address:port (e.g. 127.0.0.1:9715)"),
                });
            }
        }
        let max_services = self.max_services.unwrap_or(d.max_services);
        if !(1..=100_000).contains(&max_services) {
            return Err(ConfigError::Invalid {
                key: "outputs.prometheus.max_services",
                problem: format!("{max_services} is outside 1..=100000"),
            });
        }
        Ok(PrometheusConfig {
            listen,
            max_services,
        })
    }
}
