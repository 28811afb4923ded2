//! DeepFlow's integration collector (`inputs.integration`): the HTTP port (38086) on which
//! applications and their collectors hand an agent telemetry for DeepFlow's server, forwarded
//! over the agent's ingester connection the way DeepFlow's agent forwards it:
//!
//! - `POST /api/v1/otel/trace`: OTLP/HTTP protobuf traces (gzip or not), each `ResourceSpans`
//!   given the sender's address as `app.host.ip` when it has none ([`otel_wire`]); sent as
//!   OpenTelemetryCompressed messages (zlib, `compression.trace`) or OpenTelemetry ones; their
//!   application RED documents are sent as metrics ([`span_metrics`]).
//! - `POST /api/v1/prometheus`: Prometheus remote write, the body as received (snappy), with
//!   the request headers `prometheus_extra_labels` names, as `metric.PrometheusMetric`.
//! - `POST /api/v1/telegraf`: Influx line protocol from Telegraf (gzip or not), cut between
//!   lines into messages that fit a frame.
//! - `POST /api/v1/profile/ingest`: Pyroscope's ingest API, and `POST
//!   [/api/v1/profile]/push.v1.PusherService/Push`: its push API, as `metric.Profile` messages
//!   ([`profile`]).
//! - gRPC `opentelemetry.proto.collector.trace.v1.TraceService/Export` (OTLP over gRPC, HTTP/2
//!   with prior knowledge on the same port): as the OTLP/HTTP traces.
//! - `POST /v3/segment` and `/v3/segments`: SkyWalking traces over its HTTP reporting protocol
//!   (JSON segments), made OpenTelemetry spans ([`skywalking`]) and forwarded as the OTLP traces
//!   are; its agents' `/v3/management/*` calls answered.
//! - `POST /api/v1/log`: application logs as Vector's HTTP sink posts them (a JSON array of
//!   events; gzip or not), forwarded as DeepFlow's ApplicationLog messages (a JSON array each,
//!   cut between entries to fit a frame; one entry sent as an object is made an array), in
//!   zstd frames unless `outputs.compression.application_log` is off.
//!
//! The port serves HTTP/1.1 and HTTP/2 with prior knowledge (gRPC: [`grpc`]). Every request is
//! answered only once its data is queued for the ingester (200; gRPC: status 0), or refused
//! with a status an exporter understands (gRPC: the status these map to, in the trailers): 413
//! too large, 400 malformed, 503 no ingester or its queue full (OTLP exporters retry 503).
//! Bodies are bounded, at most [`IN_FLIGHT`] requests are read at once, connections are bounded
//! and a slow body times out: a hostile or broken client costs a counted refusal and bounded
//! memory.

pub mod app_logs;
mod counters;
pub mod grpc;
pub mod otel_wire;
pub mod profile;
pub mod skywalking;
pub mod span_metrics;

pub use counters::CollectorCounters;

use std::convert::Infallible;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use prost::Message;

use crate::config::IntegrationConfig;
use crate::ingest::forward_queue::{Refused, MAX_MESSAGE};
use crate::ingest::{MessageType, SenderHandle};
use crate::rpc::metric::PrometheusMetric;

/// A request body's bytes at most, as received and once gunzipped.
pub const MAX_BODY: usize = 2 << 20;
pub const MAX_DECODED: usize = 4 << 20;
/// Requests whose bodies are read and handled at once (the others wait their turn).
pub const IN_FLIGHT: usize = 2;
/// Connections open at once at most.
pub const MAX_CONNECTIONS: usize = 256;
/// A request's head, and then its body, must arrive within this.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What the collector may hold at most: for each request handled, its body, the body
/// gunzipped, its pieces and their compressed copies (the spans' rows are within that: a row is
/// made of a span's bytes); and the spans' application documents being summed.
pub fn memory_bytes() -> u64 {
    (IN_FLIGHT * (MAX_BODY + 3 * MAX_DECODED)) as u64 + span_metrics::memory_bytes()
}

/// What every request handler shares.
struct State {
    cfg: IntegrationConfig,
    sender: SenderHandle,
    counters: Arc<CollectorCounters>,
    busy: tokio::sync::Semaphore,
    span_metrics: std::sync::Mutex<span_metrics::SpanMetrics>,
}

