#!/usr/bin/env bash
# The main job, end to end: build tapflow, generate traffic with known anomalies, replay it on a
# veth pair into a live `tapflow run` (AF_XDP), and show the flow logs. Results on screen and
# in ./demo-out/. Needs root for the veth pair; without root it analyzes the captures offline.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust (https://rustup.rs) first" >&2
  exit 1
fi
scripts/install-build-deps.sh
echo "== building tapflow (release, with the DPDK engine)"
cargo build --release --quiet --features dpdk
BIN=$PWD/target/release/tapflow
OUT=demo-out
rm -rf "$OUT"
mkdir -p "$OUT"
echo "== generating traffic: every scenario, plain, in VXLAN, in ERSPAN III, and SPAN-duplicated in QinQ"
"$BIN" gen --out "$OUT/captures" --name plain --flows 24 --seed 42
"$BIN" gen --out "$OUT/captures" --name vxlan --encap vxlan --flows 24 --seed 43 --first-flow 100
"$BIN" gen --out "$OUT/captures" --name erspan3 --encap erspan3 --flows 24 --seed 44 --first-flow 200
"$BIN" gen --out "$OUT/captures" --name span_qinq --encap qinq --duplicates identical --flows 24 --seed 45 --first-flow 300
CAPS=("$OUT"/captures/plain.pcap "$OUT"/captures/vxlan.pcap "$OUT"/captures/erspan3.pcap "$OUT"/captures/span_qinq.pcap)
# A tapflow server receives the records too, in DeepFlow's ingester framing (docs/ingest.md).
INGEST=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" server --plaintext --listen 127.0.0.1:0 --data-dir "$OUT/server" --ingest-listen "$INGEST" > "$OUT/server.log" 2>&1 &
SERVER=$!
stop_server() { kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true; }

if [ "$(id -u)" = 0 ]; then
  NS=tfdemo-$$
  A=tfdemo$$a
  B=tfdemo$$b
  net_cleanup() { ip link del "$A" 2>/dev/null || true; ip netns del "$NS" 2>/dev/null || true; }
  trap 'stop_server; net_cleanup' EXIT
  net_cleanup
  echo "== live: veth pair $A <-> $B (in netns $NS), AF_XDP capture on $A in analyzer mode"
  ip netns add "$NS"
  ip link add "$A" type veth peer name "$B"
  ip link set "$B" netns "$NS"
  echo 1 > /proc/sys/net/ipv6/conf/"$A"/disable_ipv6 || true
  ip netns exec "$NS" sysctl -q -w net.ipv6.conf."$B".disable_ipv6=1 || true
  ip link set "$A" mtu 9000 up
  ip netns exec "$NS" ip link set "$B" mtu 9000 up
  printf 'inputs:\n  cbpf:\n    common:\n      capture_mode: 2\n' > "$OUT/analyzer.yaml"
  "$BIN" run --config "$OUT/analyzer.yaml" --engine auto --iface "$A" --duration 8 --out "$OUT/live" \
    --ingester "$INGEST" --agent-id 1 &
  RUN=$!
  sleep 1.5
  for c in "${CAPS[@]}"; do
    ip netns exec "$NS" "$BIN" replay --iface "$B" --pps 2000 "$c"
  done
  wait "$RUN"
  RESULT="$OUT/live"
else
  echo "== not root: no veth pair; analyzing the captures offline instead (same analyzer)"
  trap stop_server EXIT
  "$BIN" analyze --out "$OUT/offline" --ingester "$INGEST" --agent-id 1 "${CAPS[@]}"
  RESULT="$OUT/offline"
fi
stop_server

echo
echo "== flow log ($RESULT/l4_flow_log.jsonl), one line per flow:"
python3 - "$RESULT/l4_flow_log.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'client':>21} {'server':>18} {'pr':>2} {'tap':>11} {'tun':>3} {'vlan':>4} {'close_type':<24} {'pkts tx/rx':>10} {'rtt ms':>6} {'art ms':>6} {'retr':>5} {'ooo':>3} {'zwin':>4}")
for r in sorted(rows, key=lambda r: r["start_time"]):
    c = f"{r['ip_0']}:{r['client_port']}"; s = f"{r['ip_1']}:{r['server_port']}"
    avg = lambda k: (r[k + '_sum'] / r[k + '_count'] / 1000) if r[k + '_count'] else 0
    print(f"{c:>21} {s:>18} {r['protocol']:>2} {r['tap_port_type'][:11]:>11} {r['tunnel_type']:>3} {r['vlan']:>4} {r['close_type_name']:<24} "
          f"{str(r['packet_tx'])+'/'+str(r['packet_rx']):>10} {r['rtt']/1000:>6.1f} {avg('art'):>6.1f} "
          f"{str(r['retrans_tx'])+'/'+str(r['retrans_rx']):>5} {r['ooo_tx']+r['ooo_rx']:>3} {r['zero_win_tx']+r['zero_win_rx']:>4}")
s = json.load(open(sys.argv[1].replace("l4_flow_log.jsonl", "stats.json")))
print(f"\n{len({r['flow_id'] for r in rows})} flows in {len(rows)} rows (a flow alive across a minute boundary also has a forced_report row); engine {s.get('engine', 'offline')} {s.get('xdp_mode', '')}; packets {s.get('rx_packets')}, "
      f"SPAN duplicates dropped {s.get('dedup_dropped')}, decode errors {sum(v for k, v in s.items() if k.startswith('decode.'))}, "
      f"kernel drops {s.get('kernel_drops', 0)}")
