#!/usr/bin/env bash
# validate.sh — `ringfence validate` and `ringfence test` on the channel-291
# example: v4 accepted; v5 rejected at the capability stage with a message
# naming file:line, instance, field, index, sensor and inputs; the JSON
# report; --skip refused without --i-know-this-is-unsafe; --baseline;
# validating a compiled .rfc; the per-sensor test counts.
. "$(dirname "$0")/lib.sh"

v4=$EX/channels/c291-v4.yaml
v5=$EX/channels/c291-v5.yaml

expect_exit 0 "$RF" -C "$EX" validate "$v4"
for s in parse schema capability patterns tests execution; do
  expect_out_re "^  ✓ $s +pass"
done
expect_out_re '^  – differential +skipped'
expect_out_re '^verdict: ACCEPTED$'
expect_exit 0 "$RF" -C "$EX" validate -q "$v4"
expect_out_lines 1 '.'
expect_out "verdict: ACCEPTED"

expect_exit 1 "$RF" -C "$EX" validate "$v5"
expect_out_re '^  ✗ capability +FAIL'
expect_out_re '^verdict: REJECTED'
line=$(line_of "$v5" 'pipe_client_image: \{glob')
iline=$(line_of "$v5" 'id: c291-0719-appdata-pipe-client')
expect_out_re "c291-v5\\.yaml:($line|$iline)(:[0-9]+)?: \\[capability\\] "
cap=$(grep -F '[capability]' "$WORK/.out")
for w in c291-0719-appdata-pipe-client pipe_client_image 'index 20' 7.11.18110 '20 inputs'; do
  check "the capability finding names '$w'" grep -qF -- "$w" <<<"$cap"
done
check "no capability finding about 7.16.18605 (it supplies 21)" not grep -qF 7.16.18605 <<<"$cap"
# Errors come before notes; the verdict is last.
check "verdict is the last line" [ "$(tail -n 1 "$WORK/.out" | cut -c1-8)" = "verdict:" ]

# --report: the same verdict as JSON, written atomically.
expect_exit 1 "$RF" -C "$EX" validate "$v5" --report "$WORK/report.json"
check "report written" test -s "$WORK/report.json"
check "report is valid JSON" json_valid "$WORK/report.json"
check "report names the capability stage" grep -q capability "$WORK/report.json"
check "report names the instance" grep -q c291-0719-appdata-pipe-client "$WORK/report.json"
expect_exit 0 "$RF" -C "$EX" validate "$v4" --report -
expect_out_re '^\{'
expect_not_out "verdict:"
printf '%s\n' "$OUT" >"$WORK/stdout.json"
check "--report - prints valid JSON" json_valid "$WORK/stdout.json"
expect_exit 2 "$RF" -C "$EX" validate "$v4" --report "$WORK/no/dir/r.json"

# --skip: refused (2) without the second flag; loud when allowed.
expect_exit 2 "$RF" -C "$EX" validate "$v5" --skip capability
expect_one_line_error 'i-know-this-is-unsafe'
expect_no_out
expect_exit 2 "$RF" -C "$EX" validate "$v5" --skip nosuchstage --i-know-this-is-unsafe
expect_one_line_error "unknown stage 'nosuchstage'"
expect_exit 2 "$RF" -C "$EX" validate "$v5" --skip parse --i-know-this-is-unsafe
expect_one_line_error 'cannot be skipped'
expect_exit 2 "$RF" -C "$EX" validate "$v5" --skip capability, --i-know-this-is-unsafe
expect_exit 1 "$RF" -C "$EX" validate "$v5" --skip capability --i-know-this-is-unsafe
expect_err 'WARNING'
expect_err 'capability'
expect_out_re '^  – capability +skipped'
expect_out_re '^  ✗ tests +FAIL'
expect_out_re '^  ✗ execution +FAIL'
expect_out_re '^verdict: REJECTED'
expect_exit 0 "$RF" -C "$EX" validate "$v4" --skip execution,tests --i-know-this-is-unsafe
expect_err 'WARNING'
expect_out_re '^  – execution +skipped'

# A compiled file validates like its source; --baseline runs the differential stage.
expect_exit 0 "$RF" -C "$EX" compile "$v4" -o "$WORK/v4.rfc"
expect_exit 0 "$RF" -C "$EX" validate "$WORK/v4.rfc"
expect_out_re '^verdict: ACCEPTED$'
sed 's/^content_version: 4$/content_version: 3/' "$v4" >"$WORK/v3.yaml"
expect_exit 0 "$RF" -C "$EX" validate "$v4" --baseline "$WORK/v3.yaml"
expect_out_re '^  ✓ differential +pass'
# A baseline that is not older is refused: content versions strictly increase.
expect_exit 1 "$RF" -C "$EX" validate "$v4" --baseline "$WORK/v4.rfc"
expect_out_re '^  ✗ differential +FAIL'
expect_out 'content_version'
expect_exit 0 "$RF" -C "$EX" compile "$v5" -o "$WORK/v5.rfc"
expect_exit 1 "$RF" -C "$EX" validate "$WORK/v5.rfc"
expect_out_re '^  ✗ capability +FAIL'
expect_out 'c291-0719-appdata-pipe-client'
# --corpus: an empty corpus directory is allowed.
mkdir -p "$WORK/nocorpus"
expect_exit 0 "$RF" -C "$EX" validate "$v4" --corpus "$WORK/nocorpus"

# ringfence test: per-sensor counts (v4: 10 tests; v5: 12).
expect_exit 0 "$RF" -C "$EX" test "$v4"
expect_out 'sensor 7.11.18110 (20 inputs): 10/10 tests passed'
expect_out 'sensor 7.16.18605 (21 inputs): 10/10 tests passed'
expect_out 'tests: PASSED'
expect_exit 1 "$RF" -C "$EX" test "$v5"
expect_out 'sensor 7.16.18605 (21 inputs): 12/12 tests passed'
expect_out_re 'sensor 7\.11\.18110 \(20 inputs\): [0-9]+/12 tests passed'
expect_not_out 'sensor 7.11.18110 (20 inputs): 12/12'
expect_out_re '\[tests\] .*7\.11\.18110'
expect_out 'tests: FAILED'
# A failing embedded test is reported with its line.
sed "s/- {event: {pipe_name: '\\\\\\\\.\\\\pipe\\\\MSSE-server'}, expect: no_match}/- {event: {pipe_name: '\\\\\\\\.\\\\pipe\\\\MSSE-server'}, expect: match}/" "$v4" >"$WORK/badtest.yaml"
if grep -q "MSSE-server'}, expect: match" "$WORK/badtest.yaml"; then
  line=$(line_of "$WORK/badtest.yaml" "MSSE-server'\\}, expect: match")
  expect_exit 1 "$RF" -C "$EX" test "$WORK/badtest.yaml"
  expect_out 'sensor 7.11.18110 (20 inputs): 9/10 tests passed'
  expect_out 'sensor 7.16.18605 (21 inputs): 9/10 tests passed'
  expect_out_re "badtest\\.yaml:$line(:[0-9]+)?: \\[tests\\]"
  expect_exit 1 "$RF" -C "$EX" validate "$WORK/badtest.yaml"
  expect_out_re '^  ✗ tests +FAIL'
else
  check "test setup: sed should flip an expectation" false
fi
# test on invalid content: not run, exit 1.
printf 'kind: Channel\n' >"$WORK/tiny.yaml"
expect_exit 1 "$RF" -C "$EX" test "$WORK/tiny.yaml"
expect_out 'tests: NOT RUN'

finish
