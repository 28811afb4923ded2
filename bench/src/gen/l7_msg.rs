//! Messaging and RPC payloads for generated conversations, encoded as the real clients encode
//! them (checked against Kafka's own codecs, the `kafka-protocol` crate, in this crate's tests):
//! Kafka Produce (v3 classic and v9 flexible, with a v2 record batch carrying a traceparent
//! header, gzip-compressed in one request of four, as a producer with `compression.type=gzip`
//! sends it) and Fetch v12, Dubbo 2 calls in Hessian2, MQTT 3.1.1 packets, NATS protocol lines and
//! AMQP 0-9-1 frames. Each exchange says whether the server answered with an error and whose
//! (`Some(true)` the client's, `Some(false)` the server's).

use super::Rng;

/// CRC-32C (Castagnoli), as Kafka's record batches use.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn zigzag(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let b = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn uvarint(mut v: u32, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// A v2 record batch of one record with a `traceparent` header, its records gzipped when `gzip`.
pub(crate) fn kafka_batch(rng: &mut Rng, value_len: usize, gzip: bool) -> Vec<u8> {
    let mut rec = vec![0u8]; // attributes
    zigzag(0, &mut rec); // timestamp delta
    zigzag(0, &mut rec); // offset delta
    zigzag(-1, &mut rec); // no key
    zigzag(value_len as i64, &mut rec);
    rec.extend((0..value_len).map(|i| b'a' + (i % 26) as u8));
    zigzag(1, &mut rec);
    let (k, v) = (
        "traceparent",
        format!("00-{:032x}-{:016x}-01", rng.next_u64(), rng.next_u64()),
    );
    zigzag(k.len() as i64, &mut rec);
    rec.extend(k.as_bytes());
    zigzag(v.len() as i64, &mut rec);
    rec.extend(v.as_bytes());
    let mut records = Vec::new();
    zigzag(rec.len() as i64, &mut records);
    records.extend(rec);
    if gzip {
        use std::io::Write;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = z.write_all(&records);
        records = z.finish().unwrap_or_default();
    }
    // From attributes on (what the CRC covers).
    let ts = 1_700_000_000_000i64;
    let mut tail = Vec::new();
    tail.extend(i16::from(gzip).to_be_bytes()); // attributes: the codec (1: gzip)
    tail.extend(0i32.to_be_bytes()); // last offset delta
    tail.extend(ts.to_be_bytes());
    tail.extend(ts.to_be_bytes());
    tail.extend((-1i64).to_be_bytes()); // producer id
    tail.extend((-1i16).to_be_bytes()); // producer epoch
    tail.extend((-1i32).to_be_bytes()); // base sequence
    tail.extend(1i32.to_be_bytes()); // records
    tail.extend(records);
    let mut b = 0i64.to_be_bytes().to_vec(); // base offset
    b.extend(((4 + 1 + 4 + tail.len()) as i32).to_be_bytes()); // batch length
    b.extend(0i32.to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend(crc32c(&tail).to_be_bytes());
    b.extend(tail);
    b
}

fn kafka_frame(body: Vec<u8>) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend(body);
    v
}

fn kafka_request_head(key: i16, version: i16, corr: u32, flexible: bool) -> Vec<u8> {
    let mut h = key.to_be_bytes().to_vec();
    h.extend(version.to_be_bytes());
    h.extend(corr.to_be_bytes());
    let client = b"gen-producer";
    h.extend((client.len() as i16).to_be_bytes());
    h.extend(client);
    if flexible {
        h.push(0); // tagged fields
    }
    h
}

fn compact_str(s: &[u8], out: &mut Vec<u8>) {
    uvarint(s.len() as u32 + 1, out);
    out.extend(s);
}

