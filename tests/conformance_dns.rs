//! The DNS decoder against tshark on the real DNS captures of `../shared/pcaps` (UDP, TCP,
//! NXDOMAIN, 802.1Q-tagged; skipped when the folder is absent): for every request and response
//! tshark lists, the message of that frame decodes with the same id, name, type, rcode and answer
//! count.

use std::collections::{BTreeMap, BTreeSet};

use tapflow_analyzer::l7::dns::{self, Framing, Message};
use tapflow_analyzer::wire::Transport;

mod pcap_truth;
use pcap_truth::{capture_path, for_each_packet, pcaps, tsv};

/// Frame number (1-based, as tshark counts) -> the DNS message in it.
fn dns_messages(path: &std::path::Path) -> BTreeMap<u64, Message> {
    let mut out = BTreeMap::new();
    for_each_packet(path, |frame_no, p| {
        let msg = match p.transport {
            Transport::Udp(u) if u.src_port == 53 || u.dst_port == 53 => p.payload,
            Transport::Tcp(t) if t.src_port == 53 || t.dst_port == 53 => {
                match dns::tcp_frame(p.payload) {
                    Framing::Complete { len } => &p.payload[2..2 + len],
                    Framing::NeedMore { .. } => return,
                }
            }
            _ => return,
        };
        if let Ok(m) = dns::parse_message(msg) {
            out.insert(frame_no, m);
        }
    });
    out
}

#[test]
fn dns_messages_match_tshark() {
    let Some(dir) = pcaps() else {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    };
    let rows = tsv(&dir.join("truth/l7_dns.tsv"));
    assert!(!rows.is_empty());
    let files: BTreeSet<&str> = rows.iter().map(|r| r["file_id"].as_str()).collect();
    let mut checked = (0usize, 0usize);
    for file in files {
        let path = capture_path(&dir, file).expect("capture of a truth row");
        let msgs = dns_messages(&path);
        for row in rows.iter().filter(|r| r["file_id"] == file) {
            let frame: u64 = row["req_frame"].parse().expect("req_frame");
            let q = msgs
                .get(&frame)
                .unwrap_or_else(|| panic!("{file} frame {frame}: no DNS query decoded"));
            let id = u16::from_str_radix(row["id"].trim_start_matches("0x"), 16).expect("id");
            assert_eq!(q.header.id, id, "{file} frame {frame}");
            assert!(!q.header.is_response, "{file} frame {frame}");
            assert_eq!(
                String::from_utf8_lossy(q.question.name.as_bytes()),
                row["qname"].as_str(),
                "{file} frame {frame}"
            );
            assert_eq!(
                q.question.qtype.to_string(),
                row["qtype"],
                "{file} frame {frame}"
            );
            checked.0 += 1;
            let Ok(resp_frame) = row["resp_frame"].parse::<u64>() else {
                continue;
            };
            let r = msgs
                .get(&resp_frame)
                .unwrap_or_else(|| panic!("{file} frame {resp_frame}: no DNS response decoded"));
            assert!(r.header.is_response, "{file} frame {resp_frame}");
            assert_eq!(r.header.id, id, "{file} frame {resp_frame}");
            assert_eq!(
                r.header.rcode.to_string(),
                row["rcode"],
                "{file} frame {resp_frame}"
            );
            assert_eq!(
                r.header.ancount.to_string(),
                row["answers"],
                "{file} frame {resp_frame}"
            );
            assert!(r.answers.complete, "{file} frame {resp_frame}");
            assert_eq!(
                usize::from(r.answers.parsed),
                usize::from(r.header.ancount).min(dns::wire::MAX_ANSWERS_PARSED)
            );
            checked.1 += 1;
        }
    }
    eprintln!("checked {} queries and {} responses", checked.0, checked.1);
    assert!(checked.0 >= 40 && checked.1 >= 40, "{checked:?}");
}
