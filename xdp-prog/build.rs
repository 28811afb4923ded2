//! Compiles the BPF programs with clang into OUT_DIR (BPF target, BTF included):
//! src/mirror.bpf.c (the XDP program) -> mirror.bpf.o, src/syscalls.bpf.c (the syscall tracer,
//! CO-RE) -> syscalls.bpf.o, src/fanout.bpf.c (the AF_PACKET fanout steering program) ->
//! fanout.bpf.o. Without clang the crate still builds and reports the objects as
//! missing at run time, so that hosts without the BPF toolchain can use the other engines.

use std::path::{Path, PathBuf};
use std::process::Command;

fn compile(clang: &str, arch_include: &str, src: &str, out: &Path) -> bool {
    let status = Command::new(clang)
        .args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            "-D__TARGET_ARCH_x86",
            "-Wall",
            "-Werror",
        ])
        .args(["-I", "include", "-I", arch_include])
        .args(["-c", src, "-o"])
        .arg(out)
        .status();
    match status {
        Ok(s) if s.success() => true,
        Ok(s) => panic!("clang failed to compile {src} ({s}); install clang and libbpf-dev"),
        Err(e) => {
            println!("cargo:warning={src} not built ({clang}: {e}); the AF_XDP engine and the syscall tracer will be unavailable. Install clang and libbpf-dev.");
            std::fs::write(out, []).expect("write placeholder object");
            false
        }
    }
}

fn main() {
    for f in [
        "src/mirror.bpf.c",
        "src/syscalls.bpf.c",
        "src/trace_mmsg.bpf.h",
        "src/trace_pktinfo.bpf.h",
        "src/trace_go_tls.bpf.h",
        "include/tapflow_xdp.h",
        "include/tapflow_trace.h",
        "include/tapflow_trace_types.h",
        "src/fanout.bpf.c",
        "include/tapflow_fanout.h",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-env-changed=CLANG");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let arch_include = format!(
        "/usr/include/{}-linux-gnu",
        std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into())
    );
    if compile(
        &clang,
        &arch_include,
        "src/mirror.bpf.c",
        &out_dir.join("mirror.bpf.o"),
    ) {
        println!("cargo:rustc-cfg=xdp_object");
    }
    compile(
        &clang,
        &arch_include,
        "src/syscalls.bpf.c",
        &out_dir.join("syscalls.bpf.o"),
    );
    compile(
        &clang,
        &arch_include,
        "src/fanout.bpf.c",
        &out_dir.join("fanout.bpf.o"),
    );
    println!("cargo:rustc-check-cfg=cfg(xdp_object)");
}
