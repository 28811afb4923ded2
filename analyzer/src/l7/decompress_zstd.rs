//! Heads of zstd frames (Kafka's zstd record batches, MongoDB's zstd OP_COMPRESSED, MySQL's zstd
//! protocol compression), decoded into the caller's buffer as [`super::decompress`] does for the
//! other codecs. A zstd frame needs a decoder context and a window of its own, far larger than a
//! message head, so each worker keeps one decoder for every flow ([`ZstdHeads`], handed to the
//! parsers through their `Exchange`): it is allocated at the first zstd frame the worker sees,
//! reset before each frame, and bounded by [`WINDOW_LOG_MAX`] (frames that need a larger window
//! are not read), so its memory is the same after the first frame as after millions.

use zstd::zstd_safe::{DCtx, DParameter, InBuffer, OutBuffer, ResetDirective};

/// The largest window a frame may ask for (2 MiB): what zstd's default level (3, Kafka's
/// default) and levels up to 7 write when they stream (Kafka's Java client) and do not know the
/// content's size; a frame that states its size (librdkafka's, MongoDB's, MySQL's) needs no more
/// window than its content.
pub const WINDOW_LOG_MAX: u32 = 21;

/// The most memory a worker's decoder takes: its context (about 160 KiB), the window and a block
/// of input being decoded (128 KiB), rounded up. zstd keeps them from frame to frame (it gives a
/// window back only after many frames that needed far less, and takes a smaller one).
pub const MEMORY_BYTES: u64 = (1 << WINDOW_LOG_MAX) + (512 << 10);

/// One worker's zstd decoder, created at the first frame.
#[derive(Default)]
pub struct ZstdHeads {
    ctx: Option<DCtx<'static>>,
}

impl std::fmt::Debug for ZstdHeads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZstdHeads")
            .field("created", &self.ctx.is_some())
            .finish()
    }
}

/// A zstd frame starts with this (little-endian 0xFD2FB528).
const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

impl ZstdHeads {
    /// The head of the zstd frame `src` (as far as it was captured) decoded into `out`: the
    /// bytes written. None when `src` is not a zstd frame, or does not decode (corrupt, or a
    /// window above [`WINDOW_LOG_MAX`]).
    pub fn head(&mut self, src: &[u8], out: &mut [u8]) -> Option<usize> {
        if !src.starts_with(&MAGIC) || out.is_empty() {
            return None;
        }
        let ctx = match &mut self.ctx {
            Some(ctx) => {
                ctx.reset(ResetDirective::SessionOnly).ok()?;
                ctx
            }
            None => {
                let mut ctx = DCtx::create();
                ctx.set_parameter(DParameter::WindowLogMax(WINDOW_LOG_MAX))
                    .ok()?;
                self.ctx.insert(ctx)
            }
        };
        let mut input = InBuffer::around(src);
        let mut output = OutBuffer::around(out);
        loop {
            let (read, written) = (input.pos(), output.pos());
            match ctx.decompress_stream(&mut output, &mut input) {
                // The frame ended.
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => return None,
            }
            let full = output.pos() == output.capacity();
            let stalled = input.pos() == read && output.pos() == written;
            if full || stalled || input.pos() == src.len() && output.pos() == written {
                break;
            }
        }
        Some(output.pos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_of_frames_cuts_and_bad_input() {
        let plain: Vec<u8> = (0..20_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let frame = zstd::bulk::compress(&plain, 3).unwrap();
        let mut z = ZstdHeads::default();
        let mut out = [0u8; 4096];
        assert_eq!(z.head(&frame, &mut out), Some(4096));
        assert_eq!(&out[..], &plain[..4096]);
        // The same decoder, again and again: each frame from its start.
        let small = zstd::bulk::compress(b"a short frame", 1).unwrap();
        assert_eq!(z.head(&small, &mut out), Some(13));
        assert_eq!(&out[..13], b"a short frame");
        assert_eq!(z.head(&frame, &mut out), Some(4096));
        assert_eq!(&out[..], &plain[..4096]);
        // Cut anywhere: a head of the right bytes, or nothing.
        for cut in (0..frame.len()).step_by(7) {
            if let Some(n) = z.head(&frame[..cut], &mut out) {
                assert_eq!(&out[..n], &plain[..n], "cut {cut}");
            }
        }
        // Not zstd, corrupt.
        assert_eq!(z.head(b"not a frame", &mut out), None);
        let mut bad = frame.clone();
        for b in &mut bad[6..40] {
            *b ^= 0x5a;
        }
        if let Some(n) = z.head(&bad, &mut out) {
            assert!(n <= out.len());
        }
        // A window above the limit (8 MiB, over a 4 MiB input: its size is stated, and above
        // the limit too).
        let big: Vec<u8> = (0..4u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut cctx = zstd::bulk::Compressor::new(19).unwrap();
        cctx.set_parameter(zstd::zstd_safe::CParameter::WindowLog(23))
            .unwrap();
        let wide = cctx.compress(&big).unwrap();
        assert_eq!(z.head(&wide, &mut out), None);
        // Still good for the next frame.
        assert_eq!(z.head(&small, &mut out), Some(13));
    }
}
