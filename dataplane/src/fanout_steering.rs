//! The AF_PACKET fanout steering program (`tapflow_xdp_prog::fanout`, PACKET_FANOUT_EBPF,
//! DeepFlow's `packet_fanout_mode` 7): loaded once per run, configured with the tunnels the
//! analyzer peels, and handed to each interface's fanout group (`RingConfig::fanout_program`).
//! The kernel keeps the program while a group uses it.

use std::os::fd::{AsFd, AsRawFd, RawFd};

use libbpf_rs::{MapCore, MapFlags, Object, ObjectBuilder};
use tapflow_analyzer::wire::{DecodeConfig, TunnelType};
use tapflow_xdp_prog::fanout::{self as contract, kind, Config};

/// The loaded program.
pub struct FanoutSteering {
    obj: Object,
}

impl std::fmt::Debug for FanoutSteering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanoutSteering").finish_non_exhaustive()
    }
}

/// The program's configuration for the analyzer's decoding: the same tunnels peeled, so that
/// the flow the program hashes is the analyzer's flow.
pub fn config_for(decode: &DecodeConfig) -> Config {
    let kinds = [
        (TunnelType::Vxlan, kind::VXLAN),
        (TunnelType::Ipip, kind::IPIP),
        (TunnelType::Gre, kind::GRE),
        (TunnelType::Geneve, kind::GENEVE),
        (TunnelType::Erspan, kind::ERSPAN),
        (TunnelType::Teb, kind::TEB),
    ];
    Config {
        decap: kinds
            .iter()
            .filter(|(t, _)| decode.decapsulates(*t))
            .fold(0, |m, (_, bit)| m | 1 << bit),
        vxlan_ports: decode.vxlan_ports,
        geneve_port: decode.geneve_port,
        max_layers: u32::from(decode.max_tunnel_layers),
    }
}

impl FanoutSteering {
    /// Loads the program (CAP_BPF or root) configured for `decode`.
    pub fn load(decode: &DecodeConfig) -> Result<FanoutSteering, String> {
        let bytes = contract::object().ok_or("the steering program was not built (no clang)")?;
        let open = ObjectBuilder::default()
            .open_memory(bytes)
            .map_err(|e| format!("open: {e}"))?;
        let obj = open.load().map_err(|e| format!("load: {e}"))?;
        obj.maps()
            .find(|m| m.name() == contract::names::CONFIG)
            .ok_or("configuration map missing from the object")?
            .update(
                &0u32.to_ne_bytes(),
                &config_for(decode).to_bytes(),
                MapFlags::ANY,
            )
            .map_err(|e| format!("configure: {e}"))?;
        Ok(FanoutSteering { obj })
    }

    /// What the program answers for `frame` (an Ethernet frame), run once by the kernel
    /// (BPF_PROG_TEST_RUN): the group's socket is this modulo the socket count. For tests and
    /// measurements; `repeat` runs give the kernel's mean time per run.
    pub fn steer(
        &mut self,
        frame: &[u8],
        repeat: u32,
    ) -> Result<(u32, std::time::Duration), String> {
        let prog = self
            .obj
            .progs_mut()
            .find(|p| p.name() == contract::names::PROGRAM)
            .ok_or("program missing from the object")?;
        let input = libbpf_rs::ProgramInput {
            data_in: Some(frame),
            repeat,
            ..Default::default()
        };
        let out = prog.test_run(input).map_err(|e| format!("test run: {e}"))?;
        Ok((out.return_value, out.duration))
    }

    /// The program's file descriptor (for PACKET_FANOUT_DATA).
    pub fn fd(&self) -> Result<RawFd, String> {
        self.obj
            .progs()
            .find(|p| p.name() == contract::names::PROGRAM)
            .map(|p| p.as_fd().as_raw_fd())
            .ok_or_else(|| "program missing from the object".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapflow_analyzer::wire::TunnelSet;

    #[test]
    fn the_program_peels_what_the_analyzer_peels() {
        let d = DecodeConfig::default();
        let c = config_for(&d);
        assert_eq!(c.vxlan_ports, d.vxlan_ports);
        assert_eq!(c.geneve_port, d.geneve_port);
        assert_eq!(c.max_layers, u32::from(d.max_tunnel_layers));
        for (t, bit) in [
            (TunnelType::Vxlan, kind::VXLAN),
            (TunnelType::Erspan, kind::ERSPAN),
        ] {
            assert_eq!(c.decap >> bit & 1 == 1, d.decapsulates(t), "{t:?}");
        }
        let none = DecodeConfig {
            decap: TunnelSet::default(),
            trim: TunnelSet::default(),
            ..d
        };
        assert_eq!(config_for(&none).decap, 0);
    }
}
