use std::net::Ipv4Addr;

use super::*;
use tapflow_analyzer::record::l7::SyscallFields;

const SEC: u64 = 1_000_000_000;

fn peers(client: (u8, u16), server: (u8, u16)) -> FlowPeers {
    FlowPeers {
        ip_0: IpAddr::V4(Ipv4Addr::new(10, 0, 0, client.0)),
        ip_1: IpAddr::V4(Ipv4Addr::new(10, 0, 0, server.0)),
        client_port: client.1,
        server_port: server.1,
        protocol: 6,
        ..FlowPeers::default()
    }
}

fn traced(p: FlowPeers, client: u32, server: u32) -> L7FlowLog {
    L7FlowLog {
        signal_source: SIGNAL_SOURCE_EBPF,
        peers: p,
        syscall: SyscallFields {
            process_id_0: client,
            process_kname_0: InlineBytes::from_slice(b"curl"),
            process_id_1: server,
            process_kname_1: InlineBytes::from_slice(b"nginx"),
            ..SyscallFields::default()
        },
        ..L7FlowLog::default()
    }
}

/// A real l4 row (one SYN through the analyzer) with the ends of `p`.
fn l4(p: FlowPeers) -> L4FlowLog {
    let mut r = crate::sink::syn_row(40000);
    r.peers = p;
    r
}

#[test]
fn packet_rows_of_a_traced_connection_get_its_processes() {
    let mut out = RecordBatch::default();
    let mut j = ProcessJoin::new(&mut out);
    let conn = peers((1, 40000), (2, 80));
    j.tick(SEC);
    j.record(RecordRef::L7FlowLog(&traced(conn, 100, 0)));
    j.record(RecordRef::L7FlowLog(&traced(conn, 0, 200)));
    // The packet rows, either orientation of the same connection.
    j.record(RecordRef::L4FlowLog(&l4(conn)));
    let l7 = L7FlowLog {
        peers: conn,
        ..L7FlowLog::default()
    };
    j.record(RecordRef::L7FlowLog(&l7));
    j.finish();
    let c = j.counters;
    drop(j);
    assert_eq!((c.tagged_l4, c.tagged_l7, c.untagged), (1, 1, 0));
    assert_eq!(out.l4[0].processes.process_id_0, 100);
    assert_eq!(out.l4[0].processes.process_id_1, 200);
    assert_eq!(out.l4[0].processes.process_kname_1.as_bytes(), b"nginx");
    let packet_l7 = out.l7.iter().find(|r| r.signal_source == 0).unwrap();
    assert_eq!(packet_l7.syscall.process_id_0, 100);
    assert_eq!(packet_l7.syscall.syscall_trace_id_request, 0);
}

#[test]
fn a_row_that_comes_first_waits_for_the_tracer_then_at_most_a_second() {
    let mut out = RecordBatch::default();
    let mut j = ProcessJoin::new(&mut out);
    let known = peers((1, 40000), (2, 80));
    j.record(RecordRef::L7FlowLog(&traced(known, 100, 200)));
    // A new connection of the same local address: its packet row waits ...
    let fresh = peers((1, 40001), (2, 80));
    j.tick(SEC);
    j.record(RecordRef::L4FlowLog(&l4(fresh)));
    // ... another host's traffic does not.
    j.record(RecordRef::L4FlowLog(&l4(peers((7, 5000), (8, 443)))));
    assert_eq!(j.held.len(), 1);
    j.record(RecordRef::L7FlowLog(&traced(fresh, 101, 200)));
    assert!(j.held.is_empty(), "released when the tracer named it");
    // One that is never named goes on after a second.
    let never = peers((1, 40002), (2, 80));
    j.record(RecordRef::L4FlowLog(&l4(never)));
    j.tick(SEC + SEC / 2);
    assert_eq!(j.held.len(), 1);
    j.tick(2 * SEC + 1);
    assert!(j.held.is_empty());
    let c = j.counters;
    drop(j);
    assert_eq!((c.tagged_l4, c.untagged), (1, 1));
    assert_eq!(out.l4.len(), 3);
    let other = out.l4.iter().find(|r| r.peers.server_port == 443).unwrap();
    assert!(other.processes.is_empty());
}

#[test]
fn waiting_rows_are_bounded() {
    let mut out = RecordBatch::default();
    let mut j = ProcessJoin::new(&mut out);
    j.record(RecordRef::L7FlowLog(&traced(
        peers((1, 1), (2, 80)),
        100,
        200,
    )));
    for port in 0..(HOLD_MAX as u16 + 10) {
        j.record(RecordRef::L4FlowLog(&l4(peers(
            (1, 10_000 + port),
            (2, 80),
        ))));
    }
    assert_eq!(j.held.len(), HOLD_MAX);
    assert_eq!(j.counters.hold_full, 10);
    j.finish();
    drop(j);
    assert_eq!(out.l4.len(), HOLD_MAX + 10);
}

#[test]
fn with_the_hosts_addresses_the_first_row_waits_for_the_tracer() {
    let mut out = RecordBatch::default();
    let local = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))];
    let mut j = ProcessJoin::with_local_ips(&mut out, &local);
    let conn = peers((1, 40000), (2, 80));
    j.record(RecordRef::L4FlowLog(&l4(conn)));
    assert_eq!(
        j.held.len(),
        1,
        "a local address: waits before any tracer row"
    );
    j.record(RecordRef::L7FlowLog(&traced(conn, 100, 200)));
    assert!(j.held.is_empty());
    drop(j);
    assert_eq!(out.l4[0].processes.process_id_1, 200);
}
