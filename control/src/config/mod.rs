//! Configuration: YAML in DeepFlow v7's layout, parsed strictly (an unknown key is an error that
//! names its full path), then validated into [`Config`]. Only `Config` reaches the workers.
//!
//! Every key is documented in docs/configuration.md.

mod af_packet_fanout;
mod deepflow_v7;
mod dpdk;
mod duration;
mod ebpf;
pub mod example;
mod flow_log_filters;
mod flow_log_throttles;
mod flow_metrics;
mod ingester;
mod integration;
mod ipfix;
mod process_sync;
mod prometheus;
mod raw;
mod request_log;
mod request_log_fields;
mod tunnels;

use std::path::Path;

use tapflow_analyzer::config::{AnalyzerConfig, PortSet, TableFullPolicy, Timeouts};
use tapflow_analyzer::flow::FlowTable;
use tapflow_analyzer::mirror::{
    CaptureMode, DedupConfig, LocalMacs, MirrorConfig, TapTypeMap, VlanSource,
};
use tapflow_analyzer::wire::{DecodeConfig, TunnelSet, TunnelType};

pub use af_packet_fanout::{AfPacketFanout, MODE_NAMES as FANOUT_MODE_NAMES};
pub use dpdk::DpdkConfig;
pub use duration::parse_duration;
pub use ebpf::EbpfConfig;
pub use ingester::{with_port, IngesterConfig};
pub use integration::{ExtraLabels, IntegrationConfig};
pub use ipfix::IpfixConfig;
pub use process_sync::{MatchType, ProcessConfig, ProcessMatcher, GPROCESS_INFO};
pub use prometheus::PrometheusConfig;
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
    pub dpdk: DpdkConfig,
    pub analyzer: AnalyzerConfig,
    /// `global.limits.max_memory`, MiB.
    pub max_memory_mib: u64,
    pub file_output: FileOutput,
    /// `outputs.flow_metrics`.
    pub metrics: tapflow_analyzer::aggregate::MetricsConfig,
    /// `outputs.prometheus`.
    pub prometheus: prometheus::PrometheusConfig,
    /// `outputs.ipfix`.
    pub ipfix: ipfix::IpfixConfig,
    /// `inputs.integration`: the integration collector (traces, Prometheus, Telegraf).
    pub integration: IntegrationConfig,
    /// `outputs.flow_log.filters`: the l4 and l7 rows the log outputs keep.
    pub log_filters: crate::sink::LogFilters,
    /// `outputs.flow_log.throttles`: rows per second the log outputs keep at most.
    pub log_throttles: crate::sink::LogThrottles,
    /// `outputs.flow_log.aggregators.aggregate_health_check_l4_flow_log`: health-check probes'
    /// l4 rows merged per service and minute.
    pub aggregate_health_checks: bool,
    /// `global.communication.ingester_*`, `outputs.compression`: records to a DeepFlow ingester.
    pub ingester: IngesterConfig,
    /// `inputs.ebpf`: the syscall tracer.
    pub ebpf: EbpfConfig,
    /// `inputs.proc`: how the processes the tracer sees are named and tagged.
    pub process: ProcessConfig,
    /// `inputs.cbpf.af_packet.interface_regex` (validated), for live capture.
    pub interface_regex: Option<String>,
    /// `inputs.cbpf.af_packet.extra_bpf_filter` (legacy `capture_bpf`): the capture filter's
    /// tcpdump expression, compiled into `analyzer.capture_filter` by whoever runs the
    /// analyzer (libpcap is the dataplane's); None when empty.
    pub capture_filter: Option<String>,
    /// `inputs.cbpf.af_packet.tunning.ring_blocks` when it applies (`ring_blocks_enabled`, or
    /// capture mode 2): 1 MiB blocks in each AF_PACKET ring (None: tapflow's 64).
    pub af_packet_ring_blocks: Option<u32>,
    /// `inputs.cbpf.af_packet.tunning.packet_fanout_count` / `packet_fanout_mode` when they
    /// apply (capture mode 0, more than one socket).
    pub af_packet_fanout: Option<AfPacketFanout>,
    /// `inputs.cbpf.tunning.max_capture_pps` when it applies (set, capture mode 0 or 1): frames
    /// per second the live capture takes at most (None or 0: no limit). Hot.
    pub max_capture_pps: Option<u64>,
    /// Explicit interface list (`src_interfaces`, legacy `static_config.src-interfaces`), used
    /// only when no regex is set.
    pub src_interfaces: Vec<String>,
    /// Legacy `vtap_group_id`: the agent group to join (control plane).
    pub agent_group_id: Option<String>,
    /// Things the operator should know (legacy keys mapped, deprecated keys ignored).
    pub warnings: Vec<String>,
}

