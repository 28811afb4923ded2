//! One SOME/IP flow: a TCP connection, or the UDP flow between two endpoints. A request pairs
//! with the response or error that carries its client id and session id; a fire-and-forget call
//! is a request row written at once; a notification (an event, a field's change, every service
//! discovery message) is a row of its own (`type` 2), counted by its sender.
//!
//! Row fields (DeepFlow's `SomeIpInfo`): request_type = the message type (`REQUEST`,
//! `NOTIFICATION`, ...), request_resource = the service id, endpoint = the method (or event) id,
//! both in decimal as DeepFlow writes them; request_id = the session id; version = the protocol
//! and interface versions (`1.1`); the client id is the attribute `client_id`; request_length /
//! response_length = the header's length (8 + payload); response_code = the return code, 0 ok;
//! `E_UNKNOWN_SERVICE`, `E_UNKNOWN_METHOD`, `E_WRONG_PROTOCOL_VERSION`,
//! `E_WRONG_INTERFACE_VERSION` and `E_WRONG_MESSAGE_TYPE` are client errors and any other code a
//! server error, the code's name as response_exception.
//!
//! A SOME/IP-TP message is its first segment's row; the later segments are counted
//! (`l7.someip.tp_segments`). Magic cookies are counted (`l7.someip.magic_cookies`), and so are
//! service discovery messages (`l7.someip.sd_messages`). Two ECUs may call each other over one
//! UDP flow: a call from the flow's server side, or an answer from its client side, is a row of
//! its own.

use std::fmt::Write;

use super::super::exchange::{Exchange, Pairing};
use super::super::framing::{Framed, Sized};
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::{Probe, ResponseStatus};
use super::wire::{
    header, is_client_error, plausible_start, return_code_name, sd_entries, sd_option, tp_offset,
    type_name, whole_messages, Header, Kind, HEADER_LEN,
};
use crate::inline::InlineBytes;
use crate::record::L7FlowLog;

const COUNTER_SD: usize = 0;
const COUNTER_TP: usize = 1;
const COUNTER_COOKIES: usize = 2;

/// SOME/IP state of one flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct SomeIpSession {
    framed: [Framed; 2],
}

impl L7Parser for SomeIpSession {
    const DESC: Descriptor = Descriptor {
        udp: true,
        enabled_by_default: false,
        counters: &[
            "l7.someip.sd_messages",
            "l7.someip.tp_segments",
            "l7.someip.magic_cookies",
        ],
        ..Descriptor::tcp(47, "SomeIP")
    };
    type Config = ();

    /// UDP: a datagram of whole messages. TCP: a message, whole or followed by more; a message
    /// longer than the segment, or a head cut by it, is unsure.
    fn probe(payload: &[u8], t: Transport) -> Probe {
        match t {
            Transport::Udp if whole_messages(payload) => Probe::Certain,
            Transport::Udp | Transport::Icmp => Probe::NotForUs,
            Transport::Tcp => {
                if payload.len() < HEADER_LEN {
                    return if plausible_start(payload) {
                        Probe::Unsure
                    } else {
                        Probe::NotForUs
                    };
                }
                let Some(h) = header(payload) else {
                    return Probe::NotForUs;
                };
                let Some(rest) = payload.get(h.size()..) else {
                    return Probe::Unsure;
                };
                if rest.is_empty() || whole_messages(rest) {
                    Probe::Certain
                } else if header(rest).is_some()
                    || (rest.len() < HEADER_LEN && plausible_start(rest))
                {
                    Probe::Unsure
                } else {
                    Probe::NotForUs
                }
            }
        }
    }

    /// Calls come from the client, answers and notifications from the server; service
    /// discovery from either.
    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        let h = header(payload)?;
        if let Some(from_client) = h.cookie() {
            return Some(from_client);
        }
        (!h.is_sd()).then_some(h.kind.from_caller())
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let from_client = seg.from_client;
        if seg.transport != Transport::Tcp {
            let at = (x.now_ns(), x.tcp_seq());
            let mut rest = seg.data;
            while !rest.is_empty() {
                let Some(h) = header(rest) else {
                    x.parse_error();
                    break;
                };
                let (msg, next) = rest.split_at(h.size().min(rest.len()));
                message(h, msg, from_client, at, x);
                rest = next;
            }
            return seg.data.len();
        }
        let d = seg.dir();
        let mut framed = self.framed[d];
        let read = |b: &[u8]| {
            header(b).map(|h| Sized {
                header: h,
                wanted: h.size(),
                total: h.size(),
            })
        };
        let used = framed.walk(
            seg.data,
            seg.hold,
            HEADER_LEN,
            x,
            read,
            |_| true,
            |h, msg, at, x| message(h, msg, from_client, at, x),
        );
        self.framed[d] = framed;
        used
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.framed[dir].lost();
    }
}

