//! Redis through the whole analyzer (inference, reassembly, pairing) and the RESP walker alone.

use super::resp::{Event, RespError, Walker};
use super::session::RedisSession;
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_talks, s, Talk};
use crate::l7::{ParserKind, Probe};
use crate::record::l7::{TYPE_REQUEST, TYPE_RESPONSE, TYPE_SESSION};
use crate::AnalyzerConfig;

fn cmd(args: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend(format!("${}\r\n{a}\r\n", a.len()).bytes());
    }
    v
}

fn bulk(v: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", v.len()).into_bytes();
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
    out
}

fn counter(t: &Talk, i: usize) -> u64 {
    t.an.counters().l7.protocol_counter(ParserKind::Redis, i)
}

#[test]
fn probe_and_direction() {
    let t = Transport::Tcp;
    assert_eq!(RedisSession::probe(&cmd(&["GET", "k"]), t), Probe::Certain);
    assert_eq!(RedisSession::probe(b"*2\r\n$3\r\n", t), Probe::Unsure);
    assert_eq!(RedisSession::probe(b"*2", t), Probe::Unsure);
    assert_eq!(
        RedisSession::probe(b"GET / HTTP/1.1\r\n", t),
        Probe::NotForUs
    );
    assert_eq!(
        RedisSession::probe(b"*2\r\n$3\r\n\x00\x01\x02", t),
        Probe::NotForUs
    );
    assert_eq!(RedisSession::probe(b"*x\r\n", t), Probe::NotForUs);
    assert_eq!(RedisSession::probe(b"+OK\r\n", t), Probe::NotForUs);
    assert_eq!(RedisSession::probe(b"PING\r\n", t), Probe::Certain);
    assert_eq!(RedisSession::probe(b"SET k v\r\n", t), Probe::Certain);
    assert_eq!(
        RedisSession::probe(b"set k 0 0 3\r\n", t),
        Probe::NotForUs,
        "memcached's"
    );
    assert_eq!(RedisSession::probe(b"PING", t), Probe::NotForUs);
    assert_eq!(
        RedisSession::probe(b"USER anonymous\r\n", t),
        Probe::NotForUs
    );
    const { assert!(!RedisSession::DESC.udp, "never probed on UDP") };
    assert_eq!(RedisSession::sent_by_client(b"*1\r\n", t), Some(true));
    assert_eq!(RedisSession::sent_by_client(b"+OK\r\n", t), Some(false));
    assert_eq!(RedisSession::sent_by_client(b"PING\r\n", t), Some(true));
}

#[test]
fn commands_pair_in_order_with_rrt_and_obfuscation() {
    let mut t = Talk::new(6379);
    t.tcp(0.0, true, &cmd(&["SET", "user:1", "secret"]));
    t.tcp(0.3, false, b"+OK\r\n");
    t.tcp(1.0, true, &cmd(&["GET", "user:1"]));
    t.tcp(1.5, false, &bulk(b"secret"));
    t.tcp(2.0, true, &cmd(&["HGET", "h"]));
    t.tcp(
        2.2,
        false,
        b"-ERR wrong number of arguments for 'hget' command\r\n",
    );
    let out = t.finish();
    assert_eq!(out.l7.len(), 3);
    let r = &out.l7[0];
    assert_eq!((r.l7_protocol, r.l7_protocol_str), (80, "Redis"));
    assert_eq!(
        (s(&r.request_type), s(&r.request_resource)),
        ("SET", "SET user:1 ?")
    );
    assert_eq!(
        (r.row_type, r.response_status, r.response_duration),
        (TYPE_SESSION, 0, 300)
    );
    assert_eq!(r.captured_request_byte, 37);
    assert_eq!(s(&out.l7[1].request_resource), "GET user:1");
    assert_eq!(out.l7[1].captured_response_byte, 12);
    let e = &out.l7[2];
    assert_eq!(e.response_status, 3, "server error");
    assert_eq!(
        s(&e.response_exception),
        "ERR wrong number of arguments for 'hget' command"
    );
    let l4 = &out.l4[0];
    assert_eq!((l4.l7_protocol, l4.l7_request, l4.l7_response), (80, 3, 3));
    assert_eq!(
        (l4.l7_server_error, l4.rrt_count, l4.rrt_sum),
        (1, 3, 1_000)
    );
}

#[test]
fn obfuscation_off_keeps_values() {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.protocols.redis.obfuscate = false;
    let mut t = Talk::with(cfg, 6379);
    t.tcp(0.0, true, &cmd(&["SET", "k", "v w"]));
    t.tcp(0.1, false, b"+OK\r\n");
    let out = t.finish();
    assert_eq!(s(&out.l7[0].request_resource), "SET k v w");
}

