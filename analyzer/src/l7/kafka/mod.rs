//! Kafka: request and response headers for every API key (flexible versions with tagged fields
//! and compact strings included), pairing by correlation id, the topic, partition and offset of
//! Produce and Fetch, error codes of the common responses, trace ids from the first record's
//! headers, compressed batches included. `wire.rs` decodes headers and primitive types, `body.rs`
//! the bodies, `batch.rs` record batches, `topic_names.rs` the worker's topic names by id and
//! `topic_walk.rs` the Metadata topic array read as it streams by; `session.rs` is the parser on
//! the L7 contract.

pub mod batch;
pub mod body;
pub mod session;
pub mod topic_names;
pub mod topic_walk;
pub mod wire;

pub use session::KafkaSession;

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod topic_tests;
