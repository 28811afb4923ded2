//! With feature `dpdk`: generates bindings to Debian's DPDK (pkg-config libdpdk) into OUT_DIR and
//! compiles the C shim that exports DPDK's static-inline fast path. Without it: nothing.

fn main() {
    #[cfg(feature = "dpdk")]
    dpdk::build();
}

#[cfg(feature = "dpdk")]
mod dpdk {
    use std::path::PathBuf;
    use std::process::Command;

    fn pkg_config(arg: &str) -> Vec<String> {
        let out = Command::new("pkg-config").args([arg, "libdpdk"]).output().unwrap_or_else(|e| {
            panic!("pkg-config not found ({e}): install pkg-config and dpdk-dev (apt-get install dpdk-dev libclang-dev)")
        });
        if !out.status.success() {
            panic!("pkg-config cannot find libdpdk: install Debian's dpdk-dev (apt-get install dpdk-dev libclang-dev)");
        }
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    pub(super) fn build() {
        println!("cargo:rerun-if-changed=csrc/dpdk_wrapper.h");
        println!("cargo:rerun-if-changed=csrc/dpdk_shim.c");
        let cflags = pkg_config("--cflags");
        let libs = pkg_config("--libs");
        // Debian's cflags carry -march=corei7 (DPDK's build baseline); nothing host-specific added.
        let mut cc = cc::Build::new();
        cc.file("csrc/dpdk_shim.c").include("csrc").warnings(false);
        for f in &cflags {
            cc.flag(f);
        }
        cc.compile("tapflow_dpdk_shim");
        for l in &libs {
            if let Some(lib) = l.strip_prefix("-l") {
                println!("cargo:rustc-link-lib={lib}");
            } else if let Some(dir) = l.strip_prefix("-L") {
                println!("cargo:rustc-link-search=native={dir}");
            } else if l.starts_with("-Wl,") {
                println!("cargo:rustc-link-arg={l}");
            }
        }
        let mut b = bindgen::Builder::default()
            .header("csrc/dpdk_wrapper.h")
            .allowlist_function("rte_(eal_init|eal_cleanup|strerror|socket_id|pktmbuf_pool_create|mempool_free)")
            .allowlist_function("rte_eth_(dev_count_avail|dev_configure|rx_queue_setup|dev_start|dev_stop|dev_close|promiscuous_enable|stats_get|dev_info_get|dev_get_port_by_name|dev_socket_id)")
            .allowlist_function("tf_.*")
            .allowlist_type("rte_eth_(conf|stats|dev_info|rss_conf|rxconf)")
            .allowlist_var("RTE_MBUF_DEFAULT_BUF_SIZE")
            .derive_debug(false)
            .derive_default(true)
            .layout_tests(false)
            .generate_comments(false);
        for t in [
            "rte_arp_ipv4",
            "rte_arp_hdr",
            "rte_ecpri_.*",
            "rte_l2tpv2_.*",
            "rte_gtp_psc_generic_hdr",
            "rte_mbuf",
            "rte_mempool",
        ] {
            b = b.opaque_type(t);
        }
        // "-include rte_config.h" comes as two arguments; keep them together.
        let mut args = Vec::new();
        let mut it = cflags.iter().peekable();
        while let Some(f) = it.next() {
            if f == "-include" {
                if let Some(h) = it.next() {
                    args.push(f.clone());
                    args.push(h.clone());
                }
            } else if f.starts_with("-I") {
                args.push(f.clone());
            }
        }
        b = b.clang_args(args);
        let bindings = b
            .generate()
            .expect("bindgen over DPDK headers failed (is libclang-dev installed?)");
        let out =
            PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("dpdk_bindings.rs");
        bindings.write_to_file(out).expect("write DPDK bindings");
    }
}