/// A Produce request (v3 or v9) of one record to `topic`/`partition`.
pub(crate) fn kafka_produce(
    rng: &mut Rng,
    version: i16,
    corr: u32,
    topic: &str,
    partition: i32,
) -> Vec<u8> {
    let flex = version >= 9;
    let value_len = rng.range(10, 200) as usize;
    let batch = kafka_batch(rng, value_len, corr % 4 == 0);
    let mut v = kafka_request_head(0, version, corr, flex);
    if flex {
        v.push(0); // transactional id: null
    } else {
        v.extend((-1i16).to_be_bytes());
    }
    v.extend(1i16.to_be_bytes()); // acks
    v.extend(1500i32.to_be_bytes());
    if flex {
        uvarint(2, &mut v);
        compact_str(topic.as_bytes(), &mut v);
        uvarint(2, &mut v);
        v.extend(partition.to_be_bytes());
        uvarint(batch.len() as u32 + 1, &mut v);
        v.extend(batch);
        v.extend([0, 0, 0]); // tagged fields: partition, topic, request
    } else {
        v.extend(1i32.to_be_bytes());
        v.extend((topic.len() as i16).to_be_bytes());
        v.extend(topic.as_bytes());
        v.extend(1i32.to_be_bytes());
        v.extend(partition.to_be_bytes());
        v.extend((batch.len() as i32).to_be_bytes());
        v.extend(batch);
    }
    kafka_frame(v)
}

/// The Produce response: `error` on the partition, else the records' base offset.
pub(crate) fn kafka_produce_response(
    version: i16,
    corr: u32,
    topic: &str,
    partition: i32,
    error: i16,
    offset: i64,
) -> Vec<u8> {
    let flex = version >= 9;
    let mut v = corr.to_be_bytes().to_vec();
    if flex {
        v.push(0);
        uvarint(2, &mut v);
        compact_str(topic.as_bytes(), &mut v);
        uvarint(2, &mut v);
    } else {
        v.extend(1i32.to_be_bytes());
        v.extend((topic.len() as i16).to_be_bytes());
        v.extend(topic.as_bytes());
        v.extend(1i32.to_be_bytes());
    }
    v.extend(partition.to_be_bytes());
    v.extend(error.to_be_bytes());
    v.extend(if error == 0 { offset } else { -1 }.to_be_bytes());
    v.extend((-1i64).to_be_bytes()); // log append time
    if version >= 5 {
        v.extend(0i64.to_be_bytes()); // log start offset
    }
    if version >= 8 {
        if flex {
            uvarint(1, &mut v); // record errors: empty
            v.push(0); // error message: null
        } else {
            v.extend(0i32.to_be_bytes());
            v.extend((-1i16).to_be_bytes());
        }
    }
    if flex {
        v.extend([0, 0]); // tagged fields: partition, topic
    }
    v.extend(0i32.to_be_bytes()); // throttle
    if flex {
        v.push(0);
    }
    kafka_frame(v)
}

/// A Fetch v12 request for `topic`/0 at `offset`, and its (empty) response.
pub(crate) fn kafka_fetch(corr: u32, topic: &str, offset: i64) -> (Vec<u8>, Vec<u8>) {
    let mut q = kafka_request_head(1, 12, corr, true);
    q.extend((-1i32).to_be_bytes()); // replica
    q.extend(500i32.to_be_bytes());
    q.extend(1i32.to_be_bytes());
    q.extend(52_428_800i32.to_be_bytes());
    q.push(0); // isolation
    q.extend(0i32.to_be_bytes()); // session id
    q.extend((-1i32).to_be_bytes()); // session epoch
    uvarint(2, &mut q);
    compact_str(topic.as_bytes(), &mut q);
    uvarint(2, &mut q);
    q.extend(0i32.to_be_bytes());
    q.extend((-1i32).to_be_bytes()); // current leader epoch
    q.extend(offset.to_be_bytes());
    q.extend((-1i32).to_be_bytes()); // last fetched epoch
    q.extend((-1i64).to_be_bytes()); // log start offset
    q.extend(1_048_576i32.to_be_bytes());
    q.push(0); // partition tags
    q.push(0); // topic tags
    uvarint(1, &mut q); // forgotten topics: empty
    compact_str(b"", &mut q); // rack
    q.push(0);
    let mut r = corr.to_be_bytes().to_vec();
    r.push(0);
    r.extend(0i32.to_be_bytes()); // throttle
    r.extend(0i16.to_be_bytes()); // error
    r.extend(0i32.to_be_bytes()); // session id
    uvarint(1, &mut r); // responses: empty
    r.push(0);
    (kafka_frame(q), kafka_frame(r))
}

