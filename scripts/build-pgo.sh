#!/usr/bin/env bash
# A profile-guided release build of tapflow, for appliances: an instrumented build analyzes
# training traffic (generated captures with seeds of their own, never the benchmark inputs; the
# real captures of ../shared/pcaps when present; as root, live capture on a veth pair with
# AF_XDP and AF_PACKET, and DPDK on a net_pcap vdev when built in), and the release build is
# made again with that profile. Same code and
# records as `cargo build --release`; 5-11 % less time on docs/perf.md's inputs ("A
# profile-guided build").
#
#   scripts/build-pgo.sh [CARGO_BUILD_ARGS...]   # e.g. --features dpdk (the default when DPDK's
#                                                # development files are installed)
#
# Needs llvm-profdata of rustc's own LLVM version: rustup's `llvm-tools` component (added here
# when rustup is present), or a system llvm-profdata of the same major version. Writes
# target/pgo/release/tapflow (the profile: target/pgo/tapflow.profdata); target/release is left
# alone. About 10 minutes on 2 vCPUs (two fat-LTO builds).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ARGS=("$@")
if [ ${#ARGS[@]} -eq 0 ] && pkg-config --exists libdpdk 2>/dev/null; then
  ARGS=(--features dpdk)
fi

llvm_major() { sed -n 's/.*LLVM version:\? *\([0-9]*\).*/\1/p' | head -1; }
WANT=$(rustc -vV | llvm_major)
HOST=$(rustc -vV | sed -n 's/^host: //p')
PROFDATA=$(rustc --print sysroot)/lib/rustlib/$HOST/bin/llvm-profdata
if [ ! -x "$PROFDATA" ] && command -v rustup >/dev/null; then
  echo "== adding rustup's llvm-tools component (llvm-profdata of rustc's LLVM $WANT)"
  rustup component add llvm-tools >/dev/null 2>&1 || rustup component add llvm-tools-preview >/dev/null 2>&1 || true
fi
if [ ! -x "$PROFDATA" ]; then
  PROFDATA=$(command -v "llvm-profdata-$WANT" || command -v llvm-profdata || true)
fi
if [ -z "$PROFDATA" ] || [ "$("$PROFDATA" --version | llvm_major)" != "$WANT" ]; then
  echo "build-pgo: no llvm-profdata of LLVM $WANT (rustc's); install rustup's llvm-tools component" >&2
  echo "(rustup component add llvm-tools) or LLVM $WANT's; \`cargo build --release\` needs neither" >&2
  exit 1
fi

PGO=$ROOT/target/pgo
RAW=$PGO/raw
TRAIN=$PGO/train
rm -rf "$RAW" "$TRAIN"
mkdir -p "$RAW" "$TRAIN"

echo "== 1/4 instrumented build (target/pgo-gen)"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$RAW" \
  cargo build --release --quiet -p tapflow --target-dir "$ROOT/target/pgo-gen" "${ARGS[@]}"
GEN=$ROOT/target/pgo-gen/release/tapflow

echo "== 2/4 training"
# Every scenario of the generator (TCP anomalies, HTTP, UDP, bulk) with flows overlapping, every
# encapsulation, and routed mirror duplicates. Seeds 11-13: the benchmark inputs use others.
"$GEN" gen -o "$TRAIN" --name scenarios --seed 11 --flows 40000 --spacing-ms 0 >/dev/null 2>&1
"$GEN" gen -o "$TRAIN" --name encap --seed 12 --flows 2000 --encap all >/dev/null 2>&1
"$GEN" gen -o "$TRAIN" --name routed --seed 13 --flows 2000 --duplicates routed >/dev/null 2>&1
for f in "$TRAIN"/*.pcap; do
  "$GEN" analyze -q -o - "$f" >/dev/null
done
"$GEN" analyze -q --workers 2 -o "$TRAIN/out2" "$TRAIN/scenarios.pcap"
"$GEN" analyze -q -o "$TRAIN/out1" "$TRAIN/scenarios.pcap"
# Real captures of other projects (every L7 parser), when the shared set is there.
if [ -d ../shared/pcaps ]; then
  mapfile -t REAL < <(find ../shared/pcaps -name '*.pcap*' | sort)
  for _ in $(seq 20); do
    for f in "${REAL[@]}"; do "$GEN" analyze -q -o - "$f" >/dev/null 2>&1 || true; done
  done
  echo "   ${#REAL[@]} real captures, 20 times each"
fi
# The live loops: without their profile, the capture engines' code would be laid out as cold.
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
  NS=tfpgo-$$; A=tfpgo$$a; B=tfpgo$$b
  net_cleanup() { ip link del "$A" 2>/dev/null || true; ip netns del "$NS" 2>/dev/null || true; }
  trap net_cleanup EXIT
  net_cleanup
  ip netns add "$NS"
  ip link add "$A" type veth peer name "$B"
  ip link set "$B" netns "$NS"
  ip link set "$A" up
  ip netns exec "$NS" ip link set "$B" up
  printf 'inputs:\n  cbpf:\n    common:\n      capture_mode: 2\n' > "$TRAIN/analyzer.yaml"
  for engine in af_xdp af_packet; do
    "$GEN" run -q --config "$TRAIN/analyzer.yaml" --engine "$engine" --iface "$A" --duration 5 \
      --out "$TRAIN/live_$engine" >"$PGO/train_$engine.log" 2>&1 &
    RUN=$!
    sleep 1.5
    ip netns exec "$NS" "$GEN" replay --iface "$B" --pps 200000 "$TRAIN/scenarios.pcap" >/dev/null 2>&1 || true
    wait "$RUN" || echo "   live $engine: the run failed, its profile is left out ($PGO/train_$engine.log)"
  done
  net_cleanup
  trap - EXIT
  echo "   live capture: AF_XDP and AF_PACKET on a veth pair"
  # The DPDK engine, when built in: a net_pcap vdev replaying a capture in a loop (no NIC, no
  # huge pages needed).
  if [[ " ${ARGS[*]} " == *dpdk* ]]; then
    # net_pcap's infinite_rx holds the whole capture in mbufs (28,705 packets).
    printf 'inputs:\n  cbpf:\n    special_network:\n      dpdk:\n        mempool_mbufs: 65536\n' > "$TRAIN/dpdk.yaml"
    if "$GEN" run -q --engine dpdk --cores 0 --duration 3 --config "$TRAIN/dpdk.yaml" --dpdk-port net_pcap0 \
      --dpdk-eal="--no-huge -m 1024 --no-pci -l 0 --file-prefix tfpgo$$ --log-level warning --vdev net_pcap0,rx_pcap=$TRAIN/encap_vxlan.pcap,infinite_rx=1" \
      --out "$TRAIN/live_dpdk" >"$PGO/train_dpdk.log" 2>&1; then
      echo "   DPDK: a net_pcap vdev"
    else
      echo "   DPDK: the run failed, its profile is left out ($PGO/train_dpdk.log)"
    fi
  fi
else
  echo "   live capture left out (needs root for a veth pair): the capture loops get no profile"
fi

echo "== 3/4 merging the profile"
"$PROFDATA" merge -o "$PGO/tapflow.profdata" "$RAW"

echo "== 4/4 release build with the profile (target/pgo)"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$PGO/tapflow.profdata" \
  cargo build --release --quiet -p tapflow --target-dir "$PGO" "${ARGS[@]}"
OUT=$PGO/release/tapflow

# The optimized build writes the same rows, byte for byte, as the instrumented one (same source,
# built without the profile) on a capture neither trained on.
"$OUT" gen -o "$TRAIN/check" --name check --seed 14 --flows 2000 --encap vxlan >/dev/null 2>&1
"$GEN" analyze -q -o "$TRAIN/check/gen" "$TRAIN/check/check.pcap"
"$OUT" analyze -q -o "$TRAIN/check/pgo" "$TRAIN/check/check.pcap"
for f in l4_flow_log.jsonl l7_flow_log.jsonl flow_metrics.network.1m.jsonl flow_metrics.application.1m.jsonl; do
  if ! cmp -s <(sort "$TRAIN/check/gen/$f") <(sort "$TRAIN/check/pgo/$f"); then
    echo "build-pgo: the optimized build's $f differs from the instrumented build's" >&2
    exit 1
  fi
done
rm -rf "$TRAIN" "$RAW"
echo "== $OUT"
