//! The shared captures of `../shared/pcaps` and their tshark truth files (TSV), for the
//! conformance tests. Every test skips when the folder is absent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `../shared/pcaps`, when present.
pub(crate) fn pcaps() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps");
    p.is_dir().then_some(p)
}

/// Rows of a truth TSV file as header -> value maps.
#[allow(dead_code)] // not every test crate that includes this module uses it
pub(crate) fn tsv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).expect("truth file");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(l.split('\t').map(str::to_string))
                .collect()
        })
        .collect()
}

/// The capture named `id` (any extension) in `encap/`, `l7/` or `tcp/`.
#[allow(dead_code)]
pub(crate) fn capture_path(dir: &Path, id: &str) -> Option<PathBuf> {
    ["encap", "l7", "tcp"].iter().find_map(|sub| {
        std::fs::read_dir(dir.join(sub))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{id}.")) && !n.ends_with(".result"))
            })
    })
}

/// Calls `f` with the 1-based frame number (as tshark counts) and the decoded packet of every
/// frame of the capture that decodes.
#[allow(dead_code)] // not every test crate that includes this module uses it
pub(crate) fn for_each_packet(
    path: &Path,
    mut f: impl FnMut(u64, &tapflow_analyzer::wire::Packet<'_>),
) {
    let mut reader = tapflow_dataplane::pcap::PcapReader::open(path, 0).expect("open capture");
    let cfg = tapflow_analyzer::wire::DecodeConfig::default();
    let mut frame_no = 0u64;
    while let Some(frame) = reader.next_frame().expect("read capture") {
        frame_no += 1;
        if let Ok(p) = tapflow_analyzer::wire::decode_link(frame.data, frame.meta.link, &cfg) {
            f(frame_no, &p);
        }
    }
}

/// Every record of the whole analyzer over the capture at `path`, with `cfg`.
#[allow(dead_code)] // not every test crate that includes this module uses it
pub(crate) fn analyze_capture(
    path: &Path,
    cfg: tapflow_analyzer::AnalyzerConfig,
) -> tapflow_analyzer::Collected {
    let mut an = tapflow_analyzer::Analyzer::new(cfg);
    let mut out = tapflow_analyzer::Collected::default();
    let mut r = tapflow_dataplane::pcap::PcapReader::open(path, 0).expect("open capture");
    while let Some(f) = r.next_frame().expect("read capture") {
        an.on_packet(&f.meta, f.data, &mut out);
    }
    an.finish(&mut out);
    // The files' own writers give serde's JSON for every row of real captures too.
    for r in &out.l4 {
        let mut fast = tapflow_analyzer::TextBuf::new();
        tapflow_control::sink::l4_json::write_l4(r, &mut fast);
        same_json(fast.as_bytes(), serde_json::to_value(r).expect("serde"));
    }
    for r in &out.l7 {
        let mut fast = tapflow_analyzer::TextBuf::new();
        tapflow_control::sink::l7_json::write_l7(r, &mut fast);
        same_json(fast.as_bytes(), serde_json::to_value(r).expect("serde"));
    }
    out
}

#[allow(dead_code)]
fn same_json(fast: &[u8], serde: serde_json::Value) {
    let a: serde_json::Value = serde_json::from_slice(fast).expect("the writer's JSON parses");
    assert_eq!(a, serde, "{}", String::from_utf8_lossy(fast));
}

/// An inline string field of a row, as text.
#[allow(dead_code)]
pub(crate) fn text<const N: usize>(b: &tapflow_analyzer::inline::InlineBytes<N>) -> String {
    String::from_utf8_lossy(b.as_bytes()).into_owned()
}