/// The running collector: stops when dropped.
#[derive(Debug)]
pub struct Collector {
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
    local_addr: SocketAddr,
    counters: Arc<CollectorCounters>,
}

impl Collector {
    /// Listens on `listen` (port 0: any free one) and forwards through `sender`.
    pub fn start(
        listen: SocketAddr,
        cfg: IntegrationConfig,
        sender: SenderHandle,
    ) -> std::io::Result<Collector> {
        let listener = std::net::TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let counters = Arc::new(CollectorCounters::default());
        let state = Arc::new(State {
            cfg,
            sender,
            counters: Arc::clone(&counters),
            busy: tokio::sync::Semaphore::new(IN_FLIGHT),
            span_metrics: Default::default(),
        });
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("tapflow-integration".into())
            .spawn(move || rt.block_on(serve(listener, state, stop_rx)))?;
        Ok(Collector {
            stop: Some(stop_tx),
            thread: Some(thread),
            local_addr,
            counters,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn counters(&self) -> &CollectorCounters {
        &self.counters
    }

    /// Stops the collector (the spans' open windows sent, as when it is dropped) and gives its
    /// final counters.
    pub fn finish(self) -> Arc<CollectorCounters> {
        let counters = Arc::clone(&self.counters);
        drop(self);
        counters
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let mut conns = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = tick.tick() => send_span_metrics(&state, false),
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let c = &state.counters;
                if conns.len() >= MAX_CONNECTIONS {
                    c.refused_connections.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                c.connections.fetch_add(1, Ordering::Relaxed);
                let st = Arc::clone(&state);
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let st = Arc::clone(&st);
                        async move { Ok::<_, Infallible>(answer(req, peer.ip(), &st).await) }
                    });
                    // HTTP/1.1, and HTTP/2 with prior knowledge for gRPC (OTLP exporters,
                    // SkyWalking agents).
                    let mut b = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    b.http1()
                        .timer(TokioTimer::new())
                        .header_read_timeout(READ_TIMEOUT);
                    // gRPC channels stay open between calls; a peer that stops answering pings
                    // is let go (connections are bounded by MAX_CONNECTIONS).
                    b.http2()
                        .timer(TokioTimer::new())
                        .max_concurrent_streams(IN_FLIGHT as u32 * 4)
                        .keep_alive_interval(Some(Duration::from_secs(30)))
                        .keep_alive_timeout(Duration::from_secs(10));
                    let _ = b.serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    send_span_metrics(&state, true);
}

/// Sends the application documents of the spans' windows that are due (all with `all`).
fn send_span_metrics(st: &State, all: bool) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
    let docs = match st.span_metrics.lock() {
        Ok(mut m) => m.flush(now, all, st.sender.agent_id()),
        Err(_) => return,
    };
    if docs.is_empty() {
        return;
    }
    let c = &st.counters;
    let msgs: Vec<Vec<u8>> = docs.iter().map(Message::encode_to_vec).collect();
    match st.sender.forward(MessageType::Metrics, &msgs) {
        Ok(()) => bump(&c.span_documents, msgs.len() as u64),
        Err(_) => bump(&c.span_metrics_dropped, msgs.len() as u64),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Traces,
    Prometheus,
    Telegraf,
    ProfileIngest,
    ProfilePush,
    SkyWalking,
    /// SkyWalking's gRPC `collect` (a stream of segments) or, `true`, `collectInSync` (a
    /// collection).
    SkyWalkingGrpc(bool),
    /// OTLP over gRPC (`TraceService/Export`).
    OtlpGrpc,
    Logs,
}

/// OTLP's gRPC method for traces (its `ExportTraceServiceRequest` is `TracesData` on the wire,
/// and its empty answer is the empty message [`grpc_reply`] sends).
const OTLP_GRPC: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

type Reply = Response<http_body_util::Either<Full<Bytes>, grpc::GrpcBody>>;

fn reply(status: StatusCode, text: &'static str) -> Reply {
    let body = Full::new(Bytes::from_static(text.as_bytes()));
    let mut r = Response::new(http_body_util::Either::Left(body));
    *r.status_mut() = status;
    r
}

/// A gRPC answer: an empty `Commands` (what SkyWalking's services answer) with status OK, or
/// `status` alone with `text`.
fn grpc_reply(status: u8, text: &str) -> Reply {
    let commands = crate::rpc::skywalking::Commands::default().encode_to_vec();
    let body = if status == grpc::OK {
        grpc::GrpcBody::new(Some(&commands), status, "")
    } else {
        grpc::GrpcBody::new(None, status, text.trim_end())
    };
    let mut r = Response::new(http_body_util::Either::Right(body));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/grpc"),
    );
    r
}

/// Answers a request: gRPC requests (SkyWalking's services) get gRPC answers, the status of
/// what [`handle`] did in their trailers.
async fn answer(req: Request<Incoming>, peer: IpAddr, st: &State) -> Reply {
    let ct = req.headers().get(hyper::header::CONTENT_TYPE);
    if !grpc::is_grpc(ct.map(|v| v.as_bytes())) {
        return handle(req, peer, st).await;
    }
    match req.uri().path() {
        OTLP_GRPC
        | "/skywalking.v3.TraceSegmentReportService/collect"
        | "/skywalking.v3.TraceSegmentReportService/collectInSync" => {}
        // Heartbeats and properties: nothing to keep, nothing to command.
        "/skywalking.v3.ManagementService/reportInstanceProperties"
        | "/skywalking.v3.ManagementService/keepAlive" => return grpc_reply(grpc::OK, ""),
        _ => {
            bump(&st.counters.not_found, 1);
            return grpc_reply(grpc::UNIMPLEMENTED, "not taken by this collector");
        }
    }
    let r = handle(req, peer, st).await;
    let text = match r.body() {
        http_body_util::Either::Left(b) => b
            .clone()
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default(),
        http_body_util::Either::Right(_) => return r,
    };
    let status = match r.status() {
        StatusCode::OK => grpc::OK,
        StatusCode::BAD_REQUEST => grpc::INVALID_ARGUMENT,
        StatusCode::PAYLOAD_TOO_LARGE => grpc::RESOURCE_EXHAUSTED,
        _ => grpc::UNAVAILABLE,
    };
    grpc_reply(status, &text)
}

fn bump(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}

const ABOUT: &str = "tapflow integration collector: POST /api/v1/otel/trace (OTLP/HTTP protobuf), \
                     /api/v1/prometheus (remote write), /api/v1/telegraf (line protocol), \
                     /api/v1/profile/ingest and /push.v1.PusherService/Push (Pyroscope), \
                     /v3/segment(s) (SkyWalking), /api/v1/log (application logs, JSON)\n";

async fn handle(req: Request<Incoming>, peer: IpAddr, st: &State) -> Reply {
    let c = &st.counters;
    let route = match (req.method(), req.uri().path()) {
        (&Method::POST, "/api/v1/otel/trace") => Route::Traces,
        (&Method::POST, "/api/v1/prometheus") => Route::Prometheus,
        (&Method::POST, "/api/v1/telegraf") => Route::Telegraf,
        (&Method::POST, "/api/v1/profile/ingest") => Route::ProfileIngest,
        (&Method::POST, "/push.v1.PusherService/Push")
        | (&Method::POST, "/api/v1/profile/push.v1.PusherService/Push") => Route::ProfilePush,
        (&Method::POST, "/v3/segment") | (&Method::POST, "/v3/segments") => Route::SkyWalking,
        (&Method::POST, OTLP_GRPC) => Route::OtlpGrpc,
        (&Method::POST, "/skywalking.v3.TraceSegmentReportService/collect") => {
            Route::SkyWalkingGrpc(false)
        }
        (&Method::POST, "/skywalking.v3.TraceSegmentReportService/collectInSync") => {
            Route::SkyWalkingGrpc(true)
        }
        // SkyWalking agents' heartbeats and properties: nothing to keep, nothing to command.
        (&Method::POST, p) if p.starts_with("/v3/management/") => {
            return reply(StatusCode::OK, "{}");
        }
        (&Method::POST, "/api/v1/log") => Route::Logs,
        (&Method::GET, "/") => return reply(StatusCode::OK, ABOUT),
        _ => {
            bump(&c.not_found, 1);
            return reply(StatusCode::NOT_FOUND, "not found\n");
        }
    };
    bump(
        match route {
            Route::Traces | Route::OtlpGrpc => &c.trace_requests,
            Route::Prometheus => &c.prometheus_requests,
            Route::Telegraf => &c.telegraf_requests,
            Route::ProfileIngest | Route::ProfilePush => &c.profile_requests,
            Route::SkyWalking | Route::SkyWalkingGrpc(_) => &c.skywalking_requests,
            Route::Logs => &c.log_requests,
        },
        1,
    );
    let off = match route {
        Route::Traces | Route::OtlpGrpc | Route::SkyWalking | Route::SkyWalkingGrpc(_) => {
            st.cfg.traces_disabled
        }
        Route::Prometheus | Route::Telegraf => st.cfg.metrics_disabled,
        Route::ProfileIngest | Route::ProfilePush => st.cfg.profiles_disabled,
        Route::Logs => st.cfg.logs_disabled,
    };
    if off {
        bump(&c.disabled, 1);
        return reply(StatusCode::OK, "");
    }
    // A body declared too large is refused before it is read.
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        bump(&c.too_large, 1);
        return reply(StatusCode::PAYLOAD_TOO_LARGE, "body too large\n");
    }
    let gzip = req
        .headers()
        .get(hyper::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let labels = match route {
        Route::Prometheus => extra_labels(&st.cfg, req.headers()),
        _ => (Vec::new(), Vec::new()),
    };
    let header = |h: hyper::header::HeaderName| req.headers().get(h).map(|v| v.as_bytes().to_vec());
    let content_type = header(hyper::header::CONTENT_TYPE);
    let user_agent = header(hyper::header::USER_AGENT).unwrap_or_default();
    let query = req.uri().query().unwrap_or("").to_string();
    let grpc_gzip = req
        .headers()
        .get("grpc-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let Ok(_permit) = st.busy.acquire().await else {
        return reply(StatusCode::SERVICE_UNAVAILABLE, "stopping\n");
    };
    let body = Limited::new(req.into_body(), MAX_BODY).collect();
    let body = match tokio::time::timeout(READ_TIMEOUT, body).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            bump(&c.too_large, 1);
            return reply(StatusCode::PAYLOAD_TOO_LARGE, "body too large\n");
        }
        Ok(Err(_)) => {
            bump(&c.malformed, 1);
            return reply(StatusCode::BAD_REQUEST, "body not read\n");
        }
        Err(_) => {
            bump(&c.too_slow, 1);
            return reply(StatusCode::REQUEST_TIMEOUT, "body too slow\n");
        }
    };
    bump(&c.bytes, body.len() as u64);
    // Remote write is snappy-compressed by its protocol and forwarded as it came.
    let plain = if gzip && route != Route::Prometheus {
        match gunzip(&body) {
            Ok(p) => p,
            Err(status) => {
                bump(
                    if status == StatusCode::PAYLOAD_TOO_LARGE {
                        &c.too_large
                    } else {
                        &c.malformed
                    },
                    1,
                );
                return reply(status, "bad gzip body\n");
            }
        }
    } else {
        body.to_vec()
    };
    let mut spans = Vec::new();
    let mut skywalking_segments = 0;
    let pieces = match route {
        Route::Traces => traces(&plain, peer, st.cfg.compress_traces, c, &mut spans),
        Route::Prometheus => Ok((
            MessageType::Prometheus,
            vec![PrometheusMetric {
                metrics: plain,
                extra_label_names: labels.0,
                extra_label_values: labels.1,
            }
            .encode_to_vec()],
        )),
        Route::Telegraf => telegraf(&plain, c),
        Route::ProfileIngest => Ok((
            MessageType::Profile,
            vec![
                profile::from_ingest(&query, content_type.as_deref(), plain, peer).encode_to_vec(),
            ],
        )),
        Route::ProfilePush => profiles_pushed(&plain, peer, &user_agent),
        Route::SkyWalking => match skywalking::otlp(&plain) {
            Ok((otlp, n)) => {
                skywalking_segments = n;
                traces(&otlp, peer, st.cfg.compress_traces, c, &mut spans)
            }
            Err(_) => Err((StatusCode::BAD_REQUEST, "not SkyWalking segments (JSON)\n")),
        },
        // Export requests are TracesData on the wire; several messages concatenated are one.
        Route::OtlpGrpc => match grpc::messages(&plain, grpc_gzip, MAX_DECODED) {
            Ok(m) => traces(&m.concat(), peer, st.cfg.compress_traces, c, &mut spans),
            Err(_) => Err((StatusCode::BAD_REQUEST, "not OTLP gRPC messages\n")),
        },
        Route::SkyWalkingGrpc(collection) => {
            match grpc::messages(&plain, grpc_gzip, MAX_DECODED)
                .map_err(|_| ())
                .and_then(|m| skywalking::grpc_otlp(&m, collection).map_err(|_| ()))
            {
                Ok((otlp, n)) => {
                    skywalking_segments = n;
                    traces(&otlp, peer, st.cfg.compress_traces, c, &mut spans)
                }
                Err(()) => Err((StatusCode::BAD_REQUEST, "not SkyWalking segments (gRPC)\n")),
            }
        }
        Route::Logs => logs(&plain),
    };
    let (t, messages) = match pieces {
        Ok(p) => p,
        Err((status, text)) => {
            bump(
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    &c.too_large
                } else {
                    &c.malformed
                },
                1,
            );
            return reply(status, text);
        }
    };
    if t == MessageType::Profile {
        if messages.iter().any(|m| m.len() > MAX_MESSAGE) {
            bump(&c.too_large, 1);
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                "a profile is larger than a frame\n",
            );
        }
        bump(&c.profiles, messages.len() as u64);
    }
    let log_entries = if route == Route::Logs {
        messages.iter().map(|m| app_logs::entries(m)).sum()
    } else {
        0
    };
    match st.sender.forward(t, &messages) {
        // Connect's unary answer: an empty PushResponse.
        Ok(()) if route == Route::ProfilePush => {
            let mut r = reply(StatusCode::OK, "");
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/proto"),
            );
            r
        }
        Ok(()) => {
            bump(&c.logs, log_entries);
            bump(&c.skywalking_segments, skywalking_segments);
            if st.cfg.span_metrics && !spans.is_empty() {
                if let Ok(mut m) = st.span_metrics.lock() {
                    let before = m.dropped;
                    m.add(&spans, st.cfg.span_metrics_second, &st.cfg.endpoints);
                    bump(&c.span_metrics_dropped, m.dropped - before);
                }
            }
            reply(StatusCode::OK, "")
        }
        Err(Refused::TooLarge) => {
            bump(&c.too_large, 1);
            reply(StatusCode::PAYLOAD_TOO_LARGE, "too large for one frame\n")
        }
        Err(Refused::NoIngester) => {
            bump(&c.no_ingester, 1);
            reply(StatusCode::SERVICE_UNAVAILABLE, "no ingester\n")
        }
        Err(Refused::Full) => {
            bump(&c.queue_full, 1);
            reply(StatusCode::SERVICE_UNAVAILABLE, "ingester queue full\n")
        }
    }
}

