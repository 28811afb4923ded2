//! JSON lines output: one object per line, one file per record kind named after it
//! (`l4_flow_log.jsonl`, `l7_flow_log.jsonl`, ...: [`RecordKind::name`]), each rotated by size to
//! `<name>.1.jsonl`, `.2`, ... (newest rotated file has the highest number); at most `keep_files`
//! rotated files are kept per kind. `-` writes every kind to standard output. A new record kind
//! needs nothing here.
//!
//! Field order is the record's declaration order, so the same input gives byte-identical files.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tapflow_analyzer::{RecordBatch, RecordKind, RecordRef, RenderedLines, TextBuf};

use super::l4_json::L4Writer;
use super::{Sink, SinkError, SinkStats};
use crate::config::FileOutput;

/// Lines rendered straight into a buffer (no line copied) and written out in large writes.
struct LineBuffer<W: Write> {
    out: W,
    buf: TextBuf,
    /// The buffer is written out once it holds this much.
    flush_at: usize,
}

impl<W: Write> LineBuffer<W> {
    /// A buffer of `capacity` bytes, written out when `capacity / 8` from full (a longer line
    /// grows it).
    fn new(out: W, capacity: usize) -> Self {
        LineBuffer {
            out,
            buf: TextBuf::with_capacity(capacity),
            flush_at: capacity - capacity / 8,
        }
    }

    /// Writes out what is buffered when it is enough for one large write.
    fn write_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= self.flush_at {
            self.write_out()?;
        }
        Ok(())
    }

    /// Writes out the buffer (dropped on an error: the buffer never grows past one write).
    fn write_out(&mut self) -> io::Result<()> {
        let res = self.out.write_all(self.buf.as_bytes());
        self.buf.clear();
        res
    }

    /// Writes out what is buffered, then `lines` (whole lines rendered elsewhere) as they are,
    /// without copying them into the buffer.
    fn write_lines(&mut self, lines: &[u8]) -> io::Result<()> {
        self.write_out()?;
        self.out.write_all(lines)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_out()?;
        self.out.flush()
    }
}

/// Renders a batch's l4 and l7 rows as JSON lines into its [`RecordBatch::l4_lines`] and
/// `l7_lines` (what an offline worker does before handing the batch over, so that the thread
/// writing the files only copies bytes; [`super::Sink::takes_rendered_rows`] says whether the
/// sinks use them).
///
/// [`RecordBatch::l4_lines`]: tapflow_analyzer::RecordBatch
pub fn render_row_lines(batch: &mut RecordBatch) {
    let lines = &mut batch.l4_lines;
    lines.clear();
    let mut w = L4Writer::new();
    for r in &batch.l4 {
        lines.push_with(|out| {
            w.write(r, out);
            out.push(b'\n');
        });
    }
    let lines = &mut batch.l7_lines;
    lines.clear();
    for r in &batch.l7 {
        lines.push_with(|out| {
            super::l7_json::write_l7(r, out);
            out.push(b'\n');
        });
    }
}

/// Bytes buffered per file before a write.
const FILE_BUFFER: usize = 1 << 20;

/// One record type's file in a directory, rotated by size.
struct RotatingFile {
    dir: PathBuf,
    name: &'static str,
    file: LineBuffer<File>,
    /// Bytes in the current file, buffered ones included.
    written: u64,
    next_index: u32,
}

fn active_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.jsonl"))
}

fn rotated_path(dir: &Path, name: &str, i: u32) -> PathBuf {
    dir.join(format!("{name}.{i}.jsonl"))
}

impl RotatingFile {
    fn create(dir: &Path, name: &'static str, limits: &FileOutput) -> io::Result<Self> {
        for i in 1..=limits.keep_files.max(1) + 64 {
            let _ = fs::remove_file(rotated_path(dir, name, i));
        }
        let file = LineBuffer::new(File::create(active_path(dir, name))?, FILE_BUFFER);
        Ok(RotatingFile {
            dir: dir.to_path_buf(),
            name,
            file,
            written: 0,
            next_index: 1,
        })
    }

    /// Takes the line the buffer holds from `start` on (rendered there by the caller); returns
    /// whether the file was rotated first. On an error the buffered lines are dropped.
    fn commit(&mut self, start: usize, limits: &FileOutput) -> io::Result<bool> {
        let res = self.commit_line(start, limits);
        if res.is_err() {
            self.file.buf.clear();
        }
        res
    }

