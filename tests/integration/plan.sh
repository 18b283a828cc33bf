#!/usr/bin/env bash
# plan.sh — `ringfence plan` on examples/fleets/small.yaml with channel 291
# compiled from examples/channel-291: the numbers printed (hosts per wave
# sum to the eligible hosts, exclusions match the fleet file, no customer
# host before the first gate with the default plan), --json, determinism,
# --plan/--emergency/--sensor-manifests, and the exit codes of bad input.
. "$(dirname "$0")/lib.sh"

FLEET=$RF_SOURCE_DIR/examples/fleets/small.yaml
PLAN=$RF_SOURCE_DIR/examples/plans/default.yaml
PY=/usr/bin/python3

expect_exit 0 "$RF" -C "$EX" compile "$EX/channels/c291-v4.yaml" -o "$WORK/v4.rfc"
expect_exit 0 "$RF" -C "$EX" compile "$EX/channels/c291-v5.yaml" -o "$WORK/v5.rfc"

# jcheck FILE PYTHON-EXPR...: each expression, over the JSON document `d`,
# must be true.
jcheck() {
  local f=$1
  shift
  local e
  for e in "$@"; do
    CHECKS=$((CHECKS + 1))
    "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$f" "$e" ||
      fail "JSON check failed: $e"
  done
}

# ---- v4 (every build can run it): text report -------------------------------
expect_exit 0 "$RF" plan --fleet "$FLEET" --release "$WORK/v4.rfc"
expect_out "ringfence plan: channel 291 content version 4 (needs 6 inputs), normal release"
expect_out "5000 hosts, 6 tenants, 2 sensor builds"
expect_out_re '^  excluded: paused \(tenant policy\) +500 '
expect_out_re '^  excluded: pinned \(tenant policy\) +800 '
expect_out_re '^  excluded: sensor build cannot run it +0 '
expect_out_re '\(100 offline in all\)'
expect_out_re '^  customer hosts that can take it before then +0$'
expect_out_re '^  citygov +pinned v4 +no +800 +0 +0 +800 +0 +0$'
expect_out_re '^  dataworks +paused +no +500 +0 +500 +0 +0 +0$'
expect_out_re '^  acme +mixed +yes +2000 '
expect_out_re '^  edu-west +ga\+2h +no +300 '
expect_out_lines 8 '^ +[1-8]  (internal|early|ga)-[0-9]+% '
text_v4=$OUT
# The hosts column of the wave table sums to the eligible hosts, and the
# last cumulative figure is that sum.
eligible=$(printf '%s\n' "$text_v4" | awk '$1 == "eligible" {print $2}')
wsum=$(printf '%s\n' "$text_v4" | awk '$1 ~ /^[1-8]$/ && $3 ~ /^(internal|early|ga)$/ {s += $6} END {print s}')
wlast=$(printf '%s\n' "$text_v4" | awk '$1 == "8" && $3 == "ga" {print $7}')
check "eligible hosts printed" [ -n "$eligible" ]
check "hosts per wave ($wsum) sum to the eligible hosts ($eligible)" [ "$wsum" = "$eligible" ]
check "last cumulative ($wlast) is the eligible hosts" [ "$wlast" = "$eligible" ]
# eligible + excluded = every host
total=$(printf '%s\n' "$text_v4" | awk '$1 == "excluded:" {for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) {s += $i; break}} END {print s}')
check "eligible + excluded = 5000 (got $eligible + $total)" [ $((eligible + total)) -eq 5000 ]