/// The headers `prometheus_extra_labels` names that the request has, in the configured order,
/// while the names' and values' bytes stay within their budgets (as DeepFlow's agent: the
/// first header past a budget ends the list).
fn extra_labels(cfg: &IntegrationConfig, h: &hyper::HeaderMap) -> (Vec<String>, Vec<String>) {
    let x = &cfg.extra_labels;
    let (mut names, mut values) = (Vec::new(), Vec::new());
    if !x.enabled {
        return (names, values);
    }
    let (mut nb, mut vb) = (0usize, 0usize);
    for name in &x.headers {
        let Some(v) = h.get(name.as_str()) else {
            continue;
        };
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        nb += name.len();
        vb += v.len();
        if nb > x.names_bytes as usize || vb > x.values_bytes as usize {
            break;
        }
        names.push(name.clone());
        values.push(v);
    }
    (names, values)
}

fn gunzip(body: &[u8]) -> Result<Vec<u8>, StatusCode> {
    let mut out = Vec::new();
    let mut d = flate2::read::GzDecoder::new(body).take(MAX_DECODED as u64 + 1);
    d.read_to_end(&mut out)
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    if out.len() > MAX_DECODED {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    Ok(out)
}

type Pieces = Result<(MessageType, Vec<Vec<u8>>), (StatusCode, &'static str)>;

/// The trace messages of `plain` (each ResourceSpans given the sender's address), and its spans
/// as rows into `spans` (for their application documents).
fn traces(
    plain: &[u8],
    peer: IpAddr,
    compress: bool,
    c: &CollectorCounters,
    spans: &mut Vec<crate::clickhouse::otel_l7::SpanRow>,
) -> Pieces {
    // Room for zlib's own bytes when a piece does not compress.
    let max = MAX_MESSAGE - 1024;
    let host = otel_wire::host_text(peer);
    let (pieces, n_spans) = otel_wire::forwardable(plain, &host, max).map_err(|e| match e {
        otel_wire::WireError::TooLarge(_) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "one ResourceSpans is larger than a frame\n",
        ),
        otel_wire::WireError::Malformed(_) => {
            (StatusCode::BAD_REQUEST, "not OTLP protobuf trace data\n")
        }
    })?;
    bump(&c.spans, n_spans);
    for p in &pieces {
        if let Ok(d) = crate::rpc::otel::TracesData::decode(p.as_slice()) {
            spans.extend(crate::clickhouse::otel_l7::span_rows(0, &d));
        }
    }
    if !compress {
        return Ok((MessageType::OpenTelemetry, pieces));
    }
    let zlib = |p: &[u8]| {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, p).and_then(|()| e.finish())
    };
    let mut out = Vec::with_capacity(pieces.len());
    for p in &pieces {
        out.push(zlib(p).map_err(|_| (StatusCode::INTERNAL_SERVER_ERROR, "zlib failed\n"))?);
    }
    Ok((MessageType::OpenTelemetryCompressed, out))
}

