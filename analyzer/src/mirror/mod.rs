//! Mirror semantics: where a frame was observed and how to label it.
//!
//! DeepFlow's capture modes (`deepflow-facts.md` 1.3-1.6): 0 local, 1 virtual mirror (hypervisor
//! or node NIC: local MACs decide which end is local, a VM-to-VM frame is processed once per
//! local end), 2 analyzer (physical SPAN/ERSPAN: tap_type from the VLAN, tap_port from the
//! capture point or the ERSPAN session). Duplicate frames of a SPAN are dropped by [`Dedup`].

mod dedup;
mod local_macs;
mod tap;

pub use dedup::{Dedup, DedupConfig, DEDUP_WINDOW_NS};
pub use local_macs::LocalMacs;
pub use tap::{tap_side, tap_side_name, TapPort, TapPortKind, TapTypeMap, VlanSource, CLOUD};

/// `inputs.cbpf.common.capture_mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaptureMode {
    /// 0: traffic of this host.
    #[default]
    Local,
    /// 1: a hypervisor / vSwitch / node NIC mirror.
    VirtualMirror,
    /// 2: a physical SPAN, RSPAN or ERSPAN feed (a dedicated analyzer).
    Analyzer,
}

impl CaptureMode {
    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            0 => Some(CaptureMode::Local),
            1 => Some(CaptureMode::VirtualMirror),
            2 => Some(CaptureMode::Analyzer),
            _ => None,
        }
    }
}

/// Mirror settings of a worker.
#[derive(Debug, Clone, Default)]
pub struct MirrorConfig {
    pub mode: CaptureMode,
    /// VLAN -> tap_type (analyzer mode).
    pub tap_types: TapTypeMap,
    /// MACs of local VMs / pods (virtual mirror mode).
    pub local_macs: LocalMacs,
    pub dedup: DedupConfig,
}

/// One way to account a frame: a frame may be accounted twice in virtual mirror mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    pub tap_type: u8,
    pub tap_port: TapPort,
    /// The frame's source / destination is a local (L2) end.
    pub src_local: bool,
    pub dst_local: bool,
}

/// Up to two observations of one frame, without allocation.
#[derive(Debug, Clone, Copy)]
pub struct Observations {
    items: [Observation; 2],
    len: u8,
}

impl Observations {
    /// None yet (an array's start; never accounted).
    pub const NONE: Observations = Observations {
        items: [Observation {
            tap_type: 0,
            tap_port: TapPort(0),
            src_local: false,
            dst_local: false,
        }; 2],
        len: 0,
    };

    fn one(o: Observation) -> Self {
        Observations {
            items: [o, o],
            len: 1,
        }
    }

    pub fn as_slice(&self) -> &[Observation] {
        &self.items[..usize::from(self.len)]
    }
}

impl MirrorConfig {
    /// How a decoded frame captured at `capture_port` (interface / source index) is accounted.
    #[inline(always)]
    pub fn observe(&self, pkt: &crate::wire::Packet<'_>, capture_port: u32) -> Observations {
        let capture = TapPort::capture(capture_port);
        match self.mode {
            CaptureMode::Local => Observations::one(Observation {
                tap_type: CLOUD,
                tap_port: capture,
                src_local: false,
                dst_local: false,
            }),
            CaptureMode::Analyzer => {
                let tap_type = self.tap_types.tap_type(&pkt.l2);
                let tap_port = if pkt.mirror.version != 0 {
                    TapPort::erspan(&pkt.mirror)
                } else {
                    capture
                };
                Observations::one(Observation {
                    tap_type,
                    tap_port,
                    src_local: false,
                    dst_local: false,
                })
            }
            CaptureMode::VirtualMirror => {
                // The MACs that identify the VMs: the outer ones when a tunnel was kept (the
                // hypervisor's overlay), else the frame's own.
                let (src, dst) = if pkt.tunnel.kind != crate::wire::TunnelType::None {
                    (pkt.tunnel.src_mac, pkt.tunnel.dst_mac)
                } else {
                    (pkt.l2.src_mac, pkt.l2.dst_mac)
                };
                let (s, d) = (
                    self.local_macs.contains(&src),
                    self.local_macs.contains(&dst),
                );
                let obs = |mac: [u8; 6], src_local, dst_local| Observation {
                    tap_type: CLOUD,
                    tap_port: TapPort::local_mac(mac),
                    src_local,
                    dst_local,
                };
                match (s, d) {
                    (false, false) => Observations::one(Observation {
                        tap_type: CLOUD,
                        tap_port: capture,
                        src_local: false,
                        dst_local: false,
                    }),
                    (true, false) => Observations::one(obs(src, true, false)),
                    (false, true) => Observations::one(obs(dst, false, true)),
                    (true, true) => Observations {
                        items: [obs(src, true, false), obs(dst, false, true)],
                        len: 2,
                    },
                }
            }
        }
    }

    /// Whether frames with this tap_type are de-duplicated in this mode.
    pub fn dedups(&self, tap_type: u8) -> bool {
        !self.dedup.disabled
            && match self.mode {
                CaptureMode::Local => false,
                CaptureMode::VirtualMirror => true,
                CaptureMode::Analyzer => tap_type == CLOUD,
            }
    }
}
