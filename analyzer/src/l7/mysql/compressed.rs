//! MySQL's compressed protocol (`CLIENT_COMPRESS`, zlib). Once authentication has ended, each
//! direction is a stream of compressed packets: a 7-byte header (the body's length, a sequence
//! id, the body's length uncompressed or 0 when the body is sent as it is) and a body holding
//! ordinary packets (one may go on in the next body). Every body is a zlib stream of its own, and
//! the sequence id starts again with each command: the client's command is 0, the first body of
//! the server's reply 1.
//!
//! Only a body's head is inflated, into the caller's buffer: nothing is allocated and nothing is
//! kept between bodies, so a body of any size costs at most [`HEAD_MAX`](super::super::decompress::HEAD_MAX) bytes of output.

use super::super::decompress::zlib_head;

/// The compressed packet's header.
pub const HEADER_LEN: usize = 7;

/// A compressed packet's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Bytes of the body.
    pub len: u32,
    pub seq: u8,
    /// Bytes of the body inflated; 0: the body is not compressed.
    pub plain_len: u32,
}

/// The compressed packet header at the start of `b`.
pub fn header(b: &[u8]) -> Option<Header> {
    let h = b.get(..HEADER_LEN)?;
    Some(Header {
        len: u32::from_le_bytes([h[0], h[1], h[2], 0]),
        seq: h[3],
        plain_len: u32::from_le_bytes([h[4], h[5], h[6], 0]),
    })
}

/// Inflates the head of a body into `out` (`body_whole`: `body` is all of it): the bytes written
/// and whether they are the whole body (its header's `plain_len`). None when the body is not a
/// zlib stream.
pub fn inflate_head(
    body: &[u8],
    body_whole: bool,
    plain_len: u32,
    out: &mut [u8],
) -> Option<(usize, bool)> {
    let (n, ended) = zlib_head(body, body_whole, out)?;
    Some((n, ended && n == plain_len as usize))
}

/// Does `b` start a compressed packet of sequence id `seq` whose body starts an ordinary packet
/// of the same sequence id (sent as it is) or a zlib stream? Where a stream that lost bytes may
/// be picked up again: a command (0) or the first body of a reply (1).
pub fn starts_body(b: &[u8], seq: u8) -> bool {
    let Some(h) = header(b) else {
        return false;
    };
    let body = &b[HEADER_LEN..];
    if h.seq != seq || h.len == 0 {
        return false;
    }
    if h.plain_len == 0 {
        return matches!(super::wire::header(body), Some((len, s)) if len > 0 && s == seq);
    }
    // zlib: deflate with a window of at most 32 KiB, a header check that divides by 31.
    match body {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// The head of the body of the compressed packet at the start of `b` (inflated into `out` when
/// compressed), when `b` starts a command (sequence id 0) whose body starts an ordinary command
/// packet: where a connection already in the compressed protocol is joined.
pub fn command_head<'a>(b: &'a [u8], out: &'a mut [u8]) -> Option<&'a [u8]> {
    if !starts_body(b, 0) {
        return None;
    }
    let h = header(b)?;
    let total = HEADER_LEN + h.len as usize;
    let body = &b[HEADER_LEN..b.len().min(total)];
    let head: &[u8] = if h.plain_len == 0 {
        body
    } else {
        let (n, _) = inflate_head(body, b.len() >= total, h.plain_len, out)?;
        &out[..n]
    };
    // A command other than COM_SLEEP (which clients never send).
    match (super::wire::header(head), head.get(super::wire::HEADER_LEN)) {
        (Some((_, 0)), Some(&c)) if c != 0 && super::wire::command_name(c).is_some() => Some(head),
        _ => None,
    }
}
