#!/usr/bin/env bash
# Messages per second of each L7 parser (criterion, bench/benches/l7_parsers.rs) and what each
# adds to the L4 floor measured in the same run; prints a markdown table for docs/perf.md.
#
#   bench/l7_parsers.sh            (runs the benchmark, ~6 minutes on 2 cores)
#   bench/l7_parsers.sh --table    (only prints the table of the last run)
#   taskset -c 0 cargo bench -p tapflow-bench --bench l7_parsers -- 'l7_parsers/(Pulsar|RocketMQ)/'
#                                  (some protocols; then --table)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != --table ]; then
  taskset -c 0 cargo bench -p tapflow-bench --bench l7_parsers >/dev/null
fi
python3 - <<'PY'
import json, pathlib
root = pathlib.Path("target/criterion/l7_parsers")
def est(d):
    e = json.load(open(root / d / "new/estimates.json"))
    b = json.load(open(root / d / "new/benchmark.json"))
    return e["median"]["point_estimate"], b["throughput"]["Elements"]
print("| protocol | messages / replay | with the parser | messages/s | L4 floor (L7 off) | parser vs floor | parser cost per message |")
print("|---|---|---|---|---|---|---|")
for p in ["HTTP", "HTTP2", "DNS", "TLS", "MySQL", "PostgreSQL", "Redis", "Memcached", "MongoDB",
          "Kafka", "MQTT", "NATS", "AMQP", "Dubbo", "SofaRPC", "Tars", "bRPC", "SomeIP", "FastCGI", "ZMTP",
          "OpenWire", "Pulsar", "RocketMQ", "Ping"]:
    # A run filtered to some protocols (`cargo bench ... -- 'l7_parsers/(Pulsar|RocketMQ)/'`)
    # has only theirs.
    if not (root / f"{p}_parser/new/estimates.json").exists():
        continue
    (on, n), (off, _) = est(f"{p}_parser"), est(f"{p}_l4_floor")
    print(f"| {p} | {n:,} | {on/1e6:.2f} ms | {n/(on/1e9):,.0f} | {off/1e6:.2f} ms | {on/off:.1f}x | {(on-off)/n:,.0f} ns |")
PY
