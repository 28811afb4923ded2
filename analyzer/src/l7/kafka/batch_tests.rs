//! Record batches through [`super::batch`] and the whole analyzer: the first record's headers,
//! uncompressed and in every codec Kafka's own encoder writes (the `kafka-protocol` crate), Java's
//! xerial-framed snappy, batches cut anywhere and batches that do not decompress.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::records::Compression;

use super::batch::{is_compressed, record_header, records, Records};
use super::tests::{
    batch, batch_in, counter, produce, produce_ok, request, response, talk, TRACEPARENT,
};
use crate::l7::decompress::HEAD_MAX;
use crate::l7::decompress_zstd::ZstdHeads;
use crate::l7::talk::s;

#[test]
fn record_header_reads_first_record_only_uncompressed() {
    let b = batch(5, &[("sw8", "1-abc"), ("traceparent", "00-a-b-01")]);
    assert!(!is_compressed(&b));
    assert!(is_compressed(&batch_in(Compression::Lz4, 5, &[])));
    let mut head = [0; HEAD_MAX];
    let Records::Plain(r) = records(&b, &mut head, &mut ZstdHeads::default()) else {
        panic!("plain records");
    };
    assert_eq!(record_header(r, "TRACEPARENT"), Some(&b"00-a-b-01"[..]));
    assert_eq!(record_header(r, "sw8"), Some(&b"1-abc"[..]));
    assert_eq!(record_header(r, "missing"), None);
    for cut in 0..b.len() {
        if let Records::Plain(r) = records(&b[..cut], &mut head, &mut ZstdHeads::default()) {
            let _ = record_header(r, "traceparent");
        }
    }
}

#[test]
fn compressed_batches_are_read_from_their_head() {
    // Kafka's codecs as the kafka-protocol crate writes them (flate2, snap, lz4, zstd).
    for compression in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        for value_len in [0, 40, 3000] {
            let b = batch_in(compression, value_len, &[("traceparent", TRACEPARENT)]);
            let mut head = [0; HEAD_MAX];
            let Records::Decompressed(r) = records(&b, &mut head, &mut ZstdHeads::default()) else {
                panic!("{compression:?} {value_len}: not decompressed");
            };
            assert_eq!(
                record_header(r, "traceparent"),
                Some(TRACEPARENT.as_bytes()),
                "{compression:?} {value_len}"
            );
            // Cut anywhere: the header or nothing, never another value, never a panic.
            for cut in 0..b.len() {
                if let Records::Decompressed(r) =
                    records(&b[..cut], &mut head, &mut ZstdHeads::default())
                {
                    let v = record_header(r, "traceparent");
                    assert!(v.is_none() || v == Some(TRACEPARENT.as_bytes()));
                }
            }
        }
        // A value past the head leaves the header out of reach: no header, no failure.
        let b = batch_in(compression, 8000, &[("traceparent", TRACEPARENT)]);
        let mut head = [0; HEAD_MAX];
        let Records::Decompressed(r) = records(&b, &mut head, &mut ZstdHeads::default()) else {
            panic!("{compression:?}: not decompressed");
        };
        assert_eq!(r.len(), HEAD_MAX);
        assert_eq!(record_header(r, "traceparent"), None);
    }
    // Corrupt data of a whole batch is not read.
    let mut b = batch_in(Compression::Lz4, 40, &[("traceparent", TRACEPARENT)]).to_vec();
    b[61] ^= 0xff;
    assert_eq!(
        records(&b, &mut [0; HEAD_MAX], &mut ZstdHeads::default()),
        Records::Unread
    );
}

#[test]
fn xerial_framed_snappy_is_read() {
    // Kafka's Java client writes snappy in xerial's framing: two blocks of literals here, the
    // record split across them.
    let plain = batch(40, &[("traceparent", TRACEPARENT)]);
    let (head, recs) = plain.split_at(61);
    let mut data = vec![
        0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
    ];
    for part in recs.chunks(50) {
        // A raw snappy block of one literal: the length, then a literal tag (length - 1 in one
        // extra byte).
        let block = [&[part.len() as u8, 60 << 2, part.len() as u8 - 1][..], part].concat();
        data.extend_from_slice(&(block.len() as u32).to_be_bytes());
        data.extend_from_slice(&block);
    }
    let mut b = head.to_vec();
    b[21..23].copy_from_slice(&2i16.to_be_bytes()); // snappy
    b[8..12].copy_from_slice(&((61 - 12 + data.len()) as u32).to_be_bytes());
    b.extend_from_slice(&data);
    let mut out = [0; HEAD_MAX];
    let Records::Decompressed(r) = records(&b, &mut out, &mut ZstdHeads::default()) else {
        panic!("not decompressed");
    };
    assert_eq!(r, recs);
    assert_eq!(
        record_header(r, "traceparent"),
        Some(TRACEPARENT.as_bytes())
    );
}

#[test]
fn compressed_produce_rows_carry_trace_ids() {
    let mut t = talk();
    let mut corr = 0;
    for compression in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        corr += 1;
        let b = batch_in(compression, 100, &[("traceparent", TRACEPARENT)]);
        let at = f64::from(corr) * 10.0;
        t.tcp(at, true, &request(ApiKey::Produce, 9, corr, &produce(1, b)));
        t.tcp(
            at + 1.0,
            false,
            &response(ApiKey::Produce, 9, corr, &produce_ok(0, 7)),
        );
    }
    // A batch whose data does not decompress.
    let mut bad = batch_in(Compression::Zstd, 100, &[("traceparent", TRACEPARENT)]).to_vec();
    bad[61] ^= 0xff;
    t.tcp(
        60.0,
        true,
        &request(ApiKey::Produce, 9, 9, &produce(1, Bytes::from(bad))),
    );
    t.tcp(
        61.0,
        false,
        &response(ApiKey::Produce, 9, 9, &produce_ok(0, 8)),
    );
    assert_eq!(counter(&t, 2), 4, "compressed");
    assert_eq!(counter(&t, 3), 1, "compressed_unread");
    let rows = t.finish().l7;
    assert_eq!(rows.len(), 5);
    for r in &rows[..4] {
        assert_eq!(s(&r.trace_id), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(s(&r.span_id), "b7ad6b7169203331");
    }
    assert_eq!(s(&rows[4].trace_id), "");
}
