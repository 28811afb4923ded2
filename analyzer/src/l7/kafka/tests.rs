//! Kafka through the whole analyzer, with messages encoded by the `kafka-protocol` crate (Kafka's
//! own message definitions) as the oracle for every version and flexible encoding.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::{
    fetch_request, fetch_response, metadata_response, produce_request, produce_response, ApiKey,
    FetchRequest, FetchResponse, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::session::KafkaSession;
use super::wire::{is_flexible, known_version, response_header_flexible, RequestHeader as Head};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_talks, s, same_rows_at_every_cut, Talk};
use crate::l7::{ParserKind, Probe};
use crate::record::l7::{TYPE_REQUEST, TYPE_SESSION};

pub(super) fn talk() -> Talk {
    Talk::new(9092)
}

pub(super) fn counter(t: &Talk, i: usize) -> u64 {
    t.an.counters().l7.protocol_counter(ParserKind::Kafka, i)
}

fn topic(name: &'static str) -> TopicName {
    TopicName(StrBytes::from_static_str(name))
}

/// A request of `key` at `version` with the body `msg`, size-prefixed.
pub(super) fn request<M: Encodable>(key: ApiKey, version: i16, corr: i32, msg: &M) -> Vec<u8> {
    let mut b = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(corr)
        .with_client_id(Some(StrBytes::from_static_str("console-producer")))
        .encode(&mut b, key.request_header_version(version))
        .unwrap();
    msg.encode(&mut b, version).unwrap();
    framed(&b)
}

pub(super) fn response<M: Encodable>(key: ApiKey, version: i16, corr: i32, msg: &M) -> Vec<u8> {
    let mut b = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(corr)
        .encode(&mut b, key.response_header_version(version))
        .unwrap();
    msg.encode(&mut b, version).unwrap();
    framed(&b)
}

fn framed(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

pub(super) fn batch(value_len: usize, headers: &[(&'static str, &'static str)]) -> Bytes {
    batch_in(Compression::None, value_len, headers)
}

/// A record batch of one record, compressed with `compression`.
pub(super) fn batch_in(
    compression: Compression,
    value_len: usize,
    headers: &[(&'static str, &'static str)],
) -> Bytes {
    let mut h = IndexMap::new();
    for (k, v) in headers {
        h.insert(
            StrBytes::from_static_str(k),
            Some(Bytes::from_static(v.as_bytes())),
        );
    }
    let rec = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::from(vec![b'v'; value_len])),
        headers: h,
    };
    let mut b = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut b,
        [&rec],
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    b.freeze()
}

pub(super) fn produce(acks: i16, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(1500)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(topic("orders"))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(3)
                    .with_records(Some(records)),
            ])])
}

fn traced() -> Bytes {
    batch(
        32,
        &[(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )],
    )
}

pub(super) fn produce_ok(error: i16, offset: i64) -> ProduceResponse {
    ProduceResponse::default().with_responses(vec![
        produce_response::TopicProduceResponse::default()
            .with_name(topic("orders"))
            .with_partition_responses(vec![produce_response::PartitionProduceResponse::default()
                .with_index(3)
                .with_error_code(error)
                .with_base_offset(offset)]),
    ])
}

#[test]
fn version_table_agrees_with_kafkas_definitions() {
    for k in 0..100i16 {
        let Ok(key) = ApiKey::try_from(k) else {
            continue;
        };
        let r = key.valid_versions();
        for v in r.min..=r.max {
            assert!(known_version(k, v), "{key:?} v{v}");
            assert_eq!(
                is_flexible(k, v),
                key.request_header_version(v) >= 2,
                "{key:?} v{v} request header"
            );
            assert_eq!(
                response_header_flexible(k, v),
                key.response_header_version(v) >= 1,
                "{key:?} v{v} response header"
            );
        }
        assert!(!known_version(k, r.max + 4), "{key:?}");
    }
    assert!(!known_version(88, 0) && !known_version(-1, 0) && !known_version(500, 0));
}

