//! Whether the binary asks for transparent huge pages ([`crate::sys::huge_pages`]): the
//! `TAPFLOW_HUGE_PAGES` setting, and by default what the machine says.
//!
//! Huge pages make the large tables' random accesses 5-10 % faster where a 2 MiB page costs
//! what zeroing it costs (docs/perf.md). On a virtual machine whose balloon reports free memory
//! to the hypervisor (virtio's free page reporting), the guest hands every free 2 MiB block back
//! to the host within seconds, and the first touch of a huge page taken from such a block waits
//! for the host to back it again: 5-15 ms per 2 MiB page measured on the project's build VM
//! (256 MB of fresh huge pages in 1.1-2.5 s, of 4 KiB pages in 0.09 s). A first run of the
//! 64-byte input then took 2-3x as long, the SYN flood 4x, and in a live capture each such
//! fault is a stall of milliseconds on the worker's core. So by default huge pages are asked
//! for unless such a device is present; `TAPFLOW_HUGE_PAGES=1` or `0` decides instead, and
//! `reserved` takes the large tables from the huge pages the administrator reserved
//! (`vm.nr_hugepages`), which stay backed ([`crate::sys::reserved_pages`]).

use std::path::Path;

/// Where the kernel lists virtio devices.
pub const VIRTIO_DEVICES: &str = "/sys/bus/virtio/devices";

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

/// Decides from `setting` (the value of `TAPFLOW_HUGE_PAGES`, if set) and, when that is unset
/// or `auto`, from the virtio devices under `devices`. A value it does not know is an error,
/// not a guess.
pub fn decide(setting: Option<&str>, devices: &Path) -> Result<HugePages, String> {
    let forced = |enabled: bool, v: &str| HugePages {
        enabled,
        reserved: false,
        why: format!("TAPFLOW_HUGE_PAGES={v}"),
    };
    let auto = || match free_page_reporting(devices) {
        Some(device) => HugePages {
            enabled: false,
            reserved: false,
            why: format!(
                "{device} reports free memory to the hypervisor: a fresh 2 MiB page takes \
                 milliseconds to fault in (TAPFLOW_HUGE_PAGES=1 asks for them anyway, \
                 =reserved takes them from vm.nr_hugepages)"
            ),
        },
        None => HugePages {
            enabled: true,
            reserved: false,
            why: "no balloon reports free memory to a hypervisor".into(),
        },
    };
    match setting.map(str::trim) {
        Some(v @ ("1" | "on" | "true" | "yes" | "always")) => Ok(forced(true, v)),
        Some(v @ ("0" | "off" | "false" | "no" | "never")) => Ok(forced(false, v)),
        None | Some("" | "auto") => Ok(auto()),
        Some("reserved") => Ok(match free_page_reporting(devices) {
            Some(device) => HugePages {
                enabled: false,
                reserved: true,
                why: format!(
                    "TAPFLOW_HUGE_PAGES=reserved; past the pool, 4 KiB pages ({device} reports \
                     free memory to the hypervisor)"
                ),
            },
            None => HugePages {
                enabled: true,
                reserved: true,
                why: "TAPFLOW_HUGE_PAGES=reserved; past the pool, transparent huge pages".into(),
            },
        }),
        Some(other) => Err(format!(
            "TAPFLOW_HUGE_PAGES={other}: expected auto (the default), 1/on, 0/off or reserved"
        )),
    }
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
        for setting in [None, Some("auto"), Some("")] {
            let h = decide(setting, &d.0).expect("valid");
            assert!(!h.enabled, "{setting:?}");
            assert!(
                h.why.starts_with("virtio balloon virtio0 reports"),
                "{}",
                h.why
            );
        }
        let h = decide(Some("1"), &d.0).expect("valid");
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
        for dir in [
            d.0.as_path(),
            none.0.as_path(),
            Path::new("/nonexistent/virtio"),
        ] {
            assert_eq!(free_page_reporting(dir), None);
            assert!(decide(None, dir).expect("valid").enabled);
            for off in ["0", "off", "false", "no", "never", " 0 "] {
                assert!(!decide(Some(off), dir).expect("valid").enabled, "{off}");
            }
            for on in ["1", "on", "true", "yes", "always"] {
                assert!(decide(Some(on), dir).expect("valid").enabled, "{on}");
            }
        }
    }

    #[test]
    fn reserved_takes_the_pool_and_leaves_the_rest_to_auto() {
        let d = devices("pool", &[("virtio0", VIRTIO_ID_BALLOON, REPORTING)]);
        let none = devices("pool-none", &[]);
        let with = decide(Some("reserved"), &d.0).expect("valid");
        assert!(with.reserved && !with.enabled, "{with:?}");
        assert!(with.why.contains("virtio balloon virtio0"), "{}", with.why);
        let without = decide(Some("reserved"), &none.0).expect("valid");
        assert!(without.reserved && without.enabled, "{without:?}");
        for setting in [None, Some("1"), Some("0"), Some("auto")] {
            assert!(
                !decide(setting, &d.0).expect("valid").reserved,
                "{setting:?}"
            );
        }
    }

    #[test]
    fn an_unknown_setting_is_an_error() {
        let e = decide(Some("sometimes"), Path::new(VIRTIO_DEVICES)).expect_err("invalid");
        assert!(e.contains("TAPFLOW_HUGE_PAGES=sometimes"), "{e}");
    }
}
