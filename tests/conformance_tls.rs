//! The TLS hello decoder against tshark on the real TLS captures of `../shared/pcaps` (TLS 1.2
//! and 1.3; skipped when the folder is absent): every ClientHello tshark lists decodes with its
//! SNI, and every ServerHello with its version.

use std::collections::{BTreeMap, BTreeSet};

use tapflow_analyzer::l7::tls::{self, Hello, HelloKind};
use tapflow_analyzer::wire::Transport;

mod pcap_truth;
use pcap_truth::{capture_path, for_each_packet, pcaps, tsv};

#[test]
fn tls_hellos_match_tshark() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    let rows = tsv(&dir.join("truth/l7_tls.tsv"));
    assert!(!rows.is_empty());
    let files: BTreeSet<&str> = rows.iter().map(|r| r["file_id"].as_str()).collect();
    let mut checked = 0;
    for file in files {
        let path = capture_path(&dir, file).expect("capture of a truth row");
        let mut hellos: BTreeMap<u64, Hello> = BTreeMap::new();
        for_each_packet(&path, |frame_no, p| {
            if matches!(p.transport, Transport::Tcp(_)) {
                if let Ok(h) = tls::parse_hello(p.payload) {
                    hellos.insert(frame_no, h);
                }
            }
        });
        for row in rows.iter().filter(|r| r["file_id"] == file) {
            let c: u64 = row["client_hello_frame"].parse().expect("frame");
            let ch = hellos
                .get(&c)
                .unwrap_or_else(|| panic!("{file} frame {c}: no ClientHello"));
            assert_eq!(ch.kind, HelloKind::Client);
            let sni = ch
                .sni
                .map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned())
                .unwrap_or_default();
            assert_eq!(sni, row["sni"], "{file} frame {c}");
            let s: u64 = row["server_hello_frame"].parse().expect("frame");
            let sh = hellos
                .get(&s)
                .unwrap_or_else(|| panic!("{file} frame {s}: no ServerHello"));
            assert_eq!(sh.kind, HelloKind::Server);
            assert_eq!(
                format!("{:#06x}", sh.legacy_version),
                row["server_version"],
                "{file} frame {s}"
            );
            assert!(sh.cipher_suite.is_some());
            // The captures are named after the version they negotiate (TLS 1.3 says so in
            // supported_versions, behind a legacy 0x0303).
            let want = if file.ends_with("_13") {
                0x0304
            } else {
                0x0303
            };
            assert_eq!(sh.version(), want, "{file} frame {s}");
            checked += 1;
        }
    }
    assert_eq!(checked, rows.len());
}
