use super::*;
use tapflow_analyzer::l7::L7Protocol;
use tapflow_analyzer::mirror::CaptureMode;

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
    // The key path once, whether or not the parser's own message names it.
    assert_eq!(
        e.to_string().matches("global.limits.max_memory").count(),
        1,
        "{e}"
    );
    let e = Config::from_yaml("global:\n  limits: [1, 2]\n").unwrap_err();
    assert_eq!(e.to_string().matches("global.limits").count(), 1, "{e}");
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

#[test]
fn legacy_agent_group_snippet_loads_as_written() {
    // The K8s macvlan / hypervisor mirror snippet of DeepFlow's docs (legacy agent-group keys).
    let y = r#"
vtap_group_id: g-7c1a2b3c4d
tap_mode: 1
tap_interface_regex: ^(eth1|macvlan.*)$
max_memory: 1024
static_config:
  src-interfaces:
    - dummy0
    - dummy1
"#;
    let c = Config::from_yaml(y).unwrap();
    assert_eq!(c.analyzer.mirror.mode, CaptureMode::VirtualMirror);
    assert_eq!(c.max_memory_mib, 1024);
    assert_eq!(c.interface_regex.as_deref(), Some("^(eth1|macvlan.*)$"));
    assert_eq!(c.agent_group_id.as_deref(), Some("g-7c1a2b3c4d"));
    let w = c.warnings.join("\n");
    assert!(
        w.contains("legacy key tap_mode read as inputs.cbpf.common.capture_mode"),
        "{w}"
    );
    assert!(
        w.contains(
            "legacy key static_config.src-interfaces read as inputs.cbpf.af_packet.src_interfaces"
        ),
        "{w}"
    );
    assert!(
        w.contains("src_interfaces (dummy0, dummy1) is deprecated and ignored"),
        "{w}"
    );
    assert!(c.src_interfaces.is_empty(), "the regex wins");
    let c = Config::from_yaml("static_config:\n  src-interfaces: [eth1, eth2]\n").unwrap();
    assert_eq!(
        c.src_interfaces,
        vec!["eth1".to_string(), "eth2".to_string()],
        "used when no regex is set"
    );
    assert!(
        w.contains("without inputs.cbpf.virtual_mirror.local_macs"),
        "{w}"
    );
}

#[test]
fn analyzer_mode_keys() {
    let y = r#"
inputs:
  cbpf:
    common:
      capture_mode: 2
    af_packet:
      vlan_pcp_in_physical_mirror_traffic: 9
    physical_mirror:
      default_capture_network_type: 4
      packet_dedup_ignore_ttl: true
      capture_network_types:
        - { vlan: 10, capture_network_type: 5 }
    virtual_mirror:
      local_macs: ["02:00:00:00:00:01", "02-00-00-00-00-02"]
"#;
    let c = Config::from_yaml(y).unwrap();
    let m = &c.analyzer.mirror;
    assert_eq!(m.mode, CaptureMode::Analyzer);
    assert!(m.dedup.ignore_ttl && !m.dedup.disabled);
    assert_eq!(m.local_macs.len(), 2);
    let mut l2 = tapflow_analyzer::wire::L2Info {
        outer_vlan_count: 2,
        ..Default::default()
    };
    l2.outer_vlans = [99, 10];
    assert_eq!(m.tap_types.tap_type(&l2), 5, "inner VLAN 10");
    l2.outer_vlans = [10, 99];
    assert_eq!(m.tap_types.tap_type(&l2), 4, "default");
}

