//! tapflow's analyzer: turns raw mirrored frames into flow records.
//!
//! The crate is sans-IO: it never reads a clock, a file or a socket. Every packet comes with its
//! own timestamp ([`PacketMeta`]), so an offline replay and a live capture of the same packets give
//! identical records. Nothing on the per-packet path allocates, locks or logs: tables are
//! preallocated and bounded, and every drop or decode failure bumps a named counter
//! ([`Counters`]).
//!
//! Layers, in the order a packet meets them:
//! - [`wire`]: zero-copy decoding of L2-L4 and tunnels into a [`wire::Packet`] view;
//! - [`flow`]: the symmetric flow table, timer wheel, TCP connection state and close types;
//! - [`tcp`]: DeepFlow-compatible TCP performance metrics (RTT, SRT, ART, CIT, retransmissions);
//! - [`l7`]: application protocols: inference, bounded reassembly, HTTP/1, DNS and TLS sessions,
//!   request/response pairing into `l7_flow_log` rows;
//! - [`record`]: the `l4_flow_log` and `l7_flow_log` rows handed to sinks;
//! - [`engine`]: [`Analyzer`], which ties them together for one worker (one shard of flows).
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod assoc_cache;
pub mod block_pool;
pub mod capture_filter;
pub mod config;
pub mod counters;
pub mod engine;
pub mod flow;
pub mod inline;
pub mod l7;
pub mod metrics;
pub mod mirror;
pub mod ports;
pub mod record;
pub mod syscall;
pub mod tcp;
pub mod wire;

pub use config::AnalyzerConfig;
pub use counters::Counters;
pub use engine::{packet_time, Analyzer};
pub use record::{
    Collected, L4FlowLog, L7FlowLog, Record, RecordBatch, RecordKind, RecordRef, RecordSink,
    RenderedLines, TextBuf,
};

/// One captured frame, borrowed from its source for the duration of a callback: what every
/// capture engine hands to a worker.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub meta: PacketMeta,
    pub data: &'a [u8],
    /// The frame already decoded by whoever handed it over (the offline reader), if so.
    pub decoded: Option<&'a wire::Decoded>,
}

impl Frame<'static> {
    /// No frame: what an array of frames starts as.
    pub const EMPTY: Frame<'static> = Frame {
        meta: PacketMeta {
            ts_ns: 0,
            wire_len: 0,
            cap_len: 0,
            ifindex: 0,
            queue: 0,
            rss_hash: 0,
            link: wire::LinkType::Ethernet,
            seq: 0,
        },
        data: &[],
        decoded: None,
    };
}

/// What the capture layer knows about a frame besides its bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketMeta {
    /// Capture timestamp, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Length of the frame on the wire.
    pub wire_len: u32,
    /// Bytes actually captured (`<= wire_len` when a snap length truncated the frame).
    pub cap_len: u32,
    /// Capture interface index (or a pcap source's index); feeds `tap_port`.
    pub ifindex: u32,
    /// Receive queue the frame came from.
    pub queue: u16,
    /// NIC/XDP RSS hash when known, else 0.
    pub rss_hash: u32,
    /// How the frame starts (Ethernet for every live engine).
    pub link: wire::LinkType,
    /// The frame's ordinal in an offline run's input, from 1 (0: not numbered, live capture).
    /// A numbered frame that starts a flow gives the flow id its low 24 bits, so the ids do not
    /// depend on how the input was split over workers; otherwise they count the worker's flows.
    pub seq: u64,
}
