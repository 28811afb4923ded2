//! TCP performance metrics, as DeepFlow defines them (`deepflow-facts.md` section 3).
//!
//! Everything here is indexed by *endpoint* (0 = the flow's first sender, 1 = the other), never
//! by client/server: which end is the server can change while a flow lives (a SYN-ACK arrives
//! late, a config port matches), so the assignment is made when a record is built. Metrics whose
//! meaning depends on the roles (SRT, ART, CIT) are kept for both possible assignments and the
//! record picks the one that matches.

mod flow_perf;
mod perf;
mod ranges;
mod seq;

pub use flow_perf::{perf_blocks_for, FlowPerf, PerfPools};
pub use perf::{PerfInterval, PerfVerdict, Stat, TcpPerf, ART_CAP_US, RTT_CAP_US, SRT_CAP_US};
pub use ranges::{range_blocks_for, RangePool, SeqOutcome, SeqRanges, INLINE_RANGES, MAX_RANGES};
pub use seq::SeqNumber;