/// A Kafka exchange with correlation id `corr`: a Produce (v3 or v9; one in eight is refused
/// with UNKNOWN_TOPIC_OR_PARTITION, a server error) or a Fetch.
pub(crate) fn kafka_exchange(rng: &mut Rng, corr: u32) -> (Vec<u8>, Vec<u8>, Option<bool>) {
    let topic = ["orders", "payments", "clicks"][rng.range(0, 2) as usize];
    match rng.range(0, 2) {
        0 => {
            let (q, r) = kafka_fetch(corr, topic, rng.range(0, 1000) as i64);
            (q, r, None)
        }
        n => {
            let version = if n == 1 { 3 } else { 9 };
            let partition = rng.range(0, 7) as i32;
            let refused = rng.range(0, 7) == 0;
            let q = kafka_produce(rng, version, corr, topic, partition);
            let error = if refused { 3 } else { 0 };
            let r = kafka_produce_response(
                version,
                corr,
                topic,
                partition,
                error,
                rng.range(0, 99_999) as i64,
            );
            (q, r, refused.then_some(false))
        }
    }
}

fn hessian_str(s: &str, out: &mut Vec<u8>) {
    let n = s.chars().count();
    if n < 32 {
        out.push(n as u8);
    } else {
        out.push(0x30 + (n >> 8) as u8);
        out.push(n as u8);
    }
    out.extend(s.as_bytes());
}

fn dubbo_msg(flags: u8, status: u8, id: u64, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0xda, 0xbb, flags, status];
    v.extend(id.to_be_bytes());
    v.extend((body.len() as u32).to_be_bytes());
    v.extend(body);
    v
}

/// A Dubbo call (Hessian2, request id `id`) and its response: one in six fails with
/// SERVICE_ERROR (70), a server error.
pub(crate) fn dubbo_exchange(rng: &mut Rng, id: u64) -> (Vec<u8>, Vec<u8>, Option<bool>) {
    let (service, method) = [
        ("com.shop.UserService", "login"),
        ("com.shop.ItemService", "findItem"),
        ("com.shop.OrderService", "place"),
    ][rng.range(0, 2) as usize];
    let mut b = Vec::new();
    for s in ["2.0.2", service, "1.0.0", method, "Ljava/lang/String;"] {
        hessian_str(s, &mut b);
    }
    hessian_str(&format!("arg-{}", rng.range(1, 9999)), &mut b);
    b.push(b'H');
    hessian_str("path", &mut b);
    hessian_str(service, &mut b);
    hessian_str("traceparent", &mut b);
    hessian_str(
        &format!("00-{:032x}-{:016x}-01", rng.next_u64(), rng.next_u64()),
        &mut b,
    );
    b.push(b'Z');
    let q = dubbo_msg(0xc2, 0, id, &b);
    if rng.range(0, 5) == 0 {
        let mut e = vec![b'S', 0, 21];
        e.extend(b"service error: denied");
        (q, dubbo_msg(0x02, 70, id, &e), Some(false))
    } else {
        let mut r = vec![0x91]; // RESPONSE_VALUE
        hessian_str("ok", &mut r);
        (q, dubbo_msg(0x02, 20, id, &r), None)
    }
}

fn mqtt_packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![first];
    let mut n = body.len();
    loop {
        let b = (n % 128) as u8;
        n /= 128;
        v.push(if n > 0 { b | 0x80 } else { b });
        if n == 0 {
            break;
        }
    }
    v.extend(body);
    v
}

fn mqtt_str(s: &str, out: &mut Vec<u8>) {
    out.extend((s.len() as u16).to_be_bytes());
    out.extend(s.as_bytes());
}

/// MQTT 3.1.1 CONNECT for `client` and its CONNACK (one in eight refused: not authorized, a
/// client error).
pub(crate) fn mqtt_connect(rng: &mut Rng, client: &str) -> (Vec<u8>, Vec<u8>, Option<bool>) {
    let mut b = Vec::new();
    mqtt_str("MQTT", &mut b);
    b.extend([4, 0x02, 0, 60]);
    mqtt_str(client, &mut b);
    let refused = rng.range(0, 7) == 0;
    let ack = mqtt_packet(0x20, &[0, if refused { 5 } else { 0 }]);
    (mqtt_packet(0x10, &b), ack, refused.then_some(true))
}

