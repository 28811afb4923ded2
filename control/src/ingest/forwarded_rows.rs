//! What `tapflow server` stores of the data agents forward from their integration collectors:
//! OpenTelemetry spans (`otel_spans.jsonl`, a row per span), Prometheus remote-write samples
//! (`prometheus_samples.jsonl`, a row per sample, the agent's extra labels merged) and Telegraf
//! lines (`telegraf.jsonl`, a row per line). Decoding is bounded: the zlib and snappy bodies of
//! one frame may expand to [`MAX_DECOMPRESSED`] bytes in all (the frame's budget, as for a zstd
//! frame's body); a frame past it is refused.

use std::io::Read;

use prost::Message;
use serde_json::{json, Map, Value};

use super::frame::{FrameError, MessageType, MAX_DECOMPRESSED};
use crate::rpc::{metric, otel, prometheus};

/// The file (without `.jsonl`) rows of type `t` are stored in.
pub fn file_name(t: MessageType) -> &'static str {
    match t {
        MessageType::Prometheus => "prometheus_samples",
        MessageType::Telegraf => "telegraf",
        MessageType::Profile => "profiles",
        MessageType::ApplicationLog => "application_logs",
        _ => "otel_spans",
    }
}

/// Bytes a frame's messages may still expand to: start a frame with [`Budget::default`].
#[derive(Debug, Clone, Copy)]
pub struct Budget(usize);

impl Default for Budget {
    fn default() -> Self {
        Budget(MAX_DECOMPRESSED)
    }
}

impl Budget {
    /// Bytes the frame's messages may still expand to.
    pub fn left(&self) -> usize {
        self.0
    }

    /// Takes `n` bytes of the budget, or says that `what` expands the frame past it.
    pub fn take(&mut self, n: usize, what: &str) -> Result<(), FrameError> {
        self.0 = self.0.checked_sub(n).ok_or_else(|| {
            FrameError::Decompress(format!("{what}: the frame expands past its budget"))
        })?;
        Ok(())
    }
}

/// The rows of one forwarded message of type `t` from `agent_id`, within the frame's `budget`.
pub fn rows(
    t: MessageType,
    agent_id: u16,
    msg: &[u8],
    budget: &mut Budget,
) -> Result<Vec<Value>, FrameError> {
    match t {
        MessageType::OpenTelemetry | MessageType::OpenTelemetryCompressed => {
            Ok(spans(agent_id, &traces(t, msg, budget)?))
        }
        MessageType::Prometheus => samples(agent_id, msg, budget),
        MessageType::Telegraf => Ok(lines(agent_id, msg)),
        _ => Err(FrameError::UnknownType(t as u8)),
    }
}

/// The trace data of one OpenTelemetry (type 6) or OpenTelemetryCompressed (type 11, zlib)
/// message, within the frame's `budget`.
pub fn traces(
    t: MessageType,
    msg: &[u8],
    budget: &mut Budget,
) -> Result<otel::TracesData, FrameError> {
    let mut plain = Vec::new();
    let msg = if t == MessageType::OpenTelemetryCompressed {
        flate2::read::ZlibDecoder::new(msg)
            .take(budget.0 as u64 + 1)
            .read_to_end(&mut plain)
            .map_err(|e| FrameError::Decompress(format!("zlib: {e}")))?;
        budget.take(plain.len(), "zlib")?;
        plain.as_slice()
    } else {
        msg
    };
    otel::TracesData::decode(msg).map_err(decode_err)
}

fn decode_err(e: prost::DecodeError) -> FrameError {
    FrameError::Decode(e.to_string())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn any_value(v: Option<&otel::AnyValue>) -> Value {
    use otel::any_value::Value as V;
    match v.and_then(|v| v.value.as_ref()) {
        Some(V::StringValue(s)) => s.as_str().into(),
        Some(V::BoolValue(b)) => (*b).into(),
        Some(V::IntValue(i)) => (*i).into(),
        Some(V::DoubleValue(d)) => json!(d),
        Some(V::BytesValue(b)) => hex(b).into(),
        Some(V::ArrayValue(a)) => a.values.iter().map(|x| any_value(Some(x))).collect(),
        Some(V::KvlistValue(l)) => attributes(&l.values),
        None => Value::Null,
    }
}

fn attributes(kvs: &[otel::KeyValue]) -> Value {
    let mut m = Map::new();
    for kv in kvs {
        m.insert(kv.key.clone(), any_value(kv.value.as_ref()));
    }
    Value::Object(m)
}

fn kind_name(k: i32) -> &'static str {
    match otel::SpanKind::try_from(k) {
        Ok(otel::SpanKind::Internal) => "internal",
        Ok(otel::SpanKind::Server) => "server",
        Ok(otel::SpanKind::Client) => "client",
        Ok(otel::SpanKind::Producer) => "producer",
        Ok(otel::SpanKind::Consumer) => "consumer",
        _ => "unspecified",
    }
}

