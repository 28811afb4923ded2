//! Where the Go TLS uprobes go in a Go executable: its Go version (`.go.buildinfo`), the file
//! offsets of `crypto/tls.(*Conn).Read` and `Write` and of the sites probed in them, and the
//! addresses of `net.(*TCPConn).Close` and `net.(*UnixConn).Close`, the first methods of those
//! types' `net.Conn` itabs (the BPF side reads a connection's socket through the interface
//! when its itab is one of them). Functions come from `.symtab`, or in a stripped executable
//! from Go's own function table ([`super::go_pclntab`]).
//!
//! Go moves goroutine stacks, so a uretprobe (which replaces a return address on the stack)
//! crashes a Go program; the returns are probed where they happen instead, on each `RET`
//! instruction of the function, found by decoding its machine code (iced-x86).
//!
//! Only what the probes need is read: the ELF header, the section headers, `.go.buildinfo`,
//! `.symtab` and `.strtab` (or `.gopclntab`), and the two functions' bytes. Addresses are the link-time ones; a
//! position-independent executable (`-buildmode=pie`) is loaded elsewhere, and the BPF side
//! finds by how much from where its probe hit (the probed instruction's address against its
//! link-time one).

use std::path::Path;

use super::elf::{u64_at, ElfError, ElfFile, Section, EM_X86_64, SHT_SYMTAB};

/// The oldest Go whose functions take their arguments in registers (Go 1.17's `ABIInternal`
/// on amd64): what the probes read.
pub const MIN_GO: (u32, u32) = (1, 17);

/// One probed function, as offsets in the file.
///
/// Where a probe sits decides what it costs: the kernel emulates a probed jump, conditional
/// jump, call or nop, but single-steps other instructions out of line, which takes a second
/// trap; on a virtual machine that trap can cost ten times the first (12.5 against 0.8 us a
/// hit measured on a KVM guest). So the entry is probed on the stack check's `jbe` when the
/// prologue has one (the arguments are still in their registers there), and Read's bytes are
/// taken at its call of `runtime.memmove`, the copy into the caller's buffer, instead of at its
/// returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbedFunc {
    /// The function's first instruction.
    pub start: u64,
    /// Where its entry is probed: the stack check's `jbe`, or else the first instruction.
    pub entry: u64,
    /// The entry probe's link-time address.
    pub entry_addr: u64,
    /// The entry probe is on the stack check's `jbe`: a hit where the branch is taken is the
    /// function about to grow its stack and start again, and is skipped.
    pub entry_on_jbe: bool,
    /// Its `RET` instructions.
    pub returns: Vec<u64>,
    /// Its one call of `runtime.memmove` (None: none, or more than one).
    pub copy_call: Option<u64>,
}

/// What the Go TLS probes of one executable need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoTlsTarget {
    /// `go1.19.8` and the like.
    pub version: String,
    pub read: ProbedFunc,
    pub write: ProbedFunc,
    /// `net.(*TCPConn).Close`, the first method of the `net.Conn` itab of `*net.TCPConn`: a
    /// connection's interface is that one when its itab's first method is this (0: not
    /// linked in).
    pub tcp_close: u64,
    /// `net.(*UnixConn).Close`, likewise.
    pub unix_close: u64,
}

/// Why an executable gets no Go TLS probes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotProbed {
    #[error("cannot read it: {0}")]
    Io(String),
    #[error("not a 64-bit little-endian x86-64 ELF file")]
    NotElf,
    #[error("not a Go program (no .go.buildinfo section)")]
    NotGo,
    #[error("{0}: Go before 1.17 passes arguments on the stack, which the probes do not read")]
    OldGo(String),
    #[error("neither a symbol table nor Go's function table")]
    Stripped,
    #[error("does not use crypto/tls")]
    NoTls,
    #[error("malformed ELF: {0}")]
    Malformed(&'static str),
}

