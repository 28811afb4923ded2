//! How each record field reads back from its ClickHouse column, per dialect, and the comparison
//! of stored rows with the records (sorted multisets of the compared fields).

use std::path::Path;

use serde_json::Value;
use tapflow_control::clickhouse::Dialect;

/// The rows of a JSON lines file.
pub(crate) fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("row"))
        .collect()
}

/// How a JSON field is compared.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Num,
    Str,
}

/// A record field and the SQL that reads it back, per dialect.
pub(crate) struct Field {
    json: &'static str,
    legacy: String,
    current: String,
    kind: Kind,
}

fn same(json: &'static str, col: &str, kind: Kind) -> Field {
    Field {
        json,
        legacy: format!("`{col}`"),
        current: format!("`{col}`"),
        kind,
    }
}

fn time64(json: &'static str, col: &str) -> Field {
    Field {
        json,
        legacy: format!("`{col}`"),
        current: format!("toUnixTimestamp64Micro(`{col}`)"),
        kind: Kind::Num,
    }
}

fn ip(json: &'static str, v4: &str, v6: &str, flag: &str) -> Field {
    Field {
        json,
        legacy: format!("if({flag}, IPv4NumToString({v4}), IPv6NumToString({v6}))"),
        current: format!("if({flag}, toString({v4}), toString({v6}))"),
        kind: Kind::Str,
    }
}

fn sql(json: &'static str, expr: &str, kind: Kind) -> Field {
    Field {
        json,
        legacy: expr.to_string(),
        current: expr.to_string(),
        kind,
    }
}

fn attr(json: &'static str) -> Field {
    sql(
        json,
        &format!("arrayElement(attribute_values, indexOf(attribute_names, '{json}'))"),
        Kind::Str,
    )
}

/// Record fields derived from another stored field (not columns of their own).
const DERIVED: &[&str] = &[
    "close_type_name",
    "tap_port_type",
    "l7_protocol_str",
    "tap_side",
    "rtt",
    "srt",
    "art",
    "rrt",
];

fn l4_fields() -> Vec<Field> {
    use Kind::*;
    let mut f =
        vec![
        time64("start_time", "start_time"),
        time64("end_time", "end_time"),
        time64("first_time_tx", "first_time_tx"),
        time64("last_time_tx", "last_time_tx"),
        time64("first_time_rx", "first_time_rx"),
        time64("last_time_rx", "last_time_rx"),
        sql(
            "status",
            "transform(status, [0, 3, 4], ['normal', 'server_error', 'client_error'], 'unknown')",
            Str,
        ),
        same("capture_network_type", "capture_network_type_id", Num),
        sql("tap_port", "capture_nic", Num),
        sql("mac_0", "lower(MACNumToString(mac_0))", Str),
        sql("mac_1", "lower(MACNumToString(mac_1))", Str),
        ip("ip_0", "ip4_0", "ip6_0", "is_ipv4"),
        ip("ip_1", "ip4_1", "ip6_1", "is_ipv4"),
        same("tunnel_id", "tunnel_tx_id", Num),
        ip("tunnel_tx_ip_0", "tunnel_tx_ip4_0", "tunnel_tx_ip6_0", "tunnel_is_ipv4"),
        ip("tunnel_tx_ip_1", "tunnel_tx_ip4_1", "tunnel_tx_ip6_1", "tunnel_is_ipv4"),
        ip("tunnel_rx_ip_0", "tunnel_rx_ip4_0", "tunnel_rx_ip6_0", "tunnel_is_ipv4"),
        ip("tunnel_rx_ip_1", "tunnel_rx_ip4_1", "tunnel_rx_ip6_1", "tunnel_is_ipv4"),
        same("rtt_client_max", "rtt_client", Num),
        same("rtt_server_max", "rtt_server", Num),
        same("l7_timeout", "l7_server_timeout", Num),
        same("reversed", "is_reversed", Num),
        same("observation_point", "observation_point", Str),
    ];
    for n in [
        "flow_id",
        "duration",
        "close_type",
        "is_new_flow",
        "signal_source",
        "l2_end_0",
        "l2_end_1",
        "eth_type",
        "vlan",
        "is_ipv4",
        "protocol",
        "client_port",
        "server_port",
        "tunnel_type",
        "tunnel_tier",
        "packet_tx",
        "packet_rx",
        "byte_tx",
        "byte_rx",
        "l3_byte_tx",
        "l3_byte_rx",
        "l4_byte_tx",
        "l4_byte_rx",
        "total_packet_tx",
        "total_packet_rx",
        "total_byte_tx",
        "total_byte_rx",
        "tcp_flags_bit_0",
        "tcp_flags_bit_1",
        "syn_count",
        "synack_count",
        "fin_count",
        "retrans_syn",
        "retrans_synack",
        "retrans_tx",
        "retrans_rx",
        "zero_win_tx",
        "zero_win_rx",
        "ooo_tx",
        "ooo_rx",
        "rtt",
        "rtt_client_sum",
        "rtt_client_count",
        "rtt_server_sum",
        "rtt_server_count",
        "srt_sum",
        "srt_count",
        "srt_max",
        "art_sum",
        "art_count",
        "art_max",
        "cit_sum",
        "cit_count",
        "cit_max",
        "direction_score",
        "l7_protocol",
        "l7_request",
        "l7_response",
        "l7_client_error",
        "l7_server_error",
        "rrt_sum",
        "rrt_count",
        "rrt_max",
        "tls_rtt",
        "agent_id",
    ] {
        f.push(same(n, n, Num));
    }
    f
}

