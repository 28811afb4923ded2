//! TCP/UDP conversation simulations with exact expected records.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::config::{PortSet, TableFullPolicy};
use crate::wire::build::{self, TcpSpec};
use crate::wire::TcpFlags;

const MS: u64 = 1_000_000;
const T0: u64 = 1_700_000_000 * NS_PER_SEC;
const C: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const S: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

/// A client/server pair exchanging segments at chosen times.
struct Conv {
    an: Analyzer,
    out: Vec<L4FlowLog>,
    cseq: u32,
    sseq: u32,
    cport: u16,
    sport: u16,
}

/// The metadata of `frame` captured whole at `ts_ns`.
fn meta_at(ts_ns: u64, frame: &[u8]) -> PacketMeta {
    PacketMeta {
        ts_ns,
        wire_len: frame.len() as u32,
        cap_len: frame.len() as u32,
        ..Default::default()
    }
}

fn cip() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))
}
fn sip() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))
}

impl Conv {
    fn new() -> Self {
        Conv {
            an: Analyzer::new(AnalyzerConfig::default()),
            out: Vec::new(),
            cseq: 1000,
            sseq: 5000,
            cport: 40000,
            sport: 80,
        }
    }

    fn with(cfg: AnalyzerConfig) -> Self {
        Conv {
            an: Analyzer::new(cfg),
            ..Conv::new()
        }
    }

    /// Sends a segment; `from_client` picks the direction. Advances the sender's seq by the
    /// payload (and SYN/FIN), acks the peer's current seq.
    fn seg(&mut self, at_ms: u64, from_client: bool, flags: u8, payload: usize) {
        self.seg_window(at_ms, from_client, flags, payload, 65535);
    }

    fn seg_window(
        &mut self,
        at_ms: u64,
        from_client: bool,
        flags: u8,
        payload: usize,
        window: u16,
    ) {
        let (src, dst, sp, dp, seq, ack) = if from_client {
            (cip(), sip(), self.cport, self.sport, self.cseq, self.sseq)
        } else {
            (sip(), cip(), self.sport, self.cport, self.sseq, self.cseq)
        };
        let ack = if flags & TcpFlags::ACK != 0 { ack } else { 0 };
        let spec = TcpSpec {
            src_port: sp,
            dst_port: dp,
            seq,
            ack,
            flags,
            window,
            ..TcpSpec::default()
        };
        let data = vec![b'x'; payload];
        self.raw(at_ms, src, dst, &spec, &data, from_client);
        let adv = payload as u32 + u32::from(flags & (TcpFlags::SYN | TcpFlags::FIN) != 0);
        if from_client {
            self.cseq = self.cseq.wrapping_add(adv);
        } else {
            self.sseq = self.sseq.wrapping_add(adv);
        }
    }

    fn raw(
        &mut self,
        at_ms: u64,
        src: IpAddr,
        dst: IpAddr,
        spec: &TcpSpec,
        data: &[u8],
        from_client: bool,
    ) {
        let seg = build::tcp(src, dst, spec, data);
        let ip = build::ip(src, dst, 6, 1, 64, &seg);
        let (a, b) = if from_client { (S, C) } else { (C, S) };
        let frame = build::ethernet_ip(a, b, &[], &ip);
        let meta = PacketMeta {
            ts_ns: T0 + at_ms * MS,
            wire_len: frame.len() as u32,
            cap_len: frame.len() as u32,
            ..Default::default()
        };
        self.an.on_packet(&meta, &frame, &mut self.out);
    }

    fn handshake(&mut self, t: u64) {
        self.seg(t, true, TcpFlags::SYN, 0);
        self.seg(t + 10, false, TcpFlags::SYN | TcpFlags::ACK, 0);
        self.seg(t + 13, true, TcpFlags::ACK, 0);
    }

    fn finish(mut self) -> Vec<L4FlowLog> {
        self.an.finish(&mut self.out);
        self.out
    }
}

