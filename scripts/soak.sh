#!/usr/bin/env bash
# soak.sh — does ringfenced's memory stay bounded under steady check-ins?
# A fresh SQLite database in a temporary directory, one `ringfenced serve
# --quiet` on a free loopback port, 10,000 hosts enrolled once (bench-checkin
# --state), then the same hosts checking in continuously at a fixed rate
# (2,000 check-ins/s: each host every 5 s) for M minutes while the server's
# resident memory is read every 10 s from /proc/PID/status.
#
#   scripts/soak.sh BUILD_DIR [--minutes M]     (default 10)
#
# It fails (exit 1) when any request failed, when the server died or did
# not stop cleanly on SIGTERM, or when its RSS grew by more than 20% between
# the 2-minute mark and the end: the median of the minute from 2:00 against
# the median of the last minute (runs under 4 minutes, for trying the
# script: a third of the way in, windows of a sixth of the run). Medians,
# because every open connection holds a 256 KiB libmicrohttpd pool, so one
# sample taken while a hiccup had more connections open would look like
# growth; and few requests in flight (8: at 2,000/s and well under a
# millisecond each, about one is busy at a time) so that the pools stay a
# small part of the figure. The RSS series is printed either way. Exit 2 for
# usage and setup errors. Every wait is bounded; everything started is
# stopped and removed on exit.
set -euo pipefail

here=$(cd -- "$(dirname -- "$0")" && pwd)
me=soak.sh
# shellcheck source=scripts/server-lib.sh
. "$here/server-lib.sh"

HOSTS=10000
RATE=2000
CONCURRENCY=8
SAMPLE_S=10
GROWTH_PCT=20

usage() {
  echo "usage: scripts/soak.sh BUILD_DIR [--minutes M]" >&2
  exit 2
}

[ $# -ge 1 ] || usage
build=$1
shift
minutes=10
while [ $# -gt 0 ]; do
  case "$1" in
  --minutes) [ $# -ge 2 ] || usage; minutes=$2; shift ;;
  *) usage ;;
  esac
  shift
done
case "$minutes" in '' | *[!0-9]*) usage ;; esac
if [ "$minutes" -lt 1 ] || [ "$minutes" -gt 1440 ]; then
  echo "soak.sh: --minutes must be 1..1440" >&2
  exit 2
fi
duration=$((minutes * 60))
if [ "$minutes" -ge 4 ]; then
  mark=120 window=60
else
  mark=$((duration / 3)) window=$((duration / 6))
fi

server_bin=$build/bin/ringfenced
bench_bin=""
for c in "$build/bin/bench-checkin" "$build/bench-checkin"; do
  if [ -x "$c" ]; then bench_bin=$c; break; fi
done
if [ ! -x "$server_bin" ]; then
  echo "soak.sh: $server_bin not found (build first: cmake --build $build)" >&2
  exit 2
fi
if [ -z "$bench_bin" ]; then
  echo "soak.sh: bench-checkin not found in $build/bin or $build" >&2
  exit 2
fi

tmp=$(mktemp -d /tmp/ringfence-soak.XXXXXX)
server_pid=""
bench_pid=""

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  if [ -n "$bench_pid" ]; then stop_child "$bench_pid" bench-checkin || true; fi
  if [ -n "$server_pid" ]; then stop_child "$server_pid" ringfenced || true; fi
  rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

