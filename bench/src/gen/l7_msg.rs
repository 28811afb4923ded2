//! Messaging and RPC payloads for generated conversations, encoded as the real clients encode
//! them (checked against Kafka's own codecs, the `kafka-protocol` crate, in this crate's tests):
//! Kafka Produce (v3 classic and v9 flexible, with a v2 record batch carrying a traceparent
//! header) and Fetch v12, and Dubbo 2 calls in Hessian2. Each exchange says whether the server
//! answered with an error and whose (`Some(false)`: the server's).

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

/// A v2 record batch of one record with a `traceparent` header.
pub(crate) fn kafka_batch(rng: &mut Rng, value_len: usize) -> Vec<u8> {
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
    // From attributes on (what the CRC covers).
    let ts = 1_700_000_000_000i64;
    let mut tail = Vec::new();
    tail.extend(0i16.to_be_bytes()); // attributes
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
    let batch = kafka_batch(rng, value_len);
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