#[test]
fn mirror_key_errors() {
    let e =
        Config::from_yaml("inputs:\n  cbpf:\n    common:\n      capture_mode: 3\n").unwrap_err();
    assert!(e.to_string().contains("3 (DECAP)"), "{e}");
    let e = Config::from_yaml("tap_mode: 7\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("expected 0 (local), 1 (virtual mirror) or 2 (analyzer)"),
        "{e}"
    );
    let e =
        Config::from_yaml("tap_mode: 1\ninputs:\n  cbpf:\n    common:\n      capture_mode: 2\n")
            .unwrap_err();
    assert!(e.to_string().contains("keep one of them"), "{e}");
    let e = Config::from_yaml(
        "inputs:\n  cbpf:\n    af_packet:\n      vlan_pcp_in_physical_mirror_traffic: 10\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("expected 0-7"), "{e}");
    let e = Config::from_yaml("inputs:\n  cbpf:\n    virtual_mirror:\n      local_macs: [nope]\n")
        .unwrap_err();
    assert!(e.to_string().contains("not a MAC address"), "{e}");
    let e = Config::from_yaml("inputs:\n  cbpf:\n    af_packet:\n      interface_regex: '(eth'\n")
        .unwrap_err();
    assert!(
        e.to_string().contains("not a valid regular expression"),
        "{e}"
    );
    let e = Config::from_yaml("static_config:\n  bogus-key: 1\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("unknown key static_config.bogus-key"),
        "{e}"
    );
}

#[test]
fn dpdk_keys() {
    let y = "inputs:\n  cbpf:\n    special_network:\n      dpdk:\n        eal_args: [\"-l\", \"0-1\"]\n        ports: [\"0000:01:00.0\", \"net_pcap0\"]\n        burst: 32\n";
    let c = Config::from_yaml(y).unwrap();
    assert_eq!(c.dpdk.ports.len(), 2);
    assert_eq!(c.dpdk.burst, 32);
    assert_eq!(c.dpdk.mempool_mbufs, 16_384);
    let e = Config::from_yaml(
        "inputs:\n  cbpf:\n    special_network:\n      dpdk:\n        ports: [eth0]\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("neither a PCI address"), "{e}");
    let e = Config::from_yaml(
        "inputs:\n  cbpf:\n    special_network:\n      dpdk:\n        source: pDump\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("polls the ports itself"), "{e}");
    let e = Config::from_yaml(
        "inputs:\n  cbpf:\n    special_network:\n      dpdk:\n        burst: 100\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("1..=64"), "{e}");
}

#[test]
fn custom_fields_name_http_and_http2_headers() {
    let y = r#"
processors:
  request_log:
    tag_extraction:
      custom_fields:
        HTTP:
          - field_name: X-Tenant
          - field_name: user_agent
        gRPC:
          - field_name: x-b3-sampled
        Dubbo:
          - field_name: x
        HTTP2: ~
"#;
    let c = Config::from_yaml(y).unwrap();
    let f = &c.analyzer.l7.custom_fields;
    let attrs = |l: &[tapflow_analyzer::l7::config::CustomField]| -> Vec<String> {
        l.iter()
            .map(|f| String::from_utf8_lossy(&f.attr).into_owned())
            .collect()
    };
    assert_eq!(attrs(&f.http), ["x_tenant", "user_agent"]);
    assert_eq!(attrs(&f.http2), ["x_b3_sampled"]);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("custom_fields") && w.contains("Dubbo")),
        "{:?}",
        c.warnings
    );
    let e = Config::from_yaml(
        "processors:\n  request_log:\n    tag_extraction:\n      custom_fields:\n        HTTP: [{field_name: 'a b'}]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("custom_fields") && e.contains("'a b' is not a header name"),
        "{e}"
    );
}

#[test]
fn request_log_tag_filters_are_the_blacklist() {
    let y = r#"
processors:
  request_log:
    filters:
      tag_filters:
        HTTP:
          - field_name: endpoint
            operator: prefix
            value: /health
          - field_name: Request_Domain
            operator: EQUAL
            field_value: probe.internal
        gRPC: []
        Oracle:
          - {field_name: endpoint, operator: equal, value: x}
        Redis: ~
"#;
    let c = Config::from_yaml(y).unwrap();
    assert_eq!(c.analyzer.l7.blacklist.len(), 2);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("tag_filters") && w.contains("does not parse Oracle")),
        "{:?}",
        c.warnings
    );
    assert!(!c
        .warnings
        .iter()
        .any(|w| w.contains("accepted but not applied")));
    let bad = |rule: &str| {
        let y = format!(
            "processors:\n  request_log:\n    filters:\n      tag_filters:\n        HTTP:\n          - {rule}\n"
        );
        Config::from_yaml(&y).unwrap_err().to_string()
    };
    let e = bad("{field_name: status, operator: equal, value: x}");
    assert!(e.contains("tag_filters") && e.contains("'status'"), "{e}");
    let e = bad("{field_name: endpoint, operator: suffix, value: x}");
    assert!(e.contains("operator 'suffix'"), "{e}");
    let e = bad("{field_name: endpoint, operator: equal, valu: x}");
    assert!(e.contains("valu"), "{e}");
}

