//! OpenWire through the whole analyzer, in both encodings: the negotiation, requests paired by
//! command id, lone commands, cached destinations, messages nested in dispatches, exceptions,
//! trace properties, frames split and cut, hostile bytes.

use super::commands::{command, DestinationCache, Encoding};
use super::session::OpenWireSession;
use super::wire::{frame, property, types::*, wire_format};
use crate::l7::parser::{L7Parser, Transport};
use crate::l7::talk::{hostile_talks, s, same_rows_at_every_cut, Talk};
use crate::l7::{L7Protocol, ParserKind, Probe};
use crate::AnalyzerConfig;

fn talk() -> Talk {
    let mut cfg = AnalyzerConfig::default();
    cfg.l7.enabled.insert(L7Protocol::OpenWire);
    Talk::with(cfg, 61616)
}

/// An OpenWire encoder of the fields the tests send, in either encoding.
struct Enc {
    tight: bool,
    bits: Vec<bool>,
    data: Vec<u8>,
}

impl Enc {
    fn new(tight: bool) -> Self {
        Enc {
            tight,
            bits: Vec::new(),
            data: Vec::new(),
        }
    }

    fn bool(&mut self, b: bool) -> &mut Self {
        if self.tight {
            self.bits.push(b);
        } else {
            self.data.push(u8::from(b));
        }
        self
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        self.data.extend(v.to_be_bytes());
        self
    }

    fn string(&mut self, v: Option<&str>) -> &mut Self {
        self.bool(v.is_some());
        if let Some(v) = v {
            if self.tight {
                self.bool(true); // ASCII
            }
            self.data.extend((v.len() as u16).to_be_bytes());
            self.data.extend(v.as_bytes());
        }
        self
    }

    fn long(&mut self, v: u64) -> &mut Self {
        if !self.tight {
            self.data.extend(v.to_be_bytes());
        } else if v == 0 {
            self.bool(false).bool(false);
        } else if v < 0x8000 {
            self.bool(false).bool(true);
            self.data.extend((v as u16).to_be_bytes());
        } else {
            self.bool(true).bool(true);
            self.data.extend(v.to_be_bytes());
        }
        self
    }

    fn base(&mut self, id: u32, response_required: bool) -> &mut Self {
        self.u32(id).bool(response_required)
    }

    fn null(&mut self) -> &mut Self {
        self.bool(false)
    }

    fn destination(&mut self, kind: u8, name: &str) -> &mut Self {
        self.bool(true);
        self.data.push(kind);
        self.string(Some(name))
    }

    fn producer_id(&mut self) -> &mut Self {
        self.bool(true);
        self.data.push(PRODUCER_ID);
        self.string(Some("ID:host-1:1")).long(1).long(1)
    }

    /// A new cached object at `index`, written by `f`.
    fn new_cached(&mut self, index: u16, f: impl FnOnce(&mut Self)) -> &mut Self {
        self.bool(true);
        self.data.extend(index.to_be_bytes());
        f(self);
        self
    }

    fn cached_ref(&mut self, index: u16) -> &mut Self {
        self.bool(false);
        self.data.extend(index.to_be_bytes());
        self
    }

    fn bit_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; self.bits.len().div_ceil(8)];
        for (i, bit) in self.bits.iter().enumerate() {
            if *bit {
                b[i / 8] |= 1 << (i % 8);
            }
        }
        let mut out = if b.len() < 64 {
            vec![b.len() as u8]
        } else {
            vec![0xc0, b.len() as u8]
        };
        out.extend(b);
        out
    }

    /// The body after the type byte.
    fn body(&self) -> Vec<u8> {
        let mut v = if self.tight {
            self.bit_bytes()
        } else {
            Vec::new()
        };
        v.extend(&self.data);
        v
    }

    fn frame(&self, kind: u8) -> Vec<u8> {
        let body = self.body();
        let mut v = ((body.len() + 1) as u32).to_be_bytes().to_vec();
        v.push(kind);
        v.extend(body);
        v
    }
}

