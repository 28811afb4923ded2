#!/usr/bin/env bash
# Soak: `tapflow run` (AF_XDP) for MINUTES under looping replay with flow churn on a veth pair.
# Three captures of the benchmark mix with different addresses are replayed in turn, paced, so
# flows open and close all the time (and ports repeat). Every 10 s: the run's RSS and its
# counters (stats.json, rewritten every second) and the packets sent so far. At the end the run
# is stopped and the accounting checked: every packet sent was analysed or is a counted drop.
# Prints a markdown table (the one in docs/reliability.md) and writes target/bench/soak.tsv.
# Root.
#
#   bench/soak.sh [MINUTES] [PPS]        default: 30 minutes, 20000 packets/s
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "needs root (netns, veth, XDP)" >&2; exit 1; }
MINUTES=${1:-30}
PPS=${2:-20000}
cargo build --release --quiet
BIN=$PWD/target/release/tapflow
WORK=${BENCH_DIR:-target/bench}/soak
rm -rf "$WORK"; mkdir -p "$WORK"
for i in 0 1 2; do
  "$BIN" gen --out "$WORK" --name "churn$i" --scenarios web,dns,tls,grpc,mysql,redis,bulk,retransmission,syn_retry,server_reset \
    --flows 3000 --spacing-ms 1 --seed $((7 + i)) --first-flow $((i * 5000)) >/dev/null
  rm -f "$WORK/churn$i.expected.jsonl"
done
NS=tfsk-$$; A=tfsk$$a; B=tfsk$$b
RUN=; LOOP=
cleanup() {
  [ -n "$LOOP" ] && kill "$LOOP" 2>/dev/null || true
  [ -n "$RUN" ] && kill -INT "$RUN" 2>/dev/null || true
  wait 2>/dev/null || true
  ip link del "$A" 2>/dev/null || true; ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$NS"
ip link add "$A" type veth peer name "$B"
ip link set "$B" netns "$NS"
echo 1 > /proc/sys/net/ipv6/conf/"$A"/disable_ipv6 || true
ip netns exec "$NS" sysctl -q -w net.ipv6.conf."$B".disable_ipv6=1 || true
ip link set "$A" up
ip netns exec "$NS" ip link set "$B" up
"$BIN" run -q --engine af_xdp --iface "$A" --out "$WORK/out" &
RUN=$!
sleep 2
# The sender: the captures in turn, for ever; each replay's sent count appended to sent.log.
( while [ ! -f "$WORK/stop" ]; do
    for i in 0 1 2; do
      ip netns exec "$NS" "$BIN" replay --iface "$B" --pps "$PPS" "$WORK/churn$i.pcap" 2>&1 \
        | sed -n 's/.*sent \([0-9]*\) packets.*/\1/p' >> "$WORK/sent.log"
    done
  done ) &
LOOP=$!
START=$(date +%s)
END=$((START + MINUTES * 60))
echo -e "t_s\trss_mib\tsent\tframes\tkernel_drops\tring_full\trecords_dropped\tflows_created\tflows_closed\tactive" > "$WORK/soak.tsv"
sample() {
  python3 - "$RUN" "$WORK" "$(( $(date +%s) - START ))" <<'PY'
import json, sys
pid, work, t = sys.argv[1], sys.argv[2], sys.argv[3]
rss = 0
for l in open(f"/proc/{pid}/status"):
    if l.startswith("VmRSS:"): rss = int(l.split()[1]) / 1024
try: s = json.load(open(f"{work}/out/stats.json"))
except Exception: s = {}
sent = sum(int(x) for x in open(f"{work}/sent.log").read().split()) if __import__("os").path.exists(f"{work}/sent.log") else 0
g = lambda k: s.get(k, 0)
print(f"{t}\t{rss:.1f}\t{sent}\t{g('frames')}\t{g('kernel_drops')}\t{g('ring_full_drops')}\t{g('records_dropped')}\t{g('flows_created')}\t{g('flows_closed')}\t{g('flows_created') - g('flows_closed')}")
PY
}
while [ "$(date +%s)" -lt "$END" ]; do
  sleep 10
  sample >> "$WORK/soak.tsv"
done
# Stop sending after the replays under way (each counts what it sent), then stop the run.
touch "$WORK/stop"
wait "$LOOP" 2>/dev/null || true; LOOP=
sleep 2
kill -INT "$RUN"; wait "$RUN" || true; RUN=
python3 - "$WORK" <<'PY'
import json, sys, statistics
work = sys.argv[1]
rows = [l.rstrip("\n").split("\t") for l in open(f"{work}/soak.tsv")][1:]
s = json.load(open(f"{work}/out/stats.json"))
sent = sum(int(x) for x in open(f"{work}/sent.log").read().split())
drops = s["kernel_drops"] + s.get("ring_full_drops", 0) + s.get("xdp_redirect_failed", 0)
print("| minute | RSS MiB | packets sent | analysed | kernel + ring drops | records dropped | flows created | flows open |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    t = int(r[0])
    if t % 60 < 10 or r is rows[-1]:
        print(f"| {t / 60:.1f} | {r[1]} | {int(r[2]):,} | {int(r[3]):,} | {int(r[4]) + int(r[5]):,} | {r[6]} | {int(r[7]):,} | {r[9]} |")
rss = [float(r[1]) for r in rows]
warm = [float(r[1]) for r in rows if int(r[0]) >= 120] or rss
print(f"\nRSS after the first 2 minutes: min {min(warm):.1f}, max {max(warm):.1f}, median {statistics.median(warm):.1f} MiB")
print(f"end: sent {sent:,}; analysed {s['frames']:,}; counted drops {drops:,} (kernel {s['kernel_drops']}, ring {s.get('ring_full_drops', 0)}, XDP redirect {s.get('xdp_redirect_failed', 0)}); "
      f"sent - analysed - drops = {sent - s['frames'] - drops:,}; records dropped {s.get('records_dropped', 0)}; flows created {s['flows_created']:,}")
PY
