//! `tapflow replay`: send a capture out of an interface (demos, live tests).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tapflow_dataplane::pcap::PcapReader;

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// Interface to send on.
    #[arg(long = "iface", short = 'i')]
    iface: String,
    /// Packets per second (default: as fast as the socket takes them).
    #[arg(long)]
    pps: Option<u64>,
    /// Capture files to send, in order.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub(crate) fn run(a: ReplayArgs) -> anyhow::Result<()> {
    for f in &a.files {
        let mut r =
            PcapReader::open(f, 0).with_context(|| format!("cannot read {}", f.display()))?;
        let s = tapflow_dataplane::replay::replay(&a.iface, &mut r, a.pps)
            .with_context(|| format!("replaying {} on {}", f.display(), a.iface))?;
        eprintln!(
            "{}: sent {} packets ({} failed) in {:.2} s ({:.0} pps)",
            f.display(),
            s.sent,
            s.failed,
            s.elapsed.as_secs_f64(),
            s.sent as f64 / s.elapsed.as_secs_f64().max(1e-9)
        );
        if let Some(e) = &s.first_error {
            anyhow::bail!(
                "{} of {} frames could not be sent on {}: {e} (a frame larger than the MTU?)",
                s.failed,
                s.sent + s.failed,
                a.iface
            );
        }
    }
    Ok(())
}
