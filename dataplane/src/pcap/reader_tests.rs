//! pcapng sections: one after another (as `cat a.pcapng b.pcapng` makes), in either byte order,
//! and the section-header errors.

use std::io::Cursor;

use super::*;
use crate::source::{Burst, PacketSource};

/// One pcapng section: SHB, an Ethernet IDB and one EPB per frame, all in the given byte order.
fn section(big_endian: bool, frames: &[&[u8]]) -> Vec<u8> {
    let w32 = |v: &mut Vec<u8>, x: u32| {
        v.extend_from_slice(&if big_endian {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        })
    };
    let mut v = Vec::new();
    w32(&mut v, 0x0A0D_0D0A);
    w32(&mut v, 28);
    w32(&mut v, PCAPNG_BOM);
    w32(&mut v, 1); // major 1, minor 0 (as one word: only lengths and the BOM are read)
    v.extend_from_slice(&[0xff; 8]); // section length: unknown
    w32(&mut v, 28);
    w32(&mut v, 1); // IDB
    w32(&mut v, 20);
    w32(&mut v, if big_endian { 1 << 16 } else { 1 }); // linktype 1 (u16), reserved (u16)
    w32(&mut v, 65_535);
    w32(&mut v, 20);
    for (i, f) in frames.iter().enumerate() {
        let padded = f.len().div_ceil(4) * 4;
        let len = 32 + padded as u32;
        w32(&mut v, 6); // EPB
        w32(&mut v, len);
        w32(&mut v, 0);
        w32(&mut v, 0);
        w32(&mut v, i as u32);
        w32(&mut v, f.len() as u32);
        w32(&mut v, f.len() as u32);
        v.extend_from_slice(f);
        v.resize(v.len() + padded - f.len(), 0);
        w32(&mut v, len);
    }
    v
}

fn read_all(bytes: Vec<u8>) -> Result<Vec<Vec<u8>>, SourceError> {
    let mut r = PcapReader::from_reader(Box::new(Cursor::new(bytes)), 0)?;
    let mut out = Vec::new();
    while let Some(f) = r.next_frame()? {
        out.push(f.data.to_vec());
    }
    Ok(out)
}

#[test]
fn sections_in_both_byte_orders_are_read_one_after_another() {
    let (a, b, c) = ([1u8; 60], [2u8; 61], [3u8; 62]);
    let mut file = section(false, &[&a, &b]);
    file.extend(section(true, &[&c]));
    let frames = read_all(file).expect("read");
    assert_eq!(frames, vec![a.to_vec(), b.to_vec(), c.to_vec()]);
}

#[test]
fn bad_section_headers_are_errors() {
    let good = section(false, &[&[1u8; 60]]);
    // Bad byte-order magic in the first section, then in a second one.
    let mut bad = good.clone();
    bad[8] ^= 0xff;
    assert!(matches!(read_all(bad), Err(SourceError::Malformed { .. })));
    let mut two = good.clone();
    let mut second = good.clone();
    second[8] ^= 0xff;
    two.extend(second);
    assert!(matches!(read_all(two), Err(SourceError::Malformed { .. })));
    // A section header length that is not a multiple of 4.
    let mut odd = good.clone();
    odd[4] = 29;
    assert!(matches!(read_all(odd), Err(SourceError::Malformed { .. })));
    // Cut inside the second section header.
    let mut cut = good.clone();
    cut.extend_from_slice(&good[..10]);
    assert!(read_all(cut).is_err());
}