fn wire_format_info(tight: bool, version: u32) -> Vec<u8> {
    let mut body = b"ActiveMQ".to_vec();
    body.extend(version.to_be_bytes());
    let mut map = Vec::new();
    map.extend(3u32.to_be_bytes());
    for (k, v) in [
        ("TightEncodingEnabled", tight),
        ("CacheEnabled", true),
        ("SizePrefixDisabled", false),
    ] {
        map.extend((k.len() as u16).to_be_bytes());
        map.extend(k.as_bytes());
        map.extend([1, u8::from(v)]);
    }
    body.push(1);
    body.extend((map.len() as u32).to_be_bytes());
    body.extend(map);
    let mut v = ((body.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(WIREFORMAT_INFO);
    v.extend(body);
    v
}

/// A text message sent to the destination cached at index 7 (new when `first`), with a JMS
/// correlation id and an `sw8` property in its marshalled properties.
fn text_message(tight: bool, id: u32, first: bool) -> Vec<u8> {
    let mut e = Enc::new(tight);
    e.base(id, true).new_cached(3, |e| {
        e.producer_id();
    });
    if first {
        e.new_cached(7, |e| {
            e.destination(QUEUE, "ORDERS");
        });
    } else {
        e.cached_ref(7);
    }
    e.new_cached(4, |e| {
        e.null();
    }) // transaction id
    .new_cached(5, |e| {
        e.null();
    }); // original destination
        // The message id: nested, its producer id by reference.
    e.bool(true);
    e.data.push(MESSAGE_ID);
    e.string(Some("ID:host-1:1:1:1"))
        .cached_ref(3)
        .long(u64::from(id))
        .long(0);
    e.new_cached(6, |e| {
        e.null();
    }) // original transaction id
    .string(None) // group id
    .u32(0)
    .string(Some(&format!("corr-{id}")));
    // What follows the correlation id, as far as the tests need: the marshalled properties.
    let sw8 = "1-dHJhY2UtMQ==-c2VnLTE=-3-c2Vydg==-aW5zdA==-L2E=-YQ==";
    e.data.extend([0, 3]);
    e.data.extend(b"sw8");
    e.data.push(9);
    e.data.extend((sw8.len() as u16).to_be_bytes());
    e.data.extend(sw8.as_bytes());
    e.frame(ACTIVEMQ_TEXT_MESSAGE)
}

const ACTIVEMQ_TEXT_MESSAGE: u8 = 28;

fn response(tight: bool, answers: u32) -> Vec<u8> {
    let mut e = Enc::new(tight);
    e.base(0, false).u32(answers);
    e.frame(RESPONSE)
}

fn exception_response(tight: bool, answers: u32, message: &str) -> Vec<u8> {
    let mut e = Enc::new(tight);
    e.base(0, false)
        .u32(answers)
        .bool(true)
        .string(Some("java.lang.SecurityException"))
        .string(Some(message));
    e.frame(EXCEPTION_RESPONSE)
}

/// A producer's connection: the negotiation, a broker info, a refused and an accepted
/// connection, a producer, two messages (the second naming its destination by cache index), a
/// keep-alive both ways, a dispatch to a consumer.
fn conversation(tight: bool) -> Vec<(bool, Vec<u8>)> {
    let mut broker = Enc::new(tight);
    broker
        .base(0, false)
        .new_cached(1, |e| {
            e.bool(true);
            e.data.push(BROKER_ID);
            e.string(Some("ID:broker-1"));
        })
        .string(Some("tcp://broker:61616"));
    let mut connect = Enc::new(tight);
    connect.base(1, true).new_cached(2, |e| {
        e.bool(true);
        e.data.push(CONNECTION_ID);
        e.string(Some("ID:host-1:1"));
    });
    let mut producer = Enc::new(tight);
    producer
        .base(2, true)
        .new_cached(3, |e| {
            e.producer_id();
        })
        .new_cached(9, |e| {
            e.destination(101, "PRICES");
        });
    let mut keep_alive = Enc::new(tight);
    keep_alive.base(5, false);
    let mut dispatch = Enc::new(tight);
    dispatch
        .base(0, false)
        .new_cached(8, |e| {
            e.bool(true);
            e.data.push(CONSUMER_ID);
            e.string(Some("ID:host-1:1")).long(1).long(1);
        })
        .new_cached(10, |e| {
            e.destination(QUEUE, "ORDERS");
        })
        .null();
    // (Both peers open with a WireFormatInfo; without a handshake in the capture the first
    // sender is taken for the client.)
    vec![
        (true, wire_format_info(tight, 12)),
        (false, wire_format_info(tight, 12)),
        (false, broker.frame(BROKER_INFO)),
        (true, connect.frame(CONNECTION_INFO)),
        (
            false,
            exception_response(tight, 1, "User name [app] or password is invalid."),
        ),
        (true, producer.frame(PRODUCER_INFO)),
        (false, response(tight, 2)),
        (true, text_message(tight, 3, true)),
        (false, response(tight, 3)),
        (true, text_message(tight, 4, false)),
        (false, response(tight, 4)),
        (true, keep_alive.frame(10)),
        (false, dispatch.frame(MESSAGE_DISPATCH)),
    ]
}

type Row = (String, String, String, u8, u8, Option<u32>, String, String);

fn rows(conv: &[(bool, Vec<u8>)]) -> Vec<Row> {
    let mut t = talk();
    for (i, (client, m)) in conv.iter().enumerate() {
        t.tcp(i as f64, *client, m);
    }
    t.finish()
        .l7
        .iter()
        .map(|r| {
            (
                s(&r.request_type).to_string(),
                s(&r.request_resource).to_string(),
                s(&r.request_domain).to_string(),
                r.row_type,
                r.response_status,
                r.request_id,
                s(&r.response_exception).to_string(),
                format!(
                    "{}|{}|{}",
                    s(&r.version),
                    s(&r.x_request_id_0),
                    s(&r.trace_id)
                ),
            )
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn row(t: &str, res: &str, dom: &str, st: u8, id: Option<u32>, exc: &str, extra: &str) -> Row {
    (
        t.to_string(),
        res.to_string(),
        dom.to_string(),
        2,
        st,
        id,
        exc.to_string(),
        extra.to_string(),
    )
}

#[test]
fn a_producer_session_in_both_encodings() {
    let want = [
        row("WireFormatInfo", "", "", 0, None, "", "12||"),
        row("WireFormatInfo", "", "", 0, None, "", "12||"),
        row(
            "BrokerInfo",
            "",
            "tcp://broker:61616",
            0,
            Some(0),
            "",
            "12||",
        ),
        row(
            "ConnectionInfo",
            "",
            "",
            3,
            Some(1),
            "User name [app] or password is invalid.",
            "12||",
        ),
        row("ProducerInfo", "PRICES", "", 0, Some(2), "", "12||"),
        row(
            "ActiveMQTextMessage",
            "ORDERS",
            "",
            0,
            Some(3),
            "",
            "12|corr-3|trace-1",
        ),
        row(
            "ActiveMQTextMessage",
            "ORDERS",
            "",
            0,
            Some(4),
            "",
            "12|corr-4|trace-1",
        ),
        row("KeepAliveInfo", "", "", 0, Some(5), "", "12||"),
        row("MessageDispatch", "ORDERS", "", 0, Some(0), "", "12||"),
    ];
    for tight in [true, false] {
        assert_eq!(rows(&conversation(tight)), want, "tight {tight}");
    }
}

#[test]
fn decoders_and_probe() {
    let wfi = wire_format_info(false, 11);
    let (size, kind) = frame(&wfi).unwrap();
    assert_eq!((size as usize + 4, kind), (wfi.len(), WIREFORMAT_INFO));
    let wf = wire_format(&wfi[5..]).unwrap();
    assert_eq!((wf.version, wf.tight, wf.cache), (11, false, true));
    assert_eq!(OpenWireSession::probe(&wfi, Transport::Tcp), Probe::Certain);
    assert_eq!(
        OpenWireSession::probe(&wfi[..6], Transport::Tcp),
        Probe::Unsure
    );
    let msg = text_message(true, 3, true);
    assert_eq!(
        OpenWireSession::probe(&msg, Transport::Tcp),
        Probe::NotForUs
    );
    assert_eq!(
        OpenWireSession::probe(b"GET / HTTP/1.1\r\n\r\n", Transport::Tcp),
        Probe::NotForUs
    );
    assert!(property(&msg, "sw8").is_some_and(|v| v.starts_with(b"1-")));
    assert_eq!(property(&msg, "traceparent"), None);
    // A reference to a destination this direction never sent names none.
    let mut cache = DestinationCache::default();
    let second = text_message(true, 4, false);
    let c = command(
        ACTIVEMQ_TEXT_MESSAGE,
        &second[5..],
        Encoding::default(),
        &mut cache,
    )
    .unwrap();
    assert_eq!((c.command_id, c.destination.as_bytes()), (4, &b""[..]));
    assert_eq!(c.jms_correlation_id, b"corr-4");
}

#[test]
fn a_connection_without_size_prefixes_is_not_read() {
    let mut t = talk();
    let mut wfi = wire_format_info(true, 12);
    // SizePrefixDisabled: true.
    let at = wfi
        .windows(19)
        .position(|w| w == b"SizePrefixDisabled\x01")
        .unwrap()
        + 19;
    wfi[at] = 1;
    t.tcp(0.0, false, &wfi);
    t.tcp(1.0, true, &wfi);
    t.tcp(2.0, true, &response(true, 1)[4..]);
    assert_eq!(
        t.an.counters().l7.protocol_counter(ParserKind::OpenWire, 0),
        1
    );
    assert_eq!(t.finish().l7.len(), 2);
}

#[test]
fn every_cut_gives_the_same_rows() {
    let conv = conversation(true);
    same_rows_at_every_cut(&conv[..9], talk);
}

#[test]
fn hostile_streams_never_panic() {
    let conv = conversation(true);
    let seeds: Vec<&[u8]> = conv.iter().map(|(_, m)| &m[..]).collect();
    hostile_talks(&seeds, 3000, 8, talk);
    let loose = conversation(false);
    let seeds: Vec<&[u8]> = loose.iter().map(|(_, m)| &m[..]).collect();
    hostile_talks(&seeds, 1000, 8, talk);
}

#[test]
fn off_unless_enabled_and_its_state_size() {
    let mut t = Talk::with(AnalyzerConfig::default(), 61616);
    for (i, (client, m)) in conversation(true).iter().enumerate() {
        t.tcp(i as f64, *client, m);
    }
    assert!(t.finish().l7.is_empty());
    assert_eq!(std::mem::size_of::<OpenWireSession>(), 664);
}