#[test]
fn produce_every_version_pairs_with_topic_offset_and_trace() {
    for version in [3i16, 7, 8, 9, 11, 12] {
        let mut t = talk();
        let req = request(ApiKey::Produce, version, 47, &produce(1, traced()));
        let h = Head::parse(&req).expect("head");
        assert_eq!(
            (h.api_key, h.api_version, h.correlation_id),
            (0, version, 47)
        );
        assert_eq!(h.client_id, b"console-producer");
        assert_eq!(KafkaSession::probe(&req, Transport::Tcp), Probe::Certain);
        t.tcp(0.0, true, &req);
        t.tcp(
            1.619,
            false,
            &response(ApiKey::Produce, version, 47, &produce_ok(0, 35)),
        );
        let out = t.finish();
        assert_eq!(out.l7.len(), 1, "v{version}");
        let r = &out.l7[0];
        assert_eq!(r.row_type, TYPE_SESSION);
        assert_eq!(r.l7_protocol, 100);
        assert_eq!(s(&r.request_type), "Produce");
        assert_eq!(s(&r.version), version.to_string());
        assert_eq!(r.request_id, Some(47));
        assert_eq!(s(&r.request_domain), "orders");
        assert_eq!(s(&r.endpoint), "orders-3");
        assert_eq!(s(&r.request_resource), "orders-3:35", "v{version}");
        assert_eq!(r.response_code, Some(0));
        assert_eq!(r.response_status, 0);
        assert_eq!(r.response_duration, 1619);
        assert_eq!(r.request_length, req.len() as i64 - 4);
        assert_eq!(
            s(&r.trace_id),
            "0af7651916cd43dd8448eb211c80319c",
            "v{version}"
        );
        assert_eq!(s(&r.span_id), "b7ad6b7169203331");
    }
}

#[test]
fn produce_error_and_acks0() {
    let mut t = talk();
    t.tcp(
        0.0,
        true,
        &request(ApiKey::Produce, 9, 5, &produce(-1, traced())),
    );
    t.tcp(
        1.0,
        false,
        &response(ApiKey::Produce, 9, 5, &produce_ok(3, -1)),
    );
    // acks = 0: no response will come.
    t.tcp(
        2.0,
        true,
        &request(ApiKey::Produce, 9, 6, &produce(0, traced())),
    );
    assert_eq!(counter(&t, 0), 1);
    let out = t.finish();
    assert_eq!(out.l7.len(), 2);
    let e = &out.l7[0];
    assert_eq!((e.response_code, e.response_status), (Some(3), 3));
    assert_eq!(s(&e.response_exception), "UNKNOWN_TOPIC_OR_PARTITION");
    let o = &out.l7[1];
    assert_eq!((o.row_type, o.response_status), (TYPE_REQUEST, 0));
    assert_eq!(o.request_id, Some(6));
}

/// A topic id, and how Kafka's tools print it (base64url without padding).
const TOPIC_ID: u128 = 0x5d38_7798_620d_4a92_a8b4_2b8e_e9d3_9b15;
const TOPIC_ID_TEXT: &str = "XTh3mGINSpKotCuO6dObFQ";

fn fetch(version: i16) -> FetchRequest {
    let t = fetch_request::FetchTopic::default().with_partitions(vec![
        fetch_request::FetchPartition::default()
            .with_partition(0)
            .with_fetch_offset(36),
    ]);
    let t = if version >= 13 {
        t.with_topic_id(uuid::Uuid::from_u128(TOPIC_ID))
    } else {
        t.with_topic(topic("zqy-test"))
    };
    FetchRequest::default()
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_topics(vec![t])
}

