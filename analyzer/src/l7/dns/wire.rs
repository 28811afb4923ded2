//! Pure decoding of one DNS message (RFC 1035 section 4), bounded and allocation-free.
//!
//! Bounds (hostile input costs at most linear work in the message length):
//! - a name is at most [`MAX_NAME_WIRE_LEN`] bytes in wire form (RFC 1035 2.3.4), else
//!   [`DnsError::NameTooLong`];
//! - compression pointers must point strictly backwards and at most [`MAX_POINTER_JUMPS`] are
//!   followed per name, so loops are impossible ([`DnsError::BadPointer`]);
//! - label types 01 and 10 (obsolete/extended) are rejected ([`DnsError::BadLabelType`]);
//! - at most [`MAX_ANSWERS_PARSED`] answer records are walked; the rest is not looked at.
//!
//! A message cut inside the header or the question is [`DnsError::Truncated`]; a message cut
//! inside the answer section (a mirror's snap length) still yields the header and question, with
//! [`Answers::complete`] false.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::super::inline::InlineBytes;
use super::super::{Probe, ResponseStatus};

/// Fixed DNS header length.
pub const HEADER_LEN: usize = 12;
/// Longest name in wire form, length bytes and the root label included (RFC 1035 2.3.4).
pub const MAX_NAME_WIRE_LEN: usize = 255;
/// Longest name in dotted form: 255 wire bytes give at most 253 characters.
pub const MAX_NAME_TEXT_LEN: usize = 253;
/// Compression pointers followed per name.
pub const MAX_POINTER_JUMPS: usize = 16;
/// Answer records walked per message.
pub const MAX_ANSWERS_PARSED: usize = 32;
/// Addresses kept from the answer section.
pub const MAX_ADDRS: usize = 4;

const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_AAAA: u16 = 28;

/// Why a message did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsError {
    /// The message ends inside the header or the question.
    Truncated,
    /// A name longer than 255 bytes in wire form.
    NameTooLong,
    /// A compression pointer that does not point backwards, or too many jumps.
    BadPointer,
    /// A label with the reserved type bits 01 or 10.
    BadLabelType,
    /// No question (QDCOUNT 0) or more than one (never seen in practice; a sign of non-DNS).
    QuestionCount,
}

/// A domain name in dotted form without the trailing dot (the root is empty), inline. Labels may
/// contain any byte, so it is not guaranteed to be UTF-8.
pub type Name = InlineBytes<MAX_NAME_TEXT_LEN>;

/// The fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    /// QR: true for a response.
    pub is_response: bool,
    pub opcode: u8,
    pub authoritative: bool,
    pub truncated: bool,
    pub recursion_desired: bool,
    pub recursion_available: bool,
    pub rcode: u8,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

/// The (single) question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub qtype: u16,
    pub qclass: u16,
}

/// What the answer section says, bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answers {
    /// Records walked (at most [`MAX_ANSWERS_PARSED`]).
    pub parsed: u16,
    /// A and AAAA addresses, in order, at most [`MAX_ADDRS`].
    addrs: [Option<IpAddr>; MAX_ADDRS],
    /// The first CNAME target.
    pub cname: Option<Name>,
    /// False when the section was cut short (snap length) or malformed after the question.
    pub complete: bool,
}

impl Answers {
    /// A and AAAA addresses found, in order.
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.addrs.iter().map_while(|a| *a)
    }

    fn push_addr(&mut self, a: IpAddr) {
        if let Some(slot) = self.addrs.iter_mut().find(|s| s.is_none()) {
            *slot = Some(a);
        }
    }
}

/// One decoded message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub question: Question,
    pub answers: Answers,
}

/// How much of a TCP stream the next DNS message takes (RFC 1035 4.2.2: a 2-byte length prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// The message is `buf[2..2 + len]`.
    Complete { len: usize },
    /// At least `needed` bytes in total are required.
    NeedMore { needed: usize },
}

/// Frames the next message of a DNS-over-TCP stream.
pub fn tcp_frame(buf: &[u8]) -> Framing {
    match buf {
        [hi, lo, rest @ ..] => {
            let len = usize::from(u16::from_be_bytes([*hi, *lo]));
            if rest.len() >= len {
                Framing::Complete { len }
            } else {
                Framing::NeedMore { needed: 2 + len }
            }
        }
        _ => Framing::NeedMore { needed: 2 },
    }
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*buf.get(at)?, *buf.get(at + 1)?]))
}

/// Parses the header.
fn header(msg: &[u8]) -> Result<Header, DnsError> {
    let h = msg.get(..HEADER_LEN).ok_or(DnsError::Truncated)?;
    let word = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let (f1, f2) = (h[2], h[3]);
    Ok(Header {
        id: word(0),
        is_response: f1 & 0x80 != 0,
        opcode: (f1 >> 3) & 0x0f,
        authoritative: f1 & 0x04 != 0,
        truncated: f1 & 0x02 != 0,
        recursion_desired: f1 & 0x01 != 0,
        recursion_available: f2 & 0x80 != 0,
        rcode: f2 & 0x0f,
        qdcount: word(4),
        ancount: word(6),
        nscount: word(8),
        arcount: word(10),
    })
}

