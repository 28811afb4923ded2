//! tapflow's capture side: packet sources and the worker loop that feeds the analyzer.
//!
//! Today: the offline source (pcap / pcapng, optionally gzip-compressed) and the single-worker
//! loop behind `tapflow analyze`. Live engines (AF_XDP, AF_PACKET, DPDK) plug in behind the same
//! [`PacketSource`] trait; all FFI and `unsafe` will live under `src/sys/`.
#![deny(unsafe_code)]

pub mod pcap;
pub mod source;
pub mod worker;

pub use source::{Frame, PacketSource, SourceError};
pub use worker::{OfflineRun, RunStats};
