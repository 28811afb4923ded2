//! Dubbo 2 (the `dubbo://` protocol over its 16-byte header): `wire.rs` decodes headers and the
//! Hessian2 / Kryo strings a call names, `session.rs` pairs calls by request id on the L7
//! contract.

pub mod session;
pub mod wire;

pub use session::DubboSession;

#[cfg(test)]
mod tests;
