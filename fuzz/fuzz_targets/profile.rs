//! Profiles as the integration collector and `tapflow server` take them: any bytes as a Pyroscope
//! push request and as an ingest query, and as a profile's data in each format the server reads
//! (pprof bare, gzipped or in a multipart form, collapsed text, lines, eBPF lines, zstd) into
//! stacks, their JSON rows and their `profile.in_process` RowBinary.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapflow_control::ingest::forwarded_rows::Budget;
use tapflow_control::integration::profile::{from_ingest, from_push};
use tapflow_control::profile::decode;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let peer = "10.0.0.1".parse().expect("ip");
    drop(from_push(rest, peer, "pyroscope-rs/pyspy", 1, 1 << 20));
    let q = String::from_utf8_lossy(rest);
    let mut p = from_ingest(&q, Some(rest), rest.to_vec(), peer);
    p.format = ["pprof", "folded", "lines", "", "jfr"][usize::from(sel % 5)].into();
    p.event_type = i32::from(sel >> 5 & 1);
    p.data_compressed = sel & 0x40 != 0;
    if sel & 0x80 != 0 {
        p.content_type = b"multipart/form-data; boundary=b".to_vec();
    }
    let mut budget = Budget::default();
    if let Ok(d) = decode(1, &p, 0, &mut budget) {
        let mut rb = Vec::new();
        for r in &d.rows {
            drop(serde_json::to_vec(&r.to_json()));
            tapflow_control::clickhouse::profile_in_process::encode(r, 1, &mut rb);
        }
    }
});
