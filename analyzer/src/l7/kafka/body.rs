//! What tapflow reads from Kafka message bodies: the topic, partition and offset of Produce and
//! Fetch requests, the start of a Produce's record batch, and the error code of the responses
//! whose layout puts one near the start. Bodies are read as far as they were captured; a body
//! cut before the field gives None, never a wrong value.

use super::super::base64::{self, Base64};
use super::wire::{is_flexible, Reader, API_FETCH, API_METADATA, API_PRODUCE};
use crate::inline::InlineBytes;

/// A topic as a message names it: by name, or (Fetch v13+, Produce v13) by id only. An id is
/// written as Kafka's tools print it (`kafka-topics.sh --describe`: base64url without padding,
/// 22 characters), so a row names the topic either way. Metadata responses from v10 on give both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Topic<'a> {
    name: &'a [u8],
    id: Option<[u8; 16]>,
    text: InlineBytes<24>,
}

impl<'a> Topic<'a> {
    fn read_name(r: &mut Reader<'a>, flex: bool) -> Option<Self> {
        Some(Topic {
            name: r.string(flex)?,
            ..Topic::default()
        })
    }

    fn read_id(r: &mut Reader<'a>) -> Option<Self> {
        let mut t = Topic::default();
        t.set_id(r)?;
        Some(t)
    }

    fn set_id(&mut self, r: &mut Reader<'a>) -> Option<()> {
        let id: [u8; 16] = r.bytes(16)?.try_into().ok()?;
        base64::encode(&id, Base64::UrlNoPad, &mut self.text);
        self.id = Some(id);
        Some(())
    }

    /// The name as the message gave it (empty when it named the topic by id only).
    pub fn name(&self) -> &'a [u8] {
        self.name
    }

    /// The id, when the message gave one.
    pub fn id(&self) -> Option<[u8; 16]> {
        self.id
    }

    /// The name, or the id's text.
    pub fn bytes(&self) -> &[u8] {
        match self.id {
            Some(_) if self.name.is_empty() => self.text.as_bytes(),
            _ => self.name,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }
}

/// Fields of a request body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestBody<'a> {
    pub topic: Topic<'a>,
    pub partition: Option<i32>,
    /// Fetch: the offset asked for.
    pub offset: Option<i64>,
    /// Produce: `acks` (0: the broker sends no response).
    pub acks: Option<i16>,
    /// Produce: the captured start of the first partition's record batch.
    pub records: &'a [u8],
    /// Topics in the request.
    pub topics: u32,
    /// The consumer group of a group call (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
    /// OffsetCommit, OffsetFetch up to v7: the body's first field; OffsetFetch v8+: the first
    /// group's).
    pub group: &'a [u8],
}

/// Reads a request body (`b` is the message from its size prefix, `at` the body's offset).
pub fn request_body(key: i16, version: i16, b: &[u8], at: usize) -> RequestBody<'_> {
    let mut out = RequestBody::default();
    let _ = match key {
        API_PRODUCE => produce(version, Reader::at(b, at), &mut out),
        API_FETCH => fetch(version, Reader::at(b, at), &mut out),
        API_OFFSET_COMMIT | API_JOIN_GROUP | API_HEARTBEAT | API_LEAVE_GROUP | API_SYNC_GROUP => {
            group(key, version, Reader::at(b, at), &mut out)
        }
        API_OFFSET_FETCH if version < 8 => group(key, version, Reader::at(b, at), &mut out),
        API_OFFSET_FETCH => first_group(version, Reader::at(b, at), &mut out),
        _ => None,
    };
    out
}

const API_OFFSET_COMMIT: i16 = 8;
const API_OFFSET_FETCH: i16 = 9;
const API_JOIN_GROUP: i16 = 11;
const API_HEARTBEAT: i16 = 12;
const API_LEAVE_GROUP: i16 = 13;
const API_SYNC_GROUP: i16 = 14;

/// A group call's group id (its first field).
fn group<'a>(key: i16, v: i16, mut r: Reader<'a>, out: &mut RequestBody<'a>) -> Option<()> {
    out.group = r.string(is_flexible(key, v))?;
    Some(())
}

/// OffsetFetch v8+: the first group's id (the call lists groups, each with its topics).
fn first_group<'a>(v: i16, mut r: Reader<'a>, out: &mut RequestBody<'a>) -> Option<()> {
    if r.array_len(is_flexible(API_OFFSET_FETCH, v))? > 0 {
        group(API_OFFSET_FETCH, v, r, out)?;
    }
    Some(())
}

