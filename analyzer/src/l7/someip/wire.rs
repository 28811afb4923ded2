//! SOME/IP message headers (AUTOSAR PRS_SOMEIPProtocol): 16 bytes, big-endian, the same over
//! TCP (messages back to back, framed by their length) and UDP (one or more whole messages in a
//! datagram).
//!
//! ```text
//! 0        2        4                 8        10       12    13    14    15
//! | service| method | length          | client | session| prot| intf| type| return code |
//! ```
//!
//! `length` counts the bytes after itself (8 + payload). Protocol version 1 is the only one
//! defined. A segmented message (SOME/IP-TP, type flag 0x20) carries a 4-byte TP header after the
//! SOME/IP header: the segment's offset in 16-byte units (28 bits) and a "more segments" bit.
//! Service 0xFFFF is SOME/IP itself: method 0x8100 is service discovery (SD), methods 0x0000 and
//! 0x8000 the magic cookies a TCP sender may put between messages to let receivers resync.

/// The header's size.
pub const HEADER_LEN: usize = 16;
/// The header and a TP header: what a segmented message's first segment is known by.
pub const TP_HEADER_LEN: usize = HEADER_LEN + 4;
/// Longest message believed (AUTOSAR's TCP binding allows 4 GiB; ECUs send kilobytes): a longer
/// claim is not SOME/IP.
pub const MAX_LENGTH: u32 = 64 << 20;
/// SOME/IP's own service: service discovery and magic cookies.
pub const SD_SERVICE: u16 = 0xffff;
pub const SD_METHOD: u16 = 0x8100;
const COOKIE_FROM_CLIENT: u16 = 0x0000;
const COOKIE_FROM_SERVER: u16 = 0x8000;
/// The message type's SOME/IP-TP flag.
pub const TP_FLAG: u8 = 0x20;
/// Return codes above this are reserved (0x20..=0x5E are a service's own errors).
const RETURN_CODE_MAX: u8 = 0x5e;

/// What a message is, by its message type (the TP flag aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 0x00: a call that wants an answer.
    Request,
    /// 0x01: a fire-and-forget call.
    RequestNoReturn,
    /// 0x02: an event or a field notification (and every SD message).
    Notification,
    /// 0x80: the answer to a request.
    Response,
    /// 0x81: an answer that is an error.
    Error,
}

impl Kind {
    fn of(message_type: u8) -> Option<Kind> {
        Some(match message_type & !TP_FLAG {
            0x00 => Kind::Request,
            0x01 => Kind::RequestNoReturn,
            0x02 => Kind::Notification,
            0x80 => Kind::Response,
            0x81 => Kind::Error,
            _ => return None,
        })
    }

    /// Sent by the side that calls (requests) rather than the side that offers the service.
    pub fn from_caller(self) -> bool {
        matches!(self, Kind::Request | Kind::RequestNoReturn)
    }
}

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub service: u16,
    pub method: u16,
    /// Bytes after the length field: 8 + payload.
    pub length: u32,
    pub client: u16,
    pub session: u16,
    pub interface_version: u8,
    pub message_type: u8,
    pub return_code: u8,
    pub kind: Kind,
}

impl Header {
    /// The whole message's size, header included.
    pub fn size(&self) -> usize {
        8 + self.length as usize
    }

    /// A SOME/IP-TP segment.
    pub fn segmented(&self) -> bool {
        self.message_type & TP_FLAG != 0
    }

    /// A service discovery message.
    pub fn is_sd(&self) -> bool {
        self.service == SD_SERVICE && self.method == SD_METHOD
    }

    /// A magic cookie, and whether the client sent it.
    pub fn cookie(&self) -> Option<bool> {
        match (self.service, self.method) {
            (SD_SERVICE, COOKIE_FROM_CLIENT) => Some(true),
            (SD_SERVICE, COOKIE_FROM_SERVER) => Some(false),
            _ => None,
        }
    }

    /// Requests, fire-and-forget calls and notifications carry return code 0.
    fn consistent(&self) -> bool {
        matches!(self.kind, Kind::Response | Kind::Error) || self.return_code == 0
    }

    /// The key a request and its answer share: the client id and the session id.
    pub fn call_key(&self) -> u32 {
        u32::from(self.client) << 16 | u32::from(self.session)
    }
}