impl From<ElfError> for NotProbed {
    fn from(e: ElfError) -> Self {
        match e {
            ElfError::Io(e) => NotProbed::Io(e),
            ElfError::NotElf => NotProbed::NotElf,
            ElfError::Malformed(what) => NotProbed::Malformed(what),
        }
    }
}

/// The functions looked up: the two probed, the copy Read makes, and the `Close` methods
/// that are the first entries of the `net.Conn` itabs of `*net.TCPConn` and `*net.UnixConn`.
const WANTED: [&str; 5] = [
    "crypto/tls.(*Conn).Read",
    "crypto/tls.(*Conn).Write",
    "runtime.memmove",
    "net.(*TCPConn).Close",
    "net.(*UnixConn).Close",
];

/// Reads what the probes need from the executable at `path`.
pub fn inspect(path: &Path) -> Result<GoTlsTarget, NotProbed> {
    let mut elf = ElfFile::open(path, &[EM_X86_64])?;
    let buildinfo = *elf.section(".go.buildinfo").ok_or(NotProbed::NotGo)?;
    let version = go_version(&mut elf, &buildinfo)?;
    if !at_least(&version, MIN_GO) {
        return Err(NotProbed::OldGo(version));
    }
    // The functions: from the symbol table, or from the runtime's own table (.gopclntab) in
    // an executable stripped of it.
    let found = match elf.symbols(SHT_SYMTAB, &WANTED)? {
        Some(found) => found,
        None => {
            let table = *elf
                .section(".gopclntab")
                .or_else(|| elf.section(".data.rel.ro.gopclntab"))
                .ok_or(NotProbed::Stripped)?;
            let text = elf.section(".text").map_or(0, |t| t.addr);
            let bytes = elf.read(&table)?;
            super::go_pclntab::functions(&bytes, text, &WANTED)
                .ok_or(NotProbed::Malformed("function table (.gopclntab)"))?
        }
    };
    let [read, write, memmove, tcp_close, unix_close] = found[..] else {
        return Err(NotProbed::Malformed("function table (.gopclntab)"));
    };
    let addr = |f: Option<(u64, u64)>| f.map_or(0, |(a, _)| a);
    let (memmove, tcp_close, unix_close) = (addr(memmove), addr(tcp_close), addr(unix_close));
    let (Some(read), Some(write)) = (read, write) else {
        return Err(NotProbed::NoTls);
    };
    Ok(GoTlsTarget {
        version,
        read: probed(&mut elf, read, memmove)?,
        write: probed(&mut elf, write, 0)?,
        tcp_close,
        unix_close,
    })
}

/// The function at virtual address `addr` of `size` bytes (`memmove`: the address of
/// `runtime.memmove`, 0 if unknown).
fn probed(
    elf: &mut ElfFile,
    (addr, size): (u64, u64),
    memmove: u64,
) -> Result<ProbedFunc, NotProbed> {
    if size == 0 || size > 1 << 20 {
        return Err(NotProbed::Malformed("function size"));
    }
    let start = elf
        .file_offset(addr)
        .ok_or(NotProbed::Malformed("function address"))?;
    let code = elf.read_at(start, size)?;
    let sites = probe_sites(&code, addr, memmove);
    if sites.returns.is_empty() {
        return Err(NotProbed::Malformed("function without a RET"));
    }
    Ok(ProbedFunc {
        start,
        entry: start + sites.entry,
        entry_addr: addr + sites.entry,
        entry_on_jbe: sites.entry_on_jbe,
        returns: sites.returns.into_iter().map(|r| start + r).collect(),
        copy_call: sites.copy_call.map(|c| start + c),
    })
}

/// Probe sites in one function's machine code, as offsets from its start.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ProbeSites {
    pub entry: u64,
    pub entry_on_jbe: bool,
    pub returns: Vec<u64>,
    pub copy_call: Option<u64>,
}

