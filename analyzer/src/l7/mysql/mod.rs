//! MySQL / MariaDB: commands (text queries, prepared statements, database changes) paired with
//! the head of their replies; result sets of any size skipped packet by packet; the compressed
//! protocol read (the head of each body inflated); TLS detected and left alone. `wire.rs` decodes
//! packets, `compressed.rs` the compressed protocol's framing; `session.rs` is the parser on the
//! L7 contract.

pub mod compressed;
pub mod session;
pub mod wire;

pub use session::MysqlSession;

#[cfg(test)]
mod tests;
