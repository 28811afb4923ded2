//! Pulsar's binary protocol (`PulsarApi.proto`) as far as a request log needs it. A frame is a
//! 4-byte total size, a 4-byte command size and a `BaseCommand` (protobuf: its type in field 1,
//! the command itself in the field numbered like the type); `SEND` and `MESSAGE` frames go on
//! with the message: optionally the broker's entry metadata (magic `0x0e02`, a size, the
//! metadata), then magic `0x0e01`, a CRC32-C, the `MessageMetadata`'s size and the metadata
//! (producer name, sequence id, properties: where trace ids travel), then the payload, which is
//! not read. Bounded reads only ([`super::super::protobuf`]).

use super::super::protobuf::{Fields, Value};

/// The total size and the command size.
pub const FRAME_HEAD: usize = 8;
/// What [`frame`] reads: the sizes and the command's type (its field key and a one-byte value).
pub const FRAME_CHECKED: usize = FRAME_HEAD + 2;
/// Pulsar's `maxMessageSize` is 5 MiB by default and brokers may raise it; larger claims are not
/// Pulsar.
pub const MAX_FRAME: u32 = 128 << 20;
const MAGIC_CRC32C: [u8; 2] = [0x0e, 0x01];
const MAGIC_BROKER_ENTRY_METADATA: [u8; 2] = [0x0e, 0x02];

/// What a command is in a request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A request the other side answers (by request id, or `SEND` by producer and sequence id).
    Request,
    /// The answer to a request.
    Response,
    /// A message of its own (DeepFlow's "session" messages: `MESSAGE`, `FLOW`, `ACK`, ...).
    Lone,
}

/// Where a command keeps the fields a row needs: protobuf field numbers, 0 for none.
#[derive(Debug, Clone, Copy)]
struct Layout {
    name: &'static str,
    role: Role,
    request_id: u8,
    producer_id: u8,
    consumer_id: u8,
    sequence_id: u8,
    topic: u8,
    error: u8,
    message: u8,
    message_id: u8,
    protocol_version: u8,
}

const fn layout(name: &'static str, role: Role) -> Layout {
    Layout {
        name,
        role,
        request_id: 0,
        producer_id: 0,
        consumer_id: 0,
        sequence_id: 0,
        topic: 0,
        error: 0,
        message: 0,
        message_id: 0,
        protocol_version: 0,
    }
}

/// Command types (`BaseCommand.Type`).
pub mod kinds {
    pub const CONNECT: u8 = 2;
    pub const CONNECTED: u8 = 3;
    pub const SEND: u8 = 6;
    pub const SEND_RECEIPT: u8 = 7;
    pub const SEND_ERROR: u8 = 8;
    pub const MESSAGE: u8 = 9;
    pub const ACK: u8 = 10;
    pub const PING: u8 = 18;
    pub const PONG: u8 = 19;
    pub const LOOKUP_RESPONSE: u8 = 24;
    pub const PARTITIONED_METADATA_RESPONSE: u8 = 22;
    pub const ACK_RESPONSE: u8 = 38;
}

