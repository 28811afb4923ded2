//! Pulsar through the whole analyzer: a client's connection with a producer and a consumer
//! (lookups, sends and receipts, a send error, a refused producer, messages pushed to the
//! consumer, acks, the broker's ping), topics named by producer and consumer ids, message ids,
//! trace properties, frames split and cut, large messages, lost bytes, hostile bytes.

use super::session::{PulsarSession, REMEMBERED_IDS};
use super::wire::{command, frame, message_metadata, property, short_topic, MessageId};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::protobuf::encode::Pb;
use crate::l7::talk::{hostile_talks, s, same_rows_at_every_cut, Talk};
use crate::l7::{L7Protocol, ParserKind, Probe};
use crate::AnalyzerConfig;

fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::Pulsar);
    cfg.l7.tags.apm_trace_id = vec!["traceparent".into()];
    cfg.l7.tags.apm_span_id = vec!["traceparent".into()];
    Talk::with(cfg, 6650)
}

const ORDERS: &[u8] = b"persistent://public/default/orders";
const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// A frame of command `kind` with body `body`, and the message that follows it, if any.
fn frame_of(kind: u8, body: Pb, message: Option<&[u8]>) -> Vec<u8> {
    let cmd = Pb::default()
        .int(1, u64::from(kind))
        .msg(u32::from(kind), body)
        .0;
    let extra = message.unwrap_or_default();
    let mut f = Vec::new();
    f.extend(((4 + cmd.len() + extra.len()) as u32).to_be_bytes());
    f.extend((cmd.len() as u32).to_be_bytes());
    f.extend(cmd);
    f.extend(extra);
    f
}

/// What follows a SEND or MESSAGE command: the checksum part, the metadata, the payload.
fn message(sequence: u64, properties: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut meta = Pb::default()
        .bytes(1, b"standalone-0-4")
        .int(2, sequence)
        .int(3, 1_709_016_825_430);
    for (k, v) in properties {
        meta = meta.msg(
            4,
            Pb::default().bytes(1, k.as_bytes()).bytes(2, v.as_bytes()),
        );
    }
    let mut m = vec![0x0e, 0x01, 0xde, 0xad, 0xbe, 0xef];
    m.extend((meta.0.len() as u32).to_be_bytes());
    m.extend(meta.0);
    m.extend(payload);
    m
}

fn message_id(ledger: u64, entry: u64) -> Pb {
    Pb::default().int(1, ledger).int(2, entry)
}

fn error(request_id: u64, code: u64, text: &str) -> Vec<u8> {
    frame_of(
        14,
        Pb::default()
            .int(1, request_id)
            .int(2, code)
            .bytes(3, text.as_bytes()),
        None,
    )
}

fn success(request_id: u64) -> Vec<u8> {
    frame_of(13, Pb::default().int(1, request_id), None)
}

fn send(producer: u64, sequence: u64, payload: &[u8]) -> Vec<u8> {
    let m = message(sequence, &[("traceparent", PARENT)], payload);
    frame_of(6, Pb::default().int(1, producer).int(2, sequence), Some(&m))
}

