#!/usr/bin/env bash
# Zero-loss rate on a veth pair: the highest paced sending rate at which each capturer sees every
# packet, measured in one run with the same sender (`tapflow replay`, one thread, sendmmsg
# batches) and the same capture. Capturers: tapflow AF_XDP run-to-completion, AF_XDP pipeline (1
# and 2 analyzers), AF_PACKET (1 and 2 fanout workers), DPDK (net_af_packet vdev), and
# `tcpdump -w /dev/null`. The sender's own ceiling (nothing capturing) is measured first. Root.
#
#   bench/zero_loss.sh [RATES_KPPS...]      default: 50 100 150 200 300 max
#
# A capturer passes a rate when it accounts for every sent packet (tapflow: analysed packets =
# sent, no kernel/ring drops; tcpdump: "captured" = sent). "max" sends unpaced: what the sender
# reaches then is printed, and is the ceiling of this measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "needs root (netns, veth, XDP)" >&2; exit 1; }
RATES=("$@")
[ ${#RATES[@]} -gt 0 ] || RATES=(50 100 150 200 300 max)
HAVE_DPDK=1
cargo build --release --quiet --features dpdk 2>/dev/null || { HAVE_DPDK=0; cargo build --release --quiet; }
BIN=$PWD/target/release/tapflow
WORK=${BENCH_DIR:-target/bench}
mkdir -p "$WORK"
CAP="$WORK/zero_loss.pcap"
[ -f "$CAP" ] || "$BIN" gen --out "$WORK" --name zero_loss --scenarios udp,http,bulk --flows 8000 --spacing-ms 0.01 --seed 3 2>/dev/null
SENT_TOTAL=$("$BIN" analyze -q --out "$WORK/zl_count" "$CAP" && python3 -c "import json;print(json.load(open('$WORK/zl_count/stats.json'))['rx_packets'])")
NS=tfzl-$$; A=tfzl$$a; B=tfzl$$b
cleanup() { ip link del "$A" 2>/dev/null || true; ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add "$NS"
ip link add "$A" type veth peer name "$B"
ip link set "$B" netns "$NS"
echo 1 > /proc/sys/net/ipv6/conf/"$A"/disable_ipv6 || true
ip netns exec "$NS" sysctl -q -w net.ipv6.conf."$B".disable_ipv6=1 || true
ip link set "$A" up
ip netns exec "$NS" ip link set "$B" up

send() { # rate_kpps -> prints achieved pps
  local args=()
  [ "$1" != max ] && args=(--pps $(( $1 * 1000 )))
  ip netns exec "$NS" "$BIN" replay --iface "$B" "${args[@]}" "$CAP" 2>&1 | sed -n 's/.*(\([0-9]*\) pps).*/\1/p'
}

trial() { # name rate -> "achieved_pps received"
  local name=$1 rate=$2 out="$WORK/zl_out" pid got achieved
  rm -rf "$out"
  case $name in
    tcpdump)
      tcpdump -n -i "$A" -w /dev/null 2>"$WORK/zl_tcpdump.err" & pid=$! ;;
    *)
      local extra=()
      case $name in
        xdp_rtc) extra=(--engine af_xdp --mode rtc) ;;
        xdp_pipe1) extra=(--engine af_xdp --mode pipeline --analyzers 1) ;;
        xdp_pipe2) extra=(--engine af_xdp --mode pipeline --analyzers 2) ;;
        afp_1) extra=(--engine af_packet --queues 1) ;;
        afp_2) extra=(--engine af_packet --queues 2) ;;
        dpdk) extra=(--engine dpdk --dpdk-port net_af_packet0 "--dpdk-eal=--no-huge -m 512 --no-pci --file-prefix tfzl --log-level error --vdev net_af_packet0,iface=$A") ;;
      esac
      "$BIN" run -q "${extra[@]}" --config bench/bench.yaml --iface "$A" --out "$out" & pid=$! ;;
  esac
  sleep 1.5
  achieved=$(send "$rate")
  sleep 1
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  if [ "$name" = tcpdump ]; then
    got=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$WORK/zl_tcpdump.err")
  else
    got=$(python3 -c "import json;s=json.load(open('$out/stats.json'));print(s['rx_packets'] if s['kernel_drops']+s['ring_full_drops']==0 else -1)")
  fi
  echo "$achieved ${got:-0}"
}

CAPTURERS=(xdp_rtc xdp_pipe1 xdp_pipe2 afp_1 afp_2)
[ "$HAVE_DPDK" = 1 ] && CAPTURERS+=(dpdk)
command -v tcpdump >/dev/null && CAPTURERS+=(tcpdump)
echo "capture: $CAP ($SENT_TOTAL packets); rates (kpps): ${RATES[*]}"
echo "sender alone (nothing capturing), unpaced: $(send max) pps"
declare -A BEST
printf "%-10s" rate
for c in "${CAPTURERS[@]}"; do printf " %10s" "$c"; done
printf " %12s\n" "sent pps"
for r in "${RATES[@]}"; do
  printf "%-10s" "$r"
  line_achieved=0
  for c in "${CAPTURERS[@]}"; do
    read -r achieved got < <(trial "$c" "$r")
    line_achieved=$achieved
    if [ "$got" = "$SENT_TOTAL" ]; then mark=ok; BEST[$c]=$achieved; else mark="lost"; fi
    printf " %10s" "$mark"
  done
  printf " %12s\n" "$line_achieved"
done
echo
echo "highest zero-loss sending rate (pps), same sender, same run:"
for c in "${CAPTURERS[@]}"; do printf "  %-10s %s\n" "$c" "${BEST[$c]:-none}"; done
