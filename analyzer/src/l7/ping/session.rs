//! Ping rows (`deepflow-facts.md` sections 4.1 and 4.5): an echo request and its reply are one
//! session, paired by identifier and sequence number (several `ping`s between two hosts share
//! one flow). request_resource = the identifier, request_id = the sequence number,
//! request_length / response_length = the echo data's bytes; a reply is ok, a request never
//! answered is a timeout. No request type, domain or endpoint, as in DeepFlow.

use std::fmt::Write;

use super::super::exchange::{Exchange, Pairing};
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::{Probe, ResponseStatus};
use super::wire::parse_echo;

/// Ping needs no state: each message says what it is and which request it answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct PingSession;

impl L7Parser for PingSession {
    const DESC: Descriptor = Descriptor {
        tcp: false,
        icmp: true,
        enabled_by_default: false,
        ..Descriptor::tcp(122, "Ping")
    };
    type Config = ();

    fn probe(payload: &[u8], t: Transport) -> Probe {
        match (t, parse_echo(payload)) {
            (Transport::Icmp, Some(_)) => Probe::Certain,
            _ => Probe::NotForUs,
        }
    }

    fn sent_by_client(payload: &[u8], t: Transport) -> Option<bool> {
        match t {
            Transport::Icmp => parse_echo(payload).map(|e| !e.is_reply),
            Transport::Tcp | Transport::Udp => None,
        }
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let Some(echo) = parse_echo(seg.data) else {
            // An echo type with a code other than 0.
            x.parse_error();
            return seg.data.len();
        };
        let captured = seg.data.len() as u32;
        let length = echo.data_len as i64;
        if echo.is_reply {
            x.response(Pairing::Key(echo.key()), captured, |row| {
                if row.request_resource.is_empty() {
                    let _ = write!(row.request_resource, "{}", echo.id);
                    row.request_id = Some(u32::from(echo.seq));
                }
                row.response_length = length;
                row.response_status = ResponseStatus::Ok.code();
            });
        } else {
            x.request(Some(echo.key()), captured, |row| {
                let _ = write!(row.request_resource, "{}", echo.id);
                row.request_id = Some(u32::from(echo.seq));
                row.request_length = length;
            });
        }
        seg.data.len()
    }

    fn on_gap(&mut self, _: usize, _: &mut Exchange<'_>) {}
}