fn l7_fields() -> Vec<Field> {
    use Kind::*;
    let mut f = vec![
        time64("start_time", "start_time"),
        time64("end_time", "end_time"),
        same("type", "type", Num),
        same("capture_network_type", "capture_network_type_id", Num),
        sql("tap_port", "capture_nic", Num),
        sql("mac_0", "lower(MACNumToString(mac_0))", Str),
        sql("mac_1", "lower(MACNumToString(mac_1))", Str),
        ip("ip_0", "ip4_0", "ip6_0", "is_ipv4"),
        ip("ip_1", "ip4_1", "ip6_1", "is_ipv4"),
        same("l7_protocol_str", "biz_protocol", Str),
        attr("http_user_agent"),
        attr("http_referer"),
        sql("trace_id_2", "`_trace_id_2`", Str),
        same("parent_span_id", "parent_span_id", Str),
        // The attributes `tag_extraction.raw` keeps by default (the rows' `attributes` object).
        sql(
            "attributes.response_payload",
            "arrayElement(attribute_values, indexOf(attribute_names, 'response_payload'))",
            Str,
        ),
        sql(
            "headers_partial",
            "indexOf(attribute_names, 'headers_partial') > 0",
            Num,
        ),
        sql("request_length", "ifNull(request_length, -1)", Num),
        sql("response_length", "ifNull(response_length, -1)", Num),
    ];
    for n in [
        "observation_point",
        "version",
        "request_type",
        "request_domain",
        "request_resource",
        "endpoint",
        "response_exception",
        "response_result",
        "trace_id",
        "span_id",
        "x_request_id_0",
        "x_request_id_1",
        "http_proxy_client",
    ] {
        f.push(same(n, n, Str));
    }
    for n in [
        "flow_id",
        "signal_source",
        "is_ipv4",
        "protocol",
        "client_port",
        "server_port",
        "l7_protocol",
        "request_id",
        "response_code",
        "response_status",
        "response_duration",
        "sql_affected_rows",
        "is_tls",
        "req_tcp_seq",
        "resp_tcp_seq",
        "captured_request_byte",
        "captured_response_byte",
        "agent_id",
    ] {
        f.push(same(n, n, Num));
    }
    f
}

/// flow_metrics columns: named as the record's fields except these.
fn doc_fields(sample: &Value, app: bool) -> Vec<Field> {
    use Kind::*;
    let mut f = vec![
        ip("ip", "ip4", "ip6", "is_ipv4"),
        same("direction", "role", Num),
        same("capture_network_type", "capture_network_type_id", Num),
        sql("tap_port", "capture_nic", Num),
        same("observation_point", "observation_point", Str),
        sql("time", "toUInt32(time)", Num),
    ];
    if app {
        f.push(same("endpoint", "endpoint", Str));
    }
    if sample.get("ip_1").is_some() {
        f.push(ip("ip_1", "ip4_1", "ip6_1", "is_ipv4"));
    }
    for k in sample.as_object().expect("object").keys() {
        let k: &'static str = Box::leak(k.clone().into_boxed_str());
        if !f.iter().any(|x| x.json == k) && !DERIVED.contains(&k) {
            f.push(same(k, k, Num));
        }
    }
    if sample.get("tap_side").is_some() {
        f.push(same("tap_side", "tap_side", Num));
    }
    f
}

/// A value as comparable text.
fn norm(v: Option<&Value>, kind: Kind) -> String {
    match (v, kind) {
        (None | Some(Value::Null), _) => "null".into(),
        (Some(Value::Bool(b)), _) => u8::from(*b).to_string(),
        (Some(Value::Number(n)), _) => format!("{}", n.as_f64().unwrap_or(0.0)),
        (Some(Value::String(s)), Kind::Num) => match s.parse::<f64>() {
            Ok(x) => format!("{x}"),
            Err(_) => s.clone(),
        },
        (Some(Value::String(s)), Kind::Str) => s.clone(),
        (Some(other), _) => other.to_string(),
    }
}