fn produce<'a>(v: i16, mut r: Reader<'a>, out: &mut RequestBody<'a>) -> Option<()> {
    let flex = is_flexible(API_PRODUCE, v);
    if v >= 3 {
        r.string(flex)?; // transactional_id
    }
    out.acks = Some(r.i16()?);
    r.i32()?; // timeout_ms
    out.topics = r.array_len(flex)?;
    if out.topics == 0 {
        return Some(());
    }
    out.topic = if v >= 13 {
        Topic::read_id(&mut r)?
    } else {
        Topic::read_name(&mut r, flex)?
    };
    if r.array_len(flex)? == 0 {
        return Some(());
    }
    out.partition = Some(r.i32()?);
    out.records = r.bytes_prefix(flex)?;
    Some(())
}

fn fetch<'a>(v: i16, mut r: Reader<'a>, out: &mut RequestBody<'a>) -> Option<()> {
    let flex = is_flexible(API_FETCH, v);
    if v < 15 {
        r.i32()?; // replica_id
    }
    r.skip(8)?; // max_wait_ms, min_bytes
    if v >= 3 {
        r.i32()?; // max_bytes
    }
    if v >= 4 {
        r.i8()?; // isolation_level
    }
    if v >= 7 {
        r.skip(8)?; // session_id, session_epoch
    }
    out.topics = r.array_len(flex)?;
    if out.topics == 0 {
        return Some(());
    }
    out.topic = if v >= 13 {
        Topic::read_id(&mut r)?
    } else {
        Topic::read_name(&mut r, flex)?
    };
    if r.array_len(flex)? == 0 {
        return Some(());
    }
    out.partition = Some(r.i32()?);
    if v >= 9 {
        r.i32()?; // current_leader_epoch
    }
    out.offset = Some(r.i64()?);
    Some(())
}

/// Fields of a response body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseBody<'a> {
    pub error_code: Option<i16>,
    pub topic: Topic<'a>,
    pub partition: Option<i32>,
    /// Produce: the base offset the records were written at.
    pub offset: Option<i64>,
    /// A response read to where an error code would be that has none (a Metadata response
    /// listing no topics: the brokers were what was asked for).
    pub no_error: bool,
}

/// Where a response keeps its error code.
enum Layout {
    /// `error_code` first.
    ErrorFirst,
    /// `throttle_time_ms` then `error_code`.
    ThrottleError,
    /// [throttle] then topics `[name, partitions [index, error_code ...]]`.
    PerPartition {
        throttle: bool,
    },
    /// [throttle] then topics `[name, error_code ...]`.
    PerTopic {
        throttle: bool,
    },
    Produce,
    Fetch,
    Metadata,
    OffsetFetch,
    Unknown,
}

fn layout(key: i16, v: i16) -> Layout {
    use Layout::*;
    match key {
        0 => Produce,
        1 => Fetch,
        2 => PerPartition { throttle: v >= 2 },
        3 => Metadata,
        8 => PerPartition { throttle: v >= 3 },
        9 => OffsetFetch,
        10 if v < 4 => {
            if v >= 1 {
                ThrottleError
            } else {
                ErrorFirst
            }
        }
        11 => {
            if v >= 2 {
                ThrottleError
            } else {
                ErrorFirst
            }
        }
        12..=14 | 16 => {
            if v >= 1 {
                ThrottleError
            } else {
                ErrorFirst
            }
        }
        17 | 18 | 36 => ErrorFirst,
        19 => PerTopic { throttle: v >= 2 },
        20 => PerTopic { throttle: v >= 1 },
        22 | 25 | 26 | 60 | 68 | 71 | 72 => ThrottleError,
        _ => Unknown,
    }
}

