//! MySQL / MariaDB client-server protocol: packet headers, commands, the server greeting, the
//! client's handshake capabilities, OK and ERR packets. Pure and bounded.

/// Packet header: 3-byte little-endian payload length and a sequence id.
pub const HEADER_LEN: usize = 4;
/// A payload of this length continues in the next packet.
pub const MAX_PAYLOAD: u32 = 0xff_ffff;

pub const CLIENT_COMPRESS: u32 = 0x20;
pub const CLIENT_PROTOCOL_41: u32 = 0x200;
pub const CLIENT_SSL: u32 = 0x800;
/// MySQL 8.0.18's zstd protocol compression.
pub const CLIENT_ZSTD_COMPRESSION: u32 = 0x400_0000;
const CLIENT_CONNECT_WITH_DB: u32 = 0x8;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_PLUGIN_AUTH_LENENC_DATA: u32 = 0x20_0000;

pub const COM_QUIT: u8 = 0x01;
pub const COM_INIT_DB: u8 = 0x02;
pub const COM_QUERY: u8 = 0x03;
pub const COM_FIELD_LIST: u8 = 0x04;
pub const COM_STMT_PREPARE: u8 = 0x16;
pub const COM_STMT_EXECUTE: u8 = 0x17;
pub const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
pub const COM_STMT_CLOSE: u8 = 0x19;
pub const COM_STMT_FETCH: u8 = 0x1c;

/// A packet header at the start of `b`: (payload length, sequence id).
pub fn header(b: &[u8]) -> Option<(u32, u8)> {
    let h = b.get(..HEADER_LEN)?;
    Some((u32::from_le_bytes([h[0], h[1], h[2], 0]), h[3]))
}

/// The name of a command byte (DeepFlow's request_type); None for bytes that are not commands.
pub fn command_name(c: u8) -> Option<&'static str> {
    Some(match c {
        0x00 => "COM_SLEEP",
        0x01 => "COM_QUIT",
        0x02 => "COM_INIT_DB",
        0x03 => "COM_QUERY",
        0x04 => "COM_FIELD_LIST",
        0x05 => "COM_CREATE_DB",
        0x06 => "COM_DROP_DB",
        0x07 => "COM_REFRESH",
        0x08 => "COM_SHUTDOWN",
        0x09 => "COM_STATISTICS",
        0x0a => "COM_PROCESS_INFO",
        0x0c => "COM_PROCESS_KILL",
        0x0d => "COM_DEBUG",
        0x0e => "COM_PING",
        0x11 => "COM_CHANGE_USER",
        0x16 => "COM_STMT_PREPARE",
        0x17 => "COM_STMT_EXECUTE",
        0x18 => "COM_STMT_SEND_LONG_DATA",
        0x19 => "COM_STMT_CLOSE",
        0x1a => "COM_STMT_RESET",
        0x1b => "COM_SET_OPTION",
        0x1c => "COM_STMT_FETCH",
        0x1f => "COM_RESET_CONNECTION",
        _ => return None,
    })
}

/// A length-encoded integer at the start of `b`: (value, bytes used).
pub fn lenenc(b: &[u8]) -> Option<(u64, usize)> {
    let n = |k: usize| -> Option<u64> {
        let v = b.get(1..1 + k)?;
        Some(v.iter().rev().fold(0u64, |a, x| a << 8 | u64::from(*x)))
    };
    match *b.first()? {
        x @ 0..=0xfa => Some((u64::from(x), 1)),
        0xfc => Some((n(2)?, 3)),
        0xfd => Some((n(3)?, 4)),
        0xfe => Some((n(8)?, 9)),
        _ => None,
    }
}

/// The server's greeting (protocol 10): its version string and capability flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeting<'a> {
    pub version: &'a [u8],
    pub connection_id: u32,
    pub caps: u32,
}

pub fn parse_greeting(p: &[u8]) -> Option<Greeting<'_>> {
    if p.first() != Some(&10) {
        return None;
    }
    let nul = p[1..].iter().position(|b| *b == 0)? + 1;
    let version = &p[1..nul];
    let rest = p.get(nul + 1..)?;
    let connection_id = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?);
    // auth data (8), filler (1), caps low (2), charset (1), status (2), caps high (2).
    let low = u16::from_le_bytes(rest.get(13..15)?.try_into().ok()?);
    let high = rest
        .get(18..20)
        .map_or(0, |h| u16::from_le_bytes([h[0], h[1]]));
    Some(Greeting {
        version,
        connection_id,
        caps: u32::from(low) | u32::from(high) << 16,
    })
}

/// An ERR packet's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrPacket<'a> {
    pub code: u16,
    /// The SQLSTATE (5 characters), when the packet has one.
    pub state: Option<&'a [u8]>,
    pub message: &'a [u8],
}

pub fn parse_err(p: &[u8]) -> Option<ErrPacket<'_>> {
    if p.first() != Some(&0xff) {
        return None;
    }
    let code = u16::from_le_bytes(p.get(1..3)?.try_into().ok()?);
    let rest = p.get(3..).unwrap_or_default();
    let (state, message) = match rest {
        [b'#', s @ ..] if s.len() >= 5 => (Some(&s[..5]), &s[5..]),
        _ => (None, rest),
    };
    Some(ErrPacket {
        code,
        state,
        message,
    })
}

/// An OK packet's affected rows.
pub fn parse_ok_affected(p: &[u8]) -> Option<u64> {
    if p.first() != Some(&0x00) {
        return None;
    }
    lenenc(&p[1..]).map(|(v, _)| v)
}

/// The user and database of a protocol 4.1 handshake response (the login).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Login<'a> {
    pub user: &'a [u8],
    /// Empty when the client names none.
    pub database: &'a [u8],
}

fn cstring(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let nul = b.iter().position(|c| *c == 0)?;
    Some((&b[..nul], &b[nul + 1..]))
}

/// The handshake response `p` with capabilities `caps`: caps (4), max packet (4), charset (1),
/// filler (23), user, auth data, database.
pub fn parse_login(p: &[u8], caps: u32) -> Option<Login<'_>> {
    let (user, rest) = cstring(p.get(32..)?)?;
    let mut login = Login {
        user,
        database: &[],
    };
    let auth_end = if caps & CLIENT_PLUGIN_AUTH_LENENC_DATA != 0 {
        lenenc(rest).map(|(n, used)| used as u64 + n)
    } else if caps & CLIENT_SECURE_CONNECTION != 0 {
        rest.first().map(|n| 1 + u64::from(*n))
    } else {
        rest.iter().position(|c| *c == 0).map(|n| n as u64 + 1)
    };
    if caps & CLIENT_CONNECT_WITH_DB != 0 {
        let after = auth_end.and_then(|e| rest.get(usize::try_from(e).ok()?..));
        if let Some((db, _)) = after.and_then(cstring) {
            login.database = db;
        }
    }
    Some(login)
}
