//! Properties every flow log row must have, whatever the input (shared by the golden and
//! conformance tests).

use tapflow_analyzer::L4FlowLog;

/// What every row must satisfy, whatever the input.
pub(crate) fn assert_record_invariants(r: &L4FlowLog) {
    assert!(r.start_time <= r.end_time, "start after end: {r:?}");
    for (first, last, n) in [
        (r.first_time_tx, r.last_time_tx, r.total_packet_tx),
        (r.first_time_rx, r.last_time_rx, r.total_packet_rx),
    ] {
        // A first time of 0 with packets: a capture whose clock starts at 0 (the row then
        // starts at 0 too).
        assert!(
            (first == 0) == (n == 0) || (n > 0 && r.start_time == 0),
            "first time iff packets: {r:?}"
        );
        assert!(
            first <= last && last <= r.end_time,
            "direction times: {r:?}"
        );
    }
    assert!(
        r.duration >= r.end_time - r.start_time,
        "duration shorter than the row: {r:?}"
    );
    assert!(
        r.packet_tx <= r.total_packet_tx && r.packet_rx <= r.total_packet_rx,
        "{r:?}"
    );
    assert!(
        r.byte_tx <= r.total_byte_tx && r.byte_rx <= r.total_byte_rx,
        "{r:?}"
    );
    assert!(
        r.l4_byte_tx <= r.l3_byte_tx && r.l3_byte_tx <= r.byte_tx,
        "{r:?}"
    );
    assert!(
        r.retrans_syn <= r.syn_count && r.retrans_synack <= r.synack_count,
        "{r:?}"
    );
    assert!(
        r.rtt_client_max as u64 <= r.rtt_client_sum && r.srt_max as u64 <= r.srt_sum,
        "{r:?}"
    );
    assert!(
        r.art_max as u64 <= r.art_sum && r.cit_max as u64 <= r.cit_sum,
        "{r:?}"
    );
}
