//! Pulsar (Apache Pulsar's binary protocol): `wire.rs` reads frames, commands and message
//! metadata, `session.rs` makes DeepFlow's rows on the L7 contract.

pub mod session;
pub mod wire;

pub use session::PulsarSession;

#[cfg(test)]
mod tests;
