//! OP_COMPRESSED: a message whose body is another message's, compressed (the original opcode,
//! its uncompressed size and a compressor id follow the header). The head of the body is
//! decompressed into the caller's buffer and given the original header back, so it is read as
//! the message it carries. Nothing is allocated and nothing is kept between messages: a message
//! of any size costs at most [`HEAD_MAX`] bytes of output.
//!
//! Compressors read: none (0), snappy (1, its raw block format), zlib (2) and zstd (3, with the
//! worker's decoder: its frames need a state far larger than a message head).

use super::super::decompress::{snappy_head, zlib_head, HEAD_MAX};
use super::super::decompress_zstd::ZstdHeads;
use super::wire::{u32_at, HEADER_LEN};

/// The buffer a carried message is rebuilt in: its header, then the head of its body.
pub type Buffer = [u8; HEADER_LEN + HEAD_MAX];

const NOOP: u8 = 0;
const SNAPPY: u8 = 1;
const ZLIB: u8 = 2;
const ZSTD: u8 = 3;

/// The bytes between the header and the compressed body.
const PREFIX_LEN: usize = 9;

/// The message an OP_COMPRESSED `msg` (header included, as far as it was captured) carries,
/// rebuilt in `out`: its header (the original opcode, the uncompressed length) and the head of
/// its body. None for an unknown compressor, or a body that does not decompress.
pub fn carried<'a>(msg: &[u8], out: &'a mut Buffer, zstd: &mut ZstdHeads) -> Option<&'a [u8]> {
    let declared = u32_at(msg, 0)? as usize;
    let opcode = u32_at(msg, HEADER_LEN)?;
    let size = u32_at(msg, HEADER_LEN + 4)?;
    let compressor = *msg.get(HEADER_LEN + 8)?;
    let body = msg.get(HEADER_LEN + PREFIX_LEN..)?;
    let whole = msg.len() >= declared;
    let (head, rest) = out.split_at_mut(HEADER_LEN);
    let n = match compressor {
        NOOP => {
            let n = body.len().min(rest.len());
            rest[..n].copy_from_slice(&body[..n]);
            n
        }
        SNAPPY => snappy_head(body, whole, rest)?,
        ZLIB => zlib_head(body, whole, rest)?.0,
        ZSTD => zstd.head(body, rest)?,
        _ => return None,
    };
    head.copy_from_slice(&msg[..HEADER_LEN]);
    let len = (HEADER_LEN as u32).saturating_add(size);
    head[..4].copy_from_slice(&len.to_le_bytes());
    head[12..16].copy_from_slice(&opcode.to_le_bytes());
    Some(&out[..HEADER_LEN + n])
}