#[test]
fn full_conversation_metrics() {
    let mut c = Conv::new();
    c.handshake(0); // rtt_server 10 ms, rtt_client 3 ms, rtt 13 ms
    c.seg(20, true, TcpFlags::PSH | TcpFlags::ACK, 100); // request (cit: 7 ms since handshake ACK)
    c.seg(22, false, TcpFlags::ACK, 0); // srt 2 ms
    c.seg(50, false, TcpFlags::PSH | TcpFlags::ACK, 500); // art 30 ms
    c.seg(51, true, TcpFlags::ACK, 0); // srt sample for the client acking: not reported
    c.seg(60, true, TcpFlags::FIN | TcpFlags::ACK, 0);
    c.seg(61, false, TcpFlags::FIN | TcpFlags::ACK, 0);
    c.seg(62, true, TcpFlags::ACK, 0);
    let recs = c.finish();
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.close_type, CloseType::Finish as u8);
    assert_eq!((r.peers.client_port, r.peers.server_port), (40000, 80));
    assert_eq!(r.peers.ip_0, cip());
    assert_eq!((r.packet_tx, r.packet_rx), (6, 4));
    assert_eq!((r.l4_byte_tx, r.l4_byte_rx), (100, 500));
    assert_eq!(r.byte_tx, 6 * 54 + 100);
    assert_eq!(r.l3_byte_tx, 6 * 20 + 100);
    assert_eq!(
        (r.rtt_server_max, r.rtt_client_max, r.rtt),
        (10_000, 3_000, 13_000)
    );
    assert_eq!((r.srt_count, r.srt_sum), (1, 2_000));
    assert_eq!((r.art_count, r.art_sum), (1, 30_000));
    assert_eq!((r.cit_count, r.cit_sum), (1, 7_000));
    assert_eq!((r.syn_count, r.synack_count, r.fin_count), (1, 1, 2));
    assert_eq!(
        (r.retrans_tx, r.retrans_rx, r.zero_win_tx, r.zero_win_rx),
        (0, 0, 0, 0)
    );
    assert_eq!(r.direction_score, 255);
    assert_eq!(r.duration, 62_000);
    assert!(r.is_new_flow);
}

#[test]
fn retransmission_and_out_of_order() {
    let mut c = Conv::new();
    c.handshake(0);
    let base = c.cseq;
    c.seg(20, true, TcpFlags::ACK, 100);
    c.cseq = base;
    c.seg(30, true, TcpFlags::ACK, 100); // retransmission
                                         // Skip 100 bytes, send the next, then fill the gap: out-of-order.
    c.cseq = base + 200;
    c.seg(40, true, TcpFlags::ACK, 100);
    c.cseq = base + 100;
    c.seg(41, true, TcpFlags::ACK, 100);
    c.seg_window(50, false, TcpFlags::ACK, 0, 0); // zero window from the server
    c.seg_window(51, false, TcpFlags::ACK, 0, 0);
    let r = &c.finish()[0];
    assert_eq!((r.retrans_tx, r.retrans_rx), (1, 0));
    assert_eq!((r.ooo_tx, r.ooo_rx), (1, 0));
    assert_eq!((r.zero_win_tx, r.zero_win_rx), (0, 2));
    assert_eq!(r.close_type, CloseType::Timeout as u8);
}

#[test]
fn syn_retries_without_answer() {
    let mut c = Conv::new();
    c.seg(0, true, TcpFlags::SYN, 0);
    c.cseq = 1000;
    c.seg(1000, true, TcpFlags::SYN, 0);
    c.cseq = 1000;
    c.seg(3000, true, TcpFlags::SYN, 0);
    let r = &c.finish()[0];
    assert_eq!(r.close_type, CloseType::ClientSynRepeat as u8);
    assert_eq!((r.syn_count, r.retrans_syn, r.retrans_tx), (3, 2, 2));
    assert_eq!(r.status, "server_error");
}

