//! Frames of data the agent forwards as it received them (the integration collector's traces,
//! Prometheus and Telegraf data), between the threads that take them in and the sender's
//! connection thread: bounded in bytes, every refusal counted, so a dead ingester costs refused
//! requests (which the applications' exporters retry) and no memory growth.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::frame::{FrameBuilder, MessageType, Origin, HEADER_LEN, MAX_FRAME};

/// Bytes of frames waiting at most.
pub const QUEUE_BYTES: usize = 8 << 20;

/// The largest message a frame can carry (its length prefix and the header around it).
pub const MAX_MESSAGE: usize = MAX_FRAME - HEADER_LEN - 4;

/// Why data was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No ingester is set: nothing would send it.
    NoIngester,
    /// One message is larger than a frame can carry ([`MAX_MESSAGE`]).
    TooLarge,
    /// The queue is full (the ingester is slow or unreachable).
    Full,
}

/// The queue and its counters.
#[derive(Debug, Default)]
pub struct ForwardQueue {
    frames: Mutex<(VecDeque<Vec<u8>>, usize)>,
    /// Messages and frames queued, frames written to the ingester, frames lost after they were
    /// queued (the run ended before they went), and messages refused ([`Refused::Full`] and
    /// [`Refused::TooLarge`]).
    pub messages_queued: AtomicU64,
    pub frames_queued: AtomicU64,
    pub frames_sent: AtomicU64,
    pub frames_lost: AtomicU64,
    pub messages_refused: AtomicU64,
}

impl ForwardQueue {
    /// Queues `messages` of type `t` in as few frames as they fit in (zstd frames with
    /// `compress`); all or nothing.
    pub fn push(
        &self,
        t: MessageType,
        origin: Origin,
        messages: &[Vec<u8>],
        compress: bool,
    ) -> Result<(), Refused> {
        let refuse = |why| {
            self.messages_refused
                .fetch_add(messages.len() as u64, Ordering::Relaxed);
            Err(why)
        };
        if messages.is_empty() {
            return Ok(());
        }
        if messages.iter().any(|m| m.len() > MAX_MESSAGE) {
            return refuse(Refused::TooLarge);
        }
        let mut frames = Vec::new();
        let mut b = FrameBuilder::new(t, messages.iter().map(|m| m.len() + 4).sum());
        for m in messages {
            if !b.is_empty() && HEADER_LEN + b.len() + 4 + m.len() > MAX_FRAME {
                frames.extend(b.take_frame(origin, compress));
            }
            b.push_bytes(m);
        }
        frames.extend(b.take_frame(origin, compress));
        let bytes: usize = frames.iter().map(Vec::len).sum();
        let Ok(mut q) = self.frames.lock() else {
            return refuse(Refused::Full);
        };
        if q.1 + bytes > QUEUE_BYTES {
            drop(q);
            return refuse(Refused::Full);
        }
        q.1 += bytes;
        self.frames_queued
            .fetch_add(frames.len() as u64, Ordering::Relaxed);
        q.0.extend(frames);
        self.messages_queued
            .fetch_add(messages.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// The oldest frame waiting.
    pub fn pop(&self) -> Option<Vec<u8>> {
        let mut q = self.frames.lock().ok()?;
        let f = q.0.pop_front()?;
        q.1 -= f.len();
        Some(f)
    }

    /// Puts back a frame that could not be written (it goes first next time).
    pub fn put_back(&self, f: Vec<u8>) {
        if let Ok(mut q) = self.frames.lock() {
            q.1 += f.len();
            q.0.push_front(f);
        }
    }

    /// Drops what is still waiting (the end of a run), counted.
    pub fn give_up(&self) {
        if let Ok(mut q) = self.frames.lock() {
            self.frames_lost
                .fetch_add(q.0.len() as u64, Ordering::Relaxed);
            q.0.clear();
            q.1 = 0;
        }
    }

    /// `(name, value)` pairs for stats.json (`ingester.forward_*`).
    pub fn entries(&self) -> Vec<(&'static str, u64)> {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("ingester.forward_messages_queued", r(&self.messages_queued)),
            (
                "ingester.forward_messages_refused",
                r(&self.messages_refused),
            ),
            ("ingester.forward_frames_queued", r(&self.frames_queued)),
            ("ingester.forward_frames_sent", r(&self.frames_sent)),
            ("ingester.forward_frames_lost", r(&self.frames_lost)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::frame::{self, Header};

    fn origin() -> Origin {
        Origin {
            team_id: 1,
            org_id: 2,
            agent_id: 3,
        }
    }

    #[test]
    fn messages_go_in_as_few_frames_as_fit_each_whole() {
        let q = ForwardQueue::default();
        let big = vec![7u8; 200_000];
        let msgs = vec![big.clone(), big.clone(), vec![1, 2, 3], big.clone()];
        q.push(MessageType::Telegraf, origin(), &msgs, false)
            .unwrap();
        let mut got = Vec::new();
        while let Some(f) = q.pop() {
            assert!(f.len() <= MAX_FRAME);
            let h = Header::parse(f[..HEADER_LEN].try_into().unwrap()).unwrap();
            assert_eq!(h.message_type(), Ok(MessageType::Telegraf));
            assert_eq!(h.origin.agent_id, 3);
            assert_eq!(h.body_len(), f.len() - HEADER_LEN);
            for m in frame::messages(&f[HEADER_LEN..]) {
                got.push(m.unwrap().to_vec());
            }
        }
        assert_eq!(got, msgs);
        assert_eq!(q.frames_queued.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn too_large_and_full_are_refused_and_counted() {
        let q = ForwardQueue::default();
        let huge = vec![0u8; MAX_MESSAGE + 1];
        assert_eq!(
            q.push(MessageType::OpenTelemetry, origin(), &[huge], false),
            Err(Refused::TooLarge)
        );
        let m = vec![0u8; MAX_MESSAGE];
        let mut queued = 0;
        while q
            .push(
                MessageType::Prometheus,
                origin(),
                std::slice::from_ref(&m),
                false,
            )
            .is_ok()
        {
            queued += 1;
        }
        assert_eq!(queued, QUEUE_BYTES / MAX_FRAME);
        assert_eq!(q.messages_refused.load(Ordering::Relaxed), 2);
        let f = q.pop().unwrap();
        q.put_back(f);
        assert!(q
            .push(
                MessageType::Prometheus,
                origin(),
                std::slice::from_ref(&m),
                false
            )
            .is_err());
        q.pop().unwrap();
        assert!(q
            .push(MessageType::Prometheus, origin(), &[m], false)
            .is_ok());
        q.give_up();
        assert_eq!(q.frames_lost.load(Ordering::Relaxed), queued as u64);
        assert!(q.pop().is_none());
    }
}
