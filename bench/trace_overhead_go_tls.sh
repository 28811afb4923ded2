#!/usr/bin/env bash
# The syscall tracer's cost to a Go HTTPS service: requests/s of tests/clients/go_tls (a Go
# net/http server over crypto/tls and CLIENTS client goroutines with a keep-alive connection
# each, one process) without and with `tapflow trace --go-exe` (the Go TLS uprobes and the
# syscall tracepoints), alternating, RUNS times each, plus the rows logged and the tracer's CPU.
# Needs root and Go (Debian's golang-go).
# Usage: bench/trace_overhead_go_tls.sh [REQUESTS_PER_CLIENT=2000] [RUNS=3] [CLIENTS=8]
set -euo pipefail
cd "$(dirname "$0")/.."
REQ=${1:-2000}
RUNS=${2:-3}
CLIENTS=${3:-8}
[ "$(id -u)" = 0 ] || { echo "needs root (the tracer attaches BPF programs)"; exit 2; }
command -v go >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
[ -d /sys/kernel/tracing/events/syscalls ] || mount -t tracefs nodev /sys/kernel/tracing
cargo build --release -q
BIN=target/release/tapflow
WORK=$(mktemp -d /tmp/tapflow-trace-go-bench.XXXXXX)
trap 'pkill -f "tapflow trace -q --out $WORK" 2>/dev/null || true; rm -rf "$WORK"' EXIT
(cd tests/clients/go_tls && GOCACHE="$WORK/gocache" GOPATH="$WORK/gopath" GOFLAGS=-mod=mod \
  go build -o "$WORK/gotlspeer" .)
PEER="$WORK/gotlspeer"
# One load: requests/s from the peer's own timing of its requests.
load() {
  echo go | "$PEER" "$REQ" "$CLIENTS" |
    awk -v n=$((REQ * CLIENTS)) '/^done/ {printf "%.0f\n", n / $2}'
}
# median, counter, summary
. bench/trace_bench.sh
without=(); with=(); sent=(); logged=(); cpu=()
for i in $(seq "$RUNS"); do
  without+=("$(load)")
  out="$WORK/trace$i"
  $BIN trace -q --out "$out" --no-openssl --go-exe "$PEER" &
  tp=$!
  while [ ! -f "$out/trace.ready" ]; do sleep 0.1; done
  t0=$(awk '{print $14+$15}' /proc/$tp/stat)
  s0=$(date +%s.%N)
  with+=("$(load)")
  s1=$(date +%s.%N)
  t1=$(awk '{print $14+$15}' /proc/$tp/stat)
  kill -TERM $tp
  wait $tp
  sent+=("$((REQ * CLIENTS))")
  logged+=("$(counter "$out" trace.l7.records)")
  cpu+=("$(echo "$t0 $t1 $s0 $s1 $(getconf CLK_TCK)" | awk '{printf "%.0f", ($2-$1)/$5/($4-$3)*100}')")
  echo "run $i: go_tls_events $(counter "$out" trace.bpf.go_tls_events), ring full $(counter "$out" trace.bpf.ring_full)"
done
# Each request is logged twice: by the client goroutine's side and by the server's.
summary requests
