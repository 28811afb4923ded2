//! What the Go TLS probes read from an executable the tracer is pointed at: any bytes as Go's
//! function table (`.gopclntab`, every format's header) looked up for the probed functions, and
//! as a function's machine code searched for the probe sites (stack check, RETs, the copy
//! call). A hostile or corrupt executable gives an error or nothing, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapflow_dataplane::trace::{go_elf, go_pclntab};

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
});