/// The modified pcap format (magic 0xa1b2cd34, Kuznetzov's patch): 24-byte record headers.
#[test]
fn modified_pcap_records_are_read() {
    for big_endian in [false, true] {
        let w32 = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if big_endian {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            })
        };
        let mut v = Vec::new();
        w32(&mut v, PCAP_MAGIC_MODIFIED);
        v.extend_from_slice(&if big_endian {
            [0, 2, 0, 4]
        } else {
            [2, 0, 4, 0]
        });
        w32(&mut v, 0);
        w32(&mut v, 0);
        w32(&mut v, 65_535);
        w32(&mut v, 1);
        for (i, frame) in [&[0xaa; 60][..], &[0xbb; 74][..]].iter().enumerate() {
            w32(&mut v, 1_700_000_000 + i as u32);
            w32(&mut v, 250_000);
            w32(&mut v, frame.len() as u32);
            w32(&mut v, frame.len() as u32);
            // ifindex, protocol, packet type, padding: skipped.
            v.extend_from_slice(&[9, 9, 9, 9, 8, 0, 4, 0]);
            v.extend_from_slice(frame);
        }
        let mut r = PcapReader::from_reader(Box::new(Cursor::new(v)), 0).expect("modified pcap");
        let f = r.next_frame().expect("read").expect("frame");
        assert_eq!((f.data.len(), f.data[0]), (60, 0xaa));
        assert_eq!(f.meta.ts_ns, 1_700_000_000_250_000_000);
        let f = r.next_frame().expect("read").expect("frame");
        assert_eq!((f.data.len(), f.data[0]), (74, 0xbb));
        assert!(r.next_frame().expect("end").is_none());
    }
}

/// Found by `fuzz/run.sh run pcap`: an interface block whose `if_tsresol` option is cut by the
/// block's end (length 1, no byte) indexed past the option's value.
#[test]
fn options_cut_by_the_block_end_are_ignored() {
    let crash: &[u8] = &[
        0x0a, 0x0d, 0x0d, 0x0a, 0x00, 0x00, 0x00, 0x1c, 0x1a, 0x2b, 0x3c, 0x4d, 0x0a, 0x71, 0x09,
        0x80, 0x9c, 0x0c, 0xff, 0xff, 0xd4, 0xb0, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x63, 0x0a, 0x0c, 0x01, 0x00, 0x2b,
        0x4f, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x01, 0x40, 0x4f, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x01,
        0x40, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x09, 0x00, 0x01, 0x20, 0x00, 0x00,
        0x1d, 0x00, 0x1c, 0x1a, 0x2b, 0x3c, 0x4d, 0x0a, 0x71, 0x09, 0x80, 0x9c, 0x4d, 0x0a, 0x71,
        0x09, 0x80, 0x9c,
    ];
    let Ok(mut r) = PcapReader::from_reader(Box::new(Cursor::new(crash.to_vec())), 0) else {
        return;
    };
    while let Ok(Some(_)) = r.next_frame() {}
}

/// Found by the pcap fuzz target: a timestamp in a resolution of one unit per second (and one
/// of 2^n units) overflowed when converted to nanoseconds.
#[test]
fn extreme_timestamp_resolutions_saturate() {
    let crash: &[u8] = &[
        0x0a, 0x0d, 0x0d, 0x0a, 0x00, 0x00, 0x00, 0x1c, 0x1a, 0x2b, 0x3c, 0x4d, 0x0a, 0x71, 0x09,
        0x00, 0x32, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x1c, 0x1a, 0x2b, 0x3c, 0x4d,
        0x0a, 0x71, 0x09, 0x80, 0x9c, 0x0c, 0x01, 0x00, 0x2b, 0x4f, 0x00, 0x00, 0x00, 0x3c, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x9c, 0x04, 0x2b,
        0x01, 0x00, 0x4f, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x1c, 0x1a,
        0x2b, 0x3c, 0x4d, 0x0a, 0x71, 0x09, 0x00, 0x9c, 0x0c, 0x01, 0x00, 0x2b, 0x4f, 0x00, 0x08,
        0x3c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00,
        0x00, 0x1c, 0x1a, 0x2b, 0x2b, 0x4f, 0x00, 0x00, 0x64, 0x3c, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x1c,
        0x1a, 0x2b, 0x3c, 0x4d, 0x0a, 0x71, 0x09, 0x80, 0x9c, 0x0c, 0x01, 0x00, 0x2b, 0x4f, 0x00,
        0x00, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x00, 0xff, 0x02, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00,
        0x00, 0x9c, 0x04, 0x2b, 0x01, 0x00, 0x4f, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x0a, 0x00,
        0x00, 0x00, 0x1c, 0x1a, 0x2b, 0x3c, 0x4d, 0x0a, 0x71, 0x09, 0x00, 0x9c, 0x0c, 0x01, 0x00,
        0x2b, 0x4f, 0x00, 0x08, 0x3c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00,
        0x30, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x0a, 0x00, 0x00, 0x00, 0x1c, 0x1a, 0x2b, 0x2b, 0x4f, 0x00, 0x00, 0x64, 0x3c, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x0d, 0x0d, 0x0a,
        0x00, 0x00, 0x00, 0x1c, 0x1a, 0x2b, 0x3c, 0x4d, 0x0a, 0x71, 0x09, 0x00, 0x32, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0xf7, 0x3b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x1c, 0x1a, 0x2b, 0x3c, 0x4d, 0x0a, 0x71, 0x09, 0x80,
        0x01, 0x2b, 0x0c, 0x00, 0x9c, 0x4f, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x03, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x9c, 0x04, 0x2b, 0x01, 0x00, 0x4f, 0x00,
        0x00, 0x00, 0x3c, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x1c, 0x1a, 0x2b, 0x3c, 0x4d, 0x0a,
        0x71, 0x09, 0x00, 0x64, 0x3c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x1c, 0x1a, 0x2b, 0x3c, 0x4d, 0x0a,
        0x71, 0x09, 0x80, 0x9c, 0x0c, 0x01, 0x00, 0x2b, 0x4f, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x01,
        0x00, 0x00, 0xff, 0x02, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x9c, 0x04, 0x2b, 0x01,
        0x00, 0x4f, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x1c, 0x1a, 0x2b,
        0x3c, 0x4d, 0x0a, 0x71, 0x09, 0x00, 0x9c, 0x0c, 0x01, 0x00, 0x2b, 0x4f, 0x00, 0x08, 0x3c,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00,
        0x1c, 0x1a, 0x2b, 0x2b, 0x4f, 0x00, 0x00, 0x64, 0x3c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
        0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x3a, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x3a,
        0x3a, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x3a, 0x75,
    ];
    let Ok(mut r) = PcapReader::from_reader(Box::new(Cursor::new(crash.to_vec())), 0) else {
        return;
    };
    while let Ok(Some(_)) = r.next_frame() {}
}

