//! Topic names learned from Metadata responses: every topic of a response, on any connection of
//! the worker, with Kafka's own encoding (the `kafka-protocol` crate) as the oracle.

use kafka_protocol::messages::{
    fetch_request, metadata_response, ApiKey, BrokerId, FetchRequest, MetadataRequest,
    MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::tests::{request, response, talk};
use super::topic_walk::TopicWalk;
use super::wire::{Reader, RequestHeader, SIZE_LEN};
use crate::l7::talk::s;

const NAMES: [&str; 3] = ["orders", "payments", "audit.events-2026"];

fn id(n: usize) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x1f2e_3d4c_5b6a_4978_8695_a4b3_c2d1_e000 + n as u128)
}

/// What a broker of a 3-broker cluster answers: every topic with 3 partitions, each replicated
/// on the 3 brokers.
fn cluster_metadata() -> MetadataResponse {
    let brokers = (1..=3)
        .map(|b| {
            metadata_response::MetadataResponseBroker::default()
                .with_node_id(BrokerId(b))
                .with_host(StrBytes::from_string(format!("kafka-{b}.kafka.svc")))
                .with_port(9092)
                .with_rack(Some(StrBytes::from_static_str("zone-a")))
        })
        .collect();
    let topics = NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let partitions = (0..3)
                .map(|p| {
                    metadata_response::MetadataResponsePartition::default()
                        .with_partition_index(p)
                        .with_leader_id(BrokerId(p + 1))
                        .with_leader_epoch(7)
                        .with_replica_nodes(vec![BrokerId(1), BrokerId(2), BrokerId(3)])
                        .with_isr_nodes(vec![BrokerId(1), BrokerId(2), BrokerId(3)])
                })
                .collect();
            metadata_response::MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str(name))))
                .with_topic_id(id(i))
                .with_partitions(partitions)
                .with_topic_authorized_operations(-2147483648)
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_static_str("vQ3xk1mWSxq2dQpZ1iM2oA")))
        .with_controller_id(BrokerId(2))
        .with_topics(topics)
}

/// The body's offset in a response message of a flexible version.
fn body_at(msg: &[u8]) -> usize {
    let mut r = Reader::at(msg, SIZE_LEN + 4);
    r.tagged_fields().unwrap();
    r.at
}

fn fetch_by_id(topic: usize, partition: i32) -> FetchRequest {
    FetchRequest::default().with_topics(vec![fetch_request::FetchTopic::default()
        .with_topic_id(id(topic))
        .with_partitions(vec![fetch_request::FetchPartition::default()
            .with_partition(partition)
            .with_fetch_offset(5)])])
}

#[test]
fn every_topic_of_a_metadata_response_is_read_and_a_cut_gives_a_prefix() {
    for version in [10i16, 12, 13] {
        let msg = response(ApiKey::Metadata, version, 1, &cluster_metadata());
        let at = body_at(&msg);
        let read = |b: &[u8]| {
            let mut v = Vec::new();
            TopicWalk::start(version, b, at, |id, name| v.push((id, name.to_vec())));
            v
        };
        let all = read(&msg);
        let want: Vec<_> = NAMES
            .iter()
            .enumerate()
            .map(|(i, n)| (*id(i).as_bytes(), n.as_bytes().to_vec()))
            .collect();
        assert_eq!(all, want, "v{version}");
        for cut in 0..msg.len() {
            let got = read(&msg[..cut]);
            assert_eq!(got, want[..got.len()], "v{version} cut {cut}");
        }
        // Before v10 topics have no id.
        let mut none = 0;
        assert!(TopicWalk::start(9, &msg, at, |_, _| none += 1).is_none());
        assert_eq!(none, 0);
    }
}

#[test]
fn fetches_on_other_connections_take_the_names_any_metadata_gave() {
    let mut t = talk();
    t.tcp(
        0.0,
        true,
        &request(ApiKey::Metadata, 12, 1, &MetadataRequest::default()),
    );
    t.tcp(
        1.0,
        false,
        &response(ApiKey::Metadata, 12, 1, &cluster_metadata()),
    );
    // The partition leaders: other brokers, other connections, no Metadata on them.
    for (conn, topic) in [(1u16, 2usize), (2, 1), (3, 0)] {
        t.cport = 40000 + conn;
        t.sport = 9092 + conn;
        t.cseq = 5000;
        t.sseq = 7000;
        let corr = 100 + i32::from(conn);
        let msg = request(ApiKey::Fetch, 13, corr, &fetch_by_id(topic, 1));
        assert!(RequestHeader::parse(&msg).is_some());
        t.tcp(2.0 + f64::from(conn), true, &msg);
    }
    let rows = t.finish().l7;
    let mut fetches: Vec<_> = rows
        .iter()
        .filter(|r| s(&r.request_type) == "Fetch")
        .map(|r| (s(&r.request_domain).to_string(), s(&r.endpoint).to_string()))
        .collect();
    fetches.sort();
    assert_eq!(
        fetches,
        [
            (
                "audit.events-2026".to_string(),
                "audit.events-2026-1".to_string()
            ),
            ("orders".to_string(), "orders-1".to_string()),
            ("payments".to_string(), "payments-1".to_string()),
        ]
    );
}

