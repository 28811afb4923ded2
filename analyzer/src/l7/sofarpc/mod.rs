//! SOFARPC over Bolt v1 (Ant Group's SOFA stack): `wire.rs` decodes Bolt headers and the SOFA
//! header map, `hessian.rs` reads the names of a Hessian-encoded `SofaRequest` when the header
//! map lacks them, `session.rs` pairs calls by request id on the L7 contract.

pub mod hessian;
pub mod session;
pub mod wire;

pub use session::SofaRpcSession;

#[cfg(test)]
mod tests;
