#!/usr/bin/env bash
# sim.sh — `ringfence sim` at small scale (20,000 customer hosts, two
# simulated hours): the 19 July replay with push-all and with ringfence as
# JSON (fields checked with python3), determinism by seed, the text summary,
# --out (timeline.csv, marks.csv, chart.gp, chart.svg; the CSV alone and a
# warning without gnuplot), --bench, and bad inputs with their exit codes.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
SMALL=(--hosts 20000 --tenants 40 --duration 2h)

# jcheck FILE EXPR: a Python expression over the JSON object d must be true.
jcheck() {
  CHECKS=$((CHECKS + 1))
  "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
    "$1" "$2" || fail "JSON check failed: $2"
}

# ---- the 19 July replay ----------------------------------------------------------

expect_exit 0 "$RF" sim --scenario july19 --strategy push-all "${SMALL[@]}" --json
printf '%s\n' "$OUT" >"$WORK/push.json"
check "push-all --json is valid JSON" json_valid "$WORK/push.json"
expect_out_lines 1 '.'
J=$WORK/push.json
jcheck "$J" 'd["scenario"] == "july19" and d["strategy"] == "push-all"'
jcheck "$J" 'd["gates"] is False and d["boot_guard"] is False and d["seed"] == 1'
jcheck "$J" 'd["hosts"] == d["customer"]["hosts"] + d["internal"]["hosts"] + d["offline"]'
jcheck "$J" 'd["inputs_required"] == 21'
jcheck "$J" 'd["customer"]["affected"] > 0'
jcheck "$J" 'd["customer"]["crashed"] >= 0.98 * d["customer"]["affected"]'
jcheck "$J" 'd["customer"]["crashed"] <= d["customer"]["affected"]'
jcheck "$J" 'd["customer"]["needing_person"] == d["customer"]["crashed"]'
jcheck "$J" 'd["customer"]["recovered_automatically"] == 0'
jcheck "$J" 'd["customer"]["down_hours"] > d["customer"]["crashed"]'
jcheck "$J" 'd["customer_crash_reach_s"]["99"] <= 78 * 60'
jcheck "$J" 'd["halt_s"] is None and d["decisions"] == [] and d["steps"] == 0'
jcheck "$J" 'len(d["waves"]) == 1 and d["waves"][0]["opened_s"] == 0'

expect_exit 0 "$RF" sim --scenario july19 "${SMALL[@]}" --json
printf '%s\n' "$OUT" >"$WORK/ring.json"
check "ringfence --json is valid JSON" json_valid "$WORK/ring.json"
J=$WORK/ring.json
jcheck "$J" 'd["strategy"] == "ringfence" and d["gates"] and d["boot_guard"]'
jcheck "$J" 'd["plan"] == "default" and d["checkin_interval_s"] == 300 and d["silence_grace_s"] == 90'
jcheck "$J" 'd["halt_s"] is not None and d["halt_acted_on"] is True'
jcheck "$J" 'd["crash_to_halt_s"] is not None and d["crash_to_halt_s"] <= 900'
jcheck "$J" 'd["customer"]["exposed"] == 0 and d["customer"]["needing_person"] == 0'
jcheck "$J" 'd["internal"]["crashed"] > 0 and d["internal"]["needing_person"] == 0'
jcheck "$J" 'd["internal"]["recovered_automatically"] == d["internal"]["crashed"]'
jcheck "$J" 'd["good_content"]["what"] == "rollback" and d["good_content"]["from"] == "halt"'
jcheck "$J" 'd["good_content"]["reach_s"]["99"] is not None'
jcheck "$J" '[x["action"] for x in d["decisions"]] == ["halt"]'
jcheck "$J" 'd["decisions"][0]["evidence"]["signal"] in ("silence", "reverts")'
jcheck "$J" 'd["decisions"][0]["evidence"]["statistic"] >= d["decisions"][0]["evidence"]["threshold"] or d["decisions"][0]["evidence"]["treated_events"] > 0'
jcheck "$J" 'd["decisions"][0]["wave_name"] == "internal-10%" and d["decisions"][0]["reason"] != ""'
jcheck "$J" 'd["waves"][0]["name"] == "internal-10%" and d["waves"][1]["opened_s"] is None'

