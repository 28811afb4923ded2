//! DeepFlow's close types (`CloseType` in `agent/src/common/flow.rs`), same numbers.

use serde::Serialize;

/// Why a flow record was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[repr(u8)]
pub enum CloseType {
    /// Exception state (invalid flag combinations from the start).
    Unknown = 0,
    /// FIN handshake completed; UDP and other protocols timed out.
    Finish = 1,
    /// Established connection reset by the server.
    TcpServerRst = 2,
    /// Established connection idle past its timeout.
    Timeout = 3,
    /// Periodic report of a live flow (once per minute in flow logs).
    ForcedReport = 5,
    /// Client SYN(s) never answered.
    ClientSynRepeat = 7,
    /// The client closed its half; the server never closed.
    ServerHalfClose = 8,
    /// Established connection reset by the client.
    TcpClientRst = 9,
    /// SYN-ACK never acknowledged by the client.
    ServerSynAckRepeat = 10,
    /// The server closed its half; the client never closed.
    ClientHalfClose = 11,
    /// SYN answered by a plain ACK (the server still holds an old connection on this port).
    ClientSourcePortReuse = 13,
    /// SYN answered by RST.
    ServerReset = 15,
    /// SYN-ACK repeated after the client's ACK (accept queue full).
    ServerQueueLack = 17,
    /// Client RST during the handshake.
    ClientEstablishReset = 18,
    /// Server RST during the handshake.
    ServerEstablishReset = 19,
    /// Handshake then client RST with no data (health check), or client RST after a response.
    TcpFinClientRst = 20,
}

impl CloseType {
    /// Every close type.
    pub const ALL: [CloseType; 16] = [
        CloseType::Unknown,
        CloseType::Finish,
        CloseType::TcpServerRst,
        CloseType::Timeout,
        CloseType::ForcedReport,
        CloseType::ClientSynRepeat,
        CloseType::ServerHalfClose,
        CloseType::TcpClientRst,
        CloseType::ServerSynAckRepeat,
        CloseType::ClientHalfClose,
        CloseType::ClientSourcePortReuse,
        CloseType::ServerReset,
        CloseType::ServerQueueLack,
        CloseType::ClientEstablishReset,
        CloseType::ServerEstablishReset,
        CloseType::TcpFinClientRst,
    ];

    /// The close type with DeepFlow's number `n`.
    pub fn from_u8(n: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| *c as u8 == n)
    }

    /// snake_case name for records and docs.
    pub const fn name(self) -> &'static str {
        match self {
            CloseType::Unknown => "unknown",
            CloseType::Finish => "finish",
            CloseType::TcpServerRst => "tcp_server_rst",
            CloseType::Timeout => "timeout",
            CloseType::ForcedReport => "forced_report",
            CloseType::ClientSynRepeat => "client_syn_repeat",
            CloseType::ServerHalfClose => "server_half_close",
            CloseType::TcpClientRst => "tcp_client_rst",
            CloseType::ServerSynAckRepeat => "server_syn_ack_repeat",
            CloseType::ClientHalfClose => "client_half_close",
            CloseType::ClientSourcePortReuse => "client_source_port_reuse",
            CloseType::ServerReset => "server_reset",
            CloseType::ServerQueueLack => "server_queue_lack",
            CloseType::ClientEstablishReset => "client_establish_reset",
            CloseType::ServerEstablishReset => "server_establish_reset",
            CloseType::TcpFinClientRst => "tcp_fin_client_rst",
        }
    }

    /// DeepFlow's `status` tag: which side is to blame, if any.
    pub const fn status(self) -> &'static str {
        match self {
            CloseType::Unknown
            | CloseType::Finish
            | CloseType::ForcedReport
            | CloseType::TcpFinClientRst => "normal",
            CloseType::TcpClientRst
            | CloseType::ServerSynAckRepeat
            | CloseType::ClientHalfClose
            | CloseType::ClientSourcePortReuse
            | CloseType::ClientEstablishReset => "client_error",
            CloseType::TcpServerRst
            | CloseType::Timeout
            | CloseType::ClientSynRepeat
            | CloseType::ServerHalfClose
            | CloseType::ServerReset
            | CloseType::ServerQueueLack
            | CloseType::ServerEstablishReset => "server_error",
        }
    }
}
