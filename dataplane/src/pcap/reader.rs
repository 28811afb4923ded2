//! Streaming reader for classic pcap (micro- and nanosecond, either byte order) and pcapng
//! (section header, interface description with `if_tsresol`/`if_tsoffset`, enhanced and simple
//! packet blocks), with transparent gzip. One buffer is reused for every frame. An uncompressed
//! capture file is read 256 KiB at a time into a block and its classic pcap frames are handed
//! out of that block where they lie, not copied one by one (a memory-mapped file was measured
//! twice and was not faster: the kernel's copy is also what brings each refill into the cache,
//! docs/perf.md); a burst (`reader_bursts.rs`) hands classic frames and
//! pcapng packet blocks out of the block, all valid together.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use tapflow_analyzer::wire::LinkType;
use tapflow_analyzer::PacketMeta;

use crate::source::{Frame, SourceError};

const PCAP_MAGIC_US: u32 = 0xA1B2_C3D4;
const PCAP_MAGIC_NS: u32 = 0xA1B2_3C4D;
/// Alexey Kuznetzov's modified pcap (old Red Hat / SuSE tcpdump): 8 more bytes per record header
/// (interface index, protocol, packet type), microsecond timestamps.
const PCAP_MAGIC_MODIFIED: u32 = 0xA1B2_CD34;
const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
const PCAPNG_BOM: u32 = 0x1A2B_3C4D;
const PCAPNG_IDB: u32 = 1;
const PCAPNG_SPB: u32 = 3;
const PCAPNG_EPB: u32 = 6;
/// Largest record or block we accept; bigger ones are malformed (bounded memory).
const MAX_RECORD: usize = 1 << 20;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    /// Timestamp units per second.
    units_per_sec: u64,
    offset_s: i64,
}

impl Interface {
    /// A packet block's timestamp (in this interface's units) in ns since the epoch.
    fn ts_ns(&self, ts: u64) -> u64 {
        // In 128 bits: a coarse resolution (1 unit per second) times 1e9, or a fine one's
        // remainder times 1e9, overflows 64 (found by fuzzing).
        let units = u128::from(self.units_per_sec.max(1));
        let ns = (u128::from(ts) * 1_000_000_000 / units).min(u128::from(u64::MAX)) as u64;
        ns.saturating_add_signed(self.offset_s.saturating_mul(1_000_000_000))
    }
}

#[derive(Debug)]
enum Format {
    Legacy {
        swap: bool,
        nanos: bool,
        link: LinkType,
        /// Record header bytes after the standard 16 (8 in the modified format).
        extra: u8,
    },
    Ng {
        swap: bool,
        interfaces: Vec<Interface>,
    },
}

/// Where the bytes come from.
enum Input {
    Stream(Box<dyn Read + Send>),
    /// An uncompressed file read a block at a time.
    Blocks(Blocks),
}

impl Read for Input {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Input::Stream(r) => r.read(out),
            Input::Blocks(b) => b.read(out),
        }
    }
}

/// The block's size (a record is at most 1 MiB: one always fits).
const BLOCK: usize = 4 << 20;

/// Bytes read from the file per refill, unless a record needs more: small enough that the
/// frames the kernel just copied are still in the core's L2 cache when they are decoded (4 MiB
/// refills went through L3: the mix took 2-3 % longer).
const READ: usize = 256 << 10;

/// A file read in large blocks: classic pcap frames are handed out of the block where they lie
/// (one copy of the file, by the kernel, and no copy per frame).
struct Blocks {
    /// The file, up to the length it is read to.
    file: std::io::Take<File>,
    buf: Vec<u8>,
    /// The unread bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
    eof: bool,
}

impl Blocks {
    fn new(file: std::io::Take<File>) -> Blocks {
        Blocks {
            file,
            buf: vec![0; BLOCK],
            pos: 0,
            end: 0,
            eof: false,
        }
    }

