#!/usr/bin/env bash
# Records per second through the data path on loopback, one generated capture (FLOWS flows of
# the benchmark mix), each way timed from the start of `tapflow analyze` until the last record is
# stored:
#   files        tapflow analyze writing JSON lines only (the floor)
#   ingester     + --ingester to `tapflow server --ingest-listen` storing JSON lines
#   server->CH   + --ingester to `tapflow server --ingest-listen --clickhouse` (ClickHouse 18.16)
#   agent->CH    tapflow analyze --clickhouse directly
# Needs clickhouse-server (Debian's 18.16) for the last two; started here on loopback in a
# temporary directory.
#
#   bench/ingest_throughput.sh [FLOWS]
set -euo pipefail
cd "$(dirname "$0")/.."
FLOWS=${1:-100000}
WORK=${BENCH_DIR:-target/bench}
mkdir -p "$WORK"
cargo build --release --quiet
BIN=$PWD/target/release/tapflow
CAP="$WORK/ingest_mix_${FLOWS}.pcap"
[ -f "$CAP" ] || "$BIN" gen --out "$WORK" --name "ingest_mix_${FLOWS}" --scenarios web,dns,tls,grpc,mysql,redis,bulk,retransmission \
  --flows "$FLOWS" --spacing-ms 1 --seed 3 >/dev/null
T=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

# ClickHouse 18.16 on loopback.
CH_HTTP=$(port); CH_TCP=$(port)
mkdir -p "$T/ch"
cat > "$T/ch/config.xml" <<XML
<yandex><logger><level>warning</level><log>$T/ch/server.log</log><errorlog>$T/ch/error.log</errorlog></logger>
<http_port>$CH_HTTP</http_port><tcp_port>$CH_TCP</tcp_port><listen_host>127.0.0.1</listen_host>
<path>$T/ch/data/</path><tmp_path>$T/ch/tmp/</tmp_path><users_config>$T/ch/users.xml</users_config>
<default_profile>default</default_profile><default_database>default</default_database><mark_cache_size>104857600</mark_cache_size></yandex>
XML
cat > "$T/ch/users.xml" <<XML
<yandex><profiles><default></default></profiles><users><default><password></password><networks><ip>127.0.0.1</ip></networks>
<profile>default</profile><quota>default</quota></default></users><quotas><default></default></quotas></yandex>
XML
clickhouse-server --config-file="$T/ch/config.xml" >/dev/null 2>&1 &
pids+=($!)
CH=http://127.0.0.1:$CH_HTTP
for _ in $(seq 100); do curl -sf "$CH/?query=SELECT%201" >/dev/null && break; sleep 0.1; done
ch_rows() { curl -sf --data-binary "SELECT (SELECT count() FROM flow_log.l4_flow_log) + (SELECT count() FROM flow_log.l7_flow_log) + (SELECT count() FROM flow_metrics.\`network.1m\`) + (SELECT count() FROM flow_metrics.\`network_map.1m\`) + (SELECT count() FROM flow_metrics.\`application.1m\`) + (SELECT count() FROM flow_metrics.\`application_map.1m\`)" "$CH/" 2>/dev/null || echo 0; }
ch_reset() { for db in flow_log flow_metrics; do curl -sf --data-binary "DROP DATABASE IF EXISTS $db" "$CH/" >/dev/null; done; }
rows_in() { cat "$1"/*.jsonl | wc -l; }

# 1. files only (also the record count).
t0=$(now); "$BIN" analyze -q --out "$T/files" "$CAP"; t1=$(now)
R=$(rows_in "$T/files")
FILES=$(python3 -c "print($t1-$t0)")

# 2. and 3. through tapflow server.
server_run() { # $1: name, $2...: extra server args
  local name=$1; shift
  local ing; ing=$(port)
  "$BIN" server --listen 127.0.0.1:0 --plaintext --data-dir "$T/srv-$name" --ingest-listen "127.0.0.1:$ing" "$@" >"$T/srv-$name.log" 2>&1 &
  local sp=$!; pids+=($sp)
  for _ in $(seq 100); do grep -q "receiving records" "$T/srv-$name.log" && break; sleep 0.1; done
  local t0; t0=$(now)
  "$BIN" analyze -q --out "$T/out-$name" --ingester "127.0.0.1:$ing" --agent-id 1 "$CAP"
  kill -TERM "$sp"; wait "$sp" 2>/dev/null || true
  local t1; t1=$(now)
  python3 -c "print($t1-$t0)"
}
ING=$(server_run json)
STORED=$(rows_in "$T/srv-json/records")
ch_reset
SCH=$(server_run ch --clickhouse "$CH")
SCH_ROWS=$(ch_rows)
ch_reset
t0=$(now); "$BIN" analyze -q --out "$T/direct" --clickhouse "$CH" "$CAP"; t1=$(now)
DCH=$(python3 -c "print($t1-$t0)")
DCH_ROWS=$(ch_rows)
python3 - "$CAP" "$R" "$FILES" "$ING" "$STORED" "$SCH" "$SCH_ROWS" "$DCH" "$DCH_ROWS" <<'PY'
import sys
cap, r, files, ing, stored, sch, sch_rows, dch, dch_rows = sys.argv[1:]
r = int(r)
print(f"{cap}: {r} records (l4, l7, 1-minute metrics)")
print(f"{'path':<34}{'seconds':>9}{'records/s':>12}{'x floor':>9}  stored")
for name, t, n in [("files only (floor)", files, r), ("--ingester -> server (JSON lines)", ing, stored),
                   ("--ingester -> server -> ClickHouse", sch, sch_rows), ("--clickhouse (agent direct)", dch, dch_rows)]:
    t = float(t)
    print(f"{name:<34}{t:>9.2f}{r / t:>12,.0f}{t / float(files):>8.2f}x  {int(n)}")
PY
