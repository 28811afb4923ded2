//! `inputs.cbpf.special_network.dpdk`: DeepFlow's `source` (only `None` here: tapflow's DPDK
//! engine polls the ports itself) and tapflow's EAL arguments, ports, mempool and burst.

use serde::Deserialize;

use super::ConfigError;

/// DPDK engine settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DpdkConfig {
    pub eal_args: Vec<String>,
    pub ports: Vec<String>,
    pub mempool_mbufs: u32,
    pub burst: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDpdk {
    /// DeepFlow: None / eBPF / pDump. tapflow polls ports itself: only None is accepted.
    source: String,
    /// tapflow: EAL arguments, e.g. ["-l", "0-1", "--allow", "0000:01:00.0"].
    eal_args: Vec<String>,
    /// tapflow: ports to capture (PCI addresses or vdev names).
    ports: Vec<String>,
    /// tapflow: mbufs in the rx mempool.
    mempool_mbufs: u32,
    /// tapflow: packets per rx burst.
    burst: u16,
}

impl Default for RawDpdk {
    fn default() -> Self {
        RawDpdk {
            source: "None".into(),
            eal_args: Vec::new(),
            ports: Vec::new(),
            mempool_mbufs: 16_384,
            burst: 64,
        }
    }
}

fn invalid(key: &'static str, problem: String) -> ConfigError {
    ConfigError::Invalid { key, problem }
}

impl RawDpdk {
    pub(super) fn build(&self) -> Result<DpdkConfig, ConfigError> {
        if !self.source.eq_ignore_ascii_case("none") {
            return Err(invalid(
                "inputs.cbpf.special_network.dpdk.source",
                format!("'{}': tapflow's DPDK engine polls the ports itself (--engine dpdk); pdump and eBPF sources are not used", self.source),
            ));
        }
        if !(1024..=16_777_216).contains(&self.mempool_mbufs) {
            return Err(invalid(
                "inputs.cbpf.special_network.dpdk.mempool_mbufs",
                format!("{} is outside 1024..=16777216", self.mempool_mbufs),
            ));
        }
        if !(1..=64).contains(&self.burst) {
            return Err(invalid(
                "inputs.cbpf.special_network.dpdk.burst",
                format!("{} is outside 1..=64", self.burst),
            ));
        }
        for p in &self.ports {
            let pci = p.len() == 12
                && p.as_bytes()[4] == b':'
                && p.as_bytes()[7] == b':'
                && p.as_bytes()[10] == b'.';
            if !(pci || p.starts_with("net_")) {
                return Err(invalid(
                    "inputs.cbpf.special_network.dpdk.ports",
                    format!("'{p}' is neither a PCI address (0000:01:00.0) nor a vdev name (net_pcap0, net_af_packet0, ...)"),
                ));
            }
        }
        Ok(DpdkConfig {
            eal_args: self.eal_args.clone(),
            ports: self.ports.clone(),
            mempool_mbufs: self.mempool_mbufs,
            burst: self.burst,
        })
    }
}
