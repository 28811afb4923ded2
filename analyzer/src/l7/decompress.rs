//! Heads of compressed messages, for the parsers of protocols that compress theirs (MySQL's
//! compressed protocol, MongoDB's OP_COMPRESSED, Kafka's record batches): zlib, gzip, snappy's
//! raw block format and LZ4's frame format, decoded into the caller's buffer as far as it goes,
//! from as much of the input as was captured. Nothing is allocated and no state outlives a call,
//! so a message of any size costs at most the caller's buffer.

use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

/// The most of a compressed message decompressed: a command, or the head of a reply (a reply of a
/// few rows whole).
pub const HEAD_MAX: usize = 4096;

/// zlib (`whole`: `src` is all of the stream): the bytes written, and whether the stream ended
/// there. None when `src` is not zlib.
pub fn zlib_head(src: &[u8], whole: bool, out: &mut [u8]) -> Option<(usize, bool)> {
    inflate(src, whole, out, inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER)
}

/// gzip (RFC 1952: a header, then raw deflate), as [`zlib_head`]. None when `src` is not gzip.
pub fn gzip_head(src: &[u8], whole: bool, out: &mut [u8]) -> Option<(usize, bool)> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let head = src.get(..10)?;
    if head[..3] != [0x1f, 0x8b, 8] {
        return None;
    }
    let flags = head[3];
    let mut i = 10;
    if flags & FEXTRA != 0 {
        let n = src.get(i..i + 2)?;
        i += 2 + usize::from(u16::from_le_bytes([n[0], n[1]]));
    }
    for field in [FNAME, FCOMMENT] {
        if flags & field != 0 {
            i += src.get(i..)?.iter().position(|&b| b == 0)? + 1;
        }
    }
    if flags & FHCRC != 0 {
        i += 2;
    }
    inflate(src.get(i..)?, whole, out, 0)
}

fn inflate(src: &[u8], whole: bool, out: &mut [u8], header: u32) -> Option<(usize, bool)> {
    let mut d = DecompressorOxide::new();
    let mut flags = header | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    if !whole {
        flags |= inflate_flags::TINFL_FLAG_HAS_MORE_INPUT;
    }
    match decompress(&mut d, src, out, 0, flags) {
        (TINFLStatus::Done, _, n) => Some((n, true)),
        // The output buffer is full, or the rest of the stream was not captured: the head.
        (TINFLStatus::HasMoreOutput | TINFLStatus::NeedsMoreInput, _, n) => Some((n, false)),
        _ => None,
    }
}

/// Snappy's raw block format (a varint length, then literals and back-references to what was
/// written): the bytes written, as far as `out` and `src` go. None when a back-reference points
/// before the start, or a whole block ends inside an element.
pub fn snappy_head(src: &[u8], whole: bool, out: &mut [u8]) -> Option<usize> {
    // The element ends past what was captured: the head ends here (a cut block), or the block
    // is bad (a whole one).
    let cut = |o: usize| (!whole).then_some(o);
    let mut i = 0;
    // The uncompressed length (a varint of at most 5 bytes): the caller knows it already.
    loop {
        let Some(&b) = src.get(i) else {
            return cut(0);
        };
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        if i == 5 {
            return None;
        }
    }
    let mut o = 0;
    while i < src.len() && o < out.len() {
        let tag = src[i];
        i += 1;
        let (len, offset) = match tag & 3 {
            0 => {
                let mut len = usize::from(tag >> 2);
                if len >= 60 {
                    let n = len - 59;
                    let Some(b) = src.get(i..i + n) else {
                        return cut(o);
                    };
                    len = b.iter().rev().fold(0, |a, &x| a << 8 | usize::from(x));
                    i += n;
                }
                let len = len + 1;
                let take = len.min(src.len() - i).min(out.len() - o);
                out[o..o + take].copy_from_slice(&src[i..i + take]);
                o += take;
                if take < len && o < out.len() {
                    return cut(o);
                }
                i += take;
                continue;
            }
            1 => {
                let Some(&b) = src.get(i) else {
                    return cut(o);
                };
                i += 1;
                (
                    4 + usize::from((tag >> 2) & 7),
                    usize::from(tag >> 5) << 8 | usize::from(b),
                )
            }
            2 => {
                let Some(b) = src.get(i..i + 2) else {
                    return cut(o);
                };
                i += 2;
                (
                    1 + usize::from(tag >> 2),
                    usize::from(u16::from_le_bytes([b[0], b[1]])),
                )
            }
            _ => {
                let Some(b) = src.get(i..i + 4) else {
                    return cut(o);
                };
                i += 4;
                (
                    1 + usize::from(tag >> 2),
                    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
                )
            }
        };
        if offset == 0 || offset > o {
            return None;
        }
        // Byte by byte: a reference may overlap what it writes (a run).
        for _ in 0..len.min(out.len() - o) {
            out[o] = out[o - offset];
            o += 1;
        }
    }
    Some(o)
}

