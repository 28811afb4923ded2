//! The echo header (RFC 792, RFC 4443 section 4): type, code, checksum, identifier, sequence
//! number, then the data. ICMP's and ICMPv6's echo types do not overlap, so one decoder reads
//! both.

/// Bytes of the echo header.
pub const ECHO_HEADER: usize = 8;

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

/// One echo message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo {
    pub is_reply: bool,
    pub id: u16,
    pub seq: u16,
    /// Bytes of data after the header, as captured.
    pub data_len: usize,
}

impl Echo {
    /// DeepFlow's session id: the identifier and the sequence number together.
    pub fn key(&self) -> u32 {
        (u32::from(self.id) << 16) | u32::from(self.seq)
    }
}

/// The echo request or reply `msg` (an ICMP message, header included), or None for anything
/// else (another ICMP type, a code other than 0, a cut header).
pub fn parse_echo(msg: &[u8]) -> Option<Echo> {
    let header = msg.get(..ECHO_HEADER)?;
    let is_reply = match header[0] {
        ECHO_REQUEST_V4 | ECHO_REQUEST_V6 => false,
        ECHO_REPLY_V4 | ECHO_REPLY_V6 => true,
        _ => return None,
    };
    if header[1] != 0 {
        return None;
    }
    Some(Echo {
        is_reply,
        id: u16::from_be_bytes([header[4], header[5]]),
        seq: u16::from_be_bytes([header[6], header[7]]),
        data_len: msg.len() - ECHO_HEADER,
    })
}
