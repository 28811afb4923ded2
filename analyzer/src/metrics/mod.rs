//! `flow_metrics`: network and application documents aggregated per minute from the flow and
//! request logs (DeepFlow's `network`, `network_map`, `application`, `application_map` tables,
//! `deepflow-facts.md` section 5), with latency histograms DeepFlow does not keep. The
//! [`Aggregator`] sees every record on its way to the sinks and writes the documents as records
//! of their own when a minute is over.

pub mod aggregate;
pub mod doc;
pub mod histogram;
pub mod records;

pub use aggregate::{Aggregator, MetricsConfig, MetricsCounters};
pub use records::{ApplicationDoc, ApplicationMapDoc, Document, NetworkDoc, NetworkMapDoc};
