//! Redis (RESP2 and RESP3): commands and replies paired in order, pipelining, inline commands,
//! pub/sub pushes, errors, nested and streamed values. `resp.rs` walks the framing; `session.rs`
//! is the parser on the L7 contract.

pub mod resp;
pub mod session;

pub use session::{RedisConfig, RedisSession};

#[cfg(test)]
mod tests;
