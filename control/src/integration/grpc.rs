//! The little of gRPC the collector speaks (over HTTP/2 with prior knowledge, on the same port as
//! its HTTP/1.1 routes): a request body's length-prefixed messages (gzip-compressed ones when
//! the request says `grpc-encoding: gzip`), and an answer of one message with its status in
//! the trailers, or of a status alone.

use std::convert::Infallible;
use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Body, Bytes, Frame, SizeHint};
use hyper::header::{HeaderMap, HeaderValue};

/// gRPC's status codes the collector answers with.
pub const OK: u8 = 0;
pub const INVALID_ARGUMENT: u8 = 3;
pub const RESOURCE_EXHAUSTED: u8 = 8;
pub const UNIMPLEMENTED: u8 = 12;
pub const UNAVAILABLE: u8 = 14;

/// Is this a gRPC request (its content type)?
pub fn is_grpc(content_type: Option<&[u8]>) -> bool {
    content_type.is_some_and(|c| c.starts_with(b"application/grpc"))
}

/// The messages of a request body, each decompressed (gzip, within `max` bytes in all) when
/// its flag says so and the request named gzip; Err with what is wrong.
pub fn messages(body: &[u8], gzip: bool, max: usize) -> Result<Vec<Vec<u8>>, &'static str> {
    let (mut out, mut at, mut total) = (Vec::new(), 0usize, 0usize);
    while at < body.len() {
        let head = body.get(at..at + 5).ok_or("a message cut short")?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let data = body
            .get(at + 5..at + 5 + len)
            .ok_or("a message cut short")?;
        let msg = match (head[0], gzip) {
            (0, _) => data.to_vec(),
            (1, true) => {
                let mut m = Vec::new();
                let left = max.saturating_sub(total) as u64;
                flate2::read::GzDecoder::new(data)
                    .take(left + 1)
                    .read_to_end(&mut m)
                    .map_err(|_| "a message that does not gunzip")?;
                if m.len() as u64 > left {
                    return Err("messages larger than the collector takes");
                }
                m
            }
            _ => return Err("a compression the collector does not take"),
        };
        total += msg.len();
        if total > max {
            return Err("messages larger than the collector takes");
        }
        out.push(msg);
        at += 5 + len;
    }
    Ok(out)
}

/// An answer's body: one message (if any), then the trailers with the status.
#[derive(Debug)]
pub struct GrpcBody {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl GrpcBody {
    /// `message` (encoded protobuf) and status OK; or, with `message` None, `status` alone.
    pub fn new(message: Option<&[u8]>, status: u8, text: &str) -> Self {
        let data = message.map(|m| {
            let mut b = Vec::with_capacity(5 + m.len());
            b.push(0);
            b.extend_from_slice(&(m.len() as u32).to_be_bytes());
            b.extend_from_slice(m);
            Bytes::from(b)
        });
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from(u16::from(status)));
        if let Ok(v) = HeaderValue::from_str(text) {
            if !text.is_empty() {
                trailers.insert("grpc-message", v);
            }
        }
        GrpcBody {
            data,
            trailers: Some(trailers),
        }
    }
}

impl Body for GrpcBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(d) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(flag: u8, m: &[u8]) -> Vec<u8> {
        let mut b = vec![flag];
        b.extend_from_slice(&(m.len() as u32).to_be_bytes());
        b.extend_from_slice(m);
        b
    }

    #[test]
    fn messages_are_read_and_bounded() {
        let body = [framed(0, b"abc"), framed(0, b""), framed(0, b"de")].concat();
        assert_eq!(
            messages(&body, false, 100).unwrap(),
            [b"abc".to_vec(), vec![], b"de".to_vec()]
        );
        assert!(messages(&body[..7], false, 100).is_err());
        assert!(messages(&body, false, 4).is_err());
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, &[7u8; 1000]).unwrap();
        let gz = framed(1, &z.finish().unwrap());
        assert_eq!(messages(&gz, true, 1000).unwrap(), [vec![7u8; 1000]]);
        assert!(messages(&gz, true, 999).is_err(), "a bomb's bound");
        assert!(messages(&gz, false, 10_000).is_err(), "gzip not announced");
        assert!(is_grpc(Some(b"application/grpc+proto")) && !is_grpc(Some(b"text/plain")));
    }
}
