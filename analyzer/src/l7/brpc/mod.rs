//! bRPC (Apache bRPC's default protocol, `baidu_std`): `wire.rs` reads the 12-byte head and the
//! `RpcMeta` that starts each body, `session.rs` pairs calls by correlation id on the L7
//! contract.

pub mod session;
pub mod wire;

pub use session::BrpcSession;

#[cfg(test)]
mod tests;
