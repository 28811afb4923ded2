//! DeepFlow's data framing between an agent and the ingester (`deepflow-facts.md` §6): a 19-byte
//! header, then a body of `[u32 LE length][protobuf message]` entries, zstd-compressed as a whole
//! when the header's encoder says so. Pure functions: the sender and the ingester do the IO.

use std::fmt;

/// Header length of the current (v6.6+) framing.
pub const HEADER_LEN: usize = 19;
/// The largest frame the ingester accepts (header included).
pub const MAX_FRAME: usize = 512_000;
/// The header version of the current framing.
pub const VERSION: u16 = 0x8000;
/// The largest body a compressed frame may expand to (a bomb is refused, not decompressed).
pub const MAX_DECOMPRESSED: usize = 8 << 20;

/// The message types tapflow sends and stores (DeepFlow's `SendMessageType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// `metric.Document` (flow_metrics).
    Metrics = 3,
    /// `flow_log.TaggedFlow` (l4_flow_log).
    TaggedFlow = 4,
    /// `flow_log.AppProtoLogsData` (l7_flow_log).
    ProtocolLog = 5,
    /// OpenTelemetry `TracesData` an agent's integration collector received.
    OpenTelemetry = 6,
    /// `metric.PrometheusMetric`: Prometheus remote-write data (integration collector).
    Prometheus = 7,
    /// Influx line protocol text from Telegraf (integration collector).
    Telegraf = 8,
    /// `stats.Stats`: the agent's own counters (DeepFlow's `deepflow_system` database).
    DeepflowStats = 10,
    /// OpenTelemetry `TracesData`, zlib-compressed one message at a time.
    OpenTelemetryCompressed = 11,
    /// `metric.Profile`: an application's profile (integration collector) or an eBPF one.
    Profile = 13,
    /// A JSON array of application log entries (integration collector, `/api/v1/log`).
    ApplicationLog = 17,
}

impl MessageType {
    /// The types that carry records.
    pub const RECORDS: [MessageType; 3] = [
        MessageType::Metrics,
        MessageType::TaggedFlow,
        MessageType::ProtocolLog,
    ];

    /// The types of the integration collector's data (forwarded as received).
    pub const INTEGRATION: [MessageType; 6] = [
        MessageType::OpenTelemetry,
        MessageType::OpenTelemetryCompressed,
        MessageType::Prometheus,
        MessageType::Telegraf,
        MessageType::Profile,
        MessageType::ApplicationLog,
    ];

    pub fn from_u8(n: u8) -> Option<Self> {
        Self::RECORDS
            .into_iter()
            .chain([MessageType::DeepflowStats])
            .chain(Self::INTEGRATION)
            .find(|t| *t as u8 == n)
    }

    /// DeepFlow's name of the type.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Metrics => "metrics",
            MessageType::TaggedFlow => "tagged_flow",
            MessageType::ProtocolLog => "protocol_log",
            MessageType::DeepflowStats => "deepflow_stats",
            MessageType::OpenTelemetry => "open_telemetry",
            MessageType::OpenTelemetryCompressed => "open_telemetry_compressed",
            MessageType::Prometheus => "prometheus",
            MessageType::Telegraf => "telegraf",
            MessageType::Profile => "profile",
            MessageType::ApplicationLog => "application_log",
        }
    }

    /// Compressed by default (DeepFlow's `outputs.compression`: l7 logs yes, l4 logs no,
    /// metrics never).
    pub fn compressed_by_default(self) -> bool {
        matches!(self, MessageType::ProtocolLog)
    }
}

/// How the body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoder {
    Raw = 0,
    Zstd = 3,
}

/// Where a frame comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Origin {
    pub team_id: u32,
    pub org_id: u16,
    pub agent_id: u16,
}

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Total frame length, header included.
    pub frame_size: u32,
    /// The raw type byte (unknown types are reported by [`Header::message_type`]).
    pub msg_type: u8,
    pub version: u16,
    pub encoder: u8,
    pub origin: Origin,
}

