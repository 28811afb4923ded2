//! Function addresses from a Go executable's `.gopclntab`, the table Go's runtime keeps for its
//! stack traces: what a stripped executable (`-ldflags=-s`, no `.symtab`) still has. Formats of
//! Go 1.16-1.17 (magic `0xfffffffa`), 1.18-1.19 (`0xfffffff0`) and 1.20 on (`0xfffffff1`);
//! only 64-bit little-endian tables. Every read is bounds-checked: a malformed table gives
//! `None`, never a panic.

/// The functions named in `wanted`, each as (link-time address, size in bytes), in order;
/// None for a name not in the table. `text`: the `.text` section's address, used when a
/// position-independent table leaves its own text start to a relocation (0 in the file).
pub fn functions(table: &[u8], text: u64, wanted: &[&str]) -> Option<Vec<Option<(u64, u64)>>> {
    let magic = u32_at(table, 0)?;
    if table.get(4..6)? != [0, 0] || *table.get(7)? != 8 {
        return None;
    }
    let header = |i: usize| u64_at(table, 8 + 8 * i);
    let nfunc = usize::try_from(header(0)?).ok()?;
    let (text_start, names, functab) = match magic {
        0xffff_fffa => (0, header(2)?, header(6)?),
        0xffff_fff0 | 0xffff_fff1 => {
            let t = header(2)?;
            (if t == 0 { text } else { t }, header(3)?, header(7)?)
        }
        _ => return None,
    };
    let (names, functab) = (usize::try_from(names).ok()?, usize::try_from(functab).ok()?);
    let old = magic == 0xffff_fffa;
    // One functab entry: (entry, offset of its _func from the functab).
    let entry_size = if old { 16 } else { 8 };
    if nfunc > table.len() / entry_size {
        return None;
    }
    let entry_at = |i: usize| -> Option<(u64, usize)> {
        let at = functab.checked_add(i.checked_mul(entry_size)?)?;
        if old {
            Some((
                u64_at(table, at)?,
                usize::try_from(u64_at(table, at + 8)?).ok()?,
            ))
        } else {
            let pc = text_start.checked_add(u64::from(u32_at(table, at)?))?;
            Some((pc, u32_at(table, at + 4)? as usize))
        }
    };
    let mut out = vec![None; wanted.len()];
    let mut found = 0;
    for i in 0..nfunc {
        let (pc, func) = entry_at(i)?;
        // _func: the entry (a pointer before 1.18, a 32-bit offset since), then the name's
        // offset in the function name table.
        let name_off = i32_at(
            table,
            functab
                .checked_add(func)?
                .checked_add(if old { 8 } else { 4 })?,
        )?;
        let name_at = names.checked_add(usize::try_from(name_off).ok()?)?;
        let name = cstr(table, name_at)?;
        let Some(slot) = wanted.iter().position(|w| w.as_bytes() == name) else {
            continue;
        };
        // The next entry (the table ends with one past the last function) gives the size.
        let next = if old {
            u64_at(table, functab.checked_add((i + 1).checked_mul(16)?)?)?
        } else {
            text_start.checked_add(u64::from(u32_at(
                table,
                functab.checked_add((i + 1).checked_mul(8)?)?,
            )?))?
        };
        if out[slot].is_none() {
            out[slot] = Some((pc, next.checked_sub(pc)?));
            found += 1;
            if found == wanted.len() {
                break;
            }
        }
    }
    Some(out)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    u32_at(b, at).map(|v| v as i32)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn cstr(b: &[u8], at: usize) -> Option<&[u8]> {
    let rest = b.get(at..)?;
    Some(&rest[..rest.iter().position(|&c| c == 0)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Go 1.18+ table of three functions at text + 0x10, + 0x40, + 0x100 (end + 0x180).
    fn table(magic: u32) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&magic.to_le_bytes());
        t.extend_from_slice(&[0, 0, 1, 8]);
        let names_off = 8 + 8 * 8;
        let names = b"main.a\0crypto/tls.(*Conn).Read\0runtime.memmove\0";
        let functab = names_off + names.len();
        let funcs = functab + 4 * 8;
        for v in [3u64, 0, 0x1000, names_off as u64, 0, 0, 0, functab as u64] {
            t.extend_from_slice(&v.to_le_bytes());
        }
        t.extend_from_slice(names);
        let name_offs = [0i32, 7, 31];
        for (i, pc) in [0x10u32, 0x40, 0x100].iter().enumerate() {
            t.extend_from_slice(&pc.to_le_bytes());
            t.extend_from_slice(&((funcs - functab + 8 * i) as u32).to_le_bytes());
        }
        t.extend_from_slice(&0x180u32.to_le_bytes());
        t.extend_from_slice(&0u32.to_le_bytes());
        for (i, pc) in [0x10u32, 0x40, 0x100].iter().enumerate() {
            t.extend_from_slice(&pc.to_le_bytes());
            t.extend_from_slice(&name_offs[i].to_le_bytes());
        }
        t
    }

    #[test]
    fn names_give_addresses_and_sizes() {
        let t = table(0xffff_fff1);
        let got = functions(
            &t,
            0,
            &["runtime.memmove", "crypto/tls.(*Conn).Read", "nope"],
        );
        assert_eq!(
            got,
            Some(vec![Some((0x1100, 0x80)), Some((0x1040, 0xc0)), None])
        );
        // A table whose text start is left to a relocation takes the .text address.
        let mut pie = t.clone();
        pie[24..32].copy_from_slice(&0u64.to_le_bytes());
        let got = functions(&pie, 0x5000, &["main.a"]);
        assert_eq!(got, Some(vec![Some((0x5010, 0x30))]));
    }

    #[test]
    fn malformed_tables_give_none_without_a_panic() {
        let t = table(0xffff_fff0);
        assert!(functions(&t, 0, &["main.a"]).is_some());
        assert_eq!(functions(&table(0x1234_5678), 0, &["main.a"]), None);
        for cut in 0..t.len() {
            let _ = functions(&t[..cut], 0, &["runtime.memmove"]);
        }
        let mut huge = t.clone();
        huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(functions(&huge, 0, &["main.a"]), None);
        let mut bad_name = t;
        let last = bad_name.len() - 4;
        bad_name[last..].copy_from_slice(&i32::MIN.to_le_bytes());
        assert!(functions(&bad_name, 0, &["runtime.memmove"]).is_none());
    }
}