/// (sent by the client, frame).
fn conversation() -> Vec<(bool, Vec<u8>)> {
    let c = |f: Vec<u8>| (true, f);
    let b = |f: Vec<u8>| (false, f);
    let topic = |t: &[u8], id: u64| Pb::default().bytes(1, t).int(2, id);
    let pushed = message(0, &[("traceparent", PARENT)], b"order 0");
    vec![
        c(frame_of(
            2,
            Pb::default()
                .bytes(1, b"Pulsar-CPP-v3.4.2")
                .int(4, 19)
                .bytes(5, b"none")
                .bytes(6, b"broker-1:6650"),
            None,
        )),
        b(frame_of(
            3,
            Pb::default().bytes(1, b"Pulsar Server3.2.0").int(2, 20),
            None,
        )),
        c(frame_of(21, topic(ORDERS, 1), None)),
        b(frame_of(
            22,
            Pb::default().int(1, 0).int(2, 1).int(3, 0),
            None,
        )),
        c(frame_of(23, topic(ORDERS, 2), None)),
        b(frame_of(
            24,
            Pb::default()
                .bytes(1, b"pulsar://broker-1:6650")
                .int(3, 1)
                .int(4, 2),
            None,
        )),
        c(frame_of(
            5,
            Pb::default().bytes(1, ORDERS).int(2, 0).int(3, 3),
            None,
        )),
        b(frame_of(
            17,
            Pb::default().int(1, 3).bytes(2, b"standalone-0-4"),
            None,
        )),
        c(send(0, 0, b"order 0")),
        b(frame_of(
            7,
            Pb::default().int(1, 0).int(2, 0).msg(3, message_id(9, 40)),
            None,
        )),
        c(send(0, 1, b"order 1")),
        b(frame_of(
            8,
            Pb::default()
                .int(1, 0)
                .int(2, 1)
                .int(3, 2)
                .bytes(4, b"cannot persist"),
            None,
        )),
        c(frame_of(
            5,
            Pb::default()
                .bytes(1, b"persistent://public/default/forbidden")
                .int(2, 1)
                .int(3, 4),
            None,
        )),
        b(error(4, 4, "not authorized")),
        c(frame_of(
            4,
            Pb::default()
                .bytes(1, ORDERS)
                .bytes(2, b"billing")
                .int(3, 0)
                .int(4, 0)
                .int(5, 5),
            None,
        )),
        b(success(5)),
        c(frame_of(11, Pb::default().int(1, 0).int(2, 1000), None)),
        b(frame_of(
            9,
            Pb::default().int(1, 0).msg(2, message_id(9, 40)),
            Some(&pushed),
        )),
        c(frame_of(
            10,
            Pb::default().int(1, 0).int(2, 0).msg(3, message_id(9, 40)),
            None,
        )),
        b(frame_of(18, Pb::default(), None)),
        c(frame_of(19, Pb::default(), None)),
        c(frame_of(16, Pb::default().int(1, 0).int(2, 6), None)),
        b(success(6)),
        c(frame_of(15, Pb::default().int(1, 0).int(2, 7), None)),
        b(success(7)),
    ]
}

/// (type, request type, resource, domain, status, code, request id, exception, "version|x0|x1|trace").
type Row = (
    u8,
    String,
    String,
    String,
    u8,
    Option<i32>,
    Option<u32>,
    String,
    String,
);

fn rows_of(t: Talk) -> Vec<Row> {
    t.finish()
        .l7
        .iter()
        .map(|r| {
            (
                r.row_type,
                s(&r.request_type).to_string(),
                s(&r.request_resource).to_string(),
                s(&r.request_domain).to_string(),
                r.response_status,
                r.response_code,
                r.request_id,
                s(&r.response_exception).to_string(),
                format!(
                    "{}|{}|{}|{}",
                    s(&r.version),
                    s(&r.x_request_id_0),
                    s(&r.x_request_id_1),
                    s(&r.trace_id)
                ),
            )
        })
        .collect()
}

fn rows(conv: &[(bool, Vec<u8>)]) -> Vec<Row> {
    let mut t = talk();
    for (i, (client, f)) in conv.iter().enumerate() {
        t.tcp(i as f64, *client, f);
    }
    rows_of(t)
}

#[allow(clippy::too_many_arguments)]
fn row(
    kind: &str,
    res: &str,
    status: u8,
    code: Option<i32>,
    id: Option<u32>,
    exc: &str,
    extra: &str,
) -> Row {
    (
        2,
        kind.to_string(),
        res.to_string(),
        "broker-1:6650".to_string(),
        status,
        code,
        id,
        exc.to_string(),
        format!("19|{extra}"),
    )
}

fn want() -> Vec<Row> {
    let traced = format!("||{TRACE}");
    vec![
        row("CONNECT", "", 0, None, None, "", "||"),
        row("PARTITIONED_METADATA", "orders", 0, None, Some(1), "", "||"),
        row("LOOKUP", "orders", 0, None, Some(2), "", "||"),
        row("PRODUCER", "orders", 0, None, Some(3), "", "||"),
        row(
            "SEND",
            "orders",
            0,
            None,
            Some(0),
            "",
            &format!("|9:40:-1:-1|{TRACE}"),
        ),
        row(
            "SEND",
            "orders",
            3,
            Some(2),
            Some(1),
            "cannot persist",
            &traced,
        ),
        row(
            "PRODUCER",
            "forbidden",
            3,
            Some(4),
            Some(4),
            "not authorized",
            "||",
        ),
        row("SUBSCRIBE", "orders", 0, None, Some(5), "", "||"),
        row("FLOW", "orders", 0, None, None, "", "||"),
        row(
            "MESSAGE",
            "orders",
            0,
            None,
            None,
            "",
            &format!("9:40:-1:-1||{TRACE}"),
        ),
        row("ACK", "orders", 0, None, None, "", "||"),
        row("PING", "", 0, None, None, "", "||"),
        row("PONG", "", 0, None, None, "", "||"),
        row("CLOSE_CONSUMER", "orders", 0, None, Some(6), "", "||"),
        row("CLOSE_PRODUCER", "orders", 0, None, Some(7), "", "||"),
    ]
}

