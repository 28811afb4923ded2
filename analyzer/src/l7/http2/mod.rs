//! HTTP/2 (RFC 9113) and gRPC over it: frames, HPACK header blocks, streams paired by id.

pub mod hpack;
pub mod huffman;
