//! The collector's counters (`integration.*` in stats.json).

use std::sync::atomic::{AtomicU64, Ordering};

/// The collector's counters (`integration.*` in stats.json).
#[derive(Debug, Default)]
pub struct CollectorCounters {
    pub connections: AtomicU64,
    pub refused_connections: AtomicU64,
    pub trace_requests: AtomicU64,
    pub spans: AtomicU64,
    pub prometheus_requests: AtomicU64,
    pub telegraf_requests: AtomicU64,
    pub telegraf_lines: AtomicU64,
    /// Profile requests (ingest and push) and the profiles forwarded.
    pub profile_requests: AtomicU64,
    pub profiles: AtomicU64,
    /// SkyWalking segment requests and the segments forwarded.
    pub skywalking_requests: AtomicU64,
    pub skywalking_segments: AtomicU64,
    /// Application log requests and the entries forwarded.
    pub log_requests: AtomicU64,
    pub logs: AtomicU64,
    /// Application documents sent from spans, and spans or documents not counted (a window
    /// already sent, the key bound, a full queue).
    pub span_documents: AtomicU64,
    pub span_metrics_dropped: AtomicU64,
    /// Body bytes received (as sent, before gunzip).
    pub bytes: AtomicU64,
    /// Requests answered 404 (an unknown path or method).
    pub not_found: AtomicU64,
    /// Requests answered 400: bad gzip, not OTLP protobuf, not UTF-8 text.
    pub malformed: AtomicU64,
    /// Requests answered 413 (body or one piece too large) or 408 (body too slow).
    pub too_large: AtomicU64,
    pub too_slow: AtomicU64,
    /// Requests answered 503: no ingester set, or its queue full.
    pub no_ingester: AtomicU64,
    pub queue_full: AtomicU64,
    /// Requests of a kind `feature_control` turns off (answered 200, dropped, as DeepFlow does).
    pub disabled: AtomicU64,
}

impl CollectorCounters {
    pub fn entries(&self) -> Vec<(&'static str, u64)> {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("integration.connections", r(&self.connections)),
            (
                "integration.refused_connections",
                r(&self.refused_connections),
            ),
            ("integration.trace_requests", r(&self.trace_requests)),
            ("integration.spans", r(&self.spans)),
            (
                "integration.prometheus_requests",
                r(&self.prometheus_requests),
            ),
            ("integration.telegraf_requests", r(&self.telegraf_requests)),
            ("integration.telegraf_lines", r(&self.telegraf_lines)),
            ("integration.profile_requests", r(&self.profile_requests)),
            ("integration.profiles", r(&self.profiles)),
            (
                "integration.skywalking_requests",
                r(&self.skywalking_requests),
            ),
            (
                "integration.skywalking_segments",
                r(&self.skywalking_segments),
            ),
            ("integration.log_requests", r(&self.log_requests)),
            ("integration.logs", r(&self.logs)),
            ("integration.span_documents", r(&self.span_documents)),
            (
                "integration.span_metrics_dropped",
                r(&self.span_metrics_dropped),
            ),
            ("integration.bytes", r(&self.bytes)),
            ("integration.not_found", r(&self.not_found)),
            ("integration.malformed", r(&self.malformed)),
            ("integration.too_large", r(&self.too_large)),
            ("integration.too_slow", r(&self.too_slow)),
            ("integration.no_ingester", r(&self.no_ingester)),
            ("integration.queue_full", r(&self.queue_full)),
            ("integration.disabled", r(&self.disabled)),
        ]
    }
}
