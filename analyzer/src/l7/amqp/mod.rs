//! AMQP 0-9-1: `wire.rs` reads frames and method arguments, `session.rs` pairs synchronous
//! methods with their replies into rows on the L7 contract.

pub mod session;
pub mod wire;

pub use session::AmqpSession;

#[cfg(test)]
mod tests;
