//! 1 GiB replies (a MySQL result set, a PostgreSQL result set, MongoDB getMore batches) pass
//! through the whole analyzer in constant memory: after the reply's head, not one allocation
//! while the rest streams by, and the connection's next request still pairs (the parser stayed in
//! step). Frames are built once and patched in place, so the harness allocates nothing either.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};

use tapflow_analyzer::l7::L7Protocol;
use tapflow_analyzer::record::l7::TYPE_SESSION;
use tapflow_analyzer::record::Collected;
use tapflow_analyzer::wire::build::{self, TcpSpec};
use tapflow_analyzer::{Analyzer, AnalyzerConfig, PacketMeta};

struct Counting;
thread_local! {
    /// This thread's allocations (the tests run in parallel threads).
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // A thread being torn down has no counter left: not one of ours.
    let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const GIB: u64 = 1 << 30;
/// TCP payload per streamed segment.
const SEG: usize = 1448;
const MS: u64 = 1_000_000;
/// Ethernet + IPv4 + TCP (no options) before the payload.
const HEADERS: usize = 14 + 20 + 20;

/// A client and a server on one TCP connection, fed to the analyzer.
struct Conn {
    an: Analyzer,
    out: Collected,
    seq: [u32; 2],
    ts: u64,
    /// A server segment of SEG bytes, patched in place while streaming.
    frame: Vec<u8>,
    sport: u16,
}

fn addr(side: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + side as u8))
}

impl Conn {
    fn new(proto: L7Protocol, sport: u16) -> Self {
        let mut cfg = AnalyzerConfig::default();
        cfg.l7.enabled.insert(proto);
        let mut c = Conn {
            an: Analyzer::new(cfg),
            out: Collected::default(),
            seq: [1000, 500_000],
            ts: 1_700_000_000_000_000_000,
            frame: Vec::new(),
            sport,
        };
        c.frame = c.build(1, &[0; SEG]);
        c
    }

    fn build(&self, side: usize, payload: &[u8]) -> Vec<u8> {
        let ports = [40000, self.sport];
        let spec = TcpSpec {
            src_port: ports[side],
            dst_port: ports[side ^ 1],
            seq: self.seq[side],
            ack: self.seq[side ^ 1],
            flags: 0x18,
            window: 65535,
            ..TcpSpec::default()
        };
        let (src, dst) = (addr(side), addr(side ^ 1));
        let ip = build::ip(src, dst, 6, 0, 64, &build::tcp(src, dst, &spec, payload));
        build::ethernet_ip(
            [2, 0, 0, 0, 0, 2 - side as u8],
            [2, 0, 0, 0, 0, 1 + side as u8],
            &[],
            &ip,
        )
    }

    fn feed(&mut self, frame: &[u8]) {
        let meta = PacketMeta {
            ts_ns: self.ts,
            wire_len: frame.len() as u32,
            cap_len: frame.len() as u32,
            ..PacketMeta::default()
        };
        self.an.on_packet(&meta, frame, &mut self.out);
    }

    /// One message from the client (side 0) or the server (side 1), `gap_ms` after the last.
    fn send(&mut self, side: usize, gap_ms: u64, payload: &[u8]) {
        self.ts += gap_ms * MS;
        for chunk in payload.chunks(SEG) {
            let f = self.build(side, chunk);
            self.feed(&f);
            self.seq[side] = self.seq[side].wrapping_add(chunk.len() as u32);
        }
    }

    /// `n` server segments of SEG bytes, each filled by `fill` (in place, no allocation).
    fn stream(&mut self, n: u64, mut fill: impl FnMut(u64, &mut [u8])) {
        let mut frame = std::mem::take(&mut self.frame);
        for i in 0..n {
            frame[HEADERS - 16..HEADERS - 12].copy_from_slice(&self.seq[1].to_be_bytes());
            fill(i, &mut frame[HEADERS..]);
            self.ts += 10_000;
            self.feed(&frame);
            self.seq[1] = self.seq[1].wrapping_add(SEG as u32);
        }
        self.frame = frame;
    }

    fn finish(mut self) -> Collected {
        self.an.finish(&mut self.out);
        self.out
    }
}

/// Allocations made while `f` runs.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

fn mysql_packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut v = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
    v.extend_from_slice(payload);
    v
}