/// A fresh directory for this test's files (removed by the test).
fn test_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tapflow-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// A frame's bytes, time, original and captured length.
type Seen = (Vec<u8>, u64, u32, u32);

/// Every frame, the truncated records and the error of a reader.
fn frames_of(r: &mut PcapReader) -> (Vec<Seen>, u64, Option<String>) {
    let mut out = Vec::new();
    let err = loop {
        match r.next_frame() {
            Ok(Some(f)) => out.push((
                f.data.to_vec(),
                f.meta.ts_ns,
                f.meta.wire_len,
                f.meta.cap_len,
            )),
            Ok(None) => break None,
            Err(e) => break Some(format!("{e:?}")),
        }
    };
    (out, r.truncated_records, err)
}

/// What [`frames_of`] gives, read a burst at a time as the worker loop reads
/// ([`PacketSource::poll_burst_slices`]: every frame of a burst valid together).
fn frames_by_bursts(r: &mut PcapReader) -> (Vec<Seen>, u64, Option<String>) {
    let mut out = Vec::new();
    let err = loop {
        let got = r.poll_burst_slices(|frames| {
            assert!(!frames.is_empty() && frames.len() <= FILE_BURST);
            for f in frames.iter() {
                out.push((
                    f.data.to_vec(),
                    f.meta.ts_ns,
                    f.meta.wire_len,
                    f.meta.cap_len,
                ));
            }
        });
        match got {
            Ok(Burst::End) => break None,
            Ok(_) => {}
            Err(e) => break Some(format!("{e:?}")),
        }
    };
    (out, r.truncated_records, err)
}