/// LZ4's frame format (a magic number, a descriptor, then blocks, each compressed or stored,
/// until an empty one): the bytes written, as far as `out` and `src` go. Blocks may refer to
/// earlier blocks' output (linked blocks): they are decoded one after another into `out`.
/// Checksums are skipped, not checked. None when `src` is not an LZ4 frame or a block is bad.
pub fn lz4_frame_head(src: &[u8], whole: bool, out: &mut [u8]) -> Option<usize> {
    const MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];
    const BLOCK_CHECKSUM: u8 = 0x10;
    const CONTENT_SIZE: u8 = 0x08;
    const DICT_ID: u8 = 0x01;
    const STORED: u32 = 0x8000_0000;
    if src.get(..4)? != MAGIC {
        return None;
    }
    let flg = *src.get(4)?;
    if flg >> 6 != 1 {
        return None;
    }
    let mut i = 7; // magic, FLG, BD, and the header checksum at the end
    if flg & CONTENT_SIZE != 0 {
        i += 8;
    }
    if flg & DICT_ID != 0 {
        i += 4;
    }
    let checksum = if flg & BLOCK_CHECKSUM != 0 { 4 } else { 0 };
    let mut o = 0;
    while o < out.len() {
        let Some(b) = src.get(i..i + 4) else {
            // The data ends between blocks (no end mark: what was written stands), or inside a
            // block's size.
            return (i >= src.len() || !whole).then_some(o);
        };
        let size = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        i += 4;
        if size == 0 {
            break; // the end mark
        }
        let len = (size & !STORED) as usize;
        let end = i.saturating_add(len);
        let block = &src[i.min(src.len())..end.min(src.len())];
        let block_whole = end <= src.len();
        if !block_whole && whole {
            return None;
        }
        if size & STORED != 0 {
            let take = block.len().min(out.len() - o);
            out[o..o + take].copy_from_slice(&block[..take]);
            o += take;
        } else {
            o = lz4_block(block, block_whole, out, o)?;
        }
        if !block_whole {
            break;
        }
        i = end + checksum;
    }
    Some(o)
}

