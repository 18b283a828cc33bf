#!/usr/bin/env bash
# false-halts.sh — how often the gates halt a good release: run the `good`
# scenario with ringfence over N seeds (default 100) on a generated fleet of
# HOSTS customer hosts (default 200,000) and count the halts, by signal.
# A good rollout completes in under two hours, and the gates decide nothing
# after completion, so each run simulates 4 hours.
#
#   examples/july19-sim/false-halts.sh build/bin/ringfence [N] [HOSTS] [extra sim options...]
set -eu
RF=${1:?usage: false-halts.sh RINGFENCE_BINARY_OR_BIN_DIR [N] [HOSTS] [sim options...]}
[ -d "$RF" ] && RF=$RF/ringfence
N=${2:-100}
HOSTS=${3:-200000}
shift $(( $# < 3 ? $# : 3 ))
PY=/usr/bin/python3
out=$(mktemp -d "${TMPDIR:-/tmp}/rf-false-halts.XXXXXX")
trap 'rm -rf "$out"' EXIT
for seed in $(seq 1 "$N"); do
  "$RF" sim --scenario good --hosts "$HOSTS" --duration 4h --seed "$seed" --json "$@" \
    >"$out/$seed.json"
done
"$PY" - "$out" "$N" "$HOSTS" <<'PYEOF'
import json, os, sys
d, n, hosts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
halts, by_signal, reach = [], {}, []
for seed in range(1, n + 1):
    r = json.load(open(os.path.join(d, "%d.json" % seed)))
    h = [x for x in r["decisions"] if x["action"] == "halt"]
    if h:
        halts.append((seed, h[0]["t_s"], h[0]["wave_name"], h[0]["evidence"]["signal"]))
        by_signal[h[0]["evidence"]["signal"]] = by_signal.get(h[0]["evidence"]["signal"], 0) + 1
    elif r["good_content"]["reach_nodelay_s"]["99"] is not None:
        reach.append(r["good_content"]["reach_nodelay_s"]["99"])
print("good release, ringfence, %d customer hosts, seeds 1..%d" % (hosts, n))
print("false halts: %d of %d%s" % (len(halts), n,
      "" if not halts else " (" + ", ".join("%s %d" % kv for kv in sorted(by_signal.items())) + ")"))
for seed, t, wave, sig in halts:
    print("  seed %3d: halted at %5d s in %-14s by %s" % (seed, t, wave, sig))
if reach:
    reach.sort()
    print("runs without a halt: 99%% of non-delayed eligible hosts updated in %d..%d s (median %d)"
          % (reach[0], reach[-1], reach[len(reach) // 2]))
PYEOF
