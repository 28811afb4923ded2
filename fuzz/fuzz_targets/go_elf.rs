//! What the TLS uprobes read from a file the tracer is pointed at: any bytes as Go's function
//! table (`.gopclntab`, every format's header) looked up for the probed functions, as a
//! function's machine code searched for the probe sites (stack check, RETs, the copy call), and,
//! written to a file, as a whole ELF file read for the Go TLS probes (`go_elf::inspect`) and
//! for the OpenSSL / BoringSSL ones (`ssl_elf::inspect`). A hostile or corrupt file gives an
//! error or nothing, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;
use tapflow_dataplane::trace::{go_elf, go_pclntab, ssl_elf};

fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("tapflow-fuzz-elf-{}", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let wanted = ["crypto/tls.(*Conn).Read", "runtime.memmove", "net.(*TCPConn).Close"];
    if let Some(found) = go_pclntab::functions(data, 0x40_1000, &wanted) {
        assert_eq!(found.len(), wanted.len());
    }
    let sites = go_elf::probe_sites(data, 0x40_1000, 0x40_2000);
    for r in &sites.returns {
        assert!((*r as usize) < data.len());
    }
    assert!((sites.entry as usize) <= data.len());
    // Whole files: only those that start as ELF (the rest is refused at the magic).
    if data.starts_with(b"\x7fELF") && std::fs::write(scratch(), data).is_ok() {
        if let Ok(t) = go_elf::inspect(scratch()) {
            assert!(!t.read.returns.is_empty() && !t.write.returns.is_empty());
        }
        if let Ok(t) = ssl_elf::inspect(scratch()) {
            assert!(t.functions.starts_with(&["SSL_write", "SSL_read"]));
        }
    }
});