    fn commit_line(&mut self, start: usize, limits: &FileOutput) -> io::Result<bool> {
        let len = (self.file.buf.len() - start) as u64;
        let mut rotated = false;
        if self.written > 0 && self.written + len > limits.rotate_bytes {
            // The lines before this one end the current file; this one starts the next.
            self.file
                .out
                .write_all(&self.file.buf.as_bytes()[..start])?;
            self.file.buf.drain_front(start);
            self.file.out.flush()?;
            let (dir, name) = (&self.dir, self.name);
            fs::rename(
                active_path(dir, name),
                rotated_path(dir, name, self.next_index),
            )?;
            if self.next_index > limits.keep_files {
                let _ =
                    fs::remove_file(rotated_path(dir, name, self.next_index - limits.keep_files));
            }
            self.next_index += 1;
            self.file.out = File::create(active_path(dir, name))?;
            self.written = 0;
            rotated = true;
        }
        self.written += len;
        self.file.write_if_full()?;
        Ok(rotated)
    }

    /// Takes whole lines rendered elsewhere in one write, after what is buffered, without
    /// copying them into the buffer; false (nothing taken) when they would cross a rotation.
    fn write_lines(&mut self, lines: &[u8], limits: &FileOutput) -> io::Result<bool> {
        let len = lines.len() as u64;
        if self.written + len > limits.rotate_bytes {
            return Ok(false);
        }
        self.file.write_lines(lines)?;
        self.written += len;
        Ok(true)
    }
}

/// A JSON-lines file of rows that are not records (`tapflow server`'s `deepflow_system.jsonl`:
/// agents' self-monitoring), rotated by size as the record files are.
pub struct JsonRowFile {
    file: RotatingFile,
    limits: FileOutput,
}

impl std::fmt::Debug for JsonRowFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonRowFile")
            .field("name", &self.file.name)
            .finish()
    }
}

impl JsonRowFile {
    /// `DIR/<name>.jsonl`, created empty (rotated files of an earlier run are removed).
    pub fn create(dir: &Path, name: &'static str, limits: FileOutput) -> io::Result<Self> {
        Ok(JsonRowFile {
            file: RotatingFile::create(dir, name, &limits)?,
            limits,
        })
    }

    /// Appends `row` as one line.
    pub fn write(&mut self, row: &serde_json::Value) -> io::Result<()> {
        let start = self.file.file.buf.len();
        let line = serde_json::to_vec(row).map_err(io::Error::other)?;
        self.file.file.buf.extend_from_slice(&line);
        self.file.file.buf.push(b'\n');
        self.file.commit(start, &self.limits).map(|_| ())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.file.file.flush()
    }
}

/// Rendered lines at least this long go to their file in a write of their own; shorter ones
/// are copied into its buffer.
const DIRECT_WRITE: usize = 64 * 1024;

enum Target {
    Stdout(LineBuffer<io::Stdout>),
    /// One file per kind, in [`RecordKind::ALL`] order.
    Dir(Vec<RotatingFile>),
}

/// Writes records as JSON lines.
pub struct JsonLinesSink {
    target: Target,
    limits: FileOutput,
    pub stats: SinkStats,
    error: Option<io::Error>,
    /// The l4 rows' writer (it keeps a run of the last row's members rendered).
    l4: L4Writer,
}

impl std::fmt::Debug for JsonLinesSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLinesSink")
            .field("stats", &self.stats)
            .finish()
    }
}

