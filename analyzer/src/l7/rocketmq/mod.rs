//! RocketMQ (Apache RocketMQ's remoting protocol): `wire.rs` reads frames, headers in both
//! serializations and pulled messages, `json.rs` the JSON header's members, `names.rs` the codes'
//! and versions' names, `session.rs` makes DeepFlow's rows on the L7 contract.

pub mod json;
pub mod names;
pub mod session;
pub mod wire;

pub use session::RocketMqSession;

#[cfg(test)]
mod tests;
