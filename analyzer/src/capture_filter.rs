//! The capture filter (DeepFlow's `inputs.cbpf.af_packet.extra_bpf_filter`, tcpdump's filter
//! expressions): classic BPF programs, one per link type a frame can start with, run on each
//! frame before it is decoded. A frame the program rejects is counted (`capture_filtered`) and
//! goes no further, as if it had not been captured: its time does not move the analyzer.
//!
//! The programs come compiled (libpcap's `pcap_compile`, in the dataplane); this module checks
//! them once ([`BpfProgram::new`]: every jump lands inside the program, every path ends in a
//! return, scratch memory indexes are in range) and runs them as libpcap's own interpreter
//! (`bpf_filter`) does: loads past the frame's captured bytes reject it (an indexed offset that
//! overflows too), as does a division by zero; the frame's length (`len`) is its length on the
//! wire. Programs only jump forward, so a
//! run takes at most as many steps as the program has instructions.

use crate::wire::LinkType;

/// One classic BPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// Scratch memory words (`BPF_MEMWORDS`).
const MEMWORDS: usize = 16;

// Instruction classes, sizes, modes, operations and sources (`linux/bpf_common.h`).
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const H: u16 = 0x08;
const B: u16 = 0x10;
const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const IND: u16 = 0x40;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const MSH: u16 = 0xa0;
const SRC_X: u16 = 0x08;
const RET_A: u16 = 0x10;
const RET_X: u16 = 0x08;
const TXA: u16 = 0x80;

/// Why a program was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramError {
    Empty,
    TooLong(usize),
    /// Instruction `at` jumps past the end.
    JumpOut {
        at: usize,
    },
    /// Instruction `at` uses scratch word `k`, past the 16 there are.
    Memory {
        at: usize,
    },
    /// Instruction `at` has an opcode the interpreter does not know (Linux ancillary loads
    /// included: programs compiled for a dead handle do not use them).
    Opcode {
        at: usize,
        code: u16,
    },
    /// The last instruction is not a return.
    NoReturn,
}

impl std::fmt::Display for ProgramError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProgramError::Empty => write!(f, "empty program"),
            ProgramError::TooLong(n) => write!(f, "{n} instructions (at most 4096)"),
            ProgramError::JumpOut { at } => write!(f, "instruction {at} jumps past the end"),
            ProgramError::Memory { at } => {
                write!(f, "instruction {at} uses a scratch word past 15")
            }
            ProgramError::Opcode { at, code } => {
                write!(
                    f,
                    "instruction {at} has opcode {code:#06x}, not classic BPF"
                )
            }
            ProgramError::NoReturn => write!(f, "the program does not end with a return"),
        }
    }
}

impl std::error::Error for ProgramError {}

/// A checked classic BPF program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpfProgram {
    insns: Vec<Insn>,
}

/// Most instructions a program may have (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

impl BpfProgram {
    /// Checks `insns` (see the module's documentation).
    pub fn new(insns: Vec<Insn>) -> Result<Self, ProgramError> {
        if insns.is_empty() {
            return Err(ProgramError::Empty);
        }
        if insns.len() > MAX_INSNS {
            return Err(ProgramError::TooLong(insns.len()));
        }
        let n = insns.len();
        for (at, i) in insns.iter().enumerate() {
            let left = n - at - 1;
            let known = i.code <= 0xff
                && match i.code & 0x07 {
                    LD => {
                        matches!(i.code & 0x18, W | H | B)
                            && matches!(i.code & 0xe0, IMM | ABS | IND | MEM | LEN)
                            && (i.code & 0xe0 != MEM || i.code & 0x18 == W)
                    }
                    LDX => [LDX | W | IMM, LDX | W | MEM, LDX | W | LEN, LDX | B | MSH]
                        .contains(&i.code),
                    ST | STX => i.code & !0x07 == 0,
                    ALU => (i.code >> 4) <= 0x0a,
                    JMP => (i.code >> 4) <= 0x04,
                    RET => matches!(i.code & 0x18, 0x00 | RET_A | RET_X),
                    MISC => matches!(i.code & 0xf8, 0x00 | TXA),
                    _ => false,
                };
            if !known {
                return Err(ProgramError::Opcode { at, code: i.code });
            }
            let uses_mem = matches!(i.code & 0x07, ST | STX)
                || (matches!(i.code & 0x07, LD | LDX) && i.code & 0xe0 == MEM);
            if uses_mem && i.k as usize >= MEMWORDS {
                return Err(ProgramError::Memory { at });
            }
            if i.code & 0x07 == JMP {
                let out = if i.code >> 4 == 0 {
                    i.k as usize >= left
                } else {
                    usize::from(i.jt) >= left || usize::from(i.jf) >= left
                };
                if out {
                    return Err(ProgramError::JumpOut { at });
                }
            }
        }
        if insns[n - 1].code & 0x07 != RET {
            return Err(ProgramError::NoReturn);
        }
        Ok(BpfProgram { insns })
    }

