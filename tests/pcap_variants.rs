//! Every classic pcap variant libpcap reads, read by tapflow's reader exactly as libpcap reads it
//! (tcpdump 4.99 / libpcap 1.10 as the reference): microsecond and nanosecond timestamps, little-
//! and big-endian files, and the "modified" format (magic 0xa1b2cd34, 24-byte record headers)
//! that some real captures use (`../shared/pcaps/l7/nats_df_nrpc1.pcap`). Frame count, each
//! timestamp to the nanosecond, captured and original lengths must agree. Skipped without
//! tcpdump (scripts/test.sh installs it).

use std::path::Path;
use std::process::Command;

use tapflow_dataplane::pcap::PcapReader;

mod live_support;
mod pcap_truth;
use live_support::have;
use pcap_truth::pcaps;

/// A pcap file: `magic` in the given byte order, one Ethernet/IPv4/UDP frame per timestamp;
/// the second frame is cut to 50 bytes of its 90 (snap length).
fn file(magic: u32, big_endian: bool) -> Vec<u8> {
    let w32 = |v: &mut Vec<u8>, x: u32| {
        v.extend(if big_endian {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        })
    };
    let w16 = |v: &mut Vec<u8>, x: u16| {
        v.extend(if big_endian {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        })
    };
    let nano = magic == 0xa1b2_3c4d;
    let modified = magic == 0xa1b2_cd34;
    let mut v = Vec::new();
    w32(&mut v, magic);
    w16(&mut v, 2);
    w16(&mut v, 4);
    w32(&mut v, 0);
    w32(&mut v, 0);
    w32(&mut v, 65_535);
    w32(&mut v, 1);
    for (i, (sec, frac, orig, cap)) in [
        (1_700_000_000u32, 123_456u32, 90u32, 90u32),
        (1_700_000_001, 999_999, 90, 50),
        (1_700_000_002, 1, 90, 90),
    ]
    .into_iter()
    .enumerate()
    {
        w32(&mut v, sec);
        w32(&mut v, if nano { frac * 1000 + 7 } else { frac });
        w32(&mut v, cap);
        w32(&mut v, orig);
        if modified {
            // ifindex, protocol, packet type, padding.
            v.extend([0, 0, 0, 2, 8, 0, 0, 0]);
        }
        let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        frame.extend([
            0x45, 0, 0, 76, 0, i as u8, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        frame.extend([0x30, 0x39, 0x00, 0x35, 0, 56, 0, 0]);
        frame.resize(orig as usize, b'x');
        v.extend(&frame[..cap as usize]);
    }
    v
}

/// (timestamp ns, captured length, original length) of every frame, as tapflow reads them.
fn tapflow_view(path: &Path) -> Vec<(u64, usize, u32)> {
    let mut r = PcapReader::open(path, 0).expect("open");
    let mut out = Vec::new();
    while let Some(f) = r.next_frame().expect("read") {
        out.push((f.meta.ts_ns, f.data.len(), f.meta.wire_len));
    }
    out
}

/// The same as libpcap reads them (tcpdump with nanosecond timestamps and link-level headers).
fn libpcap_view(path: &Path) -> Vec<(u64, usize, u32)> {
    let out = Command::new("tcpdump")
        .args(["-r"])
        .arg(path)
        .args(["-tt", "-nn", "-e", "--time-stamp-precision=nano"])
        .output()
        .expect("tcpdump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let ts = l.split(' ').next().expect("ts");
            let (s, ns) = ts.split_once('.').expect("s.ns");
            let ts = s.parse::<u64>().expect("s") * 1_000_000_000 + ns.parse::<u64>().expect("ns");
            // -e: "..., length N: ..." is the original length; tcpdump shows the captured part.
            let orig: u32 = l
                .split("length ")
                .nth(1)
                .and_then(|x| x.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .expect("length");
            (ts, 0, orig)
        })
        .collect()
}

#[test]
fn every_pcap_variant_reads_as_libpcap_reads_it() {
    if !have("tcpdump") {
        eprintln!("skipped: needs tcpdump (scripts/test.sh installs it)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tapflow-pcapvar-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for (magic, name) in [
        (0xa1b2_c3d4u32, "microsecond"),
        (0xa1b2_3c4d, "nanosecond"),
        (0xa1b2_cd34, "modified"),
    ] {
        for big_endian in [false, true] {
            let path = dir.join(format!(
                "{name}-{}.pcap",
                if big_endian { "be" } else { "le" }
            ));
            std::fs::write(&path, file(magic, big_endian)).expect("write");
            let ours = tapflow_view(&path);
            let theirs = libpcap_view(&path);
            assert_eq!(ours.len(), 3, "{name} be={big_endian}");
            let strip =
                |v: &[(u64, usize, u32)]| v.iter().map(|(t, _, o)| (*t, *o)).collect::<Vec<_>>();
            assert_eq!(strip(&ours), strip(&theirs), "{name} be={big_endian}");
            assert_eq!(ours.iter().map(|f| f.1).collect::<Vec<_>>(), [90, 50, 90]);
        }
    }
    // The real capture in the modified format.
    if let Some(p) = pcaps() {
        let real = p.join("l7/nats_df_nrpc1.pcap");
        let ours = tapflow_view(&real);
        let theirs = libpcap_view(&real);
        assert!(ours.len() > 10);
        let strip =
            |v: &[(u64, usize, u32)]| v.iter().map(|(t, _, o)| (*t, *o)).collect::<Vec<_>>();
        assert_eq!(strip(&ours), strip(&theirs));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
