//! Bursts out of the reader's block: the frames of a burst all lie in the block, so they are
//! valid together (the analyzer looks ahead within a burst: `Analyzer::on_burst`). Classic
//! pcap records and pcapng packet blocks lying whole in the block are handed where they lie;
//! anything else (a refill, another pcapng block type, a malformed record, a gzip stream) goes
//! the one-at-a-time way, which reports it.

use tapflow_analyzer::wire::LinkType;
use tapflow_analyzer::PacketMeta;

use super::{
    next_in_block, record_header, u32_at, Format, Input, PcapReader, FILE_BURST, MAX_RECORD,
    PCAPNG_EPB,
};
use crate::source::{Burst, Frame, PacketSource, SourceError};

impl PcapReader {
    /// Takes up to `FILE_BURST` classic pcap records lying whole in the block (refilling it
    /// only for the first) as frames into `out`, and how many. Frames in the block stay where
    /// they are until the next refill, so all of them are valid together. Each frame is written
    /// once, where the caller analyses it.
    fn take_block_burst<'a>(
        &'a mut self,
        (swap, nanos, link, extra): (bool, bool, LinkType, u8),
        out: &mut [Frame<'a>; FILE_BURST],
    ) -> Result<usize, SourceError> {
        let PcapReader {
            input,
            offset,
            truncated_records,
            source_index,
            ..
        } = self;
        let source_index = *source_index;
        let meta = |ts_ns, origlen: u32, caplen: u32| PacketMeta {
            ts_ns,
            wire_len: origlen.max(caplen),
            cap_len: caplen,
            ifindex: source_index,
            queue: 0,
            rss_hash: 0,
            link,
            seq: 0,
        };
        let Input::Blocks(blocks) = input else {
            return Ok(0);
        };
        let hdr = 16 + usize::from(extra);
        let whole = |rest: &[u8]| {
            if rest.len() < hdr {
                return None;
            }
            let (ts_ns, origlen, caplen) = record_header(rest, swap, nanos, 0).ok()?;
            let len = hdr + caplen as usize;
            (rest.len() >= len).then_some((ts_ns, origlen, caplen, len))
        };
        // The first record may need a refill (or be malformed): read (and checked) the
        // one-at-a-time way. The block does not change after it.
        let mut first = None;
        if whole(&blocks.buf[blocks.pos..blocks.end]).is_none() {
            let mut at = None;
            match next_in_block(
                blocks,
                (swap, nanos, extra),
                &mut at,
                truncated_records,
                offset,
            )? {
                Some((ts_ns, origlen, caplen)) => {
                    first = Some((meta(ts_ns, origlen, caplen), at.unwrap_or((0, 0))));
                }
                None => return Ok(0),
            }
        }
        let super::Blocks { buf, pos, end, .. } = blocks;
        let buf: &'a [u8] = buf;
        let mut n = 0;
        if let Some((meta, (a, b))) = first {
            out[0] = Frame {
                meta,
                data: &buf[a..b],
                decoded: None,
            };
            n = 1;
        }
        // Then every record lying whole in the block; the burst ends before one that needs a
        // refill or is malformed (the next burst starts with it).
        while n < FILE_BURST {
            let Some((ts_ns, origlen, caplen, len)) = whole(&buf[*pos..*end]) else {
                break;
            };
            out[n] = Frame {
                meta: meta(ts_ns, origlen, caplen),
                data: &buf[*pos + hdr..*pos + len],
                decoded: None,
            };
            *pos += len;
            *offset += len as u64;
            n += 1;
        }
        Ok(n)
    }
}

impl PcapReader {
    /// Takes up to `FILE_BURST` pcapng enhanced packet blocks lying whole in the block, of
    /// declared interfaces, as frames into `out`, and stops before anything else (another
    /// block type, one that needs a refill, or a malformed one: those go the one-at-a-time
    /// way, which reports them).
    fn take_ng_block_burst<'a>(&'a mut self, out: &mut [Frame<'a>; FILE_BURST]) -> usize {
        let PcapReader {
            format: Format::Ng { swap, interfaces },
            input: Input::Blocks(blocks),
            offset,
            source_index,
            ..
        } = self
        else {
            return 0;
        };
        let swap = *swap;
        let super::Blocks { buf, pos, end, .. } = blocks;
        let buf: &'a [u8] = buf;
        let mut n = 0;
        while n < FILE_BURST {
            let rest = &buf[*pos..*end];
            if rest.len() < 8 + 4 + 20 || u32_at(rest, 0, swap) != PCAPNG_EPB {
                break;
            }
            let len = u32_at(rest, 4, swap) as usize;
            if !(12..=MAX_RECORD).contains(&len) || len % 4 != 0 || rest.len() < len {
                break;
            }
            let body = &rest[8..len - 4];
            if body.len() < 20 {
                break;
            }
            let caplen = u32_at(body, 12, swap);
            let Some(iface) = interfaces.get(u32_at(body, 0, swap) as usize) else {
                break;
            };
            if 20 + caplen as usize > body.len() {
                break;
            }
            let ts = (u64::from(u32_at(body, 4, swap)) << 32) | u64::from(u32_at(body, 8, swap));
            let origlen = u32_at(body, 16, swap);
            let data = *pos + 8 + 20;
            out[n] = Frame {
                meta: PacketMeta {
                    ts_ns: iface.ts_ns(ts),
                    wire_len: origlen.max(caplen),
                    cap_len: caplen,
                    ifindex: *source_index,
                    queue: 0,
                    rss_hash: 0,
                    link: iface.link,
                    seq: 0,
                },
                data: &buf[data..data + caplen as usize],
                decoded: None,
            };
            *pos += len;
            *offset += len as u64;
            n += 1;
        }
        n
    }

    /// One frame the one-at-a-time way, as a burst of one.
    fn poll_one(&mut self, f: impl FnOnce(&mut [Frame<'_>])) -> Result<Burst, SourceError> {
        match self.next_frame()? {
            Some(frame) => {
                f(&mut [frame]);
                Ok(Burst::Frames(1))
            }
            None => Ok(Burst::End),
        }
    }
}

impl PacketSource for PcapReader {
    fn poll_burst(&mut self, mut f: impl FnMut(&Frame<'_>)) -> Result<Burst, SourceError> {
        let mut n = 0;
        while n < FILE_BURST {
            match self.next_frame()? {
                Some(frame) => f(&frame),
                None => return Ok(if n == 0 { Burst::End } else { Burst::Frames(n) }),
            }
            n += 1;
        }
        Ok(Burst::Frames(n))
    }

    fn poll_burst_slices(
        &mut self,
        mut f: impl FnMut(&mut [Frame<'_>]),
    ) -> Result<Burst, SourceError> {
        if !matches!(self.input, Input::Blocks(_)) {
            // Streamed (gzip) frames are valid one at a time.
            return self.poll_burst(|frame| f(&mut [*frame]));
        }
        let mut frames = [Frame::EMPTY; FILE_BURST];
        let n = match self.format {
            Format::Legacy {
                swap,
                nanos,
                link,
                extra,
            } => self.take_block_burst((swap, nanos, link, extra), &mut frames)?,
            Format::Ng { .. } => match self.take_ng_block_burst(&mut frames) {
                0 => return self.poll_one(f),
                n => n,
            },
        };
        if n == 0 {
            return Ok(Burst::End);
        }
        f(&mut frames[..n]);
        Ok(Burst::Frames(n))
    }
}