fn mysql_query(sql: &str) -> Vec<u8> {
    mysql_packet(0, &[&[3u8][..], sql.as_bytes()].concat())
}

#[test]
fn mysql_result_set_of_1_gib() {
    let mut c = Conn::new(L7Protocol::Mysql, 3306);
    let mut greeting = vec![10];
    greeting.extend(b"10.11.6-MariaDB\0");
    greeting.extend([1, 0, 0, 0]);
    greeting.extend(b"abcdefgh\0");
    greeting.extend([0x0f, 0xa2, 33, 2, 0, 0, 0]);
    greeting.extend([21; 11]);
    c.send(1, 0, &mysql_packet(0, &greeting));
    let mut login = 0x0000_a20fu32.to_le_bytes().to_vec();
    login.extend(16_777_216u32.to_le_bytes());
    login.push(33);
    login.extend([0; 23]);
    login.extend(b"root\0\0");
    c.send(0, 1, &mysql_packet(1, &login));
    c.send(1, 1, &mysql_packet(2, &[0, 0, 0, 2, 0, 0, 0]));
    c.send(0, 5, &mysql_query("select blob from big"));
    // Column count, one definition, EOF.
    let mut head = mysql_packet(1, &[1]);
    head.extend(mysql_packet(
        2,
        b"\x03def\x00\x00\x00\x01b\x00\x0c\x21\x00\x0b\x00\x00\x00\xfc\x81\x00\x00\x00\x00",
    ));
    head.extend(mysql_packet(3, &[0xfe, 0, 0, 2, 0]));
    c.send(1, 3, &head);
    // Rows of one 1441-byte value, one row packet per segment.
    let rows = GIB / SEG as u64;
    let streamed = allocations(|| {
        c.stream(rows, |i, p| {
            let len = (SEG - 4) as u32;
            p[..4].copy_from_slice(&[len as u8, (len >> 8) as u8, 0, (4 + i) as u8]);
            p[4] = 0xfc;
            p[5..7].copy_from_slice(&((SEG - 7) as u16).to_le_bytes());
            p[7..].fill(b'v');
        })
    });
    assert_eq!(streamed, 0, "allocations while 1 GiB of rows streamed");
    c.send(1, 0, &mysql_packet((4 + rows) as u8, &[0xfe, 0, 0, 2, 0]));
    c.send(0, 2, &mysql_query("select 2"));
    c.send(1, 1, &mysql_packet(1, &[0, 0, 0, 2, 0, 0, 0]));
    let rows = c.finish().l7;
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                String::from_utf8_lossy(r.request_resource.as_bytes()).into_owned(),
                r.row_type,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("Login username: root db: ".to_string(), TYPE_SESSION),
            ("select blob from big".to_string(), TYPE_SESSION),
            ("select 2".to_string(), TYPE_SESSION),
        ]
    );
    assert_eq!(rows[1].response_duration, 3_000);
}

