//! Prometheus endpoint (`--prometheus-listen`, `outputs.prometheus.listen`): RED and TCP-health
//! series per service, updated from the flow and request logs as they arrive (not a minute late),
//! and every self-monitoring counter of the run, served as the text exposition format (0.0.4) on
//! `GET /metrics` by a small HTTP thread.
//!
//! Cardinality is bounded: a service is a server address, port and protocol; the first
//! `max_services` services seen get labels of their own (kept for the whole run, so their
//! counters stay monotonic), later ones are summed into `service="other"`. Latencies are
//! histograms with fixed buckets (100 µs .. 10 s): per request (RRT), per flow (handshake RTT) and
//! per flow and minute (mean SRT / ART).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tapflow_analyzer::record::l7::TYPE_SESSION;
use tapflow_analyzer::{L4FlowLog, L7FlowLog, RecordRef};

use super::{Sink, SinkError, SinkStats};

/// Histogram bucket bounds, seconds.
const BUCKETS_S: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// A Prometheus histogram of µs samples.
#[derive(Debug, Clone, Default)]
struct Hist {
    /// Per bucket (not cumulative), the last slot is +Inf.
    counts: [u64; BUCKETS_S.len() + 1],
    sum_us: u64,
    count: u64,
}

impl Hist {
    fn observe(&mut self, us: u64, n: u64) {
        if n == 0 {
            return;
        }
        let s = us as f64 / 1e6;
        let i = BUCKETS_S
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BUCKETS_S.len());
        self.counts[i] += n;
        self.sum_us += us * n;
        self.count += n;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cum = 0;
        for (i, b) in BUCKETS_S.iter().enumerate() {
            cum += self.counts[i];
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {cum}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum_us as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// The series of one service.
#[derive(Debug, Clone, Default)]
struct Service {
    requests: u64,
    responses: u64,
    client_errors: u64,
    server_errors: u64,
    timeouts: u64,
    rrt: Hist,
    new_flows: u64,
    /// Closed flows by close type name.
    closed: HashMap<&'static str, u64>,
    packets: [u64; 2],
    bytes: [u64; 2],
    retrans: [u64; 2],
    zero_win: [u64; 2],
    rtt: Hist,
    srt: Hist,
    art: Hist,
}

/// (server address and port, transport, l7 protocol).
type ServiceKey = (String, &'static str, &'static str);

/// What the endpoint shows.
#[derive(Debug, Default)]
struct State {
    services: HashMap<ServiceKey, Service>,
    /// Flows open now per server address and port and transport (whatever L7 protocol their
    /// rows named: a flow's first row may come before its protocol is known).
    open: HashMap<(String, &'static str), u64>,
    max_services: usize,
    /// Self-monitoring counters (name, value, is a gauge).
    own: Vec<(String, u64, bool)>,
    /// Per worker: frames, kernel drops, active flows.
    workers: Vec<[u64; 3]>,
}

/// `key` when `map` has it or room for it (the first `max` keys keep labels of their own for
/// the whole run, so their counters stay monotonic), else `other(key)`.
fn labelled<K: std::hash::Hash + Eq, V>(
    map: &HashMap<K, V>,
    key: K,
    max: usize,
    other: impl FnOnce(K) -> K,
) -> K {
    if map.contains_key(&key) || map.len() < max {
        key
    } else {
        other(key)
    }
}

/// A service's label: `address:port` (`[v6]:port`).
fn address(ip: std::net::IpAddr, port: u16) -> String {
    match ip {
        std::net::IpAddr::V6(a) => format!("[{a}]:{port}"),
        std::net::IpAddr::V4(a) => format!("{a}:{port}"),
    }
}

fn transport(p: u8) -> &'static str {
    match p {
        6 => "tcp",
        17 => "udp",
        1 | 58 => "icmp",
        _ => "other",
    }
}

impl State {
    /// The series of service `addr` (`address`), transport `proto` and `l7`.
    fn service(&mut self, addr: String, proto: u8, l7: &'static str) -> &mut Service {
        let l7 = if l7.is_empty() { "none" } else { l7 };
        let max = self.max_services;
        let key = labelled(&self.services, (addr, transport(proto), l7), max, |k| {
            ("other".into(), k.1, k.2)
        });
        self.services.entry(key).or_default()
    }

    /// Counts flow log row `r`'s flow opening (its first row) or closing (its last), for the
    /// service at `addr`.
    fn add_open(&mut self, addr: String, r: &L4FlowLog) {
        let max = self.max_services;
        let key = labelled(&self.open, (addr, transport(r.peers.protocol)), max, |k| {
            ("other".into(), k.1)
        });
        let open = self.open.entry(key).or_default();
        match (r.is_new_flow, r.close_type != 5) {
            (true, false) => *open += 1,
            (false, true) => *open = open.saturating_sub(1),
            _ => {}
        }
    }

    fn add_flow(&mut self, r: &L4FlowLog) {
        let addr = address(r.peers.ip_1, r.peers.server_port);
        self.add_open(addr.clone(), r);
        let s = self.service(addr, r.peers.protocol, r.l7_protocol_str);
        s.new_flows += u64::from(r.is_new_flow);
        if r.close_type != 5 {
            *s.closed.entry(r.close_type_name).or_default() += 1;
        }
        s.packets[0] += r.packet_tx;
        s.packets[1] += r.packet_rx;
        s.bytes[0] += r.byte_tx;
        s.bytes[1] += r.byte_rx;
        s.retrans[0] += u64::from(r.retrans_tx);
        s.retrans[1] += u64::from(r.retrans_rx);
        s.zero_win[0] += u64::from(r.zero_win_tx);
        s.zero_win[1] += u64::from(r.zero_win_rx);
        if r.is_new_flow && r.rtt > 0 {
            s.rtt.observe(u64::from(r.rtt), 1);
        }
        if r.srt_count > 0 {
            s.srt
                .observe(r.srt_sum / u64::from(r.srt_count), u64::from(r.srt_count));
        }
        if r.art_count > 0 {
            s.art
                .observe(r.art_sum / u64::from(r.art_count), u64::from(r.art_count));
        }
    }

    fn add_request(&mut self, r: &L7FlowLog) {
        let addr = address(r.peers.ip_1, r.peers.server_port);
        let s = self.service(addr, r.peers.protocol, r.l7_protocol_str);
        s.requests += u64::from(r.counts_request());
        s.responses += u64::from(r.counts_response());
        match r.response_status {
            2 => s.timeouts += 1,
            3 => s.server_errors += 1,
            4 => s.client_errors += 1,
            _ => {}
        }
        if r.row_type == TYPE_SESSION && r.response_duration > 0 {
            s.rrt.observe(r.response_duration, 1);
        }
    }

    fn render(&self) -> String {
        let mut out = String::with_capacity(4096 + self.services.len() * 4096);
        for (name, v, gauge) in &self.own {
            let kind = if *gauge { "gauge" } else { "counter" };
            let _ = writeln!(
                out,
                "# HELP {name} tapflow's own {kind} (stats.json, docs/records.md).\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        for (name, kind, help, i) in [
            (
                "tapflow_agent_worker_frames_total",
                "counter",
                "Frames a capture worker took.",
                0,
            ),
            (
                "tapflow_agent_worker_kernel_drops_total",
                "counter",
                "Frames the kernel or NIC dropped for a worker's queue.",
                1,
            ),
            (
                "tapflow_agent_worker_active_flows",
                "gauge",
                "Flows a worker tracks.",
                2,
            ),
        ] {
            if self.workers.is_empty() {
                continue;
            }
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (w, v) in self.workers.iter().enumerate() {
                let _ = writeln!(out, "{name}{{worker=\"{w}\"}} {}", v[i]);
            }
        }
        let name = "tapflow_open_flows";
        let _ = writeln!(
            out,
            "# HELP {name} Flows open now (first row seen, last not yet) per service and transport.\n# TYPE {name} gauge"
        );
        let mut open: Vec<_> = self.open.iter().collect();
        open.sort();
        for ((service, protocol), v) in open {
            let _ = writeln!(
                out,
                "{name}{{service=\"{service}\",protocol=\"{protocol}\"}} {v}"
            );
        }
        let mut keys: Vec<&ServiceKey> = self.services.keys().collect();
        keys.sort();
        let labels = |k: &ServiceKey| {
            format!(
                "service=\"{}\",protocol=\"{}\",l7_protocol=\"{}\"",
                k.0, k.1, k.2
            )
        };
        let counter =
            |out: &mut String, name: &str, help: &str, f: &dyn Fn(&Service, &str, &mut String)| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
                for k in &keys {
                    f(&self.services[*k], &labels(k), out);
                }
            };
        counter(
            &mut out,
            "tapflow_l7_requests_total",
            "Requests (l7_flow_log rows with a request).",
            &|s, l, o| {
                let _ = writeln!(o, "tapflow_l7_requests_total{{{l}}} {}", s.requests);
            },
        );
        counter(
            &mut out,
            "tapflow_l7_responses_total",
            "Responses.",
            &|s, l, o| {
                let _ = writeln!(o, "tapflow_l7_responses_total{{{l}}} {}", s.responses);
            },
        );
        counter(
            &mut out,
            "tapflow_l7_errors_total",
            "Client errors, server errors and timeouts (DeepFlow's response_status).",
            &|s, l, o| {
                for (class, v) in [
                    ("client", s.client_errors),
                    ("server", s.server_errors),
                    ("timeout", s.timeouts),
                ] {
                    let _ = writeln!(o, "tapflow_l7_errors_total{{{l},class=\"{class}\"}} {v}");
                }
            },
        );
        counter(
            &mut out,
            "tapflow_flows_total",
            "Flows started.",
            &|s, l, o| {
                let _ = writeln!(o, "tapflow_flows_total{{{l}}} {}", s.new_flows);
            },
        );
        counter(
            &mut out,
            "tapflow_flows_closed_total",
            "Flows ended, by DeepFlow close type (resets, SYN without answer, timeouts, ...).",
            &|s, l, o| {
                let mut c: Vec<_> = s.closed.iter().collect();
                c.sort();
                for (t, v) in c {
                    let _ = writeln!(
                        o,
                        "tapflow_flows_closed_total{{{l},close_type=\"{t}\"}} {v}"
                    );
                }
            },
        );
        for (name, help, pick) in [
            (
                "tapflow_packets_total",
                "Packets; direction tx = client to server.",
                (|s: &Service| s.packets) as fn(&Service) -> [u64; 2],
            ),
            (
                "tapflow_bytes_total",
                "Bytes (L2 + IP); direction tx = client to server.",
                |s: &Service| s.bytes,
            ),
            (
                "tapflow_tcp_retransmissions_total",
                "TCP retransmissions.",
                |s: &Service| s.retrans,
            ),
            (
                "tapflow_tcp_zero_windows_total",
                "TCP zero windows.",
                |s: &Service| s.zero_win,
            ),
        ] {
            counter(&mut out, name, help, &|s, l, o| {
                let v = pick(s);
                let _ = writeln!(
                    o,
                    "{name}{{{l},direction=\"tx\"}} {}\n{name}{{{l},direction=\"rx\"}} {}",
                    v[0], v[1]
                );
            });
        }
        for (name, help, pick) in [
            (
                "tapflow_l7_response_time_seconds",
                "Request to response time (RRT) per request.",
                (|s: &Service| &s.rrt) as fn(&Service) -> &Hist,
            ),
            (
                "tapflow_tcp_rtt_seconds",
                "TCP handshake round trip per flow.",
                |s: &Service| &s.rtt,
            ),
            (
                "tapflow_tcp_srt_seconds",
                "TCP system response time (per flow and minute, its mean per sample).",
                |s: &Service| &s.srt,
            ),
            (
                "tapflow_tcp_art_seconds",
                "Application response time (per flow and minute, its mean per sample).",
                |s: &Service| &s.art,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for k in &keys {
                pick(&self.services[*k]).render(&mut out, name, &labels(k));
            }
        }
        out
    }
}

/// The endpoint: a sink for the logs, and the HTTP thread that serves them.
pub struct PrometheusSink {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub local_addr: SocketAddr,
    stats: SinkStats,
}

impl std::fmt::Debug for PrometheusSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusSink")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

/// A shared handle for the self-monitoring counters (the run's summary updates them).
#[derive(Debug, Clone)]
pub struct PrometheusCounters(Arc<Mutex<State>>);

impl PrometheusCounters {
    /// Replaces the self-monitoring series: (name without prefix, value, is a gauge).
    pub fn set(&self, values: impl IntoIterator<Item = (String, u64, bool)>) {
        let own: Vec<(String, u64, bool)> = values
            .into_iter()
            .map(|(n, v, g)| {
                let name: String = n
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                // `tapflow_agent_*`: the analyzer's own counters (apart from the per-service
                // series of the same subjects).
                let gauge = g || name.ends_with("peak");
                let name = if gauge {
                    format!("tapflow_agent_{name}")
                } else {
                    format!("tapflow_agent_{name}_total")
                };
                (name, v, gauge)
            })
            .collect();
        if let Ok(mut s) = self.0.lock() {
            s.own = own;
        }
    }

    /// Replaces the per-worker series: (frames, kernel drops, active flows) per worker.
    pub fn set_workers(&self, workers: &[[u64; 3]]) {
        if let Ok(mut s) = self.0.lock() {
            s.workers = workers.to_vec();
        }
    }
}

impl PrometheusSink {
    /// Listens on `addr` (port 0: any free port, see `local_addr`).
    pub fn start(addr: &str, max_services: usize) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            max_services,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (Arc::clone(&state), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("prometheus".into())
            .spawn(move || serve(&listener, &st, &sp))?;
        Ok(PrometheusSink {
            state,
            stop,
            thread: Some(thread),
            local_addr,
            stats: SinkStats::default(),
        })
    }

    pub fn counters(&self) -> PrometheusCounters {
        PrometheusCounters(Arc::clone(&self.state))
    }

    /// The exposition text now (tests, and the HTTP thread).
    pub fn render(&self) -> String {
        self.state.lock().map(|s| s.render()).unwrap_or_default()
    }
}

impl Drop for PrometheusSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: &TcpListener, state: &Mutex<State>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let (mut conn, _) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(_) => continue,
        };
        let _ = conn.set_nonblocking(false);
        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
        // The request head (bounded); only GET /metrics is served.
        let mut head = [0u8; 2048];
        let n = conn.read(&mut head).unwrap_or(0);
        let line = String::from_utf8_lossy(&head[..n]);
        let (status, body) = if line.starts_with("GET /metrics") {
            (
                "200 OK",
                state.lock().map(|s| s.render()).unwrap_or_default(),
            )
        } else {
            ("404 Not Found", "only /metrics\n".to_string())
        };
        let _ = write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}

impl Sink for PrometheusSink {
    fn name(&self) -> &'static str {
        "prometheus"
    }

