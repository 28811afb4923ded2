//! TLS: the handshake's hellos (SNI, ALPN, versions, cipher suite), for `is_tls`, the request
//! domain and `tls_rtt`. The encrypted stream is not parsed.

pub mod wire;

pub use wire::{parse_hello, probe, Hello, HelloKind, TlsError};

pub mod session;
pub use session::TlsSession;
