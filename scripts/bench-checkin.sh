#!/usr/bin/env bash
# bench-checkin.sh — measure ringfenced's check-in path on this machine: a
# fresh database in a temporary directory (SQLite, or with --pg a throwaway
# PostgreSQL from scripts/pg-test.sh), one `ringfenced serve --quiet` on a
# free loopback port, bench-checkin against it, then the server's own view:
# its /metrics latency histogram and its memory (VmHWM, VmRSS). Everything
# it started is stopped and removed on exit, whatever the exit.
#
#   scripts/bench-checkin.sh BUILD_DIR [--pg] [--rollout] [--hosts N]
#                            [--duration S] [--concurrency C]
#
# --rollout measures check-ins while a rollout is progressing: the hosts are
# enrolled first, then a release (examples/channel-291 v4) is uploaded,
# validated by the server, approved and published through a TUF repository
# made for the run, and rolled out with the default plan, whose first GA wave
# bakes for 15 minutes; during the load every check-in feeds the rollout's
# gates (the hosts report per-event CPU and detections) and the hosts of the
# open wave take the release.
#
# Defaults: 100,000 hosts, 30 s, 64 check-ins in flight. The figures are
# printed, never judged: exit 0 when every request succeeded, 1 when some
# failed or the server did not stop cleanly, 2 for usage and setup errors.
# Every wait is bounded.
set -euo pipefail

here=$(cd -- "$(dirname -- "$0")" && pwd)
me=bench-checkin.sh
# shellcheck source=scripts/server-lib.sh
. "$here/server-lib.sh"

usage() {
  echo "usage: scripts/bench-checkin.sh BUILD_DIR [--pg] [--rollout] [--hosts N] [--duration S] [--concurrency C]" >&2
  exit 2
}

[ $# -ge 1 ] || usage
build=$1
shift
pg=0 rollout=0 hosts=100000 duration=30 concurrency=64
while [ $# -gt 0 ]; do
  case "$1" in
  --pg) pg=1 ;;
  --rollout) rollout=1 ;;
  --hosts) [ $# -ge 2 ] || usage; hosts=$2; shift ;;
  --duration) [ $# -ge 2 ] || usage; duration=$2; shift ;;
  --concurrency) [ $# -ge 2 ] || usage; concurrency=$2; shift ;;
  *) usage ;;
  esac
  shift
done
for v in "$hosts" "$duration" "$concurrency"; do
  case "$v" in '' | *[!0-9]*) usage ;; esac
done

server_bin=$build/bin/ringfenced
bench_bin=""
for c in "$build/bin/bench-checkin" "$build/bench-checkin"; do
  if [ -x "$c" ]; then bench_bin=$c; break; fi
done
if [ ! -x "$server_bin" ]; then
  echo "bench-checkin.sh: $server_bin not found (build first: cmake --build $build)" >&2
  exit 2
fi
if [ -z "$bench_bin" ]; then
  echo "bench-checkin.sh: bench-checkin not found in $build/bin or $build" >&2
  exit 2
fi

tmp=$(mktemp -d /tmp/ringfence-bench.XXXXXX)
server_pid=""
pg_dir=""