impl Config {
    /// What of the l4 and l7 rows the log outputs keep: the filters, then the throttles.
    pub fn log_policy(&self) -> crate::sink::LogPolicy {
        crate::sink::LogPolicy {
            filters: self.log_filters,
            throttles: self.log_throttles,
            aggregate_health_checks: self.aggregate_health_checks,
        }
    }
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
            metrics: Default::default(),
            prometheus: Default::default(),
            ipfix: Default::default(),
            integration: Default::default(),
            log_filters: Default::default(),
            log_throttles: Default::default(),
            aggregate_health_checks: true,
            ingester: Default::default(),
            ebpf: Default::default(),
            process: Default::default(),
            dpdk: DpdkConfig {
                mempool_mbufs: 16_384,
                burst: 64,
                ..DpdkConfig::default()
            },
            interface_regex: None,
            capture_filter: None,
            af_packet_ring_blocks: None,
            af_packet_fanout: None,
            max_capture_pps: None,
            src_interfaces: Vec::new(),
            agent_group_id: None,
            warnings: Vec::new(),
        })
    }
}

impl Config {
    /// The settings of `new` that need the dataplane restarted (capture set-up, memory, table
    /// sizes, capture mode); the others switch while running. `file_output` changes apply at
    /// the next start of the process (the output files stay open across restarts).
    pub fn restart_only_changes(&self, new: &Config) -> Vec<&'static str> {
        let mut v = self.analyzer.restart_only_changes(&new.analyzer);
        if new.interface_regex != self.interface_regex || new.src_interfaces != self.src_interfaces
        {
            v.push("inputs.cbpf.af_packet (interfaces)");
        }
        if new.max_memory_mib != self.max_memory_mib {
            v.push("global.limits.max_memory");
        }
        if new.dpdk != self.dpdk {
            v.push("inputs.cbpf.special_network.dpdk");
        }
        if new.af_packet_ring_blocks != self.af_packet_ring_blocks {
            v.push("inputs.cbpf.af_packet.tunning.ring_blocks");
        }
        if new.af_packet_fanout != self.af_packet_fanout {
            v.push("inputs.cbpf.af_packet.tunning.packet_fanout_count");
        }
        v
    }

    /// The output settings of `new` that differ from `self`'s and apply only at the next start
    /// of the process: the outputs (files, the metric aggregation, the Prometheus endpoint, the
    /// IPFIX exporter, the ingester's queue and compression) stay open across configurations
    /// and dataplane restarts. The flow log filters and throttles and the ingester's address,
    /// throughput limit and connections per type follow a running process, so they are not
    /// named.
    pub fn next_start_changes(&self, new: &Config) -> Vec<&'static str> {
        let mut v = Vec::new();
        if new.file_output != self.file_output {
            v.push("outputs.flow_log.file");
        }
        if new.metrics != self.metrics {
            v.push("outputs.flow_metrics");
        }
        if new.prometheus != self.prometheus {
            v.push("outputs.prometheus");
        }
        if new.ipfix != self.ipfix {
            v.push("outputs.ipfix");
        }
        if new.integration != self.integration {
            v.push("inputs.integration");
        }
        let (a, b) = (&self.ingester, &new.ingester);
        if (a.wait_on_overflow, a.compress_l4, a.compress_l7)
            != (b.wait_on_overflow, b.compress_l4, b.compress_l7)
        {
            v.push("ingester_traffic_overflow_action, outputs.compression");
        }
        v
    }

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
        if text.trim().is_empty() {
            return RawConfig::default().validate();
        }
        let de = serde_yaml::Deserializer::from_str(text);
        let first = serde_path_to_error::deserialize::<_, RawConfig>(de);
        let err = match first {
            Ok(raw) => return raw.validate(),
            Err(e) => e,
        };
        // Keys of DeepFlow's v7 template that tapflow does not model are taken out (and named in
        // one warning); any other error, or an unknown key DeepFlow does not have, stays.
        let Some(path) = unknown_key(&err) else {
            return Err(syntax_error(err));
        };
        if !deepflow_v7::covers(&path) {
            return Err(syntax_error(err));
        }
        let mut value: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        let mut not_applied = Vec::new();
        let mut path = path;
        loop {
            if !deepflow_v7::remove(&mut value, &path) {
                return Err(ConfigError::Syntax(format!("unknown key {path}")));
            }
            not_applied.push(path);
            match serde_path_to_error::deserialize::<_, RawConfig>(value.clone()) {
                Ok(raw) => {
                    let mut c = raw.validate()?;
                    c.warnings
                        .push(deepflow_v7::not_applied_warning(&not_applied));
                    return Ok(c);
                }
                Err(e) => match unknown_key(&e) {
                    Some(p) if deepflow_v7::covers(&p) => path = p,
                    _ => return Err(syntax_error(e)),
                },
            }
        }
    }
}