/// The record's value of `f` as the store gives it back (absent optional fields: the store's
/// empty value).
fn expected(row: &Value, f: &Field) -> String {
    if let Some(name) = f.json.strip_prefix("attributes.") {
        // An absent attribute reads back as the empty string.
        return match row.get("attributes").and_then(|a| a.get(name)) {
            None => String::new(),
            v => norm(v, f.kind),
        };
    }
    let v = row.get(f.json);
    match (f.json, v) {
        ("headers_partial", None) => "0".into(),
        ("tunnel_tx_ip_0" | "tunnel_tx_ip_1" | "tunnel_rx_ip_0" | "tunnel_rx_ip_1", None) => {
            "0.0.0.0".into()
        }
        ("agent_id", None) => "0".into(),
        ("tap_port", Some(Value::Number(n))) => {
            format!("{}", (n.as_u64().unwrap_or(0) & 0xffff_ffff) as f64)
        }
        ("endpoint" | "trace_id_2" | "parent_span_id", None) => String::new(),
        _ => norm(v, f.kind),
    }
}

pub(crate) fn select(fields: &[Field], dialect: Dialect, table: &str) -> String {
    let exprs: Vec<String> = fields
        .iter()
        .map(|f| {
            let e = if dialect == Dialect::Legacy {
                &f.legacy
            } else {
                &f.current
            };
            format!("{e} AS `{}`", f.json)
        })
        .collect();
    format!("SELECT {} FROM {table}", exprs.join(", "))
}

/// The rows of one table compared as sorted multisets of their compared fields.
pub(crate) fn assert_table(name: &str, fields: &[Field], want_rows: &[Value], got_rows: &[Value]) {
    assert_eq!(got_rows.len(), want_rows.len(), "{name}: rows");
    let line = |r: &Value, stored: bool| -> String {
        fields
            .iter()
            .map(|f| {
                let v = if stored {
                    norm(r.get(f.json), f.kind)
                } else {
                    expected(r, f)
                };
                format!("{}={v}", f.json)
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut want: Vec<String> = want_rows.iter().map(|r| line(r, false)).collect();
    let mut got: Vec<String> = got_rows.iter().map(|r| line(r, true)).collect();
    want.sort();
    got.sort();
    for (g, w) in got.iter().zip(&want) {
        if g != w {
            let diff: Vec<String> = g
                .split(' ')
                .zip(w.split(' '))
                .filter(|(a, b)| a != b)
                .map(|(a, b)| format!("stored {a} / record {b}"))
                .collect();
            panic!("{name}: a stored row differs: {diff:?}\n{w}");
        }
    }
}

/// Every field of every record kind has a column (or is derived from one).
fn assert_every_field_mapped(name: &str, fields: &[Field], rows: &[Value]) {
    for r in rows {
        for a in r["attributes"]
            .as_object()
            .into_iter()
            .flat_map(|a| a.keys())
        {
            assert!(
                fields
                    .iter()
                    .any(|f| f.json.strip_prefix("attributes.") == Some(a.as_str())),
                "{name}: attribute {a} has no column"
            );
        }
        for k in r.as_object().expect("object").keys() {
            if k == "attributes" {
                continue;
            }
            assert!(
                fields.iter().any(|f| f.json == k) || DERIVED.contains(&k.as_str()),
                "{name}: field {k} has no column"
            );
        }
    }
}

pub(crate) const TABLES: &[(&str, &str)] = &[
    ("l4_flow_log", "flow_log.l4_flow_log"),
    ("l7_flow_log", "flow_log.l7_flow_log"),
    ("flow_metrics.network.1m", "flow_metrics.`network.1m`"),
    (
        "flow_metrics.network_map.1m",
        "flow_metrics.`network_map.1m`",
    ),
    (
        "flow_metrics.application.1m",
        "flow_metrics.`application.1m`",
    ),
    (
        "flow_metrics.application_map.1m",
        "flow_metrics.`application_map.1m`",
    ),
];

/// (file stem, fields) of every table with rows in `out`.
pub(crate) fn field_sets(out: &Path) -> Vec<(&'static str, &'static str, Vec<Field>, Vec<Value>)> {
    let mut v = Vec::new();
    for (file, table) in TABLES {
        let rows = jsonl(&out.join(format!("{file}.jsonl")));
        if rows.is_empty() {
            continue;
        }
        let fields = match *file {
            "l4_flow_log" => l4_fields(),
            "l7_flow_log" => l7_fields(),
            _ => doc_fields(&rows[0], file.contains("application")),
        };
        assert_every_field_mapped(file, &fields, &rows);
        v.push((*file, *table, fields, rows));
    }
    assert!(v.len() >= 5, "tables with rows: {}", v.len());
    v
}
