//! The capture filter (`inputs.cbpf.af_packet.extra_bpf_filter`, `--filter`): the configured
//! tcpdump expression compiled by libpcap into the analyzer's configuration, wherever a
//! configuration is about to run (start, SIGHUP, the controller's).

use tapflow_control::config::Config;

/// Compiles `cfg.capture_filter` into `cfg.analyzer.capture_filter` (None clears it); libpcap's
/// notes (link types the expression does not apply to) join the configuration's warnings.
pub(crate) fn compile(cfg: &mut Config) -> Result<(), String> {
    cfg.analyzer.capture_filter = match &cfg.capture_filter {
        None => None,
        Some(expr) => {
            let (f, notes) = tapflow_dataplane::sys::libpcap::compile(expr)
                .map_err(|e| format!("inputs.cbpf.af_packet.extra_bpf_filter '{expr}': {e}"))?;
            cfg.warnings.extend(
                notes
                    .into_iter()
                    .map(|n| format!("inputs.cbpf.af_packet.extra_bpf_filter: {n}")),
            );
            Some(f)
        }
    };
    Ok(())
}

/// `--filter` over the configuration's expression (an empty one turns the filter off), then
/// [`compile`].
pub(crate) fn apply(cfg: &mut Config, flag: Option<&str>) -> anyhow::Result<()> {
    if let Some(e) = flag {
        let e = e.trim();
        cfg.capture_filter = (!e.is_empty()).then(|| e.to_string());
    }
    compile(cfg).map_err(anyhow::Error::msg)
}