/// `v` in decimal, in `buf`.
fn decimal(v: u16, buf: &mut [u8; 5]) -> &[u8] {
    let mut at = buf.len();
    let mut v = v;
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[at..];
        }
    }
}

/// What every row of a message says of it.
fn fill_message(row: &mut L7FlowLog, h: &Header) {
    row.request_type
        .push_lossy(type_name(h.message_type).as_bytes());
    let _ = write!(row.request_resource, "{}", h.service);
    let _ = write!(row.endpoint, "{}", h.method);
    let _ = write!(row.version, "1.{}", h.interface_version);
    row.request_id = Some(u32::from(h.session));
    let mut buf = [0; 5];
    row.attributes
        .push(b"client_id", decimal(h.client, &mut buf));
}

/// A service discovery message's entries, as the attribute `sd_entries`, each with the endpoints
/// its options name (`OfferService 0x1234:0x5678 v1 @10.0.0.2:30509/tcp; SubscribeEventgroup
/// 0x1235:0x5678 v1 eg 0x0321 @10.0.0.1:40000/udp`).
fn fill_sd(row: &mut L7FlowLog, msg: &[u8]) {
    let mut text = InlineBytes::<256>::EMPTY;
    let payload = msg.get(HEADER_LEN..).unwrap_or_default();
    for (i, e) in sd_entries(payload).enumerate() {
        let sep = if i == 0 { "" } else { "; " };
        let _ = write!(
            text,
            "{sep}{} {:#06x}:{:#06x} v{}",
            e.name(),
            e.service,
            e.instance,
            e.major_version
        );
        if let Some(g) = e.eventgroup {
            let _ = write!(text, " eg {g:#06x}");
        }
        let endpoints = e
            .options
            .iter()
            .flat_map(|&(first, n)| (0..n).map(move |k| first.wrapping_add(k)))
            .filter_map(|index| sd_option(payload, index));
        for (k, ep) in endpoints.enumerate() {
            let proto = match ep.proto {
                6 => "tcp",
                17 => "udp",
                _ => "ip",
            };
            let sep = if k == 0 { " @" } else { "," };
            let _ = match ep.addr {
                std::net::IpAddr::V4(a) => write!(text, "{sep}{a}:{}/{proto}", ep.port),
                std::net::IpAddr::V6(a) => write!(text, "{sep}[{a}]:{}/{proto}", ep.port),
            };
        }
    }
    if !text.is_empty() {
        row.attributes.push(b"sd_entries", text.as_bytes());
    }
}

/// An answer's code, status and exception.
fn fill_answer(row: &mut L7FlowLog, h: &Header) {
    let code = h.return_code;
    row.response_code = Some(i32::from(code));
    row.response_status = match code {
        0 => ResponseStatus::Ok,
        c if is_client_error(c) => ResponseStatus::ClientError,
        _ => ResponseStatus::ServerError,
    }
    .code();
    if code != 0 {
        row.response_exception
            .push_lossy(return_code_name(code).as_bytes());
    }
}

/// One message (`msg` as captured, header included), whose first byte came at `at`.
fn message(h: Header, msg: &[u8], from_client: bool, at: (u64, u32), x: &mut Exchange<'_>) {
    if h.cookie().is_some() {
        x.count(COUNTER_COOKIES);
        return;
    }
    if h.segmented() && tp_offset(msg).is_none_or(|offset| offset > 0) {
        x.count(COUNTER_TP);
        return;
    }
    if h.is_sd() {
        x.count(COUNTER_SD);
    }
    let captured = msg.len() as u32;
    let length = i64::from(h.length);
    let answer = matches!(h.kind, Kind::Response | Kind::Error);
    match (h.kind, from_client) {
        (Kind::Request, true) => {
            let key = Some(h.call_key());
            x.request_at(at.0, at.1, key, captured, |row| {
                fill_message(row, &h);
                row.request_length = length;
            });
        }
        (Kind::RequestNoReturn, true) => x.one_way(captured, |row| {
            fill_message(row, &h);
            row.request_length = length;
        }),
        (Kind::Response | Kind::Error, false) => {
            let pairing = Pairing::Key(h.call_key());
            x.response_at(at.0, at.1, pairing, captured, |row| {
                if row.request_type.is_empty() {
                    fill_message(row, &h);
                }
                row.response_length = length;
                fill_answer(row, &h);
            });
        }
        _ => x.lone(at, from_client, captured, |row| {
            fill_message(row, &h);
            if h.is_sd() {
                fill_sd(row, msg);
            }
            if from_client {
                row.request_length = length;
            } else {
                row.response_length = length;
            }
            if answer {
                fill_answer(row, &h);
            }
        }),
    }
}