#[test]
fn request_log_settings_apply() {
    let y = r#"
processors:
  request_log:
    application_protocol_inference:
      enabled_protocols: [HTTP, DNS, MySQL, bRPC, Oracle]
      inference_max_retries: 5
      inference_result_ttl: 30s
    filters:
      port_number_prefilters:
        HTTP: 80,8000-8080
        MySQL: 3306
    timeouts:
      tcp_request_timeout: 10s
      session_aggregate:
        - protocol: DNS
          timeout: 5s
    tag_extraction:
      tracing_tag:
        x_request_id: [X-Req]
      http_endpoint:
        match_rules:
          - url_prefix: /api
            keep_segments: 3
      obfuscate_protocols: [Redis]
    tunning:
      payload_truncation: 512
"#;
    let c = Config::from_yaml(y).unwrap();
    let l7 = &c.analyzer.l7;
    assert!(l7.enabled.contains(L7Protocol::Http1) && l7.enabled.contains(L7Protocol::Dns));
    assert!(!l7.enabled.contains(L7Protocol::Tls));
    assert_eq!((l7.inference_max_retries, l7.inference_ttl_s), (5, 30));
    assert!(l7.tried_on(L7Protocol::Http1, 8001) && !l7.tried_on(L7Protocol::Http1, 9000));
    assert_eq!(l7.tcp_request_timeout_ns, 10_000_000_000);
    assert_eq!(l7.session_window_dns_tls_ns, 5_000_000_000);
    assert_eq!(l7.tags.x_request_id, vec!["X-Req".to_string()]);
    assert_eq!(l7.endpoints.keep_for("/api/a/b/c"), Some(3));
    assert_eq!(l7.payload_truncation, 512);
    let w = c.warnings.join("\n");
    assert!(w.contains("does not parse Oracle yet"), "{w}");
    assert!(
        l7.enabled.contains(L7Protocol::Brpc) && !w.contains("bRPC"),
        "{w}"
    );
    assert!(l7.enabled.contains(L7Protocol::Mysql));
    assert!(!w.contains("obfuscate_protocols"), "applied now: {w}");
    assert!(l7.protocols.redis.obfuscate);
    let off = Config::from_yaml(
        "processors:\n  request_log:\n    tag_extraction:\n      obfuscate_protocols: [MySQL]\n",
    )
    .unwrap();
    assert!(!off.analyzer.l7.protocols.redis.obfuscate);
    assert!(off.analyzer.l7.protocols.mysql.obfuscate);
    assert!(!off.analyzer.l7.protocols.postgres.obfuscate);
    assert!(!off.warnings.iter().any(|w| w.contains("obfuscate")));
    let special = Config::from_yaml(
        "processors:\n  request_log:\n    application_protocol_inference:\n      protocol_special_config:\n        mysql:\n          endpoint_disabled: true\n          decompress_payload: false\n        grpc:\n          streaming_data_enabled: false\n",
    )
    .unwrap();
    assert!(special.analyzer.l7.protocols.mysql.endpoint_disabled);
    assert!(special.analyzer.l7.protocols.mysql.keep_compressed);
    assert!(special.warnings.is_empty(), "{:?}", special.warnings);
    let warned = Config::from_yaml(
        "processors:\n  request_log:\n    application_protocol_inference:\n      protocol_special_config:\n        mysql:\n          decompress_payload: true\n        oracle:\n          is_be: true\n",
    )
    .unwrap();
    // Only Oracle is warned of: the compressed protocol is read, as DeepFlow's default does.
    assert_eq!(warned.warnings.len(), 1, "{:?}", warned.warnings);
    assert!(!warned.analyzer.l7.protocols.mysql.keep_compressed);
    assert!(
        !Config::from_yaml("")
            .unwrap()
            .analyzer
            .l7
            .protocols
            .mysql
            .keep_compressed
    );
    assert!(Config::from_yaml(
        "processors:\n  request_log:\n    application_protocol_inference:\n      protocol_special_config:\n        mysql:\n          nope: 1\n"
    )
    .is_err());
    assert!(Config::from_yaml(
        "processors:\n  request_log:\n    tag_extraction:\n      obfuscate_protocols: [DNS]\n"
    )
    .is_err());
    for bad in [
        "processors:\n  request_log:\n    application_protocol_inference:\n      enabled_protocols: [HTTPX]\n",
        "processors:\n  request_log:\n    filters:\n      port_number_prefilters:\n        DNS: 53-x\n",
        "processors:\n  request_log:\n    timeouts:\n      udp_request_timeout: 0s\n",
        "processors:\n  request_log:\n    tunning:\n      bogus: 1\n",
    ] {
        assert!(Config::from_yaml(bad).is_err(), "{bad}");
    }
    assert!(Config::from_yaml("")
        .unwrap()
        .warnings
        .iter()
        .all(|w| !w.contains("request_log")));
}

