//! HPACK (RFC 7541) header-block decoding with the per-connection dynamic table, bounded and
//! allocation-free.
//!
//! Bounds: the dynamic table holds at most [`MAX_TABLE_SIZE`] bytes by HPACK's accounting (a
//! larger size update is refused: the decoder is then out of sync and says so); decoded strings
//! are kept up to [`MAX_NAME`] / [`MAX_VALUE`] bytes (longer ones are cut for reporting, while
//! the table's size accounting uses the full length, so later indices stay right); integers are
//! limited to 32 bits.
//!
//! A mirror joins connections in the middle and loses packets, so the decoder does not insist on
//! knowing the whole table. What it holds are always the newest entries (HPACK inserts at the
//! front and evicts from the back): after joining mid-connection, the entries the peer inserts
//! from then on. A reference to an older, unknown entry leaves that field out and marks the block
//! partial ([`Decoded::complete`]); static entries, literals and known entries still decode, and
//! every block that inserts rebuilds more of the table. A block that cannot be read (truncated,
//! bad Huffman, oversized integer or table) or is lost may have inserted entries unseen, which
//! shifts every index: the known entries are then dropped ([`Decoder::unsync`]) and rebuilt.

use super::huffman;

/// Largest dynamic table followed (HTTP/2's default SETTINGS_HEADER_TABLE_SIZE).
pub const MAX_TABLE_SIZE: usize = 4096;
/// Bytes of a decoded name / value kept.
pub const MAX_NAME: usize = 128;
pub const MAX_VALUE: usize = 1024;
/// Per-entry overhead in HPACK's size accounting.
const ENTRY_OVERHEAD: usize = 32;
const MAX_ENTRIES: usize = MAX_TABLE_SIZE / ENTRY_OVERHEAD;
const STORE: usize = 2 * MAX_TABLE_SIZE;

/// RFC 7541 Appendix A.
const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Why a header block did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpackError {
    /// The block ends inside a representation.
    Truncated,
    /// An index of 0 or past the tables (often: the connection was joined mid-stream).
    BadIndex,
    BadHuffman,
    /// An integer over 32 bits.
    IntegerOverflow,
    /// A size update above [`MAX_TABLE_SIZE`] or above the current limit.
    TableSize,
}

/// What a block decoded to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Every field decoded (none referred to an entry older than what the decoder knows).
    pub complete: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// Where the stored bytes start in `store` (name, then value).
    at: u32,
    name_len: u16,
    value_len: u16,
    /// Full (uncut) name length, for the size of entries that reuse this name.
    name_full: u16,
    /// Inserted with the name of an entry the decoder did not know: only the value is known
    /// (and the size counts the name as empty).
    name_unknown: bool,
    /// HPACK size of the entry (full lengths + 32).
    size: u32,
}

/// The decoder of one direction of one connection.
#[derive(Clone)]
pub struct Decoder {
    store: [u8; STORE],
    /// Live bytes are `store[start..end]`.
    start: usize,
    end: usize,
    /// Entries, oldest first: `entries[(head + i) % MAX_ENTRIES]` for i < len.
    entries: [Entry; MAX_ENTRIES],
    head: usize,
    len: usize,
    size: usize,
    max_size: usize,
    /// The decoder has seen the connection from its start: it knows the whole table.
    synced: bool,
    /// Scratch: the name being decoded is an unknown entry's.
    name_unknown: bool,
    name: [u8; MAX_NAME],
    value: [u8; MAX_VALUE],
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("entries", &self.len)
            .field("size", &self.size)
            .field("synced", &self.synced)
            .finish()
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            store: [0; STORE],
            start: 0,
            end: 0,
            entries: [Entry::default(); MAX_ENTRIES],
            head: 0,
            len: 0,
            size: 0,
            max_size: MAX_TABLE_SIZE,
            synced: true,
            name_unknown: false,
            name: [0; MAX_NAME],
            value: [0; MAX_VALUE],
        }
    }
}

/// A header as decoded: possibly cut to [`MAX_NAME`] / [`MAX_VALUE`] bytes.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
}

/// An HPACK integer with an `n`-bit prefix at `buf[*at]` (RFC 7541 5.1).
fn integer(buf: &[u8], at: &mut usize, n: u8) -> Result<u32, HpackError> {
    let mask = (1u16 << n) as u8 - 1;
    let first = *buf.get(*at).ok_or(HpackError::Truncated)? & mask;
    *at += 1;
    if first < mask {
        return Ok(u32::from(first));
    }
    let mut v = u64::from(mask);
    let mut shift = 0u32;
    loop {
        let b = *buf.get(*at).ok_or(HpackError::Truncated)?;
        *at += 1;
        v += u64::from(b & 0x7f) << shift;
        if v > u64::from(u32::MAX) {
            return Err(HpackError::IntegerOverflow);
        }
        if b & 0x80 == 0 {
            return Ok(v as u32);
        }
        shift += 7;
        if shift > 28 {
            return Err(HpackError::IntegerOverflow);
        }
    }
}