# Without the boot guard, the internal hosts that crashed need a person.
expect_exit 0 "$RF" sim --scenario july19 "${SMALL[@]}" --no-boot-guard --json
printf '%s\n' "$OUT" >"$WORK/nobg.json"
jcheck "$WORK/nobg.json" 'd["boot_guard"] is False and d["internal"]["needing_person"] == d["internal"]["crashed"] > 0'
jcheck "$WORK/nobg.json" 'd["internal"]["recovered_automatically"] == 0'

# ---- determinism ------------------------------------------------------------------------

expect_exit 0 "$RF" sim --scenario july19 "${SMALL[@]}" --json --seed 1
printf '%s\n' "$OUT" >"$WORK/seed1.json"
check "the same seed gives the same JSON" cmp -s "$WORK/ring.json" "$WORK/seed1.json"
expect_exit 0 "$RF" sim --scenario july19 "${SMALL[@]}" --json --seed 2
printf '%s\n' "$OUT" >"$WORK/seed2.json"
check "another seed gives another run" not cmp -s "$WORK/ring.json" "$WORK/seed2.json"
jcheck "$WORK/seed2.json" 'd["seed"] == 2'

# ---- the text summary and --bench -------------------------------------------------

expect_exit 0 "$RF" sim --scenario july19 "${SMALL[@]}" --bench
expect_out_re '^simulation: scenario july19, strategy ringfence \(gates on, boot guard on\), seed 1$'
expect_out_re '^  exposed \(took it\) +0 +[1-9][0-9,]*$'
expect_out_re '^  needing a person +0 +0$'
expect_out_re '^first exposure [0-9]+:[0-9]{2}:[0-9]{2}, first crash [0-9:]+, halt [0-9:]+'
expect_out_re '^  [0-9]+:[0-9]{2}:[0-9]{2} halt +internal-10% '
expect_out_re '^bench: hosts [0-9]+$'
expect_out_re '^bench: simulated hours 2\.00$'
expect_out_re '^bench: events processed [1-9][0-9]*'
expect_out_re '^bench: wall seconds [0-9.]+$'
expect_out_re '^bench: events per second [0-9]+$'
expect_out_re '^bench: max RSS [0-9]+ MiB$'

# --bench with --json: stdout stays one JSON object, the figures go to stderr.
expect_exit 0 "$RF" sim --scenario good "${SMALL[@]}" --duration 10m --json --bench
printf '%s\n' "$OUT" >"$WORK/bench.json"
check "--json --bench keeps stdout JSON" json_valid "$WORK/bench.json"
expect_err_re '^bench: events per second [0-9]+$'

# ---- --out DIR ------------------------------------------------------------------------------

expect_exit 0 "$RF" sim --scenario july19 "${SMALL[@]}" --out "$WORK/out"
check "timeline.csv written" test -s "$WORK/out/timeline.csv"
check "marks.csv written" test -s "$WORK/out/marks.csv"
check "timeline.csv header" \
  grep -qx 'minute,exposed,customer_exposed,crashed,customer_crashed,down,recovered,needing_person,rolled_back,wave,halted' \
  "$WORK/out/timeline.csv"
check "one timeline row per simulated minute" test "$(grep -c '' "$WORK/out/timeline.csv")" -eq 121
check "the last row is minute 119" grep -qE '^119,' "$WORK/out/timeline.csv"
check "marks: the first wave at 0" grep -qx '0.000,internal-10%' "$WORK/out/marks.csv"
check "marks: the halt" grep -qE '^[0-9]+\.[0-9]{3},halt$' "$WORK/out/marks.csv"
check "chart.gp is scripts/sim-chart.gp" cmp -s "$WORK/out/chart.gp" "$RF_SOURCE_DIR/scripts/sim-chart.gp"
if command -v gnuplot >/dev/null 2>&1; then
  check "chart.svg written" test -s "$WORK/out/chart.svg"
  check "chart.svg is an SVG" grep -q '<svg' "$WORK/out/chart.svg"
  check "chart.svg is complete" grep -q '</svg>' "$WORK/out/chart.svg"
  expect_no_out_err() { CHECKS=$((CHECKS + 1)); [ ! -s "$WORK/.err" ] || fail "stderr should be empty"; }
  expect_no_out_err
