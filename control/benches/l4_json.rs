//! l4_flow_log rows to JSON: the files' own writer (`sink::l4_json`) against serde_json's
//! derive-based serialization (the peer, what the files used before), on real rows of the
//! generator-free kind: one SYN-only flow and a full flow with tunnel addresses, each rendered
//! alone (`tapflow/*`) and by the files' writer after rows like it, as a flood gives them
//! (`tapflow_writer/*`: 64 rows in turn, each with its own flow id, client port and times). And
//! l7_flow_log rows (`sink::l7_json`, same peer): an HTTP request log with the usual fields, and
//! the same with non-ASCII and quoted text (escaped).
//! And a `flow_metrics` document (`sink::metrics_json`, same peer): a web path's network_map.
//!
//!   cargo bench -p tapflow-control --bench l4_json

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tapflow_analyzer::engine::sample::{self, Syn};
use tapflow_analyzer::inline::InlineBytes;
use tapflow_analyzer::metrics::doc::{FlowMeter, Tags, DIRECTION_CLIENT};
use tapflow_analyzer::metrics::records::{Document, NetworkMapDoc};
use tapflow_analyzer::{L4FlowLog, L7FlowLog, RecordRef, TextBuf};
use tapflow_control::sink::l4_json::{write_l4, L4Writer};
use tapflow_control::sink::l7_json::write_l7;
use tapflow_control::sink::metrics_json::write_flow_doc;

fn syn_row() -> L4FlowLog {
    sample::syn_row(Syn {
        client: ([10, 1, 2, 3], 49152).into(),
        server: ([192, 168, 40, 7], 443).into(),
        window: 64240,
        ts_ns: 1_700_000_000_000_000_000,
        wire_len: None,
    })
}