#[test]
fn process_sync_block_loads_validated_with_a_warning() {
    let y = r#"
vtap_group_id: g-7c1a2b3c4d
static_config:
  os-proc-sync-enabled: true
  os-proc-regex:
    - match-regex: python3 (.*)\.py
      match-type: cmdline
      action: accept
      rewrite-name: $1-service
    - match-regex: .*sleep.*
      match-type: process_name
      action: drop
    - match-regex: .+
  os-app-tag-exec-user: deepflow
  os-app-tag-exec: ["cat", "/tmp/tag.yaml"]
"#;
    let c = Config::from_yaml(y).unwrap();
    assert!(c
        .warnings
        .iter()
        .any(|w| w.contains("os-proc-sync") && w.contains("not applied")));
    assert!(c
        .warnings
        .iter()
        .any(|w| w.contains("os-proc-regex") && w.contains("applied")));
    assert_eq!(c.process.matchers.len(), 3);
    assert!(c.process.matchers[1].ignore, "action: drop");
    assert_eq!(c.process.matchers[0].rewrite_name, "$1-service");
    assert_eq!(c.process.tag_command, ["cat", "/tmp/tag.yaml"]);
    assert_eq!(c.process.tag_exec_user, "deepflow");
    for bad in [
        "static_config:\n  os-proc-regex:\n    - match-regex: '('\n",
        "static_config:\n  os-proc-regex:\n    - match-regex: a\n      match-type: bogus\n",
        "static_config:\n  os-proc-regex:\n    - match-regex: a\n      action: keep\n",
        "static_config:\n  os-proc-regex:\n    - match-regex: a\n      nope: 1\n",
        "static_config:\n  os-app-tag-exec: []\n",
    ] {
        assert!(Config::from_yaml(bad).is_err(), "{bad}");
    }
}

/// The example file loads to exactly the default configuration, and docs/configuration.md
/// documents the same keys: the example cannot drift from the model or the docs.
#[test]
fn example_is_the_default_configuration_and_matches_the_docs() {
    let text = super::example::render();
    let mut from_example = Config::from_yaml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let mut default = Config::from_yaml("").unwrap();
    from_example.warnings.clear();
    default.warnings.clear();
    assert_eq!(format!("{from_example:?}"), format!("{default:?}"));
    let docs = include_str!("../../../docs/configuration.md");
    for (key, ..) in super::example::KEYS {
        assert!(
            docs.contains(&format!("`{key}`")),
            "{key} missing from docs/configuration.md"
        );
    }
    let applied: Vec<&str> = docs
        .lines()
        .filter(|l| !l.contains("Accepted, not applied"))
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .collect();
    for key in applied {
        assert!(
            super::example::KEYS.iter().any(|(k, ..)| *k == key),
            "{key} (docs/configuration.md) missing from the example"
        );
    }
}