/// The layout of command type `kind` (None: not a command type).
fn layout_of(kind: u8) -> Option<Layout> {
    use Role::*;
    let req = |name, request_id| Layout {
        request_id,
        ..layout(name, Request)
    };
    // Responses whose error and message follow the request id: NewTxnResponse and the other
    // transaction responses (request id 1, error 4, message 5).
    let txn = |name| Layout {
        request_id: 1,
        error: 4,
        message: 5,
        ..layout(name, Response)
    };
    Some(match kind {
        2 => Layout {
            protocol_version: 4,
            ..layout("CONNECT", Request)
        },
        3 => Layout {
            protocol_version: 2,
            ..layout("CONNECTED", Response)
        },
        4 => Layout {
            topic: 1,
            consumer_id: 4,
            request_id: 5,
            ..layout("SUBSCRIBE", Request)
        },
        5 => Layout {
            topic: 1,
            producer_id: 2,
            request_id: 3,
            ..layout("PRODUCER", Request)
        },
        6 => Layout {
            producer_id: 1,
            sequence_id: 2,
            message_id: 9,
            ..layout("SEND", Request)
        },
        7 => Layout {
            producer_id: 1,
            sequence_id: 2,
            message_id: 3,
            ..layout("SEND_RECEIPT", Response)
        },
        8 => Layout {
            producer_id: 1,
            sequence_id: 2,
            error: 3,
            message: 4,
            ..layout("SEND_ERROR", Response)
        },
        9 => Layout {
            consumer_id: 1,
            message_id: 2,
            ..layout("MESSAGE", Lone)
        },
        // An ACK with a request id asks for an ACK_RESPONSE (ack receipts): see `role`.
        10 => Layout {
            consumer_id: 1,
            message_id: 3,
            request_id: 8,
            ..layout("ACK", Lone)
        },
        11 => Layout {
            consumer_id: 1,
            ..layout("FLOW", Lone)
        },
        12 => Layout {
            consumer_id: 1,
            ..req("UNSUBSCRIBE", 2)
        },
        13 => Layout {
            request_id: 1,
            ..layout("SUCCESS", Response)
        },
        14 => Layout {
            request_id: 1,
            error: 2,
            message: 3,
            ..layout("ERROR", Response)
        },
        15 => Layout {
            producer_id: 1,
            ..req("CLOSE_PRODUCER", 2)
        },
        16 => Layout {
            consumer_id: 1,
            ..req("CLOSE_CONSUMER", 2)
        },
        17 => Layout {
            request_id: 1,
            ..layout("PRODUCER_SUCCESS", Response)
        },
        18 => layout("PING", Request),
        19 => layout("PONG", Response),
        20 => Layout {
            consumer_id: 1,
            ..layout("REDELIVER_UNACKNOWLEDGED_MESSAGES", Lone)
        },
        21 => Layout {
            topic: 1,
            ..req("PARTITIONED_METADATA", 2)
        },
        22 => Layout {
            request_id: 2,
            error: 4,
            message: 5,
            ..layout("PARTITIONED_METADATA_RESPONSE", Response)
        },
        23 => Layout {
            topic: 1,
            ..req("LOOKUP", 2)
        },
        24 => Layout {
            request_id: 4,
            error: 6,
            message: 7,
            ..layout("LOOKUP_RESPONSE", Response)
        },
        25 => Layout {
            consumer_id: 4,
            ..req("CONSUMER_STATS", 1)
        },
        26 => Layout {
            request_id: 1,
            error: 2,
            message: 3,
            ..layout("CONSUMER_STATS_RESPONSE", Response)
        },
        27 => Layout {
            consumer_id: 1,
            ..layout("REACHED_END_OF_TOPIC", Lone)
        },
        28 => Layout {
            consumer_id: 1,
            ..req("SEEK", 2)
        },
        29 => Layout {
            consumer_id: 1,
            ..req("GET_LAST_MESSAGE_ID", 2)
        },
        30 => Layout {
            request_id: 2,
            ..layout("GET_LAST_MESSAGE_ID_RESPONSE", Response)
        },
        31 => Layout {
            consumer_id: 1,
            ..layout("ACTIVE_CONSUMER_CHANGE", Lone)
        },
        32 => req("GET_TOPICS_OF_NAMESPACE", 1),
        33 => Layout {
            request_id: 1,
            ..layout("GET_TOPICS_OF_NAMESPACE_RESPONSE", Response)
        },
        34 => Layout {
            topic: 2,
            ..req("GET_SCHEMA", 1)
        },
        35 => Layout {
            request_id: 1,
            error: 2,
            message: 3,
            ..layout("GET_SCHEMA_RESPONSE", Response)
        },
        // The broker challenges and the client answers: the other way round; rows of their own.
        36 => Layout {
            protocol_version: 3,
            ..layout("AUTH_CHALLENGE", Lone)
        },
        37 => Layout {
            protocol_version: 3,
            ..layout("AUTH_RESPONSE", Lone)
        },
        38 => Layout {
            consumer_id: 1,
            error: 4,
            message: 5,
            request_id: 6,
            ..layout("ACK_RESPONSE", Lone)
        },
        39 => Layout {
            topic: 2,
            ..req("GET_OR_CREATE_SCHEMA", 1)
        },
        40 => Layout {
            request_id: 1,
            error: 2,
            message: 3,
            ..layout("GET_OR_CREATE_SCHEMA_RESPONSE", Response)
        },
        50 => req("NEW_TXN", 1),
        51 => txn("NEW_TXN_RESPONSE"),
        52 => req("ADD_PARTITION_TO_TXN", 1),
        53 => txn("ADD_PARTITION_TO_TXN_RESPONSE"),
        54 => req("ADD_SUBSCRIPTION_TO_TXN", 1),
        55 => txn("ADD_SUBSCRIPTION_TO_TXN_RESPONSE"),
        56 => req("END_TXN", 1),
        57 => txn("END_TXN_RESPONSE"),
        58 => Layout {
            topic: 4,
            ..req("END_TXN_ON_PARTITION", 1)
        },
        59 => txn("END_TXN_ON_PARTITION_RESPONSE"),
        60 => req("END_TXN_ON_SUBSCRIPTION", 1),
        61 => txn("END_TXN_ON_SUBSCRIPTION_RESPONSE"),
        62 => req("TC_CLIENT_CONNECT_REQUEST", 1),
        63 => Layout {
            request_id: 1,
            error: 2,
            message: 3,
            ..layout("TC_CLIENT_CONNECT_RESPONSE", Response)
        },
        64 => req("WATCH_TOPIC_LIST", 1),
        65 => Layout {
            request_id: 1,
            ..layout("WATCH_TOPIC_LIST_SUCCESS", Response)
        },
        66 => layout("WATCH_TOPIC_UPDATE", Lone),
        // Answered by SUCCESS.
        67 => req("WATCH_TOPIC_LIST_CLOSE", 1),
        68 => layout("TOPIC_MIGRATED", Lone),
        _ => return None,
    })
}