/// An MQTT exchange on packet id `id`: SUBSCRIBE/SUBACK, a QoS 1 PUBLISH/PUBACK or
/// PINGREQ/PINGRESP.
pub(crate) fn mqtt_exchange(rng: &mut Rng, id: u16) -> (Vec<u8>, Vec<u8>, Option<bool>) {
    let topic = ["sensors/t1", "sensors/t2", "alerts"][rng.range(0, 2) as usize];
    match rng.range(0, 2) {
        0 => {
            let mut b = id.to_be_bytes().to_vec();
            mqtt_str(topic, &mut b);
            b.push(1);
            let ack = mqtt_packet(0x90, &[(id >> 8) as u8, id as u8, 1]);
            (mqtt_packet(0x82, &b), ack, None)
        }
        1 => {
            let mut b = Vec::new();
            mqtt_str(topic, &mut b);
            b.extend(id.to_be_bytes());
            b.extend(format!("{{\"v\":{}}}", rng.range(0, 999)).as_bytes());
            let ack = mqtt_packet(0x40, &id.to_be_bytes());
            (mqtt_packet(0x32, &b), ack, None)
        }
        _ => (vec![0xc0, 0], vec![0xd0, 0], None),
    }
}

/// A QoS 0 PUBLISH (no answer).
pub(crate) fn mqtt_publish_q0(rng: &mut Rng) -> Vec<u8> {
    let mut b = Vec::new();
    mqtt_str("metrics/load", &mut b);
    b.extend(format!("{}", rng.range(0, 100)).as_bytes());
    mqtt_packet(0x30, &b)
}

/// The NATS server's greeting.
pub(crate) fn nats_info() -> Vec<u8> {
    b"INFO {\"server_id\":\"NGEN\",\"server_name\":\"gen-nats\",\"version\":\"2.9.10\",\"headers\":true,\"max_payload\":1048576}\r\n".to_vec()
}

/// A verbose CONNECT and its +OK.
pub(crate) fn nats_connect() -> (Vec<u8>, Vec<u8>, Option<bool>) {
    (
        b"CONNECT {\"verbose\":true,\"pedantic\":false,\"lang\":\"gen\",\"headers\":true}\r\n"
            .to_vec(),
        b"+OK\r\n".to_vec(),
        None,
    )
}

/// A NATS exchange in verbose mode: PUB answered by +OK (one in eight by -ERR for its subject,
/// a client error), or PING/PONG.
pub(crate) fn nats_exchange(rng: &mut Rng) -> (Vec<u8>, Vec<u8>, Option<bool>) {
    if rng.range(0, 3) == 0 {
        return (b"PING\r\n".to_vec(), b"PONG\r\n".to_vec(), None);
    }
    let subject = ["orders.new", "orders.paid", "audit"][rng.range(0, 2) as usize];
    let payload = format!("{{\"id\":{}}}", rng.range(1, 99_999));
    let q = format!("PUB {subject} {}\r\n{payload}\r\n", payload.len()).into_bytes();
    if rng.range(0, 7) == 0 {
        let e = b"-ERR 'Permissions Violation for Publish'\r\n".to_vec();
        (q, e, Some(true))
    } else {
        (q, b"+OK\r\n".to_vec(), None)
    }
}

fn amqp_frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend(channel.to_be_bytes());
    v.extend((payload.len() as u32).to_be_bytes());
    v.extend(payload);
    v.push(0xce);
    v
}

fn amqp_method(channel: u16, class: u16, method: u16, args: &[u8]) -> Vec<u8> {
    let mut p = class.to_be_bytes().to_vec();
    p.extend(method.to_be_bytes());
    p.extend(args);
    amqp_frame(1, channel, &p)
}

fn short(s: &str, out: &mut Vec<u8>) {
    out.push(s.len() as u8);
    out.extend(s.as_bytes());
}

/// (sent by the client?, request, reply).
pub(crate) type AmqpPair = (bool, Vec<u8>, Vec<u8>);

