//! One worker's share of the input, read by the worker itself: every worker reads every file
//! (the page cache serves the second read) to the length it had when the run began, numbers and
//! times every frame as one analyzer would (`InputClock`), steers it (`service_hash` of
//! [`wire::plain_flow`]'s fields, or of the decoded frame when it is not plain; then
//! [`worker_of`]) and keeps the frames that are its own, moved to the front of the reader's burst
//! and handed to its analyzer there (a frame the steering decoded carries that form along). No
//! reader thread and no copies between threads: a frame that is not this worker's costs a record
//! header and a header parse.
//!
//! Time moves as with one analyzer: every 65,536 frames of the input and at its end the source
//! gives its worker a time mark (every frame stamped up to then has been seen), so a worker
//! whose share is idle still expires its flows on time.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use tapflow_analyzer::wire::Decoded;
use tapflow_analyzer::AnalyzerConfig;

use tapflow_analyzer::wire;

use super::{service_hash, steer_decoding, InputClock, SplitProgress, MARK_EVERY};
use crate::pcap::PcapReader;
use crate::pipeline::worker_of;
use crate::source::{Burst, Frame, PacketSource, SourceError};

/// Frames of one reader burst at most (the pcap reader's burst).
const BURST: usize = crate::pcap::FILE_BURST;

/// The files, read whole by one of `n` workers, which keeps its share.
pub(super) struct ShardSource<'a> {
    files: &'a [PathBuf],
    /// How far each file is read: its length when the run began, so that every worker reads
    /// a file still being written to the same end.
    lengths: &'a [u64],
    /// The file being read (`files.len()` once all are read).
    file: usize,
    reader: Option<PcapReader>,
    me: usize,
    n: usize,
    cfg: &'a AnalyzerConfig,
    /// The input's time and frame count so far (counted by every worker alike).
    pub(super) input: InputClock,
    next_mark: u64,
    mark: Option<u64>,
    /// This worker's frames of the current burst as the steering decoded them.
    decoded: Box<[Option<Decoded>]>,
    /// Where the first worker tells how far the input is read.
    progress: Option<&'a SplitProgress>,
}

impl<'a> ShardSource<'a> {
    pub(super) fn new(
        (files, lengths): (&'a [PathBuf], &'a [u64]),
        (me, n): (usize, usize),
        cfg: &'a AnalyzerConfig,
        progress: Option<&'a SplitProgress>,
    ) -> Self {
        ShardSource {
            files,
            lengths,
            file: 0,
            reader: None,
            me,
            n,
            cfg,
            input: InputClock::default(),
            next_mark: MARK_EVERY,
            mark: None,
            decoded: vec![None; BURST].into_boxed_slice(),
            progress,
        }
    }
    /// The file being read (the one an error came from).
    pub(super) fn path(&self) -> &Path {
        let i = self.file.min(self.files.len().saturating_sub(1));
        self.files.get(i).map_or(Path::new(""), |p| p.as_path())
    }

    /// Opens the next file when none is open; false once every file is read.
    fn open(&mut self) -> Result<bool, SourceError> {
        if self.reader.is_none() && self.file < self.files.len() {
            let path = &self.files[self.file];
            let len = self.lengths.get(self.file).copied().unwrap_or(u64::MAX);
            self.reader = Some(PcapReader::open_first(path, 0, len)?);
            if let Some(at) = self.progress {
                at.file.store(self.file, Ordering::Relaxed);
                at.file_bytes.store(0, Ordering::Relaxed);
            }
        }
        Ok(self.reader.is_some())
    }
}

impl PacketSource for ShardSource<'_> {
    /// The frames of one reader burst that are this worker's, as one slice.
    fn poll_burst_slices(
        &mut self,
        mut f: impl FnMut(&mut [Frame<'_>]),
    ) -> Result<Burst, SourceError> {
        if !self.open()? {
            return Ok(Burst::End);
        }
        let ShardSource {
            reader: Some(reader),
            me,
            n,
            cfg,
            input,
            decoded,
            ..
        } = self
        else {
            return Ok(Burst::End);
        };
        let mut kept = 0;
        let burst = reader.poll_burst_slices(|frames| {
            // This worker's frames are moved to the front of the burst, in order; those the
            // steering decoded (not plain) keep that form in `decoded`.
            let mut k = 0;
            let mut carried = [false; BURST];
            let n_frames = frames.len().min(BURST);
            for i in 0..n_frames {
                input.stamp(&mut frames[i].meta);
                let (data, link) = (frames[i].data, frames[i].meta.link);
                let (hash, carries) = match wire::plain_flow(data, link, &cfg.decode) {
                    Some(fields) => (service_hash(&fields, cfg), false),
                    None => {
                        let (hash, d) = steer_decoding(data, link, cfg);
                        decoded[k] = d;
                        (hash, d.is_some())
                    }
                };
                if worker_of(hash, *n) == *me {
                    carried[k] = carries;
                    frames[k] = frames[i];
                    k += 1;
                }
            }
            if carried[..k].contains(&true) {
                // Frames that carry their decoded form borrow it from this source.
                let mut out = [Frame::EMPTY; BURST];
                for (j, o) in out.iter_mut().enumerate().take(k) {
                    *o = Frame {
                        decoded: decoded[j].as_ref().filter(|_| carried[j]),
                        ..frames[j]
                    };
                }
                f(&mut out[..k]);
            } else if k > 0 {
                f(&mut frames[..k]);
            }
            kept += k;
        })?;
        if let Some(at) = self.progress {
            if let Some(r) = &self.reader {
                at.file_bytes.store(r.bytes_read(), Ordering::Relaxed);
            }
            at.frames.store(self.input.seq, Ordering::Relaxed);
        }
        if self.input.seq >= self.next_mark {
            if let Some(now) = self.input.now {
                self.next_mark = self.input.seq + MARK_EVERY;
                self.mark = Some(now);
            }
        }
        if burst != Burst::End {
            return Ok(Burst::Frames(kept));
        }
        if let Some(r) = self.reader.take() {
            self.input.truncated += r.truncated_records;
        }
        self.file += 1;
        if self.file < self.files.len() {
            return Ok(Burst::Frames(kept));
        }
        // The input's last time: every worker reaches it before closing its flows.
        self.mark = self.input.now;
        Ok(Burst::End)
    }

    fn take_time_mark(&mut self) -> Option<u64> {
        self.mark.take()
    }
}
