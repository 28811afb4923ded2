//! The TLS handshake of one flow: the ClientHello is the request, the ServerHello its response;
//! their time difference is the flow's `tls_rtt`. The encrypted stream after them is not parsed.
//!
//! Row fields: request_type `ClientHello`, request_domain = request_resource = SNI, endpoint =
//! the ALPN protocol (offered first, then the one selected), version = the negotiated version
//! (`TLSv1.3`, ...), response_result = the chosen cipher suite (`0x1301`). A hello that does not
//! decode is a parse failure row.

use std::fmt::Write;

use super::super::exchange::{Exchange, Pairing};
use super::super::parser::{Descriptor, L7Parser, Segment, SessionWindow, Transport};
use super::super::{Probe, ResponseStatus};
use super::wire::{parse_hello, probe, HelloKind, TlsError};

/// TLS state of one flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsSession {
    /// The hello of each direction was seen (or given up).
    done: [bool; 2],
}

impl L7Parser for TlsSession {
    const DESC: Descriptor = Descriptor {
        default_ports: &[443, 6443],
        window: SessionWindow::Short,
        tls: true,
        ..Descriptor::tcp(121, "TLS")
    };
    type Config = ();

    fn probe(payload: &[u8], _: Transport) -> Probe {
        probe(payload)
    }

    fn sent_by_client(payload: &[u8], _: Transport) -> Option<bool> {
        payload.get(5).map(|t| *t == 1)
    }

    fn on_data(&mut self, _: &(), seg: Segment<'_>, x: &mut Exchange<'_>) -> usize {
        let (n, rtt) = self.on_stream(seg.data, seg.from_client, seg.hold, x);
        if let Some(r) = rtt {
            x.set_tls_rtt(r);
        }
        n
    }

    /// Only the hellos are parsed; a gap after them changes nothing, and a hello cut by a gap
    /// fails to decode and is counted.
    fn on_gap(&mut self, _: usize, _: &mut Exchange<'_>) {}
}

/// The name of a protocol version.
pub fn version_name(v: u16) -> &'static str {
    match v {
        0x0300 => "SSLv3",
        0x0301 => "TLSv1",
        0x0302 => "TLSv1.1",
        0x0303 => "TLSv1.2",
        0x0304 => "TLSv1.3",
        _ => "unknown",
    }
}

impl TlsSession {
    /// Parses the hello at the start of this direction; returns the bytes consumed (0: the hello
    /// is incomplete, offer it again with more bytes while `hold` allows).
    fn on_stream(
        &mut self,
        data: &[u8],
        from_client: bool,
        hold: usize,
        x: &mut Exchange<'_>,
    ) -> (usize, Option<u32>) {
        let d = usize::from(!from_client);
        if self.done[d] {
            return (data.len(), None);
        }
        let hello = match parse_hello(data) {
            Ok(h) => h,
            Err(TlsError::Truncated) if data.len() < hold => return (0, None),
            Err(_) => {
                x.parse_error();
                self.done[d] = true;
                return (data.len(), None);
            }
        };
        self.done[d] = true;
        let captured = data.len().min(hold) as u32;
        let mut tls_rtt = None;
        match hello.kind {
            HelloKind::Client if from_client => {
                x.request(None, captured, |row| {
                    row.request_type.push_lossy(b"ClientHello");
                    if let Some(sni) = &hello.sni {
                        row.request_domain.push_lossy(sni.as_bytes());
                        row.request_resource.push_lossy(sni.as_bytes());
                    }
                    if let Some(alpn) = &hello.alpn {
                        row.endpoint.push_lossy(alpn.as_bytes());
                    }
                    row.version
                        .push_lossy(version_name(hello.version()).as_bytes());
                });
            }
            HelloKind::Server if !from_client => {
                let start = x.now_ns();
                let mut rtt = 0;
                x.response(Pairing::Oldest, captured, |row| {
                    row.version.clear();
                    row.version
                        .push_lossy(version_name(hello.version()).as_bytes());
                    if let Some(alpn) = &hello.alpn {
                        row.endpoint.clear();
                        row.endpoint.push_lossy(alpn.as_bytes());
                    }
                    if let Some(cs) = hello.cipher_suite {
                        let _ = write!(row.response_result, "0x{cs:04x}");
                    }
                    row.response_status = ResponseStatus::Ok.code();
                    rtt = (start / 1_000).saturating_sub(row.start_time);
                    if row.row_type != crate::record::l7::TYPE_SESSION {
                        rtt = 0;
                    }
                });
                if rtt > 0 {
                    tls_rtt = Some(u32::try_from(rtt).unwrap_or(u32::MAX));
                }
            }
            // A ClientHello from the server side (or the reverse): not a handshake we follow.
            _ => x.parse_error(),
        }
        (data.len(), tls_rtt)
    }
}
