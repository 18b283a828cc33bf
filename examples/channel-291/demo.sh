#!/usr/bin/env bash
# demo.sh — replays the 19 July 2024 Channel File 291 update through every
# layer of ringfence that runs on a workstation, and shows each one stopping
# it on its own. Usage: demo.sh RINGFENCE_BIN   (`make demo` runs it)
#
# It doubles as a test (tests/integration/demo.sh): every command's exit code
# and key output are checked, and the script exits 1 if any layer did not
# behave as described.
set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 RINGFENCE_BIN" >&2
  exit 2
fi
RF=$1
case $RF in /*) ;; *) RF=$PWD/$RF ;; esac
if [ ! -x "$RF" ]; then
  echo "demo.sh: $RF is not an executable (run 'make demo')" >&2
  exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rf-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# Work on a copy of the workspace, so that the commands shown are the ones a
# reader would type in it and compiled files do not land in the source tree.
cp -R "$HERE/types" "$HERE/sensors" "$HERE/channels" "$HERE/corpus" "$WORK/" || exit 2
cd "$WORK" || exit 2

if [ -t 1 ]; then
  B=$'\e[1m' R=$'\e[31m' G=$'\e[32m' Y=$'\e[33m' D=$'\e[2m' N=$'\e[0m'
else
  B='' R='' G='' Y='' D='' N=''
fi

bad=0     # layers that did not behave as expected
OUT='' RC=0

# run CMD...: run it, keep stdout+stderr in $OUT and the exit code in $RC.
run() {
  "$@" >"$WORK/.out" 2>&1
  RC=$?
  OUT=$(cat "$WORK/.out")
}

# show [MAX] [PATTERN]: the last command and its output, indented, trimmed to
# MAX lines (default 14) of those matching PATTERN (default: all lines).
show() {
  local max=${1:-14} pat=${2:-}
  local text=$OUT
  if [ -n "$pat" ]; then text=$(printf '%s\n' "$OUT" | grep -E -- "$pat"); fi
  local total
  total=$(printf '%s\n' "$text" | grep -c '')
  printf '%s\n' "$text" | head -n "$max" | cut -c1-200 | sed "s/^/    ${D}│${N} /"
  if [ "$total" -gt "$max" ]; then
    printf '    %s│ ... (%d more lines)%s\n' "$D" $((total - max)) "$N"
  fi
}

# cmd TEXT: print the command line a reader could type.
cmd() { printf '  %s$ %s%s\n' "$D" "$*" "$N"; }

# check DESCRIPTION CONDITION...: evaluate a test; report and count failures.
check() {
  local what=$1
  shift
  if "$@"; then
    return 0
  fi
  printf '  %sUNEXPECTED: %s%s\n' "$R$B" "$what" "$N"
  bad=$((bad + 1))
  return 1
}
rc_is() { [ "$RC" -eq "$1" ]; }
has() { printf '%s\n' "$OUT" | grep -qE -- "$1"; }
count() { printf '%s\n' "$OUT" | grep -cE -- "$1"; }

verdict() { # verdict OK TEXT
  if [ "$1" = ok ]; then
    printf '%s→ %s%s\n\n' "$G$B" "$2" "$N"
  else
    printf '%s→ %s%s\n\n' "$R$B" "$2" "$N"
  fi
}

declare -a T_LAYER T_RESULT

printf '%s19 July 2024, replayed: Channel File 291 through ringfence%s\n' "$B" "$N"
printf 'The IPC template type declares 21 fields; sensor 7.11.18110 supplies 20 inputs.\n'
printf 'Content v4 (Mar-Apr) leaves field 21 a wildcard. Content v5 (19 July) does not.\n\n'

# ---------------------------------------------------------------- layer 0
printf '%s0. Before: content v4 validates and compiles%s\n' "$B" "$N"
ok=1
cmd ringfence validate channels/c291-v4.yaml
run "$RF" validate channels/c291-v4.yaml
show 10
check "v4 should be ACCEPTED (exit 0), got exit $RC" rc_is 0 || ok=0
check "v4 output should end with 'verdict: ACCEPTED'" has '^verdict: ACCEPTED' || ok=0
cmd ringfence compile channels/c291-v4.yaml -o c291-v4.rfc
run "$RF" compile channels/c291-v4.yaml -o c291-v4.rfc
show 2
check "compiling v4 should succeed, got exit $RC" rc_is 0 || ok=0
if [ $ok = 1 ]; then verdict ok "v4 ACCEPTED: wildcards in field 21 need only 20 inputs"; else verdict bad "v4 did not behave as expected"; fi

# ---------------------------------------------------------------- layer 1
printf '%s1. The fleet-capability check rejects content v5%s\n' "$B" "$N"
ok=1
cmd ringfence validate channels/c291-v5.yaml
run "$RF" validate channels/c291-v5.yaml
show 12
check "v5 should be REJECTED (exit 1), got exit $RC" rc_is 1 || ok=0
check "the capability stage should fail" has '✗ capability +FAIL' || ok=0
capline=$(printf '%s\n' "$OUT" | grep -E '\[capability\]' | head -n 1)
for word in c291-0719-appdata-pipe-client pipe_client_image 7.11.18110 '20\b' 'channels/c291-v5.yaml:[0-9]+'; do
  check "the capability finding should name '$word'" \
    bash -c 'printf "%s\n" "$1" | grep -qE -- "$2"' _ "$capline" "$word" || ok=0
done
if [ $ok = 1 ]; then
  T_LAYER+=("validator: fleet capability"); T_RESULT+=("STOPPED  names instance, field 21 (index 20), 7.11.18110, 20 inputs")
  verdict ok "STOPPED by the capability stage: field index 20 >= the 20 inputs of 7.11.18110"
else
  T_LAYER+=("validator: fleet capability"); T_RESULT+=("NOT STOPPED")
  verdict bad "the capability stage did not stop v5"
fi

# ---------------------------------------------------------------- layer 2
printf '%s2. Without the capability check, the tests and the execution test still reject it%s\n' "$B" "$N"
ok=1
cmd ringfence validate channels/c291-v5.yaml --skip capability --i-know-this-is-unsafe
run "$RF" validate channels/c291-v5.yaml --skip capability --i-know-this-is-unsafe
show 16
check "v5 with capability skipped should still be REJECTED (exit 1), got exit $RC" rc_is 1 || ok=0
check "the unsafe skip should print a warning" has 'WARNING' || ok=0
check "the capability stage should show as skipped" has '– capability +skipped' || ok=0
tests_ok=0 exec_ok=0
has '✗ tests +FAIL' && tests_ok=1
has '✗ execution +FAIL' && exec_ok=1
check "the embedded tests stage should fail on its own" [ $tests_ok = 1 ] || ok=0
check "the execution stage should fail on its own" [ $exec_ok = 1 ] || ok=0
T_LAYER+=("validator: embedded tests"); T_RESULT+=("$([ $tests_ok = 1 ] && echo 'STOPPED  tests fail on the 20-input sensor' || echo 'NOT STOPPED')")
T_LAYER+=("validator: execution test"); T_RESULT+=("$([ $exec_ok = 1 ] && echo 'STOPPED  interpreter refuses / no read past the inputs' || echo 'NOT STOPPED')")
if [ $ok = 1 ]; then verdict ok "STOPPED twice more: embedded tests and execution test"; else verdict bad "the later stages did not stop v5"; fi

# ---------------------------------------------------------------- layer 3
printf '%s3. Ship it anyway: the interpreter on the sensor refuses it%s\n' "$B" "$N"
ok=1
cmd ringfence compile channels/c291-v5.yaml -o c291-v5.rfc
run "$RF" compile channels/c291-v5.yaml -o c291-v5.rfc
show 2
check "compiling v5 should succeed (compile does not validate), got exit $RC" rc_is 0 || ok=0

cmd ringfence eval c291-v5.rfc --sensor 7.11.18110 corpus/ipc-events.jsonl
run "$RF" eval c291-v5.rfc --sensor 7.11.18110 corpus/ipc-events.jsonl
show 4
load_ok=0
rc_is 1 && has '7\.11\.18110' && ! has '^\{"line"' && load_ok=1
check "sensor 7.11.18110 should refuse to load v5 (exit 1, no events evaluated), got exit $RC" [ $load_ok = 1 ] || ok=0

cmd ringfence eval c291-v5.rfc --sensor 7.16.18605 corpus/ipc-events.jsonl
run "$RF" eval c291-v5.rfc --sensor 7.16.18605 corpus/ipc-events.jsonl
show 4
check "sensor 7.16.18605 (21 inputs) should load and evaluate v5, got exit $RC" rc_is 0 || ok=0
check "v5 on 7.16.18605 should match events with the new instance" has 'c291-0719-appdata-pipe-client' || ok=0

cmd ringfence eval c291-v5.rfc --sensor 7.16.18605 --all-sensors corpus/ipc-events.jsonl
run "$RF" eval c291-v5.rfc --sensor 7.16.18605 --all-sensors corpus/ipc-events.jsonl
show 2 'RF_E_INPUT'
show 1 '^eval:'
rt_ok=0
rc_is 1 && [ "$(count 'RF_E_INPUT')" -gt 0 ] && rt_ok=1
check "20-input events fed to the 21-input interpreter should each be refused (RF_E_INPUT), got exit $RC" [ $rt_ok = 1 ] || ok=0
T_LAYER+=("interpreter: load-time check"); T_RESULT+=("$([ $load_ok = 1 ] && echo 'STOPPED  7.11.18110 refuses to build it' || echo 'NOT STOPPED')")
T_LAYER+=("interpreter: run-time check"); T_RESULT+=("$([ $rt_ok = 1 ] && echo 'STOPPED  short events refused, never read past' || echo 'NOT STOPPED')")
if [ $ok = 1 ]; then verdict ok "STOPPED on the sensor: it refuses the content instead of reading input[20]"; else verdict bad "the interpreter did not behave as expected"; fi

# ---------------------------------------------------------------- summary
printf '%sWhat stopped content v5, layer by layer%s\n' "$B" "$N"
for i in "${!T_LAYER[@]}"; do
  r=${T_RESULT[$i]}
  case $r in STOPPED*) c=$G ;; *) c=$R ;; esac
  printf '  %-30s %s%s%s\n' "${T_LAYER[$i]}" "$c" "$r" "$N"
done
printf '  %s(the staged rollout, its health gates and the boot guard: `make demo` simulates them next, at 8.5 million hosts)%s\n' "$D" "$N"
echo
if [ $bad -ne 0 ]; then
  printf '%sdemo: %d expectation(s) not met%s\n' "$R$B" "$bad" "$N"
  exit 1
fi
printf '%sdemo: every layer stopped the 19 July content on its own%s\n' "$G$B" "$N"
exit 0
