//! Heads of compressed messages, for the parsers of protocols that compress theirs (MySQL's
//! compressed protocol, MongoDB's OP_COMPRESSED): zlib, and snappy's raw block format, decoded
//! into the caller's buffer as far as it goes, from as much of the input as was captured.
//! Nothing is allocated and no state outlives a call, so a message of any size costs at most the
//! caller's buffer.

use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

/// The most of a compressed message decompressed: a command, or the head of a reply (a reply of a
/// few rows whole).
pub const HEAD_MAX: usize = 4096;

/// zlib (`whole`: `src` is all of the stream): the bytes written, and whether the stream ended
/// there. None when `src` is not zlib.
pub fn zlib_head(src: &[u8], whole: bool, out: &mut [u8]) -> Option<(usize, bool)> {
    let mut d = DecompressorOxide::new();
    let mut flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
        | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
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
}
