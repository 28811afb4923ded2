//! RocketMQ through the whole analyzer: a producer's and a consumer's commands with JSON headers
//! as Java's client writes them (SEND_MESSAGE_V2's short names, properties with trace context),
//! a pull answered with messages in the store format, a one-way offset update, errors, the
//! binary header form, a broker's request to the client, frames split and cut, hostile bytes.

use super::session::RocketMqSession;
use super::wire::{frame, header, property, pulled_properties};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_talks, s, same_rows_at_every_cut, Talk};
use crate::l7::{L7Protocol, Probe};
use crate::AnalyzerConfig;

fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::RocketMq);
    cfg.l7.tags.apm_trace_id = vec!["traceparent".into()];
    cfg.l7.tags.apm_span_id = vec!["traceparent".into()];
    Talk::with(cfg, 10911)
}

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const UNIQ: &str = "7F00000100002A9F0000000000000001";
/// V4_9_4 (`MQVersion` ordinal).
const V4_9_4: i32 = 401;

/// A frame with a JSON header and `body`.
fn json_frame(header: &str, body: &[u8]) -> Vec<u8> {
    let mut f = ((4 + header.len() + body.len()) as u32)
        .to_be_bytes()
        .to_vec();
    f.extend((header.len() as u32).to_be_bytes());
    f.extend(header.as_bytes());
    f.extend(body);
    f
}

fn request(code: i32, opaque: i32, flag: i32, ext: &str) -> Vec<u8> {
    json_frame(
        &format!(
            r#"{{"code":{code},"extFields":{{{ext}}},"flag":{flag},"language":"JAVA","opaque":{opaque},"serializeTypeCurrentRPC":"JSON","version":{V4_9_4}}}"#
        ),
        b"",
    )
}

