//! Whether the binary asks for transparent huge pages ([`crate::sys::huge_pages`]): the
//! `TAPFLOW_HUGE_PAGES` setting, and by default what the machine says.
//!
//! Huge pages make the large tables' random accesses 5-10 % faster where a 2 MiB page costs
//! what zeroing it costs (docs/perf.md), and fresh tables fault in with a fraction of the page
//! faults. On a virtual machine whose balloon reports free memory to the hypervisor (virtio's
//! free page reporting), the guest hands every free 2 MiB block back to the host within seconds,
//! and the first touch of a 2 MiB page taken from such a block waits for the host to back it
//! again: 5-15 ms per page measured on the project's build VM (256 MB of fresh 2 MiB pages in
//! 1.1-2.5 s, of 4 KiB pages in 0.09 s). A first run of the 64-byte input then took 2-3x as
//! long, the SYN flood 4x, and in a live capture each such fault is a stall of milliseconds on
//! the worker's core. Smaller transparent huge pages (the kernel's multi-size THP, 16 KiB to
//! 1 MiB, Linux 6.8 on) do not wait so on the same VM: with 64 KiB pages the 64-byte input and
//! the SYN flood ran 10-20 % faster than with 4 KiB pages, after idle pauses too.
//!
//! So by default (`auto`) huge pages are asked for unless such a balloon is present, and where
//! one is, when the kernel would back advised memory only with pages smaller than 2 MiB (the
//! administrator turned the 2 MiB size off and a smaller one on, [`advised_sizes`]).
//! `TAPFLOW_HUGE_PAGES=1` or `0` decides instead, and `reserved` takes the large tables from
//! the huge pages the administrator reserved (`vm.nr_hugepages`), which stay backed
//! ([`crate::sys::reserved_pages`]).

use std::path::Path;

/// Where the kernel lists virtio devices.
pub const VIRTIO_DEVICES: &str = "/sys/bus/virtio/devices";
/// The kernel's transparent huge page settings.
pub const THP_SETTINGS: &str = "/sys/kernel/mm/transparent_hugepage";

/// The virtio device id of a memory balloon.
const VIRTIO_ID_BALLOON: &str = "0x0005";
/// The balloon's feature bit "free page reporting" (VIRTIO_BALLOON_F_REPORTING).
const BALLOON_F_REPORTING: usize = 5;

/// The choice and why, for the one line a run prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HugePages {
    /// Transparent huge pages asked for (`madvise`).
    pub enabled: bool,
    /// Large allocations from the administrator's reserved pool first (`reserved`).
    pub reserved: bool,
    pub why: String,
}

/// Decides from `setting` (the value of `TAPFLOW_HUGE_PAGES`, if set) and this machine's
/// virtio devices and huge page settings ([`VIRTIO_DEVICES`], [`THP_SETTINGS`]).
pub fn decide_here(setting: Option<&str>) -> Result<HugePages, String> {
    decide(setting, Path::new(VIRTIO_DEVICES), Path::new(THP_SETTINGS))
}

