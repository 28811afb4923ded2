//! Application RED metrics from the spans the collector forwards, as DeepFlow's agent derives
//! them (its integration collector's `L7Stats`, `signal_source` OTel, through its l7 quadruple
//! generator): each span is a request and a response, a client error (HTTP 4xx) or a server
//! error (5xx, or an error status), and its duration is a response time. They are summed per
//! window (1 minute; 1 second too with `second_metrics`) by the span's end into
//! `metric.Document`s:
//!
//! - `application` (single end): a client or producer span on its own address (`app.host.ip`),
//!   direction and observation point `c-app`; a server or consumer span on its own address,
//!   `s-app`;
//! - `application_map` (the path): the client and the server addresses (the other one from
//!   `net.peer.ip`, else unspecified), `c-app` or `s-app`; an internal span only here, as `app`.
//!
//! Every document carries `signal_source` 4, `app_service` / `app_instance` (the resource's
//! `service.name` / `service.instance.id`), the span's name as `endpoint` (an HTTP span's cut
//! by the `http_endpoint` rules, as a path is), its `l7_protocol`,
//! capture network type 3 (cloud) and EPC 0, as DeepFlow's agent sends them. A window is sent
//! once its end is [`DELAY_S`] / [`DELAY_M`] behind the clock (and every window when the
//! collector stops); a span of a window already sent, or past [`MAX_KEYS`] keys held, is
//! counted, not kept.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tapflow_analyzer::l7::config::EndpointRules;
use tapflow_analyzer::l7::http1::wire::endpoint;
use tapflow_analyzer::l7::registry::L7Protocol;

use crate::clickhouse::otel_l7::SpanRow;
use crate::ingest::to_pb::{app_meter, code, PER_SECOND};
use crate::rpc::metric as m;

/// Keys (documents being summed) held at most, over every open window.
pub const MAX_KEYS: usize = 16_384;
/// How long after its end a window is sent: 1-second and 1-minute windows.
pub const DELAY_S: u32 = 5;
pub const DELAY_M: u32 = 15;

/// Bytes of a key's endpoint, service and instance kept at most (as the request logs' endpoints).
pub const MAX_TEXT: usize = 128;

/// What the open windows hold at most: [`MAX_KEYS`] keys, each with its three strings, its
/// counts and the map's own slot.
pub fn memory_bytes() -> u64 {
    let per_key = std::mem::size_of::<Key>() + std::mem::size_of::<Counts>() + 3 * MAX_TEXT + 16;
    (MAX_KEYS * per_key) as u64
}

/// `s` cut to [`MAX_TEXT`] bytes at a character boundary.
fn cut(s: &str) -> String {
    let mut end = s.len().min(MAX_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// DeepFlow's tap sides (and directions) of application spans.
const SIDE_APP: u8 = 48;
const SIDE_CLIENT_APP: u8 = 49;
const SIDE_SERVER_APP: u8 = 50;
/// DeepFlow's `signal_source` of OpenTelemetry data, and its capture network type `cloud`.
const SIGNAL_SOURCE_OTEL: u32 = 4;
const TAP_TYPE_CLOUD: u32 = 3;

/// What a document sums over.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    /// None: a single-end document of `ip`; Some: the path `ip` -> `ip1`.
    ip1: Option<IpAddr>,
    ip: IpAddr,
    side: u8,
    protocol: u8,
    l7_protocol: u8,
    endpoint: String,
    app_service: String,
    app_instance: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    requests: u64,
    client_errors: u64,
    server_errors: u64,
    rrt_sum_us: u64,
    rrt_count: u64,
    rrt_max_us: u64,
}

/// The open windows, by (start, width in seconds).
#[derive(Debug, Default)]
pub struct SpanMetrics {
    windows: BTreeMap<(u32, u32), HashMap<Key, Counts>>,
    keys: usize,
    /// Each width's windows before this start are sent.
    sent_before: HashMap<u32, u32>,
    /// Spans not counted: their window was sent, or too many keys were held.
    pub dropped: u64,
}

fn unspecified_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    }
}

/// A path's two ends in one family (DeepFlow's documents cannot mix them): an end of the
/// other family, or unknown, is the unspecified address.
fn path(a: Option<IpAddr>, b: Option<IpAddr>) -> (IpAddr, IpAddr) {
    match (a, b) {
        (Some(a), Some(b)) if a.is_ipv4() == b.is_ipv4() => (a, b),
        (Some(a), _) => (a, unspecified_like(a)),
        (None, Some(b)) => (unspecified_like(b), b),
        (None, None) => (Ipv4Addr::UNSPECIFIED.into(), Ipv4Addr::UNSPECIFIED.into()),
    }
}