#[test]
fn handshake_close_types() {
    // SYN answered by RST.
    let mut c = Conv::new();
    c.seg(0, true, TcpFlags::SYN, 0);
    c.seg(1, false, TcpFlags::RST | TcpFlags::ACK, 0);
    assert_eq!(c.finish()[0].close_type, CloseType::ServerReset as u8);
    // SYN-ACK never acknowledged, repeated.
    let mut c = Conv::new();
    c.seg(0, true, TcpFlags::SYN, 0);
    c.seg(1, false, TcpFlags::SYN | TcpFlags::ACK, 0);
    c.sseq -= 1;
    c.seg(1001, false, TcpFlags::SYN | TcpFlags::ACK, 0);
    let r = &c.finish()[0];
    assert_eq!(r.close_type, CloseType::ServerSynAckRepeat as u8);
    assert_eq!(
        (r.retrans_synack, r.retrans_rx, r.rtt_server_count),
        (1, 1, 2)
    );
    // Health check: handshake then client RST, no data.
    let mut c = Conv::new();
    c.handshake(0);
    c.seg(20, true, TcpFlags::RST | TcpFlags::ACK, 0);
    assert_eq!(c.finish()[0].close_type, CloseType::TcpFinClientRst as u8);
    // Server RST after data.
    let mut c = Conv::new();
    c.handshake(0);
    c.seg(20, true, TcpFlags::PSH | TcpFlags::ACK, 10);
    c.seg(30, false, TcpFlags::RST | TcpFlags::ACK, 0);
    assert_eq!(c.finish()[0].close_type, CloseType::TcpServerRst as u8);
    // Client RST after data.
    let mut c = Conv::new();
    c.handshake(0);
    c.seg(20, true, TcpFlags::PSH | TcpFlags::ACK, 10);
    c.seg(30, true, TcpFlags::RST | TcpFlags::ACK, 0);
    assert_eq!(c.finish()[0].close_type, CloseType::TcpClientRst as u8);
    // Client half close.
    let mut c = Conv::new();
    c.handshake(0);
    c.seg(20, true, TcpFlags::FIN | TcpFlags::ACK, 0);
    c.seg(21, false, TcpFlags::ACK, 0);
    assert_eq!(c.finish()[0].close_type, CloseType::ServerHalfClose as u8);
    // Server re-sends SYN-ACK after the client's ACK: queue lack.
    let mut c = Conv::new();
    c.handshake(0);
    c.sseq -= 1;
    c.seg(1000, false, TcpFlags::SYN | TcpFlags::ACK, 0);
    assert_eq!(c.finish()[0].close_type, CloseType::ServerQueueLack as u8);
    // Accept queue full: the client sends data, the server repeats its SYN-ACK, then resets.
    let mut c = Conv::new();
    c.handshake(0);
    c.seg(1, true, TcpFlags::PSH | TcpFlags::ACK, 5);
    c.sseq -= 1;
    c.seg(1200, false, TcpFlags::SYN | TcpFlags::ACK, 0);
    c.seg(13_000, false, TcpFlags::RST, 0);
    assert_eq!(c.finish()[0].close_type, CloseType::ServerQueueLack as u8);
    // SYN answered by a plain ACK, then client RST: source port reuse.
    let mut c = Conv::new();
    c.seg(0, true, TcpFlags::SYN, 0);
    c.seg(1, false, TcpFlags::ACK, 0);
    c.seg(2, true, TcpFlags::RST, 0);
    assert_eq!(
        c.finish()[0].close_type,
        CloseType::ClientSourcePortReuse as u8
    );
}

#[test]
fn timeouts_close_flows_by_packet_time() {
    let mut c = Conv::new();
    c.handshake(0);
    c.seg(20, true, TcpFlags::FIN | TcpFlags::ACK, 0);
    c.seg(21, false, TcpFlags::FIN | TcpFlags::ACK, 0);
    c.seg(22, true, TcpFlags::ACK, 0);
    // Another flow's packet 3 s later: the closed flow (2 s timeout) is reported before it.
    c.cport = 40001;
    c.seg(3_022, true, TcpFlags::SYN, 0);
    assert_eq!(c.out.len(), 1);
    assert_eq!(c.out[0].close_type, CloseType::Finish as u8);
    assert_eq!(c.an.active_flows(), 1);
}

