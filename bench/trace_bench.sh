# Sourced by bench/trace_overhead.sh (TCP, nginx) and bench/trace_overhead_dns.sh (UDP, dnsmasq):
# a load run under `tapflow trace`, what the tracer logged, and the summary. Needs $BIN and $SECS.

# traced OUT COMM CMD...: runs CMD while `tapflow trace --comm COMM` writes to OUT, printing CMD's
# output; the tracer's CPU time (% of one core) goes to OUT/cpu.
traced() {
  local out=$1 comm=$2
  shift 2
  $BIN trace -q --out "$out" --comm "$comm" &
  local tp=$!
  while [ ! -f "$out/trace.ready" ]; do sleep 0.1; done
  local t0 t1
  t0=$(awk '{print $14+$15}' /proc/$tp/stat)
  "$@"
  t1=$(awk '{print $14+$15}' /proc/$tp/stat)
  kill -TERM $tp
  wait $tp
  echo "$t0 $t1 $SECS $(getconf CLK_TCK)" | awk '{printf "%.0f", ($2-$1)/$4/$3*100}' > "$out/cpu"
}

# counter OUT NAME: a counter of the tracer's stats.json.
counter() { grep -o "\"$2\": [0-9]*" "$1/stats.json" | awk '{print $2}'; }

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# summary UNIT: prints the runs in the arrays without, with, sent, logged, cpu.
summary() {
  local mw mt
  mw=$(median "${without[@]}")
  mt=$(median "${with[@]}")
  echo "$1/s without tracer: ${without[*]} (median $mw)"
  echo "$1/s with tracer:    ${with[*]} (median $mt)"
  echo "with/without: $(echo "$mt $mw" | awk '{printf "%.3f", $1/$2}')"
  echo "$1 completed while traced: ${sent[*]}; rows logged (by the traced processes): ${logged[*]}"
  echo "tracer CPU (% of one core): ${cpu[*]}"
}