impl JsonLinesSink {
    /// Writes into directory `dir` (created if missing; previous output files are replaced).
    pub fn to_dir(dir: &Path, limits: FileOutput) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(JsonLinesSink {
            target: Target::Dir(
                RecordKind::ALL
                    .iter()
                    .map(|k| RotatingFile::create(dir, k.name(), &limits))
                    .collect::<io::Result<_>>()?,
            ),
            limits,
            stats: SinkStats::default(),
            error: None,
            l4: L4Writer::new(),
        })
    }

    /// Writes to standard output (no rotation).
    pub fn to_stdout(limits: FileOutput) -> Self {
        JsonLinesSink {
            target: Target::Stdout(LineBuffer::new(io::stdout(), 1 << 16)),
            limits,
            stats: SinkStats::default(),
            error: None,
            l4: L4Writer::new(),
        }
    }

    /// Flushes buffered lines.
    fn flush_files(&mut self) -> io::Result<()> {
        match &mut self.target {
            Target::Stdout(w) => w.flush(),
            Target::Dir(files) => files.iter_mut().try_for_each(|f| f.file.flush()),
        }
    }

    /// The buffer the lines of `kind` are rendered into.
    fn buffer(&mut self, kind: RecordKind) -> &mut TextBuf {
        Self::buffer_in(&mut self.target, kind)
    }

    fn buffer_in(target: &mut Target, kind: RecordKind) -> &mut TextBuf {
        match target {
            Target::Stdout(w) => &mut w.buf,
            Target::Dir(files) => &mut files[Self::file_of(kind)].file.buf,
        }
    }

    fn file_of(kind: RecordKind) -> usize {
        RecordKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
    }

    /// Serialises `rec` into the buffer of the file of its kind; true when written.
    fn write_record(&mut self, rec: RecordRef<'_>) -> bool {
        let kind = rec.kind();
        let buf = Self::buffer_in(&mut self.target, kind);
        let start = buf.len();
        // Every kind has its own writer: the same JSON as serde's derive, without generic
        // serialization (a new kind does not compile until it has one).
        use super::metrics_json::{write_app_doc, write_flow_doc};
        match rec {
            RecordRef::L4FlowLog(r) => self.l4.write(r, buf),
            RecordRef::L7FlowLog(r) => super::l7_json::write_l7(r, buf),
            RecordRef::NetworkDoc(d) => write_flow_doc(&d.0, buf),
            RecordRef::NetworkMapDoc(d) => write_flow_doc(&d.0, buf),
            RecordRef::NetworkDoc1s(d) => write_flow_doc(&d.0, buf),
            RecordRef::NetworkMapDoc1s(d) => write_flow_doc(&d.0, buf),
            RecordRef::ApplicationDoc(d) => write_app_doc(&d.0, buf),
            RecordRef::ApplicationMapDoc(d) => write_app_doc(&d.0, buf),
            RecordRef::ApplicationDoc1s(d) => write_app_doc(&d.0, buf),
            RecordRef::ApplicationMapDoc1s(d) => write_app_doc(&d.0, buf),
        }
        buf.push(b'\n');
        self.commit(kind, start)
    }

    /// Writes one rendered line (with its line end) to the file of `kind`; true when written.
    fn write_line(&mut self, kind: RecordKind, line: &[u8]) -> bool {
        let buf = self.buffer(kind);
        let start = buf.len();
        buf.extend_from_slice(line);
        self.commit(kind, start)
    }

    /// Writes a batch's rendered lines of `kind` to their file (or standard output) in one
    /// write when they are long enough and stay within the file's rotation size; false when they
    /// are left to go line by line.
    fn write_rendered_block(&mut self, kind: RecordKind, lines: &RenderedLines) -> bool {
        let bytes = lines.as_bytes();
        if bytes.len() < DIRECT_WRITE {
            return false;
        }
        let written = match &mut self.target {
            Target::Dir(files) => files[Self::file_of(kind)].write_lines(bytes, &self.limits),
            Target::Stdout(w) => w.write_lines(bytes).map(|()| true),
        };
        match written {
            Ok(false) => return false,
            Ok(true) => {
                self.stats.count_n(kind, lines.len() as u64);
                self.stats.bytes += bytes.len() as u64;
            }
            Err(e) => {
                self.stats.write_errors += 1;
                if self.error.is_none() {
                    self.error = Some(e);
                }
            }
        }
        true
    }

    /// Takes the line buffered for `kind` from `start` on; true when written.
    fn commit(&mut self, kind: RecordKind, start: usize) -> bool {
        let res = match &mut self.target {
            Target::Stdout(w) => {
                let len = w.buf.len() - start;
                w.write_if_full().map(|_| (false, len))
            }
            Target::Dir(files) => {
                let f = &mut files[Self::file_of(kind)];
                let len = f.file.buf.len() - start;
                f.commit(start, &self.limits).map(|rotated| (rotated, len))
            }
        };
        match res {
            Ok((rotated, len)) => {
                self.stats.rotations += u64::from(rotated);
                self.stats.bytes += len as u64;
                true
            }
            Err(e) => {
                self.stats.write_errors += 1;
                if self.error.is_none() {
                    self.error = Some(e);
                }
                false
            }
        }
    }
}

impl Sink for JsonLinesSink {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn write(&mut self, rec: RecordRef<'_>) {
        if self.write_record(rec) {
            self.stats.count(rec.kind());
        }
    }

