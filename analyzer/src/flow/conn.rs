//! TCP connection state as seen from a mirror, and the close type each final state means.
//!
//! An explicit state machine replaces DeepFlow's two flag-indexed tables; the close types and
//! timeouts it yields are DeepFlow's (`deepflow-facts.md` sections 2.2 and 2.3). Sides are
//! endpoint indexes (0 = first sender); the client is the SYN sender, or the SYN-ACK receiver.

use super::close::CloseType;
use super::Timeouts;
use crate::wire::{TcpFlags, TcpHeader};

/// When an RST arrived, relative to the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetPhase {
    /// Only SYN(s) seen.
    AfterSyn,
    /// SYN-ACK seen, handshake ACK not.
    Handshake,
    /// The SYN was answered by a plain ACK.
    PortReuse,
    /// Connection up, no payload seen yet (health-check pattern when the client resets).
    NoData,
    /// Connection up and carrying data.
    Established,
}

/// Connection state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConnState {
    #[default]
    New,
    /// DeepFlow Opening1: SYN(s) from the client, nothing back.
    SynSent,
    /// DeepFlow Opening2: SYN-ACK sent, handshake ACK not seen.
    SynAckSeen,
    /// DeepFlow Syn1: the SYN was answered by a plain ACK.
    SynAnsweredByAck,
    Established,
    /// DeepFlow SynAck1: the server repeats its SYN-ACK after the client's ACK and has sent no
    /// data: it never accepted the connection (accept queue full).
    QueueLack,
    /// One side sent FIN.
    HalfClosed {
        fin_by: u8,
    },
    /// Both sides sent FIN; waiting for the last ACK.
    BothFin {
        last_fin_by: u8,
    },
    /// FIN handshake completed.
    Closed,
    Reset {
        by: u8,
        phase: ResetPhase,
    },
    /// Started with an invalid flag combination.
    Exception,
}

/// TCP connection tracking of one flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConn {
    pub state: ConnState,
    /// Initial sequence number of each side's first SYN / SYN-ACK (valid where [`ISN_SEEN`]'s
    /// bit for that side is set in `seen`).
    isn: [u32; 2],
    /// Per side (bit << side): [`ISN_SEEN`], [`PAYLOAD_SEEN`]; and [`CLIENT_KNOWN`] with the
    /// client's side in [`CLIENT_IS_1`].
    seen: u8,
}

/// Bit 0/1 of `TcpConn::seen`: the side's initial sequence number is known.
const ISN_SEEN: u8 = 1;
/// Bit 2/3 of `TcpConn::seen`: the side has sent payload.
const PAYLOAD_SEEN: u8 = 4;
/// Bit 4 of `TcpConn::seen`: the handshake showed the client (the SYN sender, or the SYN-ACK
/// receiver).
const CLIENT_KNOWN: u8 = 16;
/// Bit 5 of `TcpConn::seen`: that client is side 1.
const CLIENT_IS_1: u8 = 32;

fn invalid_flags(f: u8) -> bool {
    let syn = f & TcpFlags::SYN != 0;
    (syn && f & (TcpFlags::FIN | TcpFlags::RST) != 0) || f == 0
}

impl TcpConn {
    /// Initial sequence number of `side`'s first SYN / SYN-ACK.
    pub fn isn(&self, side: usize) -> Option<u32> {
        (self.seen & (ISN_SEEN << (side & 1)) != 0).then_some(self.isn[side & 1])
    }

    /// The client's side, once the handshake showed it (the SYN sender, or the SYN-ACK
    /// receiver).
    pub fn client(&self) -> Option<u8> {
        (self.seen & CLIENT_KNOWN != 0).then_some(u8::from(self.seen & CLIENT_IS_1 != 0))
    }

    fn set_client(&mut self, side: u8) {
        self.seen =
            (self.seen & !CLIENT_IS_1) | CLIENT_KNOWN | if side & 1 == 1 { CLIENT_IS_1 } else { 0 };
    }

    /// Whether `side` has sent payload.
    pub fn payload_seen(&self, side: usize) -> bool {
        self.seen & (PAYLOAD_SEEN << (side & 1)) != 0
    }

