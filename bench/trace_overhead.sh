#!/usr/bin/env bash
# The syscall tracer's cost to the traced: requests/s of a loopback HTTP benchmark (wrk against
# nginx, both from Debian) without and with `tapflow trace`, alternating, RUNS times each, plus
# what the tracer logged of the requests it saw and its own CPU time. Needs root.
# Usage: bench/trace_overhead.sh [SECONDS_PER_RUN=10] [RUNS=3] [CONNECTIONS=8]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
RUNS=${2:-3}
CONNS=${3:-8}
PORT=18480
[ "$(id -u)" = 0 ] || { echo "needs root (the tracer attaches BPF programs)"; exit 2; }
command -v nginx >/dev/null && command -v wrk >/dev/null ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk >/dev/null
[ -d /sys/kernel/tracing/events/syscalls ] || mount -t tracefs nodev /sys/kernel/tracing
cargo build --release -q
BIN=target/release/tapflow
WORK=$(mktemp -d /tmp/tapflow-trace-bench.XXXXXX)
cleanup() {
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  pkill -f "tapflow trace -q --out $WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/www" "$WORK/tmp"
head -c 100 /dev/zero | tr '\0' x > "$WORK/www/index.html"
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/tmp; proxy_temp_path $WORK/tmp; fastcgi_temp_path $WORK/tmp;
  uwsgi_temp_path $WORK/tmp; scgi_temp_path $WORK/tmp;
  server { listen 127.0.0.1:$PORT; root $WORK/www; keepalive_requests 1000000; }
}
CONF
nginx -c "$WORK/nginx.conf"
sleep 0.5
. bench/trace_bench.sh
load() { wrk -t1 -c"$CONNS" -d"${SECS}s" "http://127.0.0.1:$PORT/index.html"; }
without=(); with=(); logged=(); sent=(); cpu=()
for i in $(seq "$RUNS"); do
  without+=("$(load | awk '/Requests\/sec/ {print $2}')")
  out="$WORK/trace$i"
  res=$(traced "$out" '^nginx$' load)
  with+=("$(echo "$res" | awk '/Requests\/sec/ {print $2}')")
  sent+=("$(echo "$res" | awk '/requests in/ {print $1}')")
  logged+=("$(counter "$out" trace.l7.records)")
  cpu+=("$(cat "$out/cpu")")
  echo "run $i: ring full $(counter "$out" trace.bpf.ring_full)"
done
summary requests