fn bench(c: &mut Criterion) {
    let syn = syn_row();
    let mut full = syn;
    full.tunnel_tx_ip_0 = Some("2001:db8::10".parse().expect("address"));
    full.tunnel_rx_ip_0 = Some("203.0.113.9".parse().expect("address"));
    full.packet_tx = 123_456;
    full.byte_tx = 987_654_321;
    full.rtt = 1_234;
    full.art_sum = 9_876_543;
    // A one-packet UDP flow (a DNS query without its answer, a scan): no TCP flags or timings.
    let mut udp = syn;
    udp.peers.protocol = 17;
    (udp.tcp_flags_bit_0, udp.syn_count) = (0, 0);
    let mut g = c.benchmark_group("l4_row_json");
    g.throughput(Throughput::Elements(1));
    for (name, row) in [("syn", &syn), ("udp", &udp), ("full", &full)] {
        let (mut text, mut buf) = (TextBuf::with_capacity(4096), Vec::with_capacity(4096));
        g.bench_function(format!("tapflow/{name}"), |b| {
            b.iter(|| {
                text.clear();
                write_l4(black_box(row), &mut text);
                black_box(text.len())
            })
        });
        // The files' writer on rows like those a flood gives one after another: what every
        // row shares with the one before (one capture point, close type and link type; the
        // end of a flush; a flood's counters) and what each has of its own (flow id, client
        // port, start and packet times a microsecond apart).
        let rows: Vec<L4FlowLog> = (0..64u64)
            .map(|i| {
                let mut r = *row;
                r.flow_id += i;
                r.peers.client_port = r.peers.client_port.wrapping_add(i as u16);
                r.start_time += i;
                r.first_time_tx += i;
                r.last_time_tx += i;
                r
            })
            .collect();
        let mut w = L4Writer::new();
        let mut next = rows.iter().cycle();
        g.bench_function(format!("tapflow_writer/{name}"), |b| {
            b.iter(|| {
                text.clear();
                w.write(black_box(next.next().expect("rows")), &mut text);
                black_box(text.len())
            })
        });
        g.bench_function(format!("serde_json/{name}"), |b| {
            b.iter(|| {
                buf.clear();
                serde_json::to_writer(&mut buf, &RecordRef::L4FlowLog(black_box(row)))
                    .expect("serde");
                black_box(buf.len())
            })
        });
    }
    g.finish();
    let mut http = L7FlowLog {
        flow_id: 7_300_000_000_123_456,
        start_time: 1_700_000_000_123_456,
        end_time: 1_700_000_000_125_789,
        row_type: 2,
        observation_point: "s",
        l7_protocol: 20,
        l7_protocol_str: "HTTP",
        version: InlineBytes::from_slice(b"1.1"),
        request_type: InlineBytes::from_slice(b"GET"),
        request_domain: InlineBytes::from_slice(b"shop.example.com"),
        request_resource: InlineBytes::from_slice(b"/api/v1/items?id=42&sort=price"),
        endpoint: InlineBytes::from_slice(b"/api/v1/items"),
        response_code: Some(200),
        response_status: 0,
        http_user_agent: InlineBytes::from_slice(b"Mozilla/5.0 (X11; Linux x86_64)"),
        request_length: 0,
        response_length: 5_120,
        response_duration: 2_333,
        ..L7FlowLog::default()
    };
    http.peers = syn.peers;
    let mut g = c.benchmark_group("l7_row_json");
    g.throughput(Throughput::Elements(1));
    // The same request for a path of non-ASCII text with a user agent that quotes: both
    // strings go through the escaping path.
    let mut utf8 = http.clone();
    utf8.request_resource =
        InlineBytes::from_slice("/wiki/Überblick_über_Straßen?q=\"größe\"".as_bytes());
    utf8.http_user_agent = InlineBytes::from_slice(b"curl/8.5 \"tapflow\" \\ test");
    let (mut text, mut buf) = (TextBuf::with_capacity(4096), Vec::with_capacity(4096));
    for (name, row) in [("http", &http), ("http_escaped", &utf8)] {
        g.bench_function(format!("tapflow/{name}"), |b| {
            b.iter(|| {
                text.clear();
                write_l7(black_box(row), &mut text);
                black_box(text.len())
            })
        });
        g.bench_function(format!("serde_json/{name}"), |b| {
            b.iter(|| {
                buf.clear();
                serde_json::to_writer(&mut buf, &RecordRef::L7FlowLog(black_box(row)))
                    .expect("serde");
                black_box(buf.len())
            })
        });
    }
    g.finish();
    // A network_map document as the mix makes them: a web path with a few latency buckets.
    let mut doc = Document {
        time: 1_700_000_040,
        tags: Tags {
            ip: "10.1.2.3".parse().expect("address"),
            ip_1: Some("192.168.40.7".parse().expect("address")),
            is_ipv4: true,
            protocol: 6,
            server_port: 443,
            l7_protocol: 20,
            l7_protocol_str: "HTTP",
            direction: DIRECTION_CLIENT,
            tap_side: 0,
            observation_point: "rest",
            capture_network_type: 3,
            tap_port: 4_611_686_018_427_387_904,
            endpoint: InlineBytes::EMPTY,
            agent_id: 0,
        },
        meter: FlowMeter::default(),
    };
    let m = &mut doc.meter;
    (m.packet_tx, m.packet_rx, m.byte_tx, m.byte_rx) = (8, 12, 978, 10_536);
    (m.new_flow, m.closed_flow, m.syn, m.synack) = (1, 1, 1, 1);
    (m.rtt_sum, m.rtt_count, m.rtt_max) = (13_500, 1, 13_500);
    (m.art_sum, m.art_count, m.art_max) = (32_200, 2, 19_100);
    m.rtt.record(13_500, 1);
    m.srt.record(600, 2);
    m.art.record(16_100, 1);
    m.art.record(19_100, 1);
    let doc = NetworkMapDoc(doc);
    let mut g = c.benchmark_group("metrics_doc_json");
    g.throughput(Throughput::Elements(1));
    let mut text = TextBuf::with_capacity(4096);
    g.bench_function("tapflow/network_map", |b| {
        b.iter(|| {
            text.clear();
            write_flow_doc(black_box(&doc.0), &mut text);
            black_box(text.len())
        })
    });
    g.bench_function("serde_json/network_map", |b| {
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, &RecordRef::NetworkMapDoc(black_box(&doc)))
                .expect("serde");
            black_box(buf.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