/// A file read in blocks gives what the stream gives: every frame, cut at every length
/// (truncated records counted the same), in classic pcap and pcapng; classic pcap frames are
/// handed out of the block (not copied).
#[test]
fn block_read_files_read_like_streams_at_every_cut() {
    let mut w = crate::pcap::PcapWriter::new(Vec::new()).expect("writer");
    for i in 0..6u64 {
        w.write(
            1_700_000_000_000_000_000 + i * 1_000_123,
            &vec![i as u8; 60 + i as usize * 7],
        )
        .expect("write");
    }
    let classic = w.finish().expect("finish");
    let ng = section(false, &[&[1u8; 60], &[2u8; 61]]);
    let dir = test_dir("blocks");
    let path = dir.join("f.pcap");
    let whole = dir.join("whole.pcap");
    for file in [classic, ng] {
        std::fs::write(&whole, &file).expect("write");
        for cut in 0..=file.len() {
            std::fs::write(&path, &file[..cut]).expect("write");
            // The whole file read to `cut` (a file still being written, read by several
            // workers alike) is the file cut there.
            let first = PcapReader::open_first(&whole, 0, cut as u64);
            let stream = PcapReader::from_reader(Box::new(Cursor::new(file[..cut].to_vec())), 0);
            let mapped = PcapReader::open(&path, 0);
            match (stream, mapped) {
                (Ok(mut s), Ok(mut m)) => {
                    assert!(matches!(m.input, Input::Blocks(..)));
                    let want = frames_of(&mut s);
                    assert_eq!(frames_of(&mut m), want, "cut at {cut}");
                    assert_eq!(m.bytes_read(), s.bytes_read(), "cut at {cut}");
                    let mut bursts = PcapReader::open(&path, 0).expect("reopen");
                    assert_eq!(frames_by_bursts(&mut bursts), want, "bursts, cut at {cut}");
                    assert_eq!(bursts.bytes_read(), s.bytes_read(), "bursts, cut at {cut}");
                    let mut first = first.expect("open the first bytes");
                    assert_eq!(frames_by_bursts(&mut first), want, "first {cut} bytes");
                }
                (Err(s), Err(m)) => {
                    assert_eq!(format!("{s:?}"), format!("{m:?}"), "cut {cut}");
                    let first = first.err().map(|e| format!("{e:?}"));
                    assert_eq!(first, Some(format!("{m:?}")), "first {cut} bytes");
                }
                (s, m) => panic!(
                    "cut at {cut}: stream {:?} vs mapped {:?}",
                    s.is_ok(),
                    m.is_ok()
                ),
            }
        }
    }
    // Frames of a classic file lie in the block.
    std::fs::write(&path, &{
        let mut w = crate::pcap::PcapWriter::new(Vec::new()).expect("writer");
        w.write(1, &[7u8; 64]).expect("write");
        w.finish().expect("finish")
    })
    .expect("write");
    let mut r = PcapReader::open(&path, 0).expect("open");
    let f = r.next_frame().expect("read").expect("a frame");
    assert_eq!(f.data, &[7u8; 64]);
    assert!(r.block_frame.is_some(), "not copied");
    std::fs::remove_dir_all(&dir).expect("clean");
}

/// Records that cross the reader's 4 MiB blocks (large and odd-sized frames) come out whole, in
/// order, as from a stream; a cut inside the last record is counted.
#[test]
fn records_across_block_boundaries() {
    let mut w = crate::pcap::PcapWriter::new(Vec::new()).expect("writer");
    for i in 0..4_000u64 {
        let len = 60 + (i as usize * 37) % 9_000;
        w.write(1_000 + i, &vec![(i % 251) as u8; len])
            .expect("write");
    }
    let file = w.finish().expect("finish");
    assert!(file.len() > 2 * BLOCK, "{} bytes", file.len());
    let dir = test_dir("blocks2");
    let path = dir.join("big.pcap");
    for cut in [file.len(), file.len() - 5] {
        std::fs::write(&path, &file[..cut]).expect("write");
        let mut s = PcapReader::from_reader(Box::new(Cursor::new(file[..cut].to_vec())), 0)
            .expect("stream");
        let mut b = PcapReader::open(&path, 0).expect("blocks");
        let (want, got) = (frames_of(&mut s), frames_of(&mut b));
        assert_eq!(got.0.len(), if cut == file.len() { 4_000 } else { 3_999 });
        assert_eq!(got, want, "cut at {cut}");
        let mut bursts = PcapReader::open(&path, 0).expect("blocks");
        assert_eq!(frames_by_bursts(&mut bursts), want, "bursts, cut at {cut}");
    }
    std::fs::remove_dir_all(&dir).expect("clean");
}

