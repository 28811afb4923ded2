//! The per-minute aggregation of the flow and request logs into `flow_metrics` documents
//! ([`Aggregator`]), sans-IO, above the records in the analyzer's layers.

pub mod flow_aggr;
mod flow_load;
#[cfg(test)]
mod flow_load_tests;
pub mod health_check;
mod key_table;
pub mod minutes;
mod rows;

pub use flow_aggr::FlowAggr;
pub use health_check::{HealthCheckAggr, HealthCheckCounters};
pub use minutes::{Aggregator, MetricsConfig, MetricsCounters, GRACE_NS};
pub use rows::network_key;
