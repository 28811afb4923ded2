//! The YAML shape, as written by users: DeepFlow v7 key names, every section optional, unknown
//! keys rejected.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    pub(super) global: Global,
    pub(super) inputs: Inputs,
    pub(super) processors: Processors,
    pub(super) outputs: Outputs,
    // Legacy agent-group keys (DeepFlow <= v6.5 layout), mapped to the keys above with a warning.
    pub(super) tap_mode: Option<u8>,
    pub(super) max_memory: Option<u64>,
    pub(super) tap_interface_regex: Option<String>,
    pub(super) capture_bpf: Option<String>,
    pub(super) capture_packet_size: Option<u32>,
    pub(super) decap_type: Option<Vec<TunnelName>>,
    pub(super) vtap_group_id: Option<String>,
    pub(super) static_config: Option<LegacyStatic>,
    // DeepFlow v6's flow log keys, read as their `outputs.flow_log` equivalents.
    pub(super) l4_log_tap_types: Option<Vec<i64>>,
    pub(super) l7_log_store_tap_types: Option<Vec<i64>>,
    pub(super) l4_log_ignore_tap_sides: Option<Vec<i64>>,
    pub(super) l7_log_ignore_tap_sides: Option<Vec<i64>>,
    pub(super) l4_log_collect_nps_threshold: Option<u64>,
    pub(super) l7_log_collect_nps_threshold: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub(super) struct LegacyStatic {
    pub(super) src_interfaces: Option<Vec<String>>,
    pub(super) mirror_traffic_pcp: Option<u8>,
    pub(super) default_tap_type: Option<u8>,
    pub(super) analyzer_dedup_disabled: Option<bool>,
    pub(super) trim_tunnel_types: Option<Vec<String>>,
    // Process sync (validated, not applied: see process_sync.rs).
    pub(super) os_proc_sync_enabled: Option<bool>,
    pub(super) os_proc_sync_tagged_only: Option<bool>,
    pub(super) os_proc_root: Option<String>,
    pub(super) os_proc_socket_sync_interval: Option<u32>,
    pub(super) os_proc_socket_min_lifetime: Option<u32>,
    pub(super) os_proc_regex: Option<Vec<super::process_sync::ProcRegex>>,
    pub(super) os_app_tag_exec_user: Option<String>,
    pub(super) os_app_tag_exec: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Global {
    pub(super) limits: Limits,
    pub(super) communication: super::ingester::Communication,
    pub(super) self_monitoring: super::ingester::SelfMonitoring,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Limits {
    /// MiB (default 768).
    pub(super) max_memory: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Inputs {
    pub(super) cbpf: Cbpf,
    pub(super) ebpf: super::ebpf::RawEbpf,
    pub(super) proc: super::process_sync::RawProc,
    pub(super) integration: super::integration::RawIntegration,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Cbpf {
    pub(super) common: CbpfCommon,
    pub(super) tunning: CbpfTunning,
    pub(super) special_network: SpecialNetwork,
    pub(super) af_packet: AfPacket,
    pub(super) preprocess: Preprocess,
    pub(super) physical_mirror: PhysicalMirror,
    pub(super) virtual_mirror: VirtualMirror,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct CbpfTunning {
    /// Bytes of a frame captured and decoded at most (128..=65535, default 65535).
    pub(super) max_capture_packet_size: Option<u32>,
    /// Frames per second the live capture takes at most (DeepFlow's leaky bucket).
    max_capture_pps: Option<u64>,
}

impl CbpfTunning {
    /// The live capture's frame rate limit when `max_capture_pps` applies: set (tapflow's
    /// default is no limit, where DeepFlow's is 1048576) and outside capture mode 2 (DeepFlow
    /// ignores it in analyzer mode; a warning says so). Some(0) is no limit.
    pub(super) fn max_capture_pps(
        &self,
        mode: tapflow_analyzer::mirror::CaptureMode,
        warnings: &mut Vec<String>,
    ) -> Result<Option<u64>, super::ConfigError> {
        const KEY: &str = "inputs.cbpf.tunning.max_capture_pps";
        match self.max_capture_pps {
            Some(n) if n > 1_000_000_000 => Err(super::ConfigError::Invalid {
                key: KEY,
                problem: format!("{n} is above 1000000000 frames per second"),
            }),
            Some(_) if mode == tapflow_analyzer::mirror::CaptureMode::Analyzer => {
                warnings.push(format!(
                    "{KEY} does not apply in capture_mode 2 (analyzer), as in DeepFlow"
                ));
                Ok(None)
            }
            other => Ok(other),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct SpecialNetwork {
    pub(super) dpdk: super::dpdk::RawDpdk,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct CbpfCommon {
    /// 0 local, 1 virtual mirror, 2 analyzer (default 0).
    pub(super) capture_mode: Option<u8>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct AfPacket {
    pub(super) interface_regex: Option<String>,
    /// Deprecated in DeepFlow (ignored with a warning).
    pub(super) src_interfaces: Option<Vec<String>>,
    /// 0-7 outer VLAN if its PCP equals the value, 8 outer, 9 inner (default 0).
    pub(super) vlan_pcp_in_physical_mirror_traffic: Option<u8>,
    /// A tcpdump filter expression: frames it does not select are dropped (counted).
    pub(super) extra_bpf_filter: Option<String>,
    pub(super) tunning: AfPacketTunning,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct AfPacketTunning {
    /// DeepFlow: `ring_blocks` applies outside capture mode 2 only when this is on.
    ring_blocks_enabled: Option<bool>,
    /// Blocks of 1 MiB in each AF_PACKET ring.
    ring_blocks: Option<u32>,
    /// AF_PACKET sockets per interface (PACKET_FANOUT), capture mode 0.
    pub(super) packet_fanout_count: Option<u32>,
    /// Their fanout mode (0 hash .. 7 ebpf).
    pub(super) packet_fanout_mode: Option<u32>,
}

impl AfPacketTunning {
    /// The blocks of each AF_PACKET ring when `ring_blocks` applies (DeepFlow's rule:
    /// `ring_blocks_enabled`, or capture mode 2; otherwise a warning says it does not).
    pub(super) fn ring_blocks(
        &self,
        mode: tapflow_analyzer::mirror::CaptureMode,
        warnings: &mut Vec<String>,
    ) -> Result<Option<u32>, super::ConfigError> {
        const KEY: &str = "inputs.cbpf.af_packet.tunning.ring_blocks";
        match self.ring_blocks {
            Some(n) if !(2..=65_536).contains(&n) => Err(super::ConfigError::Invalid {
                key: KEY,
                problem: format!("{n} is outside 2..=65536"),
            }),
            Some(n)
                if self.ring_blocks_enabled == Some(true)
                    || mode == tapflow_analyzer::mirror::CaptureMode::Analyzer =>
            {
                Ok(Some(n))
            }
            Some(_) => {
                warnings.push(format!(
                    "{KEY} applies with ring_blocks_enabled: true or capture_mode 2 (DeepFlow's rule); the rings keep 64 blocks"
                ));
                Ok(None)
            }
            None => Ok(None),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct PhysicalMirror {
    /// tap_type of untagged and unmapped traffic (default 3, Cloud).
    pub(super) default_capture_network_type: Option<u8>,
    pub(super) packet_dedup_disabled: Option<bool>,
    /// tapflow: ignore TTL / hop limit in the de-dup key (copies from both sides of a router).
    pub(super) packet_dedup_ignore_ttl: bool,
    /// tapflow: VLAN -> tap_type (DeepFlow receives this table from its controller).
    pub(super) capture_network_types: Vec<VlanTapType>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VlanTapType {
    pub(super) vlan: u16,
    pub(super) capture_network_type: u8,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct VirtualMirror {
    /// tapflow: MACs of local VMs / pods (DeepFlow receives them as local_segments).
    pub(super) local_macs: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Preprocess {
    /// Default [ERSPAN, TEB].
    pub(super) tunnel_trim_protocols: Option<Vec<String>>,
    /// Default: every tunnel tapflow reads.
    pub(super) tunnel_decap_protocols: Option<Vec<TunnelName>>,
}

/// A tunnel as DeepFlow numbers it (`TunnelType`: 1 VXLAN, 2 IPIP, 3 GRE, 4 Geneve, 6 ERSPAN,
/// 7 TEB) or by name.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub(super) enum TunnelName {
    Number(u8),
    Name(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Processors {
    pub(super) flow_log: FlowLog,
    /// DeepFlow's L7 request-log settings.
    pub(super) request_log: super::request_log::RequestLog,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FlowLog {
    pub(super) conntrack: Conntrack,
    pub(super) tunning: FlowTunning,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Conntrack {
    pub(super) flow_generation: FlowGeneration,
    pub(super) timeouts: RawTimeouts,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FlowGeneration {
    pub(super) server_ports: Vec<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTimeouts {
    pub(super) established: String,
    pub(super) closing_rst: String,
    pub(super) opening_rst: String,
    pub(super) others: String,
    /// Not configurable in DeepFlow (2 s hard-coded); a tapflow addition.
    pub(super) closed_fin: String,
}

impl Default for RawTimeouts {
    fn default() -> Self {
        RawTimeouts {
            established: "300s".into(),
            closing_rst: "35s".into(),
            opening_rst: "1s".into(),
            others: "5s".into(),
            closed_fin: "2s".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FlowTunning {
    pub(super) concurrent_flow_limit: u32,
    /// tapflow addition: refuse (DeepFlow's behaviour) or evict_oldest.
    pub(super) flow_table_full_action: String,
}

impl Default for FlowTunning {
    fn default() -> Self {
        FlowTunning {
            concurrent_flow_limit: 65_535,
            flow_table_full_action: "refuse".into(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Outputs {
    pub(super) flow_log: FlowLogOutput,
    pub(super) flow_metrics: super::flow_metrics::FlowMetricsOutput,
    pub(super) prometheus: super::prometheus::PrometheusOutput,
    pub(super) ipfix: super::ipfix::IpfixOutput,
    pub(super) compression: super::ingester::Compression,
    pub(super) socket: super::ingester::Socket,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FlowLogOutput {
    pub(super) file: FileSink,
    pub(super) filters: super::flow_log_filters::FlowLogFilters,
    pub(super) throttles: super::flow_log_throttles::FlowLogThrottles,
    pub(super) aggregators: FlowLogAggregators,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FlowLogAggregators {
    pub(super) aggregate_health_check_l4_flow_log: bool,
}

impl Default for FlowLogAggregators {
    /// DeepFlow's default: probes merged.
    fn default() -> Self {
        FlowLogAggregators {
            aggregate_health_check_l4_flow_log: true,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FileSink {
    pub(super) rotate_size_mb: u64,
    pub(super) keep_files: u32,
}

impl Default for FileSink {
    fn default() -> Self {
        FileSink {
            rotate_size_mb: 256,
            keep_files: 8,
        }
    }
}
