//! The TARS packet protocol: a 4-byte big-endian length (itself included), then a
//! `RequestPacket` or `ResponsePacket` in the Tars encoding, where each field starts with a head
//! byte (tag in the high nibble, 15 meaning the tag follows in the next byte; type in the low
//! nibble) and integers take the shortest type that holds them (type 12 is a zero).
//!
//! ```text
//! RequestPacket:  1 iVersion  2 cPacketType  3 iMessageType  4 iRequestId  5 sServantName
//!                 6 sFuncName  7 sBuffer  8 iTimeout  9 context  10 status
//! ResponsePacket: 1 iVersion  2 cPacketType  3 iRequestId  4 iMessageType  5 iRet
//!                 6 sBuffer  7 status  8 sResultDesc
//! ```
//!
//! A request's tag 5 is a string, a response's an integer. TUP (versions 2 and 3, the
//! name-keyed form web gateways send) answers with a `RequestPacket` too, whose `status` map
//! (tag 10) carries `STATUS_RESULT_CODE` and `STATUS_RESULT_DESC`. Bounded reads only: every
//! length is checked against the bytes at hand, structures nest at most [`MAX_DEPTH`] deep.

/// The length prefix and the version's head and value: what a message start is known by.
pub const START_LEN: usize = 6;
/// Tars servers refuse packets over 10 MB by default; longer claims are not Tars.
pub const MAX_PACKET: u32 = 64 << 20;
/// `cPacketType` of a one-way call.
pub const PACKET_ONEWAY: i64 = 1;
const MAX_DEPTH: u8 = 8;

const INT8: u8 = 0;
const INT16: u8 = 1;
const INT32: u8 = 2;
const INT64: u8 = 3;
const FLOAT: u8 = 4;
const DOUBLE: u8 = 5;
const STRING1: u8 = 6;
const STRING4: u8 = 7;
const MAP: u8 = 8;
const LIST: u8 = 9;
const STRUCT_BEGIN: u8 = 10;
const STRUCT_END: u8 = 11;
const ZERO: u8 = 12;
const SIMPLE_LIST: u8 = 13;

/// The packet's total length (prefix included) if `b` starts like a TARS packet: a sane length
/// and a version 1 (TARS), 2 or 3 (TUP) in tag 1.
pub fn packet_len(b: &[u8]) -> Option<u32> {
    let s = b.get(..START_LEN)?;
    let len = u32::from_be_bytes([s[0], s[1], s[2], s[3]]);
    let version = match s[4] {
        0x10 => i16::from(s[5] as i8),
        0x11 => i16::from_be_bytes([s[5], *b.get(START_LEN)?]),
        _ => return None,
    };
    ((START_LEN as u32 + 2..=MAX_PACKET).contains(&len) && (1..=3).contains(&version))
        .then_some(len)
}

/// A decoded field value: an integer, a string, or something skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value<'a> {
    Int(i64),
    Str(&'a [u8]),
    Other,
}

/// A bounded reader of the Tars encoding.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let v = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(v)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|v| v[0])
    }

    /// A string field (any tag).
    fn string(&mut self) -> Option<&'a [u8]> {
        let (_, ty) = self.head()?;
        match self.value(ty, 1)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A TUP status map (its head read): the result code and description.
    fn status(&mut self) -> Option<(Option<i32>, &'a [u8])> {
        let (mut code, mut desc) = (None, &[][..]);
        for _ in 0..self.len()? {
            let (k, v) = (self.string()?, self.string()?);
            match k {
                STATUS_RESULT_CODE => code = std::str::from_utf8(v).ok()?.parse().ok(),
                STATUS_RESULT_DESC => desc = v,
                _ => {}
            }
        }
        Some((code, desc))
    }

    /// A field head: (tag, type).
    fn head(&mut self) -> Option<(u8, u8)> {
        let h = self.u8()?;
        let tag = match h >> 4 {
            15 => self.u8()?,
            t => t,
        };
        Some((tag, h & 0x0f))
    }

    fn int(&mut self, ty: u8) -> Option<i64> {
        Some(match ty {
            ZERO => 0,
            INT8 => i64::from(self.u8()? as i8),
            INT16 => i64::from(i16::from_be_bytes(self.take(2)?.try_into().ok()?)),
            INT32 => i64::from(i32::from_be_bytes(self.take(4)?.try_into().ok()?)),
            INT64 => i64::from_be_bytes(self.take(8)?.try_into().ok()?),
            _ => return None,
        })
    }

    /// A length: an integer field (any tag), not negative.
    fn len(&mut self) -> Option<usize> {
        let (_, ty) = self.head()?;
        usize::try_from(self.int(ty)?).ok()
    }

    /// The value of a field of type `ty`, skipping containers.
    fn value(&mut self, ty: u8, depth: u8) -> Option<Value<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        Some(match ty {
            INT8 | INT16 | INT32 | INT64 | ZERO => Value::Int(self.int(ty)?),
            FLOAT => self.take(4).map(|_| Value::Other)?,
            DOUBLE => self.take(8).map(|_| Value::Other)?,
            STRING1 => {
                let n = usize::from(self.u8()?);
                Value::Str(self.take(n)?)
            }
            STRING4 => {
                let n = u32::from_be_bytes(self.take(4)?.try_into().ok()?);
                Value::Str(self.take(usize::try_from(n).ok()?)?)
            }
            MAP | LIST => {
                let n = self.len()?;
                let items = if ty == MAP { n.checked_mul(2)? } else { n };
                for _ in 0..items {
                    let (_, t) = self.head()?;
                    self.value(t, depth + 1)?;
                }
                Value::Other
            }
            SIMPLE_LIST => {
                self.head()?;
                let n = self.len()?;
                self.take(n)?;
                Value::Other
            }
            STRUCT_BEGIN => {
                loop {
                    let (_, t) = self.head()?;
                    if t == STRUCT_END {
                        break;
                    }
                    self.value(t, depth + 1)?;
                }
                Value::Other
            }
            _ => return None,
        })
    }
}

