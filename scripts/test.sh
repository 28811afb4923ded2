#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite: format, lints, unit, golden and
# conformance tests (the latter use ../shared/pcaps when present), a benchmark smoke run and a
# 20-second run of each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
TAPFLOW_TEST_DEPS=1 scripts/install-build-deps.sh
if [ "$(id -u)" = 0 ] && ! mount | grep -q ' /sys/fs/bpf '; then
  mount -t bpf bpf /sys/fs/bpf || true
fi
# The syscall tracer (tests/trace_live.rs) attaches to syscall tracepoints through tracefs.
if [ "$(id -u)" = 0 ] && [ ! -d /sys/kernel/tracing/events/syscalls ] && [ ! -d /sys/kernel/debug/tracing/events/syscalls ]; then
  mount -t tracefs nodev /sys/kernel/tracing || true
fi
if [ "$(id -u)" != 0 ]; then
  echo "note: not root: the live AF_PACKET / AF_XDP tests will report themselves skipped"
fi
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy --all-targets --all-features -- -D warnings"
cargo clippy --workspace --all-targets --all-features --quiet -- -D warnings
echo "== cargo test --all-features"
cargo test --workspace --all-features --no-fail-fast 2>&1 | tee target/test.log
grep -q "test result: FAILED" target/test.log && exit 1
echo "== CLI smoke: gen + analyze twice, byte-identical output"
BIN=target/debug/tapflow
SMOKE=target/smoke
rm -rf "$SMOKE"
"$BIN" gen --out "$SMOKE" --encap all --flows 24 --seed 5
"$BIN" analyze -q --out "$SMOKE/a" "$SMOKE"/traffic_*.pcap
"$BIN" analyze -q --out "$SMOKE/b" "$SMOKE"/traffic_*.pcap
cmp "$SMOKE/a/l4_flow_log.jsonl" "$SMOKE/b/l4_flow_log.jsonl"
if "$BIN" analyze -q --out "$SMOKE/c" --config /dev/null "$SMOKE/traffic_none.pcap"; then :; else echo "empty config must be accepted" >&2; exit 1; fi
printf 'processors:\n  flow_log:\n    nope: 1\n' > "$SMOKE/bad.yaml"
if "$BIN" analyze -q --config "$SMOKE/bad.yaml" "$SMOKE/traffic_none.pcap" 2>"$SMOKE/err"; then
  echo "a config with an unknown key must be rejected" >&2; exit 1
fi
grep -q "unknown key processors.flow_log.nope" "$SMOKE/err"
printf 'outputs:\n  flow_metrics:\n    filters:\n      apm_metrics: false\n' > "$SMOKE/good.yaml"
"$BIN" config check "$SMOKE/good.yaml" | grep -q "memory_mib:"
"$BIN" config check -o json "$SMOKE/good.yaml" | python3 -c "import json, sys; d = json.load(sys.stdin); assert d['outputs']['flow_metrics'].endswith('keys per table and window') and 'application false' in d['outputs']['flow_metrics'], d"
echo "CLI smoke: ok"
echo "== benchmark harness smoke (tiny inputs, one round)"
# --pgo gets the same build here (a profile-guided one takes two more release builds): the
# harness's side of it; scripts/build-pgo.sh is checked for syntax only.
"$BIN" bench --smoke --work target/bench-smoke --json target/bench-smoke/bench.json --pgo "$BIN" > "$SMOKE/bench.txt" 2>&1
grep -q "memory per active flow" "$SMOKE/bench.txt"
python3 -c "import json; d=json.load(open('target/bench-smoke/bench.json')); assert {'tapflow', 'tapflow-null', 'tapflow-2w', 'tapflow-pgo', 'tapflow-pgo-null'} <= {r['tool'] for r in d['results']}"
bash -n scripts/build-pgo.sh
# Instruction counts under callgrind: tapflow's and the floor's, and their ratio.
"$BIN" bench --smoke --no-memory --instructions --tools tapflow-null,tcpdump --work target/bench-smoke --json target/bench-smoke/instr.json > "$SMOKE/instr.txt" 2>&1
python3 -c "import json; r={x['tool']: x for x in json.load(open('target/bench-smoke/instr.json'))['results']}; assert r['tapflow-null']['instructions'] > r['tcpdump']['instructions'] > 0 and r['tapflow-null']['instructions_vs_floor'] > 1, r"
echo "bench smoke: ok"
echo "== build without the dpdk feature: must build, and say how to get DPDK"
cargo build --quiet --target-dir target/no-dpdk
if target/no-dpdk/debug/tapflow run --engine dpdk --duration 1 2>"$SMOKE/nodpdk.err"; then
  echo "--engine dpdk must fail without the feature" >&2; exit 1
fi
grep -q -- "--features dpdk" "$SMOKE/nodpdk.err"
echo "no-dpdk build: ok"
echo "== fuzz smoke: every fuzz target 20 s on its seed corpus (fuzz/README.md)"
TAPFLOW="$PWD/$BIN" fuzz/seed.sh >/dev/null
fuzz/run.sh smoke 20
# One closing line with the totals of every cargo test binary (doc-test runs with 0 tests last
# otherwise, which reads like an empty run).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' target/test.log
