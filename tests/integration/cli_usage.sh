#!/usr/bin/env bash
# cli_usage.sh — the command line itself: every command's --help, the global
# options, and usage errors (unknown command or option, missing arguments),
# each with its exit code and a one-line message.
. "$(dirname "$0")/lib.sh"

expect_exit 0 "$RF" --help
expect_out "usage: ringfence"
for c in init compile validate test inspect eval bench; do
  expect_out "$c"
done
expect_exit 0 "$RF" -h
expect_out "usage: ringfence"
expect_exit 0 "$RF" --version
expect_out_re '^ringfence [0-9]+\.[0-9]+\.[0-9]+$'

for c in init compile validate test inspect eval bench; do
  expect_exit 0 "$RF" "$c" --help
  expect_out_re "usage: ringfence.* $c"
  expect_exit 0 "$RF" "$c" -h
  expect_exit 0 "$RF" help "$c"
  expect_out_re "usage: ringfence.* $c"
done
# Each help has an exit-code section and an example (not bench: not ours).
for c in init compile validate test inspect eval; do
  expect_exit 0 "$RF" "$c" --help
  expect_out "Exit codes:"
  expect_out "Example:"
done

# No command, unknown command, unknown options: exit 2, one line.
expect_exit 2 "$RF"
expect_err "usage: ringfence"
expect_exit 2 "$RF" frobnicate
expect_one_line_error "unknown command 'frobnicate'"
expect_exit 2 "$RF" help frobnicate
expect_one_line_error "unknown command"
expect_exit 2 "$RF" --frobnicate validate
expect_one_line_error "unknown option '--frobnicate'"
expect_exit 2 "$RF" -C
expect_one_line_error "needs a directory"
for c in init compile validate test inspect eval; do
  expect_exit 2 "$RF" "$c" --no-such-option
  expect_one_line_error "unknown option '--no-such-option'"
  expect_exit 2 "$RF" "$c" -Z
  expect_one_line_error "unknown option -Z"
done

# Missing or extra arguments.
expect_exit 2 "$RF" compile
expect_one_line_error "expected one CHANNEL.yaml"
expect_exit 2 "$RF" validate
expect_one_line_error "expected one"
expect_exit 2 "$RF" validate a.yaml b.yaml
expect_exit 2 "$RF" test
expect_exit 2 "$RF" inspect
expect_exit 2 "$RF" init
expect_exit 2 "$RF" eval
expect_exit 2 "$RF" eval x.rfc
expect_one_line_error "--sensor VERSION is required"
expect_exit 2 "$RF" compile "$EX/channels/c291-v4.yaml" -o
expect_one_line_error "needs a value"
expect_exit 2 "$RF" validate "$EX/channels/c291-v4.yaml" --report
expect_one_line_error "needs a value"

# Missing files and directories are I/O errors (2), never "rejected" (1).
expect_exit 2 "$RF" -C "$EX" compile "$WORK/missing.yaml"
expect_one_line_error "missing.yaml: cannot open"
expect_exit 2 "$RF" -C "$WORK/no-such-workspace" compile "$EX/channels/c291-v4.yaml"
expect_one_line_error "no-such-workspace"
expect_exit 2 "$RF" inspect "$WORK/missing.rfc"
expect_one_line_error "missing.rfc"
expect_exit 2 "$RF" inspect "$WORK"
expect_one_line_error "is a directory"
expect_exit 2 "$RF" -C "$EX" eval "$WORK/missing.rfc" --sensor 7.11.18110

# A closed output pipe is not a signal (SIGPIPE is ignored).
"$RF" --help | head -c 1 >/dev/null
st=${PIPESTATUS[0]}
check "a closed pipe must not kill ringfence with a signal (exit $st)" [ "$st" -lt 128 ]

finish