# ---- v4: JSON -------------------------------------------------------------------
run "$RF" plan --fleet "$FLEET" --release "$WORK/v4.rfc" --json
check "plan --json exits 0" [ "$RC" -eq 0 ]
printf '%s\n' "$OUT" >"$WORK/v4.json"
check "plan --json is JSON" json_valid "$WORK/v4.json"
jcheck "$WORK/v4.json" \
  'd["hosts"] == 5000 and d["fleet"]["hosts"] == 5000' \
  'd["release"]["channel"] == "291" and d["release"]["content_version"] == 4 and d["release"]["inputs_required"] == 6' \
  'sum(w["hosts"] for w in d["waves"]) == d["eligible"]' \
  'd["waves"][-1]["cumulative"] == d["eligible"]' \
  'd["eligible"] + d["excluded"]["total"] == 5000' \
  'd["excluded"] == {"paused": 500, "pinned": 800, "sensor": 0, "offline": d["excluded"]["offline"], "total": 1300 + d["excluded"]["offline"]}' \
  'd["fleet"]["offline_hosts"] == 100 and 0 < d["excluded"]["offline"] < 100' \
  'd["fleet"]["internal_hosts"] == 200 and d["fleet"]["customer_hosts"] == 4800' \
  'all(w["customer_hosts"] == 0 for w in d["waves"] if w["ring"] == "internal")' \
  'sum(w["hosts"] for w in d["waves"] if w["ring"] == "internal") == d["eligible"] - sum(w["customer_hosts"] for w in d["waves"])' \
  'd["blast_radius"]["customer_before_first_gate"] == 0' \
  'd["blast_radius"]["first_gate_s"] == 390' \
  'd["blast_radius"]["first_customer_wave"] == "early-10%"' \
  'd["blast_radius"]["customer_before_first_customer_bake"] == d["waves"][2]["customer_hosts"] > 0' \
  '[s["hosts"] for s in d["sensors"]] == [2500, 2500] and all(s["can_run"] for s in d["sensors"])' \
  '{t["name"]: t["hosts"] for t in d["tenants"]} == {"acme": 2000, "bluebank": 1200, "citygov": 800, "dataworks": 500, "edu-west": 300, "vendor": 200}' \
  '[t["name"] for t in d["tenants"]][:2] == ["acme", "bluebank"]' \
  'd["others"]["tenants"] == 0 and d["others"]["hosts"] == 0' \
  'sum(t["eligible"] for t in d["tenants"]) == d["eligible"]' \
  'd["time_to_eligible_s"]["p50"] <= d["time_to_eligible_s"]["p90"] <= d["time_to_eligible_s"]["p99"]' \
  'd["time_to_eligible_s"]["p99"] > 86400' \
  'd["complete_s"] == sum(w["lasts_s"] for w in d["waves"])'

# Same seed, same report; another seed, other hosts.
run "$RF" plan --fleet "$FLEET" --release "$WORK/v4.rfc" --json --seed 1
check "same seed, same JSON" [ "$OUT" = "$(cat "$WORK/v4.json")" ]
run "$RF" plan --fleet "$FLEET" --release "$WORK/v4.rfc" --json --seed 2
check "another seed, another JSON" [ "$OUT" != "$(cat "$WORK/v4.json")" ]
# The default plan written out gives the same report as the built-in one.
run "$RF" plan --fleet "$FLEET" --release "$WORK/v4.rfc" --json --plan "$PLAN"
printf '%s\n' "$OUT" >"$WORK/v4p.json"
jcheck "$WORK/v4p.json" \
  '(lambda a, b: [a.pop("plan"), b.pop("plan")] and a == b)(d, json.load(open(sys.argv[1].replace("v4p", "v4"))))'

# ---- v5 (needs 21 inputs; 7.11.18110 supplies 20) --------------------------------
run "$RF" plan --fleet "$FLEET" --release "$WORK/v5.rfc" --json
check "v5 plan exits 0" [ "$RC" -eq 0 ]
printf '%s\n' "$OUT" >"$WORK/v5.json"
jcheck "$WORK/v5.json" \
  'd["release"]["inputs_required"] == 21' \
  '[(s["version"], s["can_run"], s["eligible"]) for s in d["sensors"]][0] == ("7.11.18110", False, 0)' \
  'd["sensors"][1]["can_run"] and d["sensors"][1]["eligible"] == d["eligible"]' \
  'd["excluded"]["paused"] == 500 and d["excluded"]["pinned"] == 800' \
  'd["excluded"]["sensor"] > 1000' \
  'd["eligible"] + d["excluded"]["total"] == 5000' \
  'sum(w["hosts"] for w in d["waves"]) == d["eligible"]' \
  'd["blast_radius"]["customer_before_first_gate"] == 0'
