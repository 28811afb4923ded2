//! Bounded in-order reassembly of one direction of a TCP stream, for L7 parsers.
//!
//! DeepFlow's open agent parses each packet on its own and loses a request head split over two
//! segments. Here each direction keeps its next expected sequence number and, when needed, a
//! buffer of at most `N` bytes: the unconsumed tail of the last parse (a head cut by a segment
//! boundary). The common case costs nothing: with nothing held, the parser reads the segment in
//! place; a stream borrows a buffer from the worker's [`HoldPool`] only while it holds a cut head.
//! Mirror feeds lose packets, so nothing ever waits for a missing segment: a gap drops what
//! is held and tells the parser to resynchronise. Retransmitted bytes are trimmed or ignored.
//! Every one of these events is reported in [`FeedOutcome`] so that the engine can count it.

use crate::tcp::SeqNumber;

/// What happened to one segment, beyond what the parser saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedOutcome {
    /// The segment was entirely data already seen (a retransmission): not parsed.
    pub duplicate: bool,
    /// Bytes at the front of the segment already seen, cut off before parsing.
    pub trimmed: u32,
    /// Bytes missing before this segment (lost on the mirror, or not yet arrived): held data was
    /// dropped and the parser was told to resynchronise.
    pub gap: u32,
    /// The held tail would have exceeded the buffer: it was dropped (and counted here in bytes).
    pub overflow: u32,
}

/// Hold buffers shared by every stream of a worker: a stream takes one only while it holds an
/// incomplete message head, so memory follows the heads in flight, not the flows. Preallocated up
/// to `capacity` (reserved now, touched as first used); when all are taken the tail is dropped,
/// counted in [`HoldPool::exhausted`] and the stream resynchronises.
#[derive(Debug)]
pub struct HoldPool<const N: usize> {
    bufs: Vec<[u8; N]>,
    free: Vec<u32>,
    cap: usize,
    /// Tails dropped because no buffer was free.
    pub exhausted: u64,
}

impl<const N: usize> HoldPool<N> {
    pub fn new(capacity: u32) -> Self {
        HoldPool {
            bufs: Vec::with_capacity(capacity as usize),
            free: Vec::with_capacity(capacity as usize),
            cap: capacity as usize,
            exhausted: 0,
        }
    }

    fn acquire(&mut self) -> Option<u32> {
        if let Some(i) = self.free.pop() {
            return Some(i);
        }
        if self.bufs.len() < self.cap {
            self.bufs.push([0; N]);
            return Some((self.bufs.len() - 1) as u32);
        }
        self.exhausted += 1;
        None
    }

    fn release(&mut self, i: u32) {
        self.free.push(i);
    }

    /// Buffers in use now.
    pub fn in_use(&self) -> usize {
        self.bufs.len() - self.free.len()
    }
}

/// One direction of a stream: the next expected sequence number and, while a head is cut, a
/// hold buffer from the pool.
#[derive(Debug, Clone, Default)]
pub struct DirStream {
    next_seq: Option<SeqNumber>,
    buf: Option<u32>,
    held_len: usize,
    /// Most bytes held (0 = the pool's buffer size).
    limit: usize,
    /// Held bytes were dropped: the next parse starts mid-message and must resynchronise.
    resync_next: bool,
}

impl DirStream {
    /// Holds at most `limit` bytes (and never more than the pool's buffer size).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Bytes held from earlier segments.
    pub fn held(&self) -> usize {
        self.held_len
    }

    /// Gives the hold buffer back (the stream ends).
    pub fn release<const N: usize>(&mut self, pool: &mut HoldPool<N>) {
        if let Some(i) = self.buf.take() {
            pool.release(i);
        }
        self.held_len = 0;
    }

