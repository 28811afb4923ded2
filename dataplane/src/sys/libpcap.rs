//! Compiling capture filter expressions (tcpdump's syntax: `man pcap-filter`) with libpcap's own
//! compiler, so an expression selects exactly what it selects in tcpdump. libpcap is loaded when
//! a filter is configured (`dlopen`), not linked: tapflow runs without it otherwise, and says
//! which package to install when a filter needs it.
//!
//! Each expression is compiled for a dead handle of each link type tapflow reads
//! ([`LINK_TYPES`]), optimised, with an unknown netmask (as tcpdump on a file), and checked by
//! [`BpfProgram::new`] before the analyzer runs it.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

use tapflow_analyzer::capture_filter::{BpfProgram, CaptureFilter, Insn, LINK_TYPES};

/// `struct bpf_insn`.
#[repr(C)]
struct RawInsn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// `struct bpf_program`.
#[repr(C)]
struct RawProgram {
    bf_len: c_uint,
    bf_insns: *mut RawInsn,
}

type OpenDead = unsafe extern "C" fn(c_int, c_int) -> *mut c_void;
type Compile =
    unsafe extern "C" fn(*mut c_void, *mut RawProgram, *const c_char, c_int, u32) -> c_int;
type GetErr = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type FreeCode = unsafe extern "C" fn(*mut RawProgram);
type Close = unsafe extern "C" fn(*mut c_void);

/// The names libpcap's shared object has on Debian and elsewhere.
const LIBRARIES: [&str; 3] = ["libpcap.so.0.8", "libpcap.so.1", "libpcap.so"];
const SNAPLEN: c_int = 262_144;
const NETMASK_UNKNOWN: u32 = 0xffff_ffff;

/// libpcap, loaded, with the functions used here.
struct Libpcap {
    handle: *mut c_void,
    open_dead: OpenDead,
    compile: Compile,
    geterr: GetErr,
    freecode: FreeCode,
    close: Close,
}

impl Libpcap {
    fn load() -> Result<Libpcap, String> {
        let mut handle = std::ptr::null_mut();
        for name in LIBRARIES {
            let c = CString::new(name).expect("no NUL in a library name");
            // SAFETY: `c` is a valid NUL-terminated string; dlopen has no other precondition.
            handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
            if !handle.is_null() {
                break;
            }
        }
        if handle.is_null() {
            return Err(
                "a capture filter needs libpcap, which was not found (Debian/Ubuntu: apt install \
                 libpcap0.8; Fedora: dnf install libpcap)"
                    .into(),
            );
        }
        let sym = |name: &str| -> Result<*mut c_void, String> {
            let c = CString::new(name).expect("no NUL in a symbol name");
            // SAFETY: `handle` is a live dlopen handle and `c` a NUL-terminated string.
            let p = unsafe { libc::dlsym(handle, c.as_ptr()) };
            if p.is_null() {
                Err(format!("libpcap has no {name}"))
            } else {
                Ok(p)
            }
        };
        let found = (|| {
            Ok::<_, String>((
                sym("pcap_open_dead")?,
                sym("pcap_compile")?,
                sym("pcap_geterr")?,
                sym("pcap_freecode")?,
                sym("pcap_close")?,
            ))
        })();
        let (open_dead, compile, geterr, freecode, close) = match found {
            Ok(f) => f,
            Err(e) => {
                // SAFETY: `handle` came from dlopen and is closed once.
                unsafe { libc::dlclose(handle) };
                return Err(e);
            }
        };
        // SAFETY: each symbol is libpcap's function of that name, whose C signature (pcap.h,
        // stable since libpcap 0.9) the type it is turned into spells out.
        unsafe {
            Ok(Libpcap {
                handle,
                open_dead: std::mem::transmute::<*mut c_void, OpenDead>(open_dead),
                compile: std::mem::transmute::<*mut c_void, Compile>(compile),
                geterr: std::mem::transmute::<*mut c_void, GetErr>(geterr),
                freecode: std::mem::transmute::<*mut c_void, FreeCode>(freecode),
                close: std::mem::transmute::<*mut c_void, Close>(close),
            })
        }
    }

