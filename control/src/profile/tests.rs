use std::io::Write;

use prost::Message;

use super::*;
use crate::rpc::pprof as pb;

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// A pyspy-like CPU profile: `cpu` in nanoseconds, main -> burn, a `region` label.
fn pyspy() -> Vec<u8> {
    let strings = ["", "cpu", "nanoseconds", "burn", "<module>", "region", "eu"];
    pb::Profile {
        sample_type: vec![pb::ValueType { r#type: 1, unit: 2 }],
        sample: vec![pb::Sample {
            location_id: vec![1, 2],
            value: vec![990_000_000],
            label: vec![pb::Label {
                key: 5,
                str: 6,
                ..Default::default()
            }],
        }],
        location: vec![
            pb::Location {
                id: 1,
                line: vec![pb::Line {
                    function_id: 1,
                    line: 7,
                }],
                ..Default::default()
            },
            pb::Location {
                id: 2,
                line: vec![pb::Line {
                    function_id: 2,
                    line: 9,
                }],
                ..Default::default()
            },
        ],
        function: vec![
            pb::Function {
                id: 1,
                name: 3,
                ..Default::default()
            },
            pb::Function {
                id: 2,
                name: 4,
                ..Default::default()
            },
        ],
        string_table: strings.iter().map(|s| s.to_string()).collect(),
        time_nanos: 1_796_682_400_000_000_000,
        duration_nanos: 10_000_000_000,
        period_type: Some(pb::ValueType { r#type: 1, unit: 2 }),
        period: 10_000_000,
        ..Default::default()
    }
    .encode_to_vec()
}

fn ingest(name: &str, format: &str, data: Vec<u8>) -> metric::Profile {
    metric::Profile {
        ip: vec![10, 0, 0, 7],
        name: name.into(),
        from: 1_796_682_400,
        until: 1_796_682_410,
        sample_rate: 100,
        spy_name: "pyspy".into(),
        format: format.into(),
        content_type: b"binary/octet-stream".to_vec(),
        data,
        ..Default::default()
    }
}

#[test]
fn a_pprof_profile_is_a_row_per_stack_with_its_tags() {
    for data in [pyspy(), gzip(&pyspy())] {
        let d = decode(
            3,
            &ingest("tapflow.demo{env=test}", "pprof", data),
            7,
            &mut Budget::default(),
        )
        .unwrap();
        assert!(!d.malformed && !d.unsupported);
        assert_eq!(d.rows.len(), 1);
        let r = &d.rows[0];
        assert_eq!(r.app_service, "tapflow.demo");
        assert_eq!(r.location, "<module>;burn");
        assert_eq!((r.value, r.unit.as_str()), (990_000_000, "nanoseconds"));
        assert_eq!(r.event_type, "cpu");
        assert_eq!(r.language, "python");
        assert_eq!(
            (r.time, r.create_us, r.in_us),
            (1_796_682_400, 1_796_682_400_000_000, 7)
        );
        assert_eq!(r.ip, Some("10.0.0.7".parse().unwrap()));
        let tags: Vec<_> = r.tag_names.iter().zip(&r.tag_values).collect();
        assert!(tags.contains(&(&"env".to_string(), &"test".to_string())));
        assert!(tags.contains(&(&"region".to_string(), &"eu".to_string())));
        assert!(tags.contains(&(&"app_service".to_string(), &"tapflow.demo".to_string())));
        assert_eq!(r.to_json()["tags"]["region"], "eu");
    }
}

#[test]
fn a_form_posted_pprof_is_read_from_its_profile_part() {
    let mut body =
        b"--b0\r\nContent-Disposition: form-data; name=\"profile\"; filename=\"p\"\r\n\r\n"
            .to_vec();
    body.extend(gzip(&pyspy()));
    body.extend_from_slice(b"\r\n--b0--\r\n");
    let mut p = ingest("svc", "", body);
    p.content_type = b"multipart/form-data; boundary=b0".to_vec();
    p.from = 0;
    let d = decode(1, &p, 0, &mut Budget::default()).unwrap();
    assert_eq!(d.rows.len(), 1);
    // No `from` in the query: the profile's own time.
    assert_eq!(
        (d.rows[0].time, d.rows[0].until),
        (1_796_682_400, 1_796_682_410)
    );
}

#[test]
fn collapsed_text_takes_its_event_from_the_name() {
    let p = ingest(
        "shop.alloc_objects%7Bpod%3Dweb-1%7D",
        "folded",
        b"main;alloc 40\nmain 2\n".to_vec(),
    );
    let d = decode(1, &p, 0, &mut Budget::default()).unwrap();
    let got: Vec<_> = d
        .rows
        .iter()
        .map(|r| {
            (
                r.app_service.as_str(),
                r.event_type.as_str(),
                r.location.as_str(),
                r.value,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("shop", "alloc_objects", "main", 2),
            ("shop", "alloc_objects", "main;alloc", 40)
        ]
    );
    assert_eq!(d.rows[0].tag_values[0], "web-1");
}

#[test]
fn zstd_data_ebpf_lines_and_what_is_not_read() {
    let mut p = ingest(
        "svc",
        "folded",
        zstd::encode_all(&b"a;b 5\n"[..], 1).unwrap(),
    );
    p.data_compressed = true;
    let d = decode(1, &p, 0, &mut Budget::default()).unwrap();
    assert_eq!(d.rows[0].value, 5);
    p.data = b"not zstd".to_vec();
    assert!(decode(1, &p, 0, &mut Budget::default()).unwrap().malformed);

    let e = metric::Profile {
        event_type: metric::ProfileEventType::EbpfOnCpu as i32,
        process_name: "nginx\0".into(),
        timestamp: 1_700_000_000_123_456_789,
        wide_count: 250,
        pid: 42,
        data: b"main;ngx_process_events".to_vec(),
        ..Default::default()
    };
    let d = decode(1, &e, 0, &mut Budget::default()).unwrap();
    let r = &d.rows[0];
    assert_eq!(
        (
            r.app_service.as_str(),
            r.event_type.as_str(),
            r.value,
            r.process_id
        ),
        ("nginx", "on-cpu", 250, 42)
    );
    assert_eq!(
        (r.time, r.create_us),
        (1_700_000_000, 1_700_000_000_123_456)
    );

    assert!(
        decode(1, &ingest("t", "trie", vec![1]), 0, &mut Budget::default())
            .unwrap()
            .unsupported
    );
    assert!(
        decode(1, &ingest("j", "jfr", vec![1]), 0, &mut Budget::default())
            .unwrap()
            .malformed
    );
    assert!(
        decode(
            1,
            &ingest("j", "pprof", b"junk".to_vec()),
            0,
            &mut Budget::default()
        )
        .unwrap()
        .malformed
    );
}

#[test]
fn a_bomb_is_the_frames_error_and_stacks_are_bounded() {
    let big = gzip(&vec![0u8; (9 << 20) as usize]);
    let r = decode(1, &ingest("x", "pprof", big), 0, &mut Budget::default());
    assert!(matches!(r, Err(FrameError::Decompress(_))));
    let mut text = String::new();
    for i in 0..MAX_STACKS + 5 {
        text.push_str(&format!("f{i} 1\n"));
    }
    let d = decode(
        1,
        &ingest("x", "folded", text.into_bytes()),
        0,
        &mut Budget::default(),
    )
    .unwrap();
    assert_eq!((d.rows.len(), d.dropped_stacks), (MAX_STACKS, 5));
}

#[test]
fn keys_parse_as_pyroscope_writes_them() {
    assert_eq!(
        parse_key("app.cpu{a=1,b=x y}"),
        (
            "app".to_string(),
            Some("cpu"),
            vec![("a".into(), "1".into()), ("b".into(), "x y".into())]
        )
    );
    assert_eq!(parse_key("my.app"), ("my.app".to_string(), None, vec![]));
    // Not a key: the name whole.
    assert_eq!(parse_key("odd{x}"), ("odd{x}".to_string(), None, vec![]));
    assert_eq!(parse_key("a%ZZ%4"), ("a%ZZ%4".to_string(), None, vec![]));
}