/// A gzip-compressed capture (one member or several, as `cat a.gz b.gz` makes) reads as the
/// capture itself; a cut gzip stream ends the file with the frames before the cut.
#[test]
fn gzip_files_read_as_the_capture() {
    use std::io::Write;
    let mut w = crate::pcap::PcapWriter::new(Vec::new()).expect("writer");
    for i in 0..300u64 {
        w.write(1_000 + i, &vec![i as u8; 100 + i as usize])
            .expect("write");
    }
    let file = w.finish().expect("finish");
    let gz = |b: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).expect("gz");
        e.finish().expect("gz")
    };
    let (head, tail) = file.split_at(5_000);
    let mut two_members = gz(head);
    two_members.extend(gz(tail));
    let dir = std::env::temp_dir().join(format!("tapflow-gz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("f.pcap.gz");
    let mut plain = PcapReader::from_reader(Box::new(Cursor::new(file.clone())), 0).expect("plain");
    let want = frames_of(&mut plain);
    for bytes in [gz(&file), two_members] {
        std::fs::write(&path, &bytes).expect("write");
        let mut r = PcapReader::open(&path, 0).expect("open");
        assert_eq!(frames_of(&mut r), want);
    }
    let cut = gz(&file);
    std::fs::write(&path, &cut[..cut.len() / 2]).expect("write");
    let mut r = PcapReader::open(&path, 0).expect("open");
    let (frames, _, _) = frames_of(&mut r);
    assert!(!frames.is_empty() && frames.len() < 300, "{}", frames.len());
    assert_eq!(frames[..], want.0[..frames.len()]);
    std::fs::remove_dir_all(&dir).expect("clean");
}

/// A malformed record after good ones: read a burst at a time, the frames before it come out
/// first and the error after them, as frame by frame.
#[test]
fn bursts_stop_before_a_malformed_record() {
    let mut w = crate::pcap::PcapWriter::new(Vec::new()).expect("writer");
    for i in 0..3u64 {
        w.write(1_000 + i, &[i as u8; 64]).expect("write");
    }
    let mut file = w.finish().expect("finish");
    // A record claiming 2 MiB captured.
    for word in [5u32, 0, 2 << 20, 2 << 20] {
        file.extend_from_slice(&word.to_le_bytes());
    }
    file.extend_from_slice(&[0u8; 64]);
    let dir = test_dir("blocks3");
    let path = dir.join("bad.pcap");
    std::fs::write(&path, &file).expect("write");
    let want = frames_of(&mut PcapReader::open(&path, 0).expect("open"));
    assert_eq!(want.0.len(), 3);
    assert!(
        want.2.as_deref().is_some_and(|e| e.contains("1 MiB")),
        "{want:?}"
    );
    let got = frames_by_bursts(&mut PcapReader::open(&path, 0).expect("open"));
    assert_eq!(got, want);
    std::fs::remove_dir_all(&dir).expect("clean");
}

/// pcapng read a burst at a time (packet blocks handed out of the reader's block): sections in
/// both byte orders, frames of every size across 4 MiB blocks, a cut inside the last block and
/// a block of an unknown type between packets give what frame-by-frame reading gives.
#[test]
fn pcapng_bursts_read_like_frames() {
    let sizes: Vec<Vec<u8>> = (0..2_500u32)
        .map(|i| vec![(i % 251) as u8; 60 + (i as usize * 53) % 7_000])
        .collect();
    let refs: Vec<&[u8]> = sizes.iter().map(Vec::as_slice).collect();
    let mut file = section(false, &refs[..1_200]);
    // An unknown block type (a name resolution block, 16 bytes) between two sections' packets.
    for w in [4u32, 16, 0, 16] {
        file.extend_from_slice(&w.to_le_bytes());
    }
    file.extend(section(true, &refs[1_200..]));
    assert!(file.len() > 2 * BLOCK, "{} bytes", file.len());
    let dir = test_dir("blocks4");
    let path = dir.join("f.pcapng");
    for cut in [file.len(), file.len() - 7] {
        std::fs::write(&path, &file[..cut]).expect("write");
        let mut one = PcapReader::open(&path, 0).expect("open");
        let want = frames_of(&mut one);
        assert_eq!(want.0.len(), if cut == file.len() { 2_500 } else { 2_499 });
        let mut bursts = PcapReader::open(&path, 0).expect("open");
        assert_eq!(frames_by_bursts(&mut bursts), want, "cut at {cut}");
        assert_eq!(bursts.bytes_read(), one.bytes_read(), "cut at {cut}");
    }
    std::fs::remove_dir_all(&dir).expect("clean");
}
