//! One FastCGI connection: a web server (nginx, Apache) and the application server behind it
//! (PHP-FPM, fcgiwrap, a Python or Go FastCGI app). Requests pair with responses by their
//! FastCGI request id, so requests multiplexed on one connection pair as they should.
//!
//! Row fields (DeepFlow's, `deepflow-facts.md` section 4.5): request_type = `REQUEST_METHOD`,
//! request_resource = `REQUEST_URI` (`SCRIPT_NAME` without it), request_domain = `HTTP_HOST`,
//! endpoint = `DOCUMENT_URI`, http_user_agent / http_referer from their `HTTP_` parameters,
//! request_length = `CONTENT_LENGTH`, request_id = the FastCGI request id, version = 1; trace,
//! span and request ids from the `HTTP_` parameters of the configured headers (CGI passes
//! `traceparent` as `HTTP_TRACEPARENT`). The response is the first STDOUT record: its CGI
//! `Status:` header gives response_code (200 without one) and the status (4xx client error, 5xx
//! server error, the reason as response_exception); `Content-Length` the response_length. A
//! request answered by END_REQUEST alone is written then: ok, or a server error naming the
//! protocol status (`FCGI_OVERLOADED`, ...).
//!
//! The request row is made at its first PARAMS record and completed by the next ones. A record
//! larger than the segment is read as far as it was captured and the rest skipped by its length;
//! after a gap the direction waits for a segment that starts a record.

use super::super::exchange::{Exchange, Pairing, RequestId};
use super::super::framing::{Framed, Sized};
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::{tags, Probe, ResponseStatus};
use super::wire::{
    cgi_headers, cgi_status, is_header_param, looks_like_begin, params, Header, BEGIN_REQUEST,
    END_REQUEST, HEADER_LEN, PARAMS, STDOUT,
};
use crate::inline::InlineBytes;
use crate::record::L7FlowLog;

/// FastCGI state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct FastCgiSession {
    /// Each direction's records.
    framed: [Framed; 2],
    /// The request whose PARAMS are being read: its FastCGI id and its row.
    params_of: Option<(u16, RequestId)>,
    /// The request id whose response was written (its later STDOUT records are its body).
    answered: Option<u16>,
}

/// Header-name equality of a response header with a configured name: ASCII case-insensitive,
/// '-' and '_' alike.
fn same_name(a: &[u8], b: &str) -> bool {
    let norm = |c: u8| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    a.len() == b.len() && a.iter().zip(b.bytes()).all(|(&x, y)| norm(x) == norm(y))
}

fn set_if_empty<const N: usize>(dst: &mut InlineBytes<N>, v: &[u8]) {
    if dst.is_empty() {
        dst.push_lossy(v);
    }
}

/// The request fields of one PARAMS record's content.
fn fill_params(cfg: &super::super::L7Config, content: &[u8], row: &mut L7FlowLog) {
    for (name, value) in params(content) {
        match name {
            b"REQUEST_METHOD" => set_if_empty(&mut row.request_type, value),
            b"REQUEST_URI" => row.request_resource = InlineBytes::from_slice(value),
            b"SCRIPT_NAME" => set_if_empty(&mut row.request_resource, value),
            b"HTTP_HOST" => set_if_empty(&mut row.request_domain, value),
            b"DOCUMENT_URI" => set_if_empty(&mut row.endpoint, value),
            b"HTTP_USER_AGENT" => set_if_empty(&mut row.http_user_agent, value),
            b"HTTP_REFERER" => set_if_empty(&mut row.http_referer, value),
            b"CONTENT_LENGTH" => {
                if let Some(n) = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()) {
                    row.request_length = n;
                }
            }
            _ => {}
        }
    }
    let find = |header: &str| {
        params(content)
            .find(|(n, _)| is_header_param(n, header))
            .map(|(_, v)| v)
    };
    tags::extract(&cfg.tags, true, find, row);
}

/// The response fields of the first STDOUT record's content.
fn fill_response(cfg: &super::super::L7Config, content: &[u8], row: &mut L7FlowLog) {
    let (code, reason) = cgi_status(content).unwrap_or((200, &[]));
    row.response_code = Some(i32::from(code));
    let status = match code {
        400..=499 => ResponseStatus::ClientError,
        500..=599 => ResponseStatus::ServerError,
        _ => ResponseStatus::Ok,
    };
    row.response_status = status.code();
    if status != ResponseStatus::Ok {
        row.response_exception.push_lossy(reason);
    }
    if let Some((_, v)) = cgi_headers(content).find(|(n, _)| same_name(n, "content-length")) {
        if let Some(n) = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()) {
            row.response_length = n;
        }
    }
    let find = |header: &str| {
        cgi_headers(content)
            .find(|(n, _)| same_name(n, header))
            .map(|(_, v)| v)
    };
    tags::extract(&cfg.tags, false, find, row);
}