/// Finds the probe sites in `code` (one function at address `ip`): the stack check's `jbe`
/// (`cmp rsp, [r14+16]`, or `lea r12, [rsp-N]` and `cmp r12, [r14+16]`, then `jbe`: Go's
/// prologue), the `RET`s, and the one direct call of `memmove` (when not 0). Decoding stops at
/// the first invalid instruction (what follows the last `RET` may be padding).
pub fn probe_sites(code: &[u8], ip: u64, memmove: u64) -> ProbeSites {
    use iced_x86::{Code, Decoder, DecoderOptions, Mnemonic, Register};
    let mut d = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut out = ProbeSites::default();
    let mut copies = Vec::new();
    let mut prologue = Vec::new();
    while d.can_decode() {
        let i = d.decode();
        if i.code() == Code::INVALID {
            break;
        }
        let at = i.ip() - ip;
        if prologue.len() < 3 {
            prologue.push((at, i.mnemonic(), i.op_register(0)));
        }
        match i.mnemonic() {
            Mnemonic::Ret => out.returns.push(at),
            Mnemonic::Call if memmove != 0 && i.near_branch_target() == memmove => copies.push(at),
            _ => {}
        }
    }
    let jbe = match prologue.as_slice() {
        [(_, Mnemonic::Cmp, Register::RSP), (j, Mnemonic::Jbe, _), ..] => Some(*j),
        [(_, Mnemonic::Lea, Register::R12), (_, Mnemonic::Cmp, Register::R12), (j, Mnemonic::Jbe, _)] => {
            Some(*j)
        }
        _ => None,
    };
    if let Some(j) = jbe {
        out.entry = j;
        out.entry_on_jbe = true;
    }
    if let [one] = copies.as_slice() {
        out.copy_call = Some(*one);
    }
    out
}

/// Offsets in `code` (the machine code of one function at address `ip`) of its `RET`
/// instructions.
pub fn return_offsets(code: &[u8], ip: u64) -> Vec<u64> {
    probe_sites(code, ip, 0).returns
}

/// The Go version in `.go.buildinfo`: inline since Go 1.18 (a flag bit, then the version as a
/// varint-prefixed string at byte 32), before that through a pointer to a string header.
fn go_version(elf: &mut ElfFile, bi: &Section) -> Result<String, NotProbed> {
    let head = elf.read_at(bi.offset, 32.min(bi.size))?;
    if head.len() < 32 || &head[..14] != b"\xff Go buildinf:" || head[14] != 8 {
        return Err(NotProbed::NotGo);
    }
    let bytes = if head[15] & 2 != 0 {
        let rest = elf.read_at(bi.offset + 32, 64.min(bi.size.saturating_sub(32)))?;
        let (len, used) = uvarint(&rest).ok_or(NotProbed::Malformed("build info"))?;
        rest.get(used..used + len as usize)
            .ok_or(NotProbed::Malformed("build info"))?
            .to_vec()
    } else {
        // A pointer to the version's string header {data, len}.
        let at = elf
            .file_offset(u64_at(&head, 16))
            .ok_or(NotProbed::Malformed("build info"))?;
        let sh = elf.read_at(at, 16)?;
        let (data, len) = (u64_at(&sh, 0), u64_at(&sh, 8));
        if len > 64 {
            return Err(NotProbed::Malformed("build info"));
        }
        let at = elf
            .file_offset(data)
            .ok_or(NotProbed::Malformed("build info"))?;
        elf.read_at(at, len)?
    };
    String::from_utf8(bytes).map_err(|_| NotProbed::Malformed("build info"))
}

