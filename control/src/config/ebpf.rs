//! The syscall tracer's settings from DeepFlow's `inputs.ebpf` keys that tapflow applies:
//! `disabled`, `socket.uprobe.tls.enabled`, `socket.kprobe.whitelist.ports` and
//! `blacklist.ports`, `socket.tunning.syscall_trace_id_disabled` and `max_capture_rate`, and
//! `tunning.max_socket_entries`, `socket.uprobe.golang.enabled`, and tapflow's
//! `socket.uprobe.tls.libssl_paths`. DeepFlow's other
//! `inputs.ebpf` keys are accepted and named as not applied.

use serde::Deserialize;
use tapflow_analyzer::syscall::{SocketPorts, DATA_SYSCALLS};

use super::ConfigError;

/// What the config says about the syscall tracer (`tapflow trace`, `tapflow run --ebpf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EbpfConfig {
    /// `inputs.ebpf.disabled`: the tracer refuses to start.
    pub disabled: bool,
    /// `inputs.ebpf.socket.uprobe.tls.enabled` when the file sets it (None: tapflow's default,
    /// the OpenSSL uprobes are on; DeepFlow's agent defaults to off).
    pub tls_uprobes: Option<bool>,
    /// `inputs.ebpf.socket.tunning.syscall_trace_id_disabled`: rows carry no syscall trace ids.
    pub syscall_trace_id_disabled: bool,
    /// `inputs.ebpf.tunning.max_socket_entries`: sockets followed at once.
    pub max_socket_entries: u32,
    /// `inputs.ebpf.socket.kprobe.whitelist.ports` / `blacklist.ports`: the sockets traced by
    /// their ports (the blacklist wins; DeepFlow's kernel bitmaps, applied to every event).
    pub ports: SocketPorts,
    /// `inputs.ebpf.socket.tunning.max_capture_rate`: data events taken per second (0: all).
    pub max_capture_rate: u64,
    /// `inputs.ebpf.socket.tunning.hooked_socket_syscalls`: the data syscalls hooked.
    pub hooked_syscalls: Vec<String>,
    /// tapflow: `inputs.ebpf.socket.uprobe.tls.libssl_paths`, OpenSSL libraries to probe besides
    /// the system's and those processes have mapped.
    pub libssl_paths: Vec<String>,
    /// `inputs.ebpf.socket.kprobe.enable_unix_socket`: unix stream sockets are traced too.
    pub unix_sockets: bool,
    /// `inputs.ebpf.socket.uprobe.golang.enabled`: Go programs' crypto/tls is probed (the
    /// executables of running Go processes; off by default, as in DeepFlow).
    pub go_tls: bool,
}

impl Default for EbpfConfig {
    fn default() -> Self {
        EbpfConfig {
            disabled: false,
            tls_uprobes: None,
            syscall_trace_id_disabled: false,
            max_socket_entries: 131_072,
            ports: SocketPorts::default(),
            max_capture_rate: 0,
            hooked_syscalls: DATA_SYSCALLS.iter().map(|s| s.to_string()).collect(),
            libssl_paths: Vec::new(),
            unix_sockets: false,
            go_tls: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawEbpf {
    disabled: Option<bool>,
    socket: RawSocket,
    tunning: RawTunning,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSocket {
    uprobe: RawUprobe,
    kprobe: RawKprobe,
    tunning: RawSocketTunning,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawKprobe {
    whitelist: RawPorts,
    blacklist: RawPorts,
    enable_unix_socket: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPorts {
    /// `80,443,8000-8999`; empty: no list.
    ports: Option<String>,
}

impl RawPorts {
    fn set(
        &self,
        key: &'static str,
    ) -> Result<Option<tapflow_analyzer::config::PortSet>, ConfigError> {
        let Some(s) = self.ports.as_deref().filter(|s| !s.trim().is_empty()) else {
            return Ok(None);
        };
        super::request_log::parse_ports(s)
            .map(Some)
            .map_err(|problem| ConfigError::Invalid { key, problem })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawUprobe {
    tls: RawTls,
    golang: RawGolang,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawGolang {
    enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTls {
    enabled: Option<bool>,
    libssl_paths: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSocketTunning {
    syscall_trace_id_disabled: Option<bool>,
    max_capture_rate: Option<u64>,
    hooked_socket_syscalls: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTunning {
    max_socket_entries: Option<u32>,
}

/// DeepFlow's range of `max_socket_entries`.
const SOCKET_ENTRIES: std::ops::RangeInclusive<u32> = 10_000..=2_000_000;

impl RawEbpf {
    pub(super) fn build(&self) -> Result<EbpfConfig, ConfigError> {
        let d = EbpfConfig::default();
        let max = self
            .tunning
            .max_socket_entries
            .unwrap_or(d.max_socket_entries);
        if !SOCKET_ENTRIES.contains(&max) {
            return Err(ConfigError::Invalid {
                key: "inputs.ebpf.tunning.max_socket_entries",
                problem: format!("{max} is outside 10000..=2000000"),
            });
        }
        let rate = self.socket.tunning.max_capture_rate.unwrap_or(0);
        if rate > 64_000_000 {
            return Err(ConfigError::Invalid {
                key: "inputs.ebpf.socket.tunning.max_capture_rate",
                problem: format!("{rate} is outside 0..=64000000"),
            });
        }
        let hooked = match &self.socket.tunning.hooked_socket_syscalls {
            None => d.hooked_syscalls.clone(),
            Some(list) => {
                if let Some(bad) = list.iter().find(|s| !DATA_SYSCALLS.contains(&s.as_str())) {
                    return Err(ConfigError::Invalid {
                        key: "inputs.ebpf.socket.tunning.hooked_socket_syscalls",
                        problem: format!("'{bad}' is not one of {}", DATA_SYSCALLS.join(", ")),
                    });
                }
                list.clone()
            }
        };
        Ok(EbpfConfig {
            disabled: self.disabled.unwrap_or(d.disabled),
            max_capture_rate: rate,
            hooked_syscalls: hooked,
            tls_uprobes: self.socket.uprobe.tls.enabled,
            syscall_trace_id_disabled: self
                .socket
                .tunning
                .syscall_trace_id_disabled
                .unwrap_or(d.syscall_trace_id_disabled),
            max_socket_entries: max,
            ports: SocketPorts {
                allow: self
                    .socket
                    .kprobe
                    .whitelist
                    .set("inputs.ebpf.socket.kprobe.whitelist.ports")?,
                deny: self
                    .socket
                    .kprobe
                    .blacklist
                    .set("inputs.ebpf.socket.kprobe.blacklist.ports")?,
            },
            libssl_paths: self
                .socket
                .uprobe
                .tls
                .libssl_paths
                .clone()
                .unwrap_or_default(),
            unix_sockets: self.socket.kprobe.enable_unix_socket.unwrap_or(false),
            go_tls: self.socket.uprobe.golang.enabled.unwrap_or(false),
        })
    }
}
