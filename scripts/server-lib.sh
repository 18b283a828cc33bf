# server-lib.sh — shell helpers that scripts/bench-checkin.sh and
# scripts/soak.sh share: stopping a child process, a GET on loopback and a
# free loopback port. Sourced, not run; the caller sets `me` (its name, for
# messages).

# Stop a child: SIGTERM, at most 30 s to exit, then SIGKILL. Returns 0 when
# it exited by itself with status 0.
stop_child() { # PID NAME
  local pid=$1 rc=0 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$me: $2 (pid $pid) did not stop 30 s after SIGTERM; killed" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 1
  fi
  wait "$pid" 2>/dev/null || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "$me: $2 exited with status $rc after SIGTERM" >&2
    return 1
  fi
  return 0
}

# GET http://127.0.0.1:PORT/PATH to stdout, at most 5 s, no proxy.
http_get() { # PORT PATH
  if command -v curl >/dev/null 2>&1; then
    curl -sf --noproxy '*' --max-time 5 "http://127.0.0.1:$1$2"
  else
    python3 - "$1" "$2" <<'PYEOF'
import sys, urllib.request
o = urllib.request.build_opener(urllib.request.ProxyHandler({}))
sys.stdout.write(o.open("http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2]), timeout=5).read().decode())
PYEOF
  fi
}

# A loopback port nothing listens on (a server may still lose it to a race:
# callers try again).
free_port() {
  local p i
  for ((i = 0; i < 50; i++)); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}
