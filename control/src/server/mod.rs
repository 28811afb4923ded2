//! `tapflow server`: DeepFlow's Synchronizer for agents (`sync.rs`), tapflow's admin API for
//! `tapflow ctl` (`admin.rs`), state in SQLite (`store.rs`), TLS and the shared token
//! (`serve.rs`).

pub mod admin;
pub mod serve;
pub mod store;
pub mod sync;

pub use serve::{serve, ServerOptions, TlsMode};