#[test]
fn the_example_loads_without_warnings() {
    let c = Config::from_yaml(&super::example::render()).unwrap();
    assert_eq!(c.warnings, Vec::<String>::new());
}

#[test]
fn flow_metrics_keys_and_their_budget() {
    let c = Config::from_yaml(
        "outputs:\n  flow_metrics:\n    filters:\n      apm_metrics: false\n      inactive_server_port_aggregation: true\n    tunning:\n      max_keys_per_window: 1000\n",
    )
    .unwrap();
    assert!(c.metrics.enabled && c.metrics.network && !c.metrics.application);
    assert!(c.metrics.inactive_server_port_aggregation);
    assert_eq!(c.metrics.max_keys, 1000);
    assert!(c.metrics.concurrent, "DeepFlow's default");
    let off = Config::from_yaml(
        "outputs:\n  flow_metrics:\n    filters:\n      npm_metrics_concurrent: false\n",
    )
    .unwrap();
    assert!(!off.metrics.concurrent);
    assert!(off
        .warnings
        .iter()
        .all(|w| !w.contains("npm_metrics_concurrent")));
    let e = Config::from_yaml(
        "global: {limits: {max_memory: 200}}\noutputs:\n  flow_metrics:\n    tunning:\n      max_keys_per_window: 100000\n",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("outputs.flow_metrics.tunning.max_keys_per_window"),
        "{e}"
    );
    // Unset, the default shrinks to the room left: the smallest budgets that load leave room
    // for fewer than 4,096 keys, never fewer than 256 (the budget per flow changes as the flow
    // state does, so the budgets are searched, not named).
    let keys: Vec<(u64, usize)> = (100..=400)
        .filter_map(|mb| {
            Config::from_yaml(&format!("global: {{limits: {{max_memory: {mb}}}}}\n"))
                .ok()
                .map(|c| (mb, c.metrics.max_keys))
        })
        .collect();
    assert!(keys.iter().any(|&(_, k)| k < 4096), "{keys:?}");
    assert!(keys.iter().all(|&(_, k)| k >= 256), "{keys:?}");
    assert!(keys.windows(2).all(|w| w[0].1 <= w[1].1), "{keys:?}");
    assert!(Config::from_yaml("outputs:\n  flow_metrics:\n    nope: 1\n").is_err());
}

#[test]
fn the_memory_budget_covers_l7_tables() {
    let e = Config::from_yaml("global: {limits: {max_memory: 100}}\n").unwrap_err();
    assert!(e.to_string().contains("L7 tables"), "{e}");
    assert!(Config::from_yaml("global: {limits: {max_memory: 200}}\n").is_ok());
}

/// DeepFlow's v7 template loads: every one of its leaf keys at its default, in one file.
#[test]
fn deepflow_v7_template_with_every_key_loads() {
    let mut root = serde_yaml::Mapping::new();
    for (key, default) in super::deepflow_v7::KEYS {
        let value: serde_yaml::Value = serde_yaml::from_str(default)
            .unwrap_or_else(|e| panic!("{key}: default {default}: {e}"));
        let mut at = &mut root;
        let parts: Vec<&str> = key.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            let k = serde_yaml::Value::from(*p);
            if !at.contains_key(&k) {
                at.insert(k.clone(), serde_yaml::Value::Mapping(Default::default()));
            }
            at = at
                .get_mut(&k)
                .and_then(serde_yaml::Value::as_mapping_mut)
                .unwrap_or_else(|| panic!("{key}: {p} is not a section"));
        }
        at.insert(serde_yaml::Value::from(parts[parts.len() - 1]), value);
    }
    let text = serde_yaml::to_string(&root).expect("yaml");
    let c = Config::from_yaml(&text).unwrap_or_else(|e| panic!("{e}"));
    let w = c.warnings.join("\n");
    assert!(
        w.contains("DeepFlow keys accepted, not applied by tapflow"),
        "{w}"
    );
    assert!(w.contains("global.limits (max_millicpus"), "{w}");
    // Applied keys keep their meaning: DeepFlow's defaults are tapflow's.
    assert_eq!(c.max_memory_mib, 768);
    // A typo is still an error with its path, and a wrong type of a known key too.
    let e = Config::from_yaml(&format!("{text}\nnot_a_deepflow_key: 1\n")).unwrap_err();
    assert!(
        e.to_string().contains("unknown key not_a_deepflow_key"),
        "{e}"
    );
    let e =
        Config::from_yaml("global:\n  limits:\n    max_millicpus: 1000\n    max_memory: lots\n")
            .unwrap_err();
    assert!(e.to_string().contains("max_memory"), "{e}");
}

