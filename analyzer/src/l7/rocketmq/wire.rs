//! RocketMQ's remoting protocol (4.x and 5.x brokers, name servers and clients) as far as a
//! request log needs it. A frame is a 4-byte length (of what follows it), a 4-byte word whose
//! high byte is the header's serialization (0 JSON, 1 RocketMQ's own binary form) and whose low
//! 3 bytes are the header's length, the header (code, flag, opaque, version, remark and the
//! `extFields` map: topic, queue id, producer or consumer group, message properties), then the
//! body. A pulled message (a `PULL_MESSAGE` answer) is in the broker's store format, whose
//! properties carry the producer's trace context. Bounded reads only.

use super::json::{self, Value};

/// The length and the serialization word.
pub const FRAME_HEAD: usize = 8;
/// RocketMQ's `frameMaxLength` (16 MiB); longer claims are not RocketMQ.
pub const MAX_FRAME: u32 = 16 << 20;
/// Flag bits: a response; a one-way request (no response comes).
pub const FLAG_RESPONSE: i32 = 1;
pub const FLAG_ONEWAY: i32 = 2;
/// The binary header's fixed part: code, language, version, opaque, flag.
const BINARY_FIXED: usize = 13;
/// Message properties: pairs separated by 0x02, key and value by 0x01.
const PAIR_SEPARATOR: u8 = 2;
const KEY_SEPARATOR: u8 = 1;

/// A frame's head: (length after its own 4 bytes, header length, JSON header?), if `b` starts
/// like a frame.
pub fn frame(b: &[u8]) -> Option<(u32, u32, bool)> {
    let h = b.get(..FRAME_HEAD)?;
    let length = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let word = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    let header = word & 0x00ff_ffff;
    let json = match word >> 24 {
        0 => true,
        1 => false,
        _ => return None,
    };
    let min_header = if json { 2 } else { BINARY_FIXED as u32 + 8 };
    let fits = (4..=MAX_FRAME).contains(&length) && header >= min_header && header <= length - 4;
    // A JSON header is an object.
    let starts = !json || b.get(FRAME_HEAD).is_none_or(|&c| c == b'{');
    (fits && starts).then_some((length, header, json))
}

/// What a remoting header says (strings raw: a JSON header's may hold escapes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Header<'a> {
    pub json: bool,
    pub code: i32,
    pub flag: i32,
    pub opaque: i32,
    pub version: Option<i32>,
    pub remark: &'a [u8],
    pub topic: &'a [u8],
    pub queue_id: Option<i64>,
    pub producer_group: &'a [u8],
    pub consumer_group: &'a [u8],
    pub properties: &'a [u8],
}

impl Header<'_> {
    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    pub fn is_oneway(&self) -> bool {
        !self.is_response() && self.flag & FLAG_ONEWAY != 0
    }
}

/// Reads a header (as much of it as `b` holds): None unless its code and opaque read.
pub fn header(b: &[u8], is_json: bool) -> Option<Header<'_>> {
    if is_json {
        json_header(b)
    } else {
        binary_header(b)
    }
}

fn json_header(b: &[u8]) -> Option<Header<'_>> {
    let mut h = Header {
        json: true,
        ..Header::default()
    };
    let (mut code, mut opaque) = (None, None);
    for (key, v) in json::members(b) {
        match (key, v) {
            (b"code", Value::Int(c)) => code = i32::try_from(c).ok(),
            (b"flag", Value::Int(f)) => h.flag = f as i32,
            (b"opaque", Value::Int(o)) => opaque = Some(o as i32),
            (b"version", Value::Int(v)) => h.version = i32::try_from(v).ok(),
            (b"remark", Value::Str(r)) => h.remark = r,
            (b"extFields", Value::Object(o)) => {
                for (k, v) in json::members(o) {
                    let text = match v {
                        Value::Str(s) => s,
                        Value::Int(i) => {
                            if matches!(k, b"queueId" | b"e") {
                                h.queue_id = Some(i);
                            }
                            continue;
                        }
                        _ => continue,
                    };
                    ext_field(&mut h, k, text);
                }
            }
            _ => {}
        }
    }
    h.code = code?;
    h.opaque = opaque?;
    Some(h)
}

