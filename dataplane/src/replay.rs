//! Sending a capture out of an interface (like tcpreplay): demos, live tests and the zero-loss
//! benchmark. Frames go out as fast as the socket takes them, or paced to a packet rate.

use std::time::{Duration, Instant};

use crate::source::{Burst, PacketSource, SourceError};
use crate::sys::af_packet::Injector;

/// Totals of a replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub sent: u64,
    pub bytes: u64,
    /// Frames the kernel refused (buffer full after retries, or larger than the MTU).
    pub failed: u64,
    /// Why the first frame failed.
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

/// Retries of a frame the kernel refused for lack of buffer space.
const SEND_RETRIES: u32 = 100;

/// Frames per sendmmsg batch.
const BATCH: usize = 64;

/// Sends every frame of `source` out of `iface`; `pps` paces the rate (None = as fast as possible).
/// Frames go out in batches of up to 64 (sendmmsg), whatever the source's bursts; pacing is per
/// batch.
pub fn replay(
    iface: &str,
    source: &mut impl PacketSource,
    pps: Option<u64>,
) -> Result<ReplayStats, SourceError> {
    let inj = Injector::open(crate::sys::ifindex(iface)?)?;
    let start = Instant::now();
    let mut st = ReplayStats::default();
    let gap = pps
        .filter(|p| *p > 0)
        .map(|p| Duration::from_nanos(1_000_000_000 / p));
    let mut buf: Vec<u8> = Vec::with_capacity(BATCH * 2048);
    let mut ends: Vec<usize> = Vec::with_capacity(BATCH);
    let mut err: Option<std::io::Error> = None;
    loop {
        let burst = source.poll_burst(|frame| {
            buf.extend_from_slice(frame.data);
            ends.push(buf.len());
        })?;
        // A source's burst may hold more frames than one sendmmsg batch: sent a batch at a time.
        let mut from = 0;
        for window in ends.chunks(BATCH) {
            if let Some(g) = gap {
                let due = start + g * (st.sent + st.failed) as u32;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
            let mut frames: [&[u8]; BATCH] = [&[]; BATCH];
            for (i, end) in window.iter().enumerate() {
                frames[i] = &buf[from..*end];
                from = *end;
            }
            let n = window.len();
            let mut done = 0;
            let mut tries = 0;
            while done < n {
                match inj.send_batch(&frames[done..n]) {
                    Ok(k) => {
                        done += k;
                        st.sent += k as u64;
                        st.bytes += frames[done - k..done]
                            .iter()
                            .map(|f| f.len() as u64)
                            .sum::<u64>();
                    }
                    Err(e)
                        if e.raw_os_error() == Some(libc::ENOBUFS)
                            || e.kind() == std::io::ErrorKind::WouldBlock =>
                    {
                        tries += 1;
                        if tries > SEND_RETRIES {
                            st.failed += (n - done) as u64;
                            break;
                        }
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    Err(e) => {
                        // Skip the frame the kernel refused (e.g. larger than the MTU).
                        st.failed += 1;
                        done += 1;
                        err.get_or_insert(e);
                    }
                }
            }
        }
        buf.clear();
        ends.clear();
        if burst == Burst::End {
            break;
        }
    }
    st.elapsed = start.elapsed();
    if st.failed > 0 && st.first_error.is_none() {
        st.first_error = Some(match err {
            Some(e) => e.to_string(),
            None => "socket buffer full after retries".into(),
        });
    }
    Ok(st)
}