/// Reads a response body (`b` the message from its size prefix, `at` the body's offset) of a
/// request with `key` and `version`.
pub fn response_body(key: i16, version: i16, b: &[u8], at: usize) -> ResponseBody<'_> {
    let mut out = ResponseBody::default();
    let flex = is_flexible(key, version);
    let mut r = Reader::at(b, at);
    let _ = (|| -> Option<()> {
        match layout(key, version) {
            Layout::ErrorFirst => out.error_code = Some(r.i16()?),
            Layout::ThrottleError => {
                r.i32()?;
                out.error_code = Some(r.i16()?);
            }
            Layout::PerPartition { throttle } => {
                if throttle {
                    r.i32()?;
                }
                if r.array_len(flex)? > 0 {
                    out.topic = Topic::read_name(&mut r, flex)?;
                    if r.array_len(flex)? > 0 {
                        out.partition = Some(r.i32()?);
                        out.error_code = Some(r.i16()?);
                    }
                }
            }
            Layout::PerTopic { throttle } => {
                if throttle {
                    r.i32()?;
                }
                if r.array_len(flex)? > 0 {
                    out.topic = Topic::read_name(&mut r, flex)?;
                    if key == 19 && version >= 7 || key == 20 && version >= 6 {
                        r.skip(16)?; // topic_id
                    }
                    out.error_code = Some(r.i16()?);
                }
            }
            Layout::Produce => {
                if r.array_len(flex)? > 0 {
                    out.topic = if version >= 13 {
                        Topic::read_id(&mut r)?
                    } else {
                        Topic::read_name(&mut r, flex)?
                    };
                    if r.array_len(flex)? > 0 {
                        out.partition = Some(r.i32()?);
                        out.error_code = Some(r.i16()?);
                        out.offset = Some(r.i64()?);
                    }
                }
            }
            Layout::Fetch => {
                if version >= 1 {
                    r.i32()?;
                }
                if version >= 7 {
                    let top = r.i16()?;
                    out.error_code = Some(top);
                    r.i32()?; // session_id
                    if top != 0 {
                        return Some(());
                    }
                }
                if r.array_len(flex)? > 0 {
                    out.topic = if version >= 13 {
                        Topic::read_id(&mut r)?
                    } else {
                        Topic::read_name(&mut r, flex)?
                    };
                    if r.array_len(flex)? > 0 {
                        out.partition = Some(r.i32()?);
                        out.error_code = Some(r.i16()?);
                    }
                }
            }
            Layout::Metadata => metadata(version, flex, &mut r, &mut out)?,
            Layout::OffsetFetch => offset_fetch(version, flex, &mut r, &mut out)?,
            Layout::Unknown => {}
        }
        Some(())
    })();
    out
}

/// Skips a Metadata response's throttle time, brokers, cluster id and controller id: `r` is left
/// at the topic array.
fn skip_to_metadata_topics(v: i16, flex: bool, r: &mut Reader<'_>) -> Option<()> {
    if v >= 3 {
        r.i32()?;
    }
    let brokers = r.array_len(flex)?;
    for _ in 0..brokers {
        r.i32()?; // node_id
        r.string(flex)?; // host
        r.i32()?; // port
        if v >= 1 {
            r.string(flex)?; // rack
        }
        if flex {
            r.tagged_fields()?;
        }
    }
    if v >= 2 {
        r.string(flex)?; // cluster_id
    }
    if v >= 1 {
        r.i32()?; // controller_id
    }
    Some(())
}

/// Metadata: the first topic's error code (0 when the response lists no topic: the brokers
/// were what was asked for).
fn metadata<'a>(v: i16, flex: bool, r: &mut Reader<'a>, out: &mut ResponseBody<'a>) -> Option<()> {
    skip_to_metadata_topics(v, flex, r)?;
    if r.array_len(flex)? > 0 {
        let code = r.i16()?;
        out.error_code = Some(code);
        out.topic = Topic::read_name(r, flex)?;
        if v >= 10 {
            out.topic.set_id(r)?;
        }
    } else {
        out.no_error = true;
    }
    Some(())
}

/// Where the topic array of a Metadata response from v10 on starts (`b` the message from its size
/// prefix, `at` the body's offset): None before v10 (topics have no id) or when the head (brokers,
/// cluster id) was not captured whole.
pub fn metadata_topics_at(version: i16, b: &[u8], at: usize) -> Option<usize> {
    if version < 10 {
        return None;
    }
    let mut r = Reader::at(b, at);
    skip_to_metadata_topics(version, is_flexible(API_METADATA, version), &mut r)?;
    Some(r.at)
}

/// OffsetFetch: the group's error code (the top-level one up to v7, the first group's from v8),
/// else the first partition's that is not 0, else 0. Every topic and partition is walked (the
/// group's code follows them), as far as captured.
fn offset_fetch<'a>(
    v: i16,
    flex: bool,
    r: &mut Reader<'a>,
    out: &mut ResponseBody<'a>,
) -> Option<()> {
    if v >= 3 {
        r.i32()?; // throttle_time_ms
    }
    if v >= 8 {
        if r.array_len(flex)? == 0 {
            out.no_error = true;
            return Some(());
        }
        r.string(flex)?; // group_id
    }
    let mut first = None;
    let topics = r.array_len(flex)?;
    for t in 0..topics {
        let name = r.string(flex)?;
        if t == 0 {
            out.topic = Topic {
                name,
                ..Topic::default()
            };
        }
        for p in 0..r.array_len(flex)? {
            let index = r.i32()?;
            r.i64()?; // committed_offset
            if v >= 5 {
                r.i32()?; // committed_leader_epoch
            }
            r.string(flex)?; // metadata
            let code = r.i16()?;
            if t == 0 && p == 0 {
                out.partition = Some(index);
            }
            if code != 0 && first.is_none() {
                first = Some(code);
            }
            if flex {
                r.tagged_fields()?;
            }
        }
        if flex {
            r.tagged_fields()?;
        }
    }
    let group = if v >= 2 { r.i16()? } else { 0 };
    out.error_code = Some(if group != 0 {
        group
    } else {
        first.unwrap_or(0)
    });
    Some(())
}

