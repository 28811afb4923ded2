//! One Tars connection. Calls pair with responses by request id (`iRequestId`; DeepFlow pairs
//! them in order, which is the same for a client that waits for each answer); one-way calls
//! (`cPacketType` 1) are request rows written at once.
//!
//! Row fields (DeepFlow's `TarsInfo`): request_type = the function (`sFuncName`),
//! request_resource = the servant (`sServantName`), endpoint = `servant/function`, request_id =
//! `iRequestId`, version = `iVersion` (1 TARS, 3 TUP), request_length / response_length = the
//! packet's length, response_code = `iRet` (0 ok; -10 to -12 client errors; any other a server
//! error, with `sResultDesc` or the code's name as response_exception; a response without
//! `iRet` is of unknown status).
//!
//! A packet longer than the stream holds is read as far as it was captured and the rest skipped
//! by its length; after a gap a direction waits for a segment that starts with a packet head.

use super::super::exchange::{Exchange, Pairing};
use super::super::framing::{Framed, Sized};
use super::super::parser::{Descriptor, L7Parser, Segment, Transport};
use super::super::{Probe, ResponseStatus};
use super::wire::{packet, packet_len, ret_is_client_error, ret_name, PACKET_ONEWAY, START_LEN};
use crate::record::L7FlowLog;

/// Tars state of one connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct TarsSession {
    framed: [Framed; 2],
}

/// A plausible name: printable ASCII, not empty.
fn plausible(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(u8::is_ascii_graphic)
}

impl L7Parser for TarsSession {
    const DESC: Descriptor = Descriptor {
        enabled_by_default: false,
        ..Descriptor::tcp(46, "Tars")
    };
    type Config = ();

    /// A request naming a servant and a function; a head cut by the segment is unsure.
    fn probe(payload: &[u8], _: Transport) -> Probe {
        if payload.len() <= START_LEN {
            // The length's high byte is 0 below 16 MiB; the version's head follows it.
            let plausible_start = payload.first().is_none_or(|&b| b == 0)
                && payload.get(4).is_none_or(|&b| b == 0x10 || b == 0x11);
            return if plausible_start {
                Probe::Unsure
            } else {
                Probe::NotForUs
            };
        }
        let Some(len) = packet_len(payload) else {
            return Probe::NotForUs;
        };
        match packet(payload) {
            // (A TUP answer names them too, with a result code.)
            Some(p)
                if p.request && p.ret.is_none() && plausible(p.servant) && plausible(p.func) =>
            {
                Probe::Certain
            }
            Some(p) if p.request => Probe::NotForUs,
            _ if payload.len() < (len as usize).min(512) => Probe::Unsure,
            _ => Probe::NotForUs,
        }
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        packet(payload).map(|p| p.request && p.ret.is_none())
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let d = seg.dir();
        let from_client = seg.from_client;
        let mut framed = self.framed[d];
        let read = |b: &[u8]| {
            packet_len(b).map(|len| Sized {
                header: (),
                wanted: len as usize,
                total: len as usize,
            })
        };
        let used = framed.walk(
            seg.data,
            seg.hold,
            START_LEN + 1,
            x,
            read,
            |_| true,
            |_, msg, (ts, seq), x| message(msg, from_client, ts, seq, x),
        );
        self.framed[d] = framed;
        used
    }

    fn on_gap(&mut self, dir: usize, _: &mut Exchange<'_>) {
        self.framed[dir].lost();
    }
}

/// One packet (`msg` as captured, length prefix included).
fn message(msg: &[u8], from_client: bool, ts: u64, seq: u32, x: &mut Exchange<'_>) {
    // A TUP answer is a RequestPacket from the server.
    let Some(mut p) = packet(msg).filter(|p| p.request == from_client || p.version >= 2) else {
        x.parse_error();
        return;
    };
    p.request = from_client;
    let size = i64::from(packet_len(msg).unwrap_or_default());
    let captured = msg.len() as u32;
    let version = [b'0' + p.version.clamp(0, 9) as u8];
    if p.request {
        let fill = |row: &mut L7FlowLog| {
            row.request_type.push_lossy(p.func);
            row.request_resource.push_lossy(p.servant);
            row.endpoint.push_lossy(p.servant);
            row.endpoint.push_lossy(b"/");
            row.endpoint.push_lossy(p.func);
            row.version.push_lossy(&version);
            row.request_id = p.request_id;
            row.request_length = size;
        };
        if p.packet_type == PACKET_ONEWAY {
            x.one_way(captured, fill);
        } else {
            x.request_at(ts, seq, p.request_id, captured, fill);
        }
        return;
    }
    let pairing = match p.request_id {
        Some(id) => Pairing::Key(id),
        None => Pairing::Oldest,
    };
    x.response_at(ts, seq, pairing, captured, |row| {
        row.version.clear();
        row.version.push_lossy(&version);
        row.request_id = p.request_id;
        row.response_length = size;
        row.response_code = p.ret;
        row.response_status = match p.ret {
            None => ResponseStatus::Unknown,
            Some(0) => ResponseStatus::Ok,
            Some(r) if ret_is_client_error(r) => ResponseStatus::ClientError,
            Some(_) => ResponseStatus::ServerError,
        }
        .code();
        if let Some(r) = p.ret.filter(|&r| r != 0) {
            if p.result_desc.is_empty() {
                row.response_exception.push_lossy(ret_name(r).as_bytes());
            } else {
                row.response_exception.push_lossy(p.result_desc);
            }
        }
    });
}
