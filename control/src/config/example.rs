//! `tapflow ctl agent-group-config example`: every applied key with its default and a comment,
//! as a YAML file to start from. The table below is the single source; tests check that the
//! rendered file loads to exactly the default configuration and that docs/configuration.md lists
//! the same keys, so neither can drift from the config model.

/// (dotted key, default as YAML or None for an unset key shown commented out with an example
/// value, comment).
pub(super) const KEYS: &[(&str, Option<&str>, &str, &str)] = &[
    ("global.limits.max_memory", Some("768"), "", "Memory budget, MiB, for the whole run: tables, capture buffers, record rings, outputs."),
    ("global.communication.ingester_ip", Some("''"), "", "A DeepFlow ingester (DeepFlow's server or tapflow server --ingest-listen): records are also sent there."),
    ("global.communication.ingester_port", Some("30033"), "", "The ingester's port."),
    ("global.communication.ingester_traffic_overflow_action", Some("WAIT"), "", "Sender queue full: WAIT up to 2 s, or DROP (counted)."),
    ("global.communication.max_throughput_to_ingester", None, "100", "Mbps to the ingester at most (0 or unset: no limit; DeepFlow's default is 100)."),
    ("global.self_monitoring.interval", Some("10s"), "", "How often tapflow run reports its own counters to the ingester (DeepflowStats frames), 1s..1h."),
    ("inputs.cbpf.common.capture_mode", Some("0"), "", "0 local, 1 virtual mirror (hypervisor/node NIC), 2 analyzer (SPAN/ERSPAN)."),
    ("inputs.cbpf.tunning.max_capture_packet_size", Some("65535"), "", "Bytes of each frame looked at (128..=65535); byte counts still come from the headers."),
    ("inputs.cbpf.tunning.max_capture_pps", None, "200000", "Frames per second the live capture takes at most, capture modes 0 and 1 (unset or 0: no limit; DeepFlow's default is 1048576)."),
    ("inputs.cbpf.af_packet.interface_regex", None, "'^eth[0-9]+$'", "Interfaces to capture."),
    ("inputs.cbpf.af_packet.src_interfaces", None, "[eth1]", "Deprecated; used only without interface_regex."),
    ("inputs.cbpf.af_packet.vlan_pcp_in_physical_mirror_traffic", Some("0"), "", "Analyzer mode: 0-7 outer VLAN with this PCP decides the tap_type; 8 outer VLAN; 9 inner VLAN."),
    ("inputs.cbpf.af_packet.tunning.ring_blocks_enabled", Some("false"), "", "true: ring_blocks applies (it always does in capture mode 2)."),
    ("inputs.cbpf.af_packet.tunning.ring_blocks", None, "32", "1 MiB blocks in each AF_PACKET ring (unset: 64)."),
    ("inputs.cbpf.af_packet.tunning.packet_fanout_count", Some("1"), "", "AF_PACKET sockets (workers) per interface, capture mode 0, tapflow run --engine af_packet without --queues (1..=64)."),
    ("inputs.cbpf.af_packet.tunning.packet_fanout_mode", Some("0"), "", "How the kernel spreads frames over them: 0 hash (a flow stays on one worker), 1 lb, 2 cpu, 3 rollover, 4 rnd, 5 qm."),
    ("inputs.cbpf.af_packet.extra_bpf_filter", None, "'not (vlan 300 or host 10.9.0.5)'", "Capture filter, tcpdump's syntax (compiled by libpcap): frames it does not select are dropped and counted."),
    ("inputs.cbpf.physical_mirror.default_capture_network_type", Some("3"), "", "tap_type of untagged and unmapped traffic."),
    ("inputs.cbpf.physical_mirror.capture_network_types", Some("[]"), "", "VLAN -> tap_type table: [{vlan: 100, capture_network_type: 4}]."),
    ("inputs.cbpf.physical_mirror.packet_dedup_disabled", Some("false"), "", "Turn off SPAN de-duplication."),
    ("inputs.cbpf.physical_mirror.packet_dedup_ignore_ttl", Some("false"), "", "Ignore TTL in the de-dup key (copies from both sides of a router)."),
    ("inputs.cbpf.virtual_mirror.local_macs", Some("[]"), "", "MACs of local VMs / pods (capture_mode 1)."),
    ("inputs.cbpf.special_network.dpdk.source", Some("None"), "", "Only None: tapflow polls DPDK ports itself."),
    ("inputs.cbpf.special_network.dpdk.eal_args", Some("[]"), "", "EAL arguments (-l, --allow, --vdev, ...)."),
    ("inputs.cbpf.special_network.dpdk.ports", Some("[]"), "", "PCI addresses or vdev names to capture."),
    ("inputs.cbpf.special_network.dpdk.mempool_mbufs", Some("16384"), "", "Mbufs in the rx mempool."),
    ("inputs.cbpf.special_network.dpdk.burst", Some("64"), "", "Packets per rx burst (1-64)."),
    ("inputs.cbpf.preprocess.tunnel_trim_protocols", Some("[ERSPAN, TEB]"), "", "Mirror transport tunnels: decapsulated and not part of the flow."),
    ("inputs.cbpf.preprocess.tunnel_decap_protocols", None, "[1, 2]", "Tunnels peeled (1 VXLAN, 2 IPIP, 3 GRE, 4 GENEVE, 6 ERSPAN, 7 TEB); unset: every one; others are traffic of their own."),
    ("inputs.proc.enabled", Some("true"), "", "The syscall tracer's process inventory (processes.jsonl: names, matchers, tags, containers); false: rows carry only kernel names and pids."),
    ("inputs.proc.proc_dir_path", Some("/proc"), "", "Where the host's processes are read (a container mounting the host's /proc elsewhere names it)."),
    ("inputs.proc.process_matcher", None, "[{match_regex: 'gunicorn: master \\[(\\w+)\\]', match_type: cmdline_with_args, rewrite_name: $1, enabled_features: [proc.gprocess_info]}, {match_regex: '.*', enabled_features: [proc.gprocess_info]}]", "Processes the tracer sees are named by the first matching entry in processes.jsonl (unset: DeepFlow's default list)."),
    ("inputs.proc.process_blacklist", None, "[sleep, sh, bash, pause, runc, grep, awk, sed, curl]", "Kernel names never listed (unset: DeepFlow's default, shown)."),
    ("inputs.proc.tag_extraction.script_command", Some("[]"), "", "A command printing tags per pid (YAML: - pid: N, tags: [{key, value}]); run when new processes appear."),
    ("inputs.proc.tag_extraction.exec_username", Some("deepflow"), "", "The user the tag command runs as, when it exists."),
    ("inputs.ebpf.disabled", Some("false"), "", "true: the syscall tracer (tapflow trace, tapflow run --ebpf) refuses to start."),
    ("inputs.ebpf.socket.uprobe.tls.enabled", None, "false", "OpenSSL uprobes for TLS plaintext; unset: on (DeepFlow's agent: off)."),
    ("inputs.ebpf.socket.uprobe.tls.libssl_paths", Some("[]"), "", "tapflow: OpenSSL libraries to probe besides the system's and those processes have mapped."),
    ("inputs.ebpf.socket.uprobe.golang.enabled", Some("false"), "", "Go TLS uprobes: crypto/tls plaintext of the Go programs running at start (Go 1.17+, stripped or not); --go-exe names more."),
    ("inputs.ebpf.socket.kprobe.enable_unix_socket", Some("false"), "", "Trace unix stream sockets too (rows without addresses, made-up ports)."),
    ("inputs.ebpf.socket.kprobe.whitelist.ports", None, "80,8000-8999", "Only sockets with one of these ports are traced (empty: all)."),
    ("inputs.ebpf.socket.kprobe.blacklist.ports", None, "22", "Sockets with one of these ports are not traced; wins over the whitelist."),
    ("inputs.ebpf.socket.tunning.syscall_trace_id_disabled", Some("false"), "", "true: syscall trace ids are not set on rows."),
    ("inputs.ebpf.socket.tunning.max_capture_rate", Some("0"), "", "Data events taken per second (0: all); the others' bytes are left out as gaps."),
    ("inputs.ebpf.socket.tunning.hooked_socket_syscalls", Some("[read, readv, recvfrom, recvmsg, recvmmsg, sendmsg, sendmmsg, sendto, write, writev]"), "", "The data syscalls hooked (connect, accept and close always are)."),
    ("inputs.ebpf.tunning.max_socket_entries", Some("131072"), "", "Sockets the tracer follows at once (10000..=2000000)."),
    ("inputs.integration.enabled", Some("true"), "", "The integration collector: OTLP traces, Prometheus remote write, Telegraf data and Pyroscope profiles forwarded to the ingester (listens only when records go to one)."),
    ("inputs.integration.listen_port", Some("38086"), "", "Its port, on every address (tapflow run --integration-listen overrides)."),
    ("inputs.integration.compression.trace", Some("true"), "", "Traces as zlib-compressed messages (DeepFlow's OpenTelemetryCompressed)."),
    ("inputs.integration.prometheus_extra_labels.enabled", Some("false"), "", "Add request headers to remote-write data as labels."),
    ("inputs.integration.prometheus_extra_labels.extra_labels", Some("[]"), "", "The header names, in order."),
    ("inputs.integration.prometheus_extra_labels.label_length", Some("1024"), "", "Bytes of all the names at most."),
    ("inputs.integration.prometheus_extra_labels.value_length", Some("4096"), "", "Bytes of all the values at most."),
    ("inputs.integration.feature_control.trace_integration_disabled", Some("false"), "", "true: traces are answered 200 and dropped."),
    ("inputs.integration.feature_control.metric_integration_disabled", Some("false"), "", "true: Prometheus and Telegraf data are answered 200 and dropped."),
    ("inputs.integration.feature_control.profile_integration_disabled", Some("false"), "", "true: profiles (Pyroscope's ingest and push APIs) are answered 200 and dropped."),
    ("inputs.integration.feature_control.log_integration_disabled", Some("false"), "", "true: application logs (/api/v1/log) are answered 200 and dropped."),
    ("processors.flow_log.conntrack.flow_generation.server_ports", Some("[]"), "", "Ports that mark the server side."),
    ("processors.flow_log.conntrack.timeouts.established", Some("300s"), "", "Idle established TCP connection."),
    ("processors.flow_log.conntrack.timeouts.closing_rst", Some("35s"), "", "After an RST on an established connection."),
    ("processors.flow_log.conntrack.timeouts.opening_rst", Some("1s"), "", "After an RST during the handshake."),
    ("processors.flow_log.conntrack.timeouts.others", Some("5s"), "", "Opening/closing TCP, one-sided flows, UDP, others."),
    ("processors.flow_log.conntrack.timeouts.closed_fin", Some("2s"), "", "After the FIN handshake."),
    ("processors.flow_log.tunning.concurrent_flow_limit", Some("65535"), "", "Most flows tracked at once (memory is reserved for them)."),
    ("processors.flow_log.tunning.flow_table_full_action", Some("refuse"), "", "refuse (count, do not track) or evict_oldest."),
    ("processors.request_log.application_protocol_inference.enabled_protocols", Some("[HTTP, HTTP2, MySQL, Redis, Kafka, DNS, TLS]"), "", "Protocols parsed (HTTP2 includes gRPC; Memcached, MongoDB, PostgreSQL, MQTT, NATS, AMQP, Dubbo when listed)."),
    ("processors.request_log.application_protocol_inference.protocol_special_config.mysql.endpoint_disabled", Some("false"), "", "No table as the endpoint of MySQL and PostgreSQL statements."),
    ("processors.request_log.application_protocol_inference.protocol_special_config.mysql.decompress_payload", Some("true"), "", "Read MySQL connections that turn on the compressed protocol (false: count them, parse no further)."),
    ("processors.request_log.application_protocol_inference.inference_max_retries", Some("128"), "", "Failed inferences on a server before its new flows are not probed."),
    ("processors.request_log.application_protocol_inference.inference_result_ttl", Some("60s"), "", "How long a server's inference result is trusted."),
    ("processors.request_log.filters.port_number_prefilters", Some("{DNS: '53,5353', TLS: '443,6443', Memcached: '11211'}"), "", "Server ports per protocol; protocols not listed are tried on every port."),
    ("processors.request_log.filters.tag_filters", None, "{HTTP: [{field_name: endpoint, operator: prefix, field_value: /health}]}", "Requests neither logged nor counted, per protocol (endpoint, request_type, request_domain, request_resource; equal or prefix)."),
    ("processors.request_log.filters.cbpf_disabled", Some("false"), "", "true: no request logs from packets (the syscall tracer's still come)."),
    ("processors.request_log.filters.unconcerned_dns_nxdomain_response_suffixes", Some("[]"), "", "NXDOMAIN for names under these is not an error."),
    ("processors.request_log.timeouts.tcp_request_timeout", Some("300s"), "", "A later TCP response is a timeout."),
    ("processors.request_log.timeouts.udp_request_timeout", Some("150s"), "", "A later UDP response is a timeout."),
    ("processors.request_log.timeouts.session_aggregate_window_duration", Some("120s"), "", "Unanswered requests are written as timeouts after this."),
    ("processors.request_log.timeouts.session_aggregate", Some("[{protocol: DNS, timeout: 15s}]"), "", "Per-protocol windows (DNS and TLS share one)."),
    ("processors.request_log.tag_extraction.tracing_tag.http_real_client", Some("[X_Forwarded_For]"), "", "Header whose first address is http_proxy_client."),
    ("processors.request_log.tag_extraction.tracing_tag.x_request_id", Some("[X_Request_ID]"), "", "Headers copied to x_request_id_0 / _1."),
    ("processors.request_log.tag_extraction.tracing_tag.apm_trace_id", Some("[traceparent, sw8]"), "", "Headers for trace_id (traceparent, sw8, sw6, sw3, uber-trace-id, b3, or any header whole)."),
    ("processors.request_log.tag_extraction.tracing_tag.apm_span_id", Some("[traceparent, sw8]"), "", "Headers for span_id."),
    ("processors.request_log.tag_extraction.tracing_tag.copy_apm_trace_id", Some("false"), "", "Also keep the trace id as attribute apm_trace_id."),
    ("processors.request_log.tag_extraction.tracing_tag.multiple_trace_id_collection", Some("true"), "", "A second, different trace id from another apm_trace_id header as trace_id_2."),
    ("processors.request_log.tag_extraction.http_endpoint.extraction_disabled", Some("false"), "", "No HTTP endpoint."),
    ("processors.request_log.tag_extraction.http_endpoint.match_rules", Some("[{url_prefix: '', keep_segments: 2}]"), "", "Longest prefix decides the path segments kept."),
    ("processors.request_log.tag_extraction.obfuscate_protocols", Some("[Redis]"), "", "Protocols whose values are written as '?' (Redis: every argument after the key; MySQL, PostgreSQL: SQL literals)."),
    ("processors.request_log.tag_extraction.custom_fields", None, "{HTTP: [{field_name: x-tenant}], HTTP2: []}", "Headers kept as the rows' attributes (x-tenant -> attributes.x_tenant)."),
    ("processors.request_log.tag_extraction.raw.error_request_header", Some("0"), "", "Bytes of a failed HTTP/1 request's head kept as attribute request_header."),
    ("processors.request_log.tag_extraction.raw.error_request_payload", Some("0"), "", "Bytes of its body (request_payload)."),
    ("processors.request_log.tag_extraction.raw.error_response_header", Some("0"), "", "Bytes of the error response's head (response_header)."),
    ("processors.request_log.tag_extraction.raw.error_response_payload", Some("256"), "", "Bytes of the error response's body (response_payload)."),
    ("processors.request_log.tunning.payload_truncation", Some("1024"), "", "Most bytes of a head held across TCP segments."),
    ("processors.request_log.tunning.consistent_timestamp_in_l7_metrics", Some("false"), "", "Application metrics: a response counts in the window of its request (true) or its own (false)."),
    ("processors.request_log.tunning.session_aggregate_max_entries", Some("4096"), "", "Requests waiting for their response per worker."),
    ("outputs.flow_log.file.rotate_size_mb", Some("256"), "", "Rotate each record file past this size."),
    ("outputs.flow_log.file.keep_files", Some("8"), "", "Rotated files kept per record type."),
    ("outputs.flow_log.filters.l4_capture_network_types", Some("[0]"), "", "l4 rows kept by capture network type: 0 every type, -1 none (flow_metrics still count every flow)."),
    ("outputs.flow_log.filters.l7_capture_network_types", Some("[0]"), "", "l7 rows kept by capture network type: 0 every type, -1 none."),
    ("outputs.flow_log.filters.l4_ignored_observation_points", Some("[]"), "", "tap_side values whose l4 rows are dropped (0 rest, 1 c, 2 s, 4 local, 9 c-nd, 10 s-nd, ...)."),
    ("outputs.flow_log.filters.l7_ignored_observation_points", Some("[]"), "", "tap_side values whose l7 rows are dropped."),
    ("outputs.flow_log.aggregators.aggregate_health_check_l4_flow_log", Some("true"), "", "Health-check probes (handshake, client RST, no data) as one l4 row per service and minute, client_port 0."),
    ("outputs.flow_log.throttles.l4_throttle", None, "10000", "At most this many l4 rows a second (4 s periods, 100..=1000000; unset: every row, DeepFlow: 10000)."),
    ("outputs.flow_log.throttles.l7_throttle", None, "10000", "The same for the l7 rows."),
    ("outputs.flow_metrics.enabled", Some("true"), "", "Write the flow_metrics documents (network, network_map, application, application_map; 1 minute)."),
    ("outputs.flow_metrics.filters.npm_metrics", Some("true"), "", "The network tables."),
    ("outputs.flow_metrics.filters.npm_metrics_concurrent", Some("true"), "", "flow_load in the network documents: per path, the connections open in the window."),
    ("outputs.flow_metrics.filters.apm_metrics", Some("true"), "", "The application tables."),
    ("outputs.flow_metrics.filters.second_metrics", Some("false"), "", "Also 1-second documents (tapflow's default is false: live flows then report every second)."),
    ("outputs.flow_metrics.filters.inactive_server_port_aggregation", Some("false"), "", "Services that never answered are keyed with server port 0."),
    ("outputs.flow_metrics.filters.inactive_ip_aggregation", Some("false"), "", "Ends that never sent are keyed as 0.0.0.0, without a document of their own."),
    ("outputs.flow_metrics.tunning.max_keys_per_window", Some("4096"), "", "tapflow: keys per table and minute (more are counted in metrics.key_overflow)."),
    ("outputs.ipfix.collector", Some("''"), "", "tapflow: address:port of an IPFIX collector (UDP; empty: no export)."),
    ("outputs.ipfix.template_refresh_s", Some("60"), "", "tapflow: templates are sent again this often."),
    ("outputs.ipfix.observation_domain", Some("0"), "", "tapflow: observation domain id of the messages."),
    ("outputs.prometheus.listen", Some("''"), "", "tapflow: address:port of the /metrics endpoint of tapflow run (empty: none)."),
    ("outputs.prometheus.max_services", Some("200"), "", "tapflow: services with labels of their own; later ones are summed into service=\"other\"."),
    ("outputs.compression.l7_flow_log", Some("true"), "", "zstd frames for l7 rows sent to the ingester."),
    ("outputs.compression.l4_flow_log", Some("false"), "", "zstd frames for l4 rows (metrics are never compressed)."),
    ("outputs.compression.application_log", Some("true"), "", "zstd frames for the application logs the integration collector forwards."),
    ("outputs.socket.multiple_sockets_to_ingester", Some("false"), "", "A TCP connection to the ingester per message type (l4 rows, l7 rows, metrics, own counters) instead of one for all."),
];

/// The example file.
pub fn render() -> String {
    let mut out = String::from(
        "# tapflow agent configuration: every key with its default (DeepFlow v7 layout).\n\
         # Use with `tapflow ctl agent-group-config create -f FILE` (add `vtap_group_id: g-...`)\n\
         # or locally with `tapflow run --config FILE`. Reference: docs/configuration.md.\n",
    );
    let mut prev: Vec<&str> = Vec::new();
    for (path, value, sample, comment) in KEYS {
        let parts: Vec<&str> = path.split('.').collect();
        let (parents, leaf) = parts.split_at(parts.len() - 1);
        let common = prev.iter().zip(parents).take_while(|(a, b)| a == b).count();
        for (depth, p) in parents.iter().enumerate().skip(common) {
            out.push_str(&format!("{}{p}:\n", "  ".repeat(depth)));
        }
        let indent = "  ".repeat(parents.len());
        out.push_str(&format!("{indent}# {comment}\n"));
        match value {
            Some(v) => out.push_str(&format!("{indent}{}: {v}\n", leaf[0])),
            None => out.push_str(&format!("{indent}# {}: {sample}\n", leaf[0])),
        }
        prev = parents.to_vec();
    }
    out
}
