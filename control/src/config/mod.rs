//! Configuration: YAML in DeepFlow v7's layout, parsed strictly (an unknown key is an error that
//! names its full path), then validated into [`Config`]. Only `Config` reaches the workers.
//!
//! Every key is documented in docs/configuration.md.

mod duration;
mod raw;

use std::path::Path;

use tapflow_analyzer::config::{AnalyzerConfig, PortSet, TableFullPolicy, Timeouts};
use tapflow_analyzer::flow::FlowTable;
use tapflow_analyzer::wire::{DecodeConfig, TunnelSet, TunnelType};

pub use duration::parse_duration;
use raw::RawConfig;

const MIB: u64 = 1024 * 1024;

/// A configuration problem, written for the operator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config: {0}")]
    Syntax(String),
    #[error("config key {key}: {problem}")]
    Invalid { key: &'static str, problem: String },
}

/// Output settings for the JSON lines files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutput {
    /// Rotate a file when it would exceed this many bytes.
    pub rotate_bytes: u64,
    /// Rotated files kept per record type (older ones are deleted).
    pub keep_files: u32,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub analyzer: AnalyzerConfig,
    /// `global.limits.max_memory`, MiB.
    pub max_memory_mib: u64,
    pub file_output: FileOutput,
}

impl Default for Config {
    fn default() -> Self {
        Config::from_yaml("{}").unwrap_or_else(|_| Config {
            analyzer: AnalyzerConfig::default(),
            max_memory_mib: 768,
            file_output: FileOutput {
                rotate_bytes: 256 * MIB,
                keep_files: 8,
            },
        })
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_yaml(&text)
    }

    /// Parses and validates YAML text (an empty document means all defaults).
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            let de = serde_yaml::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner().to_string();
                // The path already ends with the unknown field; say it plainly.
                let msg = match inner.find("unknown field `") {
                    Some(i) => {
                        let rest = &inner[i..];
                        let at = rest.find(" at line ").map(|j| &rest[j + 1..]).unwrap_or("");
                        let expected = rest.find("expected ").map(|j| {
                            let e = &rest[j..];
                            e.split(" at line ").next().unwrap_or(e)
                        });
                        match expected {
                            Some(x) => format!("unknown key {path} {at} ({x})"),
                            None => format!("unknown key {path} {at}"),
                        }
                    }
                    None => inner,
                };
                ConfigError::Syntax(msg)
            })?
        };
        raw.validate()
    }
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        let invalid = |key: &'static str, problem: String| ConfigError::Invalid { key, problem };
        let max_memory = self.global.limits.max_memory;
        if !(64..=1_048_576).contains(&max_memory) {
            return Err(invalid(
                "global.limits.max_memory",
                format!("{max_memory} MiB is outside 64..=1048576"),
            ));
        }
        let t = &self.processors.flow_log.conntrack.timeouts;
        let secs = |key: &'static str, v: &str, min_ms: u64| -> Result<u64, ConfigError> {
            let ns = parse_duration(v).map_err(|p| invalid(key, p))?;
            if ns < min_ms * 1_000_000 || ns > 24 * 3600 * 1_000_000_000 {
                return Err(invalid(
                    key,
                    format!("{v} must be between {min_ms} ms and 24 h"),
                ));
            }
            Ok(ns)
        };
        let timeouts = Timeouts {
            established_ns: secs(
                "processors.flow_log.conntrack.timeouts.established",
                &t.established,
                1000,
            )?,
            closing_rst_ns: secs(
                "processors.flow_log.conntrack.timeouts.closing_rst",
                &t.closing_rst,
                100,
            )?,
            opening_rst_ns: secs(
                "processors.flow_log.conntrack.timeouts.opening_rst",
                &t.opening_rst,
                100,
            )?,
            others_ns: secs(
                "processors.flow_log.conntrack.timeouts.others",
                &t.others,
                100,
            )?,
            closed_fin_ns: secs(
                "processors.flow_log.conntrack.timeouts.closed_fin",
                &t.closed_fin,
                100,
            )?,
        };
        let tun = &self.processors.flow_log.tunning;
        let limit = tun.concurrent_flow_limit;
        if !(1..=64 * 1024 * 1024).contains(&limit) {
            return Err(invalid(
                "processors.flow_log.tunning.concurrent_flow_limit",
                format!("{limit} is outside 1..=67108864"),
            ));
        }
        let table_bytes = u64::from(limit) * FlowTable::bytes_per_flow() as u64;
        if table_bytes > max_memory * MIB {
            return Err(invalid(
                "processors.flow_log.tunning.concurrent_flow_limit",
                format!(
                    "{limit} flows need about {} MiB of flow table, more than global.limits.max_memory ({max_memory} MiB); raise max_memory or lower the limit",
                    table_bytes.div_ceil(MIB)
                ),
            ));
        }
        let on_table_full = match tun.flow_table_full_action.as_str() {
            "refuse" => TableFullPolicy::Refuse,
            "evict_oldest" => TableFullPolicy::EvictOldest,
            other => {
                return Err(invalid(
                    "processors.flow_log.tunning.flow_table_full_action",
                    format!("'{other}': expected refuse or evict_oldest"),
                ))
            }
        };
        let mut server_ports = PortSet::new();
        for p in &self
            .processors
            .flow_log
            .conntrack
            .flow_generation
            .server_ports
        {
            if *p == 0 {
                return Err(invalid(
                    "processors.flow_log.conntrack.flow_generation.server_ports",
                    "port 0 is not a port".into(),
                ));
            }
            server_ports.insert(*p);
        }
        let mut trim = TunnelSet::EMPTY;
        for name in &self.inputs.cbpf.preprocess.tunnel_trim_protocols {
            let t = TunnelType::from_name(name).ok_or_else(|| {
                invalid(
                    "inputs.cbpf.preprocess.tunnel_trim_protocols",
                    format!(
                        "unknown tunnel '{name}': expected VXLAN, IPIP, GRE, GENEVE, ERSPAN or TEB"
                    ),
                )
            })?;
            trim = trim.with(t);
        }
        let out = &self.outputs.flow_log.file;
        if out.rotate_size_mb == 0 {
            return Err(invalid(
                "outputs.flow_log.file.rotate_size_mb",
                "must be at least 1".into(),
            ));
        }
        let analyzer = AnalyzerConfig {
            decode: DecodeConfig {
                trim,
                ..DecodeConfig::default()
            },
            timeouts,
            flow_capacity: limit,
            on_table_full,
            server_ports,
            worker_id: 0,
            tap_type: 3,
        };
        Ok(Config {
            analyzer,
            max_memory_mib: max_memory,
            file_output: FileOutput {
                rotate_bytes: out.rotate_size_mb * MIB,
                keep_files: out.keep_files,
            },
        })
    }
}

#[cfg(test)]
mod tests;