impl SpanMetrics {
    /// Counts `spans` in their 1-minute windows, and 1-second ones with `second`; HTTP spans'
    /// names cut by `rules`.
    pub fn add(&mut self, spans: &[SpanRow], second: bool, rules: &EndpointRules) {
        let http = [L7Protocol::Http1.id(), L7Protocol::Http2.id()];
        for r in spans {
            let name = if http.contains(&r.l7_protocol) {
                rules
                    .keep_for(&r.endpoint)
                    .map_or("", |k| endpoint(&r.endpoint, k))
            } else {
                r.endpoint.as_str()
            };
            let end_s = u32::try_from(r.end_us.max(r.start_us) / 1_000_000).unwrap_or(u32::MAX);
            let dur = r.end_us.saturating_sub(r.start_us);
            let c = Counts {
                requests: 1,
                client_errors: u64::from(r.response_status == 4),
                server_errors: u64::from(r.response_status == 3),
                rrt_sum_us: dur,
                rrt_count: u64::from(dur > 0),
                rrt_max_us: dur,
            };
            let base = Key {
                ip1: None,
                ip: Ipv4Addr::UNSPECIFIED.into(),
                side: r.tap_side,
                protocol: r.protocol,
                l7_protocol: r.l7_protocol,
                endpoint: cut(name),
                app_service: cut(&r.app_service),
                app_instance: cut(&r.app_instance),
            };
            let (client, server) = path(r.ip_0, r.ip_1);
            let mut keys = vec![Key {
                ip1: Some(server),
                ip: client,
                ..base.clone()
            }];
            match r.tap_side {
                SIDE_CLIENT_APP => keys.push(Key { ip: client, ..base }),
                SIDE_SERVER_APP => keys.push(Key { ip: server, ..base }),
                _ => {}
            }
            let widths: &[u32] = if second { &[60, 1] } else { &[60] };
            for &w in widths {
                let start = end_s - end_s % w;
                if self.sent_before.get(&w).is_some_and(|b| start < *b) {
                    self.dropped += 1;
                    continue;
                }
                for k in &keys {
                    self.count(start, w, k, c);
                }
            }
        }
    }

    fn count(&mut self, start: u32, width: u32, k: &Key, c: Counts) {
        let window = self.windows.entry((start, width)).or_default();
        if let Some(x) = window.get_mut(k) {
            x.requests = x.requests.saturating_add(c.requests);
            x.client_errors = x.client_errors.saturating_add(c.client_errors);
            x.server_errors = x.server_errors.saturating_add(c.server_errors);
            x.rrt_sum_us = x.rrt_sum_us.saturating_add(c.rrt_sum_us);
            x.rrt_count = x.rrt_count.saturating_add(c.rrt_count);
            x.rrt_max_us = x.rrt_max_us.max(c.rrt_max_us);
        } else if self.keys < MAX_KEYS {
            window.insert(k.clone(), c);
            self.keys += 1;
        } else {
            self.dropped += 1;
        }
    }

    /// The documents of the windows whose end is far enough behind `now_s` (every window with
    /// `all`), from agent `agent_id`; those windows are closed.
    pub fn flush(&mut self, now_s: u32, all: bool, agent_id: u16) -> Vec<m::Document> {
        let due: Vec<(u32, u32)> = self
            .windows
            .keys()
            .filter(|(start, w)| {
                let delay = if *w == 1 { DELAY_S } else { DELAY_M };
                all || start.saturating_add(w + delay) <= now_s
            })
            .copied()
            .collect();
        let mut docs = Vec::new();
        for (start, w) in due {
            let Some(window) = self.windows.remove(&(start, w)) else {
                continue;
            };
            self.keys -= window.len();
            let before = self.sent_before.entry(w).or_default();
            *before = (*before).max(start.saturating_add(w));
            let mut entries: Vec<_> = window.into_iter().collect();
            entries.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
            for (k, c) in entries {
                docs.push(document(start, w == 1, agent_id, &k, c));
            }
        }
        docs
    }
}

