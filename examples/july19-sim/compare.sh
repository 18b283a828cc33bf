#!/usr/bin/env bash
# compare.sh — the 19 July replay at full scale: the fleet of
# examples/fleets/july19.yaml (8,500,000 hosts, 60% of customer hosts on the
# sensor build that supplies 20 inputs), the july19 release (needs 21, claims
# every build can run it), 24 simulated hours, once shipped the way it was
# shipped (push-all) and once with ringfence (default plan, gates, boot
# guard). Prints the two outcomes side by side.
#
#   examples/july19-sim/compare.sh BUILD_BIN [OUT_DIR]
#
# BUILD_BIN is the ringfence binary or the directory holding it (build/bin).
# With OUT_DIR, each run's timeline.csv and chart.svg are kept in
# OUT_DIR/push-all and OUT_DIR/ringfence. Exit 0 when both runs completed.
set -eu
usage() { echo "usage: compare.sh BUILD_BIN [OUT_DIR]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
RF=$1
[ -d "$RF" ] && RF=$RF/ringfence
[ -x "$RF" ] || { echo "compare.sh: $RF is not an executable ringfence" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
FLEET=$HERE/../fleets/july19.yaml
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
[ -r "$FLEET" ] || { echo "compare.sh: $FLEET not found" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rf-july19.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
OUT=${2:-$TMP}
mkdir -p "$OUT"

for st in push-all ringfence; do
  start=$(date +%s.%N)
  "$RF" sim --fleet "$FLEET" --scenario july19 --strategy "$st" --seed 1 --json \
    --out "$OUT/$st" >"$TMP/$st.json"
  end=$(date +%s.%N)
  echo "$start $end" >"$TMP/$st.wall"
done

"$PY" - "$TMP" "$OUT" <<'PYEOF'
import csv, json, os, sys
tmp, out = sys.argv[1], sys.argv[2]
runs = {}
for st in ("push-all", "ringfence"):
    d = json.load(open(os.path.join(tmp, st + ".json")))
    rows = list(csv.DictReader(open(os.path.join(out, st, "timeline.csv"))))
    d["_crashed_78"] = int(rows[min(77, len(rows) - 1)]["customer_crashed"])
    a, b = open(os.path.join(tmp, st + ".wall")).read().split()
    d["_wall"] = float(b) - float(a)
    runs[st] = d

def n(v):
    return "-" if v is None else "{:,}".format(v)

def t(s):
    if s is None:
        return "-"
    return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)

def both(f):
    return [f(runs["push-all"]), f(runs["ringfence"])]

p = runs["push-all"]
print("19 July replay: %s hosts (%s checking in), %s tenants, %d h simulated, seed %d"
      % (n(p["hosts"]), n(p["customer"]["hosts"] + p["internal"]["hosts"]), n(p["tenants"]),
         p["duration_s"] // 3600, p["seed"]))
print("release needs %d inputs; %s customer hosts run a sensor build that supplies fewer"
      % (p["inputs_required"], n(p["customer"]["affected"])))
print()
rows = [
    ("customer hosts exposed", both(lambda d: n(d["customer"]["exposed"]))),
    ("customer hosts crashed", both(lambda d: n(d["customer"]["crashed"]))),
    ("  of them within 78 minutes", both(lambda d: n(d["_crashed_78"]))),
    ("  99% of them crashed by", both(lambda d: t(d["customer_crash_reach_s"]["99"]))),
    ("customer down-hours", both(lambda d: "{:,.0f}".format(d["customer"]["down_hours"]))),
    ("recovered automatically", both(lambda d: n(d["customer"]["recovered_automatically"]))),
    ("customer hosts needing a person", both(lambda d: n(d["customer"]["needing_person"]))),
    ("internal hosts exposed", both(lambda d: n(d["internal"]["exposed"]))),
    ("internal hosts crashed", both(lambda d: n(d["internal"]["crashed"]))),
    ("internal hosts needing a person", both(lambda d: n(d["internal"]["needing_person"]))),
    ("first crash", both(lambda d: t(d["first_crash_s"]))),
    ("halted", both(lambda d: t(d["halt_s"]))),
    ("  first crash to halt", both(lambda d: t(d["crash_to_halt_s"]))),
    ("halting gate", both(lambda d: next((x["evidence"]["signal"] for x in d["decisions"]
                                          if x["action"] == "halt"), "-"))),
    ("hosts on good content again, 99%", both(lambda d: t(d["good_content"]["reach_s"]["99"])
                                               if d["halt_s"] is not None else "-")),
    ("wall seconds", both(lambda d: "%.1f" % d["_wall"])),
]
w = max(len(r[0]) for r in rows)
print("%-*s %16s %16s" % (w, "", "push-all", "ringfence"))
for label, (a, b) in rows:
    print("%-*s %16s %16s" % (w, label, a, b))
for d in (runs["ringfence"],):
    for x in d["decisions"]:
        if x["action"] == "halt":
            print()
            print("ringfence halted at %s in wave %s: %s" % (t(x["t_s"]), x["wave_name"], x["reason"]))
PYEOF
if [ $# -eq 2 ]; then
  echo
  for st in push-all ringfence; do
    if [ -f "$OUT/$st/chart.svg" ]; then echo "chart: $OUT/$st/chart.svg"; fi
  done
fi
