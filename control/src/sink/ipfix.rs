//! IPFIX export (RFC 7011) over UDP (`--ipfix HOST:PORT`, `outputs.ipfix.*`): every flow log row
//! becomes one data record per direction that carried packets (client to server, then server to
//! client, as a NetFlow collector expects uni-directional flows), in messages of at most 1400
//! bytes. Templates (IPv4 id 256, IPv6 id 257) are sent first and again every
//! `template_refresh_s` seconds, as UDP export requires.
//!
//! Fields: IANA `sourceIPv4Address` / `sourceIPv6Address`, destination address, ports,
//! `protocolIdentifier`, `packetDeltaCount`, `octetDeltaCount` (IP bytes: the frame bytes tapflow
//! counts minus the Ethernet header and a VLAN tag when the flow has one),
//! `layer2OctetDeltaCount` (tapflow's byte counters), `flowStartMilliseconds`,
//! `flowEndMilliseconds`, `tcpControlBits`, `flowEndReason`; and enterprise elements (private
//! enterprise number 32473, RFC 5612's documentation number, until tapflow has its own) for the
//! handshake RTT, the flow's mean SRT and ART (µs), retransmissions and zero windows of the
//! direction, DeepFlow's close type and the L7 protocol id.

use std::net::{IpAddr, UdpSocket};

use tapflow_analyzer::{L4FlowLog, RecordRef};

use super::{Sink, SinkError, SinkStats};

/// tapflow's enterprise elements' private enterprise number.
const PEN: u32 = 32473;
const TEMPLATE_V4: u16 = 256;
const TEMPLATE_V6: u16 = 257;
const MAX_MESSAGE: usize = 1400;
const HEADER_LEN: usize = 16;

/// (information element id, length, enterprise).
const FIELDS_AFTER_ADDRESSES: [(u16, u16, bool); 17] = [
    (7, 2, false),   // sourceTransportPort
    (11, 2, false),  // destinationTransportPort
    (4, 1, false),   // protocolIdentifier
    (2, 8, false),   // packetDeltaCount
    (1, 8, false),   // octetDeltaCount
    (352, 8, false), // layer2OctetDeltaCount
    (152, 8, false), // flowStartMilliseconds
    (153, 8, false), // flowEndMilliseconds
    (6, 2, false),   // tcpControlBits
    (136, 1, false), // flowEndReason
    (1, 4, true),    // tapflow: handshake RTT, µs
    (2, 4, true),    // tapflow: mean SRT, µs
    (3, 4, true),    // tapflow: mean ART, µs
    (4, 4, true),    // tapflow: retransmissions of this direction
    (5, 4, true),    // tapflow: zero windows of this direction
    (6, 1, true),    // tapflow: DeepFlow close type
    (7, 1, true),    // tapflow: L7 protocol (DeepFlow id)
];

/// The exporter.
pub struct IpfixSink {
    socket: UdpSocket,
    domain: u32,
    refresh_ns: u64,
    /// The message being filled (header written when sent).
    records: Vec<u8>,
    /// The open data set: its template id and where its header is in `records`.
    set: Option<(u16, usize)>,
    records_in_message: u32,
    sequence: u32,
    last_templates_ns: Option<u64>,
    now_ns: u64,
    stats: SinkStats,
    error: Option<std::io::Error>,
}

impl std::fmt::Debug for IpfixSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpfixSink")
            .field("sequence", &self.sequence)
            .finish()
    }
}

fn template_set() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(2u16.to_be_bytes());
    b.extend(0u16.to_be_bytes());
    for (id, v4) in [(TEMPLATE_V4, true), (TEMPLATE_V6, false)] {
        b.extend(id.to_be_bytes());
        b.extend((FIELDS_AFTER_ADDRESSES.len() as u16 + 2).to_be_bytes());
        if v4 {
            b.extend([0, 8, 0, 4, 0, 12, 0, 4]);
        } else {
            b.extend([0, 27, 0, 16, 0, 28, 0, 16]);
        }
        for (ie, len, enterprise) in FIELDS_AFTER_ADDRESSES {
            if enterprise {
                b.extend((ie | 0x8000).to_be_bytes());
                b.extend(len.to_be_bytes());
                b.extend(PEN.to_be_bytes());
            } else {
                b.extend(ie.to_be_bytes());
                b.extend(len.to_be_bytes());
            }
        }
    }
    let len = b.len() as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    b
}

/// IPFIX `flowEndReason` of a DeepFlow close type.
fn end_reason(close_type: u8) -> u8 {
    match close_type {
        // Periodic report of a live flow: active timeout.
        5 => 2,
        // Idle: UDP and others end by timeout; TCP timeout.
        3 => 1,
        // FIN / RST: end of flow detected.
        _ => 3,
    }
}

fn mean(sum: u64, count: u32) -> u32 {
    if count == 0 {
        0
    } else {
        (sum / u64::from(count)).min(u64::from(u32::MAX)) as u32
    }
}

