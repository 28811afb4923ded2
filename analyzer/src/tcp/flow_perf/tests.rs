use super::*;

fn hdr(flags: u8, seq: u32, ack: u32, len: u32) -> TcpHeader {
    TcpHeader {
        seq,
        ack,
        flags: TcpFlags(flags),
        window: 100,
        payload_len: len,
        ..TcpHeader::default()
    }
}

const SYN: u8 = TcpFlags::SYN;
const ACK: u8 = TcpFlags::ACK;
const RST: u8 = TcpFlags::RST;

/// Random packets (openings, handshakes, data, resets, odd flags) from both ends, reports in
/// between: the compact opening and its block report exactly what one full state fed the same
/// packets reports.
#[test]
fn same_metrics_as_the_full_state() {
    let flag_sets = [
        SYN,
        SYN,
        SYN,
        SYN | ACK,
        ACK,
        ACK | TcpFlags::PSH,
        RST,
        RST | ACK,
        TcpFlags::FIN | ACK,
        TcpFlags::FIN,
        SYN | TcpFlags::FIN,
        SYN | RST,
        TcpFlags::PSH,
        0,
    ];
    let mut x = 11u32;
    let mut next = || {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        x >> 8
    };
    let mut promoted = 0;
    for flow in 0..3_000 {
        let mut pools = PerfPools::new(4);
        let mut ranges = RangePool::new(4);
        let mut reference = TcpPerf::default();
        let mut compact = FlowPerf::default();
        let mut ts = 1_000_000u64;
        let packets = 1 + next() % 12;
        // The first packets of most flows are SYNs from endpoint 0 (openings, repeats).
        let syns_first = next() % 4;
        for i in 0..packets {
            ts += u64::from(next() % 5_000_000);
            let (side, flags) = if i < syns_first {
                (0, SYN)
            } else {
                let f = flag_sets[(next() as usize) % flag_sets.len()];
                ((next() % 4 == 0) as usize, f)
            };
            let seq = [100, 101, 5_000, 5_001, next()][(next() % 5) as usize];
            let ack = [0, 101, 5_001, next()][(next() % 4) as usize];
            let len = [0, 0, 1, 10, 100][(next() % 5) as usize];
            let h = hdr(flags, seq, ack, len);
            let want = reference.on_packet(side, ts, &h, &mut ranges);
            assert_eq!(
                compact.on_packet(side, ts, &h, &mut pools),
                want,
                "flow {flow}"
            );
            if next() % 5 == 0 {
                assert_eq!(
                    compact.take_interval(&mut pools),
                    reference.take_interval(),
                    "flow {flow} packet {i}"
                );
            }
        }
        assert_eq!(
            compact.take_interval(&mut pools),
            reference.take_interval(),
            "flow {flow}"
        );
        promoted += usize::from(compact.has_block());
        compact.release(&mut pools);
        assert_eq!(pools.blocks.in_use(), 0);
        assert_eq!(pools.ranges.in_use(), 0);
    }
    assert!(
        promoted > 500 && promoted < 2_900,
        "{promoted} of 3,000 flows took a block"
    );
}

/// A scan of closed ports (SYN, repeated SYN, RST/ACK) never takes a block.
#[test]
fn openings_and_resets_take_no_block() {
    let mut pools = PerfPools::new(1);
    let mut p = FlowPerf::default();
    assert_eq!(
        p.on_packet(0, 10, &hdr(SYN, 7, 0, 0), &mut pools),
        PerfVerdict::Used
    );
    assert_eq!(
        p.on_packet(0, 20, &hdr(SYN, 7, 0, 0), &mut pools),
        PerfVerdict::Used
    );
    assert_eq!(
        p.on_packet(1, 30, &hdr(RST | ACK, 0, 8, 0), &mut pools),
        PerfVerdict::Reset
    );
    assert!(!p.has_block());
    let i = p.take_interval(&mut pools);
    assert_eq!((i.syn_count, i.retrans_syn, i.retrans), (2, 1, [1, 0]));
    assert_eq!(
        p.on_packet(0, 40, &hdr(SYN, 7, 0, 0), &mut pools),
        PerfVerdict::Used
    );
    let i = p.take_interval(&mut pools);
    assert_eq!((i.syn_count, i.retrans_syn), (1, 1));
    assert_eq!(pools.blocks.in_use(), 0);
}

/// The SYN-ACK takes the block; the handshake's RTT is measured from the opening's SYN.
#[test]
fn an_answer_takes_the_block_and_keeps_the_handshake() {
    let mut pools = PerfPools::new(1);
    let mut p = FlowPerf::default();
    p.on_packet(0, 1_000_000, &hdr(SYN, 7, 0, 0), &mut pools);
    p.on_packet(1, 3_000_000, &hdr(SYN | ACK, 90, 8, 0), &mut pools);
    assert!(p.has_block());
    let i = p.take_interval(&mut pools);
    assert_eq!(
        (i.syn_count, i.synack_count, i.rtt_server.sum),
        (1, 1, 2_000)
    );
}

/// No block left: the flow goes unmeasured and the pool counts it; nothing panics.
#[test]
fn no_block_left_is_counted() {
    let mut pools = PerfPools::new(1);
    let mut a = FlowPerf::default();
    let mut b = FlowPerf::default();
    a.on_packet(0, 1, &hdr(ACK, 7, 0, 10), &mut pools);
    assert_eq!(
        b.on_packet(0, 1, &hdr(ACK, 7, 0, 10), &mut pools),
        PerfVerdict::Used
    );
    assert!(b.interval_mut(&mut pools).is_none());
    assert_eq!(pools.blocks.exhausted, 2);
    assert_eq!(b.take_interval(&mut pools), PerfInterval::default());
    a.release(&mut pools);
    assert!(
        b.interval_mut(&mut pools).is_some(),
        "a released block is taken again"
    );
}
