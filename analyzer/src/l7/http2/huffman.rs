//! HPACK's Huffman code (RFC 7541 Appendix B). The code is canonical (codes of one length are
//! consecutive, in symbol order), so the code lengths alone define it; decoding walks one bit at
//! a time with per-length first codes, bounded by the input length.

/// Code length in bits of each symbol 0..=255 and of EOS (256), from RFC 7541 Appendix B.
const CODE_LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

const EOS: u16 = 256;
const MAX_LEN: usize = 30;

/// Canonical decoding tables, built at compile time from [`CODE_LENGTHS`].
struct Canonical {
    /// Symbols sorted by (code length, symbol).
    symbols: [u16; 257],
    /// Per length: the first code, how many codes, and where they start in `symbols`.
    first_code: [u32; MAX_LEN + 1],
    count: [u32; MAX_LEN + 1],
    first_index: [u32; MAX_LEN + 1],
}

const fn canonical() -> Canonical {
    let mut c = Canonical {
        symbols: [0; 257],
        first_code: [0; MAX_LEN + 1],
        count: [0; MAX_LEN + 1],
        first_index: [0; MAX_LEN + 1],
    };
    let mut n = 0;
    let mut len = 1;
    let mut code: u32 = 0;
    while len <= MAX_LEN {
        c.first_code[len] = code;
        c.first_index[len] = n as u32;
        let mut sym = 0;
        while sym < 257 {
            if CODE_LENGTHS[sym] as usize == len {
                c.symbols[n] = sym as u16;
                n += 1;
                c.count[len] += 1;
            }
            sym += 1;
        }
        code = (code + c.count[len]) << 1;
        len += 1;
    }
    c
}

static TABLES: Canonical = canonical();

/// Why a Huffman string did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuffmanError {
    /// A code longer than 30 bits, or EOS inside the string.
    BadCode,
    /// More than 7 bits of padding, or padding that is not the EOS prefix (all ones).
    BadPadding,
}

/// Decodes `src`, handing each byte to `out`. Returns the decoded length.
pub fn decode(src: &[u8], mut out: impl FnMut(u8)) -> Result<usize, HuffmanError> {
    let t = &TABLES;
    let mut code: u32 = 0;
    let mut len = 0usize;
    let mut produced = 0usize;
    for &byte in src {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            len += 1;
            if len > MAX_LEN {
                return Err(HuffmanError::BadCode);
            }
            let offset = code.wrapping_sub(t.first_code[len]);
            if code >= t.first_code[len] && offset < t.count[len] {
                let sym = t.symbols[(t.first_index[len] + offset) as usize];
                if sym == EOS {
                    return Err(HuffmanError::BadCode);
                }
                out(sym as u8);
                produced += 1;
                code = 0;
                len = 0;
            }
        }
    }
    // Leftover bits must be fewer than 8 and all ones (a prefix of EOS).
    if len > 7 || code != (1u32 << len) - 1 {
        return Err(HuffmanError::BadPadding);
    }
    Ok(produced)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(hex: &str) -> Result<String, HuffmanError> {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let mut s = Vec::new();
        decode(&bytes, |b| s.push(b))?;
        Ok(String::from_utf8(s).unwrap())
    }

    /// RFC 7541 Appendix C.4 and C.6 strings.
    #[test]
    fn rfc_examples() {
        assert_eq!(dec("f1e3c2e5f23a6ba0ab90f4ff").unwrap(), "www.example.com");
        assert_eq!(dec("a8eb10649cbf").unwrap(), "no-cache");
        assert_eq!(dec("25a849e95ba97d7f").unwrap(), "custom-key");
        assert_eq!(dec("25a849e95bb8e8b4bf").unwrap(), "custom-value");
        assert_eq!(dec("6402").unwrap(), "302");
        assert_eq!(dec("aec3771a4b").unwrap(), "private");
        assert_eq!(
            dec("d07abe941054d444a8200595040b8166e082a62d1bff").unwrap(),
            "Mon, 21 Oct 2013 20:13:21 GMT"
        );
        assert_eq!(
            dec("9d29ad171863c78f0b97c8e9ae82ae43d3").unwrap(),
            "https://www.example.com"
        );
        assert_eq!(dec("").unwrap(), "");
    }

    #[test]
    fn bad_padding_and_codes() {
        assert_eq!(
            dec("f1e3c2e5f23a6ba0ab90f4fe"),
            Err(HuffmanError::BadPadding)
        );
        assert_eq!(dec("ffffffff"), Err(HuffmanError::BadCode), "EOS inside");
        assert_eq!(
            dec("f1ff"),
            Err(HuffmanError::BadPadding),
            "8+ bits of padding"
        );
        // Hostile input costs linear time and never panics.
        let junk: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let _ = decode(&junk, |_| {});
    }
}