fn profiles_pushed(plain: &[u8], peer: IpAddr, user_agent: &[u8]) -> Pieces {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
    let ua = String::from_utf8_lossy(user_agent);
    let msgs = profile::from_push(plain, peer, &ua, now, MAX_DECODED).map_err(|e| {
        let status = if e.contains("too large") {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        (status, e)
    })?;
    Ok((
        MessageType::Profile,
        msgs.iter().map(Message::encode_to_vec).collect(),
    ))
}

/// Application log messages of a JSON body ([`app_logs::messages`]).
fn logs(plain: &[u8]) -> Pieces {
    match app_logs::messages(plain, MAX_MESSAGE) {
        Ok(m) => Ok((MessageType::ApplicationLog, m)),
        Err(app_logs::LogsError::NotJson) => Err((
            StatusCode::BAD_REQUEST,
            "application logs must be a JSON array or object\n",
        )),
        Err(app_logs::LogsError::EntryTooLarge) => Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            "one log entry is larger than a frame\n",
        )),
    }
}

fn telegraf(plain: &[u8], c: &CollectorCounters) -> Pieces {
    if std::str::from_utf8(plain).is_err() {
        return Err((StatusCode::BAD_REQUEST, "line protocol must be UTF-8\n"));
    }
    let (mut pieces, mut cur, mut lines) = (Vec::new(), Vec::new(), 0u64);
    for line in plain.split_inclusive(|b| *b == b'\n') {
        if line.len() > MAX_MESSAGE {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                "one line is larger than a frame\n",
            ));
        }
        if !cur.is_empty() && cur.len() + line.len() > MAX_MESSAGE {
            pieces.push(std::mem::take(&mut cur));
        }
        lines += u64::from(line.iter().any(|b| !b.is_ascii_whitespace()));
        cur.extend_from_slice(line);
    }
    if !cur.is_empty() {
        pieces.push(cur);
    }
    bump(&c.telegraf_lines, lines);
    Ok((MessageType::Telegraf, pieces))
}

#[cfg(test)]
mod tests;