#[test]
fn long_flow_reports_every_minute() {
    let mut c = Conv::new();
    // Start 10 s before a minute boundary.
    let start = 60_000 - (T0 / MS) % 60_000 - 10_000;
    c.handshake(start);
    c.seg(start + 20_000, true, TcpFlags::PSH | TcpFlags::ACK, 10); // next minute
    c.seg(start + 80_000, true, TcpFlags::PSH | TcpFlags::ACK, 10); // the one after
    let recs = c.finish();
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0].close_type, CloseType::ForcedReport as u8);
    assert!(recs[0].is_new_flow);
    assert_eq!(recs[0].packet_tx + recs[0].packet_rx, 3);
    assert_eq!(recs[0].end_time % 60_000_000, 0);
    assert!(!recs[1].is_new_flow);
    assert_eq!(recs[1].start_time % 60_000_000, 0);
    assert_eq!(recs[1].packet_tx, 1);
    assert_eq!(recs[2].close_type, CloseType::Timeout as u8);
    assert_eq!(recs[2].total_packet_tx, 4);
    // Totals are every earlier row's counts plus this row's, in both directions.
    let (mut p, mut b) = ([0u64; 2], [0u64; 2]);
    for r in &recs {
        p = [p[0] + r.packet_tx, p[1] + r.packet_rx];
        b = [b[0] + r.byte_tx, b[1] + r.byte_rx];
        assert_eq!([r.total_packet_tx, r.total_packet_rx], p);
        assert_eq!([r.total_byte_tx, r.total_byte_rx], b);
    }
    let ids: Vec<u64> = recs.iter().map(|r| r.flow_id).collect();
    assert!(ids.iter().all(|i| *i == ids[0]));
}

#[test]
fn port_reuse_starts_a_new_flow() {
    let mut c = Conv::new();
    c.handshake(0);
    c.seg(10, true, TcpFlags::FIN | TcpFlags::ACK, 0);
    c.seg(11, false, TcpFlags::FIN | TcpFlags::ACK, 0);
    c.seg(12, true, TcpFlags::ACK, 0);
    c.cseq = 90_000;
    c.handshake(500);
    let recs = c.finish();
    assert_eq!(recs.len(), 2);
    assert_eq!(c_counters_reused(&recs), 2);
}

fn c_counters_reused(recs: &[L4FlowLog]) -> usize {
    recs.iter().filter(|r| r.syn_count == 1).count()
}

#[test]
fn table_full_refuses_or_evicts() {
    let cfg = AnalyzerConfig {
        flow_capacity: 2,
        ..AnalyzerConfig::default()
    };
    let mut c = Conv::with(cfg.clone());
    for (i, port) in [40000u16, 40001, 40002].into_iter().enumerate() {
        c.cport = port;
        c.seg(i as u64, true, TcpFlags::SYN, 0);
    }
    assert_eq!(c.an.counters().flow_table_full, 1);
    assert_eq!(c.finish().len(), 2);
    let mut c = Conv::with(AnalyzerConfig {
        on_table_full: TableFullPolicy::EvictOldest,
        ..cfg
    });
    for (i, port) in [40000u16, 40001, 40002].into_iter().enumerate() {
        c.cport = port;
        c.seg(i as u64, true, TcpFlags::SYN, 0);
    }
    assert_eq!(c.an.counters().flows_evicted, 1);
    assert_eq!(c.out.len(), 1);
    assert_eq!(c.out[0].peers.client_port, 40000);
    assert_eq!(c.finish().len(), 3);
}

#[test]
fn server_ports_orient_midstream_flows() {
    let mut ports = PortSet::new();
    ports.insert(9000);
    let mut c = Conv::with(AnalyzerConfig {
        server_ports: ports,
        ..AnalyzerConfig::default()
    });
    c.cport = 9000; // the "client" in Conv terms sends from 9000: config says it is the server
    c.sport = 9100;
    c.seg(0, true, TcpFlags::PSH | TcpFlags::ACK, 10);
    c.seg(1, false, TcpFlags::ACK, 0);
    let r = &c.finish()[0];
    assert_eq!(r.peers.server_port, 9000);
    assert_eq!(r.direction_score, crate::flow::SCORE_SERVER_PORT);
    assert_eq!(r.packet_rx, 1);
}