fn pg_msg(t: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![t];
    v.extend(((body.len() + 4) as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

#[test]
fn postgres_result_set_of_1_gib() {
    let mut c = Conn::new(L7Protocol::Postgres, 5432);
    let mut startup = 196_608u32.to_be_bytes().to_vec();
    startup.extend(b"user\0app\0database\0shop\0\0");
    let mut s = ((startup.len() + 4) as u32).to_be_bytes().to_vec();
    s.extend(startup);
    c.send(0, 0, &s);
    let mut ready = pg_msg(b'R', &[0, 0, 0, 0]);
    ready.extend(pg_msg(b'Z', b"I"));
    c.send(1, 1, &ready);
    c.send(0, 5, &pg_msg(b'Q', b"select blob from big\0"));
    c.send(
        1,
        4,
        &pg_msg(
            b'T',
            b"\x00\x01b\x00\x00\x00\x00\x00\x00\x01\x00\x00\x11\xff\xff\xff\xff\xff\xff\x00\x00",
        ),
    );
    let rows = GIB / SEG as u64;
    let streamed = allocations(|| {
        c.stream(rows, |_, p| {
            p[0] = b'D';
            p[1..5].copy_from_slice(&((SEG - 1) as u32).to_be_bytes());
            p[5..7].copy_from_slice(&1u16.to_be_bytes());
            p[7..11].copy_from_slice(&((SEG - 11) as u32).to_be_bytes());
            p[11..].fill(b'v');
        })
    });
    assert_eq!(streamed, 0, "allocations while 1 GiB of rows streamed");
    let mut end = pg_msg(b'C', format!("SELECT {rows}\0").as_bytes());
    end.extend(pg_msg(b'Z', b"I"));
    c.send(1, 0, &end);
    c.send(0, 2, &pg_msg(b'Q', b"select 2\0"));
    let mut end = pg_msg(b'C', b"SELECT 1\0");
    end.extend(pg_msg(b'Z', b"I"));
    c.send(1, 1, &end);
    let out = c.finish().l7;
    let got: Vec<_> = out
        .iter()
        .map(|r| {
            (
                String::from_utf8_lossy(r.request_resource.as_bytes()).into_owned(),
                r.row_type,
                r.sql_affected_rows,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("select blob from big".to_string(), TYPE_SESSION, Some(rows)),
            ("select 2".to_string(), TYPE_SESSION, Some(1)),
        ]
    );
}

fn mongo_msg(id: u32, to: u32, body: &[u8]) -> Vec<u8> {
    let mut m = ((21 + body.len()) as u32).to_le_bytes().to_vec();
    m.extend(id.to_le_bytes());
    m.extend(to.to_le_bytes());
    m.extend(2013i32.to_le_bytes());
    m.extend([0, 0, 0, 0, 0]);
    m.extend_from_slice(body);
    m
}

/// `{ getMore: 1, collection: "big", $db: "shop" }`
fn get_more() -> Vec<u8> {
    let mut d = Vec::new();
    d.push(0x12);
    d.extend(b"getMore\0");
    d.extend(1i64.to_le_bytes());
    d.push(2);
    d.extend(b"collection\0");
    d.extend(4i32.to_le_bytes());
    d.extend(b"big\0");
    d.push(2);
    d.extend(b"$db\0");
    d.extend(5i32.to_le_bytes());
    d.extend(b"shop\0");
    let mut doc = ((d.len() + 5) as i32).to_le_bytes().to_vec();
    doc.extend(d);
    doc.push(0);
    doc
}

#[test]
fn mongo_get_more_batches_of_1_gib() {
    let mut c = Conn::new(L7Protocol::Mongo, 27017);
    // 22 replies of 48 MB (the largest message a server sends): each a document whose batch runs
    // over 33,000 segments.
    const REPLY: usize = 48_000_000;
    let batches = GIB.div_ceil(REPLY as u64);
    let per_reply = (REPLY / SEG) as u64;
    for b in 0..batches as u32 {
        c.send(0, 1, &mongo_msg(b + 1, 0, &get_more()));
        // The reply's head: { cursor: { nextBatch: [ ... 48 MB ... ] } } (cut by the stream).
        let doc_len = (REPLY - 21) as i32;
        let mut head = doc_len.to_le_bytes().to_vec();
        head.push(3);
        head.extend(b"cursor\0");
        head.extend((doc_len - 12).to_le_bytes());
        head.push(4);
        head.extend(b"nextBatch\0");
        head.extend((doc_len - 26).to_le_bytes());
        head.resize(SEG - 21, b'x');
        let mut first = mongo_msg(1000 + b, b + 1, &head);
        first[..4].copy_from_slice(&(REPLY as u32).to_le_bytes());
        c.send(1, 2, &first);
        let streamed = allocations(|| c.stream(per_reply - 1, |_, p| p.fill(b'x')));
        assert_eq!(streamed, 0, "allocations while a 48 MB reply streamed");
        // The rest of the message.
        let rest = REPLY - SEG * per_reply as usize;
        c.send(1, 0, &vec![b'x'; rest]);
    }
    c.send(0, 1, &mongo_msg(99, 0, &get_more()));
    c.send(1, 1, &mongo_msg(100, 99, b"\x05\x00\x00\x00\x00"));
    let out = c.finish().l7;
    assert_eq!(out.len() as u64, batches + 1);
    assert!(out
        .iter()
        .all(|r| r.row_type == TYPE_SESSION && r.request_type.as_bytes() == b"getMore"));
    assert_eq!(out[0].response_duration, 2_000);
}
