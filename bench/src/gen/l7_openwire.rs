//! OpenWire (ActiveMQ) payloads for generated conversations, as ActiveMQ's Java client and broker
//! write them by default: the loosely encoded WireFormatInfo both peers open with, then tightly
//! encoded commands (a boolean stream before each command's fields) with cached objects (a
//! destination sent once, then named by its cache index).

use super::Rng;

/// One step of a connection: a command that is a row of its own, or a request and its answer
/// (whether the answer is an error and whose: `Some(false)` the broker's).
pub(crate) enum Step {
    Lone(bool, Vec<u8>),
    Call(Vec<u8>, Vec<u8>, Option<bool>),
}

/// A tight encoder: the boolean stream and the data.
#[derive(Default)]
struct Tight {
    bits: Vec<bool>,
    data: Vec<u8>,
}

impl Tight {
    fn bool(&mut self, b: bool) -> &mut Self {
        self.bits.push(b);
        self
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        self.data.extend(v.to_be_bytes());
        self
    }

    fn string(&mut self, v: &str) -> &mut Self {
        self.bool(true).bool(true);
        self.data.extend((v.len() as u16).to_be_bytes());
        self.data.extend(v.as_bytes());
        self
    }

    /// A long that fits in 2 bytes.
    fn small_long(&mut self, v: u16) -> &mut Self {
        self.bool(false).bool(true);
        self.data.extend(v.to_be_bytes());
        self
    }

    /// A new cached object at `index` of type `kind`, its fields written by `f`.
    fn new_cached(&mut self, index: u16, kind: u8, f: impl FnOnce(&mut Self)) -> &mut Self {
        self.bool(true);
        self.data.extend(index.to_be_bytes());
        self.bool(true);
        self.data.push(kind);
        f(self);
        self
    }

    fn cached_ref(&mut self, index: u16) -> &mut Self {
        self.bool(false);
        self.data.extend(index.to_be_bytes());
        self
    }

    fn frame(&self, kind: u8) -> Vec<u8> {
        let mut bits = vec![0u8; self.bits.len().div_ceil(8)];
        for (i, b) in self.bits.iter().enumerate() {
            if *b {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        let mut body = vec![bits.len() as u8];
        body.extend(bits);
        body.extend(&self.data);
        let mut v = ((body.len() + 1) as u32).to_be_bytes().to_vec();
        v.push(kind);
        v.extend(body);
        v
    }
}

fn wire_format_info() -> Vec<u8> {
    let mut map = 3u32.to_be_bytes().to_vec();
    for (k, v) in [
        ("TightEncodingEnabled", 1),
        ("CacheEnabled", 1),
        ("SizePrefixDisabled", 0),
    ] {
        map.extend((k.len() as u16).to_be_bytes());
        map.extend(k.as_bytes());
        map.extend([1, v]); // boolean
    }
    let mut body = b"ActiveMQ".to_vec();
    body.extend(12u32.to_be_bytes());
    body.push(1);
    body.extend((map.len() as u32).to_be_bytes());
    body.extend(map);
    let mut v = ((body.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(1);
    v.extend(body);
    v
}

fn response(answers: u32) -> Vec<u8> {
    let mut t = Tight::default();
    t.u32(0).bool(false).u32(answers);
    t.frame(30)
}

/// A producer's connection: the negotiation, the broker's BrokerInfo, ConnectionInfo (one in
/// eight refused with a SecurityException, which ends it), SessionInfo, ProducerInfo naming a
/// queue, 1-4 text messages sent synchronously (the first defines the queue in the cache), and
/// ShutdownInfo.
pub(crate) fn producer_session(rng: &mut Rng, conn: u64) -> Vec<Step> {
    let queue = ["ORDERS", "PAYMENTS", "AUDIT.LOG"][rng.range(0, 2) as usize];
    let connection = format!("ID:client-{conn}-1");
    let mut steps = vec![
        Step::Lone(false, wire_format_info()),
        Step::Lone(true, wire_format_info()),
    ];
    let mut broker = Tight::default();
    broker
        .u32(0)
        .bool(false)
        .new_cached(1, 124, |t| {
            t.string("ID:broker-1");
        })
        .string("tcp://broker:61616");
    steps.push(Step::Lone(false, broker.frame(2)));
    let mut connect = Tight::default();
    connect.u32(1).bool(true).new_cached(2, 120, |t| {
        t.string(&connection);
    });
    if rng.range(0, 8) == 0 {
        let mut refused = Tight::default();
        refused
            .u32(0)
            .bool(false)
            .u32(1)
            .bool(true)
            .string("java.lang.SecurityException")
            .string("User name [app] or password is invalid.");
        steps.push(Step::Call(connect.frame(3), refused.frame(31), Some(false)));
        return steps;
    }
    steps.push(Step::Call(connect.frame(3), response(1), None));
    let mut session = Tight::default();
    session.u32(2).bool(false).new_cached(3, 121, |t| {
        t.string(&connection).small_long(1);
    });
    steps.push(Step::Lone(true, session.frame(4)));
    let producer_id = |t: &mut Tight| {
        t.string(&connection).small_long(1).small_long(1);
    };
    let mut producer = Tight::default();
    producer
        .u32(3)
        .bool(true)
        .new_cached(4, 123, producer_id)
        .new_cached(5, 100, |t| {
            t.string(queue);
        });
    steps.push(Step::Call(producer.frame(6), response(3), None));
    for k in 0..rng.range(1, 4) as u32 {
        let id = 4 + k;
        let mut msg = Tight::default();
        msg.u32(id).bool(true).cached_ref(4).cached_ref(5);
        // No transaction id, original destination; the message id.
        msg.bool(false).data.extend(6u16.to_be_bytes());
        msg.bool(false).data.extend(7u16.to_be_bytes());
        msg.bool(true).data.push(110);
        msg.string(&format!("{connection}:1:1:{id}"))
            .cached_ref(4)
            .small_long(id as u16)
            .small_long(0);
        msg.bool(false).data.extend(8u16.to_be_bytes());
        msg.bool(false); // group id
        msg.u32(0);
        msg.bool(false); // correlation id
        msg.data.extend(vec![b'x'; rng.range(8, 200) as usize]);
        steps.push(Step::Call(msg.frame(28), response(id), None));
    }
    let mut shutdown = Tight::default();
    shutdown.u32(100).bool(false);
    steps.push(Step::Lone(true, shutdown.frame(11)));
    steps
}