    /// The program's return for `frame` (its captured bytes) of `wire_len` bytes on the wire:
    /// 0 rejects it.
    pub fn run(&self, frame: &[u8], wire_len: u32) -> u32 {
        let (mut a, mut x) = (0u32, 0u32);
        let mut mem = [0u32; MEMWORDS];
        let mut pc = 0;
        while let Some(i) = self.insns.get(pc) {
            pc += 1;
            let k = i.k;
            match i.code & 0x07 {
                LD => {
                    a = match i.code & 0xe0 {
                        IMM => k,
                        LEN => wire_len,
                        MEM => mem[k as usize % MEMWORDS],
                        mode => {
                            let off = if mode == IND {
                                x.checked_add(k)
                            } else {
                                Some(k)
                            };
                            match off.and_then(|off| load(frame, off, i.code & 0x18)) {
                                Some(v) => v,
                                None => return 0,
                            }
                        }
                    }
                }
                LDX => {
                    x = match i.code & 0xe0 {
                        IMM => k,
                        LEN => wire_len,
                        MEM => mem[k as usize % MEMWORDS],
                        _ => match frame.get(k as usize) {
                            Some(b) => u32::from(b & 0x0f) * 4,
                            None => return 0,
                        },
                    }
                }
                ST => mem[k as usize % MEMWORDS] = a,
                STX => mem[k as usize % MEMWORDS] = x,
                ALU => {
                    let v = if i.code & SRC_X != 0 { x } else { k };
                    a = match i.code >> 4 {
                        0x0 => a.wrapping_add(v),
                        0x1 => a.wrapping_sub(v),
                        0x2 => a.wrapping_mul(v),
                        0x3 | 0x9 if v == 0 => return 0,
                        0x3 => a / v,
                        0x9 => a % v,
                        0x4 => a | v,
                        0x5 => a & v,
                        0x6 => a.checked_shl(v).unwrap_or(0),
                        0x7 => a.checked_shr(v).unwrap_or(0),
                        0x8 => a.wrapping_neg(),
                        _ => a ^ v,
                    }
                }
                JMP => {
                    let v = if i.code & SRC_X != 0 { x } else { k };
                    let taken = match i.code >> 4 {
                        0x0 => {
                            pc += k as usize;
                            continue;
                        }
                        0x1 => a == v,
                        0x2 => a > v,
                        0x3 => a >= v,
                        _ => a & v != 0,
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
                RET => {
                    return match i.code & 0x18 {
                        RET_A => a,
                        RET_X => x,
                        _ => k,
                    }
                }
                _ => {
                    if i.code & TXA != 0 {
                        a = x;
                    } else {
                        x = a;
                    }
                }
            }
        }
        0
    }

    pub fn len(&self) -> usize {
        self.insns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }
}

fn load(frame: &[u8], off: u32, size: u16) -> Option<u32> {
    let at = off as usize;
    match size {
        W => frame
            .get(at..at.checked_add(4)?)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        H => frame
            .get(at..at.checked_add(2)?)
            .map(|b| u32::from(u16::from_be_bytes([b[0], b[1]]))),
        _ => frame.get(at).map(|&b| u32::from(b)),
    }
}

/// The link types a filter is compiled for, with their pcap numbers (DLT).
pub const LINK_TYPES: [(LinkType, i32); 5] = [
    (LinkType::Ethernet, 1),
    (LinkType::RawIp, 12),
    (LinkType::Null, 0),
    (LinkType::LinuxSll, 113),
    (LinkType::LinuxSll2, 276),
];

/// A filter expression compiled for every link type of [`LINK_TYPES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureFilter {
    /// The expression as configured (for messages and stats).
    pub expr: String,
    programs: [BpfProgram; 5],
}

impl CaptureFilter {
    /// The filter `expr` with its programs, in the order of [`LINK_TYPES`].
    pub fn new(expr: &str, programs: [BpfProgram; 5]) -> Self {
        CaptureFilter {
            expr: expr.to_string(),
            programs,
        }
    }

    /// Does the filter keep `frame` (captured bytes of a `wire_len`-byte frame starting with
    /// `link`)?
    #[inline]
    pub fn keeps(&self, link: LinkType, frame: &[u8], wire_len: u32) -> bool {
        let i = LINK_TYPES.iter().position(|(l, _)| *l == link).unwrap_or(0);
        self.programs[i].run(frame, wire_len) != 0
    }
}

#[cfg(test)]
mod tests;
