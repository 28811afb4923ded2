//! HTTP/2 (RFC 9113) and gRPC over it: frames, HPACK header blocks, streams paired by id.

pub mod frame;
mod headers;
pub mod hpack;
pub mod huffman;
pub mod response;
pub mod session;

pub use frame::{probe, sent_by_client};
pub use session::Http2Session;
