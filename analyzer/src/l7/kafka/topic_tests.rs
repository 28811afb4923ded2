//! Topic names learned from Metadata responses: every topic of a response, on any connection of
//! the worker, with Kafka's own encoding (the `kafka-protocol` crate) as the oracle.

use kafka_protocol::messages::{
    fetch_request, metadata_response, ApiKey, BrokerId, FetchRequest, MetadataRequest,
    MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::body::metadata_topics;
use super::tests::{request, response, talk};
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
            metadata_topics(version, b, at, |id, name| v.push((id, name.to_vec())));
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
        metadata_topics(9, &msg, at, |_, _| none += 1);
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