#[test]
fn udp_art_and_icmp_srt() {
    let mut an = Analyzer::new(AnalyzerConfig::default());
    let mut out = Vec::new();
    let mut send = |an: &mut Analyzer, at: u64, fwd: bool, frame: Vec<u8>| {
        let _ = fwd;
        an.on_packet(&meta_at(T0 + at * MS, &frame), &frame, &mut out);
    };
    let q = build::udp(cip(), sip(), 53000, 53, b"query");
    send(
        &mut an,
        0,
        true,
        build::ethernet_ip(S, C, &[], &build::ip(cip(), sip(), 17, 1, 64, &q)),
    );
    let a = build::udp(sip(), cip(), 53, 53000, b"answer");
    send(
        &mut an,
        4,
        false,
        build::ethernet_ip(C, S, &[], &build::ip(sip(), cip(), 17, 1, 64, &a)),
    );
    let e = build::icmp_echo(cip(), sip(), false, 7, 1, b"ping");
    send(
        &mut an,
        10,
        true,
        build::ethernet_ip(S, C, &[], &build::ip(cip(), sip(), 1, 1, 64, &e)),
    );
    let e = build::icmp_echo(sip(), cip(), true, 7, 1, b"ping");
    send(
        &mut an,
        13,
        false,
        build::ethernet_ip(C, S, &[], &build::ip(sip(), cip(), 1, 1, 64, &e)),
    );
    an.finish(&mut out);
    let udp = out.iter().find(|r| r.peers.protocol == 17).expect("udp");
    assert_eq!((udp.art_count, udp.art_sum), (1, 4_000));
    assert_eq!(udp.peers.server_port, 53);
    assert_eq!(udp.close_type, CloseType::Finish as u8);
    let icmp = out.iter().find(|r| r.peers.protocol == 1).expect("icmp");
    assert_eq!((icmp.srt_count, icmp.srt_sum), (1, 3_000));
    assert_eq!(icmp.peers.ip_1, sip());
}

/// `finish` ends every flow and empties the table at once; the analyzer goes on afterwards
/// with the same keys as new flows.
#[test]
fn finish_empties_the_table_and_flows_start_again() {
    let mut an = Analyzer::new(AnalyzerConfig::default());
    let mut out = Vec::new();
    let send = |an: &mut Analyzer, at: u64, sport: u16, out: &mut Vec<L4FlowLog>| {
        let u = build::udp(cip(), sip(), sport, 53, b"q");
        let frame = build::ethernet_ip(S, C, &[], &build::ip(cip(), sip(), 17, 1, 64, &u));
        an.on_packet(&meta_at(T0 + at * MS, &frame), &frame, out);
    };
    for port in 1000..1100 {
        send(&mut an, 0, port, &mut out);
    }
    an.finish(&mut out);
    assert_eq!(out.len(), 100);
    assert_eq!(an.active_flows(), 0);
    for port in 1050..1150 {
        send(&mut an, 10, port, &mut out);
        send(&mut an, 11, port, &mut out);
    }
    assert_eq!(an.active_flows(), 100);
    an.finish(&mut out);
    assert_eq!(out.len(), 200);
    assert!(out[100..].iter().all(|r| r.packet_tx == 2 && r.is_new_flow));
    assert_eq!(an.counters().flows_closed, 200);
}

