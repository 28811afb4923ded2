//! Trace and request ids from message headers (DeepFlow's `tag_extraction.tracing_tag`,
//! `deepflow-facts.md` section 4.6).
//!
//! Each setting is a list of header names; the first header present wins. The name also picks the
//! format: `traceparent` (W3C: `00-TRACE-SPAN-01`), `sw8` / `sw6` (SkyWalking: base64 trace id,
//! span = segment id + `-` + span id), `sw3` (`|`-separated), `uber-trace-id`
//! (`TRACE:SPAN:PARENT:FLAGS`), `b3` (`TRACE-SPAN-...`); any other header is taken whole
//! (`x-b3-traceid`, custom ids). Names compare case-insensitively with '-' and '_' alike.

use super::config::TracingTags;
use super::http1::same_header_name;
use super::inline::InlineBytes;
use crate::record::L7FlowLog;

/// The comments of one SQL statement, where DeepFlow reads trace ids from:
/// `/* traceparent: 00-...-01 */` or sqlcommenter's `/*traceparent='00-...-01',tracestate='..'*/`
/// (pairs separated by `,` or `;`, `:` or `=` between key and value, quotes removed). Only the
/// comments within the statement (what was captured of it) are read. Found once for every name
/// looked up in them: most statements have none, one vectorized search, not one scan per
/// tracing header name.
#[derive(Debug, Clone, Copy)]
pub struct SqlComments<'a> {
    /// From the first `/*` on; empty when there is none.
    from_first: &'a [u8],
}

impl<'a> SqlComments<'a> {
    pub fn of(sql: &'a [u8]) -> Self {
        let from_first = memchr::memmem::find(sql, b"/*").map_or(&[][..], |at| &sql[at..]);
        SqlComments { from_first }
    }

    /// The value of `name` in the comments (the first one given, not empty).
    pub fn value(&self, name: &str) -> Option<&'a [u8]> {
        let mut rest = self.from_first;
        while let Some(start) = memchr::memmem::find(rest, b"/*") {
            let body = &rest[start + 2..];
            let end = memchr::memmem::find(body, b"*/").unwrap_or(body.len());
            for pair in body[..end].split(|c| *c == b',' || *c == b';') {
                let Some(sep) = pair.iter().position(|c| *c == b':' || *c == b'=') else {
                    continue;
                };
                let key = pair[..sep].trim_ascii();
                let value = pair[sep + 1..].trim_ascii();
                let value = value
                    .strip_prefix(b"'")
                    .and_then(|v| v.strip_suffix(b"'"))
                    .unwrap_or(value);
                if std::str::from_utf8(key).is_ok_and(|k| same_header_name(k, name))
                    && !value.is_empty()
                {
                    return Some(value);
                }
            }
            rest = &body[end..];
        }
        None
    }
}

/// The `n`th `sep`-separated field of `v`.
fn field(v: &[u8], sep: u8, n: usize) -> Option<&[u8]> {
    v.split(|&c| c == sep).nth(n).filter(|f| !f.is_empty())
}

fn b64_value(c: u8) -> Option<u8> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    })
}

/// Decodes base64 (standard or URL alphabet, padding optional) into `out`; false when `v` is not
/// base64 (then `out` is left empty).
fn base64_into<const N: usize>(v: &[u8], out: &mut InlineBytes<N>) -> bool {
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in v.iter().take_while(|&&c| c != b'=') {
        let Some(d) = b64_value(c) else {
            out.clear();
            return false;
        };
        acc = (acc << 6) | u32::from(d);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push_lossy(&[(acc >> bits) as u8]);
        }
    }
    true
}

/// What one header gives as (trace id, span id).
fn trace_and_span<const T: usize, const S: usize>(
    name: &str,
    v: &[u8],
    trace: &mut InlineBytes<T>,
    span: &mut InlineBytes<S>,
) {
    let is = |n: &str| same_header_name(name, n);
    if is("traceparent") {
        set(trace, field(v, b'-', 1));
        set(span, field(v, b'-', 2));
    } else if is("sw8") || is("sw6") {
        if let Some(t) = field(v, b'-', 1) {
            if trace.is_empty() && !base64_into(t, trace) {
                trace.push_lossy(t);
            }
        }
        if let (Some(seg), Some(id)) = (field(v, b'-', 2), field(v, b'-', 3)) {
            if span.is_empty() {
                if !base64_into(seg, span) {
                    span.push_lossy(seg);
                }
                span.push_lossy(b"-");
                span.push_lossy(id);
            }
        }
    } else if is("sw3") {
        set(trace, field(v, b'|', 7));
        if let (Some(seg), Some(id)) = (field(v, b'|', 0), field(v, b'|', 1)) {
            if span.is_empty() {
                span.push_lossy(seg);
                span.push_lossy(b"-");
                span.push_lossy(id);
            }
        }
    } else if is("uber-trace-id") {
        set(trace, field(v, b':', 0));
        set(span, field(v, b':', 1));
    } else if is("b3") {
        set(trace, field(v, b'-', 0));
        set(span, field(v, b'-', 1));
    } else {
        set(trace, Some(v));
        set(span, Some(v));
    }
}

