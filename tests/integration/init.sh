#!/usr/bin/env bash
# init.sh — `ringfence init`: the new workspace validates, compiles, passes
# its tests and evaluates its corpus; init refuses a non-empty directory.
. "$(dirname "$0")/lib.sh"

ws=$WORK/ws
expect_exit 0 "$RF" init "$ws"
expect_out "created workspace"
for f in types/process_start.yaml sensors/example-1.0.0.yaml channels/example.yaml corpus/events.jsonl; do
  check "init should create $f" test -s "$ws/$f"
done

expect_exit 0 "$RF" -C "$ws" validate "$ws/channels/example.yaml"
expect_out "verdict: ACCEPTED"
for s in parse schema capability patterns tests execution; do
  expect_out_re "✓ $s +pass"
done
# -C is also accepted after the command name.
expect_exit 0 "$RF" validate -C "$ws" "$ws/channels/example.yaml"
expect_out "verdict: ACCEPTED"
# Without the workspace there is no template type: rejected, not an I/O error.
expect_exit 1 "$RF" -C "$WORK" validate "$ws/channels/example.yaml"
expect_out "verdict: REJECTED"

expect_exit 0 "$RF" -C "$ws" compile "$ws/channels/example.yaml" -o "$WORK/example.rfc"
expect_out_re '^wrote .*example\.rfc \(2 instances, [0-9]+ bytes, sha256 [0-9a-f]{64}\)$'
expect_exit 0 "$RF" -C "$ws" test "$ws/channels/example.yaml"
expect_out "sensor 1.0.0 (6 inputs): 4/4 tests passed"
expect_out "tests: PASSED"
expect_exit 0 "$RF" inspect "$WORK/example.rfc"
expect_out "encoded-powershell"
expect_exit 0 "$RF" -C "$ws" eval "$WORK/example.rfc" --sensor 1.0.0 "$ws/corpus/events.jsonl"
expect_out_lines 2 '^\{"line":'
expect_out '{"line":1,"matches":[{"id":"encoded-powershell","action":"detect","severity":"high"}]}'
expect_out '{"line":2,"matches":[{"id":"office-spawns-system-binary","action":"block","severity":"critical"}]}'

# Refusals: an existing non-empty directory, a file. An empty one is fine.
expect_exit 2 "$RF" init "$ws"
expect_one_line_error "not empty"
: >"$WORK/afile"
expect_exit 2 "$RF" init "$WORK/afile"
expect_one_line_error "not a directory"
mkdir "$WORK/empty"
expect_exit 0 "$RF" init "$WORK/empty"
check "init into an empty directory" test -s "$WORK/empty/channels/example.yaml"
expect_exit 2 "$RF" init "$WORK/no/such/parent"
expect_one_line_error "cannot create directory"

finish
