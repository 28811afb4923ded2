#!/usr/bin/env bash
# What the flow_metrics aggregation costs `tapflow analyze`: the benchmark mix (generated, FLOWS
# flows) analysed with `outputs.flow_metrics.enabled` true and false, alternating, ROUNDS rounds,
# one core; prints the medians and the ratio.
#
#   bench/metrics_cost.sh [FLOWS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
FLOWS=${1:-100000}
ROUNDS=${2:-3}
WORK=${BENCH_DIR:-target/bench}
mkdir -p "$WORK"
cargo build --release --quiet
BIN=target/release/tapflow
CAP="$WORK/metrics_mix_${FLOWS}.pcap"
[ -f "$CAP" ] || "$BIN" gen --out "$WORK" --name "metrics_mix_${FLOWS}" --scenarios web,dns,tls,grpc,mysql,redis,bulk,retransmission \
  --flows "$FLOWS" --spacing-ms 1 --seed 3 >/dev/null
for on in true false; do
  sed "s/^processors:$/outputs:\n  flow_metrics:\n    enabled: $on\nprocessors:/" bench/bench.yaml > "$WORK/metrics_$on.yaml"
done
declare -A T=()
for _ in $(seq "$ROUNDS"); do
  for on in true false; do
    t0=$(date +%s.%N)
    taskset -c 0 "$BIN" analyze -q --config "$WORK/metrics_$on.yaml" --out "$WORK/metrics_out_$on" "$CAP"
    t1=$(date +%s.%N)
    T[$on]="${T[$on]:-} $(python3 -c "print($t1-$t0)")"
  done
done
python3 - "$CAP" "$WORK/metrics_out_true" "${T[true]}" "${T[false]}" <<'PY'
import json, os, statistics, sys
cap, out, on, off = sys.argv[1], sys.argv[2], [float(x) for x in sys.argv[3].split()], [float(x) for x in sys.argv[4].split()]
s = json.load(open(os.path.join(out, "stats.json")))
docs = s.get("metrics.documents", 0)
a, b = statistics.median(on), statistics.median(off)
print(f"{cap}: {s['rx_packets']} packets, {s['flows_created']} flows, {docs} metric documents")
print(f"flow_metrics on   {a:.3f} s\nflow_metrics off  {b:.3f} s\non / off          {a / b:.2f}x")
PY