/// Kafka's name of error code `code` (`org.apache.kafka.common.protocol.Errors`).
pub fn error_name(code: i16) -> Option<&'static str> {
    const NAMES: [&str; 83] = [
        "NONE",
        "OFFSET_OUT_OF_RANGE",
        "CORRUPT_MESSAGE",
        "UNKNOWN_TOPIC_OR_PARTITION",
        "INVALID_FETCH_SIZE",
        "LEADER_NOT_AVAILABLE",
        "NOT_LEADER_OR_FOLLOWER",
        "REQUEST_TIMED_OUT",
        "BROKER_NOT_AVAILABLE",
        "REPLICA_NOT_AVAILABLE",
        "MESSAGE_TOO_LARGE",
        "STALE_CONTROLLER_EPOCH",
        "OFFSET_METADATA_TOO_LARGE",
        "NETWORK_EXCEPTION",
        "COORDINATOR_LOAD_IN_PROGRESS",
        "COORDINATOR_NOT_AVAILABLE",
        "NOT_COORDINATOR",
        "INVALID_TOPIC_EXCEPTION",
        "RECORD_LIST_TOO_LARGE",
        "NOT_ENOUGH_REPLICAS",
        "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
        "INVALID_REQUIRED_ACKS",
        "ILLEGAL_GENERATION",
        "INCONSISTENT_GROUP_PROTOCOL",
        "INVALID_GROUP_ID",
        "UNKNOWN_MEMBER_ID",
        "INVALID_SESSION_TIMEOUT",
        "REBALANCE_IN_PROGRESS",
        "INVALID_COMMIT_OFFSET_SIZE",
        "TOPIC_AUTHORIZATION_FAILED",
        "GROUP_AUTHORIZATION_FAILED",
        "CLUSTER_AUTHORIZATION_FAILED",
        "INVALID_TIMESTAMP",
        "UNSUPPORTED_SASL_MECHANISM",
        "ILLEGAL_SASL_STATE",
        "UNSUPPORTED_VERSION",
        "TOPIC_ALREADY_EXISTS",
        "INVALID_PARTITIONS",
        "INVALID_REPLICATION_FACTOR",
        "INVALID_REPLICA_ASSIGNMENT",
        "INVALID_CONFIG",
        "NOT_CONTROLLER",
        "INVALID_REQUEST",
        "UNSUPPORTED_FOR_MESSAGE_FORMAT",
        "POLICY_VIOLATION",
        "OUT_OF_ORDER_SEQUENCE_NUMBER",
        "DUPLICATE_SEQUENCE_NUMBER",
        "INVALID_PRODUCER_EPOCH",
        "INVALID_TXN_STATE",
        "INVALID_PRODUCER_ID_MAPPING",
        "INVALID_TRANSACTION_TIMEOUT",
        "CONCURRENT_TRANSACTIONS",
        "TRANSACTION_COORDINATOR_FENCED",
        "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
        "SECURITY_DISABLED",
        "OPERATION_NOT_ATTEMPTED",
        "KAFKA_STORAGE_ERROR",
        "LOG_DIR_NOT_FOUND",
        "SASL_AUTHENTICATION_FAILED",
        "UNKNOWN_PRODUCER_ID",
        "REASSIGNMENT_IN_PROGRESS",
        "DELEGATION_TOKEN_AUTH_DISABLED",
        "DELEGATION_TOKEN_NOT_FOUND",
        "DELEGATION_TOKEN_OWNER_MISMATCH",
        "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED",
        "DELEGATION_TOKEN_AUTHORIZATION_FAILED",
        "DELEGATION_TOKEN_EXPIRED",
        "INVALID_PRINCIPAL_TYPE",
        "NON_EMPTY_GROUP",
        "GROUP_ID_NOT_FOUND",
        "FETCH_SESSION_ID_NOT_FOUND",
        "INVALID_FETCH_SESSION_EPOCH",
        "LISTENER_NOT_FOUND",
        "TOPIC_DELETION_DISABLED",
        "FENCED_LEADER_EPOCH",
        "UNKNOWN_LEADER_EPOCH",
        "UNSUPPORTED_COMPRESSION_TYPE",
        "STALE_BROKER_EPOCH",
        "OFFSET_NOT_AVAILABLE",
        "MEMBER_ID_REQUIRED",
        "PREFERRED_LEADER_NOT_AVAILABLE",
        "GROUP_MAX_SIZE_REACHED",
        "FENCED_INSTANCE_ID",
    ];
    if code == -1 {
        return Some("UNKNOWN_SERVER_ERROR");
    }
    usize::try_from(code)
        .ok()
        .and_then(|c| NAMES.get(c))
        .copied()
}
