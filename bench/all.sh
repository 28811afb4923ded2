#!/usr/bin/env bash
# Reproduces every number in docs/perf.md, in one go (root: the live and DPDK parts need it).
# Logs land in target/bench/*.log; installs the peers it can from Debian and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (live capture and DPDK benchmarks)" >&2; exit 1; }
need=()
for p in tshark tcpdump ndpiReader; do command -v "$p" >/dev/null || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${need[@]}" | sed 's/ndpiReader/libndpi-bin/')
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
fi
python3 -c "import nfstream" 2>/dev/null || pip install -q nfstream || echo "nfstream not installable: skipped"
cargo build --release --quiet --features dpdk
mkdir -p target/bench
echo "== tapflow bench (inputs a-d, peers, memory per flow)"
target/release/tapflow bench --rounds 3 --json target/bench/bench.json | tee target/bench/bench.log
echo "== offline replay vs tshark / tcpdump"
bench/replay.sh 1 5 | tee target/bench/replay.log
echo "== live zero-loss on veth"
bench/zero_loss.sh 100 200 300 400 500 max | tee target/bench/zero_loss.log
echo "== DPDK net_pcap replay"
bench/dpdk_replay.sh 10 3 | tee target/bench/dpdk.log
echo "== L7 request logs: requests/s per core vs tshark"
bench/l7_rate.sh 20000 3 | tee target/bench/l7_rate.log
echo "== criterion micro-benchmarks"
taskset -c 0 cargo bench -q -p tapflow-analyzer 2>&1 | grep -E '^[a-z_]+/|time:|thrpt:' | tee target/bench/criterion.log
echo "== allocations per packet in steady state"
cargo test --release --quiet --test alloc -- --nocapture 2>&1 | grep -E 'allocations for' | tee target/bench/alloc.log
echo "== a profile-guided build against the plain one (docs/perf.md, \"A profile-guided build\")"
if scripts/build-pgo.sh --features dpdk > target/bench/pgo_build.log 2>&1; then
  bench/before_after.sh target/release/tapflow target/pgo/release/tapflow 15 small,mix,synflood | tee target/bench/pgo.log
  WORKERS=2 bench/before_after.sh target/release/tapflow target/pgo/release/tapflow 11 small,mix,synflood | tee -a target/bench/pgo.log
else
  echo "skipped: scripts/build-pgo.sh failed (target/bench/pgo_build.log)" | tee target/bench/pgo.log
fi
