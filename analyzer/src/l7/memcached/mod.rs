//! memcached: the text protocol (classic and meta commands, multi-key gets, `noreply`, data
//! blocks of any size) and the binary protocol (opcode, status, opaque pairing, quiet commands).
//! `text.rs` and `binary.rs` decode; `session.rs` is the parser on the L7 contract.

pub mod binary;
pub mod session;
pub mod text;

pub use session::MemcachedSession;

#[cfg(test)]
mod tests;