const STATUS_RESULT_CODE: &[u8] = b"STATUS_RESULT_CODE";
const STATUS_RESULT_DESC: &[u8] = b"STATUS_RESULT_DESC";

/// What a packet head says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Packet<'a> {
    /// A request (tag 5 is the servant's name), else a response.
    pub request: bool,
    pub version: i64,
    pub packet_type: i64,
    pub request_id: Option<u32>,
    pub servant: &'a [u8],
    pub func: &'a [u8],
    /// A response's `iRet`, or the `STATUS_RESULT_CODE` of a TUP packet's status map (None
    /// when not captured or not sent).
    pub ret: Option<i32>,
    /// A response's `sResultDesc`, or a TUP packet's `STATUS_RESULT_DESC`.
    pub result_desc: &'a [u8],
}

/// Reads the head of a packet (`msg` from its length prefix on, as far as it was captured): a
/// request's fields up to its function name (a TUP packet's up to its status map), a response's
/// up to its result description (when the buffer before them was captured). None when the
/// fields do not read as a packet.
pub fn packet(msg: &[u8]) -> Option<Packet<'_>> {
    let len = packet_len(msg)? as usize;
    let mut r = Reader {
        b: &msg[..len.min(msg.len())],
        at: 4,
    };
    let mut p = Packet::default();
    let mut fields: [Option<Value<'_>>; 11] = [None; 11];
    while let Some((tag, ty)) = r.head() {
        let named = matches!(fields[5], Some(Value::Str(_)));
        let tup = matches!(fields[1], Some(Value::Int(2 | 3)));
        if tag == 10 && ty == MAP && named {
            (p.ret, p.result_desc) = r.status().unwrap_or_default();
            break;
        }
        let Some(v) = r.value(ty, 0) else {
            break;
        };
        let Some(slot) = fields.get_mut(usize::from(tag)) else {
            break;
        };
        *slot = Some(v);
        // A request's names are in by tag 6 (a TUP packet's status comes at tag 10); nothing
        // after a response's tag 8 is needed.
        if (!named && tag >= 8) || (named && tag >= 6 && !tup) {
            break;
        }
    }
    let int = |i: usize| match fields[i] {
        Some(Value::Int(v)) => Some(v),
        _ => None,
    };
    p.version = int(1)?;
    p.packet_type = int(2).unwrap_or(0);
    match fields[5] {
        Some(Value::Str(servant)) => {
            p.request = true;
            p.servant = servant;
            p.request_id = int(4).and_then(|v| u32::try_from(v).ok());
            let Some(Value::Str(func)) = fields[6] else {
                return None;
            };
            p.func = func;
        }
        // A packet cut before its tag 5 may be either.
        None if msg.len() < len => return None,
        _ => {
            p.request_id = int(3).and_then(|v| u32::try_from(v).ok());
            p.ret = int(5).and_then(|v| i32::try_from(v).ok());
            if let Some(Value::Str(d)) = fields[8] {
                p.result_desc = d;
            }
            p.request_id?;
        }
    }
    Some(p)
}

/// TarsCpp's name of a framework return code.
pub fn ret_name(ret: i32) -> &'static str {
    match ret {
        0 => "TARSSERVERSUCCESS",
        -1 => "TARSSERVERDECODEERR",
        -2 => "TARSSERVERENCODEERR",
        -3 => "TARSSERVERNOFUNCERR",
        -4 => "TARSSERVERNOSERVANTERR",
        -5 => "TARSSERVERRESETGRID",
        -6 => "TARSSERVERQUEUETIMEOUT",
        -7 => "TARSINVOKETIMEOUT",
        -8 => "TARSPROXYCONNECTERR",
        -9 => "TARSSERVEROVERLOAD",
        -10 => "TARSADAPTERNULL",
        -11 => "TARSINVOKEBYINVALIDESET",
        -12 => "TARSCLIENTDECODEERR",
        _ => "TARSSERVERUNKNOWNERR",
    }
}

/// DeepFlow's classes: -10 to -12 are the client's, other non-zero codes the server's.
pub fn ret_is_client_error(ret: i32) -> bool {
    (-12..=-10).contains(&ret)
}