rss_kb() { # PID: VmRSS in kB, empty when the process is gone
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

db=$tmp/ringfence.db
if ! "$server_bin" init --db "$db" >"$tmp/init.out" 2>"$tmp/init.err"; then
  echo "soak.sh: ringfenced init failed:" >&2
  cat "$tmp/init.err" >&2
  exit 2
fi
token=$(head -n 1 "$tmp/init.out")

# Start the server on a free port (three tries, in case another process
# takes the port first), at most 30 s for /healthz each.
port=""
for ((try = 0; try < 3; try++)); do
  port=$(free_port) || break
  "$server_bin" serve --db "$db" --listen "127.0.0.1:$port" --quiet >"$tmp/server.log" 2>&1 &
  server_pid=$!
  up=0
  for ((i = 0; i < 300; i++)); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      wait "$server_pid" 2>/dev/null || true
      server_pid=""
      break
    fi
    if http_get "$port" /healthz >/dev/null 2>&1; then up=1; break; fi
    sleep 0.1
  done
  [ "$up" -eq 1 ] && break
  if [ -n "$server_pid" ]; then
    echo "soak.sh: ringfenced did not answer /healthz within 30 s" >&2
    cat "$tmp/server.log" >&2
    exit 2
  fi
done
if [ -z "$server_pid" ]; then
  echo "soak.sh: ringfenced did not start; its log:" >&2
  cat "$tmp/server.log" >&2
  exit 2
fi
url=http://127.0.0.1:$port
echo "soak.sh: ringfenced pid $server_pid on $url, SQLite; $HOSTS hosts at $RATE check-ins/s" \
  "for $minutes min, RSS every ${SAMPLE_S} s" >&2

# Enroll once (and a second of check-ins), so that the soak itself starts
# checking in at once and its clock is the load's.
if ! "$bench_bin" --url "$url" --admin-token "$token" --hosts "$HOSTS" --state "$tmp/state" \
    --duration 1 --concurrency "$CONCURRENCY" >"$tmp/enroll.out" 2>"$tmp/enroll.err"; then
  echo "soak.sh: enrolling $HOSTS hosts failed:" >&2
  cat "$tmp/enroll.err" "$tmp/enroll.out" >&2
  exit 2
fi

"$bench_bin" --url "$url" --admin-token "$token" --hosts "$HOSTS" --state "$tmp/state" \
  --duration "$duration" --concurrency "$CONCURRENCY" --rate "$RATE" \
  >"$tmp/bench.out" 2>"$tmp/bench.err" &
bench_pid=$!
start=$SECONDS

# Sample while the load runs: at most duration/10 + 13 rounds (the
# setup and the last requests take seconds: 130 s of slack).
series=()
times=()
max_rounds=$((duration / SAMPLE_S + 13))
server_died=0
for ((round = 0; round < max_rounds; round++)); do
  kill -0 "$bench_pid" 2>/dev/null || break
  r=$(rss_kb "$server_pid")
  if [ -z "$r" ]; then
    server_died=1
    break
  fi
  t=$((SECONDS - start))
  series+=("$r")
  times+=("$t")
  printf 'soak.sh: %5d s  RSS %7d kB\n' "$t" "$r" >&2
  # Sleep to the next multiple of SAMPLE_S, in steps, leaving early when the
  # load ends.
  next=$(((t / SAMPLE_S + 1) * SAMPLE_S))
  while [ $((SECONDS - start)) -lt "$next" ] && kill -0 "$bench_pid" 2>/dev/null; do
    sleep 0.5
  done
done
if kill -0 "$bench_pid" 2>/dev/null; then
  if [ "$server_died" -eq 0 ]; then
    echo "soak.sh: bench-checkin still running $((SECONDS - start)) s after a ${duration} s run; stopping it" >&2
  fi
  stop_child "$bench_pid" bench-checkin || true
  bench_rc=1
else
  bench_rc=0
  wait "$bench_pid" || bench_rc=$?
fi
bench_pid=""

# The end is the last sample under load: once bench-checkin has closed its
# connections the server frees their memory pools (up to 256 KiB each), so a
# sample after it would flatter the server. That one is printed as "idle".
end_rss=""
n=${#series[@]}
end_t=0
if [ "$n" -gt 0 ]; then
  end_rss=${series[$((n - 1))]}
  end_t=${times[$((n - 1))]}
fi
idle_rss="" hwm=""
if [ "$server_died" -eq 0 ]; then
  idle_rss=$(rss_kb "$server_pid")
  hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status" 2>/dev/null || true)
  [ -n "$idle_rss" ] || server_died=1
fi

cat "$tmp/bench.out"
echo
echo "server RSS (kB), every ${SAMPLE_S} s of the load:"
for ((i = 0; i < ${#series[@]}; i++)); do
  printf '  %5d s  %7d\n' "${times[$i]}" "${series[$i]}"
done
if [ -n "$idle_rss" ]; then
  echo "  idle after the load: VmRSS $idle_rss kB, VmHWM $hwm kB"
fi

fail=0
if [ "$server_died" -eq 1 ]; then
  echo "soak.sh: FAIL: ringfenced died during the soak; its log:"
  tail -n 50 "$tmp/server.log"
  wait "$server_pid" 2>/dev/null || echo "soak.sh: its exit status: $?"
  server_pid=""
  fail=1
fi
if [ "$bench_rc" -eq 2 ]; then
  echo "soak.sh: FAIL: bench-checkin could not run:"
  tail -n 5 "$tmp/bench.err"
  fail=1
elif [ "$bench_rc" -ne 0 ]; then
  echo "soak.sh: FAIL: requests failed (bench-checkin exit $bench_rc; the errors line above)"
  fail=1
fi

# The median of the samples taken in [FROM, TO) seconds; empty when none.
median_of() { # FROM TO
  local i vals=()
  for ((i = 0; i < ${#series[@]}; i++)); do
    if [ "${times[$i]}" -ge "$1" ] && [ "${times[$i]}" -lt "$2" ]; then vals+=("${series[$i]}"); fi
  done
  [ ${#vals[@]} -gt 0 ] || return 0
  printf '%s\n' "${vals[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

if [ "$server_died" -eq 0 ]; then
  mark_rss=$(median_of "$mark" $((mark + window)))
  end_rss=$(median_of $((end_t - window + 1)) $((end_t + 1)))
  if [ -z "$mark_rss" ] || [ -z "$end_rss" ] || [ $((mark + window)) -gt $((end_t - window + 1)) ]; then
    echo "soak.sh: FAIL: the load ended before $((mark + 2 * window)) s; no memory verdict"
    fail=1
  else
    limit=$((mark_rss + mark_rss * GROWTH_PCT / 100))
    growth=$(awk -v a="$mark_rss" -v b="$end_rss" 'BEGIN { printf "%+.1f", (b - a) * 100 / a }')
    what="median RSS $mark_rss kB over ${mark}..$((mark + window)) s, $end_rss kB over the last ${window} s"
    if [ "$end_rss" -gt "$limit" ]; then
      echo "soak.sh: FAIL: $what (${growth}%, more than ${GROWTH_PCT}%)"
      fail=1
    else
      echo "soak.sh: $what (${growth}%, limit +${GROWTH_PCT}%)"
    fi
  fi
fi

if [ -n "$server_pid" ]; then
  pid=$server_pid
  server_pid=""
  stop_child "$pid" ringfenced || fail=1
fi
if [ -s "$tmp/server.log" ]; then
  echo "soak.sh: the server logged (--quiet: errors only):"
  tail -n 20 "$tmp/server.log"
fi
if [ "$fail" -eq 0 ]; then
  echo "soak.sh: PASS ($minutes min, $HOSTS hosts, $RATE check-ins/s)"
fi
exit "$fail"