/// A topic's id and name, as learned.
type Learned = ([u8; 16], Vec<u8>);

/// A large cluster's answer: `topics` topics of 12 partitions on 3 of 5 brokers; every fifth name
/// longer than Kafka allows (passed over), every fifth another the longest it allows, tagged
/// fields on some partitions and topics.
fn large_metadata(topics: usize) -> (MetadataResponse, Vec<Learned>) {
    let tagged = || std::collections::BTreeMap::from([(7, bytes::Bytes::from_static(b"x-tag"))]);
    let mut want = Vec::new();
    let list = (0..topics)
        .map(|t| {
            let name = if t % 5 == 4 {
                format!("team-{t}.{}", "very-long-topic-name".repeat(13))
            } else if t % 5 == 2 {
                let name = format!("orders.region-{t}.{}", "x".repeat(249));
                name[..249].to_string()
            } else {
                format!("orders.region-{t}")
            };
            if name.len() <= super::topic_names::NAME_MAX {
                want.push((*id(t).as_bytes(), name.clone().into_bytes()));
            }
            let partitions = (0..12)
                .map(|p| {
                    let replicas: Vec<_> = (0..3).map(|r| BrokerId((p + r) % 5)).collect();
                    let part = metadata_response::MetadataResponsePartition::default()
                        .with_partition_index(p)
                        .with_leader_id(BrokerId(p % 5))
                        .with_leader_epoch(3)
                        .with_replica_nodes(replicas.clone())
                        .with_isr_nodes(replicas);
                    if p == 5 {
                        part.with_unknown_tagged_fields(tagged())
                    } else {
                        part
                    }
                })
                .collect();
            let topic = metadata_response::MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name))))
                .with_topic_id(id(t))
                .with_partitions(partitions);
            if t % 3 == 0 {
                topic.with_unknown_tagged_fields(tagged())
            } else {
                topic
            }
        })
        .collect();
    let resp = MetadataResponse::default()
        .with_cluster_id(Some(StrBytes::from_static_str("vQ3xk1mWSxq2dQpZ1iM2oA")))
        .with_controller_id(BrokerId(2))
        .with_topics(list);
    (resp, want)
}

/// Reads `msg` in pieces cut at `cuts`, offering again what each piece left unread, as a stream
/// does.
fn walk_in_pieces(version: i16, msg: &[u8], cuts: &[usize]) -> Vec<Learned> {
    let mut got = Vec::new();
    let at = body_at(msg);
    let first = cuts.first().copied().unwrap_or(msg.len());
    let Some((mut walk, mut from)) =
        TopicWalk::start(version, &msg[..first], at, |i, n| got.push((i, n.to_vec())))
    else {
        return got;
    };
    for &end in cuts.iter().skip(1).chain([msg.len()].iter()) {
        from += walk.feed(&msg[from..end], |i, n| got.push((i, n.to_vec())));
    }
    assert!(walk.is_done() && !walk.is_malformed(), "{walk:?}");
    got
}

#[test]
fn a_topic_walk_cut_anywhere_reads_what_the_whole_response_gives() {
    for version in [10i16, 12] {
        let (resp, want) = large_metadata(6);
        let msg = response(ApiKey::Metadata, version, 1, &resp);
        let at = body_at(&msg);
        assert_eq!(walk_in_pieces(version, &msg, &[]), want, "v{version}");
        // The head (to the topic array) arrives whole; any one cut after it.
        let head = super::body::metadata_topics_at(version, &msg, at).unwrap();
        for cut in head..msg.len() {
            assert_eq!(
                walk_in_pieces(version, &msg, &[cut]),
                want,
                "v{version} cut {cut}"
            );
        }
        // Byte by byte.
        let drip: Vec<usize> = (head..msg.len()).collect();
        assert_eq!(
            walk_in_pieces(version, &msg, &drip),
            want,
            "v{version} drip"
        );
    }
}

