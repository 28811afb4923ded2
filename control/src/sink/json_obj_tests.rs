//! `json_obj`'s unit tests: text, digits and addresses as std and serde_json write them.

use super::*;

#[test]
fn plain_text_is_printable_ascii_without_quotes_or_backslashes() {
    let naive = |b: &[u8]| {
        b.iter()
            .all(|&c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\')
    };
    for len in 0..70 {
        let text = vec![b'a'; len];
        assert!(plain_text(&text));
        for at in 0..len {
            for bad in [0u8, 0x1f, b'"', b'\\', 0x7f, 0x80, 0xff] {
                let mut t = text.clone();
                t[at] = bad;
                assert_eq!(plain_text(&t), naive(&t), "{len} {at} {bad}");
                assert!(!plain_text(&t));
            }
        }
    }
}

#[test]
fn eight_digits_at_once() {
    // Every value of the first four digits and of the last four (the lanes are
    // independent), and a spread of the rest.
    let check = |x: u32| {
        assert_eq!(
            &digits8(x).to_le_bytes(),
            format!("{x:08}").as_bytes(),
            "{x}"
        );
    };
    for i in 0..10_000 {
        check(i);
        check(i * 10_000);
        check(i * 10_000 + 9_999 - i);
    }
    let mut x = 1u32;
    for _ in 0..100_000 {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        check(x % 100_000_000);
    }
    let mut v = 7u64;
    for _ in 0..100_000 {
        v = v
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        for w in [v, v >> 7, v >> 21, v >> 40, v >> 55] {
            let mut digits = [0; 20];
            let n = decimal(w, &mut digits);
            assert_eq!(std::str::from_utf8(&digits[..n]).unwrap(), w.to_string());
        }
    }
}

#[test]
fn integers_and_addresses_as_std_formats_them() {
    let mut vals = vec![
        0,
        9,
        10,
        11,
        99,
        100,
        101,
        999,
        1000,
        u64::MAX,
        u64::MAX - 1,
    ];
    let mut p = 1u64;
    while let Some(n) = p.checked_mul(10) {
        vals.extend([p - 1, p, p + 1, n / 2 + 7]);
        p = n;
    }
    for v in vals {
        let mut digits = [0; 20];
        let n = decimal(v, &mut digits);
        assert_eq!(std::str::from_utf8(&digits[..n]).unwrap(), v.to_string());
        // The register form: the same digits up to 16 of them, nothing past them.
        match decimal16(v) {
            Some((word, n)) => {
                let bytes = word.to_le_bytes();
                assert_eq!(std::str::from_utf8(&bytes[..n]).unwrap(), v.to_string());
                assert!(bytes[n..].iter().all(|&b| b == 0), "{v}");
            }
            None => assert!(v >= 10_000_000_000_000_000, "{v}"),
        }
    }
    // Every octet value in every position, as std writes the address.
    for o in 0..=255u8 {
        for at in 0..4 {
            let mut octets = [10, 200, 7, 99];
            octets[at] = o;
            let a = std::net::Ipv4Addr::from(octets).to_string();
            let mut out = TextBuf::new();
            render!(&mut out, a.as_str(), ip_member);
            assert_eq!(out.as_bytes(), format!("{{\"a\":\"{a}\"}}").as_bytes());
        }
    }
    for a in ["0.0.0.0", "255.255.255.255", "10.0.100.9", "1.22.133.4"] {
        let mut out = TextBuf::new();
        render!(&mut out, a, ip_member);
        assert_eq!(out.as_bytes(), format!("{{\"a\":\"{a}\"}}").as_bytes());
    }
    let mut out = TextBuf::new();
    render!(&mut out, &(), no_members);
    assert_eq!(out.as_bytes(), b"{}");
    // Longer than the room asked for first: rendered again into room of its length, after
    // the text already there.
    let mut out = TextBuf::with_capacity(16);
    out.extend_from_slice(b"[");
    render!(&mut out, &(), long_members);
    assert_eq!(out.as_bytes()[0], b'[');
    let v: serde_json::Value = serde_json::from_slice(&out.as_bytes()[1..]).expect("valid JSON");
    assert_eq!(v["neg"], i64::MIN);
    assert_eq!(v["minus_one"], -1);
    assert_eq!(v["pos"], i64::MAX);
    assert!(v["none"].is_null());
    assert_eq!(v["m"], u64::MAX);
    assert_eq!(v["long"], "x\"y".repeat(1000));
    assert_eq!(v["plain"], "z".repeat(3000));
    assert_eq!(v["mac"], "01:02:03:04:05:06");
}

fn ip_member(o: &mut Obj<'_>, a: &str) {
    o.ip(key!("a"), a.parse().unwrap());
}

fn no_members(_: &mut Obj<'_>, _: &()) {}

fn long_members(o: &mut Obj<'_>, _: &()) {
    for _ in 0..100 {
        o.u(key!("m"), u64::MAX);
    }
    o.s(key!("long"), &"x\"y".repeat(1000));
    o.s(key!("plain"), &"z".repeat(3000));
    o.mac(key!("mac"), MacAddr([1, 2, 3, 4, 5, 6]));
    o.i(key!("neg"), i64::MIN);
    o.i(key!("minus_one"), -1);
    o.i(key!("pos"), i64::MAX);
    o.null(key!("none"));
}

fn text_members(o: &mut Obj<'_>, text: &str) {
    o.s(key!("s"), text);
    o.u(key!("n"), 12_345_678_901u64);
    o.ip(key!("ip"), "2001:db8::1".parse().unwrap());
    o.mac(key!("mac"), MacAddr([0xde, 0xad, 0xbe, 0xef, 0, 1]));
}

fn text_member(o: &mut Obj<'_>, text: &str) {
    o.s(key!("s"), text);
}

/// Each of `texts` rendered by [`text_members`] into one buffer, a line each; the lines parsed.
fn rendered_lines(texts: &[String]) -> Vec<serde_json::Value> {
    let mut out = TextBuf::new();
    for text in texts {
        render!(&mut out, text.as_str(), text_members);
        out.push(b'\n');
    }
    let lines: Vec<&[u8]> = out.as_bytes().split(|&c| c == b'\n').collect();
    assert_eq!(lines.len(), texts.len() + 1);
    lines[..texts.len()]
        .iter()
        .map(|line| serde_json::from_slice(line).expect("valid JSON"))
        .collect()
}

/// Rows ending at every place around the end of the room asked for first (a member's
/// fixed-size store cut by it, the closing brace past it): each is whole, valid, and the
/// text before it is kept.
#[test]
fn rows_around_the_rooms_end_are_rendered_whole() {
    let expected: Vec<String> = (ROW_ROOM - 140..ROW_ROOM + 20)
        .map(|len| "t".repeat(len))
        .collect();
    for (v, text) in rendered_lines(&expected).iter().zip(&expected) {
        assert_eq!(v["s"], text.as_str());
        assert_eq!(v["n"], 12_345_678_901u64);
        assert_eq!(v["ip"], "2001:db8::1");
        assert_eq!(v["mac"], "de:ad:be:ef:00:01");
    }
    // The same rows one at a time into a fresh buffer: the room's size at the start does
    // not change a row.
    for text in &expected {
        let mut one = TextBuf::with_capacity(8);
        render!(&mut one, text.as_str(), text_member);
        let v: serde_json::Value = serde_json::from_slice(one.as_bytes()).expect("JSON");
        assert_eq!(v["s"], text.as_str());
    }
}

/// The same with text that is escaped (a quote, a control character, non-ASCII) and so is
/// written by `escape_into` into what is left of the room.
#[test]
fn escaped_text_around_the_rooms_end_is_rendered_whole() {
    let expected: Vec<String> = (ROW_ROOM / 2 - 40..ROW_ROOM / 2 + 8)
        .chain(ROW_ROOM - 140..ROW_ROOM + 20)
        .map(|len| format!("\"\u{1}é{}", "t".repeat(len)))
        .collect();
    for (v, text) in rendered_lines(&expected).iter().zip(&expected) {
        assert_eq!(v["s"], text.as_str());
        assert_eq!(v["mac"], "de:ad:be:ef:00:01");
    }
}

#[test]
fn ipv6_addresses_as_std_displays_them() {
    let mut addrs: Vec<std::net::Ipv6Addr> = [
        "::",
        "::1",
        "1::",
        "::ffff:10.0.0.1",
        "::10.0.0.1",
        "64:ff9b::192.0.2.33",
        "2001:db8::1:0:0:1",
        "2001:0:0:1::1",
        "fe80::1:2",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "1:0:2:0:3:0:4:0",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect();
    // Every pattern of zero and non-zero groups, with group values of each digit count.
    let values = [0x1u16, 0xab, 0xf0f, 0xbeef];
    for mask in 0u32..256 {
        let mut g = [0u16; 8];
        for (i, g) in g.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                *g = values[(i + mask as usize) % values.len()];
            }
        }
        addrs.push(std::net::Ipv6Addr::from(g));
    }
    for a in addrs {
        let mut buf = [0u8; 39];
        let n = v6_text(a, &mut buf);
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), a.to_string());
    }
}

#[test]
fn strings_escape_as_serde_json_does() {
    let every: Vec<u8> = (0..=255u8).collect();
    let texts: [&[u8]; 9] = [
        b"plain",
        b"q\"b\\s",
        b"\n\r\t\x08\x0c\x00\x1f\x7f",
        "ünïcödé ✓ 😀".as_bytes(),
        b"</script>",
        b"",
        // Invalid UTF-8: a lone continuation byte, a cut sequence, a surrogate, an overlong.
        b"a\x80b\xe2\x82c\xed\xa0\x80d\xc0\xafe\xf0\x9f\x98",
        &every,
        b"\xff\xfe\"\\\x01",
    ];
    for text in texts {
        let serde = serde_json::to_vec(&String::from_utf8_lossy(text)).unwrap();
        let mut dst = vec![0u8; 6 * text.len() + 2];
        let n = escape_into(text, &mut dst).expect("room for the longest escape");
        assert_eq!(&dst[..n], &serde[..], "{text:?}");
        // One byte short of the text's length: refused, never cut.
        assert_eq!(escape_into(text, &mut dst[..n - 1]), None, "{text:?}");
        assert_eq!(escape_into(text, &mut dst[..n]), Some(n));
    }
}
