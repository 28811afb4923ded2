//! OpenWire (ActiveMQ's native protocol, version 1 to 12) as far as a request log needs it: the
//! frame (a 4-byte size, the command's type byte), the `WireFormatInfo` both peers send first
//! (always loosely encoded: magic `ActiveMQ`, version, a map of options), and the readers of
//! the two encodings the negotiation picks:
//!
//! - **tight** (ActiveMQ's default): after the type byte a boolean stream (a length of 1, 2 or 3
//!   bytes, then the bits, least significant first) holds every boolean of the command and of
//!   the objects nested in it, in the order they are read: null markers, the sizes of longs,
//!   whether a string is ASCII, whether a cached object is new;
//! - **loose**: each of those booleans is a byte in line, longs are 8 bytes.
//!
//! Cached objects (the options' `CacheEnabled`, on by default) are sent once with their cache
//! index and afterwards by the index alone. Bounded reads only: every length is checked against
//! the bytes at hand, objects nest at most [`MAX_DEPTH`] deep.

/// The size prefix (4 bytes) and the type byte.
pub const FRAME_HEAD: usize = 5;
/// ActiveMQ's default `maxFrameSize` is 100 MiB; longer claims are not OpenWire.
pub const MAX_FRAME: u32 = 100 << 20;
pub const MAGIC: &[u8; 8] = b"ActiveMQ";
pub const MAX_DEPTH: u8 = 6;

/// Command and data structure types (`CommandTypes`).
pub mod types {
    pub const WIREFORMAT_INFO: u8 = 1;
    pub const BROKER_INFO: u8 = 2;
    pub const CONNECTION_INFO: u8 = 3;
    pub const SESSION_INFO: u8 = 4;
    pub const CONSUMER_INFO: u8 = 5;
    pub const PRODUCER_INFO: u8 = 6;
    pub const TRANSACTION_INFO: u8 = 7;
    pub const DESTINATION_INFO: u8 = 8;
    pub const REMOVE_INFO: u8 = 12;
    pub const CONNECTION_ERROR: u8 = 16;
    pub const MESSAGE_PULL: u8 = 20;
    pub const MESSAGE_DISPATCH: u8 = 21;
    pub const MESSAGE_ACK: u8 = 22;
    pub const MESSAGE_FIRST: u8 = 23;
    pub const MESSAGE_LAST: u8 = 29;
    pub const RESPONSE: u8 = 30;
    pub const EXCEPTION_RESPONSE: u8 = 31;
    pub const DATA_RESPONSE: u8 = 32;
    pub const DATA_ARRAY_RESPONSE: u8 = 33;
    pub const INTEGER_RESPONSE: u8 = 34;
    pub const QUEUE: u8 = 100;
    pub const TEMP_TOPIC: u8 = 103;
    pub const MESSAGE_ID: u8 = 110;
    pub const LOCAL_TRANSACTION_ID: u8 = 111;
    pub const XA_TRANSACTION_ID: u8 = 112;
    pub const CONNECTION_ID: u8 = 120;
    pub const SESSION_ID: u8 = 121;
    pub const CONSUMER_ID: u8 = 122;
    pub const PRODUCER_ID: u8 = 123;
    pub const BROKER_ID: u8 = 124;
}

/// The name of a command type (DeepFlow's `request_type`), None for types that are not commands.
pub fn command_name(t: u8) -> Option<&'static str> {
    Some(match t {
        1 => "WireFormatInfo",
        2 => "BrokerInfo",
        3 => "ConnectionInfo",
        4 => "SessionInfo",
        5 => "ConsumerInfo",
        6 => "ProducerInfo",
        7 => "TransactionInfo",
        8 => "DestinationInfo",
        9 => "RemoveSubscriptionInfo",
        10 => "KeepAliveInfo",
        11 => "ShutdownInfo",
        12 => "RemoveInfo",
        14 => "ControlCommand",
        15 => "FlushCommand",
        16 => "ConnectionError",
        17 => "ConsumerControl",
        18 => "ConnectionControl",
        19 => "ProducerAck",
        20 => "MessagePull",
        21 => "MessageDispatch",
        22 => "MessageAck",
        23 => "ActiveMQMessage",
        24 => "ActiveMQBytesMessage",
        25 => "ActiveMQMapMessage",
        26 => "ActiveMQObjectMessage",
        27 => "ActiveMQStreamMessage",
        28 => "ActiveMQTextMessage",
        29 => "ActiveMQBlobMessage",
        30 => "Response",
        31 => "ExceptionResponse",
        32 => "DataResponse",
        33 => "DataArrayResponse",
        34 => "IntegerResponse",
        40 => "DiscoveryEvent",
        55 => "DurableSubscriptionInfo",
        60 => "PartialCommand",
        61 => "PartialLastCommand",
        65 => "Replay",
        90 => "MessageDispatchNotification",
        _ => return None,
    })
}

/// A response command (answers a request by its command id).
pub fn is_response(t: u8) -> bool {
    (types::RESPONSE..=types::INTEGER_RESPONSE).contains(&t)
}

/// The frame's size (after the prefix) and command type, if `b` starts like an OpenWire frame.
pub fn frame(b: &[u8]) -> Option<(u32, u8)> {
    let h = b.get(..FRAME_HEAD)?;
    let size = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    ((1..=MAX_FRAME).contains(&size) && command_name(h[4]).is_some()).then_some((size, h[4]))
}

