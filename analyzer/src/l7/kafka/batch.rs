//! The records of a v2 record batch, as far as the row needs them: the headers of the first
//! record (trace and span ids). A compressed batch (gzip, snappy raw or in the xerial framing of
//! Kafka's Java client, LZ4 frames, zstd) has the head of its records decompressed into the
//! caller's buffer; batches whose data does not decompress are not opened.

use super::super::decompress::{gzip_head, lz4_frame_head, snappy_head};
use super::super::decompress_zstd::ZstdHeads;
use super::wire::Reader;

/// The batch header's length: the records follow it.
const RECORDS_AT: usize = 61;
const MAGIC_AT: usize = 16;
const ATTRIBUTES_AT: usize = 21;
/// `batchLength` counts from the field after it.
const LENGTH_END: usize = 12;

const NONE: i16 = 0;
const GZIP: i16 = 1;
const SNAPPY: i16 = 2;
const LZ4: i16 = 3;
const ZSTD: i16 = 4;

/// Kafka's Java client frames snappy as xerial's `SnappyOutputStream` does: this magic, two
/// 32-bit versions, then blocks each after its 32-bit length.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER: usize = 16;

/// The records of a batch, ready for [`record_header`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Records<'a> {
    /// Not a v2 batch, or one cut before its records.
    Absent,
    /// Uncompressed records, as captured.
    Plain(&'a [u8]),
    /// The head of a compressed batch's records, decompressed.
    Decompressed(&'a [u8]),
    /// Compressed with an unknown codec, or data that does not decompress.
    Unread,
}

/// Is `batch` a v2 record batch whose records are compressed (they need a head buffer)?
pub fn is_compressed(batch: &[u8]) -> bool {
    batch.get(MAGIC_AT) == Some(&2) && batch.get(ATTRIBUTES_AT + 1).is_some_and(|a| a & 0x07 != 0)
}

/// The records of `batch` (a v2 record batch as far as captured), decompressed into `head` when
/// the batch is compressed (by `zstd` when in zstd).
pub fn records<'a>(batch: &'a [u8], head: &'a mut [u8], zstd: &mut ZstdHeads) -> Records<'a> {
    if batch.get(MAGIC_AT) != Some(&2) {
        return Records::Absent;
    }
    let (Some(&a), Some(&b)) = (batch.get(ATTRIBUTES_AT), batch.get(ATTRIBUTES_AT + 1)) else {
        return Records::Absent;
    };
    let Some(data) = batch.get(RECORDS_AT..) else {
        return Records::Absent;
    };
    let codec = i16::from_be_bytes([a, b]) & 0x07;
    if codec == NONE {
        return Records::Plain(data);
    }
    let declared = Reader::at(batch, 8)
        .u32()
        .map_or(usize::MAX, |n| LENGTH_END.saturating_add(n as usize));
    let whole = batch.len() >= declared;
    let data = &data[..data.len().min(declared.saturating_sub(RECORDS_AT))];
    let n = match codec {
        GZIP => gzip_head(data, whole, head).map(|(n, _)| n),
        SNAPPY if data.starts_with(&XERIAL_MAGIC) => xerial_head(data, whole, head),
        SNAPPY => snappy_head(data, whole, head),
        LZ4 => lz4_frame_head(data, whole, head),
        ZSTD => zstd.head(data, head),
        _ => None,
    };
    match n {
        Some(n) => Records::Decompressed(&head[..n]),
        None => Records::Unread,
    }
}

/// Snappy in xerial's framing: the blocks decoded one after another into `out`.
fn xerial_head(src: &[u8], whole: bool, out: &mut [u8]) -> Option<usize> {
    let mut i = XERIAL_HEADER;
    let mut o = 0;
    while o < out.len() {
        let Some(n) = Reader::at(src, i).u32() else {
            // The end of the stream, or a cut.
            return (i == src.len() || !whole).then_some(o);
        };
        i += 4;
        let end = i.saturating_add(n as usize);
        let block_whole = end <= src.len();
        if !block_whole && whole {
            return None;
        }
        o += snappy_head(&src[i..end.min(src.len())], block_whole, &mut out[o..])?;
        if !block_whole {
            break;
        }
        i = end;
    }
    Some(o)
}

/// The value of record header `name` (case-insensitive, `-` and `_` alike) in the first record
/// of `records` (the records of a batch, as far as captured or decompressed).
pub fn record_header<'a>(records: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let mut r = Reader::new(records);
    r.varint()?; // length
    r.i8()?; // attributes
    r.varint()?; // timestamp delta
    r.varint()?; // offset delta
    for _ in 0..2 {
        // key, value
        let n = r.varint()?;
        if n > 0 {
            r.skip(usize::try_from(n).ok()?)?;
        }
    }
    let count = r.varint()?;
    for _ in 0..count.clamp(0, 64) {
        let k = r.varint()?;
        let key = r.bytes(usize::try_from(k).ok()?)?;
        let n = r.varint()?;
        let value = if n < 0 {
            &[][..]
        } else {
            r.bytes(usize::try_from(n).ok()?)?
        };
        let same = key.len() == name.len()
            && key.iter().zip(name.bytes()).all(|(a, b)| {
                let norm = |c: u8| {
                    if c == b'_' {
                        b'-'
                    } else {
                        c.to_ascii_lowercase()
                    }
                };
                norm(*a) == norm(b)
            });
        if same {
            return Some(value);
        }
    }
    None
}