/// The response to request `id` (its first STDOUT record, or its END_REQUEST) from a record of
/// `content` that came at (time, sequence number) `when`; `fill` sets the response's fields.
fn respond(
    x: &mut Exchange<'_>,
    id: u16,
    (ts, seq): (u64, u32),
    content: &[u8],
    fill: impl FnOnce(&mut L7FlowLog),
) {
    let key = Pairing::Key(u32::from(id));
    x.response_at(ts, seq, key, content.len() as u32, |row| {
        // A response whose request was not seen still says which request it answers.
        if row.request_type.is_empty() {
            row.request_id = Some(u32::from(id));
            row.version.push_lossy(b"1");
        }
        fill(row);
    });
}

/// The name of END_REQUEST's protocol status.
fn protocol_status_name(s: u8) -> &'static [u8] {
    match s {
        1 => b"FCGI_CANT_MPX_CONN",
        2 => b"FCGI_OVERLOADED",
        3 => b"FCGI_UNKNOWN_ROLE",
        _ => b"FCGI_UNKNOWN_STATUS",
    }
}

impl L7Parser for FastCgiSession {
    const DESC: Descriptor = Descriptor {
        enabled_by_default: false,
        ..Descriptor::tcp(44, "FastCGI")
    };
    type Config = ();

    fn probe(payload: &[u8], _: Transport) -> Probe {
        match looks_like_begin(payload) {
            Some(true) => Probe::Certain,
            None => Probe::Unsure,
            Some(false) => Probe::NotForUs,
        }
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        Header::parse(payload).map(|h| h.from_client())
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let from_client = seg.from_client;
        let mut framed = self.framed[d];
        // A record of the other direction's kind is not a record start here.
        let read = |b: &[u8]| {
            Header::parse(b)
                .filter(|h| h.from_client() == from_client)
                .map(|h| Sized {
                    header: h,
                    wanted: HEADER_LEN + usize::from(h.content_len),
                    total: h.record_len(),
                })
        };
        let used = framed.walk(
            seg.data,
            seg.hold,
            HEADER_LEN,
            x,
            read,
            |_| true,
            |h, record, (ts, seq), x| {
                let content = record.get(HEADER_LEN..).unwrap_or_default();
                self.record(h, content, ts, seq, x);
            },
        );
        self.framed[d] = framed;
        used
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.framed[dir].lost();
        if dir == 0 {
            self.params_of = None;
        }
    }
}

impl FastCgiSession {
    fn record(&mut self, h: Header, content: &[u8], ts: u64, seq: u32, x: &mut Exchange<'_>) {
        let id = h.request_id;
        let cfg = x.settings();
        match h.kind {
            BEGIN_REQUEST => {
                // Request ids are reused on a kept-alive connection.
                if self.answered == Some(id) {
                    self.answered = None;
                }
                self.params_of = None;
            }
            // The empty record ends the parameters.
            PARAMS if content.is_empty() => self.params_of = None,
            PARAMS => match self.params_of {
                Some((open, rid)) if open == id => {
                    x.update_request(rid, |row| fill_params(cfg, content, row));
                }
                _ => {
                    let rid =
                        x.request_at(ts, seq, Some(u32::from(id)), content.len() as u32, |row| {
                            row.request_id = Some(u32::from(id));
                            row.version.push_lossy(b"1");
                            fill_params(cfg, content, row);
                        });
                    self.params_of = Some((id, rid));
                }
            },
            STDOUT if !content.is_empty() && self.answered != Some(id) => {
                self.answered = Some(id);
                respond(x, id, (ts, seq), content, |row| {
                    fill_response(cfg, content, row)
                });
            }
            END_REQUEST if self.answered != Some(id) => {
                self.answered = Some(id);
                let protocol_status = content.get(4).copied().unwrap_or(0);
                respond(x, id, (ts, seq), content, |row| {
                    if protocol_status == 0 {
                        row.response_status = ResponseStatus::Ok.code();
                    } else {
                        row.response_status = ResponseStatus::ServerError.code();
                        row.response_exception
                            .push_lossy(protocol_status_name(protocol_status));
                    }
                });
            }
            // STDIN, DATA, STDERR, the rest of an answered STDOUT, management records.
            _ => {}
        }
    }
}