fn response(code: i32, opaque: i32, remark: Option<&str>, ext: &str, body: &[u8]) -> Vec<u8> {
    let remark = remark.map_or(String::new(), |r| format!(r#","remark":"{r}""#));
    json_frame(
        &format!(
            r#"{{"code":{code},"extFields":{{{ext}}},"flag":1,"language":"JAVA","opaque":{opaque}{remark},"serializeTypeCurrentRPC":"JSON","version":{V4_9_4}}}"#
        ),
        body,
    )
}

/// Message properties as a JSON string value (separators escaped).
fn properties_json() -> String {
    format!(
        r#"TRACE_ON\u0001true\u0002traceparent\u0001{PARENT}\u0002UNIQ_KEY\u0001{UNIQ}\u0002WAIT\u0001true"#
    )
}

/// One message in the broker's store format (IPv4 hosts), version 1 magic.
fn stored_message(properties: &[u8], payload: &[u8]) -> Vec<u8> {
    let topic = b"TopicTest";
    let mut m = Vec::new();
    m.extend(0u32.to_be_bytes()); // total size, set below
    m.extend(0xdaa3_20a7u32.to_be_bytes());
    m.extend(0u32.to_be_bytes()); // body CRC
    m.extend(1u32.to_be_bytes()); // queue id
    m.extend(0u32.to_be_bytes()); // flag
    m.extend(7u64.to_be_bytes()); // queue offset
    m.extend(4096u64.to_be_bytes()); // physical offset
    m.extend(0u32.to_be_bytes()); // sys flag
    m.extend(1_700_000_000_000u64.to_be_bytes());
    m.extend([10, 0, 0, 1, 0, 0, 0x9c, 0x40]);
    m.extend(1_700_000_000_001u64.to_be_bytes());
    m.extend([10, 0, 0, 2, 0, 0, 0x2a, 0x9f]);
    m.extend(0u32.to_be_bytes()); // reconsume times
    m.extend(0u64.to_be_bytes()); // prepared transaction offset
    m.extend((payload.len() as u32).to_be_bytes());
    m.extend(payload);
    m.push(topic.len() as u8);
    m.extend(topic);
    m.extend((properties.len() as u16).to_be_bytes());
    m.extend(properties);
    let total = m.len() as u32;
    m[..4].copy_from_slice(&total.to_be_bytes());
    m
}

fn raw_properties() -> Vec<u8> {
    format!("TRACE_ON\x01true\x02traceparent\x01{PARENT}\x02UNIQ_KEY\x01{UNIQ}").into_bytes()
}

/// (sent by the client, frame).
fn conversation() -> Vec<(bool, Vec<u8>)> {
    let c = |f| (true, f);
    let b = |f| (false, f);
    let send_ext = format!(
        r#""a":"please_rename_unique_group_name","b":"TopicTest","c":"TBW102","d":"4","e":"1","f":"0","g":"1700000000000","h":"0","i":"{}","j":"0","k":"false","m":"false""#,
        properties_json()
    );
    let pulled = [
        stored_message(&raw_properties(), b"Hello RocketMQ 0"),
        stored_message(b"UNIQ_KEY\x01SECOND", b"Hello RocketMQ 1"),
    ]
    .concat();
    vec![
        c(request(105, 1, 0, r#""topic":"TopicTest""#)),
        b(response(
            0,
            1,
            None,
            "",
            br#"{"brokerDatas":[],"queueDatas":[]}"#,
        )),
        c(json_frame(
            r#"{"code":34,"flag":0,"language":"JAVA","opaque":2,"serializeTypeCurrentRPC":"JSON","version":401}"#,
            br#"{"clientID":"10.0.0.1@1","producerDataSet":[{"groupName":"g"}]}"#,
        )),
        b(response(0, 2, None, "", b"")),
        c(request(310, 3, 0, &send_ext)),
        b(response(
            0,
            3,
            None,
            r#""msgId":"0A000002000029FF0000000000001000","queueId":"1","queueOffset":"7""#,
            b"",
        )),
        // A send to a topic the broker does not know.
        c(request(
            310,
            4,
            0,
            &send_ext.replace("TopicTest", "NoSuchTopic"),
        )),
        b(response(
            17,
            4,
            Some("topic[NoSuchTopic] not exist, apply first please!"),
            "",
            b"",
        )),
        c(request(
            11,
            5,
            0,
            r#""consumerGroup":"cg","topic":"TopicTest","queueId":"1","queueOffset":"7","maxMsgNums":"32""#,
        )),
        b(response(
            0,
            5,
            Some("FOUND"),
            r#""nextBeginOffset":"9","minOffset":"0","maxOffset":"9""#,
            &pulled,
        )),
        c(request(
            11,
            6,
            0,
            r#""consumerGroup":"cg","topic":"TopicTest","queueId":"1","queueOffset":"9""#,
        )),
        b(response(19, 6, Some("No new message"), "", b"")),
        // One-way: no response.
        c(request(
            15,
            7,
            2,
            r#""consumerGroup":"cg","topic":"TopicTest","queueId":"1","commitOffset":"9""#,
        )),
        // The broker asks the client; the client answers.
        b(request(
            307,
            8,
            0,
            r#""consumerGroup":"cg","clientId":"10.0.0.1@1""#,
        )),
        c(response(0, 8, None, "", b"{}")),
        c(request(
            35,
            9,
            0,
            r#""clientID":"10.0.0.1@1","producerGroup":"g""#,
        )),
        b(response(0, 9, None, "", b"")),
    ]
}

/// (type, request type, domain, resource, endpoint, status, code, request id, exception,
/// "version|x0|x1|trace|span").
type Row = (
    u8,
    String,
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
                s(&r.request_domain).to_string(),
                s(&r.request_resource).to_string(),
                s(&r.endpoint).to_string(),
                r.response_status,
                r.response_code,
                r.request_id,
                s(&r.response_exception).to_string(),
                format!(
                    "{}|{}|{}|{}|{}",
                    s(&r.version),
                    s(&r.x_request_id_0),
                    s(&r.x_request_id_1),
                    s(&r.trace_id),
                    s(&r.span_id)
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
    kind: (u8, &str),
    dom: &str,
    res: &str,
    ep: &str,
    status: u8,
    code: Option<i32>,
    id: u32,
    exc: &str,
    extra: &str,
) -> Row {
    (
        kind.0,
        kind.1.to_string(),
        dom.to_string(),
        res.to_string(),
        ep.to_string(),
        status,
        code,
        Some(id),
        exc.to_string(),
        format!("V4_9_4|{extra}"),
    )
}

#[test]
fn a_producer_and_a_consumer() {
    let traced = format!("{UNIQ}||{TRACE}|b7ad6b7169203331");
    let pulled = format!("|{UNIQ}|{TRACE}|b7ad6b7169203331");
    let group = "please_rename_unique_group_name";
    let want = vec![
        row(
            (2, "GET_ROUTEINFO_BY_TOPIC"),
            "",
            "TopicTest",
            "",
            0,
            Some(0),
            1,
            "",
            "|||",
        ),
        row((2, "HEART_BEAT"), "", "", "", 0, Some(0), 2, "", "|||"),
        row(
            (2, "SEND_MESSAGE_V2"),
            group,
            "TopicTest",
            "TopicTest-1",
            0,
            Some(0),
            3,
            "",
            &traced,
        ),
        row(
            (2, "SEND_MESSAGE_V2"),
            group,
            "NoSuchTopic",
            "NoSuchTopic-1",
            4,
            Some(17),
            4,
            "topic[NoSuchTopic] not exist, apply first please!",
            &traced,
        ),
        row(
            (2, "PULL_MESSAGE"),
            "cg",
            "TopicTest",
            "TopicTest-1",
            0,
            Some(0),
            5,
            "",
            &pulled,
        ),
        row(
            (2, "PULL_MESSAGE"),
            "cg",
            "TopicTest",
            "TopicTest-1",
            0,
            Some(19),
            6,
            "",
            "|||",
        ),
        row(
            (2, "UPDATE_CONSUMER_OFFSET"),
            "cg",
            "TopicTest",
            "TopicTest-1",
            0,
            None,
            7,
            "",
            "|||",
        ),
        row(
            (2, "GET_CONSUMER_RUNNING_INFO"),
            "cg",
            "",
            "",
            0,
            None,
            8,
            "",
            "|||",
        ),
        row((2, ""), "", "", "", 0, Some(0), 8, "", "|||"),
        row(
            (2, "UNREGISTER_CLIENT"),
            "",
            "",
            "",
            0,
            Some(0),
            9,
            "",
            "|||",
        ),
    ];
    let got = rows(&conversation());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
    assert_eq!(got.len(), want.len());
    // RRT and lengths.
    let mut t = talk();
    for (i, (client, f)) in conversation().iter().enumerate() {
        t.tcp(i as f64 * 3.0, *client, f);
    }
    let out = t.finish();
    let send = &out.l7[2];
    assert_eq!(send.response_duration, 3_000);
    assert_eq!(send.request_length, conversation()[4].1.len() as i64 - 4);
    assert_eq!(send.response_length, conversation()[5].1.len() as i64 - 4);
}

#[test]
fn binary_headers_are_read() {
    // code 310, JAVA, version, opaque 42, flag 0, no remark, extFields b=topic, a=group, e=3.
    let mut h = Vec::new();
    h.extend(310i16.to_be_bytes());
    h.push(0);
    h.extend((V4_9_4 as i16).to_be_bytes());
    h.extend(42i32.to_be_bytes());
    h.extend(0i32.to_be_bytes());
    h.extend(0i32.to_be_bytes());
    let mut ext = Vec::new();
    for (k, v) in [("b", "Orders"), ("a", "pg"), ("e", "3")] {
        ext.extend((k.len() as u16).to_be_bytes());
        ext.extend(k.as_bytes());
        ext.extend((v.len() as i32).to_be_bytes());
        ext.extend(v.as_bytes());
    }
    h.extend((ext.len() as i32).to_be_bytes());
    h.extend(&ext);
    let mut req = ((4 + h.len()) as u32).to_be_bytes().to_vec();
    req.extend((1u32 << 24 | h.len() as u32).to_be_bytes());
    req.extend(&h);
    let parsed = header(&req[8..], false).unwrap();
    assert_eq!(
        (parsed.code, parsed.opaque, parsed.topic),
        (310, 42, &b"Orders"[..])
    );
    // The answer: code 1 (SYSTEM_ERROR) with a remark.
    let mut r = Vec::new();
    r.extend(1i16.to_be_bytes());
    r.push(0);
    r.extend((V4_9_4 as i16).to_be_bytes());
    r.extend(42i32.to_be_bytes());
    r.extend(1i32.to_be_bytes());
    r.extend(4i32.to_be_bytes());
    r.extend(b"busy");
    r.extend(0i32.to_be_bytes());
    let mut resp = ((4 + r.len()) as u32).to_be_bytes().to_vec();
    resp.extend((1u32 << 24 | r.len() as u32).to_be_bytes());
    resp.extend(&r);
    assert_eq!(RocketMqSession::probe(&req, Transport::Tcp), Probe::Certain);
    let got = rows(&[(true, req), (false, resp)]);
    assert_eq!(
        got,
        vec![row(
            (2, "SEND_MESSAGE_V2"),
            "pg",
            "Orders",
            "Orders-3",
            3,
            Some(1),
            42,
            "busy",
            "|||"
        )]
    );
}

#[test]
fn decoders_and_probe() {
    let conv = conversation();
    let first = &conv[0].1;
    assert_eq!(
        RocketMqSession::probe(first, Transport::Tcp),
        Probe::Certain
    );
    for cut in 1..first.len() {
        assert_eq!(
            RocketMqSession::probe(&first[..cut], Transport::Tcp),
            Probe::Unsure,
            "cut {cut}"
        );
    }
    assert_eq!(
        RocketMqSession::sent_by_client(first, Transport::Tcp),
        Some(true)
    );
    assert_eq!(
        RocketMqSession::sent_by_client(&conv[1].1, Transport::Tcp),
        Some(false)
    );
    for other in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"\x00\x00\x00\x20\x00\x00\x00\x10[not json]......",
        b"\x00\x00\x00\x20\x00\x00\x00\x10{\"a\":1}.........",
    ] {
        assert_eq!(
            RocketMqSession::probe(other, Transport::Tcp),
            Probe::NotForUs
        );
    }
    let (length, len, json) = frame(&conv[9].1).unwrap();
    assert!(json && length as usize + 4 == conv[9].1.len());
    let body = &conv[9].1[8 + len as usize..];
    let props = pulled_properties(body).unwrap();
    assert_eq!(property(props, b"UNIQ_KEY"), Some(UNIQ.as_bytes()));
    assert_eq!(property(props, b"traceparent"), Some(PARENT.as_bytes()));
    assert_eq!(
        pulled_properties(b"not a message at all, long enough?"),
        None
    );
    // A pulled body cut inside its properties gives what it holds.
    let cut = &body[..body.len() / 2 + 40];
    assert!(pulled_properties(cut).is_some());
}

#[test]
fn every_cut_gives_the_same_rows() {
    same_rows_at_every_cut(&conversation(), talk);
}

#[test]
fn frames_together_and_large_bodies() {
    let conv = conversation();
    // The client's requests pipelined in one segment, the answers in another.
    let mut t = talk();
    t.tcp(0.0, true, &[conv[4].1.clone(), conv[6].1.clone()].concat());
    t.tcp(1.0, false, &[conv[5].1.clone(), conv[7].1.clone()].concat());
    // A 200 KB send over many segments, then its answer.
    let mut big = conv[4].1.clone();
    let extra = 200_000usize;
    big.extend(vec![b'x'; extra]);
    let length = u32::from_be_bytes([big[0], big[1], big[2], big[3]]) + extra as u32;
    big[..4].copy_from_slice(&length.to_be_bytes());
    let big = big.replace_opaque(3, 10);
    for (i, chunk) in big.chunks(1448).enumerate() {
        t.tcp(2.0 + i as f64 * 1e-3, true, chunk);
    }
    t.tcp(3.0, false, &response(0, 10, None, r#""queueId":"1""#, b""));
    let got = rows_of(t);
    let kinds: Vec<_> = got.iter().map(|r| (r.1.as_str(), r.5, r.7)).collect();
    assert_eq!(
        kinds,
        [
            ("SEND_MESSAGE_V2", 0, Some(3)),
            ("SEND_MESSAGE_V2", 4, Some(4)),
            ("SEND_MESSAGE_V2", 0, Some(10))
        ]
    );
}

/// Rewrites a JSON frame's `"opaque":N`.
trait ReplaceOpaque {
    fn replace_opaque(&self, from: i32, to: i32) -> Vec<u8>;
}

impl ReplaceOpaque for Vec<u8> {
    fn replace_opaque(&self, from: i32, to: i32) -> Vec<u8> {
        let (a, b) = (format!("\"opaque\":{from},"), format!("\"opaque\":{to},"));
        let at = self
            .windows(a.len())
            .position(|w| w == a.as_bytes())
            .unwrap();
        let mut out = self[..at].to_vec();
        out.extend(b.as_bytes());
        out.extend(&self[at + a.len()..]);
        // The header grew or shrank by the difference.
        let d = b.len() as i64 - a.len() as i64;
        let length = (u32::from_be_bytes([out[0], out[1], out[2], out[3]]) as i64 + d) as u32;
        let header = (u32::from_be_bytes([out[4], out[5], out[6], out[7]]) as i64 + d) as u32;
        out[..4].copy_from_slice(&length.to_be_bytes());
        out[4..8].copy_from_slice(&header.to_be_bytes());
        out
    }
}

#[test]
fn hostile_streams_never_panic() {
    let conv = conversation();
    let seeds: Vec<&[u8]> = conv.iter().map(|(_, m)| &m[..]).collect();
    hostile_talks(&seeds, 3000, 8, talk);
}

#[test]
fn off_unless_enabled_and_its_state_size() {
    let mut t = Talk::with(AnalyzerConfig::default(), 10911);
    for (i, (client, m)) in conversation().iter().enumerate() {
        t.tcp(i as f64, *client, m);
    }
    assert!(t.finish().l7.is_empty());
    assert_eq!(std::mem::size_of::<RocketMqSession>(), 80);
}
