//! The parts of a 64-bit little-endian ELF file that placing uprobes reads: the section
//! headers, a section's bytes, function symbols by name, and the file offset of an address.
//! Only what is asked for is read, each read bounded, so a corrupt or hostile file gives an
//! error, never a panic or a huge allocation.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Largest section read whole (Go's function table, `.gopclntab`: tens of MB in a large
/// program); symbol tables are read in [`CHUNK`]s whatever their size.
const MAX_SECTION: u64 = 256 << 20;
/// Bytes of a symbol or string table read at a time.
const CHUNK: usize = 1 << 20;
/// Places of one wanted name kept in a string table (its own string and tails of others).
const MAX_PLACES: usize = 64;

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
    /// Both tables are read [`CHUNK`] bytes at a time: a large executable's tens of MB cost
    /// no more memory than a small one's.
    pub(super) fn symbols(
        &mut self,
        kind: u32,
        wanted: &[&str],
    ) -> Result<Option<Found>, ElfError> {
        let Some(table) = self.sections.iter().find(|s| s.kind == kind).copied() else {
            return Ok(None);
        };
        let strtab = *self
            .sections
            .get(table.link as usize)
            .ok_or(ElfError::Malformed("symbol names"))?;
        let places = self.name_places(&strtab, wanted)?;
        let mut found = vec![None; wanted.len()];
        let per_read = (CHUNK / 24 * 24) as u64;
        let mut at = 0;
        while at + 24 <= table.size {
            let n = (table.size - at).min(per_read) / 24 * 24;
            for s in self.read_at(table.offset + at, n)?.chunks_exact(24) {
                // st_shndx 0: an undefined symbol (one the file imports).
                if u16_at(s, 6) == 0 {
                    continue;
                }
                let name = u32_at(s, 0);
                if let Some(w) = places.iter().position(|p| p.contains(&name)) {
                    found[w] = Some((u64_at(s, 8), u64_at(s, 16)));
                }
            }
            at += n;
        }
        Ok(Some(found))
    }

    /// Where each of `wanted` is in string table `strtab`, as offsets a symbol's `st_name` can
    /// hold: the name's own string, or the tail of a longer one (linkers share tails). At most
    /// [`MAX_PLACES`] each.
    fn name_places(
        &mut self,
        strtab: &Section,
        wanted: &[&str],
    ) -> Result<Vec<Vec<u32>>, ElfError> {
        if strtab.kind == SHT_NOBITS {
            return Err(ElfError::Malformed("symbol names"));
        }
        let needles: Vec<Vec<u8>> = wanted
            .iter()
            .map(|w| w.bytes().chain([0]).collect())
            .collect();
        let longest = needles.iter().map(Vec::len).max().unwrap_or(0) as u64;
        let mut places = vec![Vec::new(); wanted.len()];
        let mut start = 0;
        while start < strtab.size {
            // This chunk, and past it enough to end a name that starts in it.
            let own = (strtab.size - start).min(CHUNK as u64);
            let len = (strtab.size - start).min(CHUNK as u64 + longest);
            let bytes = self.read_at(strtab.offset + start, len)?;
            for (w, needle) in needles.iter().enumerate() {
                for pos in memchr::memmem::find_iter(&bytes, needle) {
                    let Ok(offset) = u32::try_from(start + pos as u64) else {
                        break;
                    };
                    if (pos as u64) < own && places[w].len() < MAX_PLACES {
                        places[w].push(offset);
                    }
                }
            }
            start += own;
        }
        Ok(places)
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

    /// A 64-byte section header.
    fn section(name: u32, kind: u32, offset: u64, size: u64, link: u32) -> Vec<u8> {
        let mut sh = vec![0u8; 64];
        sh[0..4].copy_from_slice(&name.to_le_bytes());
        sh[4..8].copy_from_slice(&kind.to_le_bytes());
        sh[24..32].copy_from_slice(&offset.to_le_bytes());
        sh[32..40].copy_from_slice(&size.to_le_bytes());
        sh[40..44].copy_from_slice(&link.to_le_bytes());
        sh
    }

    /// A 24-byte symbol: name offset, defined (section 1) or not, value.
    fn symbol(name: u32, defined: bool, value: u64) -> [u8; 24] {
        let mut e = [0u8; 24];
        e[0..4].copy_from_slice(&name.to_le_bytes());
        e[6..8].copy_from_slice(&u16::from(defined).to_le_bytes());
        e[8..16].copy_from_slice(&value.to_le_bytes());
        e[16..24].copy_from_slice(&64u64.to_le_bytes());
        e
    }

    #[test]
    fn symbols_are_found_across_the_reads_of_large_tables() {
        // A string table of 2.5 MB: one name across the first read's end, one only as the
        // tail of a longer name, one past 2 MB.
        let mut strs = vec![b'a'; 5 * CHUNK / 2];
        strs[0] = 0;
        let mut put = |at: usize, text: &[u8]| {
            strs[at - 1] = 0;
            strs[at..at + text.len()].copy_from_slice(text);
            strs[at + text.len()] = 0;
        };
        let write_at = CHUNK - 4;
        let ossl_read_at = CHUNK + 100;
        let ex_at = 2 * CHUNK + 7;
        put(write_at, b"SSL_write");
        put(ossl_read_at, b"ossl_SSL_read");
        put(ex_at, b"SSL_write_ex");
        // 50,000 other symbols (more than one read of the table), then the four looked at:
        // SSL_read's name is the tail of "ossl_SSL_read", whose own symbol is not SSL_read;
        // SSL_write_ex is imported (undefined).
        let mut syms = Vec::new();
        for _ in 0..50_000 {
            syms.extend_from_slice(&symbol(1, true, 0x10));
        }
        syms.extend_from_slice(&symbol(write_at as u32, true, 0x1000));
        syms.extend_from_slice(&symbol(ossl_read_at as u32 + 5, true, 0x2000));
        // Last, so that a match would be the one kept.
        syms.extend_from_slice(&symbol(ossl_read_at as u32, true, 0x3000));
        syms.extend_from_slice(&symbol(ex_at as u32, false, 0));
        let shstr = b"\0.shstrtab\0.symtab\0.strtab\0".to_vec();
        let mut f = header(0, 4);
        let shstr_at = f.len() as u64;
        f.extend_from_slice(&shstr);
        let strs_at = f.len() as u64;
        f.extend_from_slice(&strs);
        let syms_at = f.len() as u64;
        f.extend_from_slice(&syms);
        let shoff = f.len() as u64;
        f.extend_from_slice(&[0u8; 64]);
        f.extend_from_slice(&section(1, 3, shstr_at, shstr.len() as u64, 0));
        f.extend_from_slice(&section(11, SHT_SYMTAB, syms_at, syms.len() as u64, 3));
        f.extend_from_slice(&section(19, 3, strs_at, strs.len() as u64, 0));
        f[40..48].copy_from_slice(&shoff.to_le_bytes());
        f[62..64].copy_from_slice(&1u16.to_le_bytes());
        let dir = std::env::temp_dir().join(format!("tapflow-elf-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("big");
        std::fs::write(&p, &f).unwrap();
        let mut elf = ElfFile::open(&p, &[EM_HOST]).unwrap();
        let found = elf
            .symbols(
                SHT_SYMTAB,
                &["SSL_write", "SSL_read", "SSL_write_ex", "nowhere"],
            )
            .unwrap()
            .unwrap();
        assert_eq!(found, [Some((0x1000, 64)), Some((0x2000, 64)), None, None]);
        assert_eq!(elf.symbols(SHT_DYNSYM, &["SSL_write"]).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
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