/// The AMQP connection start: the protocol header, then (server request, client reply) pairs:
/// Connection.Start/StartOk, Tune/TuneOk, and the client's Open/OpenOk and Channel.Open/OpenOk.
pub(crate) fn amqp_open() -> (Vec<u8>, [AmqpPair; 4]) {
    let mut start = vec![0, 9, 0, 0, 0, 0];
    start.extend(5u32.to_be_bytes());
    start.extend(b"PLAIN");
    start.extend(5u32.to_be_bytes());
    start.extend(b"en_US");
    let mut start_ok = vec![0, 0, 0, 0];
    short("PLAIN", &mut start_ok);
    start_ok.extend(12u32.to_be_bytes());
    start_ok.extend(b"\0guest\0gues");
    short("en_US", &mut start_ok);
    let tune = [0u8, 0x07, 0, 2, 0, 0, 0, 0x3c];
    let mut open = Vec::new();
    short("/", &mut open);
    open.extend([0, 0]);
    (
        b"AMQP\x00\x00\x09\x01".to_vec(),
        [
            (
                false,
                amqp_method(0, 10, 10, &start),
                amqp_method(0, 10, 11, &start_ok),
            ),
            (
                false,
                amqp_method(0, 10, 30, &tune),
                amqp_method(0, 10, 31, &tune),
            ),
            (
                true,
                amqp_method(0, 10, 40, &open),
                amqp_method(0, 10, 41, &[0]),
            ),
            (
                true,
                amqp_method(1, 20, 10, &[0]),
                amqp_method(1, 20, 11, &[0, 0, 0, 0]),
            ),
        ],
    )
}

/// An AMQP exchange on channel 1: Queue.Declare/DeclareOk or Basic.Get/GetOk (with content).
pub(crate) fn amqp_exchange(rng: &mut Rng) -> (Vec<u8>, Vec<u8>, Option<bool>) {
    let queue = ["jobs", "events", "mail"][rng.range(0, 2) as usize];
    if rng.range(0, 1) == 0 {
        let mut a = vec![0, 0];
        short(queue, &mut a);
        a.extend([0x02, 0, 0, 0, 0]); // durable, empty arguments
        let mut ok = Vec::new();
        short(queue, &mut ok);
        ok.extend(0u32.to_be_bytes());
        ok.extend(0u32.to_be_bytes());
        (
            amqp_method(1, 50, 10, &a),
            amqp_method(1, 50, 11, &ok),
            None,
        )
    } else {
        let mut a = vec![0, 0];
        short(queue, &mut a);
        a.push(0);
        let mut ok = 1u64.to_be_bytes().to_vec();
        ok.push(0);
        short("", &mut ok);
        short(queue, &mut ok);
        ok.extend(0u32.to_be_bytes());
        let body = format!("job-{}", rng.range(1, 9999));
        let mut header = vec![0, 60, 0, 0];
        header.extend((body.len() as u64).to_be_bytes());
        header.extend([0, 0]);
        let mut r = amqp_method(1, 60, 71, &ok);
        r.extend(amqp_frame(2, 1, &header));
        r.extend(amqp_frame(3, 1, body.as_bytes()));
        (amqp_method(1, 60, 70, &a), r, None)
    }
}

/// A Basic.Publish with its content (no answer).
pub(crate) fn amqp_publish(rng: &mut Rng) -> Vec<u8> {
    let mut a = vec![0, 0];
    short("amq.direct", &mut a);
    short("jobs", &mut a);
    a.push(0);
    let body = format!("job-{}", rng.range(1, 9999));
    let mut header = vec![0, 60, 0, 0];
    header.extend((body.len() as u64).to_be_bytes());
    header.extend([0, 0]);
    let mut v = amqp_method(1, 60, 40, &a);
    v.extend(amqp_frame(2, 1, &header));
    v.extend(amqp_frame(3, 1, body.as_bytes()));
    v
}

/// A ZMTP 3.1 greeting with the NULL mechanism.
pub(crate) fn zmtp_greeting() -> Vec<u8> {
    let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    g.extend_from_slice(b"NULL");
    g.resize(64, 0);
    g
}

/// A ZMTP frame: flags (MORE 0x01, COMMAND 0x04; LONG is added for bodies over 255 bytes).
fn zmtp_frame(flags: u8, body: &[u8]) -> Vec<u8> {
    let mut f = if body.len() > 255 {
        let mut f = vec![flags | 0x02];
        f.extend_from_slice(&(body.len() as u64).to_be_bytes());
        f
    } else {
        vec![flags, body.len() as u8]
    };
    f.extend_from_slice(body);
    f
}

