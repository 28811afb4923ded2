//! Profiles for the integration collector, as DeepFlow `metric.Profile` messages (type 13):
//!
//! - Pyroscope's ingest API, `POST /api/v1/profile/ingest?name=app{tags}&from=..&until=..
//!   &format=pprof&sampleRate=100&spyName=pyspy` (pyroscope's 0.x SDKs, its Java agent,
//!   `curl` with collapsed text), as DeepFlow's agent takes it: the query's parameters are the
//!   message's fields, the body (gunzipped when sent gzip) its data, the request's content type
//!   its content type.
//! - Pyroscope's push API, `POST /push.v1.PusherService/Push` (its 1.x SDKs, Connect's unary
//!   protocol), which DeepFlow's agent does not take: each raw sample of each series becomes a
//!   message of format `pprof`, the series' `service_name` and labels as pyroscope's key
//!   (`service{label=value,...}`), its times and sampling rate from the profile.
//!
//! The sender's address is the message's `ip` (an IPv4-mapped one written as IPv4).

use std::io::Read;
use std::net::IpAddr;

use prost::Message;

use crate::profile::pprof;
use crate::rpc::metric;
use crate::rpc::pyroscope_push::PushRequest;

/// The sender's address as the message's bytes.
pub fn ip_bytes(peer: IpAddr) -> Vec<u8> {
    match peer {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => a.octets().to_vec(),
        },
    }
}

/// An ingest request's message: `query` its query string, `content_type` its header, `data`
/// its body (gunzipped). Parameters are kept as sent (the server decodes the name); numbers that
/// do not parse are 0, as DeepFlow's agent takes them.
pub fn from_ingest(
    query: &str,
    content_type: Option<&[u8]>,
    data: Vec<u8>,
    peer: IpAddr,
) -> metric::Profile {
    let mut p = metric::Profile {
        ip: ip_bytes(peer),
        data,
        content_type: content_type.map(<[u8]>::to_vec).unwrap_or_default(),
        event_type: metric::ProfileEventType::External as i32,
        ..Default::default()
    };
    let num = |v: &str| v.parse::<u32>().unwrap_or(0);
    for pair in query.split('&') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        match k {
            "name" => p.name = v.to_string(),
            "units" => p.units = v.to_string(),
            // DeepFlow's agent reads `aggregrationType`; pyroscope's clients send
            // `aggregationType`.
            "aggregationType" | "aggregrationType" => p.aggregation_type = v.to_string(),
            "sampleRate" => p.sample_rate = num(v),
            "from" => p.from = num(v),
            "until" => p.until = num(v),
            "spyName" => p.spy_name = v.to_string(),
            "format" => p.format = v.to_string(),
            _ => {}
        }
    }
    p
}

/// A label name as a pyroscope tag key (letters, digits and `_`).
fn tag_key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// pyroscope's spy name for a push request's user agent (`pyroscope-rs/pyspy/1.4.0 ...`,
/// `pyroscope-go/1.2.0`, ...); empty when it says none.
pub fn spy_of_agent(user_agent: &str) -> &'static str {
    const SPIES: &[(&str, &str)] = &[
        ("pyspy", "pyspy"),
        ("rbspy", "rbspy"),
        ("pyroscope-go", "gospy"),
        ("pyroscope-java", "javaspy"),
        ("pyroscope-dotnet", "dotnetspy"),
        ("pyroscope-nodejs", "nodespy"),
        ("pprof-rs", "pprof-rs"),
    ];
    SPIES
        .iter()
        .find(|(k, _)| user_agent.contains(k))
        .map_or("", |(_, s)| *s)
}

