//! NATS: `wire.rs` decodes control lines, header blocks and the INFO/CONNECT JSON fields tapflow
//! reads; `session.rs` pairs messages into rows on the L7 contract.

pub mod session;
pub mod wire;

pub use session::NatsSession;

#[cfg(test)]
mod tests;
