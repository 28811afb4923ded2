//! tapflow's capture side: packet sources and the worker loop that feeds the analyzer.
//!
//! Sources: pcap / pcapng files (optionally gzip-compressed) and AF_PACKET TPACKET_V3 rings
//! (AF_XDP and DPDK plug in behind the same [`PacketSource`] trait). [`worker`] holds the loops,
//! [`runtime`] starts pinned workers and the output thread for a live run. All FFI lives under
//! `src/sys/`, the only module allowed out of `deny(unsafe_code)`.
#![deny(unsafe_code)]

pub mod af_packet;
pub mod af_xdp;
pub mod capture_rate;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod epoch;
pub mod fanout_steering;
pub mod huge_page_policy;
pub mod memory;
pub(crate) mod nap;
pub mod output;
pub mod pcap;
pub mod pipeline;
pub mod privileges;
pub mod replay;
pub mod runtime;
pub mod source;
pub mod split;
pub mod sys;
pub mod trace;
pub mod worker;
pub mod xdp;

pub use source::{Burst, Frame, PacketSource, SourceError, SourceStats};
pub use worker::{OfflineRun, RunStats};
