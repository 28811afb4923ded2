use super::*;

#[test]
fn empty_is_defaults() {
    let c = Config::from_yaml("").unwrap();
    assert_eq!(c.max_memory_mib, 768);
    assert_eq!(c.analyzer.flow_capacity, 65_535);
    assert_eq!(c.analyzer.timeouts, Timeouts::default());
    assert!(c.analyzer.decode.trim.contains(TunnelType::Erspan));
}

#[test]
fn deepflow_keys_are_read() {
    let y = r#"
global:
  limits:
    max_memory: 2048
processors:
  flow_log:
    conntrack:
      flow_generation:
        server_ports: [8080, 9092]
      timeouts:
        established: 10m
        others: 3s
    tunning:
      concurrent_flow_limit: 100000
      flow_table_full_action: evict_oldest
inputs:
  cbpf:
    preprocess:
      tunnel_trim_protocols: [erspan]
"#;
    let c = Config::from_yaml(y).unwrap();
    assert_eq!(c.analyzer.timeouts.established_ns, 600_000_000_000);
    assert_eq!(c.analyzer.timeouts.others_ns, 3_000_000_000);
    assert!(c.analyzer.server_ports.contains(9092));
    assert_eq!(c.analyzer.flow_capacity, 100_000);
    assert_eq!(c.analyzer.on_table_full, TableFullPolicy::EvictOldest);
    assert!(!c.analyzer.decode.trim.contains(TunnelType::Teb));
}

#[test]
fn unknown_key_names_its_path() {
    let e = Config::from_yaml(
        "processors:\n  flow_log:\n    conntrack:\n      timeout:\n        others: 5s\n",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("config: unknown key processors.flow_log.conntrack.timeout at line 4"),
        "{e}"
    );
    let e = Config::from_yaml("bogus: 1\n").unwrap_err();
    assert!(
        e.to_string().starts_with("config: unknown key bogus"),
        "{e}"
    );
}

#[test]
fn invalid_values_are_explained() {
    let e = Config::from_yaml(
        "processors:\n  flow_log:\n    conntrack:\n      timeouts:\n        others: 5 parsecs\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("timeouts.others"), "{e}");
    let e = Config::from_yaml(
        "processors:\n  flow_log:\n    tunning:\n      concurrent_flow_limit: 50000000\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("max_memory"), "{e}");
    let e = Config::from_yaml("global:\n  limits:\n    max_memory: -5\n").unwrap_err();
    assert!(e.to_string().contains("max_memory"), "{e}");
    let e = Config::from_yaml(
        "inputs:\n  cbpf:\n    preprocess:\n      tunnel_trim_protocols: [MPLS]\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown tunnel 'MPLS'"), "{e}");
    assert!(Config::from_yaml("[1, 2").is_err());
}

#[test]
fn durations() {
    assert_eq!(parse_duration("300s").unwrap(), 300_000_000_000);
    assert_eq!(parse_duration("2").unwrap(), 2_000_000_000);
    assert_eq!(parse_duration("1h").unwrap(), 3_600_000_000_000);
    assert_eq!(parse_duration("250ms").unwrap(), 250_000_000);
    assert!(parse_duration("s").is_err());
    assert!(parse_duration("99999999999999999999h").is_err());
}
