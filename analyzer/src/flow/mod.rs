//! Flows: the symmetric key, per-flow state, TCP connection states and close types, the
//! client/server decision, and the bounded table with its timer wheel.

mod close;
mod conn;
mod direction;
mod index;
mod key;
mod l7_link;
mod node;
mod service;
mod table;
mod timeouts;
mod timer;

pub use close::CloseType;
pub use conn::{ConnState, ResetPhase, TcpConn};
pub use direction::{
    Direction, SCORE_EPHEMERAL, SCORE_FIRST_PACKET, SCORE_L7, SCORE_SERVER_PORT, SCORE_SYN,
    SCORE_SYN_ACK, SCORE_WELL_KNOWN,
};
pub use key::{AddrTails, Endpoint, FlowKey, StoredKey};
pub use l7_link::L7Link;
pub use node::{
    carried_blocks_for, icmp_blocks_for, tunnel_blocks_for, Carried, Flow, FlowSide, FlowTunnel,
    IcmpEchoes, PeerCounters, ICMP_PENDING, TRACED_ID_BASE,
};
pub use service::ServiceTable;
pub(crate) use service::DEFAULT_CAPACITY as SERVICE_TABLE_CAPACITY;
pub use table::{FlowTable, InsertError};
pub use timeouts::{TableFullPolicy, Timeouts};
pub use timer::TimerWheel;
