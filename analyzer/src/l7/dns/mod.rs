//! DNS (RFC 1035) over UDP and TCP.
//!
//! [`wire`] decodes one message: header, the question, and a summary of the answer section
//! (up to [`wire::MAX_ADDRS`] addresses and the first CNAME), with hard bounds on name length,
//! compression-pointer jumps and the work done per message.

pub mod wire;

pub use wire::{
    parse_message, probe, qtype_name, response_status, tcp_frame, Answers, DnsError, Framing,
    Header, Message, Name, Question,
};

pub mod session;
pub use session::DnsSession;