# The workspace's manifests say the same about which builds can run it.
run "$RF" plan --fleet "$FLEET" --release "$WORK/v5.rfc" --json --sensor-manifests "$EX"
printf '%s\n' "$OUT" >"$WORK/v5m.json"
jcheck "$WORK/v5m.json" \
  '[s["can_run"] for s in d["sensors"]] == [False, True]' \
  'd["eligible"] == json.load(open(sys.argv[1].replace("v5m", "v5")))["eligible"]'
expect_exit 0 "$RF" plan --fleet "$FLEET" --release "$WORK/v5.rfc" --sensor-manifests "$EX"
expect_out "sensor builds (from the sensor manifests)"
expect_out_re '^  7\.11\.18110 +20 +no +2500 +0$'

# ---- emergency: shorter bakes, opted-in tenants skip their GA delay ----------------
run "$RF" plan --fleet "$FLEET" --release "$WORK/v4.rfc" --json --emergency
printf '%s\n' "$OUT" >"$WORK/v4e.json"
jcheck "$WORK/v4e.json" \
  'd["release"]["emergency"] is True' \
  'd["eligible"] == json.load(open(sys.argv[1].replace("v4e", "v4")))["eligible"]' \
  'd["complete_s"] < json.load(open(sys.argv[1].replace("v4e", "v4")))["complete_s"]' \
  'd["time_to_eligible_s"]["p99"] < 86400' \
  'd["blast_radius"]["customer_before_first_gate"] == 0' \
  'd["waves"][0]["bake_s"] == 480'

# ---- a plan that lets customers in before the first gate can act -------------------
cat >"$WORK/hasty.yaml" <<'EOF'
plan: hasty
waves:
  - {name: internal, ring: internal, fraction: 100%, bake: 1m}
  - {name: everyone, ring: ga, fraction: 100%, bake: 10m}
EOF
run "$RF" plan --fleet "$FLEET" --release "$WORK/v4.rfc" --json --plan "$WORK/hasty.yaml"
printf '%s\n' "$OUT" >"$WORK/hasty.json"
jcheck "$WORK/hasty.json" \
  'd["plan"]["name"] == "hasty" and len(d["waves"]) == 2' \
  'd["waves"][1]["opens_s"] == 60' \
  'd["blast_radius"]["customer_before_first_gate"] > 1000' \
  'd["blast_radius"]["customer_before_first_gate"] == d["waves"][1]["prompt_hosts"]'

# ---- exact times: half the hosts at once, half after a 2 h GA delay -------------------
cat >"$WORK/two.yaml" <<'EOF'
fleet: two
sensors:
  - {version: "9.0", inputs: 30, share: 1}
tenants:
  - {name: prompt, hosts: 500}
  - {name: later, hosts: 500, delay: 2h, emergency_opt_in: true}
EOF
cat >"$WORK/one.yaml" <<'EOF'
plan: one
waves:
  - {name: all, ring: ga, fraction: 100%, bake: 10m}
EOF
run "$RF" plan --fleet "$WORK/two.yaml" --release "$WORK/v4.rfc" --plan "$WORK/one.yaml" --json
printf '%s\n' "$OUT" >"$WORK/two.json"
# Uniform within the 300 s interval: 50% at 300 s, 90% at 7200 + 0.8*300,
# 99% at 7200 + 0.98*300 (to the second).
jcheck "$WORK/two.json" \
  'd["eligible"] == 1000 and d["excluded"]["total"] == 0' \
  'abs(d["time_to_eligible_s"]["p50"] - 300) <= 1' \
  'abs(d["time_to_eligible_s"]["p90"] - 7440) <= 1' \
  'abs(d["time_to_eligible_s"]["p99"] - 7494) <= 1' \
  'd["waves"][0]["prompt_hosts"] == 500 and d["complete_s"] == 600' \
  'd["blast_radius"]["customer_before_first_gate"] == 500'
# Emergency: the tenant that opted in skips its delay.
run "$RF" plan --fleet "$WORK/two.yaml" --release "$WORK/v4.rfc" --plan "$WORK/one.yaml" --json --emergency
printf '%s\n' "$OUT" >"$WORK/two-e.json"
jcheck "$WORK/two-e.json" \
  'abs(d["time_to_eligible_s"]["p50"] - 150) <= 1' \
  'abs(d["time_to_eligible_s"]["p99"] - 297) <= 1' \
  'd["blast_radius"]["customer_before_first_gate"] == 1000'

