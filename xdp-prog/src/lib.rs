//! The BPF programs, each with its contract with user space: the XDP program (here: map names
//! and counter slots, mirrored from `include/tapflow_xdp.h`, a test keeps both in sync; [`object`]
//! is the ELF object the AF_XDP engine loads), the syscall tracer ([`trace`]) and the AF_PACKET
//! fanout steering program ([`fanout`]). `build.rs`
//! compiles both with clang.
#![forbid(unsafe_code)]

pub mod fanout;
pub mod trace;

/// Per-CPU counter slots of the `counters` map.
pub mod counter {
    pub const SEEN: u32 = 0;
    pub const REDIRECTED: u32 = 1;
    pub const FILTERED: u32 = 2;
    pub const REDIRECT_FAILED: u32 = 3;
    pub const MAX: u32 = 4;
}

/// Most rx queues (entries of the `xsks` XSKMAP).
pub const MAX_QUEUES: u32 = 64;
/// Entries of the `pass_ethertypes` map.
pub const MAX_FILTERS: u32 = 16;
/// Filter actions (values of the `pass_ethertypes` map).
pub mod filter {
    /// Hand the frame to the kernel stack (not captured).
    pub const PASS: u8 = 1;
    /// Drop the frame (not captured).
    pub const DROP: u8 = 2;
}

/// Map and program names in the object file.
pub mod names {
    pub const XSKS: &str = "xsks";
    pub const COUNTERS: &str = "counters";
    pub const PASS_ETHERTYPES: &str = "pass_ethertypes";
    pub const PROGRAM: &str = "tapflow_mirror";
}

/// The compiled BPF object (ELF with BTF), or `None` when clang was not available at build time.
pub fn object() -> Option<&'static [u8]> {
    let obj: &'static [u8] = include_bytes!(concat!(env!("OUT_DIR"), "/mirror.bpf.o"));
    (!obj.is_empty()).then_some(obj)
}

/// The C source and header.
pub const PROGRAM_SOURCE: &str = include_str!("mirror.bpf.c");
pub const SHARED_HEADER: &str = include_str!("../include/tapflow_xdp.h");

/// The numeric `#define NAME` of a shared header (the tests keep each header and its Rust
/// mirror in sync).
#[cfg(test)]
fn header_define(header: &str, name: &str) -> u32 {
    header
        .lines()
        .find_map(|l| l.strip_prefix(&format!("#define {name} ")))
        .unwrap_or_else(|| panic!("{name} missing from the header"))
        .trim()
        .parse()
        .expect("numeric define")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn define(name: &str) -> u32 {
        header_define(SHARED_HEADER, name)
    }

    #[test]
    fn header_and_rust_agree() {
        assert_eq!(define("TAPFLOW_CNT_SEEN"), counter::SEEN);
        assert_eq!(define("TAPFLOW_CNT_REDIRECTED"), counter::REDIRECTED);
        assert_eq!(define("TAPFLOW_CNT_FILTERED"), counter::FILTERED);
        assert_eq!(
            define("TAPFLOW_CNT_REDIRECT_FAILED"),
            counter::REDIRECT_FAILED
        );
        assert_eq!(define("TAPFLOW_CNT_MAX"), counter::MAX);
        assert_eq!(define("TAPFLOW_MAX_QUEUES"), MAX_QUEUES);
        assert_eq!(define("TAPFLOW_MAX_FILTERS"), MAX_FILTERS);
        assert_eq!(define("TAPFLOW_FILTER_PASS"), u32::from(filter::PASS));
        assert_eq!(define("TAPFLOW_FILTER_DROP"), u32::from(filter::DROP));
    }

    #[test]
    fn object_is_a_bpf_elf_with_the_program_and_maps() {
        let Some(obj) = object() else {
            panic!("the XDP program was not compiled: install clang and libbpf-dev (scripts/test.sh does)");
        };
        assert_eq!(&obj[..4], b"\x7fELF");
        assert_eq!(
            u16::from_le_bytes([obj[18], obj[19]]),
            247,
            "e_machine EM_BPF"
        );
        let text = String::from_utf8_lossy(obj);
        for n in [
            names::XSKS,
            names::COUNTERS,
            names::PASS_ETHERTYPES,
            names::PROGRAM,
            ".maps",
            "xdp",
        ] {
            assert!(text.contains(n), "{n} missing from the object");
        }
    }

    #[test]
    fn program_uses_the_names() {
        for n in [
            names::XSKS,
            names::COUNTERS,
            names::PASS_ETHERTYPES,
            names::PROGRAM,
        ] {
            assert!(PROGRAM_SOURCE.contains(n), "{n}");
        }
    }
}