/// A row per span of `d` (`otel_spans.jsonl`).
pub fn spans(agent_id: u16, d: &otel::TracesData) -> Vec<Value> {
    let mut out = Vec::new();
    for rs in &d.resource_spans {
        let resource = attributes(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes));
        let text = |k: &str| {
            resource
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (service, host) = (
            text("service.name"),
            text(super::super::integration::otel_wire::HOST_IP),
        );
        for ss in &rs.scope_spans {
            let scope = ss.scope.as_ref().map_or("", |s| s.name.as_str());
            for s in &ss.spans {
                let status = s.status.clone().unwrap_or_default();
                out.push(json!({
                    "agent_id": agent_id,
                    "trace_id": hex(&s.trace_id),
                    "span_id": hex(&s.span_id),
                    "parent_span_id": hex(&s.parent_span_id),
                    "name": s.name,
                    "kind": kind_name(s.kind),
                    "start_time_unix_nano": s.start_time_unix_nano,
                    "end_time_unix_nano": s.end_time_unix_nano,
                    "duration_us": s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano) / 1000,
                    "status_code": status.code,
                    "status_message": status.message,
                    "service_name": service,
                    "app_host_ip": host,
                    "scope": scope,
                    "resource": resource,
                    "attributes": attributes(&s.attributes),
                }));
            }
        }
    }
    out
}

fn samples(agent_id: u16, msg: &[u8], budget: &mut Budget) -> Result<Vec<Value>, FrameError> {
    let m = metric::PrometheusMetric::decode(msg).map_err(decode_err)?;
    let len = snap::raw::decompress_len(&m.metrics)
        .map_err(|e| FrameError::Decompress(format!("snappy: {e}")))?;
    budget.take(len, "snappy")?;
    let plain = snap::raw::Decoder::new()
        .decompress_vec(&m.metrics)
        .map_err(|e| FrameError::Decompress(format!("snappy: {e}")))?;
    let w = prometheus::WriteRequest::decode(plain.as_slice()).map_err(decode_err)?;
    let mut out = Vec::new();
    for ts in &w.timeseries {
        let mut labels = Map::new();
        let mut name = String::new();
        for l in &ts.labels {
            if l.name == "__name__" {
                name.clone_from(&l.value);
            } else {
                labels.insert(l.name.clone(), l.value.as_str().into());
            }
        }
        for (k, v) in m.extra_label_names.iter().zip(&m.extra_label_values) {
            labels.insert(k.clone(), v.as_str().into());
        }
        for s in &ts.samples {
            out.push(json!({
                "agent_id": agent_id,
                "metric": name,
                "labels": labels,
                // A stale marker (NaN) is written as null.
                "value": s.value,
                "timestamp_ms": s.timestamp,
            }));
        }
    }
    Ok(out)
}

/// The measurement of a line: up to its first unescaped comma or space.
fn measurement(line: &str) -> &str {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b',' | b' ' => return &line[..i],
            _ => i += 1,
        }
    }
    line
}

fn lines(agent_id: u16, msg: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(msg)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| json!({"agent_id": agent_id, "measurement": measurement(l), "line": l}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_write_samples_carry_their_labels_and_the_agents() {
        let w = prometheus::WriteRequest {
            timeseries: vec![prometheus::TimeSeries {
                labels: vec![
                    prometheus::Label {
                        name: "__name__".into(),
                        value: "up".into(),
                    },
                    prometheus::Label {
                        name: "job".into(),
                        value: "p".into(),
                    },
                ],
                samples: vec![
                    prometheus::Sample {
                        value: 1.0,
                        timestamp: 1000,
                    },
                    prometheus::Sample {
                        value: f64::NAN,
                        timestamp: 2000,
                    },
                ],
            }],
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&w.encode_to_vec())
            .unwrap();
        let m = metric::PrometheusMetric {
            metrics: body,
            extra_label_names: vec!["x-tenant".into()],
            extra_label_values: vec!["t1".into()],
        };
        let r = rows(
            MessageType::Prometheus,
            7,
            &m.encode_to_vec(),
            &mut Budget::default(),
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["metric"], "up");
        assert_eq!(r[0]["labels"], json!({"job": "p", "x-tenant": "t1"}));
        assert_eq!(
            (r[0]["value"].as_f64(), r[1]["value"].is_null()),
            (Some(1.0), true)
        );
        let bad = metric::PrometheusMetric {
            metrics: vec![0xff, 0xff, 0xff, 0xff, 0x7f],
            ..Default::default()
        };
        assert!(rows(
            MessageType::Prometheus,
            7,
            &bad.encode_to_vec(),
            &mut Budget::default()
        )
        .is_err());
    }

    #[test]
    fn a_frames_messages_share_one_decompression_budget() {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&vec![0u8; 5 << 20]).unwrap();
        let bomb = z.finish().unwrap();
        let mut budget = Budget::default();
        let t = MessageType::OpenTelemetryCompressed;
        // Within the budget: inflated, then refused as protobuf (zeros are no field).
        assert!(matches!(
            traces(t, &bomb, &mut budget),
            Err(FrameError::Decode(_))
        ));
        // The second message of the same frame would pass 8 MiB in all.
        assert!(matches!(
            traces(t, &bomb, &mut budget),
            Err(FrameError::Decompress(_))
        ));
        assert!(matches!(
            traces(t, &bomb, &mut Budget::default()),
            Err(FrameError::Decode(_))
        ));
    }

    #[test]
    fn telegraf_lines_name_their_measurement() {
        let r = lines(
            1,
            b"cpu,host=a usage=1 1\n\n# c\nmy\\ m\\,x,t=1 v=2\nmem v=3\n",
        );
        let m: Vec<_> = r
            .iter()
            .map(|x| x["measurement"].as_str().unwrap())
            .collect();
        assert_eq!(m, ["cpu", "my\\ m\\,x", "mem"]);
    }
}