fn set<const N: usize>(dst: &mut InlineBytes<N>, v: Option<&[u8]>) {
    if let Some(v) = v.map(trim) {
        if dst.is_empty() && !v.is_empty() {
            dst.push_lossy(v);
        }
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let s = v
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(v.len());
    let e = v
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(s, |e| e + 1);
    &v[s..e]
}

/// The attribute `copy_apm_trace_id` copies the trace id into (DeepFlow's name).
pub const APM_TRACE_ID: &[u8] = b"apm_trace_id";

/// Fills the row's trace id, span id, x-request-id (`_0` for a request, `_1` for a response) and,
/// for a request, the proxy client, from headers looked up by `find(name)`.
pub fn extract<'a>(
    tags: &TracingTags,
    is_request: bool,
    find: impl Fn(&str) -> Option<&'a [u8]>,
    row: &mut L7FlowLog,
) {
    // The first header present gives the trace id; with `multiple_trace_id_collection` the
    // next one giving another id gives `trace_id_2`.
    let headers = if tags.multiple_trace_id_collection {
        tags.apm_trace_id.len()
    } else {
        1
    };
    for (name, v) in present(&tags.apm_trace_id, &find).take(headers) {
        let (mut id, mut scratch) = (InlineBytes::<64>::EMPTY, InlineBytes::<64>::EMPTY);
        trace_and_span(name, v, &mut id, &mut scratch);
        if id.is_empty() || id == row.trace_id || id == row.trace_id_2 {
            continue;
        }
        if row.trace_id.is_empty() {
            row.trace_id = id;
        } else if tags.multiple_trace_id_collection && row.trace_id_2.is_empty() {
            row.trace_id_2 = id;
        }
    }
    if tags.copy_apm_trace_id && !row.trace_id.is_empty() && !row.attributes.contains(APM_TRACE_ID)
    {
        row.attributes.push(APM_TRACE_ID, row.trace_id.as_bytes());
    }
    if let Some((name, v)) = first(&tags.apm_span_id, &find) {
        let mut scratch = InlineBytes::<64>::EMPTY;
        trace_and_span(name, v, &mut scratch, &mut row.span_id);
    }
    if let Some((_, v)) = first(&tags.x_request_id, &find) {
        let dst = if is_request {
            &mut row.x_request_id_0
        } else {
            &mut row.x_request_id_1
        };
        set(dst, Some(v));
    }
    if is_request {
        if let Some((_, v)) = first(&tags.http_real_client, &find) {
            set(&mut row.http_proxy_client, field(v, b',', 0));
        }
    }
}

/// Keeps the headers of `fields` that `find(name)` gives as the row's attributes (a request's
/// value before its response's).
pub fn custom<'a>(
    fields: &[super::config::CustomField],
    find: impl Fn(&str) -> Option<&'a [u8]>,
    row: &mut L7FlowLog,
) {
    for f in fields {
        if let Some(v) = find(&f.header) {
            if !row.attributes.contains(&f.attr) {
                row.attributes.push(&f.attr, trim(v));
            }
        }
    }
}

fn first<'a, 'n>(
    names: &'n [String],
    find: &impl Fn(&str) -> Option<&'a [u8]>,
) -> Option<(&'n str, &'a [u8])> {
    present(names, find).next()
}

