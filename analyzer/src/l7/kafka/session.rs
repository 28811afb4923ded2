//! One Kafka connection. Requests pair with responses by correlation id; responses carry no API
//! key, so the session keeps the key and version of each request in flight to read the body.
//!
//! Row fields (`deepflow-facts.md` section 4.5, DeepFlow's Kafka parser): request_type = the API
//! key's name (`Produce`, `Fetch`, `Metadata`), request_id = the correlation id, version = the
//! API version, request_domain = the topic, endpoint = `topic-partition` and request_resource =
//! `topic-partition:offset` (Fetch: the offset asked for; Produce: the base offset the response
//! reports), the attribute `group_id` = the consumer group of a group call (as DeepFlow),
//! request_length / response_length = the message size (without the 4-byte prefix). A topic
//! named by id only (Fetch v13+, Produce v13) is named by the name the worker learned for the id
//! from a Metadata response on any connection ([`super::topic_names`]), else by the id's text;
//! response_code = the error code (Produce/Fetch/ListOffsets/OffsetCommit: the first
//! partition's; Fetch v7+: the top-level one first; OffsetFetch: the group's, else the first
//! failed partition's; Metadata: the first topic's; CreateTopics / DeleteTopics: the first
//! topic's; group, transaction and SASL calls: the top-level one), any
//! code but 0 a server error (as DeepFlow classes it) with Kafka's error name as
//! response_exception. Trace and span ids come from the headers of the first record of a Produce
//! request, looked up like HTTP headers (`tracing_tag.apm_trace_id`); a compressed batch has the
//! head of its records decompressed for them (`l7.kafka.compressed`; data that does not
//! decompress: `l7.kafka.compressed_unread`).
//!
//! A Produce with `acks = 0` gets no response: it is written at once as a request row
//! (`l7.kafka.acks0`). A message longer than what the stream holds is read as far as it was
//! captured and the rest skipped by its size, but for a Metadata response's topic array, read
//! on as it streams by for the topic names ([`super::topic_walk`]); after a gap the direction
//! looks for the next plausible message head (a request head with a known key and version, the
//! connection's client id and a correlation id just above the last one; a response with the
//! correlation id of a request in flight).

use std::fmt::Write;

use super::super::decompress::HEAD_MAX;
use super::super::exchange::{Exchange, Pairing};
use super::super::framing::Skip;
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::tags;
use super::super::{Probe, ResponseStatus};
use super::batch::{self, record_header, Records};
use super::body::{error_name, request_body, response_body, Topic};
use super::topic_names::NAME_MAX;
use super::topic_walk::TopicWalk;
use super::wire::{
    known_version, response_header_flexible, Reader, RequestHeader, API_METADATA, API_PRODUCE,
    MAX_MESSAGE, SIZE_LEN,
};
use crate::inline::InlineBytes;
use crate::record::L7FlowLog;

const COUNTER_ACKS0: usize = 0;
const COUNTER_UNKNOWN_CORRELATION: usize = 1;
const COUNTER_COMPRESSED: usize = 2;
const COUNTER_COMPRESSED_UNREAD: usize = 3;
/// Requests in flight remembered per connection (DeepFlow keeps 16 per flow).
const IN_FLIGHT: usize = 16;
/// Size prefix + api_key + api_version: enough to judge a request head.
const JUDGE_LEN: usize = 8;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Dir {
    #[default]
    Message,
    Skip(Skip),
    /// The uncaptured rest of a Metadata response, its topics read as they stream by.
    Topics(TopicWalk, Skip),
}

/// A request in flight; a free slot has a negative key (Kafka's keys start at 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InFlight {
    correlation_id: u32,
    api_key: i16,
    api_version: i16,
}

const FREE: InFlight = InFlight {
    correlation_id: 0,
    api_key: -1,
    api_version: 0,
};

impl Default for InFlight {
    fn default() -> Self {
        FREE
    }
}

impl InFlight {
    fn is(&self, id: u32) -> bool {
        self.api_key >= 0 && self.correlation_id == id
    }
}

/// Kafka state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct KafkaSession {
    dir: [Dir; 2],
    head: [Option<(u64, u32)>; 2],
    resync: [bool; 2],
    in_flight: [InFlight; IN_FLIGHT],
    next: u8,
    /// The connection's client id (FNV-1a) and last correlation id: a client keeps the one and
    /// counts up the other, which tells a message head from body bytes after a gap.
    client: Option<(u32, u32)>,
}

