//! Deterministic traffic generation (a seed fixes every byte).

mod conv;
mod encap;
mod l7;
mod l7_db;
mod l7_msg;
mod l7_openwire;
mod l7_pulsar;
mod l7_rocketmq;
mod l7_rpc;
mod pb;
mod rng;
mod scenario;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tapflow_dataplane::pcap::PcapWriter;

pub use conv::Duplicates;
pub use encap::Encap;
pub use rng::Rng;
pub use scenario::Scenario;

/// What tapflow must report for one generated flow (a subset of l4_flow_log, summed over rows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedFlow {
    pub scenario: String,
    pub client: String,
    pub server: String,
    pub protocol: u8,
    pub close_type: u8,
    pub packet_tx: u64,
    pub packet_rx: u64,
    pub byte_tx: u64,
    pub byte_rx: u64,
    pub l4_byte_tx: u64,
    pub l4_byte_rx: u64,
    pub syn_count: u32,
    pub synack_count: u32,
    pub retrans_tx: u32,
    pub retrans_rx: u32,
    pub ooo_tx: u32,
    pub ooo_rx: u32,
    pub zero_win_tx: u32,
    pub zero_win_rx: u32,
    /// Full handshake RTT, µs (0 = none).
    pub rtt: u32,
    pub tunnel_type: u8,
    pub vlan: u16,
    /// The flow's application protocol as DeepFlow names it ("" when none is parsed).
    #[serde(default)]
    pub l7_protocol: String,
    /// Requests and responses, errors among the responses, and the sum of request -> response
    /// times (µs).
    #[serde(default)]
    pub l7_request: u32,
    #[serde(default)]
    pub l7_response: u32,
    #[serde(default)]
    pub l7_client_error: u32,
    #[serde(default)]
    pub l7_server_error: u32,
    #[serde(default)]
    pub rrt_sum: u64,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenSpec {
    pub seed: u64,
    /// Scenarios to cycle through (one flow each, in order).
    pub scenarios: Vec<Scenario>,
    /// Number of flows (cycling through `scenarios`).
    pub flows: u64,
    pub encap: Encap,
    /// Time of the first packet, ns since the epoch.
    pub start_ns: u64,
    /// Time between flow starts, ns.
    pub spacing_ns: u64,
    /// Write every frame twice, as a SPAN of both ports of a path does.
    pub duplicates: Duplicates,
    /// Drop the server's packets: what a SPAN of one direction only sees.
    pub one_way: bool,
    /// Number of the first conversation (addresses and ports derive from it).
    pub first_flow: u64,
}

impl Default for GenSpec {
    fn default() -> Self {
        GenSpec {
            seed: 1,
            scenarios: Scenario::ALL.to_vec(),
            flows: Scenario::ALL.len() as u64,
            encap: Encap::None,
            start_ns: 1_700_000_000_000_000_000,
            spacing_ns: 2_000_000,
            duplicates: Duplicates::None,
            one_way: false,
            first_flow: 0,
        }
    }
}

/// Totals of a generation run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenSummary {
    pub packets: u64,
    pub flows: u64,
    pub bytes: u64,
}

/// Generates the capture into `pcap` and, when given, the expectations (JSON lines) into `expected`.
pub fn generate(
    spec: &GenSpec,
    pcap: impl Write,
    mut expected: Option<&mut dyn Write>,
) -> std::io::Result<GenSummary> {
    let mut w = PcapWriter::new(pcap)?;
    let mut rng = Rng::new(spec.seed);
    let mut pending: BinaryHeap<Reverse<(u64, u64, Vec<u8>)>> = BinaryHeap::new();
    let mut order = 0u64;
    let mut summary = GenSummary::default();
    let mut frames = Vec::new();
    if spec.scenarios.is_empty() {
        return Err(std::io::Error::other("no scenarios selected"));
    }
    for i in 0..spec.flows {
        let start = spec.start_ns + i * spec.spacing_ns;
        // Everything queued before this flow's start can be written: later packets are later.
        while pending.peek().is_some_and(|Reverse((t, _, _))| *t < start) {
            if let Some(Reverse((t, _, f))) = pending.pop() {
                summary.bytes += f.len() as u64;
                w.write(t, &f)?;
            }
        }
        let scenario = spec.scenarios[(i % spec.scenarios.len() as u64) as usize];
        frames.clear();
        let traffic = conv::Traffic {
            enc: spec.encap,
            dup: spec.duplicates,
            one_way: spec.one_way,
        };
        let flows = scenario::run(
            scenario,
            spec.first_flow + i,
            start,
            traffic,
            &mut rng,
            &mut frames,
        );
        for (t, f) in frames.drain(..) {
            summary.packets += 1;
            pending.push(Reverse((t, order, f)));
            order += 1;
        }
        for e in flows {
            summary.flows += 1;
            if let Some(out) = expected.as_deref_mut() {
                serde_json::to_writer(&mut *out, &e)?;
                out.write_all(b"\n")?;
            }
        }
    }
    while let Some(Reverse((t, _, f))) = pending.pop() {
        summary.bytes += f.len() as u64;
        w.write(t, &f)?;
    }
    w.finish()?;
    Ok(summary)
}

/// Writes `NAME.pcap` and `NAME.expected.jsonl` into `dir`.
pub fn generate_files(spec: &GenSpec, dir: &Path, name: &str) -> std::io::Result<GenSummary> {
    std::fs::create_dir_all(dir)?;
    let pcap = std::io::BufWriter::new(std::fs::File::create(dir.join(format!("{name}.pcap")))?);
    let mut exp = std::io::BufWriter::new(std::fs::File::create(
        dir.join(format!("{name}.expected.jsonl")),
    )?);
    let s = generate(spec, pcap, Some(&mut exp))?;
    exp.flush()?;
    Ok(s)
}