#[test]
fn pipelined_commands_inline_and_resp3_values() {
    let mut t = Talk::new(7000);
    let mut burst = cmd(&["INCR", "n"]);
    burst.extend(cmd(&["HGETALL", "h"]));
    burst.extend(cmd(&["EXEC"]));
    t.tcp(0.0, true, &burst);
    // An integer, a RESP3 map with an attribute in front, a nested array with a null.
    let mut replies = b":7\r\n|1\r\n+ttl\r\n:3\r\n%2\r\n+a\r\n:1\r\n+b\r\n,2.5\r\n".to_vec();
    replies.extend(b"*2\r\n*2\r\n$1\r\nx\r\n$-1\r\n_\r\n");
    t.tcp(0.5, false, &replies);
    t.tcp(1.0, true, b"PING\r\n");
    t.tcp(1.1, false, b"+PONG\r\n");
    assert_eq!(counter(&t, 1), 1, "one inline command");
    let out = t.finish();
    let kinds: Vec<_> = out
        .l7
        .iter()
        .map(|r| s(&r.request_type).to_string())
        .collect();
    assert_eq!(kinds, ["INCR", "HGETALL", "EXEC", "PING"]);
    assert!(out
        .l7
        .iter()
        .all(|r| r.row_type == TYPE_SESSION && r.response_status == 0));
    assert_eq!(out.l7[3].response_duration, 100);
}

#[test]
fn every_split_of_a_pipeline_gives_the_same_rows() {
    let mut req = cmd(&["SET", "a", "1"]);
    req.extend(cmd(&["GET", "a"]));
    req.extend(b"PING\r\n");
    let mut rep = b"+OK\r\n".to_vec();
    rep.extend(bulk(b"1"));
    rep.extend(b"+PONG\r\n");
    for cut in 1..req.len() {
        let rcut = cut.min(rep.len() - 1);
        let mut t = Talk::new(6379);
        t.tcp(0.0, true, &req[..cut]);
        t.tcp(0.1, true, &req[cut..]);
        t.tcp(0.5, false, &rep[..rcut]);
        t.tcp(0.6, false, &rep[rcut..]);
        let out = t.finish();
        let rows: Vec<_> = out
            .l7
            .iter()
            .map(|r| (s(&r.request_resource).to_string(), r.row_type))
            .collect();
        assert_eq!(
            rows,
            [
                ("SET a ?".to_string(), TYPE_SESSION),
                ("GET a".to_string(), TYPE_SESSION),
                ("PING".to_string(), TYPE_SESSION)
            ],
            "cut {cut}"
        );
    }
}

#[test]
fn large_value_streams_through_many_segments() {
    let mut t = Talk::new(6379);
    let value = vec![b'v'; 300_000];
    let mut set = cmd(&["SET", "big"]);
    set[1] = b'3';
    set.extend(bulk(&value));
    for (i, chunk) in set.chunks(1400).enumerate() {
        t.tcp(i as f64 * 0.01, true, chunk);
    }
    t.tcp(10.0, false, b"+OK\r\n");
    t.tcp(11.0, true, &cmd(&["GET", "big"]));
    let reply = bulk(&value);
    for (i, chunk) in reply.chunks(1400).enumerate() {
        t.tcp(12.0 + i as f64 * 0.01, false, chunk);
    }
    t.tcp(20.0, true, &cmd(&["DEL", "big"]));
    t.tcp(20.5, false, b":1\r\n");
    let out = t.finish();
    assert_eq!(out.l7.len(), 3);
    assert_eq!(s(&out.l7[0].request_resource), "SET big ?");
    assert_eq!(
        out.l7[0].captured_request_byte, 1400,
        "bytes in its first segment"
    );
    assert_eq!(
        out.l7[0].start_time % 1_000_000,
        0,
        "request time = its first segment"
    );
    assert_eq!(
        out.l7[1].response_duration, 1_000,
        "RRT to the reply's first segment"
    );
    assert_eq!(out.l7[1].captured_response_byte, 1400);
    assert_eq!(out.l7[2].response_status, 0);
}

#[test]
fn a_gap_inside_a_value_resynchronises() {
    let mut t = Talk::new(6379);
    t.tcp(0.0, true, &cmd(&["GET", "k"]));
    let reply = bulk(&[b'x'; 5000]);
    t.tcp(1.0, false, &reply[..1400]);
    t.skip(false, 1400);
    t.tcp(1.2, false, &reply[2800..4200]);
    t.tcp(1.3, false, &reply[4200..]);
    t.tcp(2.0, true, &cmd(&["GET", "j"]));
    t.tcp(2.5, false, &bulk(b"y"));
    let gaps = t.an.counters().l7.gaps;
    let out = t.finish();
    assert_eq!(out.l7.len(), 2, "{:?}", out.l7);
    assert_eq!(
        out.l7[0].row_type, TYPE_SESSION,
        "the cut reply is written as read"
    );
    assert_eq!(out.l7[0].response_duration, 1_000);
    assert_eq!(
        (s(&out.l7[1].request_resource), out.l7[1].response_duration),
        ("GET j", 500)
    );
    assert_eq!(gaps, 1);
}