/// IPv6 flows keep the last 12 bytes of their addresses beside the flow slot: conversations
/// between addresses of one /32 on the same ports are still told apart, and both directions
/// find their flow and side.
#[test]
fn ipv6_flows_differing_only_in_address_tails() {
    let v6 = |last: u16| IpAddr::V6(std::net::Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, last));
    let mut an = Analyzer::new(AnalyzerConfig::default());
    let mut out = Vec::new();
    let mut send = |an: &mut Analyzer, at: u64, src: IpAddr, dst: IpAddr, p: &[u8]| {
        let u = build::udp(src, dst, 123, 123, p);
        let frame = build::ethernet_ip(S, C, &[], &build::ip(src, dst, 17, 1, 64, &u));
        an.on_packet(&meta_at(T0 + at * MS, &frame), &frame, &mut out);
    };
    // (a, b): a sends twice, b answers once; (a, c): c sends first, a answers.
    send(&mut an, 0, v6(1), v6(2), b"one");
    send(&mut an, 1, v6(3), v6(1), b"three");
    send(&mut an, 2, v6(2), v6(1), b"answer");
    send(&mut an, 3, v6(1), v6(2), b"again");
    send(&mut an, 4, v6(1), v6(3), b"reply");
    an.finish(&mut out);
    assert_eq!(out.len(), 2, "{out:?}");
    let mut pairs: Vec<_> = out
        .iter()
        .map(|r| {
            let (p0, p1) = (r.packet_tx, r.packet_rx);
            let mut ends = [(r.peers.ip_0, p0), (r.peers.ip_1, p1)];
            ends.sort();
            assert!(!r.peers.is_ipv4);
            ends
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        vec![[(v6(1), 1), (v6(3), 1)], [(v6(1), 2), (v6(2), 1)],]
    );
}

/// ICMP flows take a block for their outstanding echo requests at the first request; with the
/// pool empty a flow goes without (no SRT, counted), and closed flows give blocks back.
#[test]
fn icmp_echo_blocks_are_bounded_and_reused() {
    let cfg = AnalyzerConfig {
        flow_capacity: 128,
        ..AnalyzerConfig::default()
    };
    let blocks = crate::flow::icmp_blocks_for(cfg.flow_capacity);
    let mut an = Analyzer::new(cfg);
    let mut out = Vec::new();
    let flows = blocks + 6;
    let mut ping = |an: &mut Analyzer, at: u64, host: usize, reply: bool| {
        let h = IpAddr::V4(Ipv4Addr::new(10, 9, (host >> 8) as u8, host as u8));
        let (src, dst) = if reply { (h, cip()) } else { (cip(), h) };
        let e = build::icmp_echo(src, dst, reply, 7, 1, b"ping");
        let frame = build::ethernet_ip(S, C, &[], &build::ip(src, dst, 1, 1, 64, &e));
        an.on_packet(&meta_at(T0 + at * MS, &frame), &frame, &mut out);
    };
    for host in 0..flows {
        ping(&mut an, 0, host, false);
    }
    for host in 0..flows {
        ping(&mut an, 2, host, true);
    }
    assert_eq!(an.counters().icmp_echo_blocks_exhausted, 6);
    // Every flow times out; the blocks come back and serve new flows.
    for host in 0..blocks {
        ping(&mut an, 600_000 + host as u64, 1_000 + host, false);
        ping(&mut an, 600_002 + host as u64, 1_000 + host, true);
    }
    an.finish(&mut out);
    assert_eq!(an.counters().icmp_echo_blocks_exhausted, 6);
    let timed = out.iter().filter(|r| r.srt_count == 1).count();
    assert_eq!(
        timed,
        blocks + blocks,
        "every flow with a block has its echo timed"
    );
    assert_eq!(out.iter().filter(|r| r.srt_count == 0).count(), 6);
}

/// Tunnelled flows take a tunnel block each and give it back when they close: a table of 16
/// flows carries 100 VXLAN flows one after another, every row with its tunnel, none refused.
#[test]
fn tunnel_blocks_come_back_when_flows_close() {
    let cfg = AnalyzerConfig {
        flow_capacity: 16,
        ..AnalyzerConfig::default()
    };
    let mut an = Analyzer::new(cfg);
    let mut out = Vec::new();
    let (o1, o2) = (
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
    );
    for i in 0..100u64 {
        let q = build::udp(cip(), sip(), 40_000 + i as u16, 53, b"q");
        let inner = build::ethernet_ip(C, S, &[], &build::ip(cip(), sip(), 17, 1, 64, &q));
        let frame = build::vxlan_frame(o1, o2, 9, &inner);
        an.on_packet(
            &meta_at(T0 + i * 120 * NS_PER_SEC, &frame),
            &frame,
            &mut out,
        );
    }
    an.finish(&mut out);
    assert_eq!(an.counters().tunnel_blocks_exhausted, 0);
    assert_eq!(an.counters().flow_table_full, 0);
    assert_eq!(out.len(), 100);
    assert!(
        out.iter().all(|r| r.tunnel_id == 9 && r.tunnel_type != 0),
        "{:?}",
        out[0]
    );
}

