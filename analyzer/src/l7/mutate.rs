//! Test support: deterministic random mutations of a message (a few bytes overwritten, then cut
//! at a random length), for the "hostile input never panics" tests of every decoder.

/// Calls `f` with `rounds` mutated, cut copies of `base`.
pub(crate) fn mutations(base: &[u8], rounds: usize, seed: u64, mut f: impl FnMut(&[u8])) {
    let mut x = seed | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut m = base.to_vec();
    for _ in 0..rounds {
        m.copy_from_slice(base);
        for _ in 0..(next() % 4 + 1) {
            let i = (next() as usize) % m.len();
            m[i] = next() as u8;
        }
        let cut = (next() as usize) % (m.len() + 1);
        f(&m[..cut]);
    }
}