#[test]
fn a_metadata_response_longer_than_the_stream_holds_names_every_topic() {
    let (resp, want) = large_metadata(60);
    let msg = response(ApiKey::Metadata, 12, 1, &resp);
    assert!(
        msg.len() > 8 * crate::l7::flow_state::HOLD_MAX,
        "{}",
        msg.len()
    );
    let mut t = talk();
    t.tcp(
        0.0,
        true,
        &request(ApiKey::Metadata, 12, 1, &MetadataRequest::default()),
    );
    for (i, seg) in msg.chunks(1448).enumerate() {
        t.tcp(1.0 + i as f64 * 0.01, false, seg);
    }
    // Fetches by id of every topic, on another connection.
    t.cport = 41000;
    t.sport = 9093;
    for topic in 0..60 {
        let corr = 100 + topic as i32;
        t.tcp(
            3.0 + topic as f64,
            true,
            &request(ApiKey::Fetch, 13, corr, &fetch_by_id(topic, 0)),
        );
    }
    let rows = t.finish().l7;
    let meta: Vec<_> = rows
        .iter()
        .filter(|r| s(&r.request_type) == "Metadata")
        .collect();
    assert_eq!(meta.len(), 1);
    assert_eq!(meta[0].response_length, msg.len() as i64 - 4);
    let mut named: Vec<_> = rows
        .iter()
        .filter(|r| s(&r.request_type) == "Fetch")
        .map(|r| s(&r.request_domain).to_string())
        .collect();
    named.sort();
    // The names too long to remember show the id's text (Kafka's base64), as before any Metadata.
    let mut expected: Vec<_> = want
        .iter()
        .map(|(_, n)| String::from_utf8(n.clone()).unwrap())
        .collect();
    expected.sort();
    let (known, by_id): (Vec<_>, Vec<_>) = named.into_iter().partition(|n| n.starts_with("orders"));
    assert_eq!(known, expected);
    assert_eq!(by_id.len(), 60 - want.len());
    assert!(by_id.iter().all(|n| n.len() == 22), "{by_id:?}");
}

#[test]
fn hostile_topic_arrays_end_without_reading_past_their_bytes() {
    // A count of 2^32 topics in 7 bytes; a varint that never ends; pseudo-random bytes.
    let huge = [0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0];
    let mut w = TopicWalk::default();
    assert!(w.feed(&huge, |_, _| panic!("no topic")) <= huge.len());
    let endless = [0x80u8; 12];
    let mut w = TopicWalk::default();
    w.feed(&endless, |_, _| {});
    assert!(w.is_done() && w.is_malformed());
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        let mut w = TopicWalk::default();
        let mut pending: Vec<u8> = Vec::new();
        for _ in 0..8 {
            for _ in 0..(x % 97) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                pending.push(x as u8);
            }
            let used = w.feed(&pending, |_, name| {
                assert!(name.len() <= super::topic_names::NAME_MAX)
            });
            assert!(used <= pending.len());
            pending.drain(..used);
        }
    }
}

#[test]
fn mutated_long_metadata_responses_in_random_segments_never_panic() {
    // A valid request in flight, then a long response with bytes changed, cut into segments of
    // random sizes, some of them lost; then a Fetch by id on the same connection.
    let (resp, _) = large_metadata(20);
    let msg = response(ApiKey::Metadata, 12, 1, &resp);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..300 {
        let mut b = msg.clone();
        // Keep the size prefix and correlation id (the response is paired), flip the rest.
        for _ in 0..round % 12 {
            let at = 8 + next() as usize % (b.len() - 8);
            b[at] = (next() >> 32) as u8;
        }
        let mut t = talk();
        t.tcp(
            0.0,
            true,
            &request(ApiKey::Metadata, 12, 1, &MetadataRequest::default()),
        );
        let mut at = 0;
        let mut i = 0;
        while at < b.len() {
            let n = (1 + next() as usize % 1500).min(b.len() - at);
            if round % 5 == 4 && next() % 9 == 0 {
                t.skip(false, n);
            } else {
                t.tcp(1.0 + i as f64 * 0.01, false, &b[at..at + n]);
            }
            at += n;
            i += 1;
        }
        t.tcp(
            5.0,
            true,
            &request(ApiKey::Fetch, 13, 2, &fetch_by_id(3, 0)),
        );
        let rows = t.finish().l7;
        assert!(rows.len() <= 4, "round {round}");
        if round == 0 {
            // Unchanged and whole: the topic after the first segments is named.
            assert!(
                rows.iter()
                    .any(|r| s(&r.request_type) == "Fetch"
                        && s(&r.request_domain) == "orders.region-3"),
                "{rows:?}"
            );
        }
    }
}
