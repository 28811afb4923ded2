//! MySQL / MariaDB: commands (text queries, prepared statements, database changes) paired with
//! the head of their replies; result sets of any size skipped packet by packet; TLS and the
//! compressed protocol detected and left alone. `wire.rs` decodes; `session.rs` is the parser on
//! the L7 contract.

pub mod session;
pub mod wire;

pub use session::MysqlSession;

#[cfg(test)]
mod tests;