/// A READY command announcing the socket type (`REQ`, `REP`, ...).
pub(crate) fn zmtp_ready(socket_type: &[u8]) -> Vec<u8> {
    let mut body = b"\x05READY\x0bSocket-Type".to_vec();
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type);
    zmtp_frame(0x04, &body)
}

/// A REQ request and the REP reply: each the empty delimiter and a body (some over 255 bytes).
pub(crate) fn zmtp_exchange(rng: &mut Rng) -> (Vec<u8>, Vec<u8>, Option<bool>) {
    let message = |len: usize| {
        let mut m = zmtp_frame(0x01, b"");
        let body: Vec<u8> = (0..len).map(|k| b'a' + (k % 26) as u8).collect();
        m.extend_from_slice(&zmtp_frame(0x00, &body));
        m
    };
    let q = message(rng.range(1, 600) as usize);
    let r = message(rng.range(1, 4000) as usize);
    (q, r, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use kafka_protocol::messages::{
        ApiKey, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, RequestHeader,
        ResponseHeader,
    };
    use kafka_protocol::protocol::Decodable;
    use kafka_protocol::records::RecordBatchDecoder;

    /// Kafka's own codecs read what the generator writes, every field as written.
    #[test]
    fn kafka_messages_decode_with_kafkas_codecs() {
        let mut rng = Rng::new(7);
        for version in [3i16, 9] {
            let q = kafka_produce(&mut rng, version, 42, "orders", 5);
            let mut b = Bytes::from(q[4..].to_vec());
            let h = RequestHeader::decode(&mut b, ApiKey::Produce.request_header_version(version))
                .expect("header");
            assert_eq!((h.request_api_version, h.correlation_id), (version, 42));
            let p = ProduceRequest::decode(&mut b, version).expect("produce");
            assert!(b.is_empty(), "v{version}: trailing bytes");
            let t = &p.topic_data[0];
            assert_eq!(t.name.0.as_str(), "orders");
            let mut records = t.partition_data[0].records.clone().expect("records");
            let recs = RecordBatchDecoder::decode(&mut records).expect("batch");
            let hdr = recs.records[0].headers.keys().next().expect("header");
            assert_eq!(hdr.as_str(), "traceparent");
            // One request of four is gzipped (by its correlation id).
            let q = kafka_produce(&mut rng, version, 44, "orders", 5);
            let mut b = Bytes::from(q[4..].to_vec());
            RequestHeader::decode(&mut b, ApiKey::Produce.request_header_version(version))
                .expect("header");
            let p = ProduceRequest::decode(&mut b, version).expect("gzipped produce");
            let mut records = p.topic_data[0].partition_data[0].records.clone().unwrap();
            let recs = RecordBatchDecoder::decode(&mut records).expect("gzipped batch");
            assert_eq!(
                recs.records[0].headers.keys().next().unwrap().as_str(),
                "traceparent"
            );
            let r = kafka_produce_response(version, 42, "orders", 5, 0, 77);
            let mut b = Bytes::from(r[4..].to_vec());
            ResponseHeader::decode(&mut b, ApiKey::Produce.response_header_version(version))
                .expect("response header");
            let p = ProduceResponse::decode(&mut b, version).expect("produce response");
            assert!(b.is_empty(), "v{version}: trailing response bytes");
            assert_eq!(p.responses[0].partition_responses[0].base_offset, 77);
        }
        let (q, r) = kafka_fetch(9, "clicks", 36);
        let mut b = Bytes::from(q[4..].to_vec());
        RequestHeader::decode(&mut b, 2).expect("header");
        let f = FetchRequest::decode(&mut b, 12).expect("fetch");
        assert!(b.is_empty());
        assert_eq!(f.topics[0].partitions[0].fetch_offset, 36);
        let mut b = Bytes::from(r[4..].to_vec());
        ResponseHeader::decode(&mut b, 1).expect("header");
        FetchResponse::decode(&mut b, 12).expect("fetch response");
        assert!(b.is_empty());
    }
}
