//! Transparent huge pages for tapflow's large tables: a global allocator that forwards to the
//! system allocator and advises the kernel (`madvise(MADV_HUGEPAGE)`) on every allocation of
//! 4 MiB or more: the flow slab and its index, the L7 pools, the metric windows, the reader's
//! blocks, the output buffers.
//!
//! Why: these tables are touched at random (a flow per packet), and with 4 KiB pages each first
//! touch is a page fault and each lookup a likely TLB miss. With 2 MiB pages a million-flow slab
//! takes 140 faults instead of 70,000 and its translations fit the TLB. Kernels whose
//! `transparent_hugepage/enabled` is `madvise` (Debian's default) use huge pages only where a
//! program asks; `always` needs no advice, `never` ignores it. The cost: a table's last huge
//! page is resident whole (a few MiB of RSS more).
//!
//! Or, with [`HugePageAlloc::set_reserved`], those allocations come from the huge pages the
//! administrator reserved ([`super::reserved_pages`]) while the pool has pages, the rest as
//! above: pages that stay backed where a VM hands free memory back to its host.
//!
//! The binary installs it with `#[global_allocator]`; `TAPFLOW_HUGE_PAGES` chooses
//! ([`crate::huge_page_policy`]).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

use super::reserved_pages::{Registry, PAGE as PAGE_2M};

/// Allocations from this size on are advised.
pub const THRESHOLD: usize = 4 << 20;

const PAGE: usize = 4096;

/// The system allocator, with huge-page advice for large allocations, or large allocations
/// from the reserved huge page pool ([`super::reserved_pages`]) when that is turned on.
#[derive(Debug)]
pub struct HugePageAlloc {
    enabled: AtomicBool,
    reserved: AtomicBool,
    pub(super) pool: Registry,
}

impl HugePageAlloc {
    pub const fn new() -> Self {
        HugePageAlloc {
            enabled: AtomicBool::new(true),
            reserved: AtomicBool::new(false),
            pool: Registry::new(),
        }
    }

    /// Allocations of [`THRESHOLD`] or more from the reserved pool while it has pages (on) or
    /// never (off, the default), for allocations made from now on.
    pub fn set_reserved(&self, on: bool) {
        self.reserved.store(on, Ordering::Relaxed);
    }

    pub fn uses_reserved(&self) -> bool {
        self.reserved.load(Ordering::Relaxed)
    }

    /// A block from the reserved pool for `layout`, if that is on and the pool has the pages.
    fn pool_block(&self, layout: Layout) -> Option<*mut u8> {
        if layout.size() < THRESHOLD || layout.align() > PAGE_2M || !self.uses_reserved() {
            return None;
        }
        self.pool.map(layout.size())
    }