/// What is wrong with a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// `frame_size` below the header length.
    TooShort(u32),
    /// `frame_size` above [`MAX_FRAME`].
    TooLarge(u32),
    /// Not the 0x8000 framing (older agents' 14-byte variant is not read).
    Version(u16),
    /// Neither raw nor zstd.
    Encoder(u8),
    /// A type tapflow does not store.
    UnknownType(u8),
    /// The zstd body does not decode (or expands past [`MAX_DECOMPRESSED`]).
    Decompress(String),
    /// A message length runs past the body's end.
    Truncated { at: usize, len: usize },
    /// A message is not the protobuf its type says.
    Decode(String),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooShort(n) => write!(f, "frame size {n} is below the 19-byte header"),
            FrameError::TooLarge(n) => write!(f, "frame size {n} is above {MAX_FRAME}"),
            FrameError::Version(v) => write!(f, "header version {v:#06x} (expected 0x8000)"),
            FrameError::Encoder(e) => write!(f, "unknown encoder {e}"),
            FrameError::UnknownType(t) => write!(f, "message type {t} is not stored"),
            FrameError::Decompress(e) => write!(f, "zstd body: {e}"),
            FrameError::Truncated { at, len } => {
                write!(f, "message at {at} says {len} bytes, past the body's end")
            }
            FrameError::Decode(e) => write!(f, "protobuf: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl Header {
    /// The header's bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&self.frame_size.to_be_bytes());
        b[4] = self.msg_type;
        b[5..7].copy_from_slice(&self.version.to_le_bytes());
        b[7] = self.encoder;
        b[8..12].copy_from_slice(&self.origin.team_id.to_le_bytes());
        b[12..14].copy_from_slice(&self.origin.org_id.to_le_bytes());
        // 14..16 reserved
        b[16..18].copy_from_slice(&self.origin.agent_id.to_le_bytes());
        // 18 reserved
        b
    }

    /// Reads and checks a header: size bounds, version, encoder (not the type: see
    /// [`Header::message_type`], so that a reader can skip a type it does not store).
    pub fn parse(b: &[u8; HEADER_LEN]) -> Result<Header, FrameError> {
        let frame_size = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let h = Header {
            frame_size,
            msg_type: b[4],
            version: u16::from_le_bytes([b[5], b[6]]),
            encoder: b[7],
            origin: Origin {
                team_id: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
                org_id: u16::from_le_bytes([b[12], b[13]]),
                agent_id: u16::from_le_bytes([b[16], b[17]]),
            },
        };
        if (frame_size as usize) < HEADER_LEN {
            return Err(FrameError::TooShort(frame_size));
        }
        if frame_size as usize > MAX_FRAME {
            return Err(FrameError::TooLarge(frame_size));
        }
        if h.version != VERSION {
            return Err(FrameError::Version(h.version));
        }
        if h.encoder != Encoder::Raw as u8 && h.encoder != Encoder::Zstd as u8 {
            return Err(FrameError::Encoder(h.encoder));
        }
        Ok(h)
    }

    pub fn message_type(&self) -> Result<MessageType, FrameError> {
        MessageType::from_u8(self.msg_type).ok_or(FrameError::UnknownType(self.msg_type))
    }

    /// Body length (after the header).
    pub fn body_len(&self) -> usize {
        self.frame_size as usize - HEADER_LEN
    }
}

/// Collects the messages of one type into a frame body.
#[derive(Debug)]
pub struct FrameBuilder {
    pub msg_type: MessageType,
    body: Vec<u8>,
    messages: usize,
}

impl FrameBuilder {
    pub fn new(msg_type: MessageType, capacity: usize) -> Self {
        FrameBuilder {
            msg_type,
            body: Vec::with_capacity(capacity),
            messages: 0,
        }
    }