/// Decides from `setting` (the value of `TAPFLOW_HUGE_PAGES`, if set) and, when that is unset,
/// `auto` or `reserved` (for what lies past the pool), from the virtio devices under `devices`
/// and the transparent huge page settings under `thp`. A value it does not know is an error,
/// not a guess.
pub fn decide(setting: Option<&str>, devices: &Path, thp: &Path) -> Result<HugePages, String> {
    let forced = |enabled: bool, v: &str| HugePages {
        enabled,
        reserved: false,
        why: format!("TAPFLOW_HUGE_PAGES={v}"),
    };
    // Whether advice is safe here, and why.
    let machine = || -> (bool, String) {
        let Some(device) = free_page_reporting(devices) else {
            return (
                true,
                "no balloon reports free memory to a hypervisor".into(),
            );
        };
        let sizes = advised_sizes(thp);
        if sizes.pmd {
            return (
                false,
                format!(
                    "{device} reports free memory to the hypervisor: a fresh 2 MiB page takes \
                     milliseconds to fault in (smaller sizes do not: turn the 2 MiB size off and \
                     64 KiB on, docs/deployment.md; TAPFLOW_HUGE_PAGES=1 asks for them anyway, \
                     =reserved takes them from vm.nr_hugepages)"
                ),
            );
        }
        if sizes.smaller_kib.is_empty() {
            return (
                false,
                format!(
                    "{device} reports free memory to the hypervisor and no transparent huge \
                     page size below 2 MiB is on (docs/deployment.md)"
                ),
            );
        }
        let list: Vec<String> = sizes
            .smaller_kib
            .iter()
            .map(|k| format!("{k} KiB"))
            .collect();
        (
            true,
            format!(
                "{device} reports free memory to the hypervisor; pages of {} only, which \
                 fault in without waiting for it (2 MiB pages are off)",
                list.join(", ")
            ),
        )
    };
    match setting.map(str::trim) {
        Some(v @ ("1" | "on" | "true" | "yes" | "always")) => Ok(forced(true, v)),
        Some(v @ ("0" | "off" | "false" | "no" | "never")) => Ok(forced(false, v)),
        None | Some("" | "auto") => {
            let (enabled, why) = machine();
            Ok(HugePages {
                enabled,
                reserved: false,
                why,
            })
        }
        Some("reserved") => {
            let (enabled, why) = machine();
            let past = if enabled {
                "transparent huge pages"
            } else {
                "4 KiB pages"
            };
            Ok(HugePages {
                enabled,
                reserved: true,
                why: format!("TAPFLOW_HUGE_PAGES=reserved; past the pool, {past} ({why})"),
            })
        }
        Some(other) => Err(format!(
            "TAPFLOW_HUGE_PAGES={other}: expected auto (the default), 1/on, 0/off or reserved"
        )),
    }
}

/// The transparent huge page sizes the kernel would use for memory advised with
/// `MADV_HUGEPAGE`: the 2 MiB (PMD) size and those below it (multi-size THP).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdvisedSizes {
    /// The PMD size (2 MiB on x86-64).
    pub pmd: bool,
    /// Smaller sizes, in KiB, ascending.
    pub smaller_kib: Vec<u32>,
}