#[test]
fn flow_log_filters_are_read_and_checked() {
    use crate::sink::{LogFilters, RowFilter};
    assert_eq!(Config::from_yaml("").unwrap().log_filters, LogFilters::ALL);
    let y = r#"
outputs:
  flow_log:
    filters:
      l4_capture_network_types: [3, 4]
      l7_capture_network_types: [-1]
      l4_ignored_observation_points: [1, 9]
    throttles:
      l4_throttle: 5000
"#;
    let c = Config::from_yaml(y).unwrap();
    assert_eq!(c.log_filters.l4, RowFilter::new(&[3, 4], &[1, 9]).unwrap());
    assert!(c.log_filters.l7.keeps_none());
    assert_eq!(c.log_throttles.l4.map(|r| r.get()), Some(5000));
    assert_eq!(c.log_throttles.l7, None);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(Config::from_yaml("").unwrap().log_throttles.is_none());
    let bad = |y: &str| Config::from_yaml(y).unwrap_err().to_string();
    let e = bad("outputs:\n  flow_log:\n    filters:\n      l7_capture_network_types: [300]\n");
    assert!(
        e.contains("outputs.flow_log.filters.l7_capture_network_types")
            && e.contains("300 is not in -1..=255"),
        "{e}"
    );
    let e = bad("outputs:\n  flow_log:\n    filters:\n      l4_ignored_observation_points: [-3]\n");
    assert!(
        e.contains("outputs.flow_log.filters.l4_ignored_observation_points"),
        "{e}"
    );
    let e = bad("outputs:\n  flow_log:\n    filters:\n      l4_capture_network_types: cloud\n");
    assert!(e.contains("l4_capture_network_types"), "{e}");
    for v in ["99", "1000001", "0"] {
        let e = bad(&format!(
            "outputs:\n  flow_log:\n    throttles:\n      l7_throttle: {v}\n"
        ));
        assert!(
            e.contains("outputs.flow_log.throttles.l7_throttle")
                && e.contains(&format!("{v} rows/s is not in 100..=1000000")),
            "{e}"
        );
    }
    let y = "outputs:\n  flow_log:\n    throttles:\n      l4_throttle: 1000000\n      l7_throttle: 100\n";
    let c = Config::from_yaml(y).unwrap();
    let rates = (
        c.log_throttles.l4.unwrap().get(),
        c.log_throttles.l7.unwrap().get(),
    );
    assert_eq!(rates, (1_000_000, 100));
    assert_eq!(c.log_policy().throttles, c.log_throttles);
}