    fn write_batch(&mut self, batch: &RecordBatch) {
        let rendered = [
            (RecordKind::L4FlowLog, &batch.l4_lines, batch.l4.len()),
            (RecordKind::L7FlowLog, &batch.l7_lines, batch.l7.len()),
        ];
        if rendered.iter().any(|(_, lines, rows)| lines.len() != *rows) {
            return batch.for_each(|r| self.write(r));
        }
        // The l4 and l7 rows come rendered (by the worker that made them); the other kinds
        // follow, as `for_each` orders them.
        for (kind, lines, _) in rendered {
            if !self.write_rendered_block(kind, lines) {
                for line in lines.iter() {
                    if self.write_line(kind, line) {
                        self.stats.count(kind);
                    }
                }
            }
        }
        batch.for_each(|r| {
            if !matches!(r.kind(), RecordKind::L4FlowLog | RecordKind::L7FlowLog) {
                self.write(r);
            }
        });
    }

    fn takes_rendered_rows(&self) -> bool {
        true
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let flushed = self.flush_files();
        match (self.error.take(), flushed) {
            (Some(e), _) | (None, Err(e)) => Err(SinkError::Io {
                sink: "jsonl",
                source: e,
            }),
            (None, Ok(())) => Ok(()),
        }
    }

    fn stats(&self) -> SinkStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapflow_analyzer::{L4FlowLog, Record};

    /// A real row: one TCP SYN through the analyzer; `id` varies the client port.
    fn rec(id: u64) -> L4FlowLog {
        crate::sink::syn_row(40000 + id as u16)
    }

    /// A request row of flow `id` (its resource in need of escaping when `id` is odd).
    fn request(id: u64) -> tapflow_analyzer::L7FlowLog {
        let resource: &[u8] = if id % 2 == 1 {
            b"/a\"b\n\xff"
        } else {
            b"/plain"
        };
        tapflow_analyzer::L7FlowLog {
            flow_id: id,
            l7_protocol_str: "HTTP",
            request_type: tapflow_analyzer::inline::InlineBytes::from_slice(b"GET"),
            request_resource: tapflow_analyzer::inline::InlineBytes::from_slice(resource),
            response_code: Some(200),
            ..tapflow_analyzer::L7FlowLog::default()
        }
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
            s.write(rec(i).as_ref());
        }
        s.flush().unwrap();
        assert_eq!(s.stats.records(RecordKind::L4FlowLog), 40);
        assert!(s.stats.rotations >= 3);
        let mut lines = 0;
        for p in [
            active_path(&dir, "l4_flow_log"),
            rotated_path(&dir, "l4_flow_log", s.stats.rotations as u32),
            rotated_path(&dir, "l4_flow_log", s.stats.rotations as u32 - 1),
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
            !rotated_path(&dir, "l4_flow_log", 1).exists(),
            "oldest rotated file deleted"
        );
        assert!(lines < 40 && lines > 5);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A batch whose l4 and l7 rows a worker rendered gives the same files, byte for byte, as
    /// the rows rendered here; a batch whose lines do not match its rows is rendered here.
    #[test]
    fn rendered_row_lines_write_the_same_files() {
        let base = std::env::temp_dir().join(format!("tapflow-rendered-{}", std::process::id()));
        let limits = FileOutput {
            rotate_bytes: 1 << 30,
            keep_files: 1,
        };
        let mut batch = RecordBatch::default();
        for i in 0..5 {
            batch.push(&rec(i));
            batch.push(&request(i));
        }
        let mut rendered = batch.clone();
        render_row_lines(&mut rendered);
        assert_eq!(rendered.l4_lines.len(), 5);
        assert_eq!(rendered.l7_lines.len(), 5);
        let mut partial = rendered.clone();
        partial.l4.push(rec(9));
        let mut partial7 = rendered.clone();
        partial7.l7.push(request(9));
        let mut expected = batch.clone();
        expected.push(&rec(9));
        expected.push(&request(9));
        let mut files = Vec::new();
        for (name, b) in [
            ("plain", &batch),
            ("rendered", &rendered),
            ("partial", &partial),
            ("partial7", &partial7),
        ] {
            let dir = base.join(name);
            let mut s = JsonLinesSink::to_dir(&dir, limits.clone()).unwrap();
            assert!(s.takes_rendered_rows());
            s.write_batch(b);
            s.flush().unwrap();
            assert_eq!(
                s.stats.records(RecordKind::L4FlowLog),
                b.l4.len() as u64,
                "{name}"
            );
            assert_eq!(
                s.stats.records(RecordKind::L7FlowLog),
                b.l7.len() as u64,
                "{name}"
            );
            files.push([
                fs::read(active_path(&dir, "l4_flow_log")).unwrap(),
                fs::read(active_path(&dir, "l7_flow_log")).unwrap(),
            ]);
        }
        assert_eq!(files[0], files[1], "rendered lines are the rows' own JSON");
        let l4 = String::from_utf8(files[2][0].clone()).unwrap();
        assert_eq!(l4.lines().count(), 6, "a partial rendering is not used");
        assert!(l4.ends_with('\n'));
        let mut plain = TextBuf::new();
        for r in &expected.l4 {
            crate::sink::l4_json::write_l4(r, &mut plain);
            plain.push(b'\n');
        }
        assert_eq!(l4.as_bytes(), plain.as_bytes());
        let l7 = &files[3][1];
        let mut plain = TextBuf::new();
        for r in &expected.l7 {
            crate::sink::l7_json::write_l7(r, &mut plain);
            plain.push(b'\n');
        }
        assert_eq!(
            l7.as_slice(),
            plain.as_bytes(),
            "a partial rendering is not used"
        );
        assert_eq!(files[3][0], files[0][0]);
        fs::remove_dir_all(&base).unwrap();
    }

