//! A hint to the CPU: start loading a cache line now, it is read soon. The analyzer (which
//! forbids unsafe code) takes it as a plain function to prefetch, for the frames it has decoded
//! ahead of the one it analyses, their flow index buckets, flow slots, timer links and state
//! blocks.

/// Asks for the cache line holding `p` (into every cache level). Never faults, whatever the
/// address: a prefetch of an unmapped or invalid address is dropped by the CPU.
#[inline]
pub fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 reads no memory architecturally and cannot fault on any address; SSE
    // (its target feature) is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
