#!/usr/bin/env bash
# The syscall tracer's cost to a UDP server: queries/s of a loopback DNS benchmark (dnsperf
# against dnsmasq answering one local name, both from Debian) without and with `tapflow trace`,
# alternating, RUNS times each, plus what the tracer logged of the queries it saw and its own
# CPU time. The UDP counterpart of bench/trace_overhead.sh. Needs root.
# Usage: bench/trace_overhead_dns.sh [SECONDS_PER_RUN=10] [RUNS=3] [CLIENTS=8]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
RUNS=${2:-3}
CLIENTS=${3:-8}
# DNS is inferred on its ports only (53, 5353).
PORT=5353
[ "$(id -u)" = 0 ] || { echo "needs root (the tracer attaches BPF programs)"; exit 2; }
command -v dnsmasq >/dev/null && command -v dnsperf >/dev/null ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsmasq-base dnsperf >/dev/null
[ -d /sys/kernel/tracing/events/syscalls ] || mount -t tracefs nodev /sys/kernel/tracing
cargo build --release -q
BIN=target/release/tapflow
WORK=$(mktemp -d /tmp/tapflow-trace-dns-bench.XXXXXX)
cleanup() {
  [ -f "$WORK/dnsmasq.pid" ] && kill "$(cat "$WORK/dnsmasq.pid")" 2>/dev/null || true
  pkill -f "tapflow trace -q --out $WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
dnsmasq --port="$PORT" --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \
  --address=/bench.example/192.0.2.1 --pid-file="$WORK/dnsmasq.pid" --user=root \
  --cache-size=0 --log-facility=/dev/null
sleep 0.5
echo "bench.example A" > "$WORK/queries"
. bench/trace_bench.sh
load() { dnsperf -s 127.0.0.1 -p "$PORT" -d "$WORK/queries" -l "$SECS" -c "$CLIENTS" -q 100 2>&1; }
without=(); with=(); logged=(); sent=(); cpu=()
for i in $(seq "$RUNS"); do
  without+=("$(load | awk '/Queries per second/ {print $4}')")
  out="$WORK/trace$i"
  res=$(traced "$out" '^dnsmasq$' load)
  with+=("$(echo "$res" | awk '/Queries per second/ {print $4}')")
  sent+=("$(echo "$res" | awk '/Queries completed/ {print $3}')")
  logged+=("$(counter "$out" trace.l7.records)")
  cpu+=("$(cat "$out/cpu")")
  echo "run $i: ring full $(counter "$out" trace.bpf.ring_full), socket table full $(counter "$out" trace.socket_table_full)"
done
summary queries