    /// Appends one message (its length prefix and bytes).
    pub fn push(&mut self, msg: &impl prost::Message) {
        let len = msg.encoded_len();
        self.body.extend_from_slice(&(len as u32).to_le_bytes());
        // Encoding into a Vec cannot run out of room.
        let _ = msg.encode(&mut self.body);
        self.messages += 1;
    }

    /// Appends one message that is already encoded (the integration collector's data).
    pub fn push_bytes(&mut self, msg: &[u8]) {
        self.body
            .extend_from_slice(&(msg.len() as u32).to_le_bytes());
        self.body.extend_from_slice(msg);
        self.messages += 1;
    }

    /// Uncompressed body bytes so far.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    pub fn messages(&self) -> usize {
        self.messages
    }

    /// The frame of what was pushed (compressed if asked), and an empty builder again. `None`
    /// when the frame would be larger than [`MAX_FRAME`] (the caller counts its messages lost).
    pub fn take_frame(&mut self, origin: Origin, compress: bool) -> Option<Vec<u8>> {
        self.messages = 0;
        let (encoder, body) = if compress {
            match zstd::bulk::compress(&self.body, 0) {
                Ok(z) => (Encoder::Zstd, z),
                Err(_) => (Encoder::Raw, std::mem::take(&mut self.body)),
            }
        } else {
            (Encoder::Raw, std::mem::take(&mut self.body))
        };
        self.body.clear();
        let size = HEADER_LEN + body.len();
        if size > MAX_FRAME {
            return None;
        }
        let header = Header {
            frame_size: size as u32,
            msg_type: self.msg_type as u8,
            version: VERSION,
            encoder: encoder as u8,
            origin,
        };
        let mut frame = Vec::with_capacity(size);
        frame.extend_from_slice(&header.to_bytes());
        frame.extend_from_slice(&body);
        Some(frame)
    }
}

/// The body's plain bytes: decompressed when the header says zstd (bounded).
pub fn plain_body<'a>(
    h: &Header,
    body: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>, FrameError> {
    if h.encoder == Encoder::Zstd as u8 {
        zstd::bulk::decompress(body, MAX_DECOMPRESSED)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| FrameError::Decompress(e.to_string()))
    } else {
        Ok(std::borrow::Cow::Borrowed(body))
    }
}

