//! `outputs.ipfix` (tapflow's keys): flow export to an IPFIX collector over UDP.

use serde::Deserialize;

use super::ConfigError;

/// The exporter's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpfixConfig {
    /// `host:port` of the collector (None: no export; `--ipfix` overrides).
    pub collector: Option<String>,
    /// Templates are sent again this often (UDP export), seconds.
    pub template_refresh_s: u64,
    /// The observation domain id of the messages.
    pub observation_domain: u32,
}

impl Default for IpfixConfig {
    fn default() -> Self {
        IpfixConfig {
            collector: None,
            template_refresh_s: 60,
            observation_domain: 0,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct IpfixOutput {
    collector: Option<String>,
    template_refresh_s: Option<u64>,
    observation_domain: Option<u32>,
}

impl IpfixOutput {
    pub(super) fn build(&self) -> Result<IpfixConfig, ConfigError> {
        let d = IpfixConfig::default();
        let collector = self.collector.clone().filter(|c| !c.is_empty());
        if let Some(c) = &collector {
            if c.parse::<std::net::SocketAddr>().is_err() {
                return Err(ConfigError::Invalid {
                    key: "outputs.ipfix.collector",
                    problem: format!("'{c}' is not an address:port (e.g. 192.0.2.10:4739)"),
                });
            }
        }
        let refresh = self.template_refresh_s.unwrap_or(d.template_refresh_s);
        if !(1..=3600).contains(&refresh) {
            return Err(ConfigError::Invalid {
                key: "outputs.ipfix.template_refresh_s",
                problem: format!("{refresh} is outside 1..=3600"),
            });
        }
        Ok(IpfixConfig {
            collector,
            template_refresh_s: refresh,
            observation_domain: self.observation_domain.unwrap_or(d.observation_domain),
        })
    }
}