#[test]
fn a_producer_and_a_consumer_on_one_connection() {
    assert_eq!(rows(&conversation()), want());
    // RRT from the request to its response; lengths by sender.
    let mut t = talk();
    for (i, (client, f)) in conversation().iter().enumerate() {
        t.tcp(i as f64 * 2.0, *client, f);
    }
    let out = t.finish();
    let send = &out.l7[4];
    assert_eq!(send.response_duration, 2_000);
    assert_eq!(send.request_length, conversation()[8].1.len() as i64 - 4);
    assert_eq!(send.response_length, conversation()[9].1.len() as i64 - 4);
    assert_eq!(s(&send.span_id), "b7ad6b7169203331");
    let message = &out.l7[9];
    assert_eq!(
        (message.request_length, message.response_length > 0),
        (-1, true)
    );
}

#[test]
fn frames_together_in_one_segment() {
    // The client's pipelined sends and the broker's receipts, each side in one segment.
    let receipt = |seq: u64| {
        frame_of(
            7,
            Pb::default()
                .int(1, 0)
                .int(2, seq)
                .msg(3, message_id(9, 40 + seq)),
            None,
        )
    };
    let mut conv = conversation()[..8].to_vec();
    conv.push((
        true,
        [send(0, 0, b"a"), send(0, 1, b"b"), send(0, 2, b"c")].concat(),
    ));
    conv.push((false, [receipt(0), receipt(1), receipt(2)].concat()));
    let got = rows(&conv);
    let sends: Vec<_> = got.iter().filter(|r| r.1 == "SEND").collect();
    assert_eq!(sends.len(), 3);
    for (i, r) in sends.iter().enumerate() {
        assert_eq!((r.4, r.6), (0, Some(i as u32)));
        assert!(r.8.contains(&format!("|9:{}:-1:-1|", 40 + i)), "{r:?}");
    }
}

#[test]
fn every_cut_gives_the_same_rows() {
    same_rows_at_every_cut(&conversation(), talk);
}

#[test]
fn a_large_message_is_read_from_its_head_and_skipped() {
    let mut conv = conversation()[..8].to_vec();
    conv.push((true, send(0, 0, &vec![b'x'; 300_000])));
    conv.push((
        false,
        frame_of(
            7,
            Pb::default().int(1, 0).int(2, 0).msg(3, message_id(9, 41)),
            None,
        ),
    ));
    conv.push((true, frame_of(15, Pb::default().int(1, 0).int(2, 7), None)));
    conv.push((false, success(7)));
    let mut t = talk();
    for (i, (client, f)) in conv.iter().enumerate() {
        for (j, chunk) in f.chunks(1400).enumerate() {
            t.tcp(i as f64 + j as f64 * 1e-3, *client, chunk);
        }
    }
    let got = rows_of(t);
    let kinds: Vec<_> = got.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "CONNECT",
            "PARTITIONED_METADATA",
            "LOOKUP",
            "PRODUCER",
            "SEND",
            "CLOSE_PRODUCER"
        ]
    );
    assert!(
        got[4].8.ends_with(&format!("9:41:-1:-1|{TRACE}")),
        "{:?}",
        got[4]
    );
}

#[test]
fn lost_bytes_resume_at_the_next_frame() {
    let conv = conversation();
    let mut t = talk();
    for (i, (client, f)) in conv.iter().enumerate() {
        if i == 8 {
            // The first send's first bytes are lost.
            t.skip(true, 10);
            t.tcp(i as f64, true, &f[10..]);
            continue;
        }
        t.tcp(i as f64, *client, f);
    }
    let got = rows_of(t);
    let kinds: Vec<_> = got.iter().map(|r| r.1.as_str()).collect();
    // The receipt of the lost send is a response alone (no request type); the rest pair.
    assert_eq!(kinds.iter().filter(|k| **k == "SEND").count(), 1);
    assert!(got.iter().any(|r| r.0 == 1 && r.1.is_empty()));
    assert!(kinds.contains(&"CLOSE_PRODUCER") && kinds.contains(&"MESSAGE"));
}

