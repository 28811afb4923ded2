//! What a worker's parsers keep across flows, handed to them through their `Exchange`: the zstd
//! decoder every compressed message head goes through, and the Kafka topic names learned from
//! Metadata responses. Each is allocated at its first use and bounded; the memory plan counts
//! them whole ([`WorkerState::MEMORY_BYTES`]).

use super::decompress_zstd::{self, ZstdHeads};
use super::kafka::topic_names::{self, TopicNames};

/// One worker's state shared by its flows' parsers.
#[derive(Debug, Default)]
pub struct WorkerState {
    pub zstd: ZstdHeads,
    pub kafka_topics: TopicNames,
}

impl WorkerState {
    /// The most memory it takes.
    pub const MEMORY_BYTES: u64 = decompress_zstd::MEMORY_BYTES + topic_names::MEMORY_BYTES;
}