fn fnv1a(b: &[u8]) -> u32 {
    b.iter().fold(0x811c_9dc5u32, |h, &c| {
        (h ^ u32::from(c)).wrapping_mul(0x0100_0193)
    })
}

/// The size prefix, api key and version look like a Kafka request.
fn plausible_request(b: &[u8]) -> bool {
    let mut r = Reader::new(b);
    let (Some(size), Some(key), Some(version)) = (r.u32(), r.i16(), r.i16()) else {
        return false;
    };
    (8..=MAX_MESSAGE).contains(&size) && known_version(key, version)
}

fn plausible_response(b: &[u8]) -> bool {
    Reader::new(b)
        .u32()
        .is_some_and(|size| (4..=MAX_MESSAGE).contains(&size))
}

/// How a row names `topic`: by the name the worker learned for its id, if the message named it
/// by id alone.
fn topic_name(topic: &Topic<'_>, x: &mut Exchange<'_>) -> Option<InlineBytes<NAME_MAX>> {
    let id = topic.id().filter(|_| topic.name().is_empty())?;
    x.kafka_topics().name(&id).map(InlineBytes::from_slice)
}

fn push_topic_partition(dst: &mut InlineBytes<128>, topic: &[u8], p: i32) {
    dst.push_lossy(topic);
    let _ = write!(dst, "-{p}");
}

impl L7Parser for KafkaSession {
    const DESC: Descriptor = Descriptor {
        counters: &[
            "l7.kafka.acks0",
            "l7.kafka.unknown_correlation",
            "l7.kafka.compressed",
            "l7.kafka.compressed_unread",
        ],
        ..Descriptor::tcp(100, "Kafka")
    };
    type Config = ();

    fn probe(payload: &[u8], _: Transport) -> Probe {
        match RequestHeader::judge(payload) {
            Ok(_) => Probe::Certain,
            Err(true) => Probe::Unsure,
            Err(false) => Probe::NotForUs,
        }
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        RequestHeader::parse(payload).map(|_| true)
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let data = seg.data;
        let mut at = 0;
        if self.resync[d] {
            // The reassembly may hand over what followed the loss in one piece: look for the
            // first message head in it. A head that the data ends inside (a reader that takes
            // a message's first bytes in a call of their own, as librdkafka's mock broker does)
            // is kept, to be judged when the rest comes.
            let found = (0..data.len()).find_map(|i| {
                let b = &data[i..];
                if seg.from_client {
                    match RequestHeader::judge(b) {
                        Ok(h) => (plausible_request(b) && self.continues(&h)).then_some((i, true)),
                        Err(true) => Some((i, false)),
                        Err(false) => None,
                    }
                } else if b.len() < JUDGE_LEN {
                    Some((i, false))
                } else {
                    (plausible_response(b) && self.knows(b)).then_some((i, true))
                }
            });
            match found {
                Some((i, true)) => at = i,
                Some((i, false)) => return i,
                None => return data.len(),
            }
            self.resync[d] = false;
        }
        while at < data.len() {
            let rest = &data[at..];
            if let Dir::Skip(mut skip) = self.dir[d] {
                at += skip.take(rest.len());
                self.dir[d] = if skip.is_done() {
                    Dir::Message
                } else {
                    Dir::Skip(skip)
                };
                continue;
            }
            if let Dir::Topics(walk, left) = self.dir[d] {
                let (used, hold) = self.walk_topics(d, walk, left, rest, seg.hold, x);
                at += used;
                if hold {
                    return at;
                }
                continue;
            }
            let judged = if seg.from_client {
                rest.len() < JUDGE_LEN || plausible_request(rest)
            } else {
                rest.len() < SIZE_LEN || plausible_response(rest)
            };
            if !judged {
                x.parse_error();
                self.resync[d] = true;
                self.head[d] = None;
                return data.len();
            }
            let total = if rest.len() >= SIZE_LEN {
                SIZE_LEN + u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize
            } else {
                usize::MAX
            };
            // Wait for the whole message, or for as much of it as the stream holds.
            if rest.len() < total.min(seg.hold) {
                if let Some(h) = RequestHeader::parse(rest).filter(|_| seg.from_client) {
                    self.client = Some((fnv1a(h.client_id), h.correlation_id));
                }
                self.head[d].get_or_insert((x.now_ns(), x.tcp_seq()));
                return at;
            }
            let msg = &rest[..total.min(rest.len())];
            let (ts, seq) = self.head[d].take().unwrap_or((x.now_ns(), x.tcp_seq()));
            let read = if seg.from_client {
                self.request(msg, ts, seq, x).then_some(None)
            } else {
                self.response(msg, ts, seq, x)
            };
            let Some(walking) = read else {
                x.parse_error();
                self.resync[d] = true;
                return data.len();
            };
            match walking {
                // A Metadata response's topics go on past what was captured: they are read
                // as the rest streams by, from the first element not read whole.
                Some((walk, used)) if msg.len() < total => {
                    at += used;
                    self.dir[d] = Dir::Topics(walk, Skip((total - used) as u64));
                }
                _ => {
                    at += msg.len();
                    if msg.len() < total {
                        self.dir[d] = Dir::Skip(Skip((total - msg.len()) as u64));
                    }
                }
            }
        }
        at
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.dir[dir] = Dir::Message;
        self.head[dir] = None;
        self.resync[dir] = true;
    }
}

