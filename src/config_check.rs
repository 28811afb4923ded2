//! `tapflow config check FILE [-o text|json]`: validates a configuration and shows what it does:
//! warnings (keys accepted but not applied, legacy keys mapped), capture, flow table, L7,
//! outputs, and how `global.limits.max_memory` is shared.

use std::io::Write;

use tapflow_analyzer::flow::FlowTable;
use tapflow_analyzer::l7::{L7Protocol, L7Tracker};
use tapflow_analyzer::mirror::CaptureMode;
use tapflow_control::Config;

const MIB: f64 = 1024.0 * 1024.0;

/// The summary as JSON (also the text's source).
fn summary(c: &Config) -> serde_json::Value {
    let a = &c.analyzer;
    let mode = match a.mirror.mode {
        CaptureMode::Local => "0 (local traffic)",
        CaptureMode::VirtualMirror => "1 (virtual mirror)",
        CaptureMode::Analyzer => "2 (physical mirror / analyzer)",
    };
    let secs = |ns: u64| format!("{}s", ns as f64 / 1e9);
    let protocols: Vec<&str> = L7Protocol::ALL
        .iter()
        .filter(|p| a.l7.enabled.contains(**p))
        .map(|p| p.name())
        .collect();
    let table = a.flow_capacity as f64 * FlowTable::reserved_bytes_per_flow() as f64 / MIB;
    let l7 = L7Tracker::memory_bytes(&a.l7) as f64 / MIB;
    let metrics = c.metrics.memory_bytes() as f64 / MIB;
    let round = |v: f64| (v * 10.0).round() / 10.0;
    serde_json::json!({
        "capture": {
            "capture_mode": mode,
            "interfaces": match &c.interface_regex {
                Some(re) => format!("matching {re}"),
                None if c.src_interfaces.is_empty() => "none (tapflow run --iface)".to_string(),
                None => c.src_interfaces.join(", "),
            },
            "dpdk_ports": c.dpdk.ports,
            "af_packet_sockets_per_interface": match c.af_packet_fanout {
                Some(f) => format!(
                    "{} (fanout {}; tapflow run --engine af_packet without --queues)",
                    f.sockets,
                    tapflow_control::config::FANOUT_MODE_NAMES[usize::from(f.mode)]
                ),
                None => "1 (or tapflow run --queues N)".to_string(),
            },
            "filter": match &a.capture_filter {
                Some(f) => format!("{} (compiled by libpcap)", f.expr),
                None => "none (every frame)".to_string(),
            },
        },
        "flows": {
            "concurrent_flow_limit": a.flow_capacity,
            "when_full": format!("{:?}", a.on_table_full),
            "timeouts": {
                "established": secs(a.timeouts.established_ns),
                "closing_rst": secs(a.timeouts.closing_rst_ns),
                "opening_rst": secs(a.timeouts.opening_rst_ns),
                "others": secs(a.timeouts.others_ns),
                "closed_fin": secs(a.timeouts.closed_fin_ns),
            },
        },
        "request_log": {
            "protocols": protocols,
            "obfuscate": {
                "Redis": a.l7.protocols.redis.obfuscate,
                "MySQL": a.l7.protocols.mysql.obfuscate,
                "PostgreSQL": a.l7.protocols.postgres.obfuscate,
            },
            "tcp_request_timeout": secs(a.l7.tcp_request_timeout_ns),
            "udp_request_timeout": secs(a.l7.udp_request_timeout_ns),
        },
        "outputs": {
            "files": format!(
                "JSON lines, rotated at {} MiB, {} rotated files kept",
                c.file_output.rotate_bytes >> 20,
                c.file_output.keep_files
            ),
            "flow_metrics": if c.metrics.enabled {
                format!(
                    "1m{}, network {}, application {}, {} keys per table and window",
                    if c.metrics.second { " and 1s" } else { "" },
                    c.metrics.network,
                    c.metrics.application,
                    c.metrics.max_keys
                )
            } else {
                "off".to_string()
            },
            "prometheus": c.prometheus.listen.clone().unwrap_or_else(|| "off".into()),
            "ipfix": c.ipfix.collector.clone().unwrap_or_else(|| "off".into()),
            "ingester": match &c.ingester.addr {
                Some(addr) => format!(
                    "{addr}: l7 rows {}, l4 rows {}, {} when the queue is full, own counters every {} s, {}",
                    if c.ingester.compress_l7 { "zstd" } else { "raw" },
                    if c.ingester.compress_l4 { "zstd" } else { "raw" },
                    if c.ingester.wait_on_overflow { "wait" } else { "drop" },
                    c.ingester.stats_interval_s,
                    if c.ingester.socket_per_type {
                        "a connection per message type"
                    } else {
                        "one connection"
                    }
                ),
                None => "off".to_string(),
            },
            "integration": if c.integration.enabled {
                format!(
                    "port {} when records go to an ingester: traces{}, Prometheus and Telegraf{}, profiles{}",
                    c.integration.listen_port,
                    match (c.integration.traces_disabled, c.integration.compress_traces) {
                        (true, _) => " dropped",
                        (false, true) => " zlib-compressed",
                        (false, false) => " raw",
                    },
                    if c.integration.metrics_disabled { " dropped" } else { " as received" },
                    if c.integration.profiles_disabled { " dropped" } else { " as received" }
                )
            } else {
                "off".to_string()
            },
            "l4_rows_kept": c.log_filters.l4.to_string(),
            "l7_rows_kept": c.log_filters.l7.to_string(),
            "l4_throttle": throttle(c.log_throttles.l4),
            "l7_throttle": throttle(c.log_throttles.l7),
            "health_check_l4_rows": if c.aggregate_health_checks {
                "merged per service and minute"
            } else {
                "one per probe"
            },
        },
        "memory_mib": {
            "max_memory": c.max_memory_mib,
            "flow_table_per_worker": round(table),
            "l7_tables_per_worker": round(l7),
            "metrics_windows": round(metrics),
        },
        "warnings": c.warnings,
    })
}