/// The header at the start of `b`: protocol version 1, a length of at least 8 and at most
/// [`MAX_LENGTH`], a known message type, a return code that is not reserved and is 0 on what is
/// not an answer.
pub fn header(b: &[u8]) -> Option<Header> {
    let h: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
    let be16 = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let length = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    if h[12] != 1 || !(8..=MAX_LENGTH).contains(&length) || h[15] > RETURN_CODE_MAX {
        return None;
    }
    let hd = Header {
        service: be16(0),
        method: be16(2),
        length,
        client: be16(8),
        session: be16(10),
        interface_version: h[13],
        message_type: h[14],
        return_code: h[15],
        kind: Kind::of(h[14])?,
    };
    hd.consistent().then_some(hd)
}

/// Could `b` (shorter than a header) be the start of one? Every byte at hand is checked.
pub fn plausible_start(b: &[u8]) -> bool {
    let length_ok = match b.get(4..8) {
        Some(l) => (8..=MAX_LENGTH).contains(&u32::from_be_bytes([l[0], l[1], l[2], l[3]])),
        // The length's high byte is 0 below 16 MiB.
        None => b.get(4).is_none_or(|&x| x < (MAX_LENGTH >> 24) as u8),
    };
    length_ok
        && b.get(12).is_none_or(|&v| v == 1)
        && b.get(14).is_none_or(|&t| Kind::of(t).is_some())
}

/// The offset (bytes) of a SOME/IP-TP segment in its message, from the TP header after the
/// SOME/IP header; None when it was not captured.
pub fn tp_offset(msg: &[u8]) -> Option<u32> {
    let t = msg.get(HEADER_LEN..TP_HEADER_LEN)?;
    Some((u32::from_be_bytes([t[0], t[1], t[2], t[3]]) >> 4) * 16)
}

/// Is `datagram` one or more whole SOME/IP messages?
pub fn whole_messages(datagram: &[u8]) -> bool {
    let mut rest = datagram;
    while !rest.is_empty() {
        match header(rest) {
            Some(h) if h.size() <= rest.len() => rest = &rest[h.size()..],
            _ => return false,
        }
    }
    !datagram.is_empty()
}

/// One entry of a service discovery message (AUTOSAR PRS_SOMEIPServiceDiscoveryProtocol): 16
/// bytes after the SD header (flags, reserved, the entries' length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdEntry {
    pub kind: u8,
    pub service: u16,
    pub instance: u16,
    pub major_version: u8,
    pub ttl: u32,
    /// The eventgroup of a (Stop)Subscribe(Ack/Nack) entry.
    pub eventgroup: Option<u16>,
    /// The entry's two runs of options: (index of the first, how many).
    pub options: [(u8, u8); 2],
}

impl SdEntry {
    /// The entry's name; a TTL of 0 turns an offer into a stop and an acknowledgement into a
    /// refusal.
    pub fn name(&self) -> &'static str {
        match (self.kind, self.ttl) {
            (0x00, _) => "FindService",
            (0x01, 0) => "StopOfferService",
            (0x01, _) => "OfferService",
            (0x06, 0) => "StopSubscribeEventgroup",
            (0x06, _) => "SubscribeEventgroup",
            (0x07, 0) => "SubscribeEventgroupNack",
            (0x07, _) => "SubscribeEventgroupAck",
            _ => "Unknown",
        }
    }
}

/// The entries of a service discovery message's payload (the bytes after the SOME/IP header), as
/// far as they were captured.
pub fn sd_entries(payload: &[u8]) -> impl Iterator<Item = SdEntry> + '_ {
    let declared = payload
        .get(4..8)
        .map_or(0, |l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize);
    let entries = payload.get(8..).unwrap_or_default();
    let entries = &entries[..declared.min(entries.len())];
    entries.chunks_exact(16).map(|e| {
        let be16 = |i: usize| u16::from_be_bytes([e[i], e[i + 1]]);
        SdEntry {
            kind: e[0],
            service: be16(4),
            instance: be16(6),
            major_version: e[8],
            ttl: u32::from_be_bytes([0, e[9], e[10], e[11]]),
            eventgroup: matches!(e[0], 0x06 | 0x07).then(|| be16(14)),
            options: [(e[1], e[3] >> 4), (e[2], e[3] & 0x0f)],
        }
    })
}

/// An endpoint option of a service discovery message: where a service is offered, where a
/// subscriber wants its events, a multicast group, the SD endpoint itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdEndpoint {
    pub addr: std::net::IpAddr,
    /// The transport (IP protocol number: 6 TCP, 17 UDP).
    pub proto: u8,
    pub port: u16,
}

/// The options array's bytes read at most: a message's options are a few dozen bytes.
const SD_OPTIONS_MAX: usize = 64;

