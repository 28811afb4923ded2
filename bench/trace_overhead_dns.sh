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
perf_run() {
  dnsperf -s 127.0.0.1 -p "$PORT" -d "$WORK/queries" -l "$SECS" -c "$CLIENTS" -q 100 2>&1
}
qps() { awk '/Queries per second/ {print $4}'; }
sent_q() { awk '/Queries completed/ {print $3}'; }
without=(); with=(); logged=(); sent=(); cpu=()
for i in $(seq "$RUNS"); do
  without+=("$(perf_run | qps)")
  out="$WORK/trace$i"
  $BIN trace -q --out "$out" --comm '^dnsmasq$' &
  tp=$!
  while [ ! -f "$out/trace.ready" ]; do sleep 0.1; done
  t0=$(awk '{print $14+$15}' /proc/$tp/stat)
  res=$(perf_run)
  t1=$(awk '{print $14+$15}' /proc/$tp/stat)
  kill -TERM $tp; wait $tp
  with+=("$(echo "$res" | qps)")
  sent+=("$(echo "$res" | sent_q)")
  logged+=("$(grep -o '"trace.l7.records": [0-9]*' "$out/stats.json" | awk '{print $2}')")
  cpu+=("$(echo "$t0 $t1 $SECS $(getconf CLK_TCK)" | awk '{printf "%.0f", ($2-$1)/$4/$3*100}')")
  grep -o '"trace.bpf.ring_full": [0-9]*\|"trace.socket_table_full": [0-9]*' "$out/stats.json" | sed "s/^/run $i: /"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mw=$(median "${without[@]}"); mt=$(median "${with[@]}")
echo "queries/s without tracer: ${without[*]} (median $mw)"
echo "queries/s with tracer:    ${with[*]} (median $mt)"
echo "with/without: $(echo "$mt $mw" | awk '{printf "%.3f", $1/$2}')"
echo "queries completed while traced: ${sent[*]}; rows logged (dnsmasq side): ${logged[*]}"
echo "tracer CPU (% of one core): ${cpu[*]}"