impl IpfixSink {
    /// Sends to `addr` (host:port) from an ephemeral port.
    pub fn connect(addr: &str, domain: u32, template_refresh_s: u64) -> std::io::Result<Self> {
        let target: std::net::SocketAddr = addr.parse().map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
        })?;
        let bind = if target.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = UdpSocket::bind(bind)?;
        socket.connect(target)?;
        Ok(IpfixSink {
            socket,
            domain,
            refresh_ns: template_refresh_s.max(1) * 1_000_000_000,
            records: Vec::with_capacity(MAX_MESSAGE),
            set: None,
            records_in_message: 0,
            sequence: 0,
            last_templates_ns: None,
            now_ns: 0,
            stats: SinkStats::default(),
            error: None,
        })
    }

    /// Sends the message being filled (with the templates first when they are due).
    fn send(&mut self) {
        self.close_set();
        let templates_due = self
            .last_templates_ns
            .is_none_or(|t| self.now_ns.saturating_sub(t) >= self.refresh_ns);
        if self.records.is_empty() && !templates_due {
            return;
        }
        let mut msg = Vec::with_capacity(HEADER_LEN + MAX_MESSAGE + 256);
        msg.extend(10u16.to_be_bytes());
        msg.extend(0u16.to_be_bytes());
        msg.extend(((self.now_ns / 1_000_000_000) as u32).to_be_bytes());
        msg.extend(self.sequence.to_be_bytes());
        msg.extend(self.domain.to_be_bytes());
        if templates_due {
            msg.extend(template_set());
            self.last_templates_ns = Some(self.now_ns);
        }
        msg.extend_from_slice(&self.records);
        let len = msg.len() as u16;
        msg[2..4].copy_from_slice(&len.to_be_bytes());
        match self.socket.send(&msg) {
            Ok(_) => {
                self.sequence = self.sequence.wrapping_add(self.records_in_message);
                self.stats.bytes += msg.len() as u64;
            }
            Err(e) => {
                self.stats.write_errors += u64::from(self.records_in_message);
                self.error.get_or_insert(e);
            }
        }
        self.records.clear();
        self.records_in_message = 0;
    }

    fn close_set(&mut self) {
        if let Some((_, at)) = self.set.take() {
            let len = (self.records.len() - at) as u16;
            self.records[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
        }
    }

    /// Appends one data record of `template`, `len` bytes, written by `fill`.
    fn record(&mut self, template: u16, len: usize, fill: impl FnOnce(&mut Vec<u8>)) {
        if self.records.len() + len + 4 > MAX_MESSAGE {
            self.send();
        }
        if self.set.is_none_or(|(t, _)| t != template) {
            self.close_set();
            self.set = Some((template, self.records.len()));
            self.records.extend(template.to_be_bytes());
            self.records.extend(0u16.to_be_bytes());
        }
        fill(&mut self.records);
        self.records_in_message += 1;
    }

    fn add_flow(&mut self, r: &L4FlowLog) {
        let v6 = !r.peers.is_ipv4;
        let (template, addr_len) = if v6 {
            (TEMPLATE_V6, 32)
        } else {
            (TEMPLATE_V4, 8)
        };
        let len: usize = addr_len
            + FIELDS_AFTER_ADDRESSES
                .iter()
                .map(|f| f.1 as usize)
                .sum::<usize>();
        let l2_header = 14 + if r.vlan != 0 { 4 } else { 0 };
        let start_ms = r.start_time / 1_000;
        let end_ms = r.end_time / 1_000;
        let srt = mean(r.srt_sum, r.srt_count);
        let art = mean(r.art_sum, r.art_count);
        let p = r.peers;
        for (src, dst, sport, dport, packets, bytes, flags, retrans, zero_win) in [
            (
                p.ip_0,
                p.ip_1,
                p.client_port,
                p.server_port,
                r.packet_tx,
                r.byte_tx,
                r.tcp_flags_bit_0,
                r.retrans_tx,
                r.zero_win_tx,
            ),
            (
                p.ip_1,
                p.ip_0,
                p.server_port,
                p.client_port,
                r.packet_rx,
                r.byte_rx,
                r.tcp_flags_bit_1,
                r.retrans_rx,
                r.zero_win_rx,
            ),
        ] {
            if packets == 0 {
                continue;
            }
            self.record(template, len, |b| {
                for ip in [src, dst] {
                    match ip {
                        IpAddr::V4(a) => b.extend(a.octets()),
                        IpAddr::V6(a) => b.extend(a.octets()),
                    }
                }
                b.extend(sport.to_be_bytes());
                b.extend(dport.to_be_bytes());
                b.push(p.protocol);
                b.extend(packets.to_be_bytes());
                b.extend(bytes.saturating_sub(packets * l2_header).to_be_bytes());
                b.extend(bytes.to_be_bytes());
                b.extend(start_ms.to_be_bytes());
                b.extend(end_ms.to_be_bytes());
                b.extend(u16::from(flags).to_be_bytes());
                b.push(end_reason(r.close_type));
                b.extend(r.rtt.to_be_bytes());
                b.extend(srt.to_be_bytes());
                b.extend(art.to_be_bytes());
                b.extend(retrans.to_be_bytes());
                b.extend(zero_win.to_be_bytes());
                b.push(r.close_type);
                b.push(r.l7_protocol);
            });
        }
    }
}

impl Sink for IpfixSink {
    fn name(&self) -> &'static str {
        "ipfix"
    }

    fn write(&mut self, rec: RecordRef<'_>) {
        if let RecordRef::L4FlowLog(r) = rec {
            self.now_ns = self.now_ns.max(r.end_time * 1_000);
            self.add_flow(r);
            self.stats.count(rec.kind());
        }
    }

    fn tick(&mut self, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        self.send();
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.send();
        match self.error.take() {
            Some(source) => Err(SinkError::Io {
                sink: "ipfix",
                source,
            }),
            None => Ok(()),
        }
    }

    fn stats(&self) -> SinkStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_lengths_match_the_records() {
        let t = template_set();
        assert_eq!(u16::from_be_bytes([t[2], t[3]]) as usize, t.len());
        // Two templates of 19 fields each.
        assert_eq!(u16::from_be_bytes([t[6], t[7]]), 19);
        let data_len: usize = FIELDS_AFTER_ADDRESSES.iter().map(|f| f.1 as usize).sum();
        assert_eq!(data_len, 70);
    }
}
