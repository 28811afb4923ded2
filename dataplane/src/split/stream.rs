//! Compressed input through `--workers`: one reader decompresses the files once and hands every
//! frame, numbered and timed ([`InputClock`]), to its worker over a pipeline lane (waiting for
//! room: offline nothing is dropped); every 65,536 frames and at the end a time mark to every
//! lane. Steering decoded a frame that is not plain; that form travels with it.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use tapflow_analyzer::AnalyzerConfig;

use super::{steer, InputClock, SplitError, SplitProgress, MARK_EVERY};
use crate::pcap::PcapReader;
use crate::pipeline::{worker_of, LaneTx};
use crate::source::{Burst, PacketSource};

/// Every frame of every file, in order, to its worker's lane.
pub(super) fn read_files(
    files: &[PathBuf],
    mut lanes: Vec<LaneTx>,
    cfg: &AnalyzerConfig,
    at: &SplitProgress,
) -> Result<InputClock, SplitError> {
    let n = lanes.len();
    let mut input = InputClock::default();
    let mut next_mark = MARK_EVERY;
    let fail = |path: &Path, error| SplitError {
        path: path.to_path_buf(),
        error,
    };
    for (i, path) in files.iter().enumerate() {
        at.file.store(i, Ordering::Relaxed);
        at.file_bytes.store(0, Ordering::Relaxed);
        let mut reader = PcapReader::open(path, 0).map_err(|e| fail(path, e))?;
        loop {
            let burst = reader
                .poll_burst(|f| {
                    let mut meta = f.meta;
                    input.stamp(&mut meta);
                    let (hash, decoded) = steer(f.data, meta.link, cfg);
                    lanes[worker_of(hash, n)].push_wait(&meta, f.data, decoded);
                })
                .map_err(|e| fail(path, e))?;
            at.file_bytes.store(reader.bytes_read(), Ordering::Relaxed);
            at.frames.store(input.seq, Ordering::Relaxed);
            if let Some(now) = input.now.filter(|_| input.seq >= next_mark) {
                next_mark = input.seq + MARK_EVERY;
                for l in lanes.iter_mut() {
                    l.flush_marked(now);
                }
            }
            if burst == Burst::End {
                break;
            }
        }
        input.truncated += reader.truncated_records;
    }
    for l in lanes.iter_mut() {
        match input.now {
            Some(now) => l.flush_marked(now),
            None => l.flush(),
        }
    }
    Ok(input)
}
