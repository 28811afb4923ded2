//! The parts of a 64-bit little-endian ELF file that placing uprobes reads: the section
//! headers, a section's bytes, function symbols by name, and the file offset of an address.
//! Only what is asked for is read, each read bounded, so a corrupt or hostile file gives an
//! error, never a panic or a huge allocation.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Largest section read whole (`.symtab`, `.strtab`): a large executable has tens of MB.
const MAX_SECTION: u64 = 256 << 20;

pub(super) const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
/// This machine's `e_machine`: the files whose code a uprobe here can run.
pub(super) const EM_HOST: u16 = if cfg!(target_arch = "aarch64") {
    EM_AARCH64
} else {
    EM_X86_64
};
pub(super) const SHT_SYMTAB: u32 = 2;
pub(super) const SHT_DYNSYM: u32 = 11;
const SHT_NOBITS: u32 = 8;

/// Why a file could not be read as ELF.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("cannot read it: {0}")]
    Io(String),
    #[error("not a 64-bit little-endian ELF file of this machine")]
    NotElf,
    #[error("malformed ELF: {0}")]
    Malformed(&'static str),
}

/// Symbols found, in the order asked for: (address, size) of each, None where not defined.
pub(super) type Found = Vec<Option<(u64, u64)>>;

/// One section header.
#[derive(Clone, Copy)]
pub(super) struct Section {
    name_off: u32,
    pub(super) kind: u32,
    pub(super) addr: u64,
    pub(super) offset: u64,
    pub(super) size: u64,
    link: u32,
}

/// An open ELF file and its section headers.
pub(super) struct ElfFile {
    f: File,
    /// The file's length: no read is made (nor its buffer allocated) past it.
    len: u64,
    sections: Vec<Section>,
    names: Vec<u8>,
}

impl ElfFile {
    /// Opens `path`, an ELF64 little-endian file for one of `machines`.
    pub(super) fn open(path: &Path, machines: &[u16]) -> Result<ElfFile, ElfError> {
        let mut f = File::open(path).map_err(|e| ElfError::Io(e.to_string()))?;
        let len = f.metadata().map_err(|e| ElfError::Io(e.to_string()))?.len();
        let mut hdr = [0u8; 64];
        f.read_exact(&mut hdr).map_err(|_| ElfError::NotElf)?;
        if &hdr[..4] != b"\x7fELF"
            || hdr[4] != 2
            || hdr[5] != 1
            || !machines.contains(&u16_at(&hdr, 18))
        {
            return Err(ElfError::NotElf);
        }
        let shoff = u64_at(&hdr, 40);
        let shentsize = u64::from(u16_at(&hdr, 58));
        let shnum = u64::from(u16_at(&hdr, 60));
        let shstrndx = usize::from(u16_at(&hdr, 62));
        if !(64..=128).contains(&shentsize) || shnum == 0 || shnum > 4096 {
            return Err(ElfError::Malformed("section headers"));
        }
        let raw = read_at(&mut f, len, shoff, shentsize * shnum)?;
        let sections: Vec<Section> = raw
            .chunks_exact(shentsize as usize)
            .map(|s| Section {
                name_off: u32_at(s, 0),
                kind: u32_at(s, 4),
                addr: u64_at(s, 16),
                offset: u64_at(s, 24),
                size: u64_at(s, 32),
                link: u32_at(s, 40),
            })
            .collect();
        let shstr = sections
            .get(shstrndx)
            .ok_or(ElfError::Malformed("section names"))?;
        let names = read_section(&mut f, len, shstr)?;
        Ok(ElfFile {
            f,
            len,
            sections,
            names,
        })
    }