fn document(start: u32, per_second: bool, agent_id: u16, k: &Key, c: Counts) -> m::Document {
    let bytes = |ip: IpAddr| match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let mut bits = code::PROTOCOL | code::SERVER_PORT | code::TAP_TYPE | code::VTAP_ID;
    bits |= match k.ip1 {
        Some(_) => {
            code::IP_PATH | code::L3_EPC_PATH | code::GPID_PATH | code::TAP_SIDE | code::TAP_PORT
        }
        None => code::IP | code::L3_EPC_ID | code::GPID | code::DIRECTION,
    };
    if k.l7_protocol != 0 {
        bits |= code::L7_PROTOCOL;
    }
    // An internal span has no direction (DeepFlow's `App`, 48); the others theirs.
    let side = if k.side == SIDE_APP || k.side == 0 {
        SIDE_APP
    } else {
        k.side
    };
    m::Document {
        timestamp: start,
        tag: Some(m::MiniTag {
            code: bits,
            field: Some(m::MiniField {
                ip: bytes(k.ip),
                ip1: k.ip1.map(bytes).unwrap_or_default(),
                is_ipv6: u32::from(k.ip.is_ipv6()),
                direction: u32::from(side),
                tap_side: u32::from(side),
                protocol: u32::from(k.protocol),
                vtap_id: u32::from(agent_id),
                tap_type: TAP_TYPE_CLOUD,
                l7_protocol: u32::from(k.l7_protocol),
                signal_source: SIGNAL_SOURCE_OTEL,
                app_service: k.app_service.clone(),
                app_instance: k.app_instance.clone(),
                endpoint: k.endpoint.clone(),
                ..m::MiniField::default()
            }),
        }),
        meter: Some(m::Meter {
            app: Some(app_meter(&tapflow_analyzer::metrics::doc::AppMeter {
                request: c.requests,
                response: c.requests,
                rrt_sum: c.rrt_sum_us,
                rrt_count: c.rrt_count,
                rrt_max: c.rrt_max_us,
                client_error: c.client_errors,
                server_error: c.server_errors,
                ..Default::default()
            })),
            ..m::Meter::default()
        }),
        flags: if per_second { PER_SECOND } else { 0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(side: u8, end_s: u64, dur_us: u64, status: u8) -> SpanRow {
        SpanRow {
            tap_side: side,
            start_us: end_s * 1_000_000 - dur_us,
            end_us: end_s * 1_000_000,
            endpoint: "GET /cart".into(),
            app_service: "cart".into(),
            app_instance: "cart-1".into(),
            ip_0: Some("10.0.0.9".parse().unwrap()),
            ip_1: Some("10.0.0.2".parse().unwrap()),
            protocol: 6,
            l7_protocol: 20,
            response_status: status,
            ..SpanRow::default()
        }
    }

    fn app(d: &m::Document) -> (u32, u32, u32, u64, u32) {
        let a = d.meter.as_ref().unwrap().app.as_ref().unwrap();
        let (t, l, e) = (a.traffic.unwrap(), a.latency.unwrap(), a.anomaly.unwrap());
        (
            t.request,
            e.client_error,
            e.server_error,
            l.rrt_sum,
            l.rrt_max,
        )
    }

    #[test]
    fn server_spans_sum_into_their_minute_as_s_app_documents() {
        let mut s = SpanMetrics::default();
        s.add(
            &[
                span(SIDE_SERVER_APP, 1_700_000_010, 2_000, 0),
                span(SIDE_SERVER_APP, 1_700_000_020, 6_000, 3),
                span(SIDE_SERVER_APP, 1_700_000_030, 1_000, 4),
            ],
            false,
            &EndpointRules::default(),
        );
        // 1_700_000_010 is in the minute starting at 1_699_999_980.
        assert!(s.flush(1_700_000_040, false, 7).is_empty());
        let docs = s.flush(1_700_000_060, false, 7);
        assert_eq!(docs.len(), 2);
        for d in &docs {
            assert_eq!(d.timestamp, 1_699_999_980);
            assert_eq!(d.flags, 0);
            let f = d.tag.as_ref().unwrap().field.as_ref().unwrap();
            assert_eq!((f.tap_side, f.signal_source, f.vtap_id), (50, 4, 7));
            assert_eq!(
                (f.app_service.as_str(), f.endpoint.as_str()),
                ("cart", "GET /cart")
            );
            assert_eq!(app(d), (3, 1, 1, 9_000, 6_000));
        }
        let single = docs
            .iter()
            .find(|d| {
                d.tag
                    .as_ref()
                    .unwrap()
                    .field
                    .as_ref()
                    .unwrap()
                    .ip1
                    .is_empty()
            })
            .unwrap();
        let f = single.tag.as_ref().unwrap().field.as_ref().unwrap();
        assert_eq!(f.ip, vec![10, 0, 0, 2], "the server's own address");
        assert_ne!(single.tag.as_ref().unwrap().code & code::DIRECTION, 0);
        // A late span of a sent minute is counted, not kept.
        s.add(
            &[span(SIDE_SERVER_APP, 1_700_000_001, 1, 0)],
            false,
            &EndpointRules::default(),
        );
        assert_eq!(s.dropped, 1);
        assert!(s.flush(1_800_000_000, true, 7).is_empty());
    }

    #[test]
    fn client_internal_and_per_second_documents() {
        let mut s = SpanMetrics::default();
        let mut internal = span(SIDE_APP, 1_700_000_100, 10, 0);
        internal.ip_0 = None;
        internal.ip_1 = Some("fd00::2".parse().unwrap());
        s.add(
            &[span(SIDE_CLIENT_APP, 1_700_000_100, 10, 0), internal],
            true,
            &EndpointRules::default(),
        );
        let docs = s.flush(0, true, 1);
        // Client: a path and a single end, per minute and per second; internal: a path.
        assert_eq!(docs.len(), 6);
        assert_eq!(docs.iter().filter(|d| d.flags == PER_SECOND).count(), 3);
        let sides: Vec<(u32, bool)> = docs
            .iter()
            .map(|d| {
                let f = d.tag.as_ref().unwrap().field.as_ref().unwrap();
                (f.tap_side, f.ip1.is_empty())
            })
            .collect();
        assert_eq!(sides.iter().filter(|x| **x == (49, true)).count(), 2);
        assert_eq!(sides.iter().filter(|x| **x == (48, false)).count(), 2);
        let v6 = docs
            .iter()
            .map(|d| d.tag.as_ref().unwrap().field.as_ref().unwrap())
            .find(|f| f.tap_side == 48)
            .unwrap();
        assert_eq!((v6.ip.len(), v6.ip1.len(), v6.is_ipv6), (16, 16, 1));
    }

    #[test]
    fn http_span_names_are_cut_as_paths() {
        let mut s = SpanMetrics::default();
        let mut http = span(SIDE_SERVER_APP, 1_700_000_000, 1, 0);
        http.endpoint = "/cart/7/items?x=1".into();
        let mut sql = http.clone();
        sql.l7_protocol = L7Protocol::Mysql.id();
        s.add(&[http, sql], false, &EndpointRules::default());
        let mut names: Vec<String> = s
            .flush(0, true, 1)
            .iter()
            .map(|d| {
                d.tag
                    .as_ref()
                    .unwrap()
                    .field
                    .as_ref()
                    .unwrap()
                    .endpoint
                    .clone()
            })
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names, ["/cart/7", "/cart/7/items?x=1"]);
    }

    #[test]
    fn long_names_are_cut() {
        let mut s = SpanMetrics::default();
        let mut r = span(SIDE_APP, 1_700_000_000, 1, 0);
        r.endpoint = "é".repeat(200);
        s.add(&[r], false, &EndpointRules::default());
        let d = s.flush(0, true, 1);
        let f = d[0].tag.as_ref().unwrap().field.as_ref().unwrap();
        assert_eq!(f.endpoint, "é".repeat(MAX_TEXT / 2));
    }

    /// Found by fuzzing (otel_wire): a span ending at the end of time, and sums past u64.
    #[test]
    fn times_and_sums_at_their_limits() {
        let mut s = SpanMetrics::default();
        let mut far = span(SIDE_SERVER_APP, 1, 0, 0);
        far.start_us = 0;
        far.end_us = u64::MAX;
        s.add(&[far.clone(), far], true, &EndpointRules::default());
        let docs = s.flush(0, true, 1);
        assert_eq!(docs.len(), 4);
        assert!(docs.iter().all(|d| d.timestamp >= u32::MAX - 60));
        assert_eq!(app(&docs[0]).3, u64::MAX);
    }

    #[test]
    fn keys_are_bounded() {
        let mut s = SpanMetrics::default();
        let many: Vec<SpanRow> = (0..MAX_KEYS)
            .map(|i| SpanRow {
                endpoint: format!("op{i}"),
                ..span(SIDE_APP, 1_700_000_000, 1, 0)
            })
            .collect();
        s.add(&many, false, &EndpointRules::default());
        assert_eq!(s.dropped, 0);
        s.add(
            &[span(SIDE_SERVER_APP, 1_700_000_000, 1, 0)],
            false,
            &EndpointRules::default(),
        );
        assert_eq!(s.dropped, 2);
        assert_eq!(s.flush(0, true, 1).len(), MAX_KEYS);
    }
}
