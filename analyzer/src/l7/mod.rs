//! Application-layer (L7) protocol parsing.
//!
//! One folder per protocol, the same shape every time (`docs/architecture.md`): `wire.rs` is pure,
//! stateless decoding of bytes into bounded messages; per-flow state, request/response pairing and
//! records come on top of it. Everything here is sans-IO and allocation-free: names and other
//! variable-length fields are copied into fixed-size inline buffers, and hostile input (loops,
//! oversized lengths, impossible counts) is a typed error, never a panic or unbounded work.
//!
//! The contract every protocol implements is [`parser::L7Parser`]; [`registry`] lists them once
//! and generates the protocol enum, the per-protocol configs, state pools and static dispatch.
//! Around the protocols: [`tracker`] (one per worker, naming no protocol) infers each new flow's
//! protocol ([`app_table`], [`config`] prefilters, each protocol's `probe`), keeps L7 state only
//! for L7 flows ([`flow_state`], [`pool`]), feeds each direction through bounded [`reassembly`]
//! to the protocol's parser, and pairs requests with responses into `l7_flow_log` rows
//! ([`exchange`], [`pending`]) with trace ids from headers ([`tags`]) and the bytes of failed
//! exchanges ([`raw`]).

pub mod amqp;
pub mod app_table;
pub mod base64;
pub mod blacklist;
pub mod config;
pub mod decompress;
pub mod decompress_zstd;
pub mod exchange;
pub mod flow_state;
pub mod framing;
#[cfg(test)]
mod mutate;
pub mod parser;
pub mod pending;
pub mod pool;
pub mod protobuf;
pub mod protocol;
pub mod raw;
pub mod reassembly;
pub mod registry;
pub mod sql;
pub mod stats;
pub mod tags;
#[cfg(test)]
mod talk;
pub mod tracker;
pub mod worker_state;

// One folder per protocol (each listed once in `registry`).
pub mod brpc;
pub mod dns;
pub mod dubbo;
pub mod fastcgi;
pub mod http1;
pub mod http2;
pub mod kafka;
pub mod memcached;
pub mod mongo;
pub mod mqtt;
pub mod mysql;
pub mod nats;
pub mod openwire;
pub mod ping;
pub mod postgres;
pub mod pulsar;
pub mod redis;
pub mod rocketmq;
pub mod sofarpc;
pub mod someip;
pub mod tars;
pub mod tls;
pub mod zmtp;

pub use crate::inline;
pub use config::L7Config;
pub use exchange::{Exchange, Pairing};
pub use parser::{Descriptor, L7Parser, Segment, Transport};
pub use protocol::{L7Protocol, ParserKind};
pub use stats::{L7Counters, L7Stats};
pub use tracker::L7Tracker;

/// Result of asking "is this payload protocol X?" from its first bytes (three states, so a
/// parser can ask for more bytes instead of guessing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The bytes parse as this protocol and pass its sanity checks.
    Certain,
    /// Too few bytes to decide; ask again with more.
    Unsure,
    /// Not this protocol.
    NotForUs,
}

/// DeepFlow's `response_status` of an L7 request (`deepflow-facts.md` section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseStatus {
    Ok,
    ClientError,
    ServerError,
    Timeout,
    Unknown,
    ParseFailed,
}

impl ResponseStatus {
    /// DeepFlow's number: 0 ok, 2 timeout, 3 server error, 4 client error, 5 unknown, 6 parse
    /// failed.
    pub fn code(self) -> u8 {
        match self {
            ResponseStatus::Ok => 0,
            ResponseStatus::Timeout => 2,
            ResponseStatus::ServerError => 3,
            ResponseStatus::ClientError => 4,
            ResponseStatus::Unknown => 5,
            ResponseStatus::ParseFailed => 6,
        }
    }
}
