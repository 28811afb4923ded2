//! DeepFlow's `inputs.cbpf.af_packet.tunning.packet_fanout_count` and `packet_fanout_mode`: how
//! many AF_PACKET sockets each interface is read by, and how the kernel spreads frames over them
//! (PACKET_FANOUT). As in DeepFlow they apply in capture mode 0 (local); tapflow applies them
//! to `tapflow run --engine af_packet` when `--queues` is not given (`--queues` wins, and is how
//! the mirror modes and the other engines take several workers).

use tapflow_analyzer::mirror::CaptureMode;

use super::ConfigError;

const COUNT_KEY: &str = "inputs.cbpf.af_packet.tunning.packet_fanout_count";
const MODE_KEY: &str = "inputs.cbpf.af_packet.tunning.packet_fanout_mode";

/// The kernel's fanout modes by DeepFlow's numbers (PACKET_FANOUT_*).
pub const MODE_NAMES: [&str; 8] = ["hash", "lb", "cpu", "rollover", "rnd", "qm", "cbpf", "ebpf"];

/// AF_PACKET sockets per interface and their fanout mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfPacketFanout {
    pub sockets: u16,
    /// PACKET_FANOUT_HASH (0), _LB (1), _CPU (2), _ROLLOVER (3), _RND (4), _QM (5), _EBPF (7:
    /// tapflow's steering program, which hashes the innermost flow; 6 becomes 7).
    pub mode: u16,
}

/// The fanout the two keys ask for, when it applies (None: one socket per interface).
pub(super) fn fanout(
    count: Option<u32>,
    mode: Option<u32>,
    capture_mode: CaptureMode,
    warnings: &mut Vec<String>,
) -> Result<Option<AfPacketFanout>, ConfigError> {
    let sockets = match count {
        None | Some(1) => return check_mode(mode).map(|_| None),
        Some(n @ 2..=64) => n as u16,
        Some(n) => {
            return Err(ConfigError::Invalid {
                key: COUNT_KEY,
                problem: format!("{n} is outside 1..=64"),
            })
        }
    };
    let mut mode = check_mode(mode)?;
    if capture_mode != CaptureMode::Local {
        warnings.push(format!(
            "{COUNT_KEY} applies in capture_mode 0 (DeepFlow's rule); for more workers on a mirror, tapflow run --queues N"
        ));
        return Ok(None);
    }
    match mode {
        6 => {
            warnings.push(format!(
                "{MODE_KEY} 6 (cbpf) needs a classic BPF steering program; tapflow steers with its eBPF one (7): each innermost flow on one socket"
            ));
            mode = 7;
        }
        1..=5 => warnings.push(format!(
            "{MODE_KEY} {mode} ({}) spreads one flow's frames over several sockets, so its TCP metrics and request pairing are split between workers; 0 (hash) keeps a flow on one",
            MODE_NAMES[usize::from(mode)]
        )),
        _ => {}
    }
    Ok(Some(AfPacketFanout { sockets, mode }))
}

fn check_mode(mode: Option<u32>) -> Result<u16, ConfigError> {
    match mode.unwrap_or(0) {
        m @ 0..=7 => Ok(m as u16),
        m => Err(ConfigError::Invalid {
            key: MODE_KEY,
            problem: format!("{m} is not a fanout mode (0 hash .. 7 ebpf)"),
        }),
    }
}
