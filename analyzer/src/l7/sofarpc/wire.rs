//! Bolt protocol v1 (`com.alipay.remoting.rpc.protocol.RpcProtocol`): the 22-byte request header
//! (proto 1, type, command code, ver2, request id, codec, timeout, class, header and content
//! lengths) and the 20-byte response header (a response status in place of the timeout), then the
//! class name, the header map and the content. SOFARPC's header map is a run of
//! (u32 length, bytes) keys and values. Bounded reads only.

pub const PROTO_BOLT_V1: u8 = 1;
pub const REQUEST_HEADER_LEN: usize = 22;
pub const RESPONSE_HEADER_LEN: usize = 20;
/// Message types.
pub const TYPE_RESPONSE: u8 = 0;
pub const TYPE_REQUEST: u8 = 1;
pub const TYPE_ONEWAY: u8 = 2;
/// Command codes.
pub const CMD_HEARTBEAT: u16 = 0;
pub const CMD_REQUEST: u16 = 1;
pub const CMD_RESPONSE: u16 = 2;
/// Codecs: Hessian2 (the only one whose content is read).
pub const CODEC_HESSIAN: u8 = 1;
/// Response status `CLIENT_SEND_ERROR`, DeepFlow's only client error.
pub const STATUS_CLIENT_SEND_ERROR: u16 = 8;
/// Bolt's default frame limit is far below this; longer claims are not Bolt.
pub const MAX_CONTENT: u32 = 64 << 20;

/// The SOFA header keys DeepFlow reads (SOFARPC's `RemotingConstants`).
pub const KEY_SERVICE: &[u8] = b"sofa_head_target_service";
pub const KEY_METHOD: &[u8] = b"sofa_head_method_name";
pub const KEY_TRACE_ID: &[u8] = b"rpc_trace_context.sofaTraceId";
/// SOFARPC 5.1 and later: `tcid=...&spid=...&pspid=...&sample=true&`.
pub const KEY_NEW_TRACE_CONTEXT: &[u8] = b"new_rpc_trace_context";

/// A message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: u8,
    pub cmd: u16,
    pub request_id: u32,
    pub codec: u8,
    /// The response status (0 for requests).
    pub status: u16,
    pub class_len: u16,
    pub header_len: u16,
    pub content_len: u32,
}

impl Header {
    /// Reads a Bolt v1 header of a known type and command code.
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < RESPONSE_HEADER_LEN || b[0] != PROTO_BOLT_V1 {
            return None;
        }
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let kind = b[1];
        let cmd = u16_at(2);
        let (status, lengths) = match kind {
            TYPE_REQUEST | TYPE_ONEWAY if b.len() >= REQUEST_HEADER_LEN => (0, 14),
            TYPE_RESPONSE => (u16_at(10), 12),
            _ => return None,
        };
        let h = Header {
            kind,
            cmd,
            request_id: u32_at(5),
            codec: b[9],
            status,
            class_len: u16_at(lengths),
            header_len: u16_at(lengths + 2),
            content_len: u32_at(lengths + 4),
        };
        let cmd_fits = match kind {
            TYPE_RESPONSE => matches!(cmd, CMD_HEARTBEAT | CMD_RESPONSE),
            _ => matches!(cmd, CMD_HEARTBEAT | CMD_REQUEST),
        };
        (cmd_fits && h.content_len <= MAX_CONTENT).then_some(h)
    }

    pub fn is_request(&self) -> bool {
        self.kind != TYPE_RESPONSE
    }

    pub fn is_heartbeat(&self) -> bool {
        self.cmd == CMD_HEARTBEAT
    }

    pub fn fixed_len(&self) -> usize {
        if self.is_request() {
            REQUEST_HEADER_LEN
        } else {
            RESPONSE_HEADER_LEN
        }
    }

    /// Class name, header map and content: DeepFlow's request / response length.
    pub fn body_len(&self) -> u32 {
        u32::from(self.class_len) + u32::from(self.header_len) + self.content_len
    }

    pub fn total_len(&self) -> usize {
        self.fixed_len() + self.body_len() as usize
    }

    /// The class name, header map and content as captured in `msg` (the whole message).
    pub fn parts<'a>(&self, msg: &'a [u8]) -> (&'a [u8], &'a [u8], &'a [u8]) {
        let rest = msg.get(self.fixed_len()..).unwrap_or_default();
        let (class, rest) = rest.split_at(usize::from(self.class_len).min(rest.len()));
        let (map, content) = rest.split_at(usize::from(self.header_len).min(rest.len()));
        (class, map, content)
    }
}

/// The SOFA header map's entries, as far as they were captured.
pub fn header_entries(mut map: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        let key = take_sized(&mut map)?;
        let value = take_sized(&mut map)?;
        Some((key, value))
    })
}

fn take_sized<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = b.get(..4)?;
    let n = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
    // Java's null string is -1.
    let n = if n == u32::MAX { 0 } else { n as usize };
    let v = b.get(4..4 + n)?;
    *b = &b[4 + n..];
    Some(v)
}

/// The trace id, span id and parent span id of SOFARPC's `new_rpc_trace_context` value
/// (`tcid=...&spid=...&pspid=...&`); a value that does not end its pair with `&` is not read.
pub fn new_trace_context(v: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let (mut tcid, mut spid, mut pspid): (&[u8], &[u8], &[u8]) = (&[], &[], &[]);
    let mut rest = v;
    while let Some(eq) = rest.iter().position(|&c| c == b'=') {
        let Some(amp) = rest[eq + 1..].iter().position(|&c| c == b'&') else {
            break;
        };
        let (k, val) = (&rest[..eq], &rest[eq + 1..eq + 1 + amp]);
        match k {
            b"tcid" => tcid = val,
            b"spid" => spid = val,
            b"pspid" => pspid = val,
            _ => {}
        }
        rest = &rest[eq + 2 + amp..];
    }
    (tcid, spid, pspid)
}

/// A Java class name: not empty, printable ASCII without spaces (DeepFlow's check against
/// false positives).
pub fn plausible_class(class: &[u8]) -> bool {
    !class.is_empty() && class.iter().all(u8::is_ascii_graphic)
}

/// The name of a Bolt response status (`ResponseStatus`), for the row's exception.
pub fn status_name(status: u16) -> &'static str {
    match status {
        0x00 => "SUCCESS",
        0x01 => "ERROR",
        0x02 => "SERVER_EXCEPTION",
        0x03 => "UNKNOWN",
        0x04 => "SERVER_THREADPOOL_BUSY",
        0x05 => "ERROR_COMM",
        0x06 => "NO_PROCESSOR",
        0x07 => "TIMEOUT",
        0x08 => "CLIENT_SEND_ERROR",
        0x09 => "CODEC_EXCEPTION",
        0x10 => "CONNECTION_CLOSED",
        0x11 => "SERVER_SERIAL_EXCEPTION",
        0x12 => "SERVER_DESERIAL_EXCEPTION",
        _ => "UNKNOWN_STATUS",
    }
}
