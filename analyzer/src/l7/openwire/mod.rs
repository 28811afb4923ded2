//! OpenWire (ActiveMQ's native protocol): `wire.rs` decodes frames, `WireFormatInfo` and the
//! tight and loose encodings, `commands.rs` walks the commands' fields, `session.rs` makes
//! DeepFlow's rows on the L7 contract.

pub mod commands;
pub mod session;
pub mod wire;

pub use session::OpenWireSession;

#[cfg(test)]
mod tests;
