//! The response rows of an HTTP/2 connection: status (gRPC's from the trailers, else `:status`),
//! exception (`grpc-message`, or the `message` of a Triple unary error's JSON body), length and
//! the response headers' tags.

use super::super::exchange::{Exchange, Pairing};
use super::super::protocol::L7Protocol;
use super::super::{tags, ResponseStatus};
use super::headers::Headers;

pub(super) fn grpc_status_of(code: u32) -> ResponseStatus {
    match code {
        0 => ResponseStatus::Ok,
        // CANCELLED, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED,
        // FAILED_PRECONDITION, OUT_OF_RANGE, UNAUTHENTICATED.
        1 | 3 | 5 | 6 | 7 | 9 | 11 | 16 => ResponseStatus::ClientError,
        _ => ResponseStatus::ServerError,
    }
}

pub(super) fn http_status_of(code: u16) -> ResponseStatus {
    match code {
        400..=499 => ResponseStatus::ClientError,
        500..=599 => ResponseStatus::ServerError,
        _ => ResponseStatus::Ok,
    }
}

/// Writes the response of `stream` with its head's `(time, sequence number)`.
pub(super) fn emit(
    x: &mut Exchange<'_>,
    stream: u32,
    status: Option<u16>,
    at: (u64, u32),
    h: Option<&Headers>,
    flags: (bool, bool),
    captured: u32,
) {
    write(x, stream, status, at, h, flags, (captured, None));
}

/// Writes the response of `stream` whose head had no gRPC framing and whose body said
/// `message` (Triple's unary errors).
pub(super) fn emit_with_message(
    x: &mut Exchange<'_>,
    stream: u32,
    status: Option<u16>,
    at: (u64, u32),
    partial: bool,
    message: Option<&[u8]>,
) {
    write(x, stream, status, at, None, (false, partial), (0, message));
}

/// The response row: `(grpc, partial)` flags, `(captured bytes, the body's message)`.
fn write(
    x: &mut Exchange<'_>,
    stream: u32,
    status: Option<u16>,
    (ts, seq): (u64, u32),
    h: Option<&Headers>,
    (grpc, partial): (bool, bool),
    (captured, message): (u32, Option<&[u8]>),
) {
    let cfg = x.settings();
    x.response_at(ts, seq, Pairing::Key(stream), captured, |row| {
        row.request_id = Some(stream);
        row.headers_partial |= partial;
        if row.version.is_empty() {
            row.version.push_lossy(b"2");
        }
        let grpc_status = h
            .and_then(|h| h.get("grpc-status"))
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u32>().ok());
        if grpc && row.l7_protocol != L7Protocol::Triple.id() {
            row.l7_protocol = L7Protocol::Grpc.id();
            row.l7_protocol_str = L7Protocol::Grpc.name();
        }
        let (code, st) = match (grpc_status, status) {
            (Some(g), _) if grpc => (Some(g as i32), grpc_status_of(g)),
            (_, Some(s)) => (Some(i32::from(s)), http_status_of(s)),
            (Some(g), None) => (Some(g as i32), grpc_status_of(g)),
            (None, None) => (None, ResponseStatus::Unknown),
        };
        row.response_code = code;
        row.response_status = st.code();
        if let Some(m) = message {
            row.response_exception.push_lossy(m);
        }
        if let Some(h) = h {
            if let Some(m) = h.get("grpc-message") {
                row.response_exception.push_lossy(m);
            }
            if let Some(n) = h
                .get("content-length")
                .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
            {
                row.response_length = n;
            }
            tags::extract(&cfg.tags, false, |n| h.get(n), row);
            tags::custom(&cfg.custom_fields.http2, |n| h.get(n), row);
        }
    });
}

/// The string value of the first `"message"` key of a JSON body (as written: escapes are kept),
/// as far as it was captured: Triple's unary errors (`{"code":"not_found","message":"..."}`).
pub(crate) fn json_message(body: &[u8]) -> Option<&[u8]> {
    const KEY: &[u8] = b"\"message\"";
    let at = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = body[at..].trim_ascii_start().strip_prefix(b":")?;
    let value = rest.trim_ascii_start().strip_prefix(b"\"")?;
    let mut escaped = false;
    let end = value
        .iter()
        .position(|&b| {
            let end = b == b'"' && !escaped;
            escaped = b == b'\\' && !escaped;
            end
        })
        .unwrap_or(value.len());
    Some(&value[..end])
}

#[cfg(test)]
mod tests {
    use super::json_message;

    #[test]
    fn json_messages() {
        let m = |b: &[u8]| json_message(b).map(|m| String::from_utf8_lossy(m).into_owned());
        assert_eq!(
            m(br#"{"code":"not_found","message":"no such user: 7"}"#).as_deref(),
            Some("no such user: 7")
        );
        assert_eq!(
            m(br#"{ "message" : "a \"b\" c", "x": 1 }"#).as_deref(),
            Some(r#"a \"b\" c"#)
        );
        // Cut by the segment: what arrived.
        assert_eq!(m(br#"{"message":"trunc"#).as_deref(), Some("trunc"));
        assert_eq!(m(br#"{"code":"internal"}"#), None);
        assert_eq!(m(br#"{"message": 7}"#), None);
        assert_eq!(m(b""), None);
    }
}
