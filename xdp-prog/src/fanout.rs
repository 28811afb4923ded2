//! The AF_PACKET fanout steering program (`fanout.bpf.c`, PACKET_FANOUT_EBPF): its names, the
//! layout of its configuration (mirrored from `include/tapflow_fanout.h`; a test keeps both in
//! sync) and the compiled object.

/// Bits of [`Config::decap`], by DeepFlow's tunnel type numbers.
pub mod kind {
    pub const VXLAN: u32 = 1;
    pub const IPIP: u32 = 2;
    pub const GRE: u32 = 3;
    pub const GENEVE: u32 = 4;
    pub const ERSPAN: u32 = 6;
    pub const TEB: u32 = 7;
}

/// Most tunnel layers the program peels.
pub const MAX_LAYERS: u32 = 3;
/// VXLAN ports the program knows.
pub const VXLAN_PORTS: usize = 3;

/// Map and program names in the object file.
pub mod names {
    pub const CONFIG: &str = "fanout_config";
    pub const PROGRAM: &str = "tapflow_fanout";
}

/// What the program peels, as the analyzer does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Config {
    /// `1 << kind` for each tunnel kind peeled.
    pub decap: u32,
    pub vxlan_ports: [u16; VXLAN_PORTS],
    pub geneve_port: u16,
    /// Tunnel layers peeled (at most [`MAX_LAYERS`]).
    pub max_layers: u32,
}

impl Config {
    /// Bytes of the map's value (`struct tapflow_fanout_config`, native byte order).
    pub const SIZE: usize = 16;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.decap.to_ne_bytes());
        for (i, p) in self.vxlan_ports.iter().enumerate() {
            b[4 + 2 * i..6 + 2 * i].copy_from_slice(&p.to_ne_bytes());
        }
        b[10..12].copy_from_slice(&self.geneve_port.to_ne_bytes());
        b[12..16].copy_from_slice(&self.max_layers.min(MAX_LAYERS).to_ne_bytes());
        b
    }
}

/// The compiled program (ELF with BTF), or `None` when clang was not available at build time.
pub fn object() -> Option<&'static [u8]> {
    let obj: &'static [u8] = include_bytes!(concat!(env!("OUT_DIR"), "/fanout.bpf.o"));
    (!obj.is_empty()).then_some(obj)
}

/// The C source and header.
pub const PROGRAM_SOURCE: &str = include_str!("fanout.bpf.c");
pub const SHARED_HEADER: &str = include_str!("../include/tapflow_fanout.h");

#[cfg(test)]
mod tests {
    use super::*;

    fn define(name: &str) -> u32 {
        crate::header_define(SHARED_HEADER, name)
    }

    #[test]
    fn header_and_rust_agree() {
        assert_eq!(define("TAPFLOW_FANOUT_VXLAN"), kind::VXLAN);
        assert_eq!(define("TAPFLOW_FANOUT_IPIP"), kind::IPIP);
        assert_eq!(define("TAPFLOW_FANOUT_GRE"), kind::GRE);
        assert_eq!(define("TAPFLOW_FANOUT_GENEVE"), kind::GENEVE);
        assert_eq!(define("TAPFLOW_FANOUT_ERSPAN"), kind::ERSPAN);
        assert_eq!(define("TAPFLOW_FANOUT_TEB"), kind::TEB);
        assert_eq!(define("TAPFLOW_FANOUT_MAX_LAYERS"), MAX_LAYERS);
        assert_eq!(define("TAPFLOW_FANOUT_VXLAN_PORTS") as usize, VXLAN_PORTS);
        assert_eq!(define("TAPFLOW_FANOUT_CONFIG_SIZE") as usize, Config::SIZE);
        assert!(PROGRAM_SOURCE.contains(&format!("int {}(", names::PROGRAM)));
        assert!(PROGRAM_SOURCE.contains(&format!("}} {} SEC(\".maps\")", names::CONFIG)));
    }

    #[test]
    fn the_configuration_is_laid_out_as_the_c_struct() {
        let c = Config {
            decap: 0b1101_0110,
            vxlan_ports: [4789, 8472, 1],
            geneve_port: 6081,
            max_layers: 9,
        };
        let b = c.to_bytes();
        assert_eq!(u32::from_ne_bytes(b[0..4].try_into().unwrap()), 0b1101_0110);
        assert_eq!(u16::from_ne_bytes([b[6], b[7]]), 8472);
        assert_eq!(u16::from_ne_bytes([b[10], b[11]]), 6081);
        assert_eq!(
            u32::from_ne_bytes(b[12..16].try_into().unwrap()),
            MAX_LAYERS
        );
    }
}
