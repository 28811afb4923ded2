use super::*;

fn vec16(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn ext(ty: u16, body: &[u8]) -> Vec<u8> {
    let mut v = ty.to_be_bytes().to_vec();
    v.extend(vec16(body));
    v
}

fn record(hs_type: u8, msg: &[u8]) -> Vec<u8> {
    let mut hs = vec![hs_type];
    hs.extend_from_slice(&(msg.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(msg);
    let mut v = vec![22, 3, 1];
    v.extend(vec16(&hs));
    v
}

pub(crate) fn client_hello(sni: &str) -> Vec<u8> {
    let mut m = vec![3, 3];
    m.extend_from_slice(&[7; 32]);
    m.push(32);
    m.extend_from_slice(&[9; 32]);
    m.extend(vec16(&[0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f]));
    m.extend_from_slice(&[1, 0]);
    let mut exts = Vec::new();
    let mut names = vec![0u8];
    names.extend(vec16(sni.as_bytes()));
    exts.extend(ext(EXT_SERVER_NAME, &vec16(&names)));
    exts.extend(ext(0x0a0a, &[])); // GREASE extension
    exts.extend(ext(EXT_ALPN, &vec16(b"\x02h2\x08http/1.1")));
    exts.extend(ext(
        EXT_SUPPORTED_VERSIONS,
        &[6, 0x0a, 0x0a, 0x03, 0x04, 0x03, 0x03],
    ));
    m.extend(vec16(&exts));
    record(HS_CLIENT_HELLO, &m)
}

pub(crate) fn server_hello() -> Vec<u8> {
    let mut m = vec![3, 3];
    m.extend_from_slice(&[5; 32]);
    m.push(0);
    m.extend_from_slice(&[0x13, 0x01, 0]);
    let mut exts = ext(EXT_SUPPORTED_VERSIONS, &[0x03, 0x04]);
    exts.extend(ext(EXT_ALPN, &vec16(b"\x02h2")));
    m.extend(vec16(&exts));
    record(HS_SERVER_HELLO, &m)
}

#[test]
fn client_hello_fields() {
    let h = parse_hello(&client_hello("api.example.com")).expect("client hello");
    assert_eq!(h.kind, HelloKind::Client);
    assert_eq!(h.record_version, 0x0301);
    assert_eq!(h.legacy_version, 0x0303);
    assert_eq!(h.supported_version, Some(0x0304));
    assert_eq!(h.version(), 0x0304);
    assert_eq!(h.sni.expect("sni").as_bytes(), b"api.example.com");
    assert_eq!(h.alpn.expect("alpn").as_bytes(), b"h2");
    assert_eq!(h.cipher_suites_offered, 3);
    assert_eq!(h.cipher_suite, None);
    assert_eq!(probe(&client_hello("x")), Probe::Certain);
}

#[test]
fn server_hello_fields() {
    let h = parse_hello(&server_hello()).expect("server hello");
    assert_eq!(h.kind, HelloKind::Server);
    assert_eq!(h.legacy_version, 0x0303);
    assert_eq!(h.version(), 0x0304);
    assert_eq!(h.cipher_suite, Some(0x1301));
    assert_eq!(h.alpn.expect("alpn").as_bytes(), b"h2");
    assert_eq!(h.sni, None);
}

#[test]
fn every_cut_is_truncated() {
    for full in [client_hello("api.example.com"), server_hello()] {
        for cut in 0..full.len() {
            assert_eq!(
                parse_hello(&full[..cut]),
                Err(TlsError::Truncated),
                "cut {cut}"
            );
            assert_ne!(probe(&full[..cut]), Probe::NotForUs, "cut {cut}");
        }
    }
}

#[test]
fn long_names_are_cut_and_marked() {
    let long = "a".repeat(300);
    let h = parse_hello(&client_hello(&long)).expect("hello");
    let sni = h.sni.expect("sni");
    assert_eq!(sni.as_bytes().len(), MAX_SNI);
    assert!(sni.is_truncated());
}

#[test]
fn hostile_lengths_are_errors() {
    // Extensions block claims more than the message holds.
    let mut h = client_hello("a.b");
    let ext_len_at = 5 + 4 + 2 + 32 + 1 + 32 + 2 + 6 + 2;
    h[ext_len_at] = 0xff;
    assert_eq!(parse_hello(&h), Err(TlsError::BadLength));
    // Handshake longer than its record.
    let mut h = server_hello();
    h[6] = 0x7f;
    assert_eq!(parse_hello(&h), Err(TlsError::BadLength));
    // Application data and alerts are not hellos.
    assert_eq!(parse_hello(&[23, 3, 3, 0, 1, 0]), Err(TlsError::NotHello));
    assert_eq!(probe(&[23, 3, 3, 0, 1, 0]), Probe::NotForUs);
    assert_eq!(probe(b"GET / HTTP/1.1"), Probe::NotForUs);
}

#[test]
fn grease_is_not_a_version() {
    assert!(is_grease(0x0a0a));
    assert!(is_grease(0xfafa));
    assert!(!is_grease(0x0304));
    assert!(!is_grease(0x0a1a));
}

#[test]
fn random_mutations_never_panic() {
    for base in [client_hello("api.example.com"), server_hello()] {
        crate::l7::mutate::mutations(&base, 50_000, 0x1234_5678_9abc_def1, |m| {
            let _ = parse_hello(m);
            let _ = probe(m);
        });
    }
}
