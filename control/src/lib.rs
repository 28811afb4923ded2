//! tapflow's control side: the configuration model (YAML, DeepFlow v7 key names, strict) and its
//! validation into the analyzer's typed config; record sinks (JSON lines files); the control
//! plane: DeepFlow's Synchronizer gRPC (`rpc`, generated from `control/proto/`), the server
//! (`server`: Sync/Push, admin API for ctl, SQLite state, TLS, token), the agent loop (`agent`)
//! and the client connection (`client`).
#![forbid(unsafe_code)]

pub mod agent;
pub mod app_log;
pub mod clickhouse;
pub mod client;
pub mod config;
pub mod error_text;
pub mod ingest;
pub mod integration;
pub mod process_info;
pub mod process_placement;
pub mod profile;
pub mod rpc;
pub mod server;
pub mod sink;

pub use config::{Config, ConfigError};
