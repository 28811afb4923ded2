//! JSON lines output: one object per line, one file per record type (`l4_flow_log.jsonl`),
//! rotated by size to `l4_flow_log.1.jsonl`, `.2`, ... (newest rotated file has the highest
//! number); at most `keep_files` rotated files are kept. `-` writes to standard output.
//!
//! Field order is the record's declaration order, so the same input gives byte-identical files.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tapflow_analyzer::{L4FlowLog, RecordSink};

use crate::config::FileOutput;

const L4_NAME: &str = "l4_flow_log";

/// Counters of a sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    pub records: u64,
    pub bytes: u64,
    pub rotations: u64,
    /// Records lost to write errors (the first error is kept in [`JsonLinesSink::error`]).
    pub write_errors: u64,
}

enum Target {
    Stdout(BufWriter<io::Stdout>),
    Dir {
        dir: PathBuf,
        file: BufWriter<File>,
        written: u64,
        next_index: u32,
    },
}

/// Writes records as JSON lines.
pub struct JsonLinesSink {
    target: Target,
    limits: FileOutput,
    line: Vec<u8>,
    pub stats: SinkStats,
    error: Option<io::Error>,
}

impl std::fmt::Debug for JsonLinesSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLinesSink")
            .field("stats", &self.stats)
            .finish()
    }
}

fn active_path(dir: &Path) -> PathBuf {
    dir.join(format!("{L4_NAME}.jsonl"))
}

fn rotated_path(dir: &Path, i: u32) -> PathBuf {
    dir.join(format!("{L4_NAME}.{i}.jsonl"))
}

impl JsonLinesSink {
    /// Writes into directory `dir` (created if missing; previous output files are replaced).
    pub fn to_dir(dir: &Path, limits: FileOutput) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        for i in 1..=limits.keep_files.max(1) + 64 {
            let _ = fs::remove_file(rotated_path(dir, i));
        }
        let file = BufWriter::with_capacity(1 << 20, File::create(active_path(dir))?);
        Ok(JsonLinesSink {
            target: Target::Dir {
                dir: dir.to_path_buf(),
                file,
                written: 0,
                next_index: 1,
            },
            limits,
            line: Vec::with_capacity(2048),
            stats: SinkStats::default(),
            error: None,
        })
    }

    /// Writes to standard output (no rotation).
    pub fn to_stdout(limits: FileOutput) -> Self {
        JsonLinesSink {
            target: Target::Stdout(BufWriter::with_capacity(1 << 16, io::stdout())),
            limits,
            line: Vec::with_capacity(2048),
            stats: SinkStats::default(),
            error: None,
        }
    }

    /// The first write error, if any happened.
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// Flushes buffered lines.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.target {
            Target::Stdout(w) => w.flush(),
            Target::Dir { file, .. } => file.flush(),
        }
    }

    fn write_line(&mut self) -> io::Result<()> {
        let len = self.line.len() as u64;
        match &mut self.target {
            Target::Stdout(w) => w.write_all(&self.line)?,
            Target::Dir {
                dir,
                file,
                written,
                next_index,
            } => {
                if *written > 0 && *written + len > self.limits.rotate_bytes {
                    file.flush()?;
                    fs::rename(active_path(dir), rotated_path(dir, *next_index))?;
                    if *next_index > self.limits.keep_files {
                        let _ = fs::remove_file(rotated_path(
                            dir,
                            *next_index - self.limits.keep_files,
                        ));
                    }
                    *next_index += 1;
                    *file = BufWriter::with_capacity(1 << 20, File::create(active_path(dir))?);
                    *written = 0;
                    self.stats.rotations += 1;
                }
                file.write_all(&self.line)?;
                *written += len;
            }
        }
        self.stats.bytes += len;
        Ok(())
    }
}

impl RecordSink for JsonLinesSink {
    fn l4_flow_log(&mut self, rec: &L4FlowLog) {
        self.line.clear();
        if serde_json::to_writer(&mut self.line, rec).is_err() {
            self.stats.write_errors += 1;
            return;
        }
        self.line.push(b'\n');
        match self.write_line() {
            Ok(()) => self.stats.records += 1,
            Err(e) => {
                self.stats.write_errors += 1;
                if self.error.is_none() {
                    self.error = Some(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real row: one TCP SYN through the analyzer; `id` varies the client port.
    fn rec(id: u64) -> L4FlowLog {
        use tapflow_analyzer::wire::build::{self, TcpSpec};
        use tapflow_analyzer::{Analyzer, AnalyzerConfig, PacketMeta};
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let spec = TcpSpec {
            src_port: 40000 + id as u16,
            dst_port: 80,
            flags: 0x02,
            window: 1,
            ..TcpSpec::default()
        };
        let ip = build::ip(a, b, 6, 0, 64, &build::tcp(a, b, &spec, b""));
        let frame = build::ethernet_ip([0xaa, 0, 0, 0, 0, 2], [0xaa, 0, 0, 0, 0, 1], &[], &ip);
        let meta = PacketMeta {
            ts_ns: 1_000_000_000,
            wire_len: 60,
            cap_len: 60,
            ..PacketMeta::default()
        };
        let mut an = Analyzer::new(AnalyzerConfig::default());
        let mut out = Vec::new();
        an.on_packet(&meta, &frame, &mut out);
        an.finish(&mut out);
        out.remove(0)
    }

    #[test]
    fn rotates_and_keeps_the_newest() {
        let dir = std::env::temp_dir().join(format!("tapflow-sink-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let limits = FileOutput {
            rotate_bytes: 6000,
            keep_files: 2,
        };
        let mut s = JsonLinesSink::to_dir(&dir, limits).unwrap();
        for i in 0..40 {
            s.l4_flow_log(&rec(i));
        }
        s.flush().unwrap();
        assert_eq!(s.stats.records, 40);
        assert!(s.stats.rotations >= 3);
        let mut lines = 0;
        for p in [
            active_path(&dir),
            rotated_path(&dir, s.stats.rotations as u32),
            rotated_path(&dir, s.stats.rotations as u32 - 1),
        ] {
            let text = fs::read_to_string(&p).unwrap();
            assert!(text.len() as u64 <= 6000);
            for l in text.lines() {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["mac_0"], "aa:00:00:00:00:01");
                lines += 1;
            }
        }
        assert!(
            !rotated_path(&dir, 1).exists(),
            "oldest rotated file deleted"
        );
        assert!(lines < 40 && lines > 5);
        fs::remove_dir_all(&dir).unwrap();
    }
}