/// The messages of a push request: `body` its (gunzipped) protobuf, `now_s` the time given to
/// a profile that carries none; the raw profiles gunzipped within `max_profiles` bytes in all.
pub fn from_push(
    body: &[u8],
    peer: IpAddr,
    user_agent: &str,
    now_s: u32,
    max_profiles: usize,
) -> Result<Vec<metric::Profile>, &'static str> {
    let mut left = max_profiles;
    let req = PushRequest::decode(body).map_err(|_| "not a pyroscope PushRequest\n")?;
    let spy = spy_of_agent(user_agent);
    let mut out = Vec::new();
    for series in &req.series {
        let mut service = String::new();
        let mut tags = Vec::new();
        for l in &series.labels {
            match l.name.as_str() {
                "service_name" => service = l.value.clone(),
                "__name__" => {}
                // A value pyroscope's key syntax cannot hold is left out.
                _ if l.value.contains(['{', '}', ',', '=', '%']) || l.value.is_empty() => {}
                n => tags.push(format!("{}={}", tag_key(n), l.value)),
            }
        }
        let service = service.replace(['{', '}', '%'], "_");
        let name = if tags.is_empty() {
            service
        } else {
            tags.sort();
            format!("{service}{{{}}}", tags.join(","))
        };
        for s in &series.samples {
            let raw = if s.raw_profile.starts_with(&[0x1f, 0x8b]) {
                let mut v = Vec::new();
                flate2::read::GzDecoder::new(s.raw_profile.as_slice())
                    .take(left as u64 + 1)
                    .read_to_end(&mut v)
                    .map_err(|_| "a raw profile is bad gzip\n")?;
                left = left
                    .checked_sub(v.len())
                    .ok_or("the raw profiles are too large\n")?;
                v
            } else {
                s.raw_profile.clone()
            };
            let (from, until, rate) = pprof::times(&raw).unwrap_or((now_s, now_s, 0));
            out.push(metric::Profile {
                ip: ip_bytes(peer),
                name: name.clone(),
                sample_rate: rate,
                from,
                until,
                spy_name: spy.to_string(),
                format: "pprof".into(),
                content_type: b"binary/octet-stream".to_vec(),
                data: raw,
                event_type: metric::ProfileEventType::External as i32,
                ..Default::default()
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::pyroscope_push::{LabelPair, RawProfileSeries, RawSample};

    #[test]
    fn an_ingest_query_is_the_messages_fields() {
        let p = from_ingest(
            "name=app.cpu%7Benv%3Dprod%7D&from=1700000000&until=1700000010&format=pprof&sampleRate=100&spyName=gospy&units=samples&aggregationType=sum&junk&from2=x",
            Some(b"binary/octet-stream"),
            b"data".to_vec(),
            "::ffff:10.1.2.3".parse().unwrap(),
        );
        assert_eq!(p.name, "app.cpu%7Benv%3Dprod%7D");
        assert_eq!(
            (p.from, p.until, p.sample_rate),
            (1_700_000_000, 1_700_000_010, 100)
        );
        assert_eq!((p.format.as_str(), p.spy_name.as_str()), ("pprof", "gospy"));
        assert_eq!(
            (p.units.as_str(), p.aggregation_type.as_str()),
            ("samples", "sum")
        );
        assert_eq!(p.ip, vec![10, 1, 2, 3]);
        assert_eq!(p.event_type, 0);
        let bad = from_ingest("from=soon", None, vec![], "::1".parse().unwrap());
        assert_eq!((bad.from, bad.ip.len()), (0, 16));
    }

    #[test]
    fn a_push_request_is_a_message_per_raw_profile() {
        let label = |n: &str, v: &str| LabelPair {
            name: n.into(),
            value: v.into(),
        };
        let req = PushRequest {
            series: vec![RawProfileSeries {
                labels: vec![
                    label("__name__", "process_cpu"),
                    label("service_name", "shop"),
                    label("region", "eu"),
                    label("otel.scope.name", "py"),
                    label("bad", "a,b"),
                ],
                samples: vec![
                    RawSample {
                        raw_profile: b"\x08\x01".to_vec(),
                        id: "a".into(),
                    },
                    RawSample {
                        raw_profile: vec![0x1f, 0x8b, 0],
                        id: "b".into(),
                    },
                ],
            }],
        };
        let body = req.encode_to_vec();
        let peer = "10.0.0.9".parse().unwrap();
        assert_eq!(
            from_push(&body, peer, "pyroscope-rs/pyspy/1.4.0 reqwest", 5, 1 << 20).unwrap_err(),
            "a raw profile is bad gzip\n"
        );
        let mut ok = req.clone();
        ok.series[0].samples.pop();
        let m = from_push(
            &ok.encode_to_vec(),
            peer,
            "pyroscope-rs/pyspy/1.4.0",
            5,
            1 << 20,
        )
        .unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].name, "shop{otel_scope_name=py,region=eu}");
        assert_eq!(
            (m[0].format.as_str(), m[0].spy_name.as_str()),
            ("pprof", "pyspy")
        );
        // Not a pprof with a time: the time given.
        assert_eq!((m[0].from, m[0].until), (5, 5));
        assert!(from_push(b"\xff\xff", peer, "", 5, 1 << 20).is_err());
        // The raw profiles' gunzipped bytes are bounded in all.
        let gz = |n: usize| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut e, &vec![0u8; n]).unwrap();
            e.finish().unwrap()
        };
        let mut two = ok.clone();
        two.series[0].samples = vec![
            RawSample {
                raw_profile: gz(600),
                id: "a".into(),
            },
            RawSample {
                raw_profile: gz(600),
                id: "b".into(),
            },
        ];
        let body = two.encode_to_vec();
        assert_eq!(from_push(&body, peer, "", 5, 1500).unwrap().len(), 2);
        assert_eq!(
            from_push(&body, peer, "", 5, 1000).unwrap_err(),
            "the raw profiles are too large\n"
        );
    }
}
