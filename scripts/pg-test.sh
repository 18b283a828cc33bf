#!/usr/bin/env bash
# pg-test.sh — a throwaway PostgreSQL server for the tests that need one
# (the store's PostgreSQL suite, later the server's). Nothing of the
# machine's own clusters is touched: the data lives in DIR, the server
# listens on 127.0.0.1 only, with trust authentication on loopback, and its
# Unix socket (when the path is short enough for one) inside DIR.
#
#   scripts/pg-test.sh start DIR PORT   initdb into DIR (anew), start the
#                                       server on PORT, or on one of the next
#                                       nine ports if PORT is taken; print
#                                       the URL on stdout and also write it
#                                       to DIR/url
#   scripts/pg-test.sh stop DIR         stop it (a no-op when not running)
#
# PostgreSQL refuses to run as root, so under root initdb and the server run
# as the `postgres` user (else `nobody`), who owns the data directory. When
# that user cannot reach DIR (a private home, say), the server's files go
# to a temporary directory instead (its data directory named in
# DIR/datadir; removed by stop). Every wait is bounded (pg_ctl -w -t 30).
# Durability is turned off: the data is thrown away after the run.
set -euo pipefail

PGBIN=${PGBIN:-}
if [ -z "$PGBIN" ]; then
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && PGBIN=$d
  done
fi
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/pg_ctl" ]; then
  echo "pg-test.sh: PostgreSQL server binaries not found (install postgresql)" >&2
  exit 2
fi

usage() {
  echo "usage: pg-test.sh start DIR PORT | stop DIR" >&2
  exit 2
}

# The OS user the server runs as, and how to run a command as that user.
if [ "$(id -u)" -eq 0 ]; then
  if id -u postgres >/dev/null 2>&1; then PGUSER_OS=postgres; else PGUSER_OS=nobody; fi
  as_pg() { runuser -u "$PGUSER_OS" -- "$@"; }
else
  PGUSER_OS=$(id -un)
  as_pg() { "$@"; }
fi

datadir_of() { # DIR -> the data directory of the server started in DIR
  if [ -f "$1/datadir" ]; then cat "$1/datadir"; else echo "$1/data"; fi
}

stop_server() { # DIR
  local data
  data=$(datadir_of "$1")
  if [ -f "$data/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      as_pg "$PGBIN/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  if [ -f "$1/datadir" ]; then
    case "$data" in
    /tmp/ringfence-pg.*/data) rm -rf -- "$(dirname -- "$data")" ;;
    esac
    rm -f -- "$1/datadir"
  fi
}

port_busy() { # PORT -> 0 when something listens on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

cmd=${1:-}
case "$cmd" in
start)
  [ $# -eq 3 ] || usage
  dir=$2
  port=$3
  case "$port" in '' | *[!0-9]*) usage ;; esac
  mkdir -p -- "$dir"
  dir=$(cd -- "$dir" && pwd)
  stop_server "$dir" # a server left over by an interrupted run
  rm -rf -- "$dir/data" "$dir/sock" "$dir/url" "$dir/log"

  # base: where the server's own files go (data, log, socket), written by
  # the server's user; DIR itself when that user can write there.
  base=$dir
  if [ "$(id -u)" -eq 0 ]; then
    chown "$PGUSER_OS" "$dir"
    if ! as_pg test -w "$dir"; then
      base=$(mktemp -d /tmp/ringfence-pg.XXXXXX)
      chown "$PGUSER_OS" "$base"
      echo "$base/data" >"$dir/datadir"
    fi
  fi
  data="$base/data"
  logf="$base/log"
  # A Unix socket path is limited to 107 bytes; without one the server is
  # still reached over TCP, which is all the tests use.
  sockdir="$base/sock"
  if [ ${#sockdir} -gt 80 ]; then
    sockdir=""
  else
    as_pg mkdir -p -- "$sockdir"
  fi

  if ! as_pg "$PGBIN/initdb" -D "$data" -U "$PGUSER_OS" --auth=trust -E UTF8 \
      --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
    echo "pg-test.sh: initdb failed; see $dir/initdb.log" >&2
    exit 1
  fi
  as_pg tee -a "$data/postgresql.conf" >/dev/null <<CONF
# pg-test.sh: a throwaway test server
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sockdir'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF

  started=""
  for try in 0 1 2 3 4 5 6 7 8 9; do
    p=$((port + try))
    if port_busy "$p"; then
      continue
    fi
    as_pg rm -f -- "$logf"
    if as_pg "$PGBIN/pg_ctl" -D "$data" -l "$logf" -o "-p $p" -w -t 30 start \
        >/dev/null 2>&1; then
      started=$p
      break
    fi
    # Taken between the probe and the bind: try the next port. Anything
    # else is a real failure.
    if ! grep -q "could not bind\|Address already in use\|could not create any TCP/IP sockets" \
        "$logf" 2>/dev/null; then
      echo "pg-test.sh: the server did not start; see $logf" >&2
      exit 1
    fi
  done
  if [ -z "$started" ]; then
    echo "pg-test.sh: ports $port..$((port + 9)) are all taken" >&2
    exit 1
  fi
  url="postgresql://$PGUSER_OS@127.0.0.1:$started/postgres"
  echo "$url" >"$dir/url"
  echo "$url"
  ;;
stop)
  [ $# -eq 2 ] || usage
  [ -d "$2" ] || exit 0
  stop_server "$(cd -- "$2" && pwd)"
  rm -f -- "$2/url"
  ;;
*)
  usage
  ;;
esac
