//! PostgreSQL: startup (user, database), simple and extended queries (Parse/Bind/Execute/Sync
//! pipelines, each Sync one request), CommandComplete (affected rows), ErrorResponse (SQLSTATE
//! class -> client / server error), COPY streams skipped, SSLRequest answered 'S' ends parsing.
//! `wire.rs` decodes; `session.rs` is the parser on the L7 contract.

pub mod session;
pub mod wire;

pub use session::PostgresSession;

#[cfg(test)]
mod tests;
