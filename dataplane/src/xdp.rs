//! Loading and attaching tapflow's XDP program (`xdp-prog/src/mirror.bpf.c`) with libbpf.
//!
//! [`XdpProgram::attach`] replaces any program left on the interface by a crashed run, tries
//! native (driver) mode first and falls back to generic (SKB) mode; the returned guard detaches
//! the program when dropped (normal exit, SIGINT / SIGTERM through the clean stop path).

use std::os::fd::{AsFd, RawFd};

use libbpf_rs::{MapCore, MapFlags, Object, ObjectBuilder, Xdp, XdpFlags};
use tapflow_xdp_prog::{counter, filter, names};

/// How the program ended up attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    Native,
    Generic,
}

impl XdpMode {
    pub fn name(self) -> &'static str {
        match self {
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        }
    }

    fn flags(self) -> XdpFlags {
        match self {
            XdpMode::Native => XdpFlags::DRV_MODE,
            XdpMode::Generic => XdpFlags::SKB_MODE,
        }
    }
}

/// Why the program could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XdpError {
    #[error("the XDP program was not built (clang was missing at build time); install clang and libbpf-dev and rebuild")]
    NotBuilt,
    #[error("cannot load the XDP program: {0}")]
    Load(String),
    #[error("cannot attach XDP to interface {ifindex} in native or generic mode: {reason}")]
    Attach { ifindex: u32, reason: String },
    #[error("XDP map {0}: {1}")]
    Map(&'static str, String),
}

/// Counters of the XDP program, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpCounters {
    pub seen: u64,
    pub redirected: u64,
    pub filtered: u64,
    pub redirect_failed: u64,
}

/// The loaded, attached program; detached on drop.
#[derive(Debug)]
pub struct XdpProgram {
    obj: Object,
    ifindex: u32,
    pub mode: XdpMode,
}

fn detach_any(ifindex: u32) {
    // A stale program (crashed run) in either mode: remove it. Errors mean "nothing there".
    if let Ok(obj) = load_object() {
        if let Some(prog) = obj.progs().next() {
            let xdp = Xdp::new(prog.as_fd());
            for mode in [XdpMode::Native, XdpMode::Generic] {
                if xdp
                    .query_id(ifindex as i32, mode.flags())
                    .is_ok_and(|id| id != 0)
                {
                    let _ = xdp.detach(ifindex as i32, mode.flags());
                }
            }
        }
    }
}

fn load_object() -> Result<Object, XdpError> {
    let bytes = tapflow_xdp_prog::object().ok_or(XdpError::NotBuilt)?;
    let open = ObjectBuilder::default()
        .open_memory(bytes)
        .map_err(|e| XdpError::Load(e.to_string()))?;
    open.load().map_err(|e| XdpError::Load(e.to_string()))
}

impl XdpProgram {
    /// Loads the program and attaches it to `ifindex` (native, else generic).
    pub fn attach(ifindex: u32, force_generic: bool) -> Result<XdpProgram, XdpError> {
        detach_any(ifindex);
        let obj = load_object()?;
        let mut last_err = String::new();
        let modes: &[XdpMode] = if force_generic {
            &[XdpMode::Generic]
        } else {
            &[XdpMode::Native, XdpMode::Generic]
        };
        for &mode in modes {
            let attached = {
                let prog = obj
                    .progs()
                    .find(|p| p.name() == names::PROGRAM)
                    .ok_or_else(|| {
                        XdpError::Load(format!(
                            "program {} missing from the object",
                            names::PROGRAM
                        ))
                    })?;
                Xdp::new(prog.as_fd())
                    .attach(ifindex as i32, mode.flags() | XdpFlags::UPDATE_IF_NOEXIST)
            };
            match attached {
                Ok(()) => return Ok(XdpProgram { obj, ifindex, mode }),
                Err(e) => last_err = format!("{} mode: {e}", mode.name()),
            }
        }
        Err(XdpError::Attach {
            ifindex,
            reason: last_err,
        })
    }

    fn map_update(&self, name: &'static str, key: &[u8], value: &[u8]) -> Result<(), XdpError> {
        let map = self
            .obj
            .maps()
            .find(|m| m.name() == name)
            .ok_or_else(|| XdpError::Map(name, "missing".into()))?;
        map.update(key, value, MapFlags::ANY)
            .map_err(|e| XdpError::Map(name, e.to_string()))
    }

    /// Directs frames of rx `queue` to the AF_XDP socket `fd`.
    pub fn register_socket(&self, queue: u32, fd: RawFd) -> Result<(), XdpError> {
        self.map_update(
            names::XSKS,
            &queue.to_ne_bytes(),
            &(fd as u32).to_ne_bytes(),
        )
    }

    /// Early filter: frames of `ethertype` go to the kernel stack (`pass`) or are dropped, and
    /// are not captured either way (counted as `filtered`).
    pub fn filter_ethertype(&self, ethertype: u16, pass: bool) -> Result<(), XdpError> {
        let action = if pass { filter::PASS } else { filter::DROP };
        self.map_update(names::PASS_ETHERTYPES, &ethertype.to_ne_bytes(), &[action])
    }

    /// Counters summed over CPUs.
    pub fn counters(&self) -> XdpCounters {
        let mut c = [0u64; counter::MAX as usize];
        if let Some(map) = self.obj.maps().find(|m| m.name() == names::COUNTERS) {
            for (slot, total) in c.iter_mut().enumerate() {
                if let Ok(Some(per_cpu)) =
                    map.lookup_percpu(&(slot as u32).to_ne_bytes(), MapFlags::ANY)
                {
                    *total = per_cpu
                        .iter()
                        .filter_map(|v| v.get(..8))
                        .map(|b| {
                            u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
                        })
                        .sum();
                }
            }
        }
        XdpCounters {
            seen: c[counter::SEEN as usize],
            redirected: c[counter::REDIRECTED as usize],
            filtered: c[counter::FILTERED as usize],
            redirect_failed: c[counter::REDIRECT_FAILED as usize],
        }
    }
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        if let Some(prog) = self.obj.progs().find(|p| p.name() == names::PROGRAM) {
            let _ = Xdp::new(prog.as_fd()).detach(self.ifindex as i32, self.mode.flags());
        }
    }
}
