//! The syscall tracer's keys: `inputs.ebpf`, `inputs.proc.enabled` and `inputs.proc.proc_dir_path`.

use super::*;

#[test]
fn ebpf_keys_are_applied_and_checked() {
    let c = Config::from_yaml(
        "inputs:\n  ebpf:\n    disabled: true\n    socket:\n      uprobe:\n        tls:\n          enabled: false\n          libssl_paths: [/opt/app/lib/libssl.so.3]\n        golang:\n          enabled: true\n          tracing_timeout: 60s\n      tunning:\n        syscall_trace_id_disabled: true\n    tunning:\n      max_socket_entries: 20000\n",
    )
    .expect("config");
    assert!(c.ebpf.disabled);
    assert_eq!(c.ebpf.tls_uprobes, Some(false));
    assert!(c.ebpf.syscall_trace_id_disabled);
    assert_eq!(c.ebpf.max_socket_entries, 20_000);
    assert_eq!(c.ebpf.libssl_paths, ["/opt/app/lib/libssl.so.3"]);
    assert!(c.ebpf.go_tls);
    assert!(!Config::default().ebpf.go_tls, "DeepFlow's default: off");
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("tracing_timeout") && !w.contains("enabled")),
        "DeepFlow's other eBPF keys are named as not applied: {:?}",
        c.warnings
    );
    assert_eq!(Config::default().ebpf.tls_uprobes, None);
    let e = Config::from_yaml("inputs:\n  ebpf:\n    tunning:\n      max_socket_entries: 5\n")
        .unwrap_err();
    assert!(e.to_string().contains("max_socket_entries"), "{e}");
    // Ports and unix sockets: the lists, enable_unix_socket applied, and bad ranges.
    let c = Config::from_yaml(
        "inputs:\n  ebpf:\n    socket:\n      kprobe:\n        enable_unix_socket: true\n        whitelist:\n          ports: '80, 8000-8002'\n        blacklist:\n          ports: '8001'\n",
    )
    .expect("ports");
    let p = &c.ebpf.ports;
    let allow = p.allow.as_ref().expect("whitelist");
    assert!(allow.contains(80) && allow.contains(8002) && !allow.contains(8003));
    assert!(p.traces(8000, 40000) && !p.traces(8001, 40000) && !p.traces(22, 40000));
    assert!(c.ebpf.unix_sockets);
    assert!(
        !Config::default().ebpf.unix_sockets,
        "DeepFlow's default: off"
    );
    assert!(
        !c.warnings.iter().any(|w| w.contains("enable_unix_socket")),
        "{:?}",
        c.warnings
    );
    let empty = Config::from_yaml(
        "inputs:\n  ebpf:\n    socket:\n      kprobe:\n        blacklist:\n          ports: ''\n",
    )
    .expect("empty");
    assert_eq!(
        empty.ebpf.ports,
        Default::default(),
        "DeepFlow's default: no list"
    );
    assert_eq!(empty.ebpf.max_capture_rate, 0);
    let rate = Config::from_yaml(
        "inputs:\n  ebpf:\n    socket:\n      tunning:\n        max_capture_rate: 5000\n",
    )
    .expect("rate");
    assert_eq!(rate.ebpf.max_capture_rate, 5000);
    assert_eq!(
        rate.ebpf.hooked_syscalls.len(),
        10,
        "DeepFlow's default: every one"
    );
    let hooked = Config::from_yaml(
        "inputs:\n  ebpf:\n    socket:\n      tunning:\n        hooked_socket_syscalls: [read, sendto]\n",
    )
    .expect("hooked");
    assert_eq!(hooked.ebpf.hooked_syscalls, ["read", "sendto"]);
    assert_eq!(
        Config::default().process.proc_root,
        std::path::Path::new("/proc")
    );
    let proc =
        Config::from_yaml("inputs:\n  proc:\n    proc_dir_path: /host/proc\n").expect("proc");
    assert_eq!(proc.process.proc_root, std::path::Path::new("/host/proc"));
    assert!(Config::default().process.enabled, "DeepFlow's default");
    let off = Config::from_yaml("inputs:\n  proc:\n    enabled: false\n").expect("off");
    assert!(!off.process.enabled);
    assert!(
        off.warnings.iter().all(|w| !w.contains("enabled")),
        "applied, not warned: {:?}",
        off.warnings
    );
    let e = Config::from_yaml("inputs:\n  proc:\n    proc_dir_path: host/proc\n").unwrap_err();
    assert!(e.to_string().contains("inputs.proc.proc_dir_path"), "{e}");
    let e = Config::from_yaml(
        "inputs:\n  ebpf:\n    socket:\n      tunning:\n        hooked_socket_syscalls: [read, open]\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("'open' is not one of"), "{e}");
    assert!(Config::from_yaml(
        "inputs:\n  ebpf:\n    socket:\n      tunning:\n        max_capture_rate: 64000001\n"
    )
    .is_err());
    let e = Config::from_yaml("inputs:\n  ebpf:\n    socket:\n      kprobe:\n        blacklist:\n          ports: '90-80'\n")
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("inputs.ebpf.socket.kprobe.blacklist.ports"),
        "{e}"
    );
}
