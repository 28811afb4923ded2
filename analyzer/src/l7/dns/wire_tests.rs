use super::*;

fn name_wire(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        v.push(label.len() as u8);
        v.extend_from_slice(label.as_bytes());
    }
    v.push(0);
    v
}

fn header_bytes(id: u16, flags: u16, qd: u16, an: u16) -> Vec<u8> {
    let mut v = Vec::new();
    for w in [id, flags, qd, an, 0, 0] {
        v.extend_from_slice(&w.to_be_bytes());
    }
    v
}

fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut v = header_bytes(id, 0x0100, 1, 0);
    v.extend(name_wire(name));
    v.extend_from_slice(&qtype.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    v
}

/// A response to `www.example.com A`: CNAME to web.example.com (compressed), then two A records
/// and one AAAA, names as pointers.
fn response() -> Vec<u8> {
    let mut v = header_bytes(0x1234, 0x8180, 1, 4);
    v.extend(name_wire("www.example.com")); // at 12
    v.extend_from_slice(&[0, 1, 0, 1]);
    let rr = |v: &mut Vec<u8>, name: &[u8], rtype: u16, rdata: &[u8]| {
        v.extend_from_slice(name);
        v.extend_from_slice(&rtype.to_be_bytes());
        v.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        v.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        v.extend_from_slice(rdata);
    };
    // CNAME www.example.com -> "web" + pointer to "example.com" (offset 16).
    rr(&mut v, &[0xc0, 12], 5, &[3, b'w', b'e', b'b', 0xc0, 16]);
    rr(&mut v, &[0xc0, 12], 1, &[192, 0, 2, 1]);
    rr(&mut v, &[0xc0, 12], 1, &[192, 0, 2, 2]);
    rr(
        &mut v,
        &[0xc0, 12],
        28,
        &[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    );
    v
}

#[test]
fn decodes_a_query() {
    let m = parse_message(&query(7, "www.example.com", 28)).expect("query");
    assert_eq!(m.header.id, 7);
    assert!(!m.header.is_response);
    assert!(m.header.recursion_desired);
    assert_eq!(m.question.name.as_bytes(), b"www.example.com");
    assert_eq!(m.question.qtype, 28);
    assert_eq!(qtype_name(m.question.qtype), Some("AAAA"));
    assert_eq!(m.answers.parsed, 0);
    assert!(m.answers.complete);
    assert_eq!(probe(&query(7, "www.example.com", 28)), Probe::Certain);
}

#[test]
fn decodes_a_compressed_response() {
    let m = parse_message(&response()).expect("response");
    assert!(m.header.is_response);
    assert_eq!(m.header.rcode, 0);
    assert_eq!(m.answers.parsed, 4);
    assert!(m.answers.complete);
    let cname = m.answers.cname.expect("cname");
    assert_eq!(cname.as_bytes(), b"web.example.com");
    let addrs: Vec<IpAddr> = m.answers.addrs().collect();
    assert_eq!(
        addrs,
        vec![
            "192.0.2.1".parse::<IpAddr>().expect("ip"),
            "192.0.2.2".parse().expect("ip"),
            "2001:db8::1".parse().expect("ip"),
        ]
    );
    assert_eq!(response_status(m.header.rcode), ResponseStatus::Ok);
}

#[test]
fn every_cut_is_an_error_or_a_partial_answer_never_a_panic() {
    let full = response();
    let question_end = 12 + name_wire("www.example.com").len() + 4;
    for cut in 0..full.len() {
        match parse_message(&full[..cut]) {
            Err(DnsError::Truncated) => assert!(cut < question_end, "cut {cut}"),
            Ok(m) => {
                assert!(cut >= question_end, "cut {cut}");
                assert!(!m.answers.complete, "cut {cut}");
                assert!(m.answers.parsed < 4);
                assert_eq!(m.question.name.as_bytes(), b"www.example.com");
            }
            Err(e) => panic!("cut {cut}: {e:?}"),
        }
        let p = probe(&full[..cut]);
        assert_eq!(p == Probe::Unsure, cut < question_end, "cut {cut}: {p:?}");
    }
}

#[test]
fn pointer_loops_and_forward_pointers_are_rejected() {
    // Question name is a pointer to itself.
    let mut v = header_bytes(1, 0x0100, 1, 0);
    v.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(parse_message(&v), Err(DnsError::BadPointer));
    // Pointer forward (to the qtype bytes).
    let mut v = header_bytes(1, 0x0100, 1, 0);
    v.extend_from_slice(&[0xc0, 14, 0, 1, 0, 1]);
    assert_eq!(parse_message(&v), Err(DnsError::BadPointer));
    // Two names pointing at each other: the answer's name loops; the question is still returned.
    let mut v = query(1, "a.b", 1);
    v[7] = 1; // ancount
    let at = v.len();
    v.extend_from_slice(&[0xc0, (at + 2) as u8, 0xc0, at as u8]);
    let m = parse_message(&v).expect("question");
    assert!(!m.answers.complete);
}

#[test]
fn long_chains_of_backward_pointers_stop_at_the_jump_limit() {
    // Name at 12: a chain of pointers, each one to the previous, ending in a real name.
    let mut v = header_bytes(1, 0x0100, 1, 0);
    v.extend(name_wire("x")); // 12..15: the real name
    let mut prev = 12u8;
    for _ in 0..40 {
        let here = v.len() as u8;
        v.extend_from_slice(&[0xc0, prev]);
        prev = here;
    }
    // A short valid pointer in an answer's name is followed.
    let mut q = query(1, "x", 1);
    q[7] = 1;
    q.extend_from_slice(&[0xc0, 12]); // answer name: short valid pointer
    q.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 10, 0, 0, 1]);
    let m = parse_message(&q).expect("valid");
    assert_eq!(m.answers.addrs().count(), 1);
    // The chain: 40 jumps are refused, 16 are followed.
    let mut out = Name::EMPTY;
    assert_eq!(
        read_name(&v, usize::from(prev), Some(&mut out)),
        Err(DnsError::BadPointer)
    );
    let short_chain_start = 15 + 2 * (MAX_POINTER_JUMPS - 1);
    let mut out = Name::EMPTY;
    assert!(read_name(&v, short_chain_start, Some(&mut out)).is_ok());
    assert_eq!(out.as_bytes(), b"x");
}

