//! One OpenWire connection. As DeepFlow writes it, every command is a row: a command that asks
//! for a response (`responseRequired`) is a request paired with the `Response` (or
//! `ExceptionResponse`, `DataResponse`, ...) whose correlation id is its command id; any other
//! command (`WireFormatInfo`, `MessageDispatch`, `MessageAck`, a message sent without waiting,
//! `KeepAliveInfo`, ...) is a row of its own (`type` 2) counted by its sender.
//!
//! Row fields (DeepFlow's `OpenWireInfo`): request_type = the command (`ActiveMQTextMessage`,
//! `ProducerInfo`), request_domain = a `BrokerInfo`'s broker URL, request_resource = endpoint =
//! the destination's physical name (`ORDERS`), version = the negotiated OpenWire version
//! (a `WireFormatInfo`'s own), request_id = the command id, x_request_id_0 / _1 = a message's
//! JMS correlation id (from the client / the server), request_length / response_length = the
//! frame's size; an `ExceptionResponse` or `ConnectionError` is a server error from the broker
//! (a client error from the client), its exception message as response_exception. Trace and
//! span ids come from the message properties `tag_extraction.tracing_tag` names (`sw8`).
//!
//! The encoding is what both peers' `WireFormatInfo` agreed (tight and cached by default, as
//! ActiveMQ's); a capture that missed them assumes ActiveMQ's defaults. A connection that
//! disabled the size prefix cannot be framed: its commands after the negotiation are counted
//! (`l7.openwire.unframed`), not read.

use std::fmt::Write;

use super::super::exchange::{Exchange, Pairing};
use super::super::framing::{Framed, Sized};
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::{tags, Probe, ResponseStatus};
use super::commands::{command, DestinationCache, Encoding};
use super::wire::{
    command_name, frame, is_response, property, types, wire_format, WireFormat, FRAME_HEAD, MAGIC,
};
use crate::record::L7FlowLog;

const COUNTER_UNFRAMED: usize = 0;

/// OpenWire state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenWireSession {
    framed: [Framed; 2],
    /// Each direction's `WireFormatInfo`.
    announced: [Option<WireFormat>; 2],
    cache: [DestinationCache; 2],
    unframed: bool,
}

impl OpenWireSession {
    fn encoding(&self) -> Encoding {
        match self.announced {
            [Some(a), Some(b)] => Encoding {
                tight: a.tight && b.tight,
                cache: a.cache && b.cache,
                version: a.version.min(b.version),
            },
            _ => Encoding::default(),
        }
    }
}

impl L7Parser for OpenWireSession {
    const DESC: Descriptor = Descriptor {
        enabled_by_default: false,
        large_state: true,
        counters: &["l7.openwire.unframed"],
        ..Descriptor::tcp(103, "OpenWire")
    };
    type Config = ();

    /// A connection's first frame, a `WireFormatInfo` (DeepFlow's check); a head cut by the
    /// segment is unsure.
    fn probe(payload: &[u8], _: Transport) -> Probe {
        // The size, the type, the magic and the version.
        const HEAD: usize = FRAME_HEAD + 12;
        if payload.len() < HEAD {
            let type_fits = payload.get(4).is_none_or(|&t| t == types::WIREFORMAT_INFO);
            let magic = payload.get(FRAME_HEAD..).unwrap_or_default();
            let magic_fits = MAGIC.starts_with(&magic[..magic.len().min(MAGIC.len())]);
            return if type_fits && magic_fits {
                Probe::Unsure
            } else {
                Probe::NotForUs
            };
        }
        match frame(payload) {
            Some((_, types::WIREFORMAT_INFO)) if wire_format(&payload[FRAME_HEAD..]).is_some() => {
                Probe::Certain
            }
            _ => Probe::NotForUs,
        }
    }

