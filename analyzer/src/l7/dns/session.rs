//! DNS exchanges of one flow: queries and responses paired by id, over UDP (one message per
//! datagram) and TCP (length-prefixed messages, several per segment or one over several).
//!
//! Row fields (`deepflow-facts.md` section 4.5): request_type = QTYPE mnemonic, request_domain =
//! QNAME for A/AAAA queries, request_resource = endpoint = QNAME, request_id = DNS id,
//! response_code = RCODE (0 ok; 1, 3 client error; others server error), response_result = the
//! answer addresses (or the first CNAME) separated by `;`. An NXDOMAIN for a name under
//! `unconcerned_dns_nxdomain_response_suffixes` is ok.

use std::fmt::Write;

use super::super::config::L7Config;
use super::super::exchange::{Exchange, Pairing};
use super::super::ResponseStatus;
use super::wire::{parse_message, qtype_name, response_status, tcp_frame, Framing, Message};
use crate::engine::RecordSink;
use crate::record::L7FlowLog;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;

/// DNS state of one flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct DnsSession {
    /// Bytes of a TCP message too long to hold that are still to be skipped, per direction.
    skip: [usize; 2],
}

fn fill_request(row: &mut L7FlowLog, m: &Message) {
    let q = &m.question;
    match qtype_name(q.qtype) {
        Some(n) => row.request_type.push_lossy(n.as_bytes()),
        None => {
            let _ = write!(row.request_type, "{}", q.qtype);
        }
    }
    if matches!(q.qtype, TYPE_A | TYPE_AAAA) {
        row.request_domain.push_lossy(q.name.as_bytes());
    }
    row.request_resource.push_lossy(q.name.as_bytes());
    row.endpoint.push_lossy(q.name.as_bytes());
    row.request_id = Some(u32::from(m.header.id));
}

const RCODE_NXDOMAIN: u8 = 3;

fn fill_response(row: &mut L7FlowLog, m: &Message, cfg: &L7Config) {
    if row.request_resource.is_empty() {
        fill_request(row, m);
    }
    row.response_code = Some(i32::from(m.header.rcode));
    row.response_status = if m.header.rcode == RCODE_NXDOMAIN
        && cfg.nxdomain_unconcerned(m.question.name.as_bytes())
    {
        ResponseStatus::Ok.code()
    } else {
        response_status(m.header.rcode).code()
    };
    let mut first = true;
    for a in m.answers.addrs() {
        if !first {
            row.response_result.push_lossy(b";");
        }
        first = false;
        let _ = write!(row.response_result, "{a}");
    }
    if first {
        if let Some(c) = &m.answers.cname {
            row.response_result.push_lossy(c.as_bytes());
        }
    }
}

impl DnsSession {
    /// One message (a UDP datagram, or a TCP message without its length prefix). A message that
    /// does not decode is counted and skipped.
    pub(crate) fn on_message<S: RecordSink>(&mut self, msg: &[u8], x: &mut Exchange<'_, S>) {
        self.message(msg, msg.len(), x);
    }

    /// One message; `captured` counts its bytes on the wire (with a TCP length prefix).
    fn message<S: RecordSink>(&mut self, msg: &[u8], captured: usize, x: &mut Exchange<'_, S>) {
        let Ok(m) = parse_message(msg) else {
            x.counters.parse_errors += 1;
            return;
        };
        let key = Some(u32::from(m.header.id));
        let captured = captured as u32;
        let cfg = x.cfg;
        if m.header.is_response {
            x.response(Pairing::Key(u32::from(m.header.id)), captured, |row| {
                fill_response(row, &m, cfg)
            });
        } else {
            x.request(key, captured, |row| fill_request(row, &m));
        }
    }

    /// TCP: length-prefixed messages; returns the bytes consumed (the rest is an incomplete
    /// message, offered again with more bytes). `hold` is how much the caller can keep: a longer
    /// message is parsed from what is there (header and question come first) and the rest of it
    /// skipped.
    pub(crate) fn on_stream<S: RecordSink>(
        &mut self,
        data: &[u8],
        resync: bool,
        from_client: bool,
        hold: usize,
        x: &mut Exchange<'_, S>,
    ) -> usize {
        let d = usize::from(!from_client);
        if resync {
            // No way to find the next length prefix inside a stream: wait for a segment that
            // starts with a message that decodes.
            self.skip[d] = 0;
            let ok = match tcp_frame(data) {
                Framing::Complete { len } => parse_message(&data[2..2 + len]).is_ok(),
                Framing::NeedMore { .. } => parse_message(data.get(2..).unwrap_or_default())
                    .is_ok_and(|m| !m.answers.complete || m.header.ancount == 0),
            };
            if !ok {
                return data.len();
            }
        }
        let mut at = 0;
        while at < data.len() {
            if self.skip[d] > 0 {
                let take = self.skip[d].min(data.len() - at);
                self.skip[d] -= take;
                at += take;
                continue;
            }
            let rest = &data[at..];
            match tcp_frame(rest) {
                Framing::Complete { len } => {
                    self.message(&rest[2..2 + len], 2 + len, x);
                    at += 2 + len;
                }
                Framing::NeedMore { needed } if needed > hold && rest.len() > 2 + 12 => {
                    self.message(&rest[2..], rest.len(), x);
                    self.skip[d] = needed - rest.len();
                    return data.len();
                }
                Framing::NeedMore { .. } => return at,
            }
        }
        at
    }
}