/// Option `index` of a service discovery message's payload (the bytes after the SOME/IP header),
/// when it is an endpoint option (IPv4 / IPv6 endpoint, multicast or SD endpoint) and was
/// captured.
pub fn sd_option(payload: &[u8], index: u8) -> Option<SdEndpoint> {
    let be32 = |at: usize| -> Option<usize> {
        let b = payload.get(at..at.checked_add(4)?)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let at = be32(4)?.checked_add(8)?;
    let declared = be32(at)?;
    let start = at + 4;
    let options = payload.get(start..start.saturating_add(declared).min(payload.len()))?;
    let mut rest = options;
    for i in 0..=usize::from(index).min(SD_OPTIONS_MAX) {
        let len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
        let option = rest.get(..3 + len)?;
        if i == usize::from(index) {
            // Type, a reserved byte, then the address, a reserved byte, the transport and port.
            let body = &option[3..];
            let addr: std::net::IpAddr = match option[2] {
                0x04 | 0x14 | 0x24 if len == 9 => {
                    std::net::Ipv4Addr::new(body[1], body[2], body[3], body[4]).into()
                }
                0x06 | 0x16 | 0x26 if len == 21 => {
                    let mut a = [0; 16];
                    a.copy_from_slice(&body[1..17]);
                    std::net::Ipv6Addr::from(a).into()
                }
                _ => return None,
            };
            let tail = &body[len - 3..];
            return Some(SdEndpoint {
                addr,
                proto: tail[0],
                port: u16::from_be_bytes([tail[1], tail[2]]),
            });
        }
        rest = &rest[3 + len..];
    }
    None
}

/// The message type's name (AUTOSAR's).
pub fn type_name(message_type: u8) -> &'static str {
    match message_type {
        0x00 => "REQUEST",
        0x01 => "REQUEST_NO_RETURN",
        0x02 => "NOTIFICATION",
        0x80 => "RESPONSE",
        0x81 => "ERROR",
        0x20 => "TP_REQUEST",
        0x21 => "TP_REQUEST_NO_RETURN",
        0x22 => "TP_NOTIFICATION",
        0xa0 => "TP_RESPONSE",
        0xa1 => "TP_ERROR",
        _ => "UNKNOWN",
    }
}

const E_UNKNOWN_SERVICE: u8 = 0x02;
const E_UNKNOWN_METHOD: u8 = 0x03;
const E_WRONG_PROTOCOL_VERSION: u8 = 0x07;
const E_WRONG_INTERFACE_VERSION: u8 = 0x08;
const E_WRONG_MESSAGE_TYPE: u8 = 0x0a;

/// The caller's mistakes, as DeepFlow classes them; every other non-zero code is the server's.
pub fn is_client_error(return_code: u8) -> bool {
    matches!(
        return_code,
        E_UNKNOWN_SERVICE
            | E_UNKNOWN_METHOD
            | E_WRONG_PROTOCOL_VERSION
            | E_WRONG_INTERFACE_VERSION
            | E_WRONG_MESSAGE_TYPE
    )
}

/// The return code's name (AUTOSAR's); service-specific codes (0x20..=0x5E) are
/// `E_SERVICE_SPECIFIC`, reserved ones `E_RESERVED`.
pub fn return_code_name(return_code: u8) -> &'static str {
    match return_code {
        0x00 => "E_OK",
        0x01 => "E_NOT_OK",
        E_UNKNOWN_SERVICE => "E_UNKNOWN_SERVICE",
        E_UNKNOWN_METHOD => "E_UNKNOWN_METHOD",
        0x04 => "E_NOT_READY",
        0x05 => "E_NOT_REACHABLE",
        0x06 => "E_TIMEOUT",
        E_WRONG_PROTOCOL_VERSION => "E_WRONG_PROTOCOL_VERSION",
        E_WRONG_INTERFACE_VERSION => "E_WRONG_INTERFACE_VERSION",
        0x09 => "E_MALFORMED_MESSAGE",
        E_WRONG_MESSAGE_TYPE => "E_WRONG_MESSAGE_TYPE",
        0x0b => "E_E2E_REPEATED",
        0x0c => "E_E2E_WRONG_SEQUENCE",
        0x0d => "E_E2E",
        0x0e => "E_E2E_NOT_AVAILABLE",
        0x0f => "E_E2E_NO_NEW_DATA",
        0x20..=RETURN_CODE_MAX => "E_SERVICE_SPECIFIC",
        _ => "E_RESERVED",
    }
}