else
  echo "sim.sh: gnuplot not installed; chart.svg not checked" >&2
fi

# Without gnuplot on PATH: the CSV, a warning, exit 0.
mkdir -p "$WORK/nobin"
expect_exit 0 env PATH="$WORK/nobin" "$RF" sim --scenario good "${SMALL[@]}" --duration 5m --out "$WORK/out2"
check "CSV written without gnuplot" test -s "$WORK/out2/timeline.csv"
check "no chart.svg without gnuplot" not test -e "$WORK/out2/chart.svg"
expect_err 'gnuplot not found'

expect_exit 0 "$RF" sim --chart-script
check "--chart-script prints scripts/sim-chart.gp" cmp -s "$WORK/.out" "$RF_SOURCE_DIR/scripts/sim-chart.gp"

# ---- bad inputs ---------------------------------------------------------------------------------

expect_exit 2 "$RF" sim --scenario july20 "${SMALL[@]}"
expect_one_line_error "unknown scenario 'july20'"
expect_exit 2 "$RF" sim --strategy yolo "${SMALL[@]}"
expect_one_line_error "unknown strategy"
expect_exit 2 "$RF" sim --hosts 0
expect_exit 2 "$RF" sim --hosts 12abc
expect_exit 2 "$RF" sim --hosts -5
expect_exit 2 "$RF" sim --tenants 0 --hosts 100
expect_exit 2 "$RF" sim --duration 0 --hosts 100
expect_exit 2 "$RF" sim --duration 1h30 --hosts 100
expect_exit 2 "$RF" sim --duration 32d --hosts 100
expect_exit 2 "$RF" sim --duration 5x --hosts 100
expect_exit 2 "$RF" sim --step 31 --hosts 100
expect_exit 2 "$RF" sim --step 5s --hosts 100
expect_exit 2 "$RF" sim --noise -1 --hosts 100
expect_exit 2 "$RF" sim --noise 0.02/week --hosts 100
expect_exit 2 "$RF" sim --sample 0 --hosts 100
expect_exit 2 "$RF" sim --confirm-checkin 400 --hosts 100 --duration 1h
expect_one_line_error 'confirmation check-in'
expect_exit 2 "$RF" sim --seed -1 --hosts 100
expect_exit 2 "$RF" sim --bogus
expect_exit 2 "$RF" sim --hosts
expect_exit 2 "$RF" sim extra --hosts 100
expect_exit 2 "$RF" sim --strategy push-all --no-gates --hosts 100
expect_exit 2 "$RF" sim --fleet "$WORK/missing.yaml"
expect_one_line_error 'missing.yaml'
expect_exit 2 "$RF" sim --fleet "$WORK" --duration 1h
expect_exit 2 "$RF" sim --plan "$WORK/missing.yaml" --hosts 100
expect_exit 2 "$RF" sim --fleet "$WORK/push.json" --hosts 100
printf 'fleet: [unclosed\n' >"$WORK/bad-fleet.yaml"
expect_exit 1 "$RF" sim --fleet "$WORK/bad-fleet.yaml" --duration 1h
expect_one_line_error 'bad-fleet.yaml'
printf 'waves: 7\n' >"$WORK/bad-plan.yaml"
expect_exit 1 "$RF" sim --plan "$WORK/bad-plan.yaml" --hosts 100 --duration 1h
expect_one_line_error 'bad-plan.yaml'
: >"$WORK/afile"
expect_exit 2 "$RF" sim --hosts 100 --duration 10m --out "$WORK/afile"
expect_exit 2 "$RF" sim --hosts 100 --duration 10m --out "$WORK/no/such/dir"

expect_exit 0 "$RF" sim --help
expect_out 'usage: ringfence sim'
expect_out 'push-all'
expect_exit 0 "$RF" help sim
expect_out 'usage: ringfence sim'

finish