/// The name of command type `kind` (`BaseCommand.Type`'s, DeepFlow's `request_type`).
pub fn command_name(kind: u8) -> Option<&'static str> {
    layout_of(kind).map(|l| l.name)
}

/// The name of a `ServerError` code, for an error that came without a message.
pub fn server_error_name(code: u64) -> &'static str {
    const NAMES: [&str; 26] = [
        "UnknownError",
        "MetadataError",
        "PersistenceError",
        "AuthenticationError",
        "AuthorizationError",
        "ConsumerBusy",
        "ServiceNotReady",
        "ProducerBlockedQuotaExceededError",
        "ProducerBlockedQuotaExceededException",
        "ChecksumError",
        "UnsupportedVersionError",
        "TopicNotFound",
        "SubscriptionNotFound",
        "ConsumerNotFound",
        "TooManyRequests",
        "TopicTerminatedError",
        "ProducerBusy",
        "InvalidTopicName",
        "IncompatibleSchema",
        "ConsumerAssignError",
        "TransactionCoordinatorNotFound",
        "InvalidTxnStatus",
        "NotAllowedError",
        "TransactionConflict",
        "TransactionNotFound",
        "ProducerFenced",
    ];
    NAMES.get(code as usize).copied().unwrap_or("ServerError")
}

/// A frame's sizes, if `b` starts like a Pulsar frame (sizes that fit, then a command of a known
/// type): (total size after its own 4 bytes, command size).
pub fn frame(b: &[u8]) -> Option<(u32, u32)> {
    let h = b.get(..FRAME_CHECKED)?;
    let total = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let cmd = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    // A command has at least its type (2 bytes) and its own field (2 bytes).
    let sizes = (8..=MAX_FRAME).contains(&total) && cmd >= 4 && cmd <= total - 4;
    (sizes && h[8] == 0x08 && layout_of(h[9]).is_some()).then_some((total, cmd))
}

/// A message id (`MessageIdData`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageId {
    pub ledger: u64,
    pub entry: u64,
    pub partition: i32,
    pub batch_index: i32,
}

impl MessageId {
    fn read(b: &[u8]) -> Option<MessageId> {
        let mut id = MessageId {
            ledger: u64::MAX,
            entry: u64::MAX,
            partition: -1,
            batch_index: -1,
        };
        for (n, v) in Fields::new(b) {
            match (n, v) {
                (1, Value::Varint(x)) => id.ledger = x,
                (2, Value::Varint(x)) => id.entry = x,
                (3, Value::Varint(x)) => id.partition = x as i32,
                (4, Value::Varint(x)) => id.batch_index = x as i32,
                _ => {}
            }
        }
        (id.ledger != u64::MAX && id.entry != u64::MAX).then_some(id)
    }
}

impl std::fmt::Display for MessageId {
    /// `ledger:entry:partition:batch_index`, as DeepFlow writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            self.ledger, self.entry, self.partition, self.batch_index
        )
    }
}

/// The fields of one command a row needs.
#[derive(Debug, Clone, Copy)]
pub struct Command<'a> {
    pub kind: u8,
    pub name: &'static str,
    pub role: Role,
    pub request_id: Option<u64>,
    pub producer_id: Option<u64>,
    pub consumer_id: Option<u64>,
    pub sequence_id: Option<u64>,
    /// The whole topic name (`persistent://public/default/orders`).
    pub topic: &'a [u8],
    /// A `ServerError` code.
    pub error: Option<u64>,
    pub message: &'a [u8],
    pub message_id: Option<MessageId>,
    pub protocol_version: Option<u32>,
    /// `CONNECT`'s `proxy_to_broker_url`.
    pub proxy_to_broker_url: &'a [u8],
    /// A lookup answered `Failed` (`LOOKUP_RESPONSE`, `PARTITIONED_METADATA_RESPONSE`).
    pub failed: bool,
}

