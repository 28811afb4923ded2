//! AMQP 0-9-1 framing (the specification's section 4.2 and its XML method list): the protocol
//! header, frames (type, channel, size, frame end), method ids and names, which methods are
//! synchronous (answered by an `-Ok`), who sends them, and the arguments tapflow reports.

pub const FRAME_METHOD: u8 = 1;
pub const FRAME_HEADER: u8 = 2;
pub const FRAME_BODY: u8 = 3;
pub const FRAME_HEARTBEAT: u8 = 8;
pub const FRAME_END: u8 = 0xce;
/// Type, channel, size before the payload; the frame-end octet after it.
pub const FRAME_OVERHEAD: usize = 8;
pub const HEAD_LEN: usize = 7;
/// Largest frame accepted (RabbitMQ's frame_max is 128 KiB by default, 4 GiB in theory).
pub const MAX_FRAME: u32 = 64 << 20;

/// `AMQP` 0 0 9 1 (and the 0-9 / 0-8 spellings some brokers answer with).
pub fn is_protocol_header(b: &[u8]) -> bool {
    b.len() >= 8
        && &b[..4] == b"AMQP"
        && matches!(b[4..8], [0, 0, 9, 1] | [1, 1, 0, 9] | [1, 1, 8, 0])
}

/// A frame head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub channel: u16,
    pub size: u32,
}

impl Frame {
    pub fn read(b: &[u8]) -> Option<Self> {
        let h = b.get(..HEAD_LEN)?;
        let f = Frame {
            kind: h[0],
            channel: u16::from_be_bytes([h[1], h[2]]),
            size: u32::from_be_bytes([h[3], h[4], h[5], h[6]]),
        };
        let ok = matches!(
            f.kind,
            FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT
        ) && f.size <= MAX_FRAME
            && (f.kind != FRAME_METHOD || f.size >= 4)
            && (f.kind != FRAME_HEARTBEAT || (f.channel == 0 && f.size == 0));
        ok.then_some(f)
    }

    pub fn total_len(&self) -> usize {
        FRAME_OVERHEAD + self.size as usize
    }
}

/// The class and method names of `class.method`; None for ids the specification does not have.
pub fn names(class: u16, method: u16) -> Option<(&'static str, &'static str)> {
    let c = match class {
        10 => "Connection",
        20 => "Channel",
        40 => "Exchange",
        50 => "Queue",
        60 => "Basic",
        85 => "Confirm",
        90 => "Tx",
        _ => return None,
    };
    let m = match (class, method) {
        (10, 10) => "Start",
        (10, 11) => "StartOk",
        (10, 20) => "Secure",
        (10, 21) => "SecureOk",
        (10, 30) => "Tune",
        (10, 31) => "TuneOk",
        (10, 40) | (20, 10) => "Open",
        (10, 41) | (20, 11) => "OpenOk",
        (10, 50) | (20, 40) => "Close",
        (10, 51) | (20, 41) => "CloseOk",
        (10, 60) => "Blocked",
        (10, 61) => "Unblocked",
        (10, 70) => "UpdateSecret",
        (10, 71) => "UpdateSecretOk",
        (20, 20) => "Flow",
        (20, 21) => "FlowOk",
        (40, 10) | (50, 10) => "Declare",
        (40, 11) | (50, 11) => "DeclareOk",
        (40, 20) | (50, 40) => "Delete",
        (40, 21) | (50, 41) => "DeleteOk",
        (40, 30) | (50, 20) => "Bind",
        (40, 31) | (50, 21) => "BindOk",
        (40, 40) | (50, 50) => "Unbind",
        (40, 51) | (50, 51) => "UnbindOk",
        (50, 30) => "Purge",
        (50, 31) => "PurgeOk",
        (60, 10) => "Qos",
        (60, 11) => "QosOk",
        (60, 20) => "Consume",
        (60, 21) => "ConsumeOk",
        (60, 30) => "Cancel",
        (60, 31) => "CancelOk",
        (60, 40) => "Publish",
        (60, 50) => "Return",
        (60, 60) => "Deliver",
        (60, 70) => "Get",
        (60, 71) => "GetOk",
        (60, 72) => "GetEmpty",
        (60, 80) => "Ack",
        (60, 90) => "Reject",
        (60, 100) => "RecoverAsync",
        (60, 110) => "Recover",
        (60, 111) => "RecoverOk",
        (60, 120) => "Nack",
        (85, 10) | (90, 10) => "Select",
        (85, 11) | (90, 11) => "SelectOk",
        (90, 20) => "Commit",
        (90, 21) => "CommitOk",
        (90, 30) => "Rollback",
        (90, 31) => "RollbackOk",
        _ => return None,
    };
    Some((c, m))
}

/// What a method is in an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Synchronous: the other side answers with one of the replies.
    Request,
    /// The answer to a synchronous request.
    Reply,
    /// Needs no answer (Publish, Deliver, Ack, ...).
    Async,
}

