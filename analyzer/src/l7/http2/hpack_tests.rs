use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn run(d: &mut Decoder, block: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    d.decode(&hex(block), |f| {
        out.push((
            String::from_utf8_lossy(f.name).into_owned(),
            String::from_utf8_lossy(f.value).into_owned(),
        ))
    })
    .expect("block decodes");
    out
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// RFC 7541 C.3 (literals) and C.4 (Huffman): three requests sharing the dynamic table.
#[test]
fn rfc_request_examples() {
    for blocks in [
        [
            "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            "8286 84be 5808 6e6f 2d63 6163 6865",
            "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        ],
        [
            "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
            "8286 84be 5886 a8eb 1064 9cbf",
            "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        ],
    ] {
        let mut d = Decoder::default();
        let base = [
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
        ];
        assert_eq!(run(&mut d, blocks[0]), pairs(&base));
        assert_eq!(d.size, 57);
        let mut second = base.to_vec();
        second.push(("cache-control", "no-cache"));
        assert_eq!(run(&mut d, blocks[1]), pairs(&second));
        assert_eq!(d.size, 110);
        assert_eq!(
            run(&mut d, blocks[2]),
            pairs(&[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value"),
            ])
        );
        assert_eq!((d.size, d.len), (164, 3));
    }
}

/// A cleared decoder (a reused connection state) decodes as a new one: the last connection's
/// entries, limit and lost sync are gone, though its bytes are still in the arrays.
#[test]
fn a_cleared_decoder_is_a_new_connections_decoder() {
    let blocks = [
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
    ];
    let mut fresh = Decoder::default();
    let want: Vec<_> = blocks.iter().map(|b| run(&mut fresh, b)).collect();

    let mut d = Decoder::default();
    d.set_limit(256);
    run(&mut d, blocks[0]);
    run(&mut d, blocks[1]);
    d.joined_mid_connection();
    assert!(d.len > 0 && !d.is_synced());
    d.clear();
    assert!(d.is_synced());
    // Index 62 (the newest dynamic entry) refers to nothing on a new connection.
    let mut fields = 0;
    let r = d.decode(&hex("be"), |_| fields += 1);
    assert_eq!(
        (r, fields),
        (Ok(Decoded { complete: false }), 0),
        "no entry survives"
    );
    d.clear();
    let got: Vec<_> = blocks.iter().map(|b| run(&mut d, b)).collect();
    assert_eq!(got, want);
    assert_eq!(
        (d.size, d.len, d.max_size),
        (fresh.size, fresh.len, fresh.max_size)
    );
}

/// RFC 7541 C.5: responses with a 256-byte table, so entries are evicted.
#[test]
fn rfc_response_examples_with_eviction() {
    let mut d = Decoder::default();
    d.set_limit(256);
    let date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
    let first = run(
        &mut d,
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 \
         303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    );
    assert_eq!(
        first,
        pairs(&[
            (":status", "302"),
            ("cache-control", "private"),
            ("date", date1),
            ("location", "https://www.example.com"),
        ])
    );
    assert_eq!(d.size, 222);
    assert_eq!(run(&mut d, "4803 3330 37c1 c0bf")[0].1, "307");
    assert_eq!((d.size, d.len), (222, 4));
    let third = run(
        &mut d,
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 \
         5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 \
         5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
    );
    assert_eq!(
        third[5].1,
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
    );
    assert_eq!(third[3].1, "https://www.example.com");
    assert_eq!((d.size, d.len), (215, 3));
}

#[test]
fn errors_unsync_and_hostile_input_is_bounded() {
    let mut d = Decoder::default();
    // Index 70 with an empty dynamic table: a connection joined mid-stream. The field is left
    // out, the rest of the block decodes, and later blocks still decode what they can.
    let mut seen = vec![];
    let r = d.decode(&[0x80 | 70, 0x83], |f| seen.push(f.value.to_vec()));
    assert_eq!(r, Ok(Decoded { complete: false }));
    assert_eq!(seen, [b"POST".to_vec()]);
    assert!(!d.is_synced());
    assert_eq!(d.decode(&[0x82], |_| {}), Ok(Decoded { complete: true }));
    assert_eq!(d.decode(&[0x80], |_| {}), Err(HpackError::BadIndex));
    let mut d = Decoder::default();
    assert_eq!(
        d.decode(&[0x3f, 0xe1, 0x7f], |_| {}),
        Err(HpackError::TableSize)
    );
    let mut d = Decoder::default();
    assert_eq!(
        d.decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], |_| {}),
        Err(HpackError::IntegerOverflow)
    );
    // A long literal value is cut for reporting but accounted in full.
    let mut d = Decoder::default();
    let mut block = vec![0x40, 3, b'a', b'b', b'c', 0x7f, 0xd1, 0x0e];
    block.extend(std::iter::repeat_n(b'v', 2000));
    let mut seen = 0;
    d.decode(&block, |f| seen = f.value.len()).unwrap();
    assert_eq!((seen, d.size), (MAX_VALUE, 3 + 2000 + 32));
    assert_eq!(run(&mut d, "be")[0].1.len(), MAX_VALUE);
    // Random blocks never panic, whatever they do to the table.
    let mut x = 0x9e37_79b9u32;
    for _ in 0..2000 {
        let mut d = Decoder::default();
        let block: Vec<u8> = (0..64)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let _ = d.decode(&block, |_| {});
    }
}

/// Many inserts: the byte store compacts and entries stay readable.
#[test]
fn store_compaction_keeps_entries_right() {
    let mut d = Decoder::default();
    for i in 0..500u32 {
        let v = format!("value-{i:04}-{}", "x".repeat((i % 90) as usize));
        let mut block = vec![0x40, 4, b'n', b'a', b'm', b'e', v.len() as u8];
        block.extend_from_slice(v.as_bytes());
        d.decode(&block, |_| {}).unwrap();
        assert_eq!(run(&mut d, "be")[0].1, v, "newest entry after insert {i}");
    }
    assert!(d.size <= MAX_TABLE_SIZE);
}