    /// Applies one packet from endpoint `side`.
    pub fn on_packet(&mut self, side: u8, tcp: &TcpHeader) {
        let f = tcp.flags.masked();
        let other = side ^ 1;
        if invalid_flags(f) {
            if self.state == ConnState::New {
                self.state = ConnState::Exception;
            }
            return;
        }
        let syn = f & TcpFlags::SYN != 0;
        let ack = f & TcpFlags::ACK != 0;
        let fin = f & TcpFlags::FIN != 0;
        let has_payload = tcp.payload_len > 0;
        let any_payload = self.payload_seen(0) || self.payload_seen(1) || has_payload;
        if f & TcpFlags::RST != 0 {
            let phase = match self.state {
                ConnState::SynSent => ResetPhase::AfterSyn,
                ConnState::SynAckSeen => ResetPhase::Handshake,
                ConnState::SynAnsweredByAck => ResetPhase::PortReuse,
                // The server drops the connection it never accepted: still queue lack.
                ConnState::QueueLack if self.client() == Some(other) => return,
                ConnState::Reset { .. } | ConnState::Exception => return,
                // "No data" (the health-check pattern) needs a handshake that was seen.
                _ if any_payload || self.client().is_none() => ResetPhase::Established,
                _ => ResetPhase::NoData,
            };
            self.state = ConnState::Reset { by: side, phase };
            return;
        }
        if syn {
            let idx = usize::from(side);
            if self.isn(idx).is_none() {
                self.isn[idx] = tcp.seq;
                self.seen |= ISN_SEEN << idx;
            }
            if !ack {
                if self.state == ConnState::New {
                    self.state = ConnState::SynSent;
                    self.set_client(side);
                }
            } else {
                match self.state {
                    ConnState::New | ConnState::SynSent => {
                        self.state = ConnState::SynAckSeen;
                        self.set_client(other);
                    }
                    ConnState::Established
                        if self.client() == Some(other)
                            && !self.payload_seen(usize::from(side)) =>
                    {
                        self.state = ConnState::QueueLack;
                    }
                    _ => {}
                }
            }
            return;
        }
        if has_payload {
            self.seen |= PAYLOAD_SEEN << side;
        }
        if fin {
            self.state = match self.state {
                ConnState::HalfClosed { fin_by } if fin_by != side => {
                    ConnState::BothFin { last_fin_by: side }
                }
                s @ (ConnState::HalfClosed { .. }
                | ConnState::BothFin { .. }
                | ConnState::Closed
                | ConnState::Exception) => s,
                _ => ConnState::HalfClosed { fin_by: side },
            };
            return;
        }
        self.state = match self.state {
            ConnState::New => ConnState::Established,
            ConnState::SynSent if self.client() == Some(other) && !has_payload => {
                ConnState::SynAnsweredByAck
            }
            ConnState::SynSent => ConnState::Established,
            ConnState::SynAckSeen if self.client() == Some(side) => ConnState::Established,
            ConnState::SynAnsweredByAck if self.client() == Some(side) => ConnState::Established,
            ConnState::QueueLack if has_payload && self.client() == Some(other) => {
                ConnState::Established
            }
            ConnState::BothFin { last_fin_by } if last_fin_by != side => ConnState::Closed,
            s => s,
        };
    }

    /// True when a SYN from `side` starts a new connection on this 5-tuple: the old one is
    /// over (closed, closing or reset) and the initial sequence number differs.
    pub fn is_new_connection(&self, side: u8, tcp: &TcpHeader) -> bool {
        if !tcp.flags.is_syn() {
            return false;
        }
        let over = matches!(
            self.state,
            ConnState::Closed
                | ConnState::BothFin { .. }
                | ConnState::Reset { .. }
                | ConnState::HalfClosed { .. }
        );
        over && self.isn(usize::from(side)) != Some(tcp.seq)
    }

    /// How long the flow may stay idle in its current state.
    pub fn timeout_ns(&self, t: &Timeouts) -> u64 {
        match self.state {
            ConnState::Established | ConnState::QueueLack => t.established_ns,
            ConnState::Closed => t.closed_fin_ns,
            ConnState::Reset {
                phase: ResetPhase::Established,
                ..
            } => t.closing_rst_ns,
            ConnState::Reset { .. } => t.opening_rst_ns,
            _ => t.others_ns,
        }
    }

    /// The close type for a flow that ends in this state; `client` is the client endpoint.
    pub fn close_type(&self, client: u8) -> CloseType {
        let client = self.client().unwrap_or(client);
        match self.state {
            ConnState::New | ConnState::Exception => CloseType::Unknown,
            ConnState::SynSent => CloseType::ClientSynRepeat,
            ConnState::SynAckSeen => CloseType::ServerSynAckRepeat,
            ConnState::SynAnsweredByAck => CloseType::ClientSourcePortReuse,
            ConnState::Established => CloseType::Timeout,
            ConnState::QueueLack => CloseType::ServerQueueLack,
            ConnState::HalfClosed { fin_by } if fin_by == client => CloseType::ServerHalfClose,
            ConnState::HalfClosed { .. } => CloseType::ClientHalfClose,
            ConnState::BothFin { .. } | ConnState::Closed => CloseType::Finish,
            ConnState::Reset { by, phase } => {
                let by_client = by == client;
                match (phase, by_client) {
                    (ResetPhase::AfterSyn, false) => CloseType::ServerReset,
                    (ResetPhase::AfterSyn, true) => CloseType::ClientEstablishReset,
                    (ResetPhase::Handshake, false) => CloseType::ServerEstablishReset,
                    (ResetPhase::Handshake, true) => CloseType::TcpFinClientRst,
                    (ResetPhase::PortReuse, true) => CloseType::ClientSourcePortReuse,
                    (ResetPhase::PortReuse, false) => CloseType::ServerReset,
                    (ResetPhase::NoData, true) => CloseType::TcpFinClientRst,
                    (ResetPhase::NoData | ResetPhase::Established, false) => {
                        CloseType::TcpServerRst
                    }
                    (ResetPhase::Established, true) => CloseType::TcpClientRst,
                }
            }
        }
    }
}
