//! Tars (Tencent's RPC framework): `wire.rs` decodes the Tars encoding and the TARS packet
//! protocol's `RequestPacket` / `ResponsePacket` heads, `session.rs` pairs calls by request id on
//! the L7 contract.

pub mod session;
pub mod wire;

pub use session::TarsSession;

#[cfg(test)]
mod tests;
