//! SOME/IP (AUTOSAR's service-oriented middleware of in-vehicle networks), over TCP and UDP:
//! `wire.rs` decodes message headers, `session.rs` pairs calls by client and session id on the
//! L7 contract.

pub mod session;
pub mod wire;

pub use session::SomeIpSession;

#[cfg(test)]
mod tests;
