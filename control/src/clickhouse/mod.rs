//! The ClickHouse store: DeepFlow's tables ([`schema`], columns from DeepFlow's server), records
//! as RowBinary rows ([`rows`]), ClickHouse's HTTP interface ([`http`]) and the [`Sink`] that
//! batches, creates the schema and retries ([`ClickHouseSink`]). Used by `tapflow server
//! --clickhouse` for what agents send, and by an agent directly (`--clickhouse`).
//!
//! [`Sink`]: crate::sink::Sink

pub mod application_log;
mod deepflow_columns;
pub mod http;
pub mod otel_l7;
pub mod profile_in_process;
pub mod rows;
pub mod schema;
pub mod side_writer;
mod sink;
pub mod system;

pub use schema::{tables, Dialect, Table, Ty};
pub use sink::{ClickHouseConfig, ClickHouseCounters, ClickHouseSink};
