#!/usr/bin/env bash
# demo.sh — runs examples/channel-291/demo.sh (`make demo`) as a test: it
# exits non-zero if any layer does not stop the 19 July content as shown.
. "$(dirname "$0")/lib.sh"

expect_exit 0 bash "$EX/demo.sh" "$RF"
expect_out 'verdict: ACCEPTED'
expect_out '✗ capability'
expect_out_lines 5 'STOPPED  '
expect_out 'demo: every layer stopped the 19 July content on its own'
check "no colour when stdout is not a terminal" not grep -q $'\e' "$WORK/.out"
# Without its argument it is a usage error.
expect_exit 2 bash "$EX/demo.sh"

finish
