//! ZMTP, ZeroMQ's wire protocol (3.0 and 3.1): `wire.rs` decodes greetings, frame headers,
//! commands and their properties; `session.rs` is the parser on the L7 contract.

pub mod session;
pub mod wire;

pub use session::ZmtpSession;

#[cfg(test)]
mod tests;
