//! Application-layer (L7) protocol parsing.
//!
//! One folder per protocol, the same shape every time (`docs/architecture.md`): `wire.rs` is pure,
//! stateless decoding of bytes into bounded messages; per-flow state, request/response pairing and
//! records come on top of it. Everything here is sans-IO and allocation-free: names and other
//! variable-length fields are copied into fixed-size inline buffers, and hostile input (loops,
//! oversized lengths, impossible counts) is a typed error, never a panic or unbounded work.
//!
//! Status: decoders for DNS messages, HTTP/1 heads and TLS hellos. Inference, pairing and
//! `l7_flow_log` records follow.

pub mod dns;
pub mod http1;
pub mod inline;
#[cfg(test)]
mod mutate;
pub mod reassembly;
pub mod tls;

/// Result of asking "is this payload protocol X?" from its first bytes (three states, so a
/// parser can ask for more bytes instead of guessing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The bytes parse as this protocol and pass its sanity checks.
    Certain,
    /// Too few bytes to decide; ask again with more.
    Unsure,
    /// Not this protocol.
    NotForUs,
}

/// DeepFlow's `response_status` of an L7 request (`deepflow-facts.md` section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseStatus {
    Ok,
    ClientError,
    ServerError,
    Timeout,
    Unknown,
    ParseFailed,
}
