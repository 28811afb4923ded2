//! Bounded in-order reassembly of one direction of a TCP stream, for L7 parsers.
//!
//! DeepFlow's open agent parses each packet on its own and loses a request head split over two
//! segments. Here each direction keeps its next expected sequence number and a small inline
//! buffer of at most `N` bytes: the unconsumed tail of the last parse (a head cut by a segment
//! boundary). The common case costs nothing: with nothing held, the parser reads the segment in
//! place. Mirror feeds lose packets, so nothing ever waits for a missing segment: a gap drops what
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

/// One direction of a stream: the next expected sequence number and the held tail.
#[derive(Clone)]
pub struct DirStream<const N: usize> {
    next_seq: Option<SeqNumber>,
    held: [u8; N],
    held_len: usize,
    /// Most bytes held (at most `N`).
    limit: usize,
    /// Held bytes were dropped: the next parse starts mid-message and must resynchronise.
    resync_next: bool,
}

impl<const N: usize> Default for DirStream<N> {
    fn default() -> Self {
        DirStream {
            next_seq: None,
            held: [0; N],
            held_len: 0,
            limit: N,
            resync_next: false,
        }
    }
}

impl<const N: usize> std::fmt::Debug for DirStream<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirStream")
            .field("next_seq", &self.next_seq)
            .field("held_len", &self.held_len)
            .finish()
    }
}

impl<const N: usize> DirStream<N> {
    /// Holds at most `limit` bytes (capped at `N`).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.min(N);
    }

    /// Bytes held from earlier segments.
    pub fn held(&self) -> usize {
        self.held_len
    }

    /// Feeds the segment starting at `seq` (segments with payload only: a SYN's or FIN's
    /// sequence number is not data). Out-of-order arrival is a gap for the later segment and a
    /// duplicate for the earlier one: L7 parsing follows the stream as it arrives.
    /// `parse` gets the bytes to parse (held bytes followed
    /// by the segment's new bytes) and whether a gap came right before them (resynchronise), and
    /// returns how many it consumed; the rest is held for the next segment, up to `N` bytes.
    pub fn feed(
        &mut self,
        seq: SeqNumber,
        payload: &[u8],
        parse: impl FnOnce(&[u8], bool) -> usize,
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
                    self.held_len = 0;
                }
                self.next_seq = Some(end);
            }
        }
        if data.is_empty() {
            return out;
        }
        let resync = out.gap > 0 || std::mem::take(&mut self.resync_next);
        if self.held_len == 0 {
            let used = parse(data, resync).min(data.len());
            out.overflow = self.hold(&data[used..]);
        } else if self.held_len + data.len() <= self.limit {
            self.held[self.held_len..self.held_len + data.len()].copy_from_slice(data);
            self.held_len += data.len();
            let view_len = self.held_len;
            let used = parse(&self.held[..view_len], false).min(view_len);
            self.held.copy_within(used..view_len, 0);
            self.held_len = view_len - used;
        } else {
            // Held bytes and the new segment do not fit together: the held message is too long to
            // follow. Drop it and start over at this segment, as after a gap.
            out.overflow = self.held_len as u32;
            self.held_len = 0;
            let used = parse(data, true).min(data.len());
            out.overflow += self.hold(&data[used..]);
        }
        out
    }

    /// Keeps `tail` for the next segment; returns the bytes dropped when it does not fit.
    fn hold(&mut self, tail: &[u8]) -> u32 {
        if tail.len() > self.limit {
            self.held_len = 0;
            self.resync_next = true;
            return tail.len() as u32;
        }
        self.held[..tail.len()].copy_from_slice(tail);
        self.held_len = tail.len();
        0
    }
}

#[cfg(test)]
#[path = "reassembly_tests.rs"]
mod tests;