impl KafkaSession {
    /// A response to a request this session saw in flight.
    fn knows(&self, b: &[u8]) -> bool {
        let mut r = Reader::at(b, SIZE_LEN);
        r.u32()
            .is_some_and(|id| self.in_flight.iter().any(|f| f.is(id)))
    }

    /// `h` could be the next request of this connection's client.
    fn continues(&self, h: &RequestHeader<'_>) -> bool {
        self.client.is_none_or(|(id, corr)| {
            id == fnv1a(h.client_id) && (1..=1 << 16).contains(&h.correlation_id.wrapping_sub(corr))
        })
    }

    fn remember(&mut self, f: InFlight) {
        let i = usize::from(self.next) % IN_FLIGHT;
        self.in_flight[i] = f;
        self.next = ((i + 1) % IN_FLIGHT) as u8;
    }

    fn take(&mut self, id: u32) -> Option<InFlight> {
        let f = self.in_flight.iter_mut().find(|f| f.is(id))?;
        Some(std::mem::replace(f, FREE))
    }

    /// Reads `rest` (direction `d`'s next bytes) on with a Metadata response's topic walk, `left`
    /// bytes of the response to go: (bytes used, whether the rest is to be held and offered again
    /// with what follows: an element it ends inside, which the stream can hold).
    fn walk_topics(
        &mut self,
        d: usize,
        mut walk: TopicWalk,
        mut left: Skip,
        rest: &[u8],
        hold: usize,
        x: &mut Exchange<'_>,
    ) -> (usize, bool) {
        let avail = rest
            .len()
            .min(usize::try_from(left.0).unwrap_or(usize::MAX));
        // The response goes on past these bytes.
        let more = (avail as u64) < left.0;
        let names = x.kafka_topics();
        let used = walk.feed(&rest[..avail], |id, name| names.learn(id, name));
        left.take(used);
        let cut = used < avail && !walk.is_done();
        if cut && more && avail - used < hold {
            self.dir[d] = Dir::Topics(walk, left);
            return (used, true);
        }
        self.dir[d] = if left.is_done() {
            Dir::Message
        } else if cut || walk.is_done() {
            // Done, or an element the stream cannot hold: the rest is passed over.
            Dir::Skip(left)
        } else {
            Dir::Topics(walk, left)
        };
        (used, false)
    }