#[test]
fn fetch_versions_and_errors() {
    for version in [4i16, 7, 11, 12, 13, 16] {
        let mut t = talk();
        t.tcp(
            0.0,
            true,
            &request(ApiKey::Fetch, version, 15603, &fetch(version)),
        );
        let part = fetch_response::PartitionData::default()
            .with_partition_index(0)
            .with_error_code(if version >= 7 { 0 } else { 1 });
        let topic_resp =
            fetch_response::FetchableTopicResponse::default().with_partitions(vec![part]);
        let topic_resp = if version >= 13 {
            topic_resp.with_topic_id(uuid::Uuid::from_u128(TOPIC_ID))
        } else {
            topic_resp.with_topic(topic("zqy-test"))
        };
        let resp = FetchResponse::default().with_responses(vec![topic_resp]);
        t.tcp(
            499.61,
            false,
            &response(ApiKey::Fetch, version, 15603, &resp),
        );
        let out = t.finish();
        assert_eq!(out.l7.len(), 1, "v{version}");
        let r = &out.l7[0];
        assert_eq!((s(&r.request_type), r.request_id), ("Fetch", Some(15603)));
        // From v13 on the topic travels as its id only: the row names it by the id.
        let name = if version < 13 {
            "zqy-test"
        } else {
            TOPIC_ID_TEXT
        };
        assert_eq!(s(&r.request_domain), name, "v{version}");
        assert_eq!(s(&r.request_resource), format!("{name}-0:36"), "v{version}");
        assert_eq!(s(&r.endpoint), format!("{name}-0"));
        assert_eq!(r.response_duration, 499_610);
        if version >= 7 {
            assert_eq!((r.response_code, r.response_status), (Some(0), 0));
        } else {
            assert_eq!(r.response_code, Some(1), "v{version}");
            assert_eq!(s(&r.response_exception), "OFFSET_OUT_OF_RANGE");
        }
    }
}

#[test]
fn metadata_topic_error_in_plain_and_flexible_versions() {
    for version in [1i16, 4, 9, 12] {
        let mut t = talk();
        t.tcp(
            0.0,
            true,
            &request(ApiKey::Metadata, version, 9, &MetadataRequest::default()),
        );
        let resp = MetadataResponse::default()
            .with_brokers(vec![metadata_response::MetadataResponseBroker::default()
                .with_node_id(1.into())
                .with_host(StrBytes::from_static_str("broker-1"))
                .with_port(9092)
                .with_rack(Some(StrBytes::from_static_str("r1")))])
            .with_topics(vec![metadata_response::MetadataResponseTopic::default()
                .with_error_code(5)
                .with_name(Some(topic("new-topic")))]);
        t.tcp(2.0, false, &response(ApiKey::Metadata, version, 9, &resp));
        let out = t.finish();
        let r = &out.l7[0];
        assert_eq!(s(&r.request_type), "Metadata");
        assert_eq!(r.response_code, Some(5), "v{version}");
        assert_eq!(s(&r.response_exception), "LEADER_NOT_AVAILABLE");
        assert_eq!(s(&r.request_domain), "new-topic");
        // Brokers only (no topic asked for, none listed): nothing failed.
        let mut t = talk();
        t.tcp(
            0.0,
            true,
            &request(ApiKey::Metadata, version, 10, &MetadataRequest::default()),
        );
        let brokers = resp.clone().with_topics(vec![]);
        t.tcp(
            1.0,
            false,
            &response(ApiKey::Metadata, version, 10, &brokers),
        );
        let r = &t.finish().l7[0];
        assert_eq!(
            (r.response_code, r.response_status),
            (None, 0),
            "v{version}"
        );
    }
}

#[test]
fn out_of_order_responses_and_large_records_over_many_segments() {
    let mut t = talk();
    let big =
        produce(1, traced()).with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(topic("big"))
            .with_partition_data(vec![produce_request::PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(300_000, &[])))])]);
    let req = request(ApiKey::Produce, 9, 1, &big);
    for (i, c) in req.chunks(1400).enumerate() {
        t.tcp(i as f64 * 0.01, true, c);
    }
    t.tcp(
        3.0,
        true,
        &request(ApiKey::Metadata, 12, 2, &MetadataRequest::default()),
    );
    t.tcp(
        4.0,
        false,
        &response(ApiKey::Metadata, 12, 2, &MetadataResponse::default()),
    );
    let big_ok = ProduceResponse::default().with_responses(vec![
        produce_response::TopicProduceResponse::default()
            .with_name(topic("big"))
            .with_partition_responses(vec![produce_response::PartitionProduceResponse::default()
                .with_index(0)
                .with_base_offset(10)]),
    ]);
    t.tcp(5.0, false, &response(ApiKey::Produce, 9, 1, &big_ok));
    let out = t.finish();
    let got: Vec<_> = out
        .l7
        .iter()
        .map(|r| (s(&r.request_type).to_string(), r.request_id, r.row_type))
        .collect();
    assert_eq!(
        got,
        [
            ("Metadata".into(), Some(2), TYPE_SESSION),
            ("Produce".into(), Some(1), TYPE_SESSION)
        ]
    );
    assert_eq!(s(&out.l7[1].request_resource), "big-0:10");
    assert_eq!(out.l7[1].request_length, req.len() as i64 - 4);
}

