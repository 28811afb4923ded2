#!/usr/bin/env bash
# L7 request-log rate: requests per second per core on generated captures of one protocol each,
# against tshark writing the same request fields, in one run.
#
#   bench/l7_rate.sh [FLOWS] [ROUNDS] [INPUT ...]
#
# Inputs (default: web dns): `web` HTTP/1.1 keep-alive connections with 1-2 exchanges and bodies
# of 200 B-12 KB; `dns` one UDP query/response per flow; `mysql`, `postgres`, `redis`,
# `memcached`, `mongo`: connections of 1-7 commands with their replies (the generator's
# scenarios of those names). For each input, times, alternating, ROUNDS rounds of:
#   tapflow     `tapflow analyze` (flows + l7_flow_log rows), one core
#   tapflow-l4  the same with L7 off (`enabled_protocols: []`): what the request logs cost
#   tshark      `tshark -n -T fields` printing method/host/uri/status/http.time (dns: id, name,
#               type, rcode, dns.time; the databases: command, statement or key, error code)
#               for every request and response, one core
# and prints the median wall time, requests/s (tapflow's l7.requests over the wall time) and
# each peer's time relative to tapflow.
set -euo pipefail
cd "$(dirname "$0")/.."
FLOWS=${1:-100000}
ROUNDS=${2:-3}
shift $(( $# > 2 ? 2 : $# ))
INPUTS=("$@")
[ ${#INPUTS[@]} -gt 0 ] || INPUTS=(web dns)
WORK=${BENCH_DIR:-target/bench}
mkdir -p "$WORK"
cargo build --release --quiet
BIN=target/release/tapflow
cat > "$WORK/l7_off.yaml" <<'YAML'
global:
  limits:
    max_memory: 1024
processors:
  flow_log:
    tunning:
      concurrent_flow_limit: 262144
  request_log:
    application_protocol_inference:
      enabled_protocols: []
YAML
# The protocols off by default in DeepFlow (and tapflow) are enabled for their inputs.
sed 's/^processors:$/processors:\n  request_log:\n    application_protocol_inference:\n      enabled_protocols: [HTTP, HTTP2, MySQL, Redis, DNS, TLS, PostgreSQL, Memcached, MongoDB]/' \
  bench/bench.yaml > "$WORK/l7_all.yaml"
grep -q enabled_protocols "$WORK/l7_all.yaml" || { echo "bench.yaml: no processors section" >&2; exit 1; }
for input in "${INPUTS[@]}"; do
  CAP="$WORK/l7_${input}_${FLOWS}.pcap"
  [ -f "$CAP" ] || "$BIN" gen --out "$WORK" --name "l7_${input}_${FLOWS}" --scenarios "$input" \
    --flows "$FLOWS" --spacing-ms 0.05 --seed 1 >/dev/null
  case $input in
    web) TSHARK_FIELDS=(-Y "http.request || http.response" -e http.request.method -e http.host
      -e http.request.uri -e http.response.code -e http.time) ;;
    dns) TSHARK_FIELDS=(-Y dns -e dns.id -e dns.qry.name -e dns.qry.type -e dns.flags.rcode -e dns.time) ;;
    mysql) TSHARK_FIELDS=(-Y mysql -e mysql.command -e mysql.query -e mysql.error_code) ;;
    postgres) TSHARK_FIELDS=(-Y pgsql -e pgsql.type -e pgsql.query -e pgsql.code) ;;
    redis) TSHARK_FIELDS=(-d tcp.port==6379,resp -Y resp -e resp.bulk_string.value) ;;
    memcached) TSHARK_FIELDS=(-Y memcache -e memcache.command -e memcache.key) ;;
    mongo) TSHARK_FIELDS=(-d tcp.port==27017,mongo -Y mongo -e mongo.opcode -e mongo.request_id
      -e mongo.response_to -e mongo.element.name) ;;
    *) echo "unknown input $input" >&2; exit 2 ;;
  esac
  declare -A TIMES=()
  PEERS=(tapflow tapflow-l4)
  command -v tshark >/dev/null && PEERS+=(tshark)
  for _ in $(seq "$ROUNDS"); do
    for p in "${PEERS[@]}"; do
      t0=$(date +%s.%N)
      case $p in
        tapflow) taskset -c 0 "$BIN" analyze -q --config "$WORK/l7_all.yaml" --out "$WORK/l7_out" "$CAP" ;;
        tapflow-l4) taskset -c 0 "$BIN" analyze -q --config "$WORK/l7_off.yaml" --out "$WORK/l7_off_out" "$CAP" ;;
        tshark) taskset -c 0 tshark -n -r "$CAP" -T fields "${TSHARK_FIELDS[@]}" >/dev/null 2>&1 ;;
      esac >/dev/null
      t1=$(date +%s.%N)
      TIMES[$p]="${TIMES[$p]:-} $(python3 -c "print($t1-$t0)")"
    done
  done
  python3 - "$WORK/l7_out/stats.json" "$CAP" "$input" "$ROUNDS" "${PEERS[@]}" <<PY
import json, statistics, sys
stats, cap, name, rounds, peers = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
times = {$(for p in "${PEERS[@]}"; do printf '"%s": [%s], ' "$p" "$(echo "${TIMES[$p]}" | xargs | tr ' ' ',')"; done)}
req = stats["l7.requests"]
print(f"\n{name}: {cap}: {stats['rx_packets']} packets, {req} requests, {stats['l7.responses']} responses, "
      f"{stats['l7.records']} l7 rows; l7 drops: " +
      str({k: v for k, v in stats.items() if k.startswith('l7.') and v and k in
           ('l7.state_full', 'l7.pending_evicted', 'l7.parse_errors', 'l7.gaps', 'l7.overflow_bytes', 'l7.timeouts')} or 'none'))
base = statistics.median(times["tapflow"])
print(f"{'peer':<11} {'median s':>9} {'requests/s':>12} {'time vs tapflow':>16}")
for p in peers:
    m = statistics.median(times[p])
    print(f"{p:<11} {m:9.3f} {req / m:12,.0f} {m / base:15.2f}x")
print(f"(rounds: {rounds}; one core via taskset -c 0; times include process start and reading the file)")
PY
done