/// The key path of an unknown-key error.
fn unknown_key<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>) -> Option<String> {
    e.inner()
        .to_string()
        .contains("unknown field `")
        .then(|| e.path().to_string())
}

/// A deserialization error, an unknown key said plainly with its path.
fn syntax_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> ConfigError {
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
        None if path.is_empty() || path == "." => inner,
        // The YAML parser names the path of a nested value itself.
        None if inner.starts_with(&format!("{path}: ")) => inner,
        // A wrong type or value: with the key path it belongs to.
        None => format!("{path}: {inner}"),
    };
    ConfigError::Syntax(msg)
}

/// Merges a v7 key with its legacy spelling.
#[derive(Debug, Default)]
pub(super) struct Legacy {
    warnings: Vec<String>,
}

impl Legacy {
    pub(super) fn pick<T: PartialEq + std::fmt::Debug>(
        &mut self,
        new: Option<T>,
        new_key: &'static str,
        old: Option<T>,
        old_key: &str,
    ) -> Result<Option<T>, ConfigError> {
        match (new, old) {
            (Some(n), Some(o)) if n != o => Err(ConfigError::Invalid {
                key: new_key,
                problem: format!(
                    "is {n:?} but the legacy key {old_key} says {o:?}; keep one of them"
                ),
            }),
            (Some(n), _) => Ok(Some(n)),
            (None, Some(o)) => {
                self.warnings
                    .push(format!("legacy key {old_key} read as {new_key}"));
                Ok(Some(o))
            }
            (None, None) => Ok(None),
        }
    }
}

/// A validated interface-name pattern (`inputs.cbpf.af_packet.interface_regex`).
#[derive(Debug, Clone)]
pub struct InterfacePattern(regex::Regex);

impl InterfacePattern {
    pub fn new(re: &str) -> Result<Self, ConfigError> {
        regex::Regex::new(re)
            .map(InterfacePattern)
            .map_err(|e| ConfigError::Invalid {
                key: "inputs.cbpf.af_packet.interface_regex",
                problem: format!("not a valid regular expression: {e}"),
            })
    }

