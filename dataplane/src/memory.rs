//! One memory budget (`global.limits.max_memory`) over everything a live run reserves in
//! proportion to its load: every analyzer's flow, L7 and de-dup tables (the configured limits
//! are the whole process's, split over the analyzers), the capture buffers (AF_PACKET rings,
//! AF_XDP UMEMs, the DPDK mempool), the pipeline's packet lanes, the record rings to the output
//! thread, and what the outputs hold (metric key tables, sender queues: given by the caller).
//! A run whose parts do not fit is refused before anything is opened, with each part's share.

use tapflow_analyzer::RecordBatch;

use crate::output::BATCH;
use crate::pipeline::{LANE_BATCHES, LANE_BATCH_MEMORY};
use crate::runtime::{Engine, LiveConfig, WorkerMode};

const MIB: u64 = 1 << 20;
/// An mbuf with its 2,176-byte data room and header.
const MBUF_BYTES: u64 = 2_304;
/// Record rings get at most this part of the budget (batches per worker between 8 and 1,024).
const RECORD_RING_PART: u64 = 16;

/// One part of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub part: String,
    pub bytes: u64,
}

/// The parts of a run and the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryPlan {
    pub budget: u64,
    pub shares: Vec<Share>,
    /// Analyzing workers (each with its part of the tables).
    pub analyzers: usize,
    /// Record batches each worker's ring to the output thread holds.
    pub ring_batches: usize,
}

impl MemoryPlan {
    pub fn total(&self) -> u64 {
        self.shares.iter().map(|s| s.bytes).sum()
    }

    pub fn fits(&self) -> bool {
        self.total() <= self.budget
    }

    /// The parts as a table (MiB), with the total and the budget.
    pub fn table(&self) -> String {
        let mut s = String::new();
        for sh in &self.shares {
            s.push_str(&format!(
                "  {:<58} {:>8.1} MiB\n",
                sh.part,
                sh.bytes as f64 / MIB as f64
            ));
        }
        s.push_str(&format!(
            "  {:<58} {:>8.1} MiB of global.limits.max_memory {} MiB",
            "total",
            self.total() as f64 / MIB as f64,
            self.budget / MIB
        ));
        s
    }
}

/// Capture sockets (interfaces x queues).
fn sockets(cfg: &LiveConfig) -> u64 {
    (cfg.ifaces.len().max(1) * usize::from(cfg.queues.max(1))) as u64
}

/// The run's plan; `outputs` are the output stage's parts (metric keys, sender queues).
pub fn plan(cfg: &LiveConfig, outputs: &[Share]) -> MemoryPlan {
    let budget = cfg.max_memory_mib * MIB;
    let captures = match &cfg.engine {
        // DPDK: one worker per rx queue of each port.
        Engine::Dpdk(d) => d.ports.len().max(1) * usize::from(cfg.queues.max(1)),
        _ => sockets(cfg) as usize,
    };
    let analyzers = match cfg.mode {
        WorkerMode::RunToCompletion => captures,
        WorkerMode::Pipeline { analyzers } => analyzers.max(1),
    };
    let workers = match cfg.mode {
        WorkerMode::RunToCompletion => captures,
        WorkerMode::Pipeline { analyzers } => captures + analyzers.max(1),
    };
    let mut shares = Vec::new();
    let per = cfg.analyzer.per_worker(analyzers);
    shares.push(Share {
        part: format!(
            "flow, L7 and de-dup tables ({analyzers} x {} flows)",
            per.flow_capacity
        ),
        bytes: per.memory_bytes() * analyzers as u64,
    });
    match &cfg.engine {
        Engine::AfPacket(ring) => shares.push(af_packet_share(cfg, ring)),
        Engine::AfXdp(x) => shares.push(af_xdp_share(cfg, &x.xsk)),
        Engine::Auto { xdp, ring } => {
            let (a, b) = (af_xdp_share(cfg, &xdp.xsk), af_packet_share(cfg, ring));
            shares.push(if a.bytes >= b.bytes { a } else { b });
        }
        Engine::Dpdk(d) => shares.push(Share {
            part: format!("DPDK mempool ({} mbufs)", d.mempool_mbufs),
            bytes: u64::from(d.mempool_mbufs) * MBUF_BYTES,
        }),
    }
    if let WorkerMode::Pipeline { analyzers } = cfg.mode {
        let lanes = (captures * analyzers.max(1)) as u64;
        shares.push(Share {
            part: format!("pipeline packet lanes ({lanes})"),
            bytes: lanes * (LANE_BATCHES as u64 + 1) * LANE_BATCH_MEMORY as u64,
        });
    }
    let batch = RecordBatch::flow_logs_bytes(BATCH);
    let ring_batches = ((budget / RECORD_RING_PART / workers.max(1) as u64) / batch.max(1))
        .clamp(8, 1024) as usize;
    shares.push(Share {
        part: format!("record rings ({workers} x {ring_batches} batches)"),
        // The ring, the batches coming back, the one being filled.
        bytes: workers as u64 * (2 * ring_batches as u64 + 2) * batch,
    });
    shares.extend(outputs.iter().cloned());
    MemoryPlan {
        budget,
        shares,
        analyzers,
        ring_batches,
    }
}