    fn request(&mut self, msg: &[u8], ts: u64, seq: u32, x: &mut Exchange<'_>) -> bool {
        let Some(h) = RequestHeader::parse(msg) else {
            return false;
        };
        self.client = Some((fnv1a(h.client_id), h.correlation_id));
        let body = request_body(h.api_key, h.api_version, msg, h.body_at);
        // The head buffer is zeroed only for a compressed batch.
        let mut head: [u8; HEAD_MAX];
        let records = if body.records.is_empty() {
            Records::Absent
        } else if batch::is_compressed(body.records) {
            head = [0; HEAD_MAX];
            batch::records(body.records, &mut head, x.zstd())
        } else {
            batch::records(body.records, &mut [], x.zstd())
        };
        match records {
            Records::Decompressed(_) => x.count(COUNTER_COMPRESSED),
            Records::Unread => x.count(COUNTER_COMPRESSED_UNREAD),
            Records::Absent | Records::Plain(_) => {}
        }
        let known = topic_name(&body.topic, x);
        let topic = known.as_ref().map_or(body.topic.bytes(), |n| n.as_bytes());
        let tags = &x.settings().tags;
        let fill = |row: &mut L7FlowLog| {
            if let Some(name) = super::wire::api_name(h.api_key) {
                row.request_type.push_lossy(name.as_bytes());
            }
            row.request_id = Some(h.correlation_id);
            let _ = write!(row.version, "{}", h.api_version);
            row.request_length = i64::from(h.size);
            row.request_domain.push_lossy(topic);
            if let Some(p) = body.partition {
                push_topic_partition(&mut row.endpoint, topic, p);
                if let Some(o) = body.offset {
                    row.request_resource.push_lossy(topic);
                    let _ = write!(row.request_resource, "-{p}:{o}");
                }
            }
            if !body.group.is_empty() {
                row.attributes.push(b"group_id", body.group);
            }
            if let Records::Plain(r) | Records::Decompressed(r) = records {
                tags::extract(tags, true, |n| record_header(r, n), row);
            }
        };
        let captured = msg.len() as u32;
        if h.api_key == API_PRODUCE && body.acks == Some(0) {
            x.count(COUNTER_ACKS0);
            x.one_way(captured, fill);
        } else {
            self.remember(InFlight {
                correlation_id: h.correlation_id,
                api_key: h.api_key,
                api_version: h.api_version,
            });
            x.request_at(ts, seq, Some(h.correlation_id), captured, fill);
        }
        true
    }

    /// Reads response `msg` (as far as captured) into its row: None when it does not read; a
    /// Metadata response's topic walk (and the bytes of `msg` it used) when its topics may go on.
    fn response(
        &mut self,
        msg: &[u8],
        ts: u64,
        seq: u32,
        x: &mut Exchange<'_>,
    ) -> Option<Option<(TopicWalk, usize)>> {
        let mut r = Reader::new(msg);
        let (Some(size), Some(id)) = (r.u32(), r.u32()) else {
            return None;
        };
        let req = self.take(id);
        let body = match req {
            Some(f) => {
                if response_header_flexible(f.api_key, f.api_version) && r.tagged_fields().is_none()
                {
                    return Some(None);
                }
                response_body(f.api_key, f.api_version, msg, r.at)
            }
            None => {
                x.count(COUNTER_UNKNOWN_CORRELATION);
                Default::default()
            }
        };
        let mut walking = None;
        if let Some(f) = req.filter(|f| f.api_key == API_METADATA) {
            let names = x.kafka_topics();
            walking = TopicWalk::start(f.api_version, msg, r.at, |id, name| names.learn(id, name))
                .filter(|(walk, _)| !walk.is_done());
        }
        let known = topic_name(&body.topic, x);
        let topic = known.as_ref().map_or(body.topic.bytes(), |n| n.as_bytes());
        x.response_at(ts, seq, Pairing::Key(id), msg.len() as u32, |row| {
            row.response_length = i64::from(size);
            if row.request_type.is_empty() {
                if let Some(name) = req.and_then(|f| super::wire::api_name(f.api_key)) {
                    row.request_type.push_lossy(name.as_bytes());
                }
                row.request_id = Some(id);
            }
            if let (Some(p), false) = (body.partition, body.topic.is_empty()) {
                if row.endpoint.is_empty() {
                    push_topic_partition(&mut row.endpoint, topic, p);
                }
                if row.request_resource.is_empty() {
                    if let Some(o) = body.offset {
                        row.request_resource.push_lossy(topic);
                        let _ = write!(row.request_resource, "-{p}:{o}");
                    }
                }
            }
            if row.request_domain.is_empty() {
                row.request_domain.push_lossy(topic);
            }
            if body.no_error {
                row.response_status = ResponseStatus::Ok.code();
            }
            if let Some(code) = body.error_code {
                row.response_code = Some(i32::from(code));
                if code == 0 {
                    row.response_status = ResponseStatus::Ok.code();
                } else {
                    row.response_status = ResponseStatus::ServerError.code();
                    match error_name(code) {
                        Some(n) => row.response_exception.push_lossy(n.as_bytes()),
                        None => {
                            let _ = write!(row.response_exception, "error {code}");
                        }
                    }
                }
            }
        });
        Some(walking)
    }
}
