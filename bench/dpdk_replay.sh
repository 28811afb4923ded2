#!/usr/bin/env bash
# DPDK replay throughput: `net_pcap` with infinite_rx feeds the full analyzer (DPDK engine, one
# worker pinned to core 0) for a fixed time, versus `tapflow analyze` of the same capture on the
# same core, in one run. Needs root (EAL) and the `dpdk` feature.
#
#   bench/dpdk_replay.sh [SECONDS] [ROUNDS]
#   TAPFLOW_BIN=target/pgo/release/tapflow bench/dpdk_replay.sh ...   # another build
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
ROUNDS=${2:-3}
[ "$(id -u)" = 0 ] || { echo "needs root (DPDK EAL)" >&2; exit 1; }
# TAPFLOW_BIN: another build (e.g. target/pgo/release/tapflow from scripts/build-pgo.sh).
if [ -n "${TAPFLOW_BIN:-}" ]; then
  BIN=$(realpath "$TAPFLOW_BIN")
else
  cargo build --release --quiet --features dpdk
  BIN=$PWD/target/release/tapflow
fi
WORK=${BENCH_DIR:-target/bench}
mkdir -p "$WORK"
CAP="$WORK/dpdk_mix.pcap"
# ~100k packets: net_pcap's infinite_rx keeps the whole capture in mbufs.
[ -f "$CAP" ] || "$BIN" gen --out "$WORK" --name dpdk_mix --scenarios bulk,http,udp,retransmission --flows 10000 --spacing-ms 0.05 --seed 1 2>/dev/null
cat > "$WORK/dpdk.yaml" <<'YAML'
global:
  limits:
    max_memory: 2048
processors:
  flow_log:
    tunning:
      concurrent_flow_limit: 262144
inputs:
  cbpf:
    special_network:
      dpdk:
        mempool_mbufs: 262144
YAML
for r in $(seq "$ROUNDS"); do
  rm -rf "$WORK/dpdk_out" "$WORK/dpdk_off"
  "$BIN" run -q --engine dpdk --cores 0 --duration "$SECS" --config "$WORK/dpdk.yaml" --dpdk-port net_pcap0 \
    --dpdk-eal="--no-huge -m 2048 --no-pci -l 0 --file-prefix tfbench --log-level warning --vdev net_pcap0,rx_pcap=$CAP,infinite_rx=1" \
    --out "$WORK/dpdk_out"
  t0=$(date +%s.%N); taskset -c 0 "$BIN" analyze -q --config bench/bench.yaml --out "$WORK/dpdk_off" "$CAP"; t1=$(date +%s.%N)
  python3 - "$WORK" "$SECS" "$t0" "$t1" <<'PY'
import json, sys
w, secs, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
live = json.load(open(f"{w}/dpdk_out/stats.json"))
off = json.load(open(f"{w}/dpdk_off/stats.json"))
dpps = live["rx_packets"] / secs
opps = off["rx_packets"] / (t1 - t0)
print(f"dpdk net_pcap infinite_rx: {live['rx_packets']} packets in {secs:.0f} s = {dpps/1e6:.3f} Mpps (drops {live['kernel_drops']}); "
      f"offline analyze: {off['rx_packets']} packets in {t1-t0:.3f} s = {opps/1e6:.3f} Mpps; dpdk/offline = {dpps/opps:.2f}x")
PY
done