/// Reads a `BaseCommand` (as much of it as `b` holds). None when it does not start with a known
/// type, or its command field is missing from a whole command.
pub fn command(b: &[u8]) -> Option<Command<'_>> {
    let mut fields = Fields::new(b);
    let kind = match fields.next() {
        Some((1, Value::Varint(k))) if k <= u64::from(u8::MAX) => k as u8,
        _ => return None,
    };
    let l = layout_of(kind)?;
    let body = fields
        .find_map(|(n, v)| (n == u32::from(kind)).then_some(v))
        .and_then(Value::bytes)?;
    let mut c = Command {
        kind,
        name: l.name,
        role: l.role,
        request_id: None,
        producer_id: None,
        consumer_id: None,
        sequence_id: None,
        topic: &[],
        error: None,
        message: &[],
        message_id: None,
        protocol_version: None,
        proxy_to_broker_url: &[],
        failed: false,
    };
    let is = |want: u8, n: u32| want != 0 && u32::from(want) == n;
    for (n, v) in Fields::new(body) {
        match v {
            Value::Varint(x) => {
                if is(l.request_id, n) {
                    c.request_id = Some(x);
                } else if is(l.producer_id, n) {
                    c.producer_id = Some(x);
                } else if is(l.consumer_id, n) {
                    c.consumer_id = Some(x);
                } else if is(l.sequence_id, n) {
                    c.sequence_id = Some(x);
                } else if is(l.error, n) {
                    c.error = Some(x);
                } else if is(l.protocol_version, n) {
                    c.protocol_version = Some(x as u32);
                } else if n == 3
                    && matches!(
                        kind,
                        kinds::LOOKUP_RESPONSE | kinds::PARTITIONED_METADATA_RESPONSE
                    )
                {
                    // LookupType: Failed is 2 for a lookup, 1 for partitioned metadata.
                    c.failed = x == if kind == kinds::LOOKUP_RESPONSE { 2 } else { 1 };
                }
            }
            Value::Bytes(s) => {
                if is(l.topic, n) {
                    c.topic = s;
                } else if is(l.message, n) {
                    c.message = s;
                } else if is(l.message_id, n) && c.message_id.is_none() {
                    c.message_id = MessageId::read(s);
                } else if kind == kinds::CONNECT && n == 6 {
                    c.proxy_to_broker_url = s;
                }
            }
            _ => {}
        }
    }
    Some(c)
}

/// The `MessageMetadata` after a `SEND` or `MESSAGE` command (`after` = the frame's bytes after
/// the command, as captured), skipping the broker's entry metadata. None when there is none.
pub fn message_metadata(after: &[u8]) -> Option<&[u8]> {
    let mut rest = after;
    if rest.get(..2)? == MAGIC_BROKER_ENTRY_METADATA {
        let size = u32::from_be_bytes(rest.get(2..6)?.try_into().ok()?) as usize;
        rest = rest.get(6usize.checked_add(size)?..)?;
    }
    if rest.get(..2)? != MAGIC_CRC32C {
        return None;
    }
    let size = u32::from_be_bytes(rest.get(6..10)?.try_into().ok()?) as usize;
    let meta = rest.get(10..)?;
    Some(&meta[..size.min(meta.len())])
}

/// The value of property `name` (compared as header names) in a `MessageMetadata`.
pub fn property<'a>(metadata: &'a [u8], name: &str) -> Option<&'a [u8]> {
    Fields::new(metadata)
        .filter(|(n, _)| *n == 4)
        .filter_map(|(_, v)| v.bytes())
        .find_map(|kv| {
            let key = Fields::find(kv, 1)?.bytes()?;
            let key = std::str::from_utf8(key).ok()?;
            super::super::http1::same_header_name(key, name)
                .then(|| Fields::find(kv, 2).and_then(Value::bytes))
                .flatten()
        })
}

/// The last part of a topic name (`orders` of `persistent://public/default/orders`), as
/// DeepFlow names the resource.
pub fn short_topic(topic: &[u8]) -> &[u8] {
    match topic.iter().rposition(|&c| c == b'/') {
        Some(i) => &topic[i + 1..],
        None => topic,
    }
}