PY
echo
echo "== request log ($RESULT/l7_flow_log.jsonl), one line per request/response:"
python3 - "$RESULT/l7_flow_log.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'client':>21} {'proto':<5} {'type':<11} {'domain':<22} {'resource':<36} {'code':>4} {'status':<6} {'rrt ms':>7} {'trace_id':<16}")
names = {0: "ok", 2: "timeout", 3: "server", 4: "client", 5: "unknown", 6: "failed"}
for r in sorted(rows, key=lambda r: r["start_time"])[:40]:
    c = f"{r['ip_0']}:{r['client_port']}"
    code = r["response_code"] if r["response_code"] is not None else "-"
    print(f"{c:>21} {r['l7_protocol_str']:<5} {r['request_type'][:11]:<11} {r['request_domain'][:22]:<22} {r['request_resource'][:36]:<36} "
          f"{code:>4} {names.get(r['response_status'], '?'):<6} {r['response_duration']/1000:>7.1f} {r['trace_id'][:16]:<16}")
by = {}
for r in rows:
    by.setdefault(r["l7_protocol_str"], []).append(r)
print(f"\n{len(rows)} requests" + (" (first 40 shown)" if len(rows) > 40 else "") + ": " + ", ".join(
    f"{p} {len(v)} (errors {sum(1 for r in v if r['response_status'] in (3, 4))}, "
    f"mean rrt {sum(r['response_duration'] for r in v) / max(1, sum(1 for r in v if r['type'] == 2)) / 1000:.1f} ms)"
    for p, v in sorted(by.items())))
print("(live times are the replay's pacing, 2000 packets/s; `tapflow analyze` of the captures gives their own timing)")
PY
echo
echo "== received by tapflow server ($OUT/server/records/, DeepFlow's ingester framing from the agent):"
python3 - "$OUT/server/records" "$RESULT" <<'PY'
import json, os, sys
srv, agent = sys.argv[1], sys.argv[2]
for f in sorted(os.listdir(agent)):
    if f.endswith(".jsonl"):
        n = sum(1 for _ in open(os.path.join(agent, f)))
        p = os.path.join(srv, f)
        m = sum(1 for _ in open(p)) if os.path.exists(p) else 0
        print(f"  {f:<40} agent {n:>5}  server {m:>5}")
s = json.load(open(os.path.join(srv, "ingest-stats.json")))
print(f"  frames {s['frames']}, bad frames {s['bad_headers'] + s['bad_bodies'] + s['truncated']}, rejected agents {s['rejected_agents']}")
PY
if [ "$(id -u)" = 0 ]; then
  [ -d /sys/kernel/tracing/events/syscalls ] || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi
if [ "$(id -u)" = 0 ] && "$BIN" trace --check >/dev/null 2>&1; then
  echo
  echo "== syscall tracer (tapflow trace): curl -> python3 http.server on loopback, seen in both processes"
  mkdir -p "$OUT/www" && echo "hello from the demo" > "$OUT/www/index.html"
  WPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  (cd "$OUT/www" && exec /usr/bin/python3 -m http.server "$WPORT" --bind 127.0.0.1 >/dev/null 2>&1) &
  WEB=$!
  "$BIN" trace -q --out "$OUT/trace" --comm '^(curl|python3)$' &
  TRACER=$!
  for _ in $(seq 100); do [ -f "$OUT/trace/trace.ready" ] && break; sleep 0.1; done
  for path in /index.html /index.html?again=1 /missing; do
    curl -s -o /dev/null "http://127.0.0.1:$WPORT$path" || true
  done
  sleep 0.5
  kill -TERM "$TRACER"; wait "$TRACER" || true
  kill "$WEB" 2>/dev/null || true
  python3 - "$OUT/trace/l7_flow_log.jsonl" "$WPORT" <<'PY'
import json, sys
port = int(sys.argv[2])
rows = [r for r in map(json.loads, open(sys.argv[1])) if r["server_port"] == port]
print(f"{'seen in':<7} {'client process':<16} {'server process':<16} {'type':<4} {'resource':<22} {'code':>4} {'rrt ms':>7} {'syscall trace id (req)':>22}")
for r in sorted(rows, key=lambda r: (r["start_time"], r["tap_side"])):
    cp = f"{r.get('process_kname_0', '')}/{r.get('process_id_0', 0)}"
    sp = f"{r.get('process_kname_1', '')}/{r.get('process_id_1', 0)}"
    print(f"{r['observation_point']:<7} {cp:<16} {sp:<16} {r['request_type']:<4} {r['request_resource'][:22]:<22} "
          f"{r['response_code']:>4} {r['response_duration']/1000:>7.2f} {r.get('syscall_trace_id_request', 0):>22}")
print(f"{len(rows)} rows: each request once as the client process saw it (c-p) and once as the server did (s-p)")
PY
fi
echo
echo "Files: $RESULT/l4_flow_log.jsonl (flow logs), $RESULT/l7_flow_log.jsonl (request logs), $RESULT/stats.json (counters),"
echo "       $RESULT/flow_metrics.{network,network_map,application,application_map}.1m.jsonl (per-minute metrics with latency quantiles),"
echo "       $OUT/captures/*.pcap and *.expected.jsonl (the traffic, and the records tapflow must produce for it),"
echo "       $OUT/server/records/*.jsonl (what the server received; add --clickhouse URL to store them in ClickHouse),"
echo "       $OUT/trace/l7_flow_log.jsonl (the syscall tracer's request logs, when run as root)."
