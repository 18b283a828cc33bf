#!/usr/bin/env bash
# fuzz.sh — runs every libFuzzer harness built in BUILD_DIR for SECONDS each
# (called by `make fuzz`). New coverage goes to BUILD_DIR/fuzz-work/<harness>
# so the committed corpus (fuzz/corpus/<harness>) only changes when someone
# decides to minimise and commit; crashes land in BUILD_DIR/fuzz-artifacts/.
#   scripts/fuzz.sh BUILD_DIR SECONDS [HARNESS...]
# Exit status: 0 when no harness found a crash, 1 otherwise, 2 on usage errors.
set -uo pipefail
build=${1:?usage: fuzz.sh BUILD_DIR SECONDS [HARNESS...]}
secs=${2:?usage: fuzz.sh BUILD_DIR SECONDS [HARNESS...]}
shift 2
top=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -gt 0 ]; then
  harnesses=("$@")
else
  harnesses=()
  for f in "$top"/fuzz/fuzz_*.c; do harnesses+=("$(basename "$f" .c)"); done
fi
mkdir -p "$build/fuzz-artifacts"
status=0
for h in "${harnesses[@]}"; do
  bin="$build/$h"
  [ -x "$bin" ] || { echo "fuzz.sh: $bin not built" >&2; exit 2; }
  work="$build/fuzz-work/$h"
  mkdir -p "$work"
  echo "== $h: ${secs}s"
  if ! "$bin" "$work" "$top/fuzz/corpus/$h" -max_total_time="$secs" \
        -artifact_prefix="$build/fuzz-artifacts/$h-" -print_final_stats=1 \
        -max_len=65536 -timeout=10 -rss_limit_mb=2048 2>"$build/fuzz-work/$h.log"; then
    echo "!! $h found a failure; see $build/fuzz-work/$h.log and $build/fuzz-artifacts/" >&2
    status=1
  fi
  grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$build/fuzz-work/$h.log" | sed 's/^/   /'
done
exit $status