    /// `expr` compiled for link type `dlt`.
    fn compile(&self, expr: &CStr, dlt: c_int) -> Result<Vec<Insn>, String> {
        // SAFETY: pcap_open_dead takes plain integers and returns an owned handle or NULL.
        let pcap = unsafe { (self.open_dead)(dlt, SNAPLEN) };
        if pcap.is_null() {
            return Err(format!("libpcap cannot open a handle of link type {dlt}"));
        }
        let mut prog = RawProgram {
            bf_len: 0,
            bf_insns: std::ptr::null_mut(),
        };
        // SAFETY: `pcap` is a live handle, `prog` a writable bpf_program, `expr` NUL-terminated;
        // all outlive the call.
        let rc = unsafe { (self.compile)(pcap, &mut prog, expr.as_ptr(), 1, NETMASK_UNKNOWN) };
        let out = if rc != 0 {
            // SAFETY: after a failed call pcap_geterr returns the handle's NUL-terminated error
            // text, valid until the handle is closed (it is copied out first).
            let msg = unsafe { CStr::from_ptr((self.geterr)(pcap)) };
            Err(msg.to_string_lossy().into_owned())
        } else {
            // SAFETY: a successful pcap_compile leaves `bf_len` instructions at `bf_insns`,
            // owned by `prog` until pcap_freecode; they are copied out before it.
            let raw = unsafe { std::slice::from_raw_parts(prog.bf_insns, prog.bf_len as usize) };
            let insns = raw
                .iter()
                .map(|i| Insn {
                    code: i.code,
                    jt: i.jt,
                    jf: i.jf,
                    k: i.k,
                })
                .collect();
            // SAFETY: `prog` was filled by pcap_compile and is freed once.
            unsafe { (self.freecode)(&mut prog) };
            Ok(insns)
        };
        // SAFETY: `pcap` came from pcap_open_dead and is closed once, after its error text was
        // copied.
        unsafe { (self.close)(pcap) };
        out
    }
}

impl Drop for Libpcap {
    fn drop(&mut self) {
        // SAFETY: `handle` came from dlopen and nothing of the library is used after this.
        unsafe { libc::dlclose(self.handle) };
    }
}

/// `expr` (tcpdump's filter syntax) compiled for every link type tapflow reads; the error names
/// what libpcap found wrong (`syntax error`, `unknown host 'x'`, ...). It must compile for
/// Ethernet (every live engine's frames); a link type it does not compile for (`ether host` on
/// raw IP captures) gets a program that keeps nothing, named in the returned notes.
pub fn compile(expr: &str) -> Result<(CaptureFilter, Vec<String>), String> {
    let c = CString::new(expr).map_err(|_| "the expression contains a NUL byte".to_string())?;
    let lib = Libpcap::load()?;
    let mut programs = Vec::with_capacity(LINK_TYPES.len());
    let mut notes = Vec::new();
    for (link, dlt) in LINK_TYPES {
        let insns = match lib.compile(&c, dlt) {
            Ok(i) => i,
            Err(e) if link != tapflow_analyzer::wire::LinkType::Ethernet => {
                notes.push(format!("{link:?} frames ({e}): none kept"));
                vec![Insn {
                    code: 0x06,
                    jt: 0,
                    jf: 0,
                    k: 0,
                }]
            }
            Err(e) => return Err(e),
        };
        let p = BpfProgram::new(insns)
            .map_err(|e| format!("libpcap's program for {link:?} frames was refused: {e}"))?;
        programs.push(p);
    }
    let programs: [BpfProgram; 5] = programs
        .try_into()
        .map_err(|_| "one program per link type".to_string())?;
    Ok((CaptureFilter::new(expr, programs), notes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapflow_analyzer::wire::LinkType;

    /// An Ethernet frame of IPv4 TCP from 10.0.0.1:40000 to 10.0.0.2:`dport`.
    fn frame(dport: u16) -> Vec<u8> {
        tapflow_analyzer::wire::build::tcp_frame(
            [10, 0, 0, 1].into(),
            [10, 0, 0, 2].into(),
            40000,
            dport,
            b"x",
        )
    }

    #[test]
    fn expressions_compile_and_select_like_tcpdump() {
        let (f, notes) = match compile("tcp dst port 80 and host 10.0.0.1") {
            Ok(f) => f,
            Err(e) if e.contains("not found") => {
                eprintln!("skipped: {e}");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        assert!(notes.is_empty(), "{notes:?}");
        let (web, ssh) = (frame(80), frame(22));
        assert!(f.keeps(LinkType::Ethernet, &web, web.len() as u32));
        assert!(!f.keeps(LinkType::Ethernet, &ssh, ssh.len() as u32));
        // The same packet without its Ethernet header, as a raw IP capture has it.
        assert!(f.keeps(LinkType::RawIp, &web[14..], web.len() as u32 - 14));

        let e = compile("tcp port eighty").unwrap_err();
        assert!(e.contains("eighty"), "{e}");
        let e = compile("host and").unwrap_err();
        assert!(e.contains("syntax error"), "{e}");
        let (ether, notes) = compile("ether src 04:04:04:04:04:04").expect("ethernet only");
        assert!(ether.keeps(LinkType::Ethernet, &web, web.len() as u32));
        assert!(!ether.keeps(LinkType::RawIp, &web[14..], 46));
        assert!(notes.iter().any(|n| n.starts_with("RawIp")), "{notes:?}");
        assert!(compile("a\0b").is_err() || compile("a\u{0}b").is_err());
    }
}
