#!/usr/bin/env bash
# `tapflow analyze --workers N` against one worker on the same file, in alternation, with the
# files written and with the rows thrown away (`--out -` to /dev/null), plus the floors: reading
# the file (`tcpdump -r F -w /dev/null`) and writing as many bytes as the rows take (`dd`).
# Each tapflow run's CPU time (user + system) is reported beside its wall time: on a machine
# with as many cores as threads busy, the CPU a split adds is what its wall time cannot hide.
# Usage: bench/workers.sh [INPUT.pcap] [ROUNDS] [WORKERS]  (docs/perf.md)
set -euo pipefail
cd "$(dirname "$0")/.."
IN=${1:-target/bench/small.pcap}
ROUNDS=${2:-5}
N=${3:-2}
BIN=target/release/tapflow
WORK=$(mktemp -d /tmp/tapflow-workers-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
[ -x "$BIN" ] || cargo build --release -q
[ -f "$IN" ] || { echo "no $IN: run tapflow bench --inputs small once (it generates it)" >&2; exit 2; }
printf 'global:\n  limits:\n    max_memory: 2304\nprocessors:\n  flow_log:\n    tunning:\n      concurrent_flow_limit: 1100000\n' > "$WORK/c.yaml"
t() { /usr/bin/time -f "%e" -o "$WORK/t" "$@" >/dev/null 2>&1; cat "$WORK/t"; }
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A S C
for r in $(seq "$ROUNDS"); do
  for w in 1 "$N"; do
    rm -rf "$WORK/o"
    /usr/bin/time -f "%e %U %S" -o "$WORK/t" "$BIN" analyze -q -c "$WORK/c.yaml" -o "$WORK/o" --workers "$w" "$IN" >/dev/null 2>&1
    S[files_$w]+="$(cut -d' ' -f1 "$WORK/t") "
    C[files_$w]+="$(awk '{print $2 + $3}' "$WORK/t") "
    /usr/bin/time -f "%e %U %S" -o "$WORK/t" sh -c "$BIN analyze -q -c $WORK/c.yaml -o - --workers $w $IN > /dev/null" 2>/dev/null
    S[null_$w]+="$(cut -d' ' -f1 "$WORK/t") "
    C[null_$w]+="$(awk '{print $2 + $3}' "$WORK/t") "
  done
  if command -v tcpdump >/dev/null; then
    S[tcpdump]+="$(t tcpdump -r "$IN" -w /dev/null) "
  fi
  bytes=$(du -sb "$WORK/o" | cut -f1)
  rm -rf "$WORK/o"
  S[dd]+="$(t dd if=/dev/zero of="$WORK/dd" bs=1M count=$((bytes / 1048576)) status=none) "
  rm -f "$WORK/dd"
done
echo "input $IN, $ROUNDS rounds, medians (s); rows written: $((bytes / 1048576)) MiB"
command -v tcpdump >/dev/null || echo "(no tcpdump installed: no read floor; apt-get install tcpdump)"
for k in files_1 "files_$N" null_1 "null_$N" tcpdump dd; do
  [ -n "${S[$k]:-}" ] || continue
  cpu=""
  [ -n "${C[$k]:-}" ] && cpu="  cpu $(echo "${C[$k]}" | tr ' ' '\n' | grep . | med) s"
  printf '%-10s %s%s   (%s)\n' "$k" "$(echo "${S[$k]}" | tr ' ' '\n' | grep . | med)" "$cpu" "${S[$k]}"
done
