//! The frame decoder: Ethernet, VLAN/QinQ, MPLS, IPv4/IPv6 with options and extension headers,
//! every tunnel (VXLAN, GENEVE, GRE, TEB, ERSPAN I/II/III, IP-in-IP), L4 headers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapflow_analyzer::wire::{decode_link, DecodeConfig, LinkType};

fuzz_target!(|data: &[u8]| {
    let cfg = DecodeConfig::default();
    for link in [
        LinkType::Ethernet,
        LinkType::RawIp,
        LinkType::Null,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
    ] {
        let _ = decode_link(data, link, &cfg);
    }
});