# Stop the server (server-lib.sh's stop_child); 0 when it exited cleanly.
stop_server() {
  [ -n "$server_pid" ] || return 0
  local pid=$server_pid
  server_pid=""
  stop_child "$pid" ringfenced
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  stop_server || true
  if [ -n "$pg_dir" ]; then
    "$here/pg-test.sh" stop "$pg_dir" >/dev/null 2>&1 || true
  fi
  if [ -n "${BENCH_KEEP:-}" ]; then echo "bench-checkin.sh: kept $tmp" >&2; else rm -rf -- "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# Start `ringfenced serve` on a free port and wait (at most 30 s) for
# /healthz. Sets server_pid and port.
start_server() {
  local try i
  for ((try = 0; try < 3; try++)); do
    port=$(free_port) || break
    "$server_bin" serve --db "$db" --listen "127.0.0.1:$port" --quiet "${serve_extra[@]}" \
      >"$tmp/server.log" 2>&1 &
    server_pid=$!
    for ((i = 0; i < 300; i++)); do
      if ! kill -0 "$server_pid" 2>/dev/null; then
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
        break
      fi
      if http_get "$port" /healthz >/dev/null 2>&1; then
        return 0
      fi
      sleep 0.1
    done
    if [ -n "$server_pid" ]; then
      echo "bench-checkin.sh: ringfenced did not answer /healthz within 30 s" >&2
      cat "$tmp/server.log" >&2
      return 1
    fi
  done
  echo "bench-checkin.sh: ringfenced did not start; its log:" >&2
  cat "$tmp/server.log" >&2
  return 1
}

# The server's request latency histogram from /metrics, as a table.
print_metrics() {
  local m
  if ! m=$(http_get "$port" /metrics); then
    echo "bench-checkin.sh: GET /metrics failed" >&2
    return 1
  fi
  echo "server /metrics (every request since start, enrollment included):"
  printf '%s\n' "$m" | awk '
    /^ringfenced_request_duration_seconds_bucket/ {
      match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
      n++; les[n] = le; cum[n] = $2
    }
    /^ringfenced_request_duration_seconds_count/ { total = $2 }
    /^ringfenced_request_duration_seconds_sum/ { sum = $2 }
    /^ringfenced_(checkins|enrollments|reports_logged|reports_dropped)_total / ||
    /^ringfenced_requests_total/ || /^ringfenced_hosts / { print "  " $0 }
    END {
      if (total == 0) { print "  (no requests)"; exit }
      printf "  request latency: %d requests, mean %.3f ms\n", total, sum * 1000 / total
      prev = 0
      for (i = 1; i <= n; i++) {
        lab = les[i] == "+Inf" ? "    +Inf" : sprintf("%8.2f", les[i] * 1000)
        printf "    le %s ms  %10d  %6.2f%%  (cumulative %7.3f%%)\n", lab, cum[i] - prev,
               (cum[i] - prev) * 100 / total, cum[i] * 100 / total
        prev = cum[i]
      }
    }'
}

if [ "$pg" -eq 1 ]; then
  pg_dir=$tmp/pg
  mkdir -p -- "$pg_dir"
  pg_port=$(free_port) || { echo "bench-checkin.sh: no free port for PostgreSQL" >&2; exit 2; }
  if ! db=$("$here/pg-test.sh" start "$pg_dir" "$pg_port"); then
    echo "bench-checkin.sh: could not start PostgreSQL (scripts/pg-test.sh)" >&2
    exit 2
  fi
  db=$(printf '%s\n' "$db" | tail -n 1)
else
  db=$tmp/ringfence.db
fi

if ! "$server_bin" init --db "$db" >"$tmp/init.out" 2>"$tmp/init.err"; then
  echo "bench-checkin.sh: ringfenced init failed:" >&2
  cat "$tmp/init.err" >&2
  exit 2
fi
token=$(head -n 1 "$tmp/init.out")

serve_extra=()
if [ "$rollout" -eq 1 ]; then
  # Keys and a TUF repository for the run (docs/trust.md), all online here.
  rf=$(cd -- "$build" && pwd)/bin/ringfence
  src=$here/../examples/channel-291
  (
    cd "$tmp"
    for k in root release snapshot timestamp; do "$rf" keys gen --type ed25519 -o "$k"; done
    "$rf" repo init repo --root-key root.pub --targets-key release.pub \
      --snapshot-key snapshot.pub --timestamp-key timestamp.pub
    "$rf" repo sign repo --role root --key root
    "$rf" repo sign repo --role targets --key release
    "$rf" repo snapshot repo --key snapshot
    "$rf" repo timestamp repo --key timestamp
    "$rf" repo publish repo repo/public
    "$rf" -C "$src" compile "$src/channels/c291-v4.yaml" -o v4.rfc
  ) >"$tmp/setup.log" 2>&1 || { echo "bench-checkin.sh: TUF setup failed:" >&2; cat "$tmp/setup.log" >&2; exit 2; }
  serve_extra=(--repo "$tmp/repo" --targets-key "$tmp/release" --snapshot-key "$tmp/snapshot"
               --timestamp-key "$tmp/timestamp")
fi

port=""
start_server || exit 2
backend=SQLite
[ "$pg" -eq 1 ] && backend=PostgreSQL
echo "bench-checkin.sh: ringfenced pid $server_pid on 127.0.0.1:$port, $backend ($db)," \
  "$(nproc) cores" >&2
echo "bench-checkin.sh: $bench_bin --hosts $hosts --duration $duration --concurrency $concurrency" >&2

state=()
if [ "$rollout" -eq 1 ]; then
  # Enroll first (the rollout's fleet is the hosts enrolled when it starts).
  echo "bench-checkin.sh: enrolling $hosts hosts before the rollout" >&2
  "$bench_bin" --url "http://127.0.0.1:$port" --admin-token "$token" --hosts "$hosts" \
    --duration 1 --concurrency "$concurrency" --state "$tmp/hosts.state" >/dev/null ||
    { echo "bench-checkin.sh: enrollment failed" >&2; exit 2; }
  state=(--state "$tmp/hosts.state")
  python3 - "$port" "$token" "$tmp" "$src" <<'PYEOF' || { echo "bench-checkin.sh: starting the rollout failed" >&2; exit 2; }
import base64, glob, json, sys, urllib.request
port, admin, tmp, src = sys.argv[1:5]
op = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def call(method, path, tok, body=None):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Authorization", "Bearer " + tok)
    req.add_header("Content-Type", "application/json")
    with op.open(req, timeout=120) as r:
        return json.loads(r.read())
tok = {r: call("POST", "/v1/tokens", admin, {"role": r, "name": "bench-" + r})["token"]
       for r in ("author", "approver", "operator")}
body = {"channel_file": base64.b64encode(open(tmp + "/v4.rfc", "rb").read()).decode(),
        "types": [open(f).read() for f in sorted(glob.glob(src + "/types/*.yaml"))],
        "sensors": [open(f).read() for f in sorted(glob.glob(src + "/sensors/*.yaml"))]}
rel = call("POST", "/v1/releases", tok["author"], body)["id"]
call("POST", "/v1/releases/%d/approve" % rel, tok["approver"])
ro = call("POST", "/v1/rollouts", tok["operator"], {"release": rel})
open(tmp + "/rollout", "w").write("%d %s\n" % (ro["id"], tok["operator"]))
sys.stderr.write("bench-checkin.sh: rollout %d of release %d started over %d hosts\n"
                 % (ro["id"], rel, ro["hosts"]["fleet"]))
PYEOF
fi

bench_rc=0
"$bench_bin" --url "http://127.0.0.1:$port" --admin-token "$token" --hosts "$hosts" \
  --duration "$duration" --concurrency "$concurrency" "${state[@]}" || bench_rc=$?

if [ "$rollout" -eq 1 ] && [ -s "$tmp/rollout" ]; then
  read -r roid optok <"$tmp/rollout"
  python3 - "$port" "$roid" "$optok" <<'PYEOF' || true
import json, sys, urllib.request
port, roid, tok = sys.argv[1:4]
req = urllib.request.Request("http://127.0.0.1:%s/v1/rollouts/%s" % (port, roid))
req.add_header("Authorization", "Bearer " + tok)
r = json.loads(urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=30).read())
w = [x for x in r["waves"] if x["current"]][0]
print("rollout %s after the load: state %s, wave %s open, %d hosts took it, %d reports in it, "
      "%d decisions" % (roid, r["state"], w["name"], r["hosts"]["took"], w["reports"],
                        len(r["decisions"])))
for d in r["decisions"]:
    print("  %s %s: %s" % (d["action"], d["wave"], d["reason"]))
PYEOF
fi

echo
server_alive=1
if ! kill -0 "$server_pid" 2>/dev/null; then
  server_alive=0
  echo "bench-checkin.sh: ringfenced died during the run; its log:" >&2
  tail -n 50 "$tmp/server.log" >&2
  wait "$server_pid" 2>/dev/null || echo "bench-checkin.sh: exit status $?" >&2
  server_pid=""
fi
if [ "$server_alive" -eq 1 ]; then
  print_metrics || true
  echo "server memory (/proc/$server_pid/status):"
  grep -E '^(VmHWM|VmRSS):' "/proc/$server_pid/status" | sed 's/^/  /'
fi

stopped_ok=1
stop_server || stopped_ok=0
if [ -s "$tmp/server.log" ]; then
  echo "bench-checkin.sh: the server logged (--quiet: errors only):" >&2
  tail -n 20 "$tmp/server.log" >&2
fi

if [ "$bench_rc" -ne 0 ]; then
  exit "$bench_rc"
fi
if [ "$server_alive" -eq 0 ] || [ "$stopped_ok" -eq 0 ]; then
  exit 1
fi
exit 0
