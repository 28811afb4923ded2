//! Real rows for tests and benchmarks: a frame built with [`crate::wire::build`] sent through an
//! analyzer, so that no test fills an l4 row field by field and every sample changes with the
//! analyzer.

use std::net::SocketAddr;

use crate::wire::build::{self, TcpSpec};
use crate::{Analyzer, AnalyzerConfig, L4FlowLog, PacketMeta};

/// One TCP SYN that nobody answers.
#[derive(Debug, Clone, Copy)]
pub struct Syn {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub window: u16,
    pub ts_ns: u64,
    /// The frame's length on the wire (None: its built length).
    pub wire_len: Option<u32>,
}

/// The l4 row of `syn`'s flow, closed at the end of the input.
pub fn syn_row(syn: Syn) -> L4FlowLog {
    let (a, b) = (syn.client.ip(), syn.server.ip());
    let spec = TcpSpec {
        src_port: syn.client.port(),
        dst_port: syn.server.port(),
        flags: 0x02,
        window: syn.window,
        ..TcpSpec::default()
    };
    let ip = build::ip(a, b, 6, 0, 64, &build::tcp(a, b, &spec, b""));
    let frame = build::ethernet_ip([0xaa, 0, 0, 0, 0, 2], [0xaa, 0, 0, 0, 0, 1], &[], &ip);
    let len = syn.wire_len.unwrap_or(frame.len() as u32);
    let meta = PacketMeta {
        ts_ns: syn.ts_ns,
        wire_len: len,
        cap_len: len,
        ..PacketMeta::default()
    };
    let mut an = Analyzer::new(AnalyzerConfig::default());
    let mut out = Vec::new();
    an.on_packet(&meta, &frame, &mut out);
    an.finish(&mut out);
    out.remove(0)
}