/// Reads `thp` (laid out as [`THP_SETTINGS`]): each `hugepages-<N>kB/enabled` is `always`,
/// `madvise`, `never` or `inherit` (the top-level `enabled`'s choice); a kernel without
/// multi-size THP has only the top-level file, which then stands for the PMD size. The
/// bracketed word of each file is the setting in force.
pub fn advised_sizes(thp: &Path) -> AdvisedSizes {
    let choice = |file: &Path| -> Option<String> {
        let text = std::fs::read_to_string(file).ok()?;
        let start = text.find('[')? + 1;
        let len = text[start..].find(']')?;
        Some(text[start..start + len].to_string())
    };
    let used = |c: Option<&str>| matches!(c, Some("always" | "madvise"));
    let top = choice(&thp.join("enabled"));
    let pmd_kib = std::fs::read_to_string(thp.join("hpage_pmd_size"))
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(2048, |b| (b / 1024) as u32);
    let mut sizes = AdvisedSizes::default();
    let mut any_size = false;
    for e in std::fs::read_dir(thp).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(kib) = name
            .strip_prefix("hugepages-")
            .and_then(|n| n.strip_suffix("kB"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        any_size = true;
        let c = choice(&e.path().join("enabled"));
        let c = match c.as_deref() {
            Some("inherit") => top.clone(),
            _ => c,
        };
        if !used(c.as_deref()) {
            continue;
        }
        if kib >= pmd_kib {
            sizes.pmd = true;
        } else {
            sizes.smaller_kib.push(kib);
        }
    }
    if !any_size {
        sizes.pmd = used(top.as_deref());
    }
    sizes.smaller_kib.sort_unstable();
    sizes
}

/// The name of a virtio balloon under `devices` that has negotiated free page reporting (its
/// `features` file is one `0`/`1` per feature bit, bit 0 first), if any.
pub fn free_page_reporting(devices: &Path) -> Option<String> {
    let entries = std::fs::read_dir(devices).ok()?;
    let mut found: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let read = |f: &str| std::fs::read_to_string(e.path().join(f)).unwrap_or_default();
            read("device").trim() == VIRTIO_ID_BALLOON
                && read("features").trim().as_bytes().get(BALLOON_F_REPORTING) == Some(&b'1')
        })
        .map(|e| format!("virtio balloon {}", e.file_name().to_string_lossy()))
        .collect();
    found.sort();
    found.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory laid out as /sys/bus/virtio/devices, removed when dropped.
    struct Devices(std::path::PathBuf);

    impl Drop for Devices {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Devices `(name, device id, features)` in a directory of their own.
    fn devices(tag: &str, list: &[(&str, &str, &str)]) -> Devices {
        let dir = std::env::temp_dir().join(format!("tapflow-virtio-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (name, id, features) in list {
            let d = dir.join(name);
            std::fs::create_dir(&d).expect("mkdir");
            std::fs::write(d.join("device"), format!("{id}\n")).expect("device");
            std::fs::write(d.join("features"), format!("{features}\n")).expect("features");
        }
        Devices(dir)
    }

    /// A directory laid out as /sys/kernel/mm/transparent_hugepage: the top-level choice and
    /// `(size in KiB, choice)` per size (none: a kernel without multi-size THP).
    fn thp(tag: &str, top: &str, sizes: &[(u32, &str)]) -> Devices {
        let dir = std::env::temp_dir().join(format!("tapflow-thp-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let line = |choice: &str, words: &[&str]| {
            let w: Vec<String> = words
                .iter()
                .map(|w| match *w == choice {
                    true => format!("[{w}]"),
                    false => w.to_string(),
                })
                .collect();
            w.join(" ") + "\n"
        };
        let write = |f: std::path::PathBuf, t: String| std::fs::write(f, t).expect("write");
        write(
            dir.join("enabled"),
            line(top, &["always", "madvise", "never"]),
        );
        write(dir.join("hpage_pmd_size"), "2097152\n".into());
        for (kib, choice) in sizes {
            let d = dir.join(format!("hugepages-{kib}kB"));
            std::fs::create_dir(&d).expect("mkdir");
            let words = ["always", "inherit", "madvise", "never"];
            write(d.join("enabled"), line(choice, &words));
        }
        Devices(dir)
    }

    /// Debian's defaults on a kernel with multi-size THP: 2 MiB pages where advised.
    fn debian_thp(tag: &str) -> Devices {
        thp(
            tag,
            "madvise",
            &[(16, "never"), (64, "never"), (2048, "inherit")],
        )
    }

    // This build VM's balloon: must-tell-host, stats, deflate-on-OOM and reporting.
    const REPORTING: &str = "0110010100000000000000000000000010000000";
    const NOT_REPORTING: &str = "0110000100000000000000000000000010000000";

    #[test]
    fn a_balloon_reporting_free_pages_turns_them_off_by_default() {
        let d = devices(
            "reporting",
            &[
                ("virtio1", "0x0002", REPORTING),
                ("virtio0", VIRTIO_ID_BALLOON, REPORTING),
            ],
        );
        let t = debian_thp("reporting");
        for setting in [None, Some("auto"), Some("")] {
            let h = decide(setting, &d.0, &t.0).expect("valid");
            assert!(!h.enabled, "{setting:?}");
            assert!(
                h.why.starts_with("virtio balloon virtio0 reports"),
                "{}",
                h.why
            );
        }
        let h = decide(Some("1"), &d.0, &t.0).expect("valid");
        assert!(h.enabled, "forced on: {}", h.why);
    }

    #[test]
    fn without_reporting_they_stay_on_and_a_setting_decides() {
        // A balloon without the reporting bit, a block device with bit 5 set, no devices.
        let d = devices(
            "quiet",
            &[
                ("virtio0", VIRTIO_ID_BALLOON, NOT_REPORTING),
                ("virtio1", "0x0002", REPORTING),
                ("virtio2", VIRTIO_ID_BALLOON, "01"),
            ],
        );
        let none = devices("none", &[]);
        let t = debian_thp("quiet");
        let t = t.0.as_path();
        for dir in [
            d.0.as_path(),
            none.0.as_path(),
            Path::new("/nonexistent/virtio"),
        ] {
            assert_eq!(free_page_reporting(dir), None);
            assert!(decide(None, dir, t).expect("valid").enabled);
            for off in ["0", "off", "false", "no", "never", " 0 "] {
                assert!(!decide(Some(off), dir, t).expect("valid").enabled, "{off}");
            }
            for on in ["1", "on", "true", "yes", "always"] {
                assert!(decide(Some(on), dir, t).expect("valid").enabled, "{on}");
            }
        }
    }

    #[test]
    fn reserved_takes_the_pool_and_leaves_the_rest_to_auto() {
        let d = devices("pool", &[("virtio0", VIRTIO_ID_BALLOON, REPORTING)]);
        let none = devices("pool-none", &[]);
        let t = debian_thp("pool");
        let with = decide(Some("reserved"), &d.0, &t.0).expect("valid");
        assert!(with.reserved && !with.enabled, "{with:?}");
        assert!(with.why.contains("virtio balloon virtio0"), "{}", with.why);
        let without = decide(Some("reserved"), &none.0, &t.0).expect("valid");
        assert!(without.reserved && without.enabled, "{without:?}");
        for setting in [None, Some("1"), Some("0"), Some("auto")] {
            assert!(
                !decide(setting, &d.0, &t.0).expect("valid").reserved,
                "{setting:?}"
            );
        }
    }

    #[test]
    fn an_unknown_setting_is_an_error() {
        let e = decide_here(Some("sometimes")).expect_err("invalid");
        assert!(e.contains("TAPFLOW_HUGE_PAGES=sometimes"), "{e}");
    }

    #[test]
    fn the_sizes_advice_would_use_follow_each_setting() {
        let debian = debian_thp("sizes-debian");
        let want = |pmd: bool, smaller: &[u32]| AdvisedSizes {
            pmd,
            smaller_kib: smaller.to_vec(),
        };
        assert_eq!(advised_sizes(&debian.0), want(true, &[]));
        // The 2 MiB size off, 64 KiB and 1 MiB on (one explicitly, one through the top level).
        let small = thp(
            "sizes-small",
            "madvise",
            &[
                (64, "madvise"),
                (1024, "inherit"),
                (16, "never"),
                (2048, "never"),
            ],
        );
        assert_eq!(advised_sizes(&small.0), want(false, &[64, 1024]));
        // The top level off: sizes that inherit are off, sizes set on their own still count.
        let top_off = thp(
            "sizes-top-off",
            "never",
            &[(64, "always"), (2048, "inherit")],
        );
        assert_eq!(advised_sizes(&top_off.0), want(false, &[64]));
        // A kernel without multi-size THP: the top level is the 2 MiB size.
        let old = thp("sizes-old", "always", &[]);
        assert_eq!(advised_sizes(&old.0), want(true, &[]));
        let old_off = thp("sizes-old-off", "never", &[]);
        assert_eq!(advised_sizes(&old_off.0), want(false, &[]));
        assert_eq!(
            advised_sizes(Path::new("/nonexistent/thp")),
            want(false, &[])
        );
    }

    #[test]
    fn a_reporting_balloon_keeps_pages_below_2_mib() {
        let d = devices("small-pages", &[("virtio0", VIRTIO_ID_BALLOON, REPORTING)]);
        let small = thp(
            "small-pages",
            "madvise",
            &[(64, "madvise"), (2048, "never")],
        );
        let h = decide(None, &d.0, &small.0).expect("valid");
        assert!(h.enabled, "{h:?}");
        assert!(h.why.contains("pages of 64 KiB only"), "{}", h.why);
        let r = decide(Some("reserved"), &d.0, &small.0).expect("valid");
        assert!(r.enabled && r.reserved, "{r:?}");
        // Both on: the 2 MiB size would be used too, so no advice.
        let both = thp(
            "small-and-pmd",
            "madvise",
            &[(64, "madvise"), (2048, "inherit")],
        );
        let h = decide(None, &d.0, &both.0).expect("valid");
        assert!(!h.enabled && h.why.contains("2 MiB page"), "{h:?}");
        // None on at all.
        let none = thp("no-sizes", "never", &[(64, "never"), (2048, "inherit")]);
        let h = decide(None, &d.0, &none.0).expect("valid");
        assert!(
            !h.enabled && h.why.contains("no transparent huge page size"),
            "{h:?}"
        );
        // Without a reporting balloon the sizes do not matter.
        let quiet = devices("small-pages-quiet", &[]);
        assert!(decide(None, &quiet.0, &none.0).expect("valid").enabled);
    }
}