#[test]
fn decode_errors_and_non_ip_are_counted() {
    let mut an = Analyzer::new(AnalyzerConfig::default());
    let mut out = Vec::new();
    let meta = PacketMeta {
        ts_ns: T0,
        wire_len: 60,
        cap_len: 60,
        ..Default::default()
    };
    an.on_packet(&meta, &[0u8; 10], &mut out);
    let arp = build::ethernet(C, S, &[], 0x0806, &[0u8; 28]);
    an.on_packet(&meta, &arp, &mut out);
    assert_eq!(
        an.counters().decode_error(
            crate::wire::Layer::Ethernet,
            crate::wire::ErrorKind::Truncated
        ),
        1
    );
    assert_eq!(an.counters().non_ip, 1);
    assert_eq!(an.counters().rx_packets, 2);
}

#[test]
fn learned_service_scores_orient_midstream_flows() {
    let mut c = Conv::new();
    c.sport = 8000;
    // Ten mid-stream conversations to 10.0.0.2:8000 teach the table that it is a server.
    for i in 0..10u16 {
        c.cport = 9000 + i;
        c.seg(u64::from(i), true, TcpFlags::PSH | TcpFlags::ACK, 10);
    }
    // Then one whose first captured packet is the server's reply: no SYN, no configured port,
    // both ports below 32768, neither below 1024.
    c.cport = 9100;
    c.seg(20, false, TcpFlags::PSH | TcpFlags::ACK, 10);
    c.seg(21, true, TcpFlags::ACK, 0);
    let recs = c.finish();
    let r = recs
        .iter()
        .find(|r| r.peers.client_port == 9100 || r.peers.server_port == 9100)
        .expect("flow");
    assert_eq!((r.peers.client_port, r.peers.server_port), (9100, 8000));
    assert!(r.reversed, "first packet came from the server");
    assert!(r.direction_score >= 8);
    assert_eq!((r.packet_tx, r.packet_rx), (1, 1));
}

#[test]
fn one_way_established_flows_survive_idle_gaps() {
    let mut c = Conv::new();
    // Only the client's side of an established connection, 30 s apart (a one-way SPAN).
    for k in 0..4u64 {
        c.seg(k * 30_000, true, TcpFlags::PSH | TcpFlags::ACK, 100);
    }
    let recs = c.finish();
    let ids: std::collections::BTreeSet<u64> = recs.iter().map(|r| r.flow_id).collect();
    assert_eq!(ids.len(), 1, "one flow, not one per gap: {recs:?}");
    assert_eq!(recs.iter().map(|r| r.packet_tx).sum::<u64>(), 4);
    // A one-way SYN probe still times out after 5 s ("others").
    let mut c = Conv::new();
    c.seg(0, true, TcpFlags::SYN, 0);
    c.cseq = 1000;
    c.seg(6_000, true, TcpFlags::SYN, 0);
    assert_eq!(c.finish().len(), 2);
}

#[test]
fn reconfigure_switches_hot_settings_and_refuses_table_sizes() {
    let mut c = AnalyzerConfig {
        worker_id: 3,
        ..AnalyzerConfig::default()
    };
    let mut an = Analyzer::new(c.clone());
    c.timeouts.others_ns = NS_PER_SEC; // shorter: within the timer horizon
    c.worker_id = 9;
    c.server_ports.insert(8443);
    assert!(an.reconfigure(c.clone()).is_ok());
    assert_eq!(an.cfg.worker_id, 3, "the worker keeps its id");
    assert!(an.cfg.server_ports.contains(8443));
    c.flow_capacity = 10;
    c.timeouts.established_ns *= 10;
    let refused = an.reconfigure(c).unwrap_err();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(an.counters().reconfigurations, 1);
}