#[test]
fn gap_resynchronises_on_the_next_message() {
    let mut t = talk();
    let req = request(ApiKey::Produce, 9, 1, &produce(1, traced()));
    t.tcp(0.0, true, &req[..40]);
    t.skip(true, 10);
    t.tcp(0.5, true, &req[50..]);
    t.tcp(
        1.0,
        true,
        &request(ApiKey::Metadata, 12, 2, &MetadataRequest::default()),
    );
    t.tcp(
        2.0,
        false,
        &response(ApiKey::Metadata, 12, 2, &MetadataResponse::default()),
    );
    let out = t.finish();
    let meta: Vec<_> = out
        .l7
        .iter()
        .filter(|r| s(&r.request_type) == "Metadata")
        .collect();
    assert_eq!(meta.len(), 1);
    assert_eq!(meta[0].row_type, TYPE_SESSION);
}

#[test]
fn after_a_gap_a_head_read_on_its_own_is_kept_for_the_rest() {
    // A reader that takes each message's first 12 bytes in a call of its own (librdkafka's mock
    // broker, seen by the syscall tracer): after a loss, the next message's head comes alone.
    for dir_client in [true, false] {
        let mut t = talk();
        let big = request(ApiKey::Produce, 9, 1, &produce(1, batch(3000, &[])));
        let meta = request(ApiKey::Metadata, 12, 2, &MetadataRequest::default());
        let meta_resp = response(ApiKey::Metadata, 12, 2, &MetadataResponse::default());
        if dir_client {
            t.tcp(0.0, true, &big[..12]);
            t.tcp(0.1, true, &big[12..1000]);
            t.skip(true, big.len() - 1000);
            t.tcp(1.0, true, &meta[..12]);
            t.tcp(1.1, true, &meta[12..]);
            t.tcp(2.0, false, &meta_resp);
        } else {
            t.tcp(0.0, true, &meta);
            let fetch_resp = response(ApiKey::Fetch, 12, 9, &FetchResponse::default());
            t.tcp(0.5, false, &fetch_resp[..6]);
            t.skip(false, fetch_resp.len() - 6);
            t.tcp(2.0, false, &meta_resp[..6]);
            t.tcp(2.1, false, &meta_resp[6..]);
        }
        let out = t.finish();
        let meta: Vec<_> = out
            .l7
            .iter()
            .filter(|r| s(&r.request_type) == "Metadata")
            .collect();
        assert_eq!(meta.len(), 1, "client side lost: {dir_client}");
        assert_eq!(
            meta[0].row_type, TYPE_SESSION,
            "client side lost: {dir_client}"
        );
    }
}

#[test]
fn probe_rejects_other_protocols() {
    for p in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"\x00\x00\x00\x08\x04\xd2\x16\x2f",
        b"\x00\x00\x00\x29\x00\x03\x00\x00user\x00postgres\x00database\x00db\x00\x00",
        b"*1\r\n$4\r\nPING\r\n",
        b"\x00\x00\x00\x10\x00\x58\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00",
    ] {
        assert_eq!(
            KafkaSession::probe(p, Transport::Tcp),
            Probe::NotForUs,
            "{p:?}"
        );
    }
    assert_eq!(
        KafkaSession::probe(b"\x00\x00", Transport::Tcp),
        Probe::Unsure
    );
}