/// Reads the name starting at `start`; returns it and the offset just after it in the record
/// (after the first pointer, if any). `out` is None to only skip the name.
fn read_name(msg: &[u8], start: usize, mut out: Option<&mut Name>) -> Result<usize, DnsError> {
    let mut pos = start;
    let mut after: Option<usize> = None;
    let mut jumps = 0usize;
    let mut wire_len = 0usize;
    loop {
        let len = *msg.get(pos).ok_or(DnsError::Truncated)?;
        match len & 0xc0 {
            0x00 => {
                wire_len += 1 + usize::from(len);
                if wire_len > MAX_NAME_WIRE_LEN {
                    return Err(DnsError::NameTooLong);
                }
                if len == 0 {
                    return Ok(after.unwrap_or(pos + 1));
                }
                let label = msg
                    .get(pos + 1..pos + 1 + usize::from(len))
                    .ok_or(DnsError::Truncated)?;
                if let Some(name) = out.as_deref_mut() {
                    let dot_ok = name.as_bytes().is_empty() || name.try_push(b".");
                    if !dot_ok || !name.try_push(label) {
                        return Err(DnsError::NameTooLong);
                    }
                }
                pos += 1 + usize::from(len);
            }
            0xc0 => {
                let lo = *msg.get(pos + 1).ok_or(DnsError::Truncated)?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, lo]));
                jumps += 1;
                if target >= pos || jumps > MAX_POINTER_JUMPS {
                    return Err(DnsError::BadPointer);
                }
                after.get_or_insert(pos + 2);
                pos = target;
            }
            _ => return Err(DnsError::BadLabelType),
        }
    }
}

/// Decodes one DNS message (a UDP payload, or a TCP message without its length prefix).
pub fn parse_message(msg: &[u8]) -> Result<Message, DnsError> {
    let header = header(msg)?;
    if header.qdcount != 1 {
        return Err(DnsError::QuestionCount);
    }
    let mut name = Name::EMPTY;
    let pos = read_name(msg, HEADER_LEN, Some(&mut name))?;
    let qtype = u16_at(msg, pos).ok_or(DnsError::Truncated)?;
    let qclass = u16_at(msg, pos + 2).ok_or(DnsError::Truncated)?;
    let question = Question {
        name,
        qtype,
        qclass,
    };
    let answers = answers(msg, pos + 4, header.ancount);
    Ok(Message {
        header,
        question,
        answers,
    })
}

/// Walks the answer section; stops quietly at the first problem (marked incomplete).
fn answers(msg: &[u8], mut pos: usize, count: u16) -> Answers {
    let mut a = Answers {
        parsed: 0,
        addrs: [None; MAX_ADDRS],
        cname: None,
        complete: true,
    };
    for _ in 0..usize::from(count).min(MAX_ANSWERS_PARSED) {
        let Ok(p) = read_name(msg, pos, None) else {
            a.complete = false;
            return a;
        };
        let (Some(rtype), Some(rdlen)) = (u16_at(msg, p), u16_at(msg, p + 8)) else {
            a.complete = false;
            return a;
        };
        let rdata_at = p + 10;
        let Some(rdata) = msg.get(rdata_at..rdata_at + usize::from(rdlen)) else {
            a.complete = false;
            return a;
        };
        match (rtype, rdata) {
            (TYPE_A, &[a0, a1, a2, a3]) => a.push_addr(IpAddr::V4(Ipv4Addr::new(a0, a1, a2, a3))),
            (TYPE_AAAA, r) if r.len() == 16 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(r);
                a.push_addr(IpAddr::V6(Ipv6Addr::from(b)));
            }
            (TYPE_CNAME, _) if a.cname.is_none() => {
                let mut n = Name::EMPTY;
                if read_name(msg, rdata_at, Some(&mut n)).is_ok() {
                    a.cname = Some(n);
                }
            }
            _ => {}
        }
        a.parsed += 1;
        pos = rdata_at + usize::from(rdlen);
    }
    a
}

/// Is `payload` a DNS message? Certain when the header is plausible (opcode 0-6, one question)
/// and the question decodes with a known class; Unsure when the bytes end before that.
pub fn probe(payload: &[u8]) -> Probe {
    match parse_message(payload) {
        Ok(m) => {
            let class_ok = matches!(m.question.qclass & 0x7fff, 1 | 3 | 4 | 254 | 255);
            if m.header.opcode <= 6 && class_ok && m.question.qtype != 0 {
                Probe::Certain
            } else {
                Probe::NotForUs
            }
        }
        Err(DnsError::Truncated) => Probe::Unsure,
        Err(_) => Probe::NotForUs,
    }
}

/// DeepFlow's status of a DNS response: RCODE 0 ok; 1 (FormErr) and 3 (NXDomain) client errors;
/// every other code a server error.
pub fn response_status(rcode: u8) -> ResponseStatus {
    match rcode {
        0 => ResponseStatus::Ok,
        1 | 3 => ResponseStatus::ClientError,
        _ => ResponseStatus::ServerError,
    }
}

/// The mnemonic of a QTYPE (DeepFlow's `request_type`), for the types seen in practice.
pub fn qtype_name(qtype: u16) -> Option<&'static str> {
    Some(match qtype {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        39 => "DNAME",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        50 => "NSEC3",
        52 => "TLSA",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        257 => "CAA",
        _ => return None,
    })
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
