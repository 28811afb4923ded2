//! `tapflow gen`: synthetic captures with known answers.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tapflow_bench::gen::{generate_files, Duplicates, Encap, GenSpec, Scenario};

#[derive(Debug, Args)]
pub(crate) struct GenArgs {
    /// Output directory for NAME.pcap and NAME.expected.jsonl.
    #[arg(long, short, default_value = "tapflow-gen")]
    out: PathBuf,
    /// Base file name (with --encap all, the encapsulation name is appended).
    #[arg(long, default_value = "traffic")]
    name: String,
    /// Random seed: the same seed writes the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of conversations (cycling through the scenarios).
    #[arg(long, default_value_t = 12)]
    flows: u64,
    /// Comma-separated scenarios, or "all": http, syn_retry, server_reset, retransmission,
    /// out_of_order, zero_window, half_close, port_reuse, client_reset, health_check, udp, bulk.
    #[arg(long, default_value = "all")]
    scenarios: String,
    /// Encapsulation, or "all" for one capture per kind: none, vlan, qinq, vxlan, geneve, gre,
    /// teb, erspan2, erspan3, ipip, ipv6, vxlan6.
    #[arg(long, default_value = "none")]
    encap: String,
    /// Mirror duplicates: none, identical (SPAN of both ports of a switch) or routed (TTL one
    /// lower and other MACs: copies from both sides of a router).
    #[arg(long, default_value = "none")]
    duplicates: String,
    /// Number of the first conversation: captures with different values use different
    /// addresses and ports.
    #[arg(long, default_value_t = 0)]
    first_flow: u64,
    /// Keep only the client's packets (a SPAN that sees one direction).
    #[arg(long)]
    one_way: bool,
    /// Milliseconds between conversation starts.
    #[arg(long, default_value_t = 2.0)]
    spacing_ms: f64,
}

pub(crate) fn run(a: GenArgs) -> anyhow::Result<()> {
    let scenarios = if a.scenarios == "all" {
        Scenario::ALL.to_vec()
    } else {
        a.scenarios
            .split(',')
            .map(|s| {
                Scenario::from_name(s.trim()).with_context(|| format!("unknown scenario '{s}'"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let encaps = if a.encap == "all" {
        Encap::ALL.to_vec()
    } else {
        vec![Encap::from_name(&a.encap)
            .with_context(|| format!("unknown encapsulation '{}'", a.encap))?]
    };
    let duplicates = match a.duplicates.as_str() {
        "none" => Duplicates::None,
        "identical" => Duplicates::Identical,
        "routed" => Duplicates::Routed,
        other => anyhow::bail!("unknown --duplicates '{other}': none, identical or routed"),
    };
    for enc in encaps {
        let name = if encaps_len(&a.encap) {
            format!("{}_{}", a.name, enc.name())
        } else {
            a.name.clone()
        };
        let spec = GenSpec {
            seed: a.seed,
            scenarios: scenarios.clone(),
            flows: a.flows,
            encap: enc,
            spacing_ns: (a.spacing_ms * 1e6) as u64,
            duplicates,
            one_way: a.one_way,
            first_flow: a.first_flow,
            ..GenSpec::default()
        };
        let s = generate_files(&spec, &a.out, &name)
            .with_context(|| format!("cannot write into {}", a.out.display()))?;
        eprintln!(
            "{}: {} packets, {} flows -> {}/{name}.pcap, {name}.expected.jsonl",
            enc.name(),
            s.packets,
            s.flows,
            a.out.display()
        );
    }
    Ok(())
}

fn encaps_len(encap: &str) -> bool {
    encap == "all"
}