pub(super) const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[test]
fn every_cut_gives_the_same_rows() {
    let conversation = [
        (true, request(ApiKey::Produce, 9, 1, &produce(1, traced()))),
        (true, request(ApiKey::Fetch, 12, 2, &fetch(12))),
        (false, response(ApiKey::Produce, 9, 1, &produce_ok(0, 5))),
        (
            false,
            response(
                ApiKey::Fetch,
                12,
                2,
                &FetchResponse::default().with_error_code(0),
            ),
        ),
    ];
    same_rows_at_every_cut(&conversation, talk);
}

#[test]
fn hostile_streams_never_panic() {
    let a = request(ApiKey::Produce, 9, 1, &produce(1, traced()));
    let b = response(ApiKey::Produce, 9, 1, &produce_ok(0, 1));
    let c = request(ApiKey::Fetch, 12, 2, &fetch(12));
    let d = response(ApiKey::Metadata, 1, 3, &MetadataResponse::default());
    let compressed = |c| {
        let b = batch_in(c, 200, &[("traceparent", TRACEPARENT)]);
        request(ApiKey::Produce, 9, 4, &produce(1, b))
    };
    let (e, f, g, z) = (
        compressed(Compression::Gzip),
        compressed(Compression::Snappy),
        compressed(Compression::Lz4),
        compressed(Compression::Zstd),
    );
    let seeds: [&[u8]; 8] = [&a, &b, &c, &d, &e, &f, &g, &z];
    hostile_talks(&seeds, 3000, 8, talk);
}

#[test]
fn group_calls_name_their_group() {
    use kafka_protocol::messages::{
        offset_fetch_request::OffsetFetchRequestGroup, GroupId, HeartbeatRequest, JoinGroupRequest,
        OffsetCommitRequest, OffsetFetchRequest,
    };
    let group = || GroupId(StrBytes::from_static_str("billing"));
    let calls: Vec<Vec<u8>> = vec![
        request(
            ApiKey::JoinGroup,
            5,
            1,
            &JoinGroupRequest::default().with_group_id(group()),
        ),
        request(
            ApiKey::JoinGroup,
            9,
            2,
            &JoinGroupRequest::default().with_group_id(group()),
        ),
        request(
            ApiKey::Heartbeat,
            4,
            3,
            &HeartbeatRequest::default().with_group_id(group()),
        ),
        request(
            ApiKey::OffsetCommit,
            9,
            4,
            &OffsetCommitRequest::default().with_group_id(group()),
        ),
        request(
            ApiKey::OffsetFetch,
            7,
            5,
            &OffsetFetchRequest::default().with_group_id(group()),
        ),
        // From v8 OffsetFetch asks for several groups at once: the first is named.
        request(
            ApiKey::OffsetFetch,
            9,
            6,
            &OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default().with_group_id(group()),
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(StrBytes::from_static_str("audit"))),
            ]),
        ),
        request(ApiKey::OffsetFetch, 8, 7, &OffsetFetchRequest::default()),
    ];
    let mut t = talk();
    for (i, c) in calls.iter().enumerate() {
        t.tcp(i as f64, true, c);
    }
    let rows = t.finish().l7;
    let groups: Vec<Option<String>> = rows
        .iter()
        .map(|r| {
            r.attributes
                .iter()
                .find(|(k, _)| *k == b"group_id")
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        })
        .collect();
    let billing = Some("billing".to_string());
    assert_eq!(
        groups,
        [
            billing.clone(),
            billing.clone(),
            billing.clone(),
            billing.clone(),
            billing.clone(),
            billing,
            None
        ]
    );
}