/// One LZ4 block (sequences of literals and back-references) decoded into `out` from `o` on:
/// the end of what was written.
fn lz4_block(src: &[u8], whole: bool, out: &mut [u8], mut o: usize) -> Option<usize> {
    let cut = |o: usize| (!whole).then_some(o);
    // A length nibble of 15 continues in bytes of 255 and a last one below.
    let length = |nibble: usize, i: &mut usize| -> Option<usize> {
        let mut n = nibble;
        if nibble == 15 {
            loop {
                let b = *src.get(*i)?;
                *i += 1;
                n = n.saturating_add(usize::from(b));
                if b != 255 {
                    break;
                }
            }
        }
        Some(n)
    };
    let mut i = 0;
    while o < out.len() {
        let Some(&token) = src.get(i) else {
            return cut(o);
        };
        i += 1;
        let Some(lit) = length(usize::from(token >> 4), &mut i) else {
            return cut(o);
        };
        let avail = src.len() - i;
        let take = lit.min(avail).min(out.len() - o);
        out[o..o + take].copy_from_slice(&src[i..i + take]);
        o += take;
        if take < lit {
            // Out of output (the head is full) or of input (a cut block, or a bad one).
            return if o == out.len() { Some(o) } else { cut(o) };
        }
        i += lit;
        if i == src.len() {
            return Some(o); // the last sequence has literals only
        }
        let Some(b) = src.get(i..i + 2) else {
            return cut(o);
        };
        i += 2;
        let offset = usize::from(u16::from_le_bytes([b[0], b[1]]));
        let Some(len) = length(usize::from(token & 15), &mut i) else {
            return cut(o);
        };
        if offset == 0 || offset > o {
            return None;
        }
        // Byte by byte: a reference may overlap what it writes (a run).
        for _ in 0..(len + 4).min(out.len() - o) {
            out[o] = out[o - offset];
            o += 1;
        }
    }
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snappy_literals_runs_and_cuts() {
        // "abcd" then a copy of 8 at offset 4 (1-byte offset form), then a run of 'x' (a
        // literal and a 2-byte-offset copy of 9 at offset 1).
        let block = [
            22, // length 22 (varint)
            3 << 2,
            b'a',
            b'b',
            b'c',
            b'd',
            1 | ((8 - 4) << 2),
            4,
            0,
            b'x',
            2 | ((9 - 1) << 2),
            1,
            0,
        ];
        let mut out = [0; 64];
        let n = snappy_head(&block, true, &mut out).unwrap();
        assert_eq!(&out[..n], b"abcdabcdabcdxxxxxxxxxx"[..n].as_ref());
        assert_eq!(n, 22);
        // Cut anywhere: the head so far, never more, never a failure.
        for cut in 0..block.len() {
            let n = snappy_head(&block[..cut], false, &mut out).unwrap();
            assert!(
                b"abcdabcdabcdxxxxxxxxxx".starts_with(&out[..n]),
                "cut {cut}"
            );
        }
        // A small buffer takes the head.
        let mut small = [0; 6];
        assert_eq!(snappy_head(&block, true, &mut small), Some(6));
        assert_eq!(&small, b"abcdab");
        // A reference before the start is bad.
        assert_eq!(snappy_head(&[4, 1 | (4 << 2), 9], true, &mut out), None);
        // A long literal (length in one extra byte).
        let mut long = vec![100, 60 << 2, 99];
        long.extend(std::iter::repeat_n(b'z', 100));
        assert_eq!(snappy_head(&long, true, &mut out), Some(64));
        assert!(out.iter().all(|&b| b == b'z'));
    }

    /// An LZ4 frame with a block checksum flag and the content size: a compressed block
    /// ("abcd", then a run copied from 4 back, then literals), a stored block, and a compressed
    /// block whose reference reaches into the first (linked blocks).
    fn lz4_frame() -> (Vec<u8>, Vec<u8>) {
        let mut f = vec![0x04, 0x22, 0x4d, 0x18, 0x40 | 0x10 | 0x08, 0x40];
        f.extend_from_slice(&27u64.to_le_bytes());
        f.push(0xaa); // header checksum (not checked)
                      // Block 1: 4 literals, a match of 8 at offset 4 (nibble 4 = 8 - 4), then 2 literals.
        let b1 = [0x44, b'a', b'b', b'c', b'd', 4, 0, 0x20, b'x', b'y'];
        f.extend_from_slice(&(b1.len() as u32).to_le_bytes());
        f.extend_from_slice(&b1);
        f.extend_from_slice(&[0; 4]); // block checksum
        let stored = b"STORE";
        f.extend_from_slice(&(stored.len() as u32 | 0x8000_0000).to_le_bytes());
        f.extend_from_slice(stored);
        f.extend_from_slice(&[0; 4]);
        // Block 3: no literals, a match of 4 at offset 19 (the "abcd" of block 1), then 2
        // literals.
        let b3 = [0x00, 19, 0, 0x20, b'!', b'?'];
        f.extend_from_slice(&(b3.len() as u32).to_le_bytes());
        f.extend_from_slice(&b3);
        f.extend_from_slice(&[0; 4]);
        f.extend_from_slice(&[0; 4]); // the end mark
        (f, b"abcdabcdabcdxySTOREabcd!?".to_vec())
    }

    #[test]
    fn lz4_frames_linked_blocks_and_cuts() {
        let (frame, plain) = lz4_frame();
        let mut out = [0; 64];
        let n = lz4_frame_head(&frame, true, &mut out).unwrap();
        assert_eq!(&out[..n], &plain[..]);
        for cut in 0..frame.len() {
            if let Some(n) = lz4_frame_head(&frame[..cut], false, &mut out) {
                assert!(plain.starts_with(&out[..n]), "cut {cut}");
            }
        }
        let mut small = [0; 7];
        assert_eq!(lz4_frame_head(&frame, true, &mut small), Some(7));
        assert_eq!(&small, b"abcdabc");
        // A long literal: its length continues in bytes of 255.
        let mut long = vec![0x04, 0x22, 0x4d, 0x18, 0x40, 0x40, 0];
        let lit = 15 + 255 + 3;
        let block = [&[0xf0, 255, 3][..], &vec![b'z'; lit]].concat();
        long.extend_from_slice(&(block.len() as u32).to_le_bytes());
        long.extend_from_slice(&block);
        let mut big = [0; 512];
        assert_eq!(lz4_frame_head(&long, true, &mut big), Some(lit));
        // A reference before the start, a wrong magic, a whole frame cut inside a block.
        let bad = [
            0x04, 0x22, 0x4d, 0x18, 0x40, 0x40, 0, 3, 0, 0, 0, 0x00, 9, 0,
        ];
        assert_eq!(lz4_frame_head(&bad, true, &mut out), None);
        assert_eq!(lz4_frame_head(b"not lz4 at all", true, &mut out), None);
        assert_eq!(lz4_frame_head(&frame[..22], true, &mut out), None);
    }

    #[test]
    fn gzip_with_a_file_name_and_comment() {
        use std::io::Write;
        let plain = b"the head of a record batch, gzipped by Kafka's client".repeat(3);
        let mut e = flate2::GzBuilder::new()
            .filename("batch")
            .comment("c")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), flate2::Compression::default());
        e.write_all(&plain).unwrap();
        let gz = e.finish().unwrap();
        let mut out = [0; 512];
        let (n, done) = gzip_head(&gz, true, &mut out).unwrap();
        assert!(done);
        assert_eq!(&out[..n], &plain[..]);
        for cut in 0..gz.len() {
            if let Some((n, _)) = gzip_head(&gz[..cut], false, &mut out) {
                assert!(plain.starts_with(&out[..n]), "cut {cut}");
            }
        }
        assert_eq!(gzip_head(b"\x78\x9c not gzip", true, &mut out), None);
    }
}
