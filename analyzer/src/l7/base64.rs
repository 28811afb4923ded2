//! Base64 encoding (RFC 4648) into an inline string, for values rows print as base64: BSON
//! binaries (standard alphabet with padding, as the `bson` crate prints them) and Kafka topic ids
//! (URL-safe alphabet without padding, as Kafka's tools print them). Output past the string's
//! capacity is cut and marked truncated.

use crate::inline::InlineBytes;

/// Which of RFC 4648's encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base64 {
    /// `+` and `/`, padded with `=`.
    Standard,
    /// `-` and `_`, no padding.
    UrlNoPad,
}

/// Appends `b` encoded as `kind` to `out`.
pub fn encode<const N: usize>(b: &[u8], kind: Base64, out: &mut InlineBytes<N>) {
    let abc: &[u8; 64] = match kind {
        Base64::Standard => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        Base64::UrlNoPad => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    };
    for chunk in b.chunks(3) {
        if out.is_truncated() {
            return;
        }
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        let mut q = [b'='; 4];
        for (i, c) in q.iter_mut().enumerate().take(chunk.len() + 1) {
            *c = abc[((v >> (18 - 6 * i)) & 63) as usize];
        }
        let n = match kind {
            Base64::Standard => 4,
            Base64::UrlNoPad => chunk.len() + 1,
        };
        out.push_lossy(&q[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors_in_both_encodings() {
        let enc = |b: &[u8], k| {
            let mut out = InlineBytes::<32>::default();
            encode(b, k, &mut out);
            String::from_utf8(out.as_bytes().to_vec()).unwrap()
        };
        for (plain, std, url) in [
            ("", "", ""),
            ("f", "Zg==", "Zg"),
            ("fo", "Zm8=", "Zm8"),
            ("foo", "Zm9v", "Zm9v"),
            ("foob", "Zm9vYg==", "Zm9vYg"),
            ("foobar", "Zm9vYmFy", "Zm9vYmFy"),
        ] {
            assert_eq!(enc(plain.as_bytes(), Base64::Standard), std);
            assert_eq!(enc(plain.as_bytes(), Base64::UrlNoPad), url);
        }
        assert_eq!(enc(&[0xfb, 0xff, 0xfe], Base64::Standard), "+//+");
        assert_eq!(enc(&[0xfb, 0xff, 0xfe], Base64::UrlNoPad), "-__-");
    }
}