/// A throttle as `config check` shows it.
fn throttle(rate: Option<std::num::NonZeroU32>) -> String {
    rate.map_or_else(
        || "off (every row)".to_string(),
        |r| format!("{r} rows/s (at most {} per 4 s)", u64::from(r.get()) * 4),
    )
}

fn text(v: &serde_json::Value, indent: usize, out: &mut impl Write) -> std::io::Result<()> {
    let pad = "  ".repeat(indent);
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match v {
                    serde_json::Value::Object(_) => {
                        writeln!(out, "{pad}{k}:")?;
                        text(v, indent + 1, out)?;
                    }
                    serde_json::Value::Array(a) if a.is_empty() => writeln!(out, "{pad}{k}: none")?,
                    serde_json::Value::Array(a) => {
                        let items: Vec<String> = a
                            .iter()
                            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                            .collect();
                        if k == "warnings" {
                            writeln!(out, "{pad}{k}:")?;
                            for i in items {
                                writeln!(out, "{pad}  - {i}")?;
                            }
                        } else {
                            writeln!(out, "{pad}{k}: {}", items.join(", "))?;
                        }
                    }
                    serde_json::Value::String(s) => writeln!(out, "{pad}{k}: {s}")?,
                    other => writeln!(out, "{pad}{k}: {other}")?,
                }
            }
            Ok(())
        }
        other => writeln!(out, "{pad}{other}"),
    }
}

/// Loads `file` and prints the summary (`json`: as one JSON object). Output errors (a closed
/// pipe) end the command quietly.
pub(crate) fn run(file: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let mut c = Config::load(file)?;
    crate::capture_filter::compile(&mut c).map_err(anyhow::Error::msg)?;
    let v = summary(&c);
    let mut out = std::io::stdout().lock();
    let _ = (|| -> std::io::Result<()> {
        if json {
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)
        } else {
            writeln!(out, "{} is valid.", file.display())?;
            text(&v, 0, &mut out)
        }
    })();
    Ok(())
}