    /// Advice on (default) or off for allocations made from now on.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Advises the whole pages inside `[p, p + size)`. Failure (a kernel without THP) changes
    /// nothing: the memory stays in 4 KiB pages.
    fn advise(&self, p: *mut u8, size: usize) {
        if size < THRESHOLD || p.is_null() || !self.is_enabled() {
            return;
        }
        let start = (p as usize).next_multiple_of(PAGE);
        let end = (p as usize + size) & !(PAGE - 1);
        if end > start {
            // SAFETY: `[start, end)` lies inside an allocation the system allocator just
            // returned and that nobody else has seen yet; MADV_HUGEPAGE only changes how the
            // kernel backs those pages (contents and validity are unchanged, no memory is
            // read or written).
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
}

impl Default for HugePageAlloc {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: a block comes either from the reserved pool (a mapping of its own, page-aligned,
// as large as asked or larger, zero-filled, recorded in `pool` until freed) or from `System`
// with the caller's arguments unchanged; `dealloc` and `realloc` tell them apart by the
// registry (a pool block never shrinks below THRESHOLD in place, so a smaller layout is never
// one). The advice afterwards touches no memory.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(p) = self.pool_block(layout) {
            return p;
        }
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        self.advise(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // A new mapping is zero-filled.
        if let Some(p) = self.pool_block(layout) {
            return p;
        }
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        self.advise(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // A pool block's size stays at THRESHOLD or more (`realloc` moves it out below that),
        // so smaller blocks need no lookup.
        // SAFETY: the caller gives the block up.
        if layout.size() >= THRESHOLD && unsafe { self.pool.unmap(ptr) } {
            return;
        }
        // SAFETY: `ptr` came from `System` (every allocation not in the pool) with this
        // layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let in_pool = if layout.size() >= THRESHOLD {
            self.pool.len_of(ptr)
        } else {
            None
        };
        if let Some(len) = in_pool {
            if new_size >= THRESHOLD && new_size <= len {
                return ptr;
            }
            let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
                return std::ptr::null_mut();
            };
            // SAFETY: `new_layout` has a non-zero size (the caller's contract for `realloc`).
            let q = unsafe { self.alloc(new_layout) };
            if !q.is_null() {
                // SAFETY: both blocks are live, distinct, and at least this long; the old one
                // is then given up as the caller's contract says.
                unsafe {
                    std::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
            }
            return q;
        }
        // SAFETY: `ptr` came from `System` with `layout`; the caller's contract for
        // `realloc` is passed on unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        self.advise(p, new_size);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_and_small_blocks_round_trip() {
        let a = HugePageAlloc::new();
        for size in [16, 4096, THRESHOLD - 1, THRESHOLD, 3 * THRESHOLD + 123] {
            let layout = Layout::from_size_align(size, 16).expect("layout");
            // SAFETY: a non-zero-size layout; the block is written within its size, then
            // grown, checked and freed with the layouts it has.
            unsafe {
                let p = a.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert_eq!(*p.add(size - 1), 0);
                *p = 7;
                *p.add(size - 1) = 9;
                let q = a.realloc(p, layout, size * 2);
                assert!(!q.is_null());
                assert_eq!((*q, *q.add(size - 1)), (7, 9));
                a.dealloc(q, Layout::from_size_align(size * 2, 16).expect("layout"));
            }
        }
        a.set_enabled(false);
        assert!(!a.is_enabled());
    }

    /// The `VmFlags` and `AnonHugePages` (KiB) of the mapping of /proc/self/smaps that holds
    /// `addr`.
    fn mapping_at(addr: usize) -> Option<(String, u64)> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let (mut inside, mut flags, mut huge) = (false, None, None);
        for line in smaps.lines() {
            let range = line.split(' ').next().unwrap_or("");
            if let Some((lo, hi)) = range.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    if inside {
                        break;
                    }
                    inside = (lo..hi).contains(&addr);
                    continue;
                }
            }
            if !inside {
                continue;
            }
            if let Some(v) = line.strip_prefix("AnonHugePages:") {
                huge = v.trim().trim_end_matches("kB").trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("VmFlags:") {
                flags = Some(v.trim().to_string());
            }
        }
        Some((flags?, huge?))
    }

    /// A large block is advised: its mapping carries the kernel's `hg` flag (MADV_HUGEPAGE).
    /// Whether the kernel then backs it with huge pages depends on free contiguous memory at
    /// that moment (a fragmented host falls back to 4 KiB pages), so that is reported, not
    /// required.
    #[test]
    fn a_large_block_is_advised_for_huge_pages() {
        let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        if !(mode.contains("[madvise]") || mode.contains("[always]")) {
            eprintln!(
                "skipped: transparent huge pages are off here ({})",
                mode.trim()
            );
            return;
        }
        let probe = |a: &HugePageAlloc| {
            // Above glibc's largest mmap threshold (32 MiB), so each probe is a fresh mapping
            // of its own, never heap memory an earlier allocation advised.
            let size = 40 << 20;
            let layout = Layout::from_size_align(size, 4096).expect("layout");
            // SAFETY: a non-zero-size layout; the block is written within its size and freed
            // with its layout.
            unsafe {
                let p = a.alloc(layout);
                assert!(!p.is_null());
                std::ptr::write_bytes(p, 1, size);
                let mapping = mapping_at(p as usize + size / 2);
                a.dealloc(p, layout);
                mapping.expect("the block's mapping in /proc/self/smaps")
            }
        };
        let a = HugePageAlloc::new();
        let (flags, huge_kib) = probe(&a);
        assert!(
            flags.split(' ').any(|f| f == "hg"),
            "a 40 MiB block was not advised: VmFlags {flags}"
        );
        eprintln!("advised 40 MiB block: {huge_kib} KiB in huge pages");
        a.set_enabled(false);
        let (flags, _) = probe(&a);
        assert!(
            !flags.split(' ').any(|f| f == "hg"),
            "advice off, yet the block is advised: VmFlags {flags}"
        );
    }
}
