//! MQTT 3.1, 3.1.1 and 5.0: `wire.rs` reads control packets, `session.rs` pairs them into rows
//! on the L7 contract.

pub mod session;
pub mod wire;

pub use session::MqttSession;

#[cfg(test)]
mod tests;
