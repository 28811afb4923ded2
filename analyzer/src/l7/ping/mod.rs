//! Ping: ICMP and ICMPv6 echo requests and replies (DeepFlow's `Ping`, id 122). `wire.rs`
//! decodes an echo header; `session.rs` is the parser on the L7 contract.

pub mod session;
pub mod wire;

pub use session::PingSession;
pub use wire::{parse_echo, Echo};

#[cfg(test)]
mod tests;
