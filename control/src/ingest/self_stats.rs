//! An agent's own counters as DeepFlow's `stats.Stats` messages (message type 10,
//! DeepflowStats), the way DeepFlow's agent reports itself: every `global.self_monitoring.interval`
//! (10 s), one message per module, with the host name as a tag. DeepFlow's server stores each
//! message as a row of its `deepflow_system` database (`virtual_table_name` = the message's
//! name); `tapflow server` writes them to `deepflow_system.jsonl`.
//!
//! tapflow's counters are named `module.metric` (`decode.truncated_ipv4`,
//! `l7.kafka.compressed`, `ingester.records_sent`): each module is a message named
//! `tapflow_<module>` (counters without a module: `tapflow_agent`), each counter a metric named
//! by the rest with dots as underscores. The names are tapflow's own, so a DeepFlow agent's
//! `deepflow_agent_*` tables are never mixed with them.

use std::collections::BTreeMap;

use crate::rpc::stats as pb;

/// Prefix of every message's name.
pub const PREFIX: &str = "tapflow_";

/// The module and metric names of counter `name`.
fn split(name: &str) -> (&str, String) {
    match name.split_once('.') {
        Some((module, rest)) if !module.is_empty() && !rest.is_empty() => {
            (module, rest.replace('.', "_"))
        }
        _ => ("agent", name.replace('.', "_")),
    }
}

/// The messages of one report: `counters` (name, value) grouped by module, at `ts_s` (Unix
/// seconds), tagged with `host`.
pub fn messages(ts_s: u64, host: &str, counters: &[(String, f64)]) -> Vec<pb::Stats> {
    let mut modules: BTreeMap<&str, pb::Stats> = BTreeMap::new();
    for (name, value) in counters {
        let (module, metric) = split(name);
        let m = modules.entry(module).or_insert_with(|| pb::Stats {
            timestamp: ts_s,
            name: format!("{PREFIX}{module}"),
            tag_names: vec!["host".into()],
            tag_values: vec![host.into()],
            ..pb::Stats::default()
        });
        m.metrics_float_names.push(metric);
        m.metrics_float_values.push(*value);
    }
    modules.into_values().collect()
}

/// A received message as a JSON row of `deepflow_system` (DeepFlow's columns: `time`,
/// `virtual_table_name`, `tag_names`, `tag_values`, `metrics_float_names`,
/// `metrics_float_values`), with the sender's agent id from the frame header.
pub fn row(agent_id: u16, s: &pb::Stats) -> serde_json::Value {
    serde_json::json!({
        "time": s.timestamp,
        "agent_id": agent_id,
        "virtual_table_name": s.name,
        "tag_names": s.tag_names,
        "tag_values": s.tag_values,
        "metrics_float_names": s.metrics_float_names,
        // A counter is finite; a NaN or infinity from another agent is written as null.
        "metrics_float_values": s.metrics_float_values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_grouped_by_module_one_message_each() {
        let counters: Vec<(String, f64)> = [
            ("frames", 120.0),
            ("decode.truncated_ipv4", 2.0),
            ("l7.kafka.compressed", 5.0),
            ("decode.bad_vlan", 0.0),
            ("kernel_drops", 1.0),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
        let m = messages(1_700_000_000, "probe-1", &counters);
        let names: Vec<_> = m.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["tapflow_agent", "tapflow_decode", "tapflow_l7"]);
        assert_eq!(m[0].metrics_float_names, ["frames", "kernel_drops"]);
        assert_eq!(m[0].metrics_float_values, [120.0, 1.0]);
        assert_eq!(m[1].metrics_float_names, ["truncated_ipv4", "bad_vlan"]);
        assert_eq!(m[2].metrics_float_names, ["kafka_compressed"]);
        for s in &m {
            assert_eq!(s.timestamp, 1_700_000_000);
            assert_eq!(
                (s.tag_names.as_slice(), s.tag_values.as_slice()),
                (&["host".to_string()][..], &["probe-1".to_string()][..])
            );
        }
        let r = row(7, &m[2]);
        assert_eq!(r["virtual_table_name"], "tapflow_l7");
        assert_eq!(r["agent_id"], 7);
        assert_eq!(r["metrics_float_values"][0], 5.0);
    }

    #[test]
    fn a_report_frame_decodes_into_the_same_rows() {
        use super::super::frame::{FrameBuilder, Header, MessageType, Origin, HEADER_LEN};
        use super::super::receiver::decode_stats;
        let counters = vec![("frames".to_string(), 9.0), ("decode.bad".to_string(), 1.0)];
        let msgs = messages(1_800_000_000, "h", &counters);
        let mut b = FrameBuilder::new(MessageType::DeepflowStats, 1024);
        for m in &msgs {
            b.push(m);
        }
        let origin = Origin {
            agent_id: 42,
            ..Origin::default()
        };
        let frame = b.take_frame(origin, false).expect("frame");
        let h = Header::parse(frame[..HEADER_LEN].try_into().expect("header")).expect("parse");
        assert_eq!(h.message_type(), Ok(MessageType::DeepflowStats));
        let got = decode_stats(&h, &frame[HEADER_LEN..]).expect("decode");
        assert_eq!(got, msgs);
        assert_eq!(h.origin.agent_id, 42);
        // A cut body is an error, never a partial report.
        assert!(decode_stats(&h, &frame[HEADER_LEN..frame.len() - 3]).is_err());
    }

    #[test]
    fn odd_names_land_somewhere_sensible() {
        let c = |n: &str| vec![(n.to_string(), 1.0)];
        assert_eq!(messages(0, "h", &c(".x"))[0].name, "tapflow_agent");
        assert_eq!(messages(0, "h", &c("x."))[0].name, "tapflow_agent");
        assert!(messages(0, "h", &[]).is_empty());
    }
}