pub fn role(class: u16, method: u16) -> Role {
    match (class, method) {
        (60, 40 | 50 | 60 | 80 | 90 | 100 | 120) | (10, 60 | 61) => Role::Async,
        (60, 71 | 72) => Role::Reply,
        // Exchange.UnbindOk is 51 (the one id not request + 1).
        (40, 51) => Role::Reply,
        (_, m) if m % 10 == 0 => Role::Request,
        _ => Role::Reply,
    }
}

/// Sent by clients only (Some(true)), servers only (Some(false)), or both (None).
pub fn from_client(class: u16, method: u16) -> Option<bool> {
    match (class, method) {
        (10, 10 | 20 | 30 | 41 | 60 | 61 | 71) => Some(false),
        (10, 11 | 21 | 31 | 40 | 70) => Some(true),
        (20, 10) => Some(true),
        (20, 11) => Some(false),
        (60, 50 | 60 | 71 | 72) => Some(false),
        (60, 40 | 70) => Some(true),
        (10 | 20, _) | (60, 80 | 90 | 120) => None,
        (_, m) if m % 10 == 0 => Some(true),
        _ => Some(false),
    }
}

/// A bounded big-endian reader of AMQP field types.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, at: 0 }
    }

    pub fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.at)?;
        self.at += 1;
        Some(v)
    }

    pub fn u16(&mut self) -> Option<u16> {
        let v = self.b.get(self.at..self.at + 2)?;
        self.at += 2;
        Some(u16::from_be_bytes([v[0], v[1]]))
    }

    pub fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.at.checked_add(n)?;
        (end <= self.b.len()).then(|| self.at = end)
    }

    pub fn shortstr(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u8()?);
        let v = self.b.get(self.at..self.at + n)?;
        self.at += n;
        Some(v)
    }
}

/// The arguments tapflow reports of a method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Args<'a> {
    pub exchange: &'a [u8],
    pub routing_key: &'a [u8],
    pub queue: &'a [u8],
    pub vhost: &'a [u8],
    /// The method asks for no reply (`no-wait`).
    pub no_wait: bool,
    /// Close / Return: reply code and text.
    pub reply_code: Option<u16>,
    pub reply_text: &'a [u8],
}

/// Reads the arguments of `class.method` from `b` (after class and method ids), as far as they
/// were captured.
pub fn args(class: u16, method: u16, b: &[u8]) -> Args<'_> {
    let mut a = Args::default();
    let mut r = Reader::new(b);
    let _ = (|| -> Option<()> {
        match (class, method) {
            (10, 40) => a.vhost = r.shortstr()?,
            (10, 50) | (20, 40) | (60, 50) => {
                a.reply_code = Some(r.u16()?);
                a.reply_text = r.shortstr()?;
                if method == 50 && class == 60 {
                    a.exchange = r.shortstr()?;
                    a.routing_key = r.shortstr()?;
                }
            }
            (40, 10) => {
                r.u16()?;
                a.exchange = r.shortstr()?;
                r.shortstr()?; // type
                a.no_wait = r.u8()? & 0x10 != 0;
            }
            (40, 20) => {
                r.u16()?;
                a.exchange = r.shortstr()?;
                a.no_wait = r.u8()? & 0x02 != 0;
            }
            (50, 10) => {
                r.u16()?;
                a.queue = r.shortstr()?;
                a.no_wait = r.u8()? & 0x10 != 0;
            }
            (50, 11) | (50, 30) | (50, 40) => {
                if method != 11 {
                    r.u16()?;
                }
                a.queue = r.shortstr()?;
            }
            (50, 20) | (50, 50) => {
                r.u16()?;
                a.queue = r.shortstr()?;
                a.exchange = r.shortstr()?;
                a.routing_key = r.shortstr()?;
                if method == 20 {
                    a.no_wait = r.u8()? & 0x01 != 0;
                }
            }
            (60, 20) => {
                r.u16()?;
                a.queue = r.shortstr()?;
                r.shortstr()?; // consumer tag
                a.no_wait = r.u8()? & 0x08 != 0;
            }
            (60, 70) => {
                r.u16()?;
                a.queue = r.shortstr()?;
            }
            (60, 40) => {
                r.u16()?;
                a.exchange = r.shortstr()?;
                a.routing_key = r.shortstr()?;
            }
            (60, 60) | (60, 71) => {
                if method == 60 {
                    r.shortstr()?; // consumer tag
                }
                r.skip(9)?; // delivery tag, redelivered
                a.exchange = r.shortstr()?;
                a.routing_key = r.shortstr()?;
            }
            _ => {}
        }
        Some(())
    })();
    a
}

/// A reply code's meaning class: None for 200 (ok), Some(true) for the client's errors (soft
/// errors 3xx/4xx but connection-forced, and the protocol violations), Some(false) for the
/// server's (connection-forced, resource-error, not-implemented, internal-error).
pub fn reply_class(code: u16) -> Option<bool> {
    match code {
        200 => None,
        320 | 506 | 540 | 541 => Some(false),
        _ => Some(true),
    }
}
