//! MongoDB: OP_MSG commands (command, database, collection from the body document), the legacy
//! OP_QUERY / OP_REPLY / OP_GET_MORE and fire-and-forget writes of old drivers, replies paired by
//! `responseTo`, `ok: 0` and write errors as errors, OP_COMPRESSED read through (snappy, zlib) and
//! counted. `bson.rs` reads and prints documents, `wire.rs` decodes messages, `compressed.rs`
//! decompresses the head of a compressed one, `session.rs` is the parser on the L7 contract.

pub mod bson;
pub mod compressed;
pub mod session;
pub mod wire;

pub use session::MongoSession;

#[cfg(test)]
mod tests;