    /// Feeds the segment starting at `seq` (segments with payload only: a SYN's or FIN's
    /// sequence number is not data). Out-of-order arrival is a gap for the later segment and a
    /// duplicate for the earlier one: L7 parsing follows the stream as it arrives.
    /// `parse` gets the bytes to parse (held bytes followed
    /// by the segment's new bytes) and whether a gap came right before them (resynchronise), and
    /// returns how many it consumed; the rest is held for the next segment, up to the limit.
    /// When the held bytes and the segment do not fit together, `parse` first gets the held bytes
    /// with as much of the segment as fits; once it has consumed the held part it is called again
    /// on the rest of the segment in place (unconsumed bytes are offered again).
    pub fn feed<const N: usize>(
        &mut self,
        pool: &mut HoldPool<N>,
        seq: SeqNumber,
        payload: &[u8],
        mut parse: impl FnMut(&[u8], bool) -> usize,
    ) -> FeedOutcome {
        let mut out = FeedOutcome::default();
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let mut data = payload;
        match self.next_seq {
            None => self.next_seq = Some(seq + len),
            Some(next) => {
                let end = seq + len;
                if !end.is_after(next) {
                    out.duplicate = len > 0;
                    return out;
                }
                if seq.is_before(next) {
                    let cut = next.offset_from(seq);
                    out.trimmed = cut;
                    data = &payload[cut as usize..];
                } else if seq.is_after(next) {
                    out.gap = seq.offset_from(next);
                    self.release(pool);
                }
                self.next_seq = Some(end);
            }
        }
        if data.is_empty() {
            return out;
        }
        let limit = if self.limit == 0 {
            N
        } else {
            self.limit.min(N)
        };
        let resync = out.gap > 0 || std::mem::take(&mut self.resync_next);
        match self.buf {
            Some(i) if self.held_len > 0 && self.held_len < limit => {
                // Join the held bytes with as much of the segment as the buffer takes.
                let held = self.held_len;
                let k = (limit - held).min(data.len());
                let b = &mut pool.bufs[i as usize];
                b[held..held + k].copy_from_slice(&data[..k]);
                let view_len = held + k;
                let used = parse(&b[..view_len], false).min(view_len);
                if k == data.len() {
                    b.copy_within(used..view_len, 0);
                    self.held_len = view_len - used;
                    if self.held_len == 0 {
                        self.release(pool);
                    }
                } else if used >= held {
                    // The held message completed: go on in the segment itself.
                    self.release(pool);
                    let from = used - held;
                    let more = parse(&data[from..], false).min(data.len() - from);
                    out.overflow = self.hold(pool, &data[from + more..], limit);
                } else {
                    // The held message is longer than what can be held: drop it and start over
                    // at this segment, as after a gap.
                    out.overflow = held as u32;
                    self.release(pool);
                    let used = parse(data, true).min(data.len());
                    out.overflow += self.hold(pool, &data[used..], limit);
                }
            }
            Some(_) if self.held_len > 0 => {
                out.overflow = self.held_len as u32;
                self.release(pool);
                let used = parse(data, true).min(data.len());
                out.overflow += self.hold(pool, &data[used..], limit);
            }
            _ => {
                let used = parse(data, resync).min(data.len());
                out.overflow = self.hold(pool, &data[used..], limit);
            }
        }
        out
    }

    /// Keeps `tail` for the next segment; returns the bytes dropped when it cannot.
    fn hold<const N: usize>(&mut self, pool: &mut HoldPool<N>, tail: &[u8], limit: usize) -> u32 {
        if tail.is_empty() {
            self.release(pool);
            return 0;
        }
        if tail.len() > limit {
            self.release(pool);
            self.resync_next = true;
            return tail.len() as u32;
        }
        let i = match self.buf {
            Some(i) => i,
            None => match pool.acquire() {
                Some(i) => i,
                None => {
                    self.held_len = 0;
                    self.resync_next = true;
                    return tail.len() as u32;
                }
            },
        };
        pool.bufs[i as usize][..tail.len()].copy_from_slice(tail);
        self.buf = Some(i);
        self.held_len = tail.len();
        0
    }
}

#[cfg(test)]
#[path = "reassembly_tests.rs"]
mod tests;