# ---- bad input -------------------------------------------------------------------------
expect_exit 2 "$RF" plan --release "$WORK/v4.rfc"
expect_one_line_error 'fleet'
expect_exit 2 "$RF" plan --fleet "$FLEET"
expect_one_line_error 'release'
expect_exit 2 "$RF" plan --fleet "$WORK/nope.yaml" --release "$WORK/v4.rfc"
expect_one_line_error 'nope\.yaml'
expect_exit 2 "$RF" plan --fleet "$FLEET" --release "$WORK/nope.rfc"
expect_one_line_error 'nope\.rfc'
expect_exit 2 "$RF" plan --fleet "$FLEET" --release "$WORK/v4.rfc" --plan "$WORK/nope.yaml"
expect_exit 2 "$RF" plan --fleet "$FLEET" --release "$WORK/v4.rfc" --seed -1
expect_exit 2 "$RF" plan --fleet "$FLEET" --release "$WORK/v4.rfc" --bogus
expect_exit 2 "$RF" plan --fleet "$FLEET" --release "$WORK/v4.rfc" extra
expect_exit 2 "$RF" plan --fleet "$FLEET" --release "$WORK/v4.rfc" --sensor-manifests "$WORK/none"
expect_exit 2 "$RF" plan --fleet "$WORK" --release "$WORK/v4.rfc"
# Bad content: exit 1 with file:line:col.
sed 's/share: 0.25, policy: ga, delay: 24h/share: 0.35, policy: ga, delay: 24h/' "$FLEET" >"$WORK/badshare.yaml"
line=$(line_of "$WORK/badshare.yaml" 'name: servers')
expect_exit 1 "$RF" plan --fleet "$WORK/badshare.yaml" --release "$WORK/v4.rfc"
expect_one_line_error "badshare\\.yaml:$line:[0-9]+: the shares of the groups of tenant 'acme' sum to 1\\.1, not 1"
sed 's/delay: 24h/delay: 73h/' "$FLEET" >"$WORK/baddelay.yaml"
line=$(line_of "$WORK/baddelay.yaml" 'delay: 73h')
expect_exit 1 "$RF" plan --fleet "$WORK/baddelay.yaml" --release "$WORK/v4.rfc"
expect_one_line_error "baddelay\\.yaml:$line:[0-9]+: GA 'delay' '73h' is out of range"
printf 'fleet: x\ntenants: [\n' >"$WORK/broken.yaml"
expect_exit 1 "$RF" plan --fleet "$WORK/broken.yaml" --release "$WORK/v4.rfc"
expect_one_line_error 'broken\.yaml:[0-9]+:[0-9]+: YAML syntax error'
sed 's/bake: 15m, emergency_bake: 2m, min_reports: 50}/bake: 15m, emergency_bake: 20m, min_reports: 50}/' "$PLAN" >"$WORK/badplan.yaml"
line=$(line_of "$WORK/badplan.yaml" 'emergency_bake: 20m')
expect_exit 1 "$RF" plan --fleet "$FLEET" --release "$WORK/v4.rfc" --plan "$WORK/badplan.yaml"
expect_one_line_error "badplan\\.yaml:$line:[0-9]+: wave 4 'early-100%': emergency_bake 1200s is longer than bake 900s"
expect_exit 1 "$RF" plan --fleet "$FLEET" --release "$FLEET"
expect_one_line_error 'not a ringfence channel file'
expect_exit 1 "$RF" plan --fleet "$PLAN" --release "$WORK/v4.rfc"
expect_one_line_error "default\\.yaml:[0-9]+:[0-9]+: unknown key 'plan' in a fleet file"
expect_no_out

# --help
expect_exit 0 "$RF" plan --help
expect_out "usage: ringfence plan --fleet FLEET.yaml --release FILE.rfc"
expect_exit 0 "$RF" --help
expect_out_re '^  plan +show a release'

finish