/// The headers of `names` that `find` gives, in the order of `names`.
fn present<'a, 'n, 'f, F: Fn(&str) -> Option<&'a [u8]>>(
    names: &'n [String],
    find: &'f F,
) -> impl Iterator<Item = (&'n str, &'a [u8])> + use<'a, 'n, 'f, F> {
    names
        .iter()
        .filter_map(move |n| find(n).map(|v| (n.as_str(), v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_comments_are_read_wherever_they_are() {
        let v = |sql: &str, name: &str| {
            SqlComments::of(sql.as_bytes())
                .value(name)
                .map(<[u8]>::to_vec)
        };
        assert_eq!(v("SELECT 1", "traceparent"), None);
        assert_eq!(v("SELECT '*/' FROM t", "traceparent"), None);
        assert_eq!(
            v(
                "SELECT 1 /* a=b */ /*traceparent='00-t-s-01'*/",
                "TraceParent"
            ),
            Some(b"00-t-s-01".to_vec())
        );
        assert_eq!(
            v("/* sw8: x; traceparent : y */ SELECT 1", "traceparent"),
            Some(b"y".to_vec())
        );
        // Cut off in its comment: the rest of what was captured is the comment.
        assert_eq!(
            v("SELECT 1 /* traceparent=abc", "traceparent"),
            Some(b"abc".to_vec())
        );
        assert_eq!(v("SELECT 1 /* traceparent= */", "traceparent"), None);
        assert_eq!(v("SELECT 1 /*", "traceparent"), None);
        let c = SqlComments::of(b"UPDATE t SET a=1 /* b3=1-2, sw8=3 */");
        assert_eq!(c.value("b3"), Some(&b"1-2"[..]));
        assert_eq!(c.value("sw8"), Some(&b"3"[..]));
        assert_eq!(SqlComments::of(b"UPDATE t SET a=1").value("a"), None);
    }

    fn run(headers: &[(&str, &str)], is_request: bool) -> L7FlowLog {
        let mut row = L7FlowLog::default();
        let tags = TracingTags {
            apm_trace_id: ["traceparent", "sw8", "uber-trace-id", "b3", "X-B3-TraceId"]
                .map(String::from)
                .to_vec(),
            apm_span_id: ["traceparent", "sw8", "uber-trace-id", "b3"]
                .map(String::from)
                .to_vec(),
            ..TracingTags::default()
        };
        let find = |n: &str| {
            headers
                .iter()
                .find(|(h, _)| same_header_name(h, n))
                .map(|(_, v)| v.as_bytes())
        };
        extract(&tags, is_request, find, &mut row);
        row
    }

    fn s<const N: usize>(b: &InlineBytes<N>) -> &str {
        std::str::from_utf8(b.as_bytes()).unwrap()
    }

    #[test]
    fn formats() {
        let r = run(
            &[(
                "Traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )],
            true,
        );
        assert_eq!(s(&r.trace_id), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(s(&r.span_id), "b7ad6b7169203331");
        // sw8: 1-base64(trace)-base64(segment)-span-...
        let r = run(
            &[("sw8", "1-dHJhY2UtMQ==-c2VnLTE=-3-c3Zj-aW5z-L2E=-aG9zdA==")],
            true,
        );
        assert_eq!(s(&r.trace_id), "trace-1");
        assert_eq!(s(&r.span_id), "seg-1-3");
        let r = run(&[("uber-trace-id", "abc123:def456:0:1")], true);
        assert_eq!((s(&r.trace_id), s(&r.span_id)), ("abc123", "def456"));
        let r = run(&[("b3", "80f198ee56343ba8-e457b5a2e4d86bd1-1")], true);
        assert_eq!(s(&r.trace_id), "80f198ee56343ba8");
        let r = run(&[("x-b3-traceid", " 463ac35c9f6413ad ")], true);
        assert_eq!(s(&r.trace_id), "463ac35c9f6413ad");
        assert!(r.span_id.is_empty());
    }

    #[test]
    fn a_second_trace_id_from_another_header() {
        let tp = (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        );
        let sw8 = ("sw8", "1-dHJhY2UtMQ==-c2VnLTE=-3-c3Zj-aW5z-L2E=-aG9zdA==");
        let r = run(&[sw8, tp], true);
        // In the order of `apm_trace_id`, not of the headers.
        assert_eq!(s(&r.trace_id), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(s(&r.trace_id_2), "trace-1");
        let same = ("uber-trace-id", "0af7651916cd43dd8448eb211c80319c:1:0:1");
        let r = run(&[tp, same], true);
        assert!(r.trace_id_2.is_empty(), "the same id twice");
        let mut row = L7FlowLog::default();
        let tags = TracingTags {
            multiple_trace_id_collection: false,
            ..TracingTags::default()
        };
        let find = |n: &str| {
            [tp, sw8]
                .iter()
                .find(|(h, _)| same_header_name(h, n))
                .map(|(_, v)| v.as_bytes())
        };
        extract(&tags, true, find, &mut row);
        assert_eq!(s(&row.trace_id), "0af7651916cd43dd8448eb211c80319c");
        assert!(row.trace_id_2.is_empty(), "off");
        // A response's headers add to the request's.
        let mut row = run(&[tp], true);
        let find = |n: &str| same_header_name("sw8", n).then_some(sw8.1.as_bytes());
        extract(&TracingTags::default(), false, find, &mut row);
        assert_eq!(s(&row.trace_id_2), "trace-1");
    }

    #[test]
    fn request_ids_and_proxy_client() {
        let h = [
            ("x-request-id", "req-1"),
            ("X-Forwarded-For", "203.0.113.7, 10.0.0.1"),
        ];
        let r = run(&h, true);
        assert_eq!(s(&r.x_request_id_0), "req-1");
        assert_eq!(s(&r.http_proxy_client), "203.0.113.7");
        let r = run(&h, false);
        assert_eq!(s(&r.x_request_id_1), "req-1");
        assert!(r.x_request_id_0.is_empty() && r.http_proxy_client.is_empty());
    }

    #[test]
    fn hostile_values_are_bounded() {
        let long = "a".repeat(10_000);
        let r = run(&[("traceparent", &format!("00-{long}-x-01"))], true);
        assert_eq!(r.trace_id.as_bytes().len(), 64);
        assert!(r.trace_id.is_truncated());
        let r = run(&[("sw8", "1-!!!-@@-1")], true);
        assert_eq!(s(&r.trace_id), "!!!", "not base64: kept as sent");
    }
}
