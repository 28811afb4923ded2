//! Record sinks. The embedded default writes JSON lines files, one per record type.

mod jsonl;

pub use jsonl::{JsonLinesSink, SinkStats};