    /// Lines written whole come after the lines buffered before them.
    #[test]
    fn lines_written_whole_follow_the_buffered_ones() {
        let mut b = LineBuffer::new(Vec::new(), 1 << 16);
        b.buf.extend_from_slice(b"a\n");
        b.write_lines(b"b\nc\n").unwrap();
        b.buf.extend_from_slice(b"d\n");
        b.flush().unwrap();
        assert_eq!(b.out, b"a\nb\nc\nd\n");
    }

    /// Rendered batches long enough to be written whole give the same files as the rows written
    /// one by one: same lines in the same files, rotated at the same line ends (l4 and l7 rows
    /// each in their own files).
    #[test]
    fn long_rendered_batches_are_written_whole_and_rotate_on_the_same_lines() {
        let base = std::env::temp_dir().join(format!("tapflow-whole-{}", std::process::id()));
        let limits = FileOutput {
            rotate_bytes: 200_000,
            keep_files: 64,
        };
        // Batches of 60, 3 and 90 rows (1.5 KB each): over, under and over the direct-write
        // length.
        let mut batches = Vec::new();
        let mut id = 0;
        for n in [60, 3, 90, 60, 60, 60, 60, 60] {
            let mut b = RecordBatch::default();
            for _ in 0..n {
                b.push(&rec(id));
                b.push(&request(id));
                id += 1;
            }
            render_row_lines(&mut b);
            batches.push(b);
        }
        assert!(batches[0].l4_lines.as_bytes().len() >= DIRECT_WRITE);
        assert!(batches[1].l4_lines.as_bytes().len() < DIRECT_WRITE);
        assert!(batches[2].l7_lines.as_bytes().len() >= DIRECT_WRITE);
        // Room for whole batches between rotations, and batches that would cross one.
        assert!(batches[0].l4_lines.as_bytes().len() as u64 * 2 < limits.rotate_bytes);
        let mut outputs = Vec::new();
        for (name, whole) in [("one_by_one", false), ("whole", true)] {
            let dir = base.join(name);
            let mut s = JsonLinesSink::to_dir(&dir, limits.clone()).unwrap();
            for b in &batches {
                if whole {
                    s.write_batch(b);
                } else {
                    b.for_each(|r| s.write(r));
                }
            }
            s.flush().unwrap();
            assert_eq!(s.stats.records(RecordKind::L4FlowLog), id);
            assert_eq!(s.stats.records(RecordKind::L7FlowLog), id);
            let rotations = s.stats.rotations as u32;
            assert!(rotations >= 4, "{name}: {rotations} rotations");
            let mut files = Vec::new();
            for kind in ["l4_flow_log", "l7_flow_log"] {
                for i in 1.. {
                    match fs::read(rotated_path(&dir, kind, i)) {
                        Ok(f) => files.push(f),
                        Err(_) => break,
                    }
                }
                files.push(fs::read(active_path(&dir, kind)).unwrap());
            }
            assert!(files.len() >= 6, "{name}: both kinds rotated");
            for f in &files {
                assert!(f.len() as u64 <= limits.rotate_bytes, "{name}: {}", f.len());
                assert!(f.ends_with(b"\n"));
            }
            outputs.push((files, s.stats.bytes));
        }
        assert_eq!(outputs[0], outputs[1]);
        fs::remove_dir_all(&base).unwrap();
    }
}
