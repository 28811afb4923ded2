//! Rows of the syscall tracer through the two network outputs: DeepFlow's `AppProtoLogsData`
//! (the process and syscall fields 25-34 of `AppProtoLogsBaseInfo`, signal_source derived from
//! the eBPF tap_port as DeepFlow's ingester does) and ClickHouse's `l7_flow_log` columns.

use tapflow_analyzer::inline::InlineBytes;
use tapflow_analyzer::mirror::TapPort;
use tapflow_analyzer::record::l7::{SyscallFields, SIGNAL_SOURCE_EBPF};
use tapflow_analyzer::L7FlowLog;
use tapflow_control::ingest::{from_pb, to_pb};

fn traced_row() -> L7FlowLog {
    L7FlowLog {
        flow_id: 1 << 62 | 7,
        start_time: 1_700_000_000_000_000,
        end_time: 1_700_000_000_004_000,
        row_type: 2,
        signal_source: SIGNAL_SOURCE_EBPF,
        capture_network_type: 3,
        tap_port: TapPort::ebpf(4242).0,
        tap_side: 41,
        observation_point: "c-p",
        request_type: InlineBytes::from_slice(b"GET"),
        request_resource: InlineBytes::from_slice(b"/index.html"),
        response_code: Some(200),
        response_status: 0,
        response_duration: 4_000,
        is_tls: true,
        syscall: SyscallFields {
            process_id_0: 4242,
            process_id_1: 977,
            process_kname_0: InlineBytes::from_slice(b"curl"),
            process_kname_1: InlineBytes::from_slice(b"python3"),
            syscall_trace_id_request: 0x0100_0000_0000_0001,
            syscall_trace_id_response: 0x0100_0000_0000_0002,
            syscall_thread_0: 4243,
            syscall_thread_1: 4244,
            syscall_cap_seq_0: 1,
            syscall_cap_seq_1: 2,
        },
        ..L7FlowLog::default()
    }
}

#[test]
fn process_and_syscall_fields_cross_the_ingester_framing() {
    let row = traced_row();
    let pb = to_pb::app_proto_log(&row, 0);
    let base = pb.base.as_ref().expect("base");
    assert_eq!(base.process_id_0, 4242);
    assert_eq!(base.process_kname_1, "python3");
    assert_eq!(base.syscall_trace_id_request, 0x0100_0000_0000_0001);
    assert_eq!(base.syscall_trace_id_thread_1, 4244);
    assert_eq!(base.syscall_cap_seq_1, 2);
    assert_eq!(base.tap_side, 41);
    let back = from_pb::l7_row(&pb);
    assert_eq!(back.syscall, row.syscall);
    assert_eq!(
        back.signal_source, SIGNAL_SOURCE_EBPF,
        "derived from the eBPF tap_port"
    );
    assert_eq!(back.observation_point, "c-p");
    assert!(back.is_tls);
    let json = serde_json::to_value(&back).expect("json");
    assert_eq!(json["process_kname_0"], "curl");
    assert_eq!(json["syscall_thread_0"], 4243);
}

#[test]
fn packet_rows_have_no_process_fields() {
    let row = L7FlowLog::default();
    let json = serde_json::to_value(&row).expect("json");
    for k in [
        "process_id_0",
        "process_kname_1",
        "syscall_trace_id_request",
    ] {
        assert!(json.get(k).is_none(), "{k} on a packet row");
    }
    let back = from_pb::l7_row(&to_pb::app_proto_log(&row, 0));
    assert_eq!(back.signal_source, 0);
}