#[test]
fn pubsub_pushes_are_not_responses() {
    let mut t = Talk::new(6379);
    t.tcp(0.0, true, &cmd(&["SUBSCRIBE", "news", "sport"]));
    let confirm = |ch: &str, n: u8| {
        let mut v = b"*3\r\n".to_vec();
        v.extend(bulk(b"subscribe"));
        v.extend(bulk(ch.as_bytes()));
        v.extend(format!(":{n}\r\n").bytes());
        v
    };
    let mut first = confirm("news", 1);
    first.extend(confirm("sport", 2));
    t.tcp(0.4, false, &first);
    let mut msg = b"*3\r\n".to_vec();
    msg.extend(bulk(b"message"));
    msg.extend(bulk(b"news"));
    msg.extend(bulk(b"hello"));
    t.tcp(5.0, false, &msg);
    t.tcp(6.0, true, &cmd(&["PING"]));
    t.tcp(6.1, false, &msg);
    let mut pong = b"*2\r\n".to_vec();
    pong.extend(bulk(b"pong"));
    pong.extend(bulk(b""));
    t.tcp(6.2, false, &pong);
    // RESP3 push frame.
    t.tcp(
        7.0,
        false,
        b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n",
    );
    let pushes = counter(&t, 0);
    let out = t.finish();
    let rows: Vec<_> = out
        .l7
        .iter()
        .map(|r| {
            (
                s(&r.request_type).to_string(),
                r.row_type,
                r.response_duration,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("SUBSCRIBE".to_string(), TYPE_SESSION, 400),
            ("PING".to_string(), TYPE_SESSION, 200)
        ]
    );
    assert_eq!(
        pushes, 4,
        "second confirmation, two messages, one RESP3 push"
    );
}

#[test]
fn unanswered_and_unsolicited() {
    let mut t = Talk::new(6379);
    t.tcp(0.0, true, &cmd(&["BLPOP", "q", "0"]));
    t.tcp(1.0, false, b"+OK\r\n+OK\r\n");
    let out = t.finish();
    assert_eq!(out.l7.len(), 2);
    assert_eq!(out.l7[0].row_type, TYPE_SESSION);
    assert_eq!(out.l7[1].row_type, TYPE_RESPONSE);
    let mut t = Talk::new(6379);
    t.tcp(0.0, true, &cmd(&["BLPOP", "q", "0"]));
    let out = t.finish();
    assert_eq!(
        (out.l7[0].row_type, out.l7[0].response_status),
        (TYPE_REQUEST, 2)
    );
}

#[test]
fn walker_bounds_and_errors() {
    let mut w = Walker::default();
    let deep = "*1\r\n".repeat(20);
    assert_eq!(
        w.walk(deep.as_bytes(), 1024, |_| {}),
        Err(RespError::TooDeep)
    );
    let mut w = Walker::default();
    assert_eq!(
        w.walk(b"?x\r\n", 1024, |_| {}),
        Err(RespError::BadType(b'?'))
    );
    let mut w = Walker::default();
    assert_eq!(
        w.walk(b"$3\r\nabcd\r\n", 1024, |_| {}),
        Err(RespError::MissingCrlf)
    );
    let mut w = Walker::default();
    assert_eq!(
        w.walk(b"$99999999999\r\n", 1024, |_| {}),
        Err(RespError::BadLength)
    );
    let mut w = Walker::default();
    assert_eq!(w.walk(b"*-5\r\n", 1024, |_| {}), Err(RespError::BadLength));
    // A header line not complete yet is left for later.
    let mut w = Walker::default();
    assert_eq!(w.walk(b"*2\r\n$3", 1024, |_| {}), Ok(4));
    // A simple string longer than the hold is reported cut and skipped to its end.
    let mut w = Walker::default();
    let mut events = 0;
    let long = [b"+".as_slice(), &[b'a'; 100]].concat();
    assert_eq!(
        w.walk(&long, 50, |e| {
            if let Event::Line { cut, .. } = e {
                assert!(cut);
                events += 1;
            }
        }),
        Ok(101)
    );
    assert_eq!(events, 1);
    let mut ended = false;
    assert_eq!(
        w.walk(b"aaa\r\n+OK\r\n", 50, |e| ended |= e == Event::End),
        Ok(5)
    );
    assert!(ended && !w.in_message());
}

#[test]
fn hostile_streams_never_panic_and_stay_bounded() {
    let seeds: [&[u8]; 5] = [
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n",
        b"*2\r\n*2\r\n$1\r\nx\r\n$-1\r\n_\r\n",
        b"%1\r\n+a\r\n|1\r\n+t\r\n:1\r\n,1.5\r\n",
        b">2\r\n$7\r\nmessage\r\n!5\r\nERROR\r\n",
        b"PING\r\n-ERR x\r\n#t\r\n(123\r\n=7\r\ntxt:abc\r\n",
    ];
    hostile_talks(&seeds, 3000, 7, || Talk::new(6379));
}

#[test]
fn state_is_small() {
    // The pool holds one per Redis connection (sized like the flow table).
    let size = std::mem::size_of::<RedisSession>();
    eprintln!("RedisSession: {size} bytes");
    assert!(size <= 384, "{size}");
}