fn af_packet_share(cfg: &LiveConfig, ring: &crate::sys::af_packet::RingConfig) -> Share {
    // Each socket's ring and the scratch its VLAN-tagged frames are rebuilt in.
    let ring_bytes = u64::from(ring.block_size) * u64::from(ring.block_count);
    let scratch = crate::af_packet::scratch_bytes(ring) as u64;
    Share {
        part: format!(
            "AF_PACKET rings ({} x {} MiB, {} KiB scratch each)",
            sockets(cfg),
            ring_bytes / MIB,
            scratch.div_ceil(1024)
        ),
        bytes: sockets(cfg) * (ring_bytes + scratch),
    }
}

fn af_xdp_share(cfg: &LiveConfig, xsk: &crate::sys::xsk::XskConfig) -> Share {
    let bytes = crate::runtime::umem_bytes(cfg, xsk);
    Share {
        part: format!("AF_XDP UMEMs ({} sockets)", sockets(cfg)),
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::XdpSettings;
    use tapflow_analyzer::AnalyzerConfig;

    fn cfg(queues: u16, engine: Engine, max_memory_mib: u64) -> LiveConfig {
        LiveConfig {
            mode: WorkerMode::RunToCompletion,
            ifaces: vec!["eth0".into()],
            queues,
            cores: Vec::new(),
            engine,
            analyzer: AnalyzerConfig {
                flow_capacity: 1_000_000,
                ..AnalyzerConfig::default()
            },
            max_memory_mib,
            duration: None,
            epoch: None,
            output_shares: Vec::new(),
            trace: None,
            capture_rate: Default::default(),
        }
    }

    #[test]
    fn tables_are_split_over_workers_and_everything_counts() {
        let one = plan(&cfg(1, Engine::AfPacket(Default::default()), 4096), &[]);
        let two = plan(&cfg(2, Engine::AfPacket(Default::default()), 4096), &[]);
        // The flow tables cost the same whatever the number of workers.
        let t1 = one.shares[0].bytes;
        let t2 = two.shares[0].bytes;
        assert!(t2 >= t1 && t2 < t1 + t1 / 50, "{t1} vs {t2}");
        assert!(two.shares[0].part.contains("2 x 500000 flows"));
        // Rings: 64 MiB per socket, and a block's worth of scratch for VLAN-tagged frames.
        let scratch = crate::af_packet::scratch_bytes(&Default::default()) as u64;
        assert_eq!(scratch, MIB + 256);
        assert_eq!(two.shares[1].bytes, 2 * (64 * MIB + scratch));
        assert!(two.fits(), "{}", two.table());
        let xdp = plan(&cfg(2, Engine::AfXdp(XdpSettings::default()), 4096), &[]);
        assert!(xdp.shares[1].part.starts_with("AF_XDP"));
        // Too small a budget is said, with the parts.
        let small = plan(
            &cfg(2, Engine::AfPacket(Default::default()), 512),
            &[Share {
                part: "sender queue".into(),
                bytes: 20 * MIB,
            }],
        );
        assert!(!small.fits());
        let t = small.table();
        assert!(
            t.contains("AF_PACKET rings (2 x 64 MiB, 1025 KiB scratch each)")
                && t.contains("sender queue"),
            "{t}"
        );
        assert!(t.contains("of global.limits.max_memory 512 MiB"), "{t}");
    }
}
