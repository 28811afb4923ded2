//! DeepFlow's agent-to-ingester data path: the frame format ([`frame`]), tapflow's records as
//! DeepFlow's protobuf messages and back ([`to_pb`], [`from_pb`]), the agent's sender (a
//! [`crate::sink::Sink`]: [`IngesterSink`]) and the server's receiver ([`receiver`]).

pub mod forward_queue;
pub mod forwarded_rows;
pub mod frame;
pub mod from_pb;
pub mod pace;
pub mod receiver;
pub mod self_stats;
pub mod sender;
pub mod to_pb;

pub use frame::{FrameError, Header, MessageType, Origin, HEADER_LEN, MAX_FRAME};
pub use sender::{IngesterSink, Overflow, SenderConfig, SenderCounters, SenderHandle};