    /// The section called `name`.
    pub(super) fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| cstr(&self.names, s.name_off as usize) == Some(name.as_bytes()))
    }

    /// The bytes of section `s` (one of this file's).
    pub(super) fn read(&mut self, s: &Section) -> Result<Vec<u8>, ElfError> {
        read_section(&mut self.f, self.len, s)
    }

    /// `len` bytes at file offset `offset`.
    pub(super) fn read_at(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, ElfError> {
        read_at(&mut self.f, self.len, offset, len)
    }

    /// The defined symbols named in `wanted` of the symbol table of type `kind` (`SHT_SYMTAB`
    /// or `SHT_DYNSYM`), as (address, size), in `wanted`'s order; None without such a table.
    pub(super) fn symbols(
        &mut self,
        kind: u32,
        wanted: &[&str],
    ) -> Result<Option<Found>, ElfError> {
        let Some(i) = self.sections.iter().position(|s| s.kind == kind) else {
            return Ok(None);
        };
        let table = &self.sections[i];
        let strtab = self
            .sections
            .get(table.link as usize)
            .ok_or(ElfError::Malformed("symbol names"))?;
        let syms = read_section(&mut self.f, self.len, table)?;
        let strs = read_section(&mut self.f, self.len, strtab)?;
        let mut found = vec![None; wanted.len()];
        for s in syms.chunks_exact(24) {
            // st_shndx 0: an undefined symbol (one the file imports).
            if u16_at(s, 6) == 0 {
                continue;
            }
            let Some(name) = cstr(&strs, u32_at(s, 0) as usize) else {
                continue;
            };
            if let Some(w) = wanted.iter().position(|w| w.as_bytes() == name) {
                found[w] = Some((u64_at(s, 8), u64_at(s, 16)));
            }
        }
        Ok(Some(found))
    }

    /// The file offset of virtual address `addr` (in a section with bytes in the file).
    pub(super) fn file_offset(&self, addr: u64) -> Option<u64> {
        self.sections
            .iter()
            .find(|s| {
                s.kind != SHT_NOBITS && s.addr != 0 && addr >= s.addr && addr - s.addr < s.size
            })
            .map(|s| s.offset + (addr - s.addr))
    }
}

fn read_section(f: &mut File, file_len: u64, s: &Section) -> Result<Vec<u8>, ElfError> {
    if s.kind == SHT_NOBITS {
        return Err(ElfError::Malformed("section size"));
    }
    read_at(f, file_len, s.offset, s.size)
}

/// `len` bytes at `offset` of `f` (`file_len` long).
fn read_at(f: &mut File, file_len: u64, offset: u64, len: u64) -> Result<Vec<u8>, ElfError> {
    if len > MAX_SECTION {
        return Err(ElfError::Malformed("section size"));
    }
    if offset.checked_add(len).is_none_or(|end| end > file_len) {
        return Err(ElfError::Malformed("section past the end of the file"));
    }
    let mut buf = vec![0u8; len as usize];
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.read_exact(&mut buf))
        .map_err(|_| ElfError::Malformed("section past the end of the file"))?;
    Ok(buf)
}

/// The NUL-terminated string at `at` of a string table.
pub(super) fn cstr(table: &[u8], at: usize) -> Option<&[u8]> {
    let rest = table.get(at..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(&rest[..end])
}

pub(super) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or([0; 4]))
}

pub(super) fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF header for this machine with `shnum` section headers of 64 bytes at `shoff`.
    fn header(shoff: u64, shnum: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[18..20].copy_from_slice(&EM_HOST.to_le_bytes());
        h[40..48].copy_from_slice(&shoff.to_le_bytes());
        h[58..60].copy_from_slice(&64u16.to_le_bytes());
        h[60..62].copy_from_slice(&shnum.to_le_bytes());
        h
    }

    #[test]
    fn sizes_past_the_end_of_the_file_are_refused_before_reading() {
        let dir = std::env::temp_dir().join(format!("tapflow-elf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        // Section headers past the end, and at an offset that overflows.
        for shoff in [4096, u64::MAX - 10] {
            std::fs::write(&p, header(shoff, 4)).unwrap();
            assert_eq!(
                ElfFile::open(&p, &[EM_HOST]).err(),
                Some(ElfError::Malformed("section past the end of the file"))
            );
        }
        // One section header (the names' table) claiming 200 MB of a 128-byte file.
        let mut f = header(64, 1);
        let mut sh = vec![0u8; 64];
        sh[4..8].copy_from_slice(&3u32.to_le_bytes());
        sh[24..32].copy_from_slice(&0u64.to_le_bytes());
        sh[32..40].copy_from_slice(&(200u64 << 20).to_le_bytes());
        f.extend_from_slice(&sh);
        std::fs::write(&p, &f).unwrap();
        assert_eq!(
            ElfFile::open(&p, &[EM_HOST]).err(),
            Some(ElfError::Malformed("section past the end of the file"))
        );
        // Another machine's file.
        let mut other = header(64, 1);
        other[18] ^= 0xff;
        std::fs::write(&p, &other).unwrap();
        assert_eq!(ElfFile::open(&p, &[EM_HOST]).err(), Some(ElfError::NotElf));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