#[test]
fn topics_of_ids_the_connection_no_longer_remembers_are_counted() {
    let mut t = talk();
    let n = REMEMBERED_IDS as u64 + 1;
    for p in 0..n {
        let topic = format!("persistent://public/default/t{p}");
        t.tcp(
            p as f64,
            true,
            &frame_of(
                5,
                Pb::default().bytes(1, topic.as_bytes()).int(2, p).int(3, p),
                None,
            ),
        );
        t.tcp(
            p as f64 + 0.5,
            false,
            &frame_of(17, Pb::default().int(1, p), None),
        );
    }
    // Producer 0 was the first one remembered: its topic is gone; producer 8's is known.
    t.tcp(
        20.0,
        true,
        &frame_of(15, Pb::default().int(1, 0).int(2, 100), None),
    );
    t.tcp(
        21.0,
        true,
        &frame_of(15, Pb::default().int(1, n - 1).int(2, 101), None),
    );
    assert_eq!(
        t.an.counters().l7.protocol_counter(ParserKind::Pulsar, 0),
        1
    );
    let got = rows_of(t);
    let closes: Vec<_> = got.iter().filter(|r| r.1 == "CLOSE_PRODUCER").collect();
    assert_eq!(closes.len(), 2);
    assert_eq!(closes[0].2, "");
    assert_eq!(closes[1].2, format!("t{}", n - 1));
}

#[test]
fn decoders_and_probe() {
    let conv = conversation();
    let connect = &conv[0].1;
    assert_eq!(
        PulsarSession::probe(connect, Transport::Tcp),
        Probe::Certain
    );
    for cut in 1..connect.len() {
        let p = PulsarSession::probe(&connect[..cut], Transport::Tcp);
        assert_eq!(p, Probe::Unsure, "cut {cut}");
    }
    // A connection joined at the broker's pushed message.
    let pushed = &conv[17].1;
    assert_eq!(PulsarSession::probe(pushed, Transport::Tcp), Probe::Certain);
    assert_eq!(
        PulsarSession::sent_by_client(pushed, Transport::Tcp),
        Some(false)
    );
    assert_eq!(
        PulsarSession::sent_by_client(&conv[8].1, Transport::Tcp),
        Some(true)
    );
    assert_eq!(
        PulsarSession::sent_by_client(&conv[19].1, Transport::Tcp),
        None
    );
    for other in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"\x00\x00\x00\x10\x00\x00\x00\x08\x01\x02",
        // Kafka: size, api key, version, correlation id.
        b"\x00\x00\x00\x20\x00\x12\x00\x03\x00\x00\x00\x01\x00\x05hello",
    ] {
        assert_eq!(PulsarSession::probe(other, Transport::Tcp), Probe::NotForUs);
    }
    let (total, cmd) = frame(pushed).unwrap();
    assert_eq!(total as usize + 4, pushed.len());
    let c = command(&pushed[8..8 + cmd as usize]).unwrap();
    assert_eq!(c.name, "MESSAGE");
    assert_eq!(
        c.message_id,
        Some(MessageId {
            ledger: 9,
            entry: 40,
            partition: -1,
            batch_index: -1
        })
    );
    let meta = message_metadata(&pushed[8 + cmd as usize..]).unwrap();
    assert_eq!(property(meta, "TraceParent"), Some(PARENT.as_bytes()));
    assert_eq!(property(meta, "sw8"), None);
    assert_eq!(short_topic(ORDERS), b"orders");
    // The broker's entry metadata before the message's is skipped.
    let mut with_entry = vec![0x0e, 0x02, 0, 0, 0, 4, 0x08, 0x01, 0x10, 0x02];
    with_entry.extend(message(3, &[("sw8", "1-abc")], b"x"));
    assert_eq!(
        property(message_metadata(&with_entry).unwrap(), "sw8"),
        Some(&b"1-abc"[..])
    );
}

#[test]
fn hostile_streams_never_panic() {
    let conv = conversation();
    let seeds: Vec<&[u8]> = conv.iter().map(|(_, m)| &m[..]).collect();
    hostile_talks(&seeds, 3000, 8, talk);
}

#[test]
fn off_unless_enabled_and_its_state_size() {
    let mut t = Talk::with(AnalyzerConfig::default(), 6650);
    for (i, (client, m)) in conversation().iter().enumerate() {
        t.tcp(i as f64, *client, m);
    }
    assert!(t.finish().l7.is_empty());
    assert_eq!(std::mem::size_of::<PulsarSession>(), 2760);
}
