# lib.sh — helpers for the CLI integration tests (tests/integration/*.sh).
# Sourced, not run: it is not a test itself (CMake runs every *.sh here, so
# running it alone just checks that the environment is set).
#
# ctest sets RINGFENCE (the binary), RF_SOURCE_DIR (the repository) and
# RF_SANITIZE (1 under AddressSanitizer + UBSan). Every test gets a private
# work directory ($WORK), removed on exit. Checks count failures instead of
# stopping, so one run shows everything that is wrong; `finish` sets the
# exit status.
set -u

: "${RINGFENCE:?set RINGFENCE to the ringfence binary}"
: "${RF_SOURCE_DIR:?set RF_SOURCE_DIR to the repository}"
RF_SANITIZE=${RF_SANITIZE:-0}
case $RF_SANITIZE in 1 | ON | on | TRUE | true) RF_SANITIZE=1 ;; *) RF_SANITIZE=0 ;; esac

RF=$RINGFENCE
EX=$RF_SOURCE_DIR/examples/channel-291
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rf-it.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# A sanitizer report must never look like an ordinary exit code 1 or 2.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:exitcode=87:halt_on_error=1"
export NO_COLOR=1

FAILS=0
CHECKS=0
OUT=''
ERR=''
RC=0
LAST=''

# run CMD...: run it with stdin from /dev/null; stdout in $OUT, stderr in
# $ERR, exit code in $RC. A sanitizer report is a failure by itself.
run() {
  LAST="$*"
  "$@" </dev/null >"$WORK/.out" 2>"$WORK/.err"
  RC=$?
  OUT=$(cat "$WORK/.out")
  ERR=$(cat "$WORK/.err")
  if grep -qE 'Sanitizer|runtime error:' "$WORK/.err"; then
    fail "sanitizer report from: $LAST"
  fi
}

# run_in FILE CMD...: same, with stdin from FILE.
run_in() {
  local in=$1
  shift
  LAST="$* < $in"
  "$@" <"$in" >"$WORK/.out" 2>"$WORK/.err"
  RC=$?
  OUT=$(cat "$WORK/.out")
  ERR=$(cat "$WORK/.err")
  if grep -qE 'Sanitizer|runtime error:' "$WORK/.err"; then
    fail "sanitizer report from: $LAST"
  fi
}

fail() {
  FAILS=$((FAILS + 1))
  {
    echo "FAIL: $*"
    echo "  command: $LAST"
    echo "  exit:    $RC"
    printf '%s\n' "$OUT" | head -n 20 | sed 's/^/  stdout| /'
    printf '%s\n' "$ERR" | head -n 20 | sed 's/^/  stderr| /'
  } >&2
}

# check DESCRIPTION CMD...: a condition that must hold.
check() {
  local what=$1
  shift
  CHECKS=$((CHECKS + 1))
  "$@" || fail "$what"
}

# not CMD...: succeeds when CMD fails (for check).
not() { ! "$@"; }

# expect_exit CODE CMD...: run CMD and require exit code CODE.
expect_exit() {
  local want=$1
  shift
  run "$@"
  CHECKS=$((CHECKS + 1))
  [ "$RC" -eq "$want" ] || fail "expected exit $want, got $RC"
}

# expect_exit_in "CODES" CMD...: run CMD; exit code must be one of CODES.
expect_exit_in() {
  local want=$1
  shift
  run "$@"
  CHECKS=$((CHECKS + 1))
  local c
  for c in $want; do
    [ "$RC" -eq "$c" ] && return 0
  done
  fail "expected exit in {$want}, got $RC"
}

# Output checks on the last run: fixed strings (-F) or extended regexes (-E).
expect_out() { CHECKS=$((CHECKS + 1)); grep -qF -- "$1" "$WORK/.out" || fail "stdout lacks '$1'"; }
expect_err() { CHECKS=$((CHECKS + 1)); grep -qF -- "$1" "$WORK/.err" || fail "stderr lacks '$1'"; }
expect_out_re() { CHECKS=$((CHECKS + 1)); grep -qE -- "$1" "$WORK/.out" || fail "stdout does not match /$1/"; }
expect_err_re() { CHECKS=$((CHECKS + 1)); grep -qE -- "$1" "$WORK/.err" || fail "stderr does not match /$1/"; }
expect_no_out() { CHECKS=$((CHECKS + 1)); [ ! -s "$WORK/.out" ] || fail "stdout should be empty"; }
expect_not_out() { CHECKS=$((CHECKS + 1)); ! grep -qF -- "$1" "$WORK/.out" || fail "stdout should not contain '$1'"; }

# expect_out_lines N PATTERN: exactly N stdout lines match the regex.
expect_out_lines() {
  CHECKS=$((CHECKS + 1))
  local n
  n=$(grep -cE -- "$2" "$WORK/.out")
  [ "$n" -eq "$1" ] || fail "expected $1 stdout lines matching /$2/, got $n"
}

# expect_err_lines N PATTERN: exactly N stderr lines match the regex.
expect_err_lines() {
  CHECKS=$((CHECKS + 1))
  local n
  n=$(grep -cE -- "$2" "$WORK/.err")
  [ "$n" -eq "$1" ] || fail "expected $1 stderr lines matching /$2/, got $n"
}

# expect_one_line_error [REGEX]: stderr is exactly one line starting with
# "ringfence" (and matching REGEX, when given).
expect_one_line_error() {
  CHECKS=$((CHECKS + 1))
  local n
  n=$(grep -c '' "$WORK/.err")
  [ "$n" -eq 1 ] || { fail "expected a one-line error, got $n lines"; return; }
  grep -qE '^ringfence' "$WORK/.err" || fail "error should start with 'ringfence'"
  if [ $# -gt 0 ]; then
    grep -qE -- "$1" "$WORK/.err" || fail "error does not match /$1/"
  fi
}

# json_valid FILE: FILE parses as JSON (jq or python3 when present; else a
# coarse shape check, so the suite does not depend on either).
json_valid() {
  if command -v jq >/dev/null 2>&1; then
    jq -e . "$1" >/dev/null 2>&1
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null
  else
    head -c 1 "$1" | grep -q '{' && tail -c 2 "$1" | grep -q '}'
  fi
}

# serve_dir DIR: serve DIR over HTTP on a free loopback port (python3's
# http.server; $PY when set) in the background. Sets SRV (its pid, for the
# caller's exit trap to kill), PORT and URL, and checks that it answers
# (at most 100 tries, 0.1 s apart).
serve_dir() {
  local py=${PY:-/usr/bin/python3} up=0
  PORT=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$py" -m http.server --bind 127.0.0.1 "$PORT" --directory "$1" >/dev/null 2>&1 &
  SRV=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then up=1; break; fi
    sleep 0.1
  done
  check "the HTTP server is up" [ "$up" -eq 1 ]
  URL=http://127.0.0.1:$PORT
}

# line_of FILE REGEX: the first line number of FILE matching REGEX.
line_of() { grep -nE -- "$2" "$1" | head -n 1 | cut -d: -f1; }

finish() {
  if [ "$FAILS" -ne 0 ]; then
    echo "$(basename "$0"): $FAILS of $CHECKS checks FAILED" >&2
    exit 1
  fi
  echo "$(basename "$0"): all $CHECKS checks passed"
  exit 0
}

# Run alone (ctest runs every *.sh): only confirm the environment.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  check "RINGFENCE is executable" test -x "$RF"
  check "the example workspace exists" test -d "$EX/channels"
  finish
fi
