#!/usr/bin/env bash
# inspect.sh — `ringfence inspect`: header facts and every criterion of the
# 19 July channel, as text and as JSON.
. "$(dirname "$0")/lib.sh"

expect_exit 0 "$RF" -C "$EX" compile "$EX/channels/c291-v5.yaml" -o "$WORK/v5.rfc"
sha=$(printf '%s\n' "$OUT" | sed -E 's/.*sha256 ([0-9a-f]{64})\)$/\1/')

expect_exit 0 "$RF" inspect "$WORK/v5.rfc"
expect_out_re '^  channel +291$'
expect_out_re '^  template type +ipc_named_pipe v1$'
expect_out_re '^  content version +5$'
expect_out_re '^  inputs required +21$'
expect_out_re '^  instances +5$'
expect_out_re "^  sha256 +$sha\$"
expect_out_re '^  body sha256 +[0-9a-f]{64}$'
expect_out_re '^instance c291-0719-appdata-pipe-client +\(detect, high, 2 criteria, 2 tests\)$'
expect_out_re "^  \\[ 20\\] pipe_client_image +glob +'C:\\\\Users\\\\\\*\\\\AppData\\\\\\*\\.exe' +nocase$"
expect_out_re "^  \\[  0\\] pipe_name +glob +'\\\\\\\\\\.\\\\pipe\\\\MSSE-\\*-server'$"
expect_out_re "^  \\[  5\\] integrity_level +range +\\[16384, 16384\\]$"
expect_out_re "^  \\[  0\\] pipe_name +one_of +\\['.*lsarpc', '.*samr', '.*netlogon'\\]$"
expect_out_re '^  test 1: expect match: \[0\]='
expect_out_lines 5 '^instance '
# Wildcards ({any: true}) are not stored: v5's first instance has 1 criterion.
expect_out_re '^instance c291-0305-msse-beacon-pipe +\(detect, high, 1 criterion, 3 tests\)$'

expect_exit 0 "$RF" inspect --json "$WORK/v5.rfc"
printf '%s\n' "$OUT" >"$WORK/v5.json"
check "inspect --json is valid JSON" json_valid "$WORK/v5.json"
expect_out '"channel": 291'
expect_out '"template_type": "ipc_named_pipe"'
expect_out '"content_version": 5'
expect_out '"inputs_required": 21'
expect_out '"ninstances": 5'
expect_out "\"sha256\": \"$sha\""
expect_out '"field": "pipe_client_image"'
expect_out '"index": 20'
expect_out '"kind": "glob"'
expect_out '"nocase": true'
expect_out '"C:\\Users\\*\\AppData\\*.exe"'
if command -v jq >/dev/null 2>&1; then
  check "jq: 5 instances" [ "$(jq '.instances | length' "$WORK/v5.json")" = 5 ]
  check "jq: the 19 July criterion is on index 20" \
    [ "$(jq -r '.instances[] | select(.id=="c291-0719-appdata-pipe-client") | .criteria[] | select(.field=="pipe_client_image") | .index' "$WORK/v5.json")" = 20 ]
fi

# Control characters in a string never reach the terminal raw.
mkdir -p "$WORK/ws"
cp -R "$EX/types" "$EX/sensors" "$WORK/ws/"
printf "kind: Channel\nchannel: 9\ntemplate_type: ipc_named_pipe\ntemplate_version: 1\ncontent_version: 1\ninstances:\n  - id: esc\n    action: detect\n    severity: info\n    match:\n      pipe_name: {equals: \"a\\\\e[31mb\"}\n" >"$WORK/esc.yaml"
expect_exit 0 "$RF" -C "$WORK/ws" compile "$WORK/esc.yaml" -o "$WORK/esc.rfc"
expect_exit 0 "$RF" inspect "$WORK/esc.rfc"
expect_out "'a\\x1b[31mb'"
check "no raw ESC byte in the output" not grep -q $'\e' "$WORK/.out"

finish
