#!/usr/bin/env bash
# Replay benchmark: tapflow analyze vs peers on the same generated capture, in one run.
#
#   bench/replay.sh [PACKETS_MILLIONS] [ROUNDS]
#
# Generates a deterministic mix (bulk TCP transfers with occasional retransmissions, HTTP-like
# exchanges, UDP request/response; seed 1) of about PACKETS_MILLIONS million packets, then
# times, alternating, for ROUNDS rounds: `tapflow analyze` (one core), `tshark -q -z conv,tcp`
# (flow table, no per-packet output) and `tcpdump -r FILE -w /dev/null` (read-only floor).
# Prints the median packets/s of each and its ratio to tapflow. Missing peers are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
MPKTS=${1:-1}
ROUNDS=${2:-3}
WORK=${BENCH_DIR:-target/bench}
mkdir -p "$WORK"
cargo build --release --quiet --features dpdk
BIN=target/release/tapflow
# ~9.6 packets per conversation in this mix.
FLOWS=$(python3 -c "print(int($MPKTS * 1e6 / 9.6))")
CAP="$WORK/mix_${MPKTS}m.pcap"
if [ ! -f "$CAP" ]; then
  "$BIN" gen --out "$WORK" --name "mix_${MPKTS}m" --scenarios bulk,http,udp,retransmission --flows "$FLOWS" --spacing-ms 0.05 --seed 1
fi
PKTS=$(python3 - "$CAP" <<'PY'
import struct,sys
f=open(sys.argv[1],'rb'); f.read(24); n=0
while True:
    h=f.read(16)
    if len(h)<16: break
    f.seek(struct.unpack('<I',h[8:12])[0],1); n+=1
print(n)
PY
)
echo "capture: $CAP, $PKTS packets, $(du -h "$CAP" | cut -f1)"
declare -A TIMES
run() { # name, command...
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N)
  TIMES[$name]="${TIMES[$name]:-} $(python3 -c "print($t1-$t0)")"
}
PEERS=(tapflow)
command -v tshark >/dev/null && PEERS+=(tshark)
command -v tcpdump >/dev/null && PEERS+=(tcpdump)
for r in $(seq "$ROUNDS"); do
  for p in "${PEERS[@]}"; do
    case $p in
      tapflow) run tapflow taskset -c 0 "$BIN" analyze -q --config bench/bench.yaml --out "$WORK/out" "$CAP" ;;
      tshark) run tshark taskset -c 0 tshark -n -q -r "$CAP" -z conv,tcp ;;
      tcpdump) run tcpdump taskset -c 0 tcpdump -n -r "$CAP" -w /dev/null ;;
    esac
  done
done
printf "\n%-10s %12s %12s %16s\n" peer "median s" "Mpps" "time vs tapflow"
base=""
for p in "${PEERS[@]}"; do
  med=$(python3 -c "import statistics; print(statistics.median([float(x) for x in '${TIMES[$p]}'.split()]))")
  [ -z "$base" ] && base=$med
  python3 -c "m=$med; b=$base; print(f'%-10s %12.3f %12.3f %16.2fx' % ('$p', m, $PKTS/m/1e6, m/b))"
done
echo "(rounds: $ROUNDS; times include process start and file read; one core via taskset -c 0)"
python3 - "$WORK/out/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
drops = {k: v for k, v in s.items() if v and (k.startswith("decode.") or k in ("flow_table_full", "flows_evicted", "ts_backwards", "truncated_records"))}
print(f"tapflow: {s['flows_created']} flows, {s['records']} rows, drops/errors: {drops or 'none'}")
PY
/usr/bin/time -f "tapflow peak RSS: %M KiB" "$BIN" analyze -q --config bench/bench.yaml --out "$WORK/out" "$CAP" 2>&1 | tail -1