    /// RED series are metrics: every row counts, whatever the flow log filters keep.
    fn derives_metrics(&self) -> bool {
        true
    }

    fn write(&mut self, rec: RecordRef<'_>) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        match rec {
            RecordRef::L4FlowLog(r) => s.add_flow(r),
            RecordRef::L7FlowLog(r) => s.add_request(r),
            _ => return,
        }
        self.stats.count(rec.kind());
    }

    fn write_batch(&mut self, batch: &tapflow_analyzer::RecordBatch) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        for r in &batch.l4 {
            s.add_flow(r);
        }
        for r in &batch.l7 {
            s.add_request(r);
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    fn stats(&self) -> SinkStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapflow_analyzer::engine::sample::{syn_row, Syn};

    fn row(client_port: u16, new: bool, close_type: u8, l7: &'static str) -> L4FlowLog {
        let mut r = syn_row(Syn {
            client: ([10, 0, 0, 1], client_port).into(),
            server: ([10, 0, 0, 2], 3306).into(),
            window: 1,
            ts_ns: 1_700_000_000_000_000_000,
            wire_len: None,
        });
        r.is_new_flow = new;
        r.close_type = close_type;
        r.l7_protocol_str = l7;
        r
    }

    fn open_flows(s: &State) -> Vec<String> {
        s.render()
            .lines()
            .filter(|l| l.starts_with("tapflow_open_flows{"))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn open_flows_follow_first_and_last_rows_whatever_protocol_they_name() {
        let mut s = State {
            max_services: 1,
            ..State::default()
        };
        const FORCED: u8 = 5;
        const FIN: u8 = 1;
        // Two connections open (the protocol is known only from their later rows), a short
        // one opens and closes in one row.
        s.add_flow(&row(1, true, FORCED, ""));
        s.add_flow(&row(2, true, FORCED, ""));
        s.add_flow(&row(3, true, FIN, "MySQL"));
        s.add_flow(&row(1, false, FORCED, "MySQL"));
        let service = "service=\"10.0.0.2:3306\",protocol=\"tcp\"";
        assert_eq!(
            open_flows(&s),
            [format!("tapflow_open_flows{{{service}}} 2")]
        );
        s.add_flow(&row(1, false, FIN, "MySQL"));
        assert_eq!(
            open_flows(&s),
            [format!("tapflow_open_flows{{{service}}} 1")]
        );
        // A closing row of a flow opened before the counts began stays at zero.
        s.add_flow(&row(2, false, FIN, "MySQL"));
        s.add_flow(&row(4, false, FIN, "MySQL"));
        assert_eq!(
            open_flows(&s),
            [format!("tapflow_open_flows{{{service}}} 0")]
        );
        // Beyond `max_services`: "other".
        let mut other = row(5, true, FORCED, "");
        other.peers.server_port = 5432;
        s.add_flow(&other);
        assert_eq!(
            open_flows(&s)[1],
            "tapflow_open_flows{service=\"other\",protocol=\"tcp\"} 1"
        );
    }
}
