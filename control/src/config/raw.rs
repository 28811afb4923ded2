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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Global {
    pub(super) limits: Limits,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Limits {
    /// MiB.
    pub(super) max_memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_memory: 768 }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Inputs {
    pub(super) cbpf: Cbpf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Cbpf {
    pub(super) preprocess: Preprocess,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Preprocess {
    pub(super) tunnel_trim_protocols: Vec<String>,
}

impl Default for Preprocess {
    fn default() -> Self {
        Preprocess {
            tunnel_trim_protocols: vec!["ERSPAN".into(), "TEB".into()],
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Processors {
    pub(super) flow_log: FlowLog,
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FlowLogOutput {
    pub(super) file: FileSink,
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