/// A string literal at `buf[*at]` decoded into `dst`; returns (bytes kept, full length).
fn string(buf: &[u8], at: &mut usize, dst: &mut [u8]) -> Result<(usize, usize), HpackError> {
    let huff = *buf.get(*at).ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = integer(buf, at, 7)? as usize;
    let raw = buf.get(*at..*at + len).ok_or(HpackError::Truncated)?;
    *at += len;
    if !huff {
        let keep = len.min(dst.len());
        dst[..keep].copy_from_slice(&raw[..keep]);
        return Ok((keep, len));
    }
    let mut kept = 0;
    let full = huffman::decode(raw, |b| {
        if kept < dst.len() {
            dst[kept] = b;
            kept += 1;
        }
    })
    .map_err(|_| HpackError::BadHuffman)?;
    Ok((kept, full))
}

impl Decoder {
    /// The decoder knows the whole table (it saw the connection from its start and lost no
    /// block): every block decodes completely.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Back to a new connection's empty table, as [`Decoder::default`] but without rewriting
    /// the byte arrays: only `store[start..end]`, the first `len` entries from `head` and the
    /// scratch bytes just decoded are ever read, so stale bytes elsewhere are never seen. A
    /// reused HTTP/2 state costs a few stores instead of 11 KiB written twice.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.head = 0;
        self.len = 0;
        self.size = 0;
        self.max_size = MAX_TABLE_SIZE;
        self.synced = true;
        self.name_unknown = false;
    }

    /// The connection was joined after it started: the table's older entries are unknown.
    pub fn joined_mid_connection(&mut self) {
        self.synced = false;
    }

    fn entry(&self, i: usize) -> &Entry {
        &self.entries[(self.head + i) % MAX_ENTRIES]
    }

    /// Dynamic entry `idx` (1 = newest) as (name, value).
    fn dynamic(&self, idx: usize) -> Option<(&[u8], &[u8])> {
        let i = self.len.checked_sub(idx)?;
        let e = self.entry(i);
        let at = e.at as usize;
        let n = usize::from(e.name_len);
        let v = usize::from(e.value_len);
        Some((&self.store[at..at + n], &self.store[at + n..at + n + v]))
    }

    fn evict_oldest(&mut self) {
        let e = *self.entry(0);
        self.size -= e.size as usize;
        self.head = (self.head + 1) % MAX_ENTRIES;
        self.len -= 1;
        self.start = match self.len {
            0 => {
                self.end = 0;
                0
            }
            _ => self.entry(0).at as usize,
        };
    }

    fn set_max_size(&mut self, size: usize) {
        self.max_size = size;
        while self.size > self.max_size {
            self.evict_oldest();
        }
    }

    /// Adds the entry held in the name/value scratch (`kept` bytes of each, `full` lengths).
    fn insert(&mut self, kept: (usize, usize), full: (usize, usize)) {
        let size = full.0 + full.1 + ENTRY_OVERHEAD;
        while self.len > 0 && self.size + size > self.max_size {
            self.evict_oldest();
        }
        if size > self.max_size {
            return; // RFC 7541 4.4: an entry larger than the table empties it.
        }
        let need = kept.0 + kept.1;
        if self.end + need > STORE {
            // Compact: live bytes (at most MAX_TABLE_SIZE) move to the front.
            self.store.copy_within(self.start..self.end, 0);
            let shift = self.start as u32;
            for i in 0..self.len {
                self.entries[(self.head + i) % MAX_ENTRIES].at -= shift;
            }
            self.end -= self.start;
            self.start = 0;
        }
        let at = self.end;
        self.store[at..at + kept.0].copy_from_slice(&self.name[..kept.0]);
        self.store[at + kept.0..at + need].copy_from_slice(&self.value[..kept.1]);
        self.end += need;
        if self.len == 0 {
            self.start = at;
        }
        let slot = (self.head + self.len) % MAX_ENTRIES;
        self.entries[slot] = Entry {
            at: at as u32,
            name_len: kept.0 as u16,
            value_len: kept.1 as u16,
            name_full: full.0.min(usize::from(u16::MAX)) as u16,
            name_unknown: self.name_unknown,
            size: size as u32,
        };
        self.len += 1;
        self.size += size;
    }

    /// Copies name (and value) of table index `idx` into the scratch buffers.
    /// Sets `name_unknown` when the entry's name is not known. An index past the known entries
    /// is [`HpackError::BadIndex`].
    fn load(&mut self, idx: usize, with_value: bool) -> Result<(usize, usize), HpackError> {
        self.name_unknown = idx > 61
            && self
                .len
                .checked_sub(idx - 61)
                .is_some_and(|i| self.entry(i).name_unknown);
        let (n, v): (&[u8], &[u8]) = match idx {
            0 => return Err(HpackError::BadIndex),
            1..=61 => {
                let (n, v) = STATIC_TABLE[idx - 1];
                (n.as_bytes(), v.as_bytes())
            }
            _ => self.dynamic(idx - 61).ok_or(HpackError::BadIndex)?,
        };
        let (nl, vl) = (n.len().min(MAX_NAME), v.len().min(MAX_VALUE));
        let (mut name, mut value) = ([0u8; MAX_NAME], [0u8; MAX_VALUE]);
        name[..nl].copy_from_slice(&n[..nl]);
        if with_value {
            value[..vl].copy_from_slice(&v[..vl]);
        }
        self.name[..nl].copy_from_slice(&name[..nl]);
        if with_value {
            self.value[..vl].copy_from_slice(&value[..vl]);
        }
        Ok((nl, if with_value { vl } else { 0 }))
    }

    /// Decodes one complete header block, calling `on_field` for every header it can name, in
    /// order. An error means the block could not be read: the table is then dropped
    /// ([`Decoder::unsync`]).
    pub fn decode(
        &mut self,
        block: &[u8],
        mut on_field: impl FnMut(Field<'_>),
    ) -> Result<Decoded, HpackError> {
        let r = self.decode_inner(block, &mut on_field);
        if r.is_err() {
            self.unsync();
        }
        r
    }

    /// An index past the known entries: an older entry (joined mid-connection) or, on a
    /// connection followed from its start, a sign that something was missed.
    fn unknown_index(&mut self, complete: &mut bool) {
        *complete = false;
        self.synced = false;
    }

    fn decode_inner(
        &mut self,
        block: &[u8],
        on_field: &mut impl FnMut(Field<'_>),
    ) -> Result<Decoded, HpackError> {
        let mut at = 0;
        let mut complete = true;
        while at < block.len() {
            let b = block[at];
            if b & 0x80 != 0 {
                // Indexed field.
                let idx = integer(block, &mut at, 7)? as usize;
                if idx == 0 {
                    return Err(HpackError::BadIndex);
                }
                match self.load(idx, true) {
                    Ok((n, v)) if !self.name_unknown => on_field(Field {
                        name: &self.name[..n],
                        value: &self.value[..v],
                    }),
                    Ok(_) => complete = false,
                    Err(_) => self.unknown_index(&mut complete),
                }
                continue;
            }
            if b & 0xe0 == 0x20 {
                // Dynamic table size update.
                let size = integer(block, &mut at, 5)? as usize;
                if size > MAX_TABLE_SIZE {
                    return Err(HpackError::TableSize);
                }
                self.set_max_size(size);
                continue;
            }
            // Literal: with incremental indexing (01), without (0000) or never indexed (0001).
            let (prefix, index) = if b & 0xc0 == 0x40 {
                (6, true)
            } else {
                (4, false)
            };
            let idx = integer(block, &mut at, prefix)? as usize;
            let (name_kept, name_full) = if idx == 0 {
                let mut name = [0u8; MAX_NAME];
                let r = string(block, &mut at, &mut name)?;
                self.name[..r.0].copy_from_slice(&name[..r.0]);
                self.name_unknown = false;
                r
            } else {
                match self.load(idx, false) {
                    // The full length of an indexed name is what is stored (names are short).
                    Ok((n, _)) => (n, self.full_name_len(idx, n)),
                    Err(_) => {
                        self.unknown_index(&mut complete);
                        self.name_unknown = true;
                        (0, 0)
                    }
                }
            };
            let mut value = [0u8; MAX_VALUE];
            let (value_kept, value_full) = string(block, &mut at, &mut value)?;
            self.value[..value_kept].copy_from_slice(&value[..value_kept]);
            if self.name_unknown {
                complete = false;
            } else {
                on_field(Field {
                    name: &self.name[..name_kept],
                    value: &self.value[..value_kept],
                });
            }
            if index {
                self.insert((name_kept, value_kept), (name_full, value_full));
            }
        }
        Ok(Decoded { complete })
    }

    /// Full length of the name of index `idx` (for size accounting).
    fn full_name_len(&self, idx: usize, kept: usize) -> usize {
        match idx.checked_sub(61).and_then(|d| self.len.checked_sub(d)) {
            Some(i) if idx > 61 => usize::from(self.entry(i).name_full),
            _ => kept,
        }
    }

    /// A header block was lost or unreadable: it may have inserted entries, which shifts every
    /// index, so the known entries are dropped; the table is rebuilt from later inserts.
    pub fn unsync(&mut self) {
        self.synced = false;
        self.len = 0;
        self.size = 0;
        self.start = 0;
        self.end = 0;
        self.head = 0;
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE: the most the encoder may use (capped at
    /// [`MAX_TABLE_SIZE`]; a larger table cannot be followed and unsyncs the decoder).
    pub fn set_limit(&mut self, size: usize) {
        if size > MAX_TABLE_SIZE {
            self.unsync();
            return;
        }
        self.set_max_size(size);
    }
}

#[cfg(test)]
#[path = "hpack_tests.rs"]
mod tests;
