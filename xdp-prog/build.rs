//! Compiles src/mirror.bpf.c with clang into OUT_DIR/mirror.bpf.o (BPF target, BTF included).
//! Without clang the crate still builds and reports the object as missing at run time, so that
//! hosts without the BPF toolchain can use the other engines.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/mirror.bpf.c");
    println!("cargo:rerun-if-changed=include/tapflow_xdp.h");
    println!("cargo:rerun-if-env-changed=CLANG");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("mirror.bpf.o");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let arch_include = format!(
        "/usr/include/{}-linux-gnu",
        std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into())
    );
    let status = Command::new(&clang)
        .args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            "-D__TARGET_ARCH_x86",
            "-Wall",
            "-Werror",
        ])
        .args(["-I", "include", "-I", &arch_include])
        .args(["-c", "src/mirror.bpf.c", "-o"])
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => println!("cargo:rustc-cfg=xdp_object"),
        Ok(s) => {
            panic!("clang failed to compile the XDP program ({s}); install clang and libbpf-dev")
        }
        Err(e) => {
            println!("cargo:warning=XDP program not built ({clang}: {e}); the AF_XDP engine will be unavailable. Install clang and libbpf-dev.");
            std::fs::write(&out, []).expect("write placeholder object");
        }
    }
    println!("cargo:rustc-check-cfg=cfg(xdp_object)");
}
