//! Where records go to a DeepFlow ingester: DeepFlow's `global.communication.ingester_ip`,
//! `ingester_port`, `ingester_traffic_overflow_action`, `outputs.compression.l4/l7_flow_log` and
//! `outputs.socket.multiple_sockets_to_ingester`.

use serde::Deserialize;

use super::ConfigError;

/// The sender's settings (`--ingester` overrides the address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngesterConfig {
    /// `ingester_ip:ingester_port`; None when `ingester_ip` is empty (nothing is sent; DeepFlow
    /// would use the controller's address, tapflow asks for it to be said).
    pub addr: Option<String>,
    /// The port for `--ingester HOST` without one, and for `ingester_ip`.
    pub port: u16,
    /// `WAIT` (true) or `DROP` when the sender's queue is full.
    pub wait_on_overflow: bool,
    pub compress_l7: bool,
    pub compress_l4: bool,
    /// `outputs.compression.application_log`: forwarded application logs in zstd frames.
    pub compress_app_log: bool,
    /// `max_throughput_to_ingester`, bytes a second (None: no limit, tapflow's default;
    /// DeepFlow's is 100 Mbps).
    pub max_bytes_per_s: Option<u64>,
    /// `global.self_monitoring.interval`: seconds between two reports of the agent's own
    /// counters (DeepflowStats frames) to the ingester.
    pub stats_interval_s: u64,
    /// `outputs.socket.multiple_sockets_to_ingester`: a TCP connection per message type (l4
    /// rows, l7 rows, metrics, the agent's own counters) instead of one for all.
    pub socket_per_type: bool,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        IngesterConfig {
            addr: None,
            port: 30033,
            wait_on_overflow: true,
            compress_l7: true,
            compress_l4: false,
            compress_app_log: true,
            max_bytes_per_s: None,
            stats_interval_s: 10,
            socket_per_type: false,
        }
    }
}

/// `global.self_monitoring` (of DeepFlow's keys there, `interval` is applied; the others are
/// named as not applied).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct SelfMonitoring {
    interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Communication {
    ingester_ip: Option<String>,
    ingester_port: Option<u16>,
    ingester_traffic_overflow_action: Option<String>,
    /// Mbps; 0 = no limit.
    max_throughput_to_ingester: Option<u64>,
}

/// `outputs.socket`: of DeepFlow's keys there, `multiple_sockets_to_ingester` is applied;
/// `data_socket_type` (tapflow sends over TCP) and `raw_udp_qos_bypass` are named as not applied.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Socket {
    multiple_sockets_to_ingester: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Compression {
    l7_flow_log: Option<bool>,
    l4_flow_log: Option<bool>,
    application_log: Option<bool>,
}

/// `host:port` of `host` (an IPv6 address gets brackets).
pub fn with_port(host: &str, port: u16) -> String {
    if host.parse::<std::net::SocketAddr>().is_ok() {
        return host.to_string();
    }
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host.to_string()
    } else {
        format!("{host}:{port}")
    }
}

impl Communication {
    pub(super) fn build(
        &self,
        c: &Compression,
        socket: &Socket,
        m: &SelfMonitoring,
    ) -> Result<IngesterConfig, ConfigError> {
        let d = IngesterConfig::default();
        let stats_interval_s = match &m.interval {
            None => d.stats_interval_s,
            Some(v) => {
                let key = "global.self_monitoring.interval";
                let ns = super::duration::parse_duration(v)
                    .map_err(|problem| ConfigError::Invalid { key, problem })?;
                if ns % 1_000_000_000 != 0 || !(1..=3600).contains(&(ns / 1_000_000_000)) {
                    return Err(ConfigError::Invalid {
                        key,
                        problem: format!("{v} is not a whole number of seconds in 1s..=3600s"),
                    });
                }
                ns / 1_000_000_000
            }
        };
        let port = self.ingester_port.unwrap_or(d.port);
        if port == 0 {
            return Err(ConfigError::Invalid {
                key: "global.communication.ingester_port",
                problem: "0 is not a port".into(),
            });
        }
        let wait = match self
            .ingester_traffic_overflow_action
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("WAIT") => true,
            Some("DROP") => false,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: "global.communication.ingester_traffic_overflow_action",
                    problem: format!("'{other}' is neither WAIT nor DROP"),
                })
            }
        };
        let max_bytes_per_s = match self.max_throughput_to_ingester {
            None | Some(0) => None,
            Some(mbps @ 1..=100_000) => Some(mbps * 1_000_000 / 8),
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: "global.communication.max_throughput_to_ingester",
                    problem: format!("{other} Mbps is not in 0..=100000 (0: no limit)"),
                })
            }
        };
        let host = self.ingester_ip.as_deref().map(str::trim).unwrap_or("");
        if host.contains(char::is_whitespace) || host.contains('/') {
            return Err(ConfigError::Invalid {
                key: "global.communication.ingester_ip",
                problem: format!("'{host}' is not an address or host name"),
            });
        }
        Ok(IngesterConfig {
            addr: (!host.is_empty()).then(|| with_port(host, port)),
            port,
            wait_on_overflow: wait,
            compress_l7: c.l7_flow_log.unwrap_or(d.compress_l7),
            compress_l4: c.l4_flow_log.unwrap_or(d.compress_l4),
            compress_app_log: c.application_log.unwrap_or(d.compress_app_log),
            max_bytes_per_s,
            stats_interval_s,
            socket_per_type: socket.multiple_sockets_to_ingester.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_monitoring_interval() {
        let interval = |v: &str| {
            crate::Config::from_yaml(&format!("global:\n  self_monitoring:\n    interval: {v}\n"))
                .map(|c| c.ingester.stats_interval_s)
        };
        assert_eq!(crate::Config::default().ingester.stats_interval_s, 10);
        assert_eq!(interval("10s").ok(), Some(10));
        assert_eq!(interval("1m").ok(), Some(60));
        assert_eq!(interval("1s").ok(), Some(1));
        for bad in ["0s", "500ms", "2h", "ten"] {
            assert!(interval(bad).is_err(), "{bad}");
        }
        // DeepFlow's other self_monitoring keys are accepted and named as not applied.
        let c = crate::Config::from_yaml(
            "global:\n  self_monitoring:\n    interval: 5s\n    log:\n      log_level: INFO\n",
        )
        .expect("config");
        assert_eq!(c.ingester.stats_interval_s, 5);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("self_monitoring (log)")),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn addresses_get_the_port() {
        assert_eq!(with_port("10.0.0.1", 30033), "10.0.0.1:30033");
        assert_eq!(with_port("10.0.0.1:20033", 30033), "10.0.0.1:20033");
        assert_eq!(with_port("::1", 30033), "[::1]:30033");
        assert_eq!(with_port("[::1]:5", 30033), "[::1]:5");
        assert_eq!(with_port("ingester.local", 1), "ingester.local:1");
    }
}
