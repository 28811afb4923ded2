//! HTTP/1.0 and HTTP/1.1.
//!
//! [`wire`] decodes message heads (zero-copy, over httparse), tells how the body is framed, and
//! skips chunked bodies, so pipelined messages can be followed without reading their bodies.

pub mod wire;

/// The header slot type callers lend to the parsers, and an empty slot to fill arrays with.
pub use httparse::{Header, EMPTY_HEADER};

pub use wire::{
    endpoint, header, parse_request, parse_response, probe, same_header_name, Body, ChunkedSkipper,
    HttpError, Parsed, RequestHead, ResponseHead, MAX_HEADERS,
};

pub mod session;
pub use session::Http1Session;

#[cfg(test)]
mod session_tests;