#[test]
fn offset_fetch_errors_of_the_group_and_partitions() {
    use kafka_protocol::messages::offset_fetch_response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
        OffsetFetchResponseTopic, OffsetFetchResponseTopics,
    };
    use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse};
    let topic_v7 = |code| {
        OffsetFetchResponseTopic::default()
            .with_name(topic("orders"))
            .with_partitions(vec![
                OffsetFetchResponsePartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(17),
                OffsetFetchResponsePartition::default()
                    .with_partition_index(1)
                    .with_error_code(code),
            ])
    };
    let cases: Vec<(i16, OffsetFetchResponse, i32)> = vec![
        (
            1,
            OffsetFetchResponse::default().with_topics(vec![topic_v7(0)]),
            0,
        ),
        (
            5,
            OffsetFetchResponse::default().with_topics(vec![topic_v7(3)]),
            3,
        ),
        (
            7,
            OffsetFetchResponse::default()
                .with_topics(vec![topic_v7(0)])
                .with_error_code(16),
            16,
        ),
        (
            8,
            OffsetFetchResponse::default().with_groups(vec![OffsetFetchResponseGroup::default()
                .with_group_id(GroupId(StrBytes::from_static_str("billing")))
                .with_topics(vec![OffsetFetchResponseTopics::default()
                    .with_name(topic("orders"))
                    .with_partitions(vec![OffsetFetchResponsePartitions::default()
                        .with_partition_index(0)
                        .with_committed_offset(17)])])
                .with_error_code(14)]),
            14,
        ),
        (9, OffsetFetchResponse::default(), -1),
    ];
    for (version, resp, code) in cases {
        let mut t = talk();
        t.tcp(
            0.0,
            true,
            &request(
                ApiKey::OffsetFetch,
                version,
                7,
                &OffsetFetchRequest::default(),
            ),
        );
        t.tcp(
            1.0,
            false,
            &response(ApiKey::OffsetFetch, version, 7, &resp),
        );
        let r = &t.finish().l7[0];
        assert_eq!(s(&r.request_type), "OffsetFetch");
        if code < 0 {
            // No group in the answer: nothing failed, no code.
            assert_eq!(
                (r.response_code, r.response_status),
                (None, 0),
                "v{version}"
            );
            continue;
        }
        assert_eq!(r.response_code, Some(code), "v{version}");
        assert_eq!(
            r.response_status,
            if code == 0 { 0 } else { 3 },
            "v{version}"
        );
        assert_eq!(s(&r.endpoint), "orders-0", "v{version}");
    }
}
#[test]
fn topics_named_by_id_take_the_name_metadata_gave_them() {
    let mut t = talk();
    t.tcp(
        0.0,
        true,
        &request(ApiKey::Metadata, 12, 1, &MetadataRequest::default()),
    );
    let meta = MetadataResponse::default().with_topics(vec![
        metadata_response::MetadataResponseTopic::default()
            .with_name(Some(topic("zqy-test")))
            .with_topic_id(uuid::Uuid::from_u128(TOPIC_ID)),
    ]);
    t.tcp(1.0, false, &response(ApiKey::Metadata, 12, 1, &meta));
    t.tcp(2.0, true, &request(ApiKey::Fetch, 13, 2, &fetch(13)));
    // Another topic's id: not known here.
    let other = fetch_request::FetchTopic::default()
        .with_topic_id(uuid::Uuid::from_u128(7))
        .with_partitions(vec![
            fetch_request::FetchPartition::default().with_fetch_offset(1)
        ]);
    t.tcp(
        3.0,
        true,
        &request(
            ApiKey::Fetch,
            13,
            3,
            &FetchRequest::default().with_topics(vec![other]),
        ),
    );
    let rows = t.finish().l7;
    let fetches: Vec<_> = rows
        .iter()
        .filter(|r| s(&r.request_type) == "Fetch")
        .map(|r| {
            (
                s(&r.request_domain).to_string(),
                s(&r.request_resource).to_string(),
            )
        })
        .collect();
    assert_eq!(
        fetches,
        [
            ("zqy-test".to_string(), "zqy-test-0:36".to_string()),
            (
                "AAAAAAAAAAAAAAAAAAAABw".to_string(),
                "AAAAAAAAAAAAAAAAAAAABw-0:1".to_string()
            ),
        ]
    );
}

#[test]
fn session_stays_within_the_largest_small_state() {
    // The memory plan counts the largest small parser state (336 bytes when this was written:
    // every flow has one parser); topic names are the worker's, not the session's.
    assert!(std::mem::size_of::<KafkaSession>() <= 336);
}
