//! FastCGI (DeepFlow's `FastCGI`, id 44): a web server's requests to its application server,
//! read from the CGI parameters and the CGI response headers, paired by request id. `wire.rs`
//! decodes records and parameters, `session.rs` is the parser on the L7 contract.

pub mod session;
pub mod wire;

pub use session::FastCgiSession;

#[cfg(test)]
mod tests;
