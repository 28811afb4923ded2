//! DNS exchanges of one flow: queries and responses paired by id, over UDP (one message per
//! datagram) and TCP (length-prefixed messages, several per segment or one over several).
//!
//! Row fields (`deepflow-facts.md` section 4.5): request_type = QTYPE mnemonic, request_domain =
//! QNAME for A/AAAA queries, request_resource = endpoint = QNAME, request_id = DNS id,
//! response_code = RCODE (0 ok; 1, 3 client error; others server error), response_result = the
//! answer addresses (or the first CNAME) separated by `;`. An NXDOMAIN for a name under
//! `unconcerned_dns_nxdomain_response_suffixes` is ok.

use std::fmt::Write;

use super::super::exchange::{Exchange, Pairing};
use super::super::parser::{Descriptor, L7Parser, Segment, SessionWindow, Transport};
use super::super::{Probe, ResponseStatus};
use super::wire::{parse_message, probe, qtype_name, response_status, tcp_frame, Framing, Message};
use crate::record::L7FlowLog;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;

/// DNS settings (`processors.request_log.filters`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsConfig {
    /// `unconcerned_dns_nxdomain_response_suffixes`: an NXDOMAIN answer for a name ending in one
    /// of these is not an error (search-domain expansions such as `.svc.cluster.local`).
    pub nxdomain_unconcerned_suffixes: Vec<String>,
}

impl DnsConfig {
    /// Is an NXDOMAIN for `name` expected (not an error)?
    pub fn nxdomain_unconcerned(&self, name: &[u8]) -> bool {
        self.nxdomain_unconcerned_suffixes.iter().any(|s| {
            let s = s.as_bytes();
            !s.is_empty()
                && name.len() >= s.len()
                && name[name.len() - s.len()..].eq_ignore_ascii_case(s)
        })
    }
}

/// DNS state of one flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct DnsSession {
    /// Bytes of a TCP message too long to hold that are still to be skipped, per direction.
    skip: [usize; 2],
    /// Bytes of this direction were lost: wait for a segment that starts with a message.
    resync: [bool; 2],
}

impl L7Parser for DnsSession {
    const DESC: Descriptor = Descriptor {
        udp: true,
        default_ports: &[53, 5353],
        window: SessionWindow::Short,
        ..Descriptor::tcp(120, "DNS")
    };
    type Config = DnsConfig;

    fn probe(payload: &[u8], t: Transport) -> Probe {
        match (t, payload) {
            (Transport::Udp, msg) => probe(msg),
            (Transport::Tcp, [_, _, msg @ ..]) => probe(msg),
            (Transport::Tcp, _) => Probe::Unsure,
            (Transport::Icmp, _) => Probe::NotForUs,
        }
    }

    fn sent_by_client(payload: &[u8], t: Transport) -> Option<bool> {
        let msg = match t {
            Transport::Tcp => payload.get(2..)?,
            Transport::Udp => payload,
            Transport::Icmp => return None,
        };
        msg.get(2).map(|f| f & 0x80 == 0)
    }

    fn on_data(&mut self, cfg: &DnsConfig, seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        match seg.transport {
            // DNS is never tried on ICMP (its descriptor says so).
            Transport::Udp | Transport::Icmp => {
                self.message(seg.data, seg.data.len(), cfg, x);
                seg.data.len()
            }
            Transport::Tcp => {
                let resync = std::mem::take(&mut self.resync[seg.dir()]);
                self.on_stream(seg.data, resync, seg.from_client, seg.hold, cfg, x)
            }
        }
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.resync[dir] = true;
    }
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

fn fill_response(row: &mut L7FlowLog, m: &Message, cfg: &DnsConfig) {
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
    /// One message (a UDP datagram, or a TCP message without its length prefix); `captured`
    /// counts its bytes on the wire (with a TCP length prefix). A message that does not decode is
    /// counted and skipped.
    fn message(&mut self, msg: &[u8], captured: usize, cfg: &DnsConfig, x: &mut Exchange<'_>) {
        let Ok(m) = parse_message(msg) else {
            x.parse_error();
            return;
        };
        let key = Some(u32::from(m.header.id));
        let captured = captured as u32;
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
    fn on_stream(
        &mut self,
        data: &[u8],
        resync: bool,
        from_client: bool,
        hold: usize,
        cfg: &DnsConfig,
        x: &mut Exchange<'_>,
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
                    self.message(&rest[2..2 + len], 2 + len, cfg, x);
                    at += 2 + len;
                }
                Framing::NeedMore { needed } if needed > hold && rest.len() > 2 + 12 => {
                    self.message(&rest[2..], rest.len(), cfg, x);
                    self.skip[d] = needed - rest.len();
                    return data.len();
                }
                Framing::NeedMore { .. } => return at,
            }
        }
        at
    }
}
