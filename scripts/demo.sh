#!/usr/bin/env bash
# The main job, end to end: build tapflow, generate a capture with known anomalies in several
# encapsulations, analyze it, and show the flow logs. Results on screen and in ./demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust (https://rustup.rs) first" >&2
  exit 1
fi
if ! command -v python3 >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && apt-get install -y -qq python3 >/dev/null
fi
echo "== building tapflow (release)"
cargo build --release --quiet
BIN=target/release/tapflow
OUT=demo-out
rm -rf "$OUT"
mkdir -p "$OUT"
echo "== generating traffic: every scenario, plain and in VXLAN / ERSPAN III / QinQ"
for enc in none vxlan erspan3 qinq; do
  "$BIN" gen --out "$OUT/captures" --name "demo_$enc" --encap "$enc" --flows 24 --seed 42
done
echo "== analyzing"
for enc in none vxlan erspan3 qinq; do
  "$BIN" analyze --out "$OUT/$enc" "$OUT/captures/demo_$enc.pcap"
done
echo
echo "== flow log (plain capture), one line per flow:"
python3 - "$OUT/none/l4_flow_log.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'client':>22} {'server':>20} {'proto':>5} {'close_type':<24} {'pkts tx/rx':>11} {'rtt ms':>7} {'srt ms':>7} {'art ms':>7} {'retr tx/rx':>10} {'ooo':>4} {'zwin':>4}")
for r in sorted(rows, key=lambda r: r["start_time"]):
    c = f"{r['ip_0']}:{r['client_port']}"; s = f"{r['ip_1']}:{r['server_port']}"
    avg = lambda k: (r[k + '_sum'] / r[k + '_count'] / 1000) if r[k + '_count'] else 0
    print(f"{c:>22} {s:>20} {r['protocol']:>5} {r['close_type_name']:<24} {str(r['packet_tx'])+'/'+str(r['packet_rx']):>11} "
          f"{r['rtt']/1000:>7.1f} {avg('srt'):>7.1f} {avg('art'):>7.1f} {str(r['retrans_tx'])+'/'+str(r['retrans_rx']):>10} "
          f"{r['ooo_tx']+r['ooo_rx']:>4} {r['zero_win_tx']+r['zero_win_rx']:>4}")
PY
echo
echo "== tunnelled copies give the same flows (tunnel fields differ):"
for enc in vxlan erspan3 qinq; do
  python3 -c "import json,sys; rows=[json.loads(l) for l in open('$OUT/$enc/l4_flow_log.jsonl')]; print(f'  $enc: {len(rows)} flows, tunnel_type {sorted({r[\"tunnel_type\"] for r in rows})}, vlan {sorted({r[\"vlan\"] for r in rows})}')"
done
echo
echo "Files: $OUT/<encap>/l4_flow_log.jsonl (flow logs), $OUT/<encap>/stats.json (counters),"
echo "       $OUT/captures/*.pcap and *.expected.jsonl (inputs and the records tapflow must produce)."