/// Each message of a plain body, or the error that stops the walk.
pub fn messages(body: &[u8]) -> impl Iterator<Item = Result<&[u8], FrameError>> {
    let mut at = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || at >= body.len() {
            return None;
        }
        let Some(len) = body.get(at..at + 4) else {
            failed = true;
            return Some(Err(FrameError::Truncated {
                at,
                len: body.len() - at,
            }));
        };
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let start = at + 4;
        match body.get(start..start.saturating_add(len)) {
            Some(m) => {
                at = start + len;
                Some(Ok(m))
            }
            None => {
                failed = true;
                Some(Err(FrameError::Truncated { at, len }))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::flow_log::{Flow, TaggedFlow};

    fn flow(id: u64) -> TaggedFlow {
        TaggedFlow {
            flow: Some(Flow {
                flow_id: id,
                ..Flow::default()
            }),
        }
    }

    #[test]
    fn header_layout_is_deepflows() {
        let h = Header {
            frame_size: 0x0102_0304,
            msg_type: 4,
            version: VERSION,
            encoder: 3,
            origin: Origin {
                team_id: 0x0a0b_0c0d,
                org_id: 0x0102,
                agent_id: 0x0304,
            },
        };
        let b = h.to_bytes();
        assert_eq!(
            b,
            [
                1, 2, 3, 4, // size, big-endian
                4, // type
                0x00, 0x80, // version LE
                3,    // encoder
                0x0d, 0x0c, 0x0b, 0x0a, // team LE
                0x02, 0x01, // org LE
                0, 0, // reserved
                0x04, 0x03, // agent LE
                0     // reserved
            ]
        );
        assert_eq!(Header::parse(&b), Err(FrameError::TooLarge(0x0102_0304)));
        let mut ok = b;
        ok[0..4].copy_from_slice(&100u32.to_be_bytes());
        let p = Header::parse(&ok).unwrap();
        assert_eq!(p.origin, h.origin);
        assert_eq!(p.message_type(), Ok(MessageType::TaggedFlow));
        assert_eq!(p.body_len(), 81);
    }

    #[test]
    fn bad_headers_are_refused() {
        let mut b = Header {
            frame_size: 10,
            msg_type: 4,
            version: VERSION,
            encoder: 0,
            origin: Origin::default(),
        }
        .to_bytes();
        assert_eq!(Header::parse(&b), Err(FrameError::TooShort(10)));
        b[0..4].copy_from_slice(&(MAX_FRAME as u32 + 1).to_be_bytes());
        assert!(matches!(Header::parse(&b), Err(FrameError::TooLarge(_))));
        b[0..4].copy_from_slice(&100u32.to_be_bytes());
        b[5] = 1;
        assert!(matches!(Header::parse(&b), Err(FrameError::Version(_))));
        b[5] = 0;
        b[7] = 9;
        assert_eq!(Header::parse(&b), Err(FrameError::Encoder(9)));
        b[7] = 0;
        b[4] = 19;
        assert_eq!(
            Header::parse(&b).unwrap().message_type(),
            Err(FrameError::UnknownType(19))
        );
    }

    #[test]
    fn frames_round_trip_raw_and_zstd() {
        use prost::Message;
        for compress in [false, true] {
            let mut fb = FrameBuilder::new(MessageType::TaggedFlow, 1024);
            for i in 0..100 {
                fb.push(&flow(i));
            }
            assert_eq!(fb.messages(), 100);
            let origin = Origin {
                team_id: 1,
                org_id: 2,
                agent_id: 3,
            };
            let frame = fb.take_frame(origin, compress).unwrap();
            assert!(fb.is_empty() && fb.messages() == 0);
            let h = Header::parse(frame[..HEADER_LEN].try_into().unwrap()).unwrap();
            assert_eq!(h.frame_size as usize, frame.len());
            assert_eq!(h.encoder, if compress { 3 } else { 0 });
            assert_eq!(h.origin, origin);
            let body = plain_body(&h, &frame[HEADER_LEN..]).unwrap();
            let ids: Vec<u64> = messages(&body)
                .map(|m| {
                    TaggedFlow::decode(m.unwrap())
                        .unwrap()
                        .flow
                        .unwrap()
                        .flow_id
                })
                .collect();
            assert_eq!(ids, (0..100).collect::<Vec<_>>());
        }
    }

    #[test]
    fn truncated_bodies_and_bombs_are_errors() {
        let mut body = 10u32.to_le_bytes().to_vec();
        body.extend_from_slice(&[1, 2, 3]);
        let r: Vec<_> = messages(&body).collect();
        assert_eq!(r, vec![Err(FrameError::Truncated { at: 0, len: 10 })]);
        let r: Vec<_> = messages(&[1, 0]).collect();
        assert!(matches!(r[..], [Err(FrameError::Truncated { .. })]));
        let max = u32::MAX.to_le_bytes();
        let r: Vec<_> = messages(&max).collect();
        assert!(matches!(r[..], [Err(FrameError::Truncated { .. })]));
        // 64 MiB of zeros compress to a few KiB; the reader refuses to expand them.
        let bomb = zstd::bulk::compress(&vec![0u8; 64 << 20], 3).unwrap();
        let h = Header {
            frame_size: (HEADER_LEN + bomb.len()) as u32,
            msg_type: 5,
            version: VERSION,
            encoder: 3,
            origin: Origin::default(),
        };
        assert!(matches!(
            plain_body(&h, &bomb),
            Err(FrameError::Decompress(_))
        ));
    }
}
