//! `tapflow bench`: tapflow against its peers on the standard inputs, in one run.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tapflow_bench::harness::{table, Harness, Input};

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Inputs (comma-separated): mix, small, synflood, mix_erspan3, mix_vxlan.
    #[arg(
        long,
        default_value = "mix,small,synflood,mix_erspan3,mix_vxlan",
        value_delimiter = ','
    )]
    inputs: Vec<String>,
    /// Rounds (tools alternate within each round).
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Tiny inputs and one round: checks that the harness works (CI).
    #[arg(long)]
    smoke: bool,
    /// Core every tool is pinned to.
    #[arg(long, default_value_t = 0)]
    core: usize,
    /// Working directory for inputs and outputs.
    #[arg(long, default_value = "target/bench")]
    work: PathBuf,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Only these tools (comma-separated: tapflow, tapflow-null (the rows to /dev/null instead
    /// of files), tapflow-2w (`analyze --workers 2` on two cores), tapflow-pgo and
    /// tapflow-pgo-null (with --pgo), ndpiReader, tshark, nfstream, suricata, tcpdump); default
    /// every installed one.
    #[arg(long, value_delimiter = ',')]
    tools: Vec<String>,
    /// Skip the memory-per-flow run (1 M concurrent flows).
    #[arg(long)]
    no_memory: bool,
    /// A profile-guided build of tapflow (`scripts/build-pgo.sh` writes
    /// target/pgo/release/tapflow), run in the same rounds as `tapflow-pgo` (rows to files)
    /// and `tapflow-pgo-null` (rows to /dev/null).
    #[arg(long)]
    pgo: Option<PathBuf>,
    /// Count each tool's user-space instructions too, one more run of each under valgrind's
    /// callgrind (tapflow, ndpiReader, tcpdump): a ratio to the floor that a noisy machine's
    /// timings do not move.
    #[arg(long)]
    instructions: bool,
}

pub(crate) fn run(a: BenchArgs) -> anyhow::Result<()> {
    let inputs = a
        .inputs
        .iter()
        .map(|s| Input::from_name(s.trim()).with_context(|| format!("unknown input '{s}'")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let h = Harness {
        work: a.work.clone(),
        tapflow: tapflow_bench::harness::installed_copy(
            &std::env::current_exe().context("cannot find the tapflow executable")?,
            &a.work,
            "tapflow",
        )
        .context("cannot copy the tapflow executable into the work directory")?,
        pgo: a
            .pgo
            .as_deref()
            .map(|p| tapflow_bench::harness::installed_copy(p, &a.work, "tapflow-pgo"))
            .transpose()
            .context("cannot copy the --pgo build into the work directory")?,
        inputs,
        rounds: if a.smoke { 1 } else { a.rounds },
        smoke: a.smoke,
        core: a.core,
        only: a.tools.clone(),
        instructions: a.instructions,
    };
    // Each tool run of tapflow decides the same (the environment is inherited).
    eprintln!("bench: tapflow with {}", crate::huge_pages_note());
    if tapflow_bench::harness::reserved_pages_on() {
        eprintln!(
            "bench: tapflow's RSS column leaves out its reserved huge pages (counted in \
             /proc/PID/status HugetlbPages, not in peak RSS); memory per flow is measured with \
             TAPFLOW_HUGE_PAGES=auto"
        );
    }
    let results = h
        .run(|note| eprintln!("bench: {note}"))
        .context("benchmark failed")?;
    print!("{}", table(&results));
    if a.no_memory {
        if let Some(path) = &a.json {
            let doc = serde_json::json!({ "results": results, "rounds": h.rounds, "core": h.core });
            std::fs::write(path, serde_json::to_vec_pretty(&doc)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        return Ok(());
    }
    let memory = h.memory_per_flow().context("memory-per-flow run failed")?;
    println!(
        "\nmemory per active flow: {:.0} bytes ({} flows, peak RSS {:.1} MiB, baseline {:.1} MiB)",
        memory.bytes_per_flow,
        memory.flows,
        memory.peak_rss_kib as f64 / 1024.0,
        memory.baseline_rss_kib as f64 / 1024.0
    );
    if let Some(path) = &a.json {
        let doc = serde_json::json!({ "results": results, "memory_per_flow": memory, "rounds": h.rounds, "core": h.core });
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