/// The options a `WireFormatInfo` announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireFormat {
    pub version: u32,
    pub tight: bool,
    pub size_prefix_disabled: bool,
    pub cache: bool,
}

/// Reads a `WireFormatInfo` body (after the type byte): magic, version and the options map.
/// Options absent from the map keep ActiveMQ's defaults (tight, size prefix, cache).
pub fn wire_format(body: &[u8]) -> Option<WireFormat> {
    if body.get(..8)? != MAGIC {
        return None;
    }
    let v = body.get(8..12)?;
    let mut wf = WireFormat {
        version: u32::from_be_bytes([v[0], v[1], v[2], v[3]]),
        tight: true,
        size_prefix_disabled: false,
        cache: true,
    };
    let map = body.get(12..).unwrap_or_default();
    for (key, slot) in [
        (&b"TightEncodingEnabled"[..], &mut wf.tight),
        (b"SizePrefixDisabled", &mut wf.size_prefix_disabled),
        (b"CacheEnabled", &mut wf.cache),
    ] {
        if let Some(v) = primitive(map, key, BOOLEAN_TYPE, 1) {
            *slot = v[0] != 0;
        }
    }
    Some(wf)
}

const BOOLEAN_TYPE: u8 = 1;
const STRING_TYPE: u8 = 9;

/// The value of `key` in a marshalled primitive map (`[u16 len][key][type][value]`) when it
/// has type `ty` and a fixed size `n`, or (for strings, `n` 0) its length-prefixed value.
fn primitive<'a>(map: &'a [u8], key: &[u8], ty: u8, n: usize) -> Option<&'a [u8]> {
    let len = u16::try_from(key.len()).ok()?.to_be_bytes();
    let mut from = 0;
    while let Some(p) = map[from..]
        .windows(key.len() + 3)
        .position(|w| w[..2] == len && &w[2..2 + key.len()] == key && w[2 + key.len()] == ty)
    {
        let at = from + p + key.len() + 3;
        let v = if n > 0 {
            map.get(at..at + n)
        } else {
            let l = map.get(at..at + 2)?;
            let l = usize::from(u16::from_be_bytes([l[0], l[1]]));
            map.get(at + 2..at + 2 + l)
        };
        if v.is_some() {
            return v;
        }
        from += p + 1;
    }
    None
}

/// The string value of message property `name` (a header such as `sw8` or `traceparent` a
/// tracing agent adds), found in the marshalled properties of the message's bytes.
pub fn property<'a>(msg: &'a [u8], name: &str) -> Option<&'a [u8]> {
    primitive(msg, name.as_bytes(), STRING_TYPE, 0).filter(|v| !v.is_empty())
}

/// A reader of one command's fields in the negotiated encoding.
#[derive(Debug)]
pub struct Fields<'a> {
    b: &'a [u8],
    at: usize,
    tight: bool,
    /// The boolean stream (tight encoding): its bytes and the next bit.
    bits: &'a [u8],
    bit: usize,
}

impl<'a> Fields<'a> {
    /// Starts at `body` (after the type byte); in the tight encoding the boolean stream comes
    /// first.
    pub fn new(body: &'a [u8], tight: bool) -> Option<Self> {
        let mut f = Fields {
            b: body,
            at: 0,
            tight,
            bits: &[],
            bit: 0,
        };
        if tight {
            f.bits = f.boolean_stream()?;
        }
        Some(f)
    }

    fn boolean_stream(&mut self) -> Option<&'a [u8]> {
        let n = match self.u8()? {
            0xc0 => usize::from(self.u8()?),
            0x80 => usize::from(self.u16()?),
            n => usize::from(n),
        };
        self.take(n)
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.b.get(self.at..).unwrap_or_default()
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let v = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(v)
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|v| v[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|v| u16::from_be_bytes([v[0], v[1]]))
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|v| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
    }

    /// A boolean: the next bit of the stream (tight) or a byte (loose).
    pub fn bool(&mut self) -> Option<bool> {
        if !self.tight {
            return self.u8().map(|v| v != 0);
        }
        let byte = *self.bits.get(self.bit / 8)?;
        let v = (byte >> (self.bit % 8)) & 1 != 0;
        self.bit += 1;
        Some(v)
    }

    /// A long, not kept: in the tight encoding two bits of the stream give its size (0, 2, 4
    /// or 8 bytes), in the loose one it is 8 bytes.
    pub fn long(&mut self) -> Option<()> {
        let n = if !self.tight {
            8
        } else if self.bool()? {
            if self.bool()? {
                8
            } else {
                4
            }
        } else if self.bool()? {
            2
        } else {
            0
        };
        self.take(n).map(|_| ())
    }

    /// A string (null reads as empty).
    pub fn string(&mut self) -> Option<&'a [u8]> {
        if !self.bool()? {
            return Some(&[]);
        }
        if self.tight {
            // ASCII or modified UTF-8: a 2-byte length either way.
            self.bool()?;
        }
        let n = usize::from(self.u16()?);
        self.take(n)
    }

    /// A byte array or byte sequence (null reads as empty).
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        if !self.bool()? {
            return Some(&[]);
        }
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }

    /// A throwable (class name and message; its stack trace is not read): the message, or the
    /// class name when the message is null. None when null.
    pub fn throwable(&mut self) -> Option<Option<&'a [u8]>> {
        if !self.bool()? {
            return Some(None);
        }
        let class = self.string()?;
        let message = self.string()?;
        Some(Some(if message.is_empty() { class } else { message }))
    }
}