/// One `extFields` entry ("a" to "i" are `SEND_MESSAGE_V2`'s short names).
fn ext_field<'a>(h: &mut Header<'a>, key: &[u8], value: &'a [u8]) {
    match key {
        b"topic" | b"b" => h.topic = value,
        b"queueId" | b"e" => {
            h.queue_id = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok())
        }
        b"producerGroup" | b"a" => h.producer_group = value,
        b"consumerGroup" => h.consumer_group = value,
        b"properties" | b"i" => h.properties = value,
        _ => {}
    }
}

fn binary_header(b: &[u8]) -> Option<Header<'_>> {
    let fixed = b.get(..BINARY_FIXED)?;
    let be32 = |s: &[u8]| i32::from_be_bytes([s[0], s[1], s[2], s[3]]);
    let mut h = Header {
        json: false,
        code: i32::from(i16::from_be_bytes([fixed[0], fixed[1]])),
        // fixed[2]: the language.
        version: Some(i32::from(i16::from_be_bytes([fixed[3], fixed[4]]))),
        opaque: be32(&fixed[5..9]),
        flag: be32(&fixed[9..13]),
        ..Header::default()
    };
    let mut rest = &b[BINARY_FIXED..];
    let remark_len = usize::try_from(be32(rest.get(..4)?)).ok()?;
    let remark = rest.get(4..4 + remark_len)?;
    h.remark = remark;
    rest = &rest[4 + remark_len..];
    let Some(ext) = rest.get(..4) else {
        return Some(h);
    };
    let ext_len = usize::try_from(be32(ext)).ok()?;
    let mut map = &rest[4..rest.len().min(4 + ext_len)];
    // Entries: a key (2-byte length) and a value (4-byte length); stops at a cut entry.
    while map.len() >= 2 {
        let kl = usize::from(u16::from_be_bytes([map[0], map[1]]));
        let Some(key) = map.get(2..2 + kl) else { break };
        let Some(vl) = map.get(2 + kl..6 + kl) else {
            break;
        };
        let vl = usize::try_from(be32(vl)).ok()?;
        let Some(value) = map.get(6 + kl..6 + kl + vl) else {
            break;
        };
        ext_field(&mut h, key, value);
        map = &map[6 + kl + vl..];
    }
    Some(h)
}

/// The value of `name` in message properties (already unescaped).
pub fn property<'a>(properties: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    properties.split(|&c| c == PAIR_SEPARATOR).find_map(|pair| {
        let at = pair.iter().position(|&c| c == KEY_SEPARATOR)?;
        (&pair[..at] == name).then_some(&pair[at + 1..])
    })
}

/// The properties of the first message of a pulled batch (the store format), as far as `body`
/// holds it.
pub fn pulled_properties(body: &[u8]) -> Option<&[u8]> {
    const MAGIC_V1: u32 = 0xdaa3_20a7;
    const MAGIC_V2: u32 = 0xdaa3_20ab;
    const BORN_HOST_V6: u32 = 0x10;
    const STORE_HOST_V6: u32 = 0x20;
    let be32 = |at: usize| -> Option<u32> {
        let s = body.get(at..at + 4)?;
        Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    };
    let magic = be32(4)?;
    if magic != MAGIC_V1 && magic != MAGIC_V2 {
        return None;
    }
    // totalSize, magic, bodyCRC, queueId, flag, queueOffset, physicOffset.
    let sys_flag = be32(36)?;
    let host = |v6: bool| if v6 { 20 } else { 8 };
    // sysFlag, bornTimestamp, bornHost, storeTimestamp, storeHost, reconsumeTimes,
    // preparedTransactionOffset.
    let at = 40 + 8 + host(sys_flag & BORN_HOST_V6 != 0) + 8 + host(sys_flag & STORE_HOST_V6 != 0);
    let at = at + 4 + 8;
    let body_len = be32(at)? as usize;
    let at = (at + 4).checked_add(body_len)?;
    let (topic_len, at) = if magic == MAGIC_V2 {
        let s = body.get(at..at + 2)?;
        (usize::from(u16::from_be_bytes([s[0], s[1]])), at + 2)
    } else {
        (usize::from(*body.get(at)?), at + 1)
    };
    let at = at + topic_len;
    let s = body.get(at..at + 2)?;
    let len = usize::from(u16::from_be_bytes([s[0], s[1]]));
    let props = body.get(at + 2..)?;
    Some(&props[..len.min(props.len())])
}