#[test]
fn deepflow_v6_flow_log_keys_are_read_as_their_v7_names() {
    use crate::sink::RowFilter;
    let y = "l4_log_tap_types: [3]\nl7_log_store_tap_types: [-1]\nl4_log_ignore_tap_sides: [2]\n\
             l7_log_ignore_tap_sides: [1]\nl4_log_collect_nps_threshold: 2000\n\
             l7_log_collect_nps_threshold: 3000\n";
    let c = Config::from_yaml(y).unwrap();
    assert_eq!(c.log_filters.l4, RowFilter::new(&[3], &[2]).unwrap());
    assert!(c.log_filters.l7.keeps_none());
    let rates = (
        c.log_throttles.l4.unwrap().get(),
        c.log_throttles.l7.unwrap().get(),
    );
    assert_eq!(rates, (2000, 3000));
    for (old, new) in [
        (
            "l4_log_tap_types",
            "outputs.flow_log.filters.l4_capture_network_types",
        ),
        (
            "l7_log_ignore_tap_sides",
            "outputs.flow_log.filters.l7_ignored_observation_points",
        ),
        (
            "l7_log_collect_nps_threshold",
            "outputs.flow_log.throttles.l7_throttle",
        ),
    ] {
        let said = format!("legacy key {old} read as {new}");
        assert!(c.warnings.contains(&said), "{:?}", c.warnings);
    }
    // Both spellings: the same value is fine, two values are refused.
    let both = |v: u32| {
        format!("l4_log_collect_nps_threshold: 500\noutputs:\n  flow_log:\n    throttles:\n      l4_throttle: {v}\n")
    };
    assert!(Config::from_yaml(&both(500)).is_ok());
    let e = Config::from_yaml(&both(600)).unwrap_err().to_string();
    assert!(
        e.contains("outputs.flow_log.throttles.l4_throttle")
            && e.contains("l4_log_collect_nps_threshold"),
        "{e}"
    );
    // The v7 range holds for the v6 key.
    let e = Config::from_yaml("l7_log_collect_nps_threshold: 10\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("10 rows/s is not in 100..=1000000"), "{e}");
}

#[test]
fn max_throughput_to_ingester_is_mbps_or_no_limit() {
    let at = |v: &str| {
        Config::from_yaml(&format!(
            "global:\n  communication:\n    max_throughput_to_ingester: {v}\n"
        ))
    };
    assert_eq!(
        Config::from_yaml("").unwrap().ingester.max_bytes_per_s,
        None
    );
    assert_eq!(at("0").unwrap().ingester.max_bytes_per_s, None);
    assert_eq!(
        at("100").unwrap().ingester.max_bytes_per_s,
        Some(12_500_000)
    );
    let e = at("100001").unwrap_err().to_string();
    assert!(
        e.contains("global.communication.max_throughput_to_ingester") && e.contains("100001"),
        "{e}"
    );
    assert!(at("100").unwrap().warnings.is_empty());
}

#[test]
fn output_changes_are_named_for_the_next_start() {
    let base = Config::from_yaml("").unwrap();
    assert!(base.next_start_changes(&base.clone()).is_empty());
    let y = "outputs:\n  flow_metrics:\n    tunning:\n      max_keys_per_window: 1024\n  \
             flow_log:\n    filters:\n      l4_capture_network_types: [3]\n  \
             compression:\n    l4_flow_log: true\n";
    let new = Config::from_yaml(y).unwrap();
    // The filters follow a running process: not named.
    assert_eq!(
        base.next_start_changes(&new),
        vec![
            "outputs.flow_metrics",
            "ingester_traffic_overflow_action, outputs.compression"
        ]
    );
    let y = "outputs:\n  ipfix:\n    collector: 127.0.0.1:4739\n  flow_log:\n    file:\n      keep_files: 3\n";
    let new = Config::from_yaml(y).unwrap();
    assert_eq!(
        base.next_start_changes(&new),
        vec!["outputs.flow_log.file", "outputs.ipfix"]
    );
}

#[test]
fn multiple_sockets_to_ingester_is_applied_and_the_other_socket_keys_named() {
    assert!(!Config::from_yaml("").unwrap().ingester.socket_per_type);
    let y = "outputs:\n  socket:\n    data_socket_type: TCP\n    raw_udp_qos_bypass: false\n    \
             multiple_sockets_to_ingester: true\n";
    let c = Config::from_yaml(y).unwrap();
    assert!(c.ingester.socket_per_type);
    let w = c.warnings.join("\n");
    assert!(
        w.contains("outputs.socket (data_socket_type, raw_udp_qos_bypass)"),
        "{w}"
    );
    assert!(!w.contains("multiple_sockets_to_ingester"), "{w}");
    // It follows a running process: not named for the next start.
    let base = Config::from_yaml("").unwrap();
    assert!(base.next_start_changes(&c).is_empty());
    let e = Config::from_yaml("outputs:\n  socket:\n    multiple_sockets_to_ingester: 3\n")
        .unwrap_err();
    assert!(
        e.to_string().contains("multiple_sockets_to_ingester"),
        "{e}"
    );
}