    pub fn is_match(&self, name: &str) -> bool {
        self.0.is_match(name)
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *m = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        let invalid = |key: &'static str, problem: String| ConfigError::Invalid { key, problem };
        let mut legacy = Legacy::default();
        // Before `static_config` is taken: the v6 flow log keys are read off `self`.
        let log_filters = self.outputs.flow_log.filters.build(&self, &mut legacy)?;
        let log_throttles = self.outputs.flow_log.throttles.build(&self, &mut legacy)?;
        let st = self.static_config.unwrap_or_default();
        let process = process_sync::build(&self.inputs.proc, &st, &mut legacy.warnings)?;
        let max_memory = legacy
            .pick(
                self.global.limits.max_memory,
                "global.limits.max_memory",
                self.max_memory,
                "max_memory",
            )?
            .unwrap_or(768);
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
        let trim_names = legacy
            .pick(
                self.inputs.cbpf.preprocess.tunnel_trim_protocols.clone(),
                "inputs.cbpf.preprocess.tunnel_trim_protocols",
                st.trim_tunnel_types,
                "static_config.trim-tunnel-types",
            )?
            .unwrap_or_else(|| vec!["ERSPAN".into(), "TEB".into()]);
        let mut trim = TunnelSet::EMPTY;
        for name in &trim_names {
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
        let decap = match legacy.pick(
            self.inputs.cbpf.preprocess.tunnel_decap_protocols.clone(),
            "inputs.cbpf.preprocess.tunnel_decap_protocols",
            self.decap_type.clone(),
            "decap_type",
        )? {
            None => TunnelSet::ALL,
            Some(list) => tunnels::decap_set(&list, &mut legacy.warnings)?,
        };
        let snap_len = legacy
            .pick(
                self.inputs.cbpf.tunning.max_capture_packet_size,
                "inputs.cbpf.tunning.max_capture_packet_size",
                self.capture_packet_size,
                "capture_packet_size",
            )?
            .unwrap_or(65_535);
        if !(128..=65_535).contains(&snap_len) {
            return Err(invalid(
                "inputs.cbpf.tunning.max_capture_packet_size",
                format!("{snap_len} is outside 128..=65535"),
            ));
        }
        // The largest value means whole frames (a loopback frame can be 64 KiB and more).
        let snap_len = if snap_len == 65_535 {
            u32::MAX
        } else {
            snap_len
        };
        let out = &self.outputs.flow_log.file;
        if out.rotate_size_mb == 0 {
            return Err(invalid(
                "outputs.flow_log.file.rotate_size_mb",
                "must be at least 1".into(),
            ));
        }
        let cbpf = &self.inputs.cbpf;
        let mode_n = legacy
            .pick(
                cbpf.common.capture_mode,
                "inputs.cbpf.common.capture_mode",
                self.tap_mode,
                "tap_mode",
            )?
            .unwrap_or(0);
        let mode = match CaptureMode::from_number(mode_n) {
            Some(m) => m,
            None if mode_n == 3 => {
                return Err(invalid(
                    "inputs.cbpf.common.capture_mode",
                    "3 (DECAP) is not a capture mode tapflow runs: use 2 (analyzer) for tunnelled mirror feeds, which are decapsulated anyway".into(),
                ))
            }
            None => {
                return Err(invalid(
                    "inputs.cbpf.common.capture_mode",
                    format!("{mode_n}: expected 0 (local), 1 (virtual mirror) or 2 (analyzer)"),
                ))
            }
        };
        let pcp = legacy
            .pick(
                cbpf.af_packet.vlan_pcp_in_physical_mirror_traffic,
                "inputs.cbpf.af_packet.vlan_pcp_in_physical_mirror_traffic",
                st.mirror_traffic_pcp,
                "static_config.mirror-traffic-pcp",
            )?
            .unwrap_or(0);
        let vlan_source = VlanSource::from_number(pcp).ok_or_else(|| {
            invalid(
                "inputs.cbpf.af_packet.vlan_pcp_in_physical_mirror_traffic",
                format!("{pcp}: expected 0-7 (outer VLAN when its PCP equals it), 8 (outer VLAN) or 9 (inner VLAN)"),
            )
        })?;
        let default_tap = legacy
            .pick(
                cbpf.physical_mirror.default_capture_network_type,
                "inputs.cbpf.physical_mirror.default_capture_network_type",
                st.default_tap_type,
                "static_config.default-tap-type",
            )?
            .unwrap_or(3);
        if default_tap == 0 {
            return Err(invalid(
                "inputs.cbpf.physical_mirror.default_capture_network_type",
                "0 is not a tap_type (1-255; 3 = Cloud)".into(),
            ));
        }
        let mut table = Vec::new();
        for e in &cbpf.physical_mirror.capture_network_types {
            if e.vlan > 4095 || e.capture_network_type == 0 {
                return Err(invalid(
                    "inputs.cbpf.physical_mirror.capture_network_types",
                    format!(
                        "vlan {} -> {}: VLAN must be 0-4095 and the tap_type 1-255",
                        e.vlan, e.capture_network_type
                    ),
                ));
            }
            table.push((e.vlan, e.capture_network_type));
        }
        let dedup_disabled = legacy
            .pick(
                cbpf.physical_mirror.packet_dedup_disabled,
                "inputs.cbpf.physical_mirror.packet_dedup_disabled",
                st.analyzer_dedup_disabled,
                "static_config.analyzer-dedup-disabled",
            )?
            .unwrap_or(false);
        let mut macs = Vec::new();
        for m in &cbpf.virtual_mirror.local_macs {
            macs.push(parse_mac(m).ok_or_else(|| {
                invalid(
                    "inputs.cbpf.virtual_mirror.local_macs",
                    format!("'{m}' is not a MAC address (aa:bb:cc:dd:ee:ff)"),
                )
            })?);
        }
        if mode == CaptureMode::VirtualMirror && macs.is_empty() {
            legacy.warnings.push(
                "capture_mode 1 (virtual mirror) without inputs.cbpf.virtual_mirror.local_macs: every flow is keyed by the capture interface".into(),
            );
        }
        let interface_regex = legacy.pick(
            cbpf.af_packet.interface_regex.clone(),
            "inputs.cbpf.af_packet.interface_regex",
            self.tap_interface_regex,
            "tap_interface_regex",
        )?;
        if let Some(re) = &interface_regex {
            regex::Regex::new(re).map_err(|e| {
                invalid(
                    "inputs.cbpf.af_packet.interface_regex",
                    format!("not a valid regular expression: {e}"),
                )
            })?;
        }
        let capture_filter = legacy
            .pick(
                cbpf.af_packet.extra_bpf_filter.clone(),
                "inputs.cbpf.af_packet.extra_bpf_filter",
                self.capture_bpf,
                "capture_bpf",
            )?
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty());
        let af_packet_ring_blocks = cbpf
            .af_packet
            .tunning
            .ring_blocks(mode, &mut legacy.warnings)?;
        let af_packet_fanout = af_packet_fanout::fanout(
            cbpf.af_packet.tunning.packet_fanout_count,
            cbpf.af_packet.tunning.packet_fanout_mode,
            mode,
            &mut legacy.warnings,
        )?;
        let max_capture_pps = cbpf.tunning.max_capture_pps(mode, &mut legacy.warnings)?;
        let src_interfaces = legacy
            .pick(
                cbpf.af_packet.src_interfaces.clone(),
                "inputs.cbpf.af_packet.src_interfaces",
                st.src_interfaces.clone(),
                "static_config.src-interfaces",
            )?
            .unwrap_or_default();
        if !src_interfaces.is_empty() {
            legacy.warnings.push(if interface_regex.is_some() {
                format!(
                    "src_interfaces ({}) is deprecated and ignored, as in DeepFlow: interfaces come from inputs.cbpf.af_packet.interface_regex",
                    src_interfaces.join(", ")
                )
            } else {
                format!(
                    "src_interfaces ({}) is deprecated (DeepFlow ignores it); tapflow captures on these interfaces because no interface_regex is set",
                    src_interfaces.join(", ")
                )
            });
        }
        let dpdk = cbpf.special_network.dpdk.build()?;
        let mirror = MirrorConfig {
            mode,
            tap_types: TapTypeMap::new(vlan_source, default_tap, &table),
            local_macs: LocalMacs::new(macs),
            dedup: DedupConfig {
                disabled: dedup_disabled,
                ignore_ttl: cbpf.physical_mirror.packet_dedup_ignore_ttl,
                ..DedupConfig::default()
            },
        };
        let l7 = self
            .processors
            .request_log
            .to_config(&mut legacy.warnings)?;
        let mut analyzer = AnalyzerConfig {
            decode: DecodeConfig {
                trim,
                decap,
                snap_len,
                ..DecodeConfig::default()
            },
            timeouts,
            flow_capacity: limit,
            on_table_full,
            server_ports,
            worker_id: 0,
            mirror,
            l7: tapflow_analyzer::l7::L7Config {
                // Every flow may be an L7 flow (state is small; hold buffers are pooled).
                flow_capacity: limit,
                ..l7
            },
            report_period_ns: 60_000_000_000,
            capture_filter: None,
        };
        // Everything a worker reserves must fit the budget: flow table and L7 tables.
        let l7_bytes = tapflow_analyzer::l7::L7Tracker::memory_bytes(&analyzer.l7);
        if table_bytes + l7_bytes > max_memory * MIB {
            return Err(invalid(
                "global.limits.max_memory",
                format!(
                    "{max_memory} MiB is less than the flow table ({} MiB) and L7 tables ({} MiB) \
                     need; raise max_memory or lower concurrent_flow_limit / \
                     processors.request_log.tunning",
                    table_bytes.div_ceil(MIB),
                    l7_bytes.div_ceil(MIB)
                ),
            ));
        }
        let mut metrics = self.outputs.flow_metrics.build(
            (max_memory * MIB).saturating_sub(table_bytes + l7_bytes),
            &mut legacy.warnings,
        )?;
        metrics.consistent_l7_time = self.processors.request_log.consistent_l7_time();
        if metrics.enabled && metrics.second {
            // Live flows report every second; the output stage merges them back into minutes.
            analyzer.report_period_ns = 1_000_000_000;
        }
        let prometheus = self.outputs.prometheus.build()?;
        let ipfix = self.outputs.ipfix.build()?;
        let integration = self.inputs.integration.build(&mut legacy.warnings)?;
        let ingester = self.global.communication.build(
            &self.outputs.compression,
            &self.outputs.socket,
            &self.global.self_monitoring,
        )?;
        let ebpf = self.inputs.ebpf.build()?;
        Ok(Config {
            ebpf,
            process,
            analyzer,
            metrics,
            prometheus,
            ipfix,
            integration,
            log_filters,
            log_throttles,
            aggregate_health_checks: self
                .outputs
                .flow_log
                .aggregators
                .aggregate_health_check_l4_flow_log,
            ingester,
            max_memory_mib: max_memory,
            file_output: FileOutput {
                rotate_bytes: out.rotate_size_mb * MIB,
                keep_files: out.keep_files,
            },
            src_interfaces: if interface_regex.is_some() {
                Vec::new()
            } else {
                src_interfaces
            },
            dpdk,
            interface_regex,
            capture_filter,
            af_packet_ring_blocks,
            af_packet_fanout,
            max_capture_pps,
            agent_group_id: self.vtap_group_id,
            warnings: legacy.warnings,
        })
    }
}

#[cfg(test)]
mod capture_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tracer_tests;
