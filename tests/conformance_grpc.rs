//! gRPC rows against DeepFlow's results for the shared captures (skipped when `../shared/pcaps`
//! is absent): `grpc_df_segmented` (HTTP/2 frames split across segments, no response in the
//! capture) and `grpc_df_server_stream` (server streaming: the gRPC status comes in the
//! trailers after several DATA frames), whole and joined after their first HEADERS frame (the
//! capture starting mid-connection: the request's HEADERS are not seen).

use tapflow_analyzer::record::l7::{TYPE_REQUEST, TYPE_RESPONSE, TYPE_SESSION};
use tapflow_analyzer::record::L7FlowLog;
use tapflow_analyzer::{Analyzer, AnalyzerConfig, Collected};

mod pcap_truth;
use pcap_truth::{pcaps, text};

/// Rows of the capture from its `from`th frame on (1-based).
fn rows(name: &str, from: u64) -> Vec<L7FlowLog> {
    let dir = pcaps().expect("pcaps");
    let mut an = Analyzer::new(AnalyzerConfig::default());
    let mut out = Collected::default();
    let mut r = tapflow_dataplane::pcap::PcapReader::open(&dir.join(format!("l7/{name}.pcap")), 0)
        .expect("open");
    let mut n = 0;
    while let Some(f) = r.next_frame().expect("read") {
        n += 1;
        if n >= from {
            an.on_packet(&f.meta, f.data, &mut out);
        }
    }
    an.finish(&mut out);
    out.l7
}

fn result(name: &str) -> String {
    std::fs::read_to_string(
        pcaps()
            .expect("pcaps")
            .join(format!("l7/{name}.deepflow.result")),
    )
    .expect("result")
}

#[test]
fn grpc_captures_agree_with_deepflow_whole_and_joined_mid_stream() {
    if pcaps().is_none() {
        eprintln!("../shared/pcaps absent: skipped");
        return;
    }
    // Segmented: DeepFlow logs the request only (the capture holds no response).
    let r = rows("grpc_df_segmented", 1);
    assert_eq!(r.len(), 1);
    let res = result("grpc_df_segmented");
    assert_eq!(r[0].row_type, TYPE_REQUEST);
    assert_eq!(r[0].l7_protocol_str, "gRPC");
    assert!(res.contains(&format!("path: \"{}\"", text(&r[0].endpoint))));
    assert!(res.contains(&format!("host: \"{}\"", text(&r[0].request_domain))));
    assert_eq!(res.matches("msg_type: Request").count(), 1);
    assert_eq!(res.matches("msg_type: Response").count(), 0);

    // Server streaming: one session whose code is the trailers' grpc-status (DeepFlow: 0).
    let res = result("grpc_df_server_stream");
    assert!(res.contains("grpc_status_code: Some(0)"));
    let r = rows("grpc_df_server_stream", 1);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].row_type, r[0].response_code, r[0].response_status),
        (TYPE_SESSION, Some(0), 0)
    );
    assert!(res.contains(&format!("path: \"{}\"", text(&r[0].endpoint))));
    assert!(!r[0].headers_partial);

    // Joined after the request's HEADERS: the response alone, still gRPC with its status.
    let r = rows("grpc_df_server_stream", 2);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].row_type, r[0].l7_protocol_str),
        (TYPE_RESPONSE, "gRPC")
    );
    assert_eq!((r[0].response_code, r[0].response_status), (Some(0), 0));
    assert_eq!(r[0].request_id, Some(1));
}
