//! Which TLS library functions a file offers the OpenSSL uprobes: `SSL_write` and `SSL_read`,
//! which every OpenSSL-compatible library has, and `SSL_write_ex` / `SSL_read_ex` where the
//! library has them (OpenSSL 1.1.1 and 3; not OpenSSL 1.1.0 nor BoringSSL). Read from the
//! file's dynamic symbols (a shared libssl) or its symbol table (an executable with the
//! library linked in statically: `--libssl` names it). The probes learn each call's socket
//! from the syscall made inside it, not from the library's structures, so one set of probes
//! serves every such library.

use std::path::Path;

use super::elf::{ElfError, ElfFile, EM_HOST, SHT_DYNSYM, SHT_SYMTAB};

/// The functions probed, in the order of `xdp_prog::trace::OPENSSL_PROBES`' functions, and
/// whether a library must have each.
pub const FUNCTIONS: [(&str, bool); 4] = [
    ("SSL_write", true),
    ("SSL_read", true),
    ("SSL_write_ex", false),
    ("SSL_read_ex", false),
];

/// Functions only BoringSSL defines (libssl's and libcrypto's: a static link has both).
const BORINGSSL_MARKS: [&str; 2] = ["SSL_CTX_set_strict_cipher_list", "BORINGSSL_self_test"];

/// What the uprobes of one file need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslTarget {
    /// `OpenSSL` or `BoringSSL`.
    pub flavour: &'static str,
    /// The functions of [`FUNCTIONS`] it defines.
    pub functions: Vec<&'static str>,
}

impl SslTarget {
    /// How stats.json and the tracer's messages name it: `BoringSSL: SSL_write SSL_read`.
    pub fn describe(&self) -> String {
        format!("{}: {}", self.flavour, self.functions.join(" "))
    }
}

/// Why a file's TLS calls cannot be probed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotSsl {
    #[error("{0}")]
    Elf(#[from] ElfError),
    #[error("no symbols (stripped): the TLS functions cannot be found")]
    Stripped,
    #[error("defines no SSL_write and SSL_read: not an OpenSSL-compatible library")]
    NoFunctions,
}

/// Reads which functions of [`FUNCTIONS`] the file at `path` defines.
pub fn inspect(path: &Path) -> Result<SslTarget, NotSsl> {
    let mut elf = ElfFile::open(path, &[EM_HOST])?;
    let wanted: Vec<&str> = FUNCTIONS
        .iter()
        .map(|f| f.0)
        .chain(BORINGSSL_MARKS)
        .collect();
    // The dynamic symbols (what a shared library exports), then the symbol table (an
    // executable's own functions, a static library's among them).
    let mut found = vec![None; wanted.len()];
    let mut any_table = false;
    for kind in [SHT_DYNSYM, SHT_SYMTAB] {
        if let Some(got) = elf.symbols(kind, &wanted)? {
            any_table = true;
            for (f, g) in found.iter_mut().zip(got) {
                *f = f.or(g.filter(|&(addr, _)| addr != 0));
            }
        }
    }
    if !any_table {
        return Err(NotSsl::Stripped);
    }
    if FUNCTIONS
        .iter()
        .zip(&found)
        .any(|((_, required), f)| *required && f.is_none())
    {
        return Err(NotSsl::NoFunctions);
    }
    let functions = FUNCTIONS
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_some())
        .map(|((name, _), _)| *name)
        .collect();
    let boring = found[FUNCTIONS.len()..].iter().any(Option::is_some);
    Ok(SslTarget {
        flavour: if boring { "BoringSSL" } else { "OpenSSL" },
        functions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_systems_openssl_has_all_four() {
        let lib = Path::new("/usr/lib/x86_64-linux-gnu/libssl.so.3");
        if !lib.exists() {
            return;
        }
        let t = inspect(lib).unwrap();
        assert_eq!(t.flavour, "OpenSSL");
        assert_eq!(
            t.functions,
            ["SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex"]
        );
        assert_eq!(
            t.describe(),
            "OpenSSL: SSL_write SSL_read SSL_write_ex SSL_read_ex"
        );
    }

    #[test]
    fn boringssl_has_no_ex_functions() {
        // Debian's android-libboringssl (scripts/test.sh installs it).
        let lib = Path::new("/usr/lib/x86_64-linux-gnu/android/libssl.so.0");
        if !lib.exists() {
            return;
        }
        let t = inspect(lib).unwrap();
        assert_eq!(t.flavour, "BoringSSL");
        assert_eq!(t.functions, ["SSL_write", "SSL_read"]);
    }

    #[test]
    fn files_without_the_functions() {
        // This test executable defines none of them.
        let exe = std::env::current_exe().unwrap();
        assert_eq!(inspect(&exe), Err(NotSsl::NoFunctions));
        let dir = std::env::temp_dir().join(format!("tapflow-ssl-elf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = dir.join("text");
        std::fs::write(&text, vec![b'a'; 200]).unwrap();
        assert_eq!(inspect(&text), Err(NotSsl::Elf(ElfError::NotElf)));
        // Truncated copies of a real library never panic.
        let bytes = std::fs::read(&exe).unwrap();
        for cut in [64, 100, 4096, bytes.len() / 2] {
            let p = dir.join("cut");
            std::fs::write(&p, &bytes[..cut.min(bytes.len())]).unwrap();
            assert!(inspect(&p).is_err());
        }
        assert!(matches!(
            inspect(&dir.join("missing")),
            Err(NotSsl::Elf(ElfError::Io(_)))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