    fn sent_by_client(_: &[u8], _: Transport) -> Option<bool> {
        // Both peers open with a WireFormatInfo.
        None
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        if self.unframed {
            return seg.data.len();
        }
        let mut framed = self.framed[d];
        let read = |b: &[u8]| {
            frame(b).map(|(size, kind)| Sized {
                header: kind,
                wanted: 4 + size as usize,
                total: 4 + size as usize,
            })
        };
        let used = framed.walk(
            seg.data,
            seg.hold,
            FRAME_HEAD,
            x,
            read,
            |_| true,
            |kind, msg, at, x| self.frame(kind, msg, at, seg.from_client, x),
        );
        self.framed[d] = framed;
        used
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.framed[dir].lost();
    }
}

impl OpenWireSession {
    /// One frame (`msg` as captured, size prefix included).
    fn frame(&mut self, kind: u8, msg: &[u8], at: (u64, u32), from_client: bool, x: &mut Exchange) {
        let d = usize::from(!from_client);
        let size = msg.get(..4).map_or(-1, |s| {
            i64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        });
        let captured = msg.len() as u32;
        let body = msg.get(FRAME_HEAD..).unwrap_or_default();
        let name = command_name(kind).unwrap_or_default();
        let sized = |row: &mut L7FlowLog| {
            if from_client {
                row.request_length = size;
            } else {
                row.response_length = size;
            }
        };
        if kind == types::WIREFORMAT_INFO {
            let Some(wf) = wire_format(body) else {
                x.parse_error();
                return;
            };
            self.announced[d] = Some(wf);
            if self
                .announced
                .iter()
                .flatten()
                .any(|w| w.size_prefix_disabled)
                && self.announced.iter().all(Option::is_some)
            {
                self.unframed = true;
                x.count(COUNTER_UNFRAMED);
            }
            x.lone(at, from_client, captured, |row| {
                row.request_type.push_lossy(name.as_bytes());
                push_version(row, wf.version);
                sized(row);
            });
            return;
        }
        let enc = self.encoding();
        let Some(c) = command(kind, body, enc, &mut self.cache[d]) else {
            x.parse_error();
            return;
        };
        let tags = &x.settings().tags;
        let fill = |row: &mut L7FlowLog| {
            row.request_type.push_lossy(name.as_bytes());
            row.request_domain.push_lossy(c.broker_url);
            row.request_resource.push_lossy(c.destination.as_bytes());
            row.endpoint.push_lossy(c.destination.as_bytes());
            push_version(row, enc.version);
            if !c.jms_correlation_id.is_empty() {
                if from_client {
                    row.x_request_id_0.push_lossy(c.jms_correlation_id);
                } else {
                    row.x_request_id_1.push_lossy(c.jms_correlation_id);
                }
            }
            if (types::MESSAGE_FIRST..=types::MESSAGE_LAST).contains(&kind)
                || kind == types::MESSAGE_DISPATCH
            {
                tags::extract(tags, from_client, |k| property(body, k), row);
            }
            sized(row);
            if let Some(e) = c.exception {
                row.response_status = if from_client {
                    ResponseStatus::ClientError
                } else {
                    ResponseStatus::ServerError
                }
                .code();
                row.response_exception.push_lossy(e);
            }
        };
        match c.answers.filter(|_| is_response(kind)) {
            Some(id) => x.response_at(at.0, at.1, Pairing::Key(id), captured, |row| {
                sized(row);
                row.response_status = ResponseStatus::Ok.code();
                if let Some(e) = c.exception {
                    row.response_status = ResponseStatus::ServerError.code();
                    row.response_exception.push_lossy(e);
                }
            }),
            None if c.response_required && from_client => {
                x.request_at(at.0, at.1, Some(c.command_id), captured, |row| {
                    fill(row);
                    row.request_id = Some(c.command_id);
                });
            }
            None => x.lone(at, from_client, captured, |row| {
                fill(row);
                row.request_id = Some(c.command_id);
            }),
        }
    }
}

fn push_version(row: &mut L7FlowLog, version: u32) {
    row.version.clear();
    let _ = write!(row.version, "{version}");
}