#[test]
fn oversized_names_and_reserved_label_types_are_rejected() {
    let long = ["a".repeat(63).as_str(); 5].join(".");
    assert_eq!(
        parse_message(&query(1, &long, 1)),
        Err(DnsError::NameTooLong)
    );
    let max = [
        "a".repeat(63).as_str(),
        &"b".repeat(63),
        &"c".repeat(63),
        &"d".repeat(61),
    ]
    .join(".");
    let m = parse_message(&query(1, &max, 1)).expect("253 characters is the maximum");
    assert_eq!(m.question.name.as_bytes().len(), 253);
    let mut v = header_bytes(1, 0x0100, 1, 0);
    v.extend_from_slice(&[0x40, 0, 0, 1, 0, 1]);
    assert_eq!(parse_message(&v), Err(DnsError::BadLabelType));
    let mut v = query(1, "a", 1);
    v[5] = 2; // qdcount 2
    assert_eq!(parse_message(&v), Err(DnsError::QuestionCount));
}

#[test]
fn tcp_framing() {
    let q = query(9, "example.org", 1);
    let mut stream = (q.len() as u16).to_be_bytes().to_vec();
    stream.extend_from_slice(&q);
    assert_eq!(tcp_frame(&stream[..1]), Framing::NeedMore { needed: 2 });
    assert_eq!(
        tcp_frame(&stream[..5]),
        Framing::NeedMore {
            needed: 2 + q.len()
        }
    );
    assert_eq!(tcp_frame(&stream), Framing::Complete { len: q.len() });
    let m = parse_message(&stream[2..]).expect("message");
    assert_eq!(m.header.id, 9);
}

#[test]
fn status_follows_deepflow() {
    assert_eq!(response_status(0), ResponseStatus::Ok);
    assert_eq!(response_status(1), ResponseStatus::ClientError);
    assert_eq!(response_status(3), ResponseStatus::ClientError);
    assert_eq!(response_status(2), ResponseStatus::ServerError);
    assert_eq!(response_status(5), ResponseStatus::ServerError);
}

#[test]
fn non_dns_payloads_are_not_taken() {
    assert_eq!(probe(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Probe::NotForUs);
    assert_eq!(probe(&[0x16, 0x03, 0x01, 0x00, 0x05]), Probe::Unsure);
    assert_eq!(probe(&[0u8; 40]), Probe::NotForUs);
}

#[test]
fn random_mutations_never_panic() {
    crate::l7::mutate::mutations(&response(), 200_000, 0x9e37_79b9_7f4a_7c15, |m| {
        let _ = parse_message(m);
        let _ = probe(m);
    });
}