    /// At least `n` unread bytes (`n` <= BLOCK), or all that are left at the end of the file.
    fn fill(&mut self, n: usize) -> std::io::Result<&[u8]> {
        if self.end - self.pos < n && !self.eof {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            let limit = n.max(READ).min(self.buf.len());
            while self.end < n && !self.eof {
                match self.file.read(&mut self.buf[self.end..limit]) {
                    Ok(0) => self.eof = true,
                    Ok(k) => self.end += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(&self.buf[self.pos..self.end])
    }
}

impl Read for Blocks {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let have = self.fill(1)?;
        let n = have.len().min(out.len());
        out[..n].copy_from_slice(&have[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads frames from a capture file.
pub struct PcapReader {
    input: Input,
    /// The current frame lies in the input's block here (instead of in `buf`).
    block_frame: Option<(usize, usize)>,
    format: Format,
    buf: Vec<u8>,
    offset: u64,
    source_index: u32,
    /// Records cut short at the end of the file (a capture stopped mid-write).
    pub truncated_records: u64,
}

impl std::fmt::Debug for PcapReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapReader")
            .field("format", &self.format)
            .field("offset", &self.offset)
            .finish()
    }
}

fn u32_at(b: &[u8], at: usize, swap: bool) -> u32 {
    let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if swap {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

fn u16_at(b: &[u8], at: usize, swap: bool) -> u16 {
    let v = [b[at], b[at + 1]];
    if swap {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    }
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on a clean end before the first byte.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> Result<bool, std::io::Error> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) if n == 0 => return Ok(false),
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Whether the file at `path` is gzip-compressed (what [`PcapReader::open`] decompresses).
pub fn is_compressed(path: &Path) -> std::io::Result<bool> {
    let mut head = [0u8; 2];
    let mut f = File::open(path)?;
    let n = f.read(&mut head)?;
    Ok(n == 2 && head == GZIP_MAGIC)
}

impl PcapReader {
    /// Opens a capture file; `source_index` becomes `PacketMeta::ifindex` (the tap port).
    pub fn open(path: &Path, source_index: u32) -> Result<Self, SourceError> {
        Self::open_first(path, source_index, u64::MAX)
    }

    /// Opens a capture file and reads no more than its first `len` bytes: what several readers
    /// of a file still being written read alike (a record cut there is counted as a cut one).
    pub fn open_first(path: &Path, source_index: u32, len: u64) -> Result<Self, SourceError> {
        let mut blocks = Blocks::new(File::open(path)?.take(len));
        if blocks.fill(2)?.starts_with(&GZIP_MAGIC) {
            // The decoder reads the same blocks (nothing consumed: pipes work too).
            let gz = MultiGzDecoder::new(blocks);
            return Self::from_reader(
                Box::new(BufReader::with_capacity(1 << 20, gz)),
                source_index,
            );
        }
        Self::from_input(Input::Blocks(blocks), source_index)
    }

    /// Reads from any byte stream (already decompressed).
    pub fn from_reader(
        input: Box<dyn Read + Send>,
        source_index: u32,
    ) -> Result<Self, SourceError> {
        Self::from_input(Input::Stream(input), source_index)
    }

    fn from_input(mut input: Input, source_index: u32) -> Result<Self, SourceError> {
        let mut head = [0u8; 24];
        if !read_full(&mut input, &mut head[..4])? {
            return Err(SourceError::Malformed {
                offset: 0,
                what: "empty file",
            });
        }
        let magic_le = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let magic_be = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let mut reader = PcapReader {
            input,
            block_frame: None,
            format: Format::Ng {
                swap: false,
                interfaces: Vec::new(),
            },
            buf: Vec::with_capacity(65_536),
            offset: 4,
            source_index,
            truncated_records: 0,
        };
        if magic_le == PCAPNG_SHB {
            reader.read_shb_rest()?;
            return Ok(reader);
        }
        let (swap, nanos, extra) = match (magic_le, magic_be) {
            (PCAP_MAGIC_US, _) => (false, false, 0),
            (PCAP_MAGIC_NS, _) => (false, true, 0),
            (PCAP_MAGIC_MODIFIED, _) => (false, false, 8),
            (_, PCAP_MAGIC_US) => (true, false, 0),
            (_, PCAP_MAGIC_NS) => (true, true, 0),
            (_, PCAP_MAGIC_MODIFIED) => (true, false, 8),
            _ => return Err(SourceError::BadMagic(magic_le)),
        };
        if !read_full(&mut reader.input, &mut head[4..24])? {
            return Err(SourceError::Malformed {
                offset: 4,
                what: "truncated file header",
            });
        }
        reader.offset = 24;
        let linktype = u32_at(&head, 20, swap) & 0x0FFF_FFFF;
        let link =
            LinkType::from_pcap(linktype).ok_or(SourceError::UnsupportedLinkType(linktype))?;
        reader.format = Format::Legacy {
            swap,
            nanos,
            link,
            extra,
        };
        Ok(reader)
    }

    /// After the SHB block type: reads its length and byte-order magic, then the rest.
    fn read_shb_rest(&mut self) -> Result<(), SourceError> {
        let mut hdr = [0u8; 8];
        if !read_full(&mut self.input, &mut hdr)? {
            return Err(SourceError::Malformed {
                offset: self.offset,
                what: "truncated section header",
            });
        }
        self.start_section(
            [hdr[0], hdr[1], hdr[2], hdr[3]],
            [hdr[4], hdr[5], hdr[6], hdr[7]],
            8,
        )
    }

    /// Starts a pcapng section from its block length and byte-order magic (`read` bytes of the
    /// block consumed and not yet counted in `offset`): checks both, skips the block's rest.
    fn start_section(&mut self, len: [u8; 4], bom: [u8; 4], read: u64) -> Result<(), SourceError> {
        let swap = if u32::from_le_bytes(bom) == PCAPNG_BOM {
            false
        } else if u32::from_be_bytes(bom) == PCAPNG_BOM {
            true
        } else {
            return Err(SourceError::Malformed {
                offset: self.offset,
                what: "bad pcapng byte-order magic",
            });
        };
        let len = u32_at(&len, 0, swap) as usize;
        if !(28..=MAX_RECORD).contains(&len) || len % 4 != 0 {
            return Err(SourceError::Malformed {
                offset: self.offset,
                what: "bad section header length",
            });
        }
        self.skip(len - 12)?;
        self.offset += read;
        self.format = Format::Ng {
            swap,
            interfaces: Vec::new(),
        };
        Ok(())
    }

    fn skip(&mut self, n: usize) -> Result<(), SourceError> {
        self.buf.resize(n, 0);
        read_full(&mut self.input, &mut self.buf)?;
        self.offset += n as u64;
        Ok(())
    }

    fn next_legacy(
        &mut self,
        swap: bool,
        nanos: bool,
        link: LinkType,
        extra: u8,
    ) -> Result<Option<PacketMeta>, SourceError> {
        self.block_frame = None;
        if let Input::Blocks(blocks) = &mut self.input {
            return Ok(next_in_block(
                blocks,
                (swap, nanos, extra),
                &mut self.block_frame,
                &mut self.truncated_records,
                &mut self.offset,
            )?
            .map(|(ts_ns, origlen, caplen)| self.meta(ts_ns, origlen, caplen, link)));
        }
        let mut rec = [0u8; 24];
        let rec = &mut rec[..16 + usize::from(extra)];
        match read_full(&mut self.input, rec) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                self.truncated_records += 1;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
        let (ts_ns, origlen, caplen) = record_header(rec, swap, nanos, self.offset)?;
        self.buf.resize(caplen as usize, 0);
        match read_full(&mut self.input, &mut self.buf) {
            Ok(true) => {}
            Ok(false) if caplen == 0 => {}
            Ok(false) | Err(_) => {
                self.truncated_records += 1;
                return Ok(None);
            }
        }
        self.offset += 16 + u64::from(extra) + u64::from(caplen);
        Ok(Some(self.meta(ts_ns, origlen, caplen, link)))
    }

    /// Bytes of (decompressed) input consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.offset
    }

    fn meta(&self, ts_ns: u64, wire_len: u32, cap_len: u32, link: LinkType) -> PacketMeta {
        PacketMeta {
            ts_ns,
            wire_len: wire_len.max(cap_len),
            cap_len,
            ifindex: self.source_index,
            queue: 0,
            rss_hash: 0,
            link,
            seq: 0,
        }
    }

    /// Reads pcapng blocks until a packet; returns its meta with the data in `self.buf[data_range]`.
    fn next_ng(&mut self) -> Result<Option<(PacketMeta, usize, usize)>, SourceError> {
        loop {
            let Format::Ng { swap, .. } = self.format else {
                return Ok(None);
            };
            let mut hdr = [0u8; 8];
            match read_full(&mut self.input, &mut hdr) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.truncated_records += 1;
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            }
            let block_type = u32_at(&hdr, 0, swap);
            if block_type == PCAPNG_SHB {
                // A new section: re-read the byte order.
                self.reread_section(&hdr)?;
                continue;
            }
            let len = u32_at(&hdr, 4, swap) as usize;
            if !(12..=MAX_RECORD).contains(&len) || len % 4 != 0 {
                return Err(SourceError::Malformed {
                    offset: self.offset,
                    what: "bad pcapng block length",
                });
            }
            let body_len = len - 8;
            self.buf.resize(body_len, 0);
            if read_full(&mut self.input, &mut self.buf).is_err() {
                self.truncated_records += 1;
                return Ok(None);
            }
            self.offset += len as u64;
            let body = &self.buf[..body_len - 4];
            match block_type {
                PCAPNG_IDB => {
                    if body.len() < 8 {
                        return Err(SourceError::Malformed {
                            offset: self.offset,
                            what: "short interface block",
                        });
                    }
                    let linktype = u32::from(u16_at(body, 0, swap));
                    let link = LinkType::from_pcap(linktype)
                        .ok_or(SourceError::UnsupportedLinkType(linktype))?;
                    let mut iface = Interface {
                        link,
                        units_per_sec: 1_000_000,
                        offset_s: 0,
                    };
                    let mut o = 8;
                    while o + 4 <= body.len() {
                        let code = u16_at(body, o, swap);
                        let olen = usize::from(u16_at(body, o + 2, swap));
                        // An option cut by the block's end has no value (fuzzing found
                        // if_tsresol with its byte missing).
                        let val = body.get(o + 4..o + 4 + olen).unwrap_or(&[]);
                        match (code, val.len()) {
                            (0, _) => break,
                            (9, 1) => {
                                let r = val[0];
                                let exp = u32::from(r & 0x7F);
                                iface.units_per_sec = if r & 0x80 != 0 {
                                    2u64.checked_pow(exp).unwrap_or(1_000_000)
                                } else {
                                    10u64.checked_pow(exp).unwrap_or(1_000_000)
                                };
                            }
                            (14, 8) => {
                                let mut b = [0u8; 8];
                                b.copy_from_slice(val);
                                iface.offset_s = if swap {
                                    i64::from_be_bytes(b)
                                } else {
                                    i64::from_le_bytes(b)
                                };
                            }
                            _ => {}
                        }
                        o += 4 + olen.div_ceil(4) * 4;
                    }
                    if let Format::Ng { interfaces, .. } = &mut self.format {
                        if interfaces.len() < 4096 {
                            interfaces.push(iface);
                        }
                    }
                }
                PCAPNG_EPB => {
                    if body.len() < 20 {
                        return Err(SourceError::Malformed {
                            offset: self.offset,
                            what: "short packet block",
                        });
                    }
                    let if_id = u32_at(body, 0, swap) as usize;
                    let ts =
                        (u64::from(u32_at(body, 4, swap)) << 32) | u64::from(u32_at(body, 8, swap));
                    let caplen = u32_at(body, 12, swap);
                    let origlen = u32_at(body, 16, swap);
                    if 20 + caplen as usize > body.len() {
                        return Err(SourceError::Malformed {
                            offset: self.offset,
                            what: "packet longer than its block",
                        });
                    }
                    let Format::Ng { interfaces, .. } = &self.format else {
                        return Ok(None);
                    };
                    let Some(iface) = interfaces.get(if_id).copied() else {
                        return Err(SourceError::Malformed {
                            offset: self.offset,
                            what: "packet for an undeclared interface",
                        });
                    };
                    return Ok(Some((
                        self.meta(iface.ts_ns(ts), origlen, caplen, iface.link),
                        20,
                        20 + caplen as usize,
                    )));
                }
                PCAPNG_SPB => {
                    let Format::Ng { interfaces, .. } = &self.format else {
                        return Ok(None);
                    };
                    let Some(iface) = interfaces.first().copied() else {
                        return Err(SourceError::Malformed {
                            offset: self.offset,
                            what: "simple packet before any interface",
                        });
                    };
                    if body.len() < 4 {
                        return Err(SourceError::Malformed {
                            offset: self.offset,
                            what: "short simple packet block",
                        });
                    }
                    let origlen = u32_at(body, 0, swap);
                    let caplen = (body.len() - 4).min(origlen as usize) as u32;
                    return Ok(Some((
                        self.meta(0, origlen, caplen, iface.link),
                        4,
                        4 + caplen as usize,
                    )));
                }
                _ => {}
            }
        }
    }

    fn reread_section(&mut self, hdr: &[u8; 8]) -> Result<(), SourceError> {
        let mut bom = [0u8; 4];
        if !read_full(&mut self.input, &mut bom)? {
            return Err(SourceError::Malformed {
                offset: self.offset,
                what: "truncated section header",
            });
        }
        self.start_section([hdr[4], hdr[5], hdr[6], hdr[7]], bom, 12)
    }
}

/// The next classic pcap record of a block-read file: its time, original and captured length,
/// with the frame's place in the block in `frame` (not copied). A record cut by the end of the
/// file is counted in `truncated` and ends the file, as when streaming.
fn next_in_block(
    blocks: &mut Blocks,
    (swap, nanos, extra): (bool, bool, u8),
    frame: &mut Option<(usize, usize)>,
    truncated: &mut u64,
    offset: &mut u64,
) -> Result<Option<(u64, u32, u32)>, SourceError> {
    let hdr = 16 + usize::from(extra);
    let rest = blocks.fill(hdr)?;
    if rest.is_empty() {
        return Ok(None);
    }
    if rest.len() < hdr {
        *truncated += 1;
        blocks.pos = blocks.end;
        return Ok(None);
    }
    let (ts_ns, origlen, caplen) = record_header(rest, swap, nanos, *offset)?;
    let len = hdr + caplen as usize;
    if blocks.fill(len)?.len() < len {
        *truncated += 1;
        blocks.pos = blocks.end;
        return Ok(None);
    }
    *frame = Some((blocks.pos + hdr, blocks.pos + len));
    blocks.pos += len;
    *offset += len as u64;
    Ok(Some((ts_ns, origlen, caplen)))
}

/// A classic pcap record header (at least 16 bytes): time, original and captured length; a
/// captured length over 1 MiB is malformed (at `offset`).
fn record_header(
    rec: &[u8],
    swap: bool,
    nanos: bool,
    offset: u64,
) -> Result<(u64, u32, u32), SourceError> {
    let sec = u64::from(u32_at(rec, 0, swap));
    let frac = u64::from(u32_at(rec, 4, swap));
    let caplen = u32_at(rec, 8, swap);
    let origlen = u32_at(rec, 12, swap);
    if caplen as usize > MAX_RECORD {
        return Err(SourceError::Malformed {
            offset,
            what: "record longer than 1 MiB",
        });
    }
    let ts_ns = sec * 1_000_000_000 + if nanos { frac } else { frac * 1_000 };
    Ok((ts_ns, origlen, caplen))
}

/// Frames per burst when reading files.
pub(crate) const FILE_BURST: usize = 64;

impl PcapReader {
    /// The next frame, or `None` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError> {
        match self.format {
            Format::Legacy {
                swap,
                nanos,
                link,
                extra,
            } => {
                let Some(meta) = self.next_legacy(swap, nanos, link, extra)? else {
                    return Ok(None);
                };
                let data = match (&self.input, self.block_frame) {
                    (Input::Blocks(blocks), Some((a, b))) => &blocks.buf[a..b],
                    _ => &self.buf[..],
                };
                Ok(Some(Frame {
                    meta,
                    data,
                    decoded: None,
                }))
            }
            Format::Ng { .. } => {
                let Some((meta, a, b)) = self.next_ng()? else {
                    return Ok(None);
                };
                Ok(Some(Frame {
                    meta,
                    data: &self.buf[a..b],
                    decoded: None,
                }))
            }
        }
    }
}

#[path = "reader_bursts.rs"]
mod bursts;

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
