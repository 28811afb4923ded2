//! Large blocks from the huge pages the administrator reserved (`vm.nr_hugepages`, the pool
//! DPDK also takes from): `mmap(MAP_HUGETLB)` mappings, and a fixed registry of them so that
//! freeing knows which blocks are mappings of this kind.
//!
//! Why: a transparent huge page comes from the kernel's free memory, which a VM with free page
//! reporting hands back to the host; first touching one again then waits for the host (5-15 ms
//! a page on the project's build VM). Pages of the reserved pool stay in the pool when freed,
//! are never reported, and after their first use fault in as fast as on bare metal: 256 MB in
//! 30 ms, after any pause, against 1.1-2.5 s of fresh transparent huge pages.
//!
//! The mapping reserves its pages when it is made (a private hugetlb mapping), so a later first
//! touch never fails for want of a page: when the pool is short, the `mmap` fails and the caller
//! takes ordinary memory instead.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The pool's page size (x86_64's and aarch64's default huge page).
pub const PAGE: usize = 2 << 20;

/// Mappings that can be live at once (tapflow holds a few dozen large tables at most); past
/// that, blocks come from ordinary memory.
const MAPPINGS: usize = 128;

/// Live mappings: base address (0: free entry) and length.
#[derive(Debug)]
pub struct Registry {
    bases: [AtomicUsize; MAPPINGS],
    lens: [AtomicUsize; MAPPINGS],
}

impl Registry {
    pub const fn new() -> Self {
        Registry {
            bases: [const { AtomicUsize::new(0) }; MAPPINGS],
            lens: [const { AtomicUsize::new(0) }; MAPPINGS],
        }
    }