/// `go1.19.8` (or `go1.21rc2`, `devel ...`) is at least `min`; a development build is taken
/// as new.
pub fn at_least(version: &str, (major, minor): (u32, u32)) -> bool {
    let Some(v) = version.strip_prefix("go") else {
        return version.starts_with("devel");
    };
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    let num = |p: Option<&str>| p.and_then(|s| s.parse::<u32>().ok());
    match (num(parts.next()), num(parts.next())) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(at_least("go1.19.8", MIN_GO));
        assert!(at_least("go1.17", MIN_GO));
        assert!(at_least("go1.21rc2", MIN_GO));
        assert!(at_least("go2.0", MIN_GO));
        assert!(!at_least("go1.16.15", MIN_GO));
        assert!(!at_least("go1.9", MIN_GO));
        assert!(at_least("devel go1.23-abc", MIN_GO));
        assert!(!at_least("garbage", MIN_GO));
    }

    #[test]
    fn returns_found_by_decoding_not_by_byte() {
        // mov eax, 0xc3c3c3c3 (c3 bytes inside an immediate); ret; int3; ret 8
        let code = [0xb8, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xcc, 0xc2, 0x08, 0x00];
        assert_eq!(return_offsets(&code, 0x1000), vec![5, 7]);
        // A cut instruction at the end stops the walk without a panic.
        assert_eq!(return_offsets(&[0xc3, 0x48, 0x8b], 0), vec![0]);
        assert!(return_offsets(&[], 0).is_empty());
    }

    #[test]
    fn go_prologues_put_the_entry_on_the_stack_checks_jbe() {
        // cmp rsp, [r14+0x10]; jbe +0x20; sub rsp, 0x68; call 0x2000 (memmove); ret
        let code = [
            0x49, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0x20, 0x00, 0x00, 0x00, 0x48, 0x83, 0xec, 0x68,
            0xe8, 0xed, 0x0f, 0x00, 0x00, 0xc3,
        ];
        let s = probe_sites(&code, 0x1000, 0x2000);
        assert_eq!(
            s,
            ProbeSites {
                entry: 4,
                entry_on_jbe: true,
                returns: vec![19],
                copy_call: Some(14),
            }
        );
        // A large frame: lea r12, [rsp-0x1000]; cmp r12, [r14+0x10]; jbe rel8.
        let code = [
            0x4c, 0x8d, 0xa4, 0x24, 0x00, 0xf0, 0xff, 0xff, 0x4d, 0x3b, 0x66, 0x10, 0x76, 0x05,
            0xc3,
        ];
        let s = probe_sites(&code, 0, 0);
        assert_eq!((s.entry, s.entry_on_jbe), (12, true));
        // No stack check (a leaf): the first instruction; two memmove calls: neither.
        let code = [
            0x90, 0xe8, 0x00, 0x00, 0x00, 0x00, 0xe8, 0xfb, 0xff, 0xff, 0xff, 0xc3,
        ];
        let s = probe_sites(&code, 0, 6);
        assert_eq!((s.entry, s.entry_on_jbe, s.copy_call), (0, false, None));
    }

    #[test]
    fn files_that_are_not_go_programs() {
        let dir = std::env::temp_dir().join(format!("tapflow-go-elf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let short = dir.join("short");
        std::fs::write(&short, b"\x7fELF").unwrap();
        assert_eq!(inspect(&short), Err(NotProbed::NotElf));
        let text = dir.join("text");
        std::fs::write(&text, vec![b'a'; 200]).unwrap();
        assert_eq!(inspect(&text), Err(NotProbed::NotElf));
        // A real ELF executable that is not a Go program.
        let exe = std::env::current_exe().unwrap();
        assert_eq!(inspect(&exe), Err(NotProbed::NotGo));
        // Truncated copies of it never panic.
        let bytes = std::fs::read(&exe).unwrap();
        for cut in [64, 100, 4096, bytes.len() / 2] {
            let p = dir.join("cut");
            std::fs::write(&p, &bytes[..cut.min(bytes.len())]).unwrap();
            assert!(inspect(&p).is_err());
        }
        assert!(matches!(
            inspect(&dir.join("missing")),
            Err(NotProbed::Io(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
