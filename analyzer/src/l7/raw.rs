//! DeepFlow's `processors.request_log.tag_extraction.raw`: the first bytes of the head and of
//! the body of an exchange that ends in an error, kept as the row's attributes
//! `request_header`, `request_payload`, `response_header` and `response_payload` (DeepFlow's
//! names), so a request log says what a failing request asked and what the server answered.
//!
//! Read for HTTP/1 (as DeepFlow does for packets). The head is the message up to and including
//! its blank line; the payload is the body bytes that came with it in the same stream segment
//! (at most the body's length), or when the body follows its head in a later segment (Python's
//! http.client and http.server write them apart), that segment's: a request's are added while it
//! waits, an error response's head is held by the HTTP/1 session until they come (its row keeps
//! the head's time). A request's bytes are kept on its row while it waits and taken
//! out again when its response is a success; a request that times out keeps them. Values are cut
//! to the room left in the row's attributes ([`crate::record::attributes::CAPACITY`] bytes
//! shared by every attribute; the row is then marked truncated).

use crate::record::L7FlowLog;

use super::ResponseStatus;

pub const REQUEST_HEADER: &[u8] = b"request_header";
pub const REQUEST_PAYLOAD: &[u8] = b"request_payload";
pub const RESPONSE_HEADER: &[u8] = b"response_header";
pub const RESPONSE_PAYLOAD: &[u8] = b"response_payload";

/// Most bytes of each part to keep (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawCapture {
    pub error_request_header: u32,
    pub error_request_payload: u32,
    pub error_response_header: u32,
    pub error_response_payload: u32,
}

impl Default for RawCapture {
    /// DeepFlow's defaults: 256 bytes of an error response's body, nothing else.
    fn default() -> Self {
        RawCapture {
            error_request_header: 0,
            error_request_payload: 0,
            error_response_header: 0,
            error_response_payload: 256,
        }
    }
}

impl RawCapture {
    /// Nothing is kept.
    pub const OFF: RawCapture = RawCapture {
        error_request_header: 0,
        error_request_payload: 0,
        error_response_header: 0,
        error_response_payload: 0,
    };

    fn keeps_request(&self) -> bool {
        self.error_request_header > 0 || self.error_request_payload > 0
    }

    /// A request's `head` and the `body` bytes that came with it: kept on its row until the
    /// response says whether it failed.
    pub fn request(&self, head: &[u8], body: &[u8], row: &mut L7FlowLog) {
        keep(row, REQUEST_HEADER, head, self.error_request_header);
        keep(row, REQUEST_PAYLOAD, body, self.error_request_payload);
    }

    /// A response with `status`, its `head` and the `body` bytes that came with it: kept when it
    /// is an error; on a success the request's bytes are taken out again.
    pub fn response(&self, status: ResponseStatus, head: &[u8], body: &[u8], row: &mut L7FlowLog) {
        if status == ResponseStatus::Ok {
            if self.keeps_request() {
                row.attributes.remove(REQUEST_HEADER);
                row.attributes.remove(REQUEST_PAYLOAD);
            }
            return;
        }
        keep(row, RESPONSE_HEADER, head, self.error_response_header);
        keep(row, RESPONSE_PAYLOAD, body, self.error_response_payload);
    }
}

fn keep(row: &mut L7FlowLog, name: &[u8], bytes: &[u8], most: u32) {
    let n = bytes.len().min(most as usize);
    if n > 0 && !row.attributes.contains(name) {
        row.attributes.push(name, &bytes[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(row: &L7FlowLog) -> Vec<(String, String)> {
        row.attributes.text_pairs()
    }

    #[test]
    fn only_errors_keep_bytes_and_only_what_is_asked() {
        let all = RawCapture {
            error_request_header: 8,
            error_request_payload: 100,
            error_response_header: 4,
            error_response_payload: 5,
        };
        let mut row = L7FlowLog::default();
        all.request(b"GET / HTTP/1.1\r\n\r\n", b"", &mut row);
        assert_eq!(attrs(&row), [("request_header".into(), "GET / HT".into())]);
        all.response(
            ResponseStatus::ServerError,
            b"HTTP/1.1 500",
            b"boom!!",
            &mut row,
        );
        assert_eq!(
            attrs(&row),
            [
                ("request_header".into(), "GET / HT".into()),
                ("response_header".into(), "HTTP".into()),
                ("response_payload".into(), "boom!".into()),
            ]
        );

        let mut ok = L7FlowLog::default();
        ok.attributes.push(b"x_tenant", b"blue");
        all.request(b"POST / HTTP/1.1\r\n\r\n", b"{}", &mut ok);
        assert_eq!(ok.attributes.len(), 3);
        all.response(ResponseStatus::Ok, b"HTTP/1.1 200", b"fine", &mut ok);
        assert_eq!(attrs(&ok), [("x_tenant".into(), "blue".into())]);

        let mut off = L7FlowLog::default();
        RawCapture::OFF.request(b"GET", b"x", &mut off);
        RawCapture::OFF.response(ResponseStatus::ClientError, b"HTTP", b"y", &mut off);
        assert!(off.attributes.is_empty());

        let mut default = L7FlowLog::default();
        let d = RawCapture::default();
        d.request(b"GET", b"x", &mut default);
        d.response(
            ResponseStatus::ClientError,
            b"HTTP",
            &[b'z'; 300],
            &mut default,
        );
        assert_eq!(
            attrs(&default),
            [("response_payload".into(), "z".repeat(256))]
        );
    }
}