    /// A zero-filled block of at least `size` bytes aligned to `PAGE` from the reserved pool,
    /// or None (pool short, no pool, registry full).
    pub fn map(&self, size: usize) -> Option<*mut u8> {
        let len = size.checked_next_multiple_of(PAGE)?;
        // SAFETY: a new private anonymous mapping at an address the kernel chooses: no memory
        // of this process is affected; the result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_HUGETLB,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED || p.is_null() {
            return None;
        }
        let base = p as usize;
        for (b, l) in self.bases.iter().zip(&self.lens) {
            if b.compare_exchange(0, base, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                l.store(len, Ordering::Release);
                return Some(p.cast());
            }
        }
        // SAFETY: the mapping just made above, of `len` bytes, not handed out to anyone.
        unsafe { libc::munmap(p, len) };
        None
    }

    /// The length of the live mapping at `p`, if `p` is one.
    pub fn len_of(&self, p: *mut u8) -> Option<usize> {
        let base = p as usize;
        self.bases
            .iter()
            .zip(&self.lens)
            .find(|(b, _)| b.load(Ordering::Acquire) == base)
            .map(|(_, l)| l.load(Ordering::Acquire))
    }

    /// Unmaps the mapping at `p`; false when `p` is not one (nothing done).
    ///
    /// # Safety
    /// Nothing may use the block at `p` afterwards (the caller frees it).
    pub unsafe fn unmap(&self, p: *mut u8) -> bool {
        let base = p as usize;
        for (b, l) in self.bases.iter().zip(&self.lens) {
            if b.load(Ordering::Acquire) == base {
                let len = l.load(Ordering::Acquire);
                // The entry is freed first: once unmapped, the address may come back from
                // another thread's `map`, which must not find it taken.
                b.store(0, Ordering::Release);
                // SAFETY: `base` was a live mapping of `len` bytes this registry made, and the
                // caller gives up the block.
                unsafe { libc::munmap(base as *mut libc::c_void, len) };
                return true;
            }
        }
        false
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// Pages of the reserved pool a new mapping can still have now: `HugePages_Free` less
/// `HugePages_Rsvd` (pages promised to mappings but not yet touched) in /proc/meminfo; 0 if
/// unknown.
pub fn available_pages() -> u64 {
    let Ok(m) = std::fs::read_to_string("/proc/meminfo") else {
        return 0;
    };
    let field = |name: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    field("HugePages_Free:").saturating_sub(field("HugePages_Rsvd:"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::huge_pages::{HugePageAlloc, THRESHOLD};
    use std::alloc::{GlobalAlloc, Layout};

    /// `vm.nr_hugepages` raised by some pages for a test, put back when dropped.
    struct Pool(Option<u64>);

    const NR: &str = "/proc/sys/vm/nr_hugepages";

    impl Pool {
        fn raise(by: u64) -> Pool {
            let Some(before) = std::fs::read_to_string(NR)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
            else {
                return Pool(None);
            };
            if std::fs::write(NR, (before + by).to_string()).is_err() {
                return Pool(None);
            }
            Pool(Some(before))
        }
    }

    impl Drop for Pool {
        fn drop(&mut self) {
            if let Some(before) = self.0 {
                let _ = std::fs::write(NR, before.to_string());
            }
        }
    }

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 64).expect("layout")
    }

    /// Without pages in the pool every block comes from the system allocator.
    #[test]
    fn an_empty_pool_leaves_blocks_to_the_system() {
        let a = HugePageAlloc::new();
        a.set_reserved(true);
        if available_pages() > 0 {
            eprintln!("skipped: this host's pool has free pages");
            return;
        }
        // SAFETY: non-zero layouts; each block is written within its size and freed with it.
        unsafe {
            let p = a.alloc_zeroed(layout(THRESHOLD));
            assert!(!p.is_null());
            assert!(a.pool.len_of(p).is_none());
            *p.add(THRESHOLD - 1) = 3;
            a.dealloc(p, layout(THRESHOLD));
        }
    }

    /// Large blocks from the pool (zeroed, page-aligned), moved out when shrunk below the
    /// threshold or grown past their mapping, given back to the pool when freed; past the
    /// pool, from the system. Needs root (it reserves 8 pages for itself).
    #[test]
    fn large_blocks_come_from_the_pool_and_go_back() {
        let free_before = available_pages();
        let pool = Pool::raise(8);
        if pool.0.is_none() || available_pages() < free_before + 8 {
            eprintln!("skipped: cannot reserve 8 huge pages here (root, free memory)");
            return;
        }
        let free = available_pages();
        let a = HugePageAlloc::new();
        a.set_reserved(true);
        let mb = 1 << 20;
        // SAFETY: non-zero layouts; every block is written and read within its size and freed
        // (or reallocated) with the layout it has.
        unsafe {
            let p = a.alloc_zeroed(layout(5 * mb));
            assert!(!p.is_null());
            assert_eq!(p as usize % PAGE, 0);
            assert_eq!(a.pool.len_of(p), Some(6 * mb));
            assert_eq!(available_pages(), free - 3, "three pages taken");
            assert_eq!(*p.add(5 * mb - 1), 0);
            *p = 7;
            *p.add(5 * mb - 1) = 9;
            // Grown within its mapping: in place.
            let q = a.realloc(p, layout(5 * mb), 6 * mb);
            assert_eq!(q, p);
            // Grown past it: a new mapping, the bytes kept, the old pages back.
            let r = a.realloc(q, layout(6 * mb), 9 * mb);
            assert!(!r.is_null() && r != q);
            assert_eq!(a.pool.len_of(r), Some(10 * mb));
            assert_eq!((*r, *r.add(5 * mb - 1)), (7, 9));
            assert_eq!(available_pages(), free - 5);
            // More than the pool has: from the system.
            let big = a.alloc(layout(20 * mb));
            assert!(!big.is_null());
            assert!(a.pool.len_of(big).is_none());
            *big.add(20 * mb - 1) = 1;
            a.dealloc(big, layout(20 * mb));
            // Shrunk below the threshold: out of the pool.
            let s = a.realloc(r, layout(9 * mb), 4096);
            assert!(!s.is_null());
            assert!(a.pool.len_of(s).is_none());
            assert_eq!(*s, 7);
            assert_eq!(available_pages(), free, "every page back");
            a.dealloc(s, layout(4096));
            let t = a.alloc(layout(THRESHOLD));
            assert!(a.pool.len_of(t).is_some());
            a.dealloc(t, layout(THRESHOLD));
            assert_eq!(available_pages(), free);
        }
        drop(pool);
    }
}
