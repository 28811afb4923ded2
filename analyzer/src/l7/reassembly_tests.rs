use super::*;
use crate::l7::http1::{self, Parsed};

/// A parser that takes whole HTTP/1 request heads (no bodies) and records their paths.
fn heads(found: &mut Vec<String>) -> impl FnMut(&[u8], bool) -> usize + '_ {
    move |buf: &[u8], _resync: bool| {
        let mut at = 0;
        loop {
            let mut slots = [http1::EMPTY_HEADER; 16];
            match http1::parse_request(&buf[at..], &mut slots) {
                Ok(Parsed::Complete(h)) => {
                    found.push(h.path.to_string());
                    at += h.head_len;
                }
                Ok(Parsed::Partial) => return at,
                // Not at a message start (after a gap): skip to the next line start.
                Err(_) => match buf[at..].windows(2).position(|w| w == b"\r\n") {
                    Some(p) => at += p + 2,
                    None => return buf.len(),
                },
            }
        }
    }
}

const TWO: &[u8] = b"GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\n";

fn feed_all(s: &mut DirStream, segs: &[(u32, &[u8])]) -> (Vec<String>, Vec<FeedOutcome>) {
    let mut pool = HoldPool::<256>::new(1);
    let mut found = Vec::new();
    let mut outs = Vec::new();
    for &(seq, data) in segs {
        let mut parse = heads(&mut found);
        outs.push(s.feed(&mut pool, SeqNumber(seq), data, |b, r| parse(b, r)));
    }
    s.release(&mut pool);
    assert_eq!(pool.in_use(), 0, "buffers go back");
    (found, outs)
}

#[test]
fn heads_split_at_every_byte_are_joined() {
    for cut in 1..TWO.len() {
        let mut s = DirStream::default();
        let (found, outs) = feed_all(
            &mut s,
            &[(1000, &TWO[..cut]), (1000 + cut as u32, &TWO[cut..])],
        );
        assert_eq!(found, ["/one", "/two"], "cut {cut}");
        assert!(outs.iter().all(|o| *o == FeedOutcome::default()));
        assert_eq!(s.held(), 0);
    }
}

#[test]
fn retransmissions_are_ignored_or_trimmed() {
    let mut s = DirStream::default();
    let (found, outs) = feed_all(
        &mut s,
        &[
            (5, &TWO[..10]),
            (5, &TWO[..10]),      // whole duplicate
            (5 + 4, &TWO[4..20]), // overlaps by 6
            (5 + 20, &TWO[20..]),
        ],
    );
    assert_eq!(found, ["/one", "/two"]);
    assert!(outs[1].duplicate);
    assert_eq!(outs[2].trimmed, 6);
}

#[test]
fn a_gap_drops_the_held_bytes_and_resynchronises() {
    let mut s = DirStream::default();
    let second = TWO.len() / 2; // "GET /two ..." starts here
    let (found, outs) = feed_all(
        &mut s,
        &[
            (0, &TWO[..10]),        // start of /one, held
            (20, &TWO[20..second]), // 10 bytes lost
            (second as u32, &TWO[second..]),
        ],
    );
    assert_eq!(found, ["/two"]);
    assert_eq!(outs[1].gap, 10);
}

#[test]
fn sequence_numbers_wrap() {
    let mut s = DirStream::default();
    let start = u32::MAX - 5;
    let (found, _) = feed_all(
        &mut s,
        &[(start, &TWO[..12]), (start.wrapping_add(12), &TWO[12..])],
    );
    assert_eq!(found, ["/one", "/two"]);
}

#[test]
fn held_bytes_are_bounded() {
    // A "head" that never ends: held up to the bound, then dropped and counted.
    let mut s = DirStream::default();
    let mut pool = HoldPool::<64>::new(1);
    let mut seq = 0u32;
    let mut overflow = 0;
    let mut found = Vec::new();
    {
        let mut parse = heads(&mut found);
        let first = b"GET /x HTTP/1.1\r\nX-Long: ";
        overflow += s
            .feed(&mut pool, SeqNumber(seq), first, |b, r| parse(b, r))
            .overflow;
        seq += first.len() as u32;
        for _ in 0..10 {
            let chunk = [b'a'; 20];
            overflow += s
                .feed(&mut pool, SeqNumber(seq), &chunk, |b, r| parse(b, r))
                .overflow;
            seq += 20;
            assert!(s.held() <= 64);
        }
    }
    assert!(overflow > 0);
    assert!(found.is_empty());
}

#[test]
fn an_empty_pool_drops_the_tail_and_counts_it() {
    let mut pool = HoldPool::<64>::new(1);
    let (mut a, mut b) = (DirStream::default(), DirStream::default());
    let mut found = Vec::new();
    let mut parse = heads(&mut found);
    let cut = b"GET /a HTTP/1.1\r\nHo";
    assert_eq!(
        a.feed(&mut pool, SeqNumber(0), cut, |x, r| parse(x, r))
            .overflow,
        0
    );
    let out = b.feed(&mut pool, SeqNumber(0), cut, |x, r| parse(x, r));
    assert_eq!((out.overflow as usize, pool.exhausted), (cut.len(), 1));
    a.release(&mut pool);
    assert_eq!(pool.in_use(), 0);
}
