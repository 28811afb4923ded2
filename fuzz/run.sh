#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's coverage instrumentation and runs them.
#
#   fuzz/run.sh build                 build every target (nightly; or stable with RUSTC_BOOTSTRAP=1)
#   fuzz/run.sh run TARGET [ARGS...]  one target on its corpus (fuzz/corpus/TARGET, made by seed.sh)
#   fuzz/run.sh smoke SECONDS         every target for SECONDS each (CI), fails on any finding
#
# The same flags as `cargo fuzz build` (cargo-fuzz is not needed): sanitizer coverage with inline
# 8-bit counters, PC table and compare tracing, `--cfg fuzzing`, debug assertions and overflow
# checks on. Artifacts (crashing inputs) go to fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")"
TARGETS=(frame pcap l7 hpack config grpc ingest trace go_elf otel_wire profile app_log)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
# An explicit --target keeps the instrumentation out of build scripts and proc macros.
HOST="$(rustc -vV | sed -n 's/^host: //p')"
build() {
  RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
    cargo "${toolchain[@]}" build --release --quiet --bins --target "$HOST"
}
bin() { echo "$CARGO_TARGET_DIR/$HOST/release/$1"; }
case "${1:-}" in
  build) build ;;
  run)
    t="$2"; shift 2
    mkdir -p "corpus/$t" "artifacts/$t"
    "$(bin "$t")" -artifact_prefix="artifacts/$t/" "$@" "corpus/$t"
    ;;
  smoke)
    secs="${2:-20}"
    if ! build; then
      echo "fuzz smoke skipped: the fuzz targets do not build here (needs a nightly toolchain or RUSTC_BOOTSTRAP and clang's libFuzzer runtime)" >&2
      exit 0
    fi
    for t in "${TARGETS[@]}"; do
      mkdir -p "corpus/$t" "artifacts/$t"
      echo "== fuzz $t (${secs} s)"
      "$(bin "$t")" -max_total_time="$secs" -artifact_prefix="artifacts/$t/" -print_final_stats=1 \
        "corpus/$t" 2>&1 | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)|ERROR|panicked" || true
      if ls "artifacts/$t/"* >/dev/null 2>&1; then
        echo "fuzz $t found a crashing input: $(ls artifacts/$t/)" >&2
        exit 1
      fi
    done
    ;;
  *) sed -n 2,9p "$0"; exit 2 ;;
esac
