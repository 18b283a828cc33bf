#!/usr/bin/env bash
# eval.sh — `ringfence eval` on the channel-291 corpus: the expected matches
# per sensor (counts from gen-corpus.py), the load-time refusal of v5 by
# sensor 7.11.18110, the run-time RF_E_INPUT refusal of short events, bad
# lines reported as FILE:LINE and skipped, standard input.
. "$(dirname "$0")/lib.sh"

corpus=$EX/corpus/ipc-events.jsonl
expect_exit 0 "$RF" -C "$EX" compile "$EX/channels/c291-v4.yaml" -o "$WORK/v4.rfc"
expect_exit 0 "$RF" -C "$EX" compile "$EX/channels/c291-v5.yaml" -o "$WORK/v5.rfc"

# v4: 25 of the 100 7.11 events match, 20 of the 100 7.16 events.
expect_exit 0 "$RF" -C "$EX" eval "$WORK/v4.rfc" --sensor 7.11.18110 "$corpus"
expect_out_lines 25 '^\{"line":[0-9]+,"matches":\[\{"id":"c291-[0-9a-z-]+","action":"(detect|block)","severity":"[a-z]+"\}'
expect_out_lines 4 '"c291-0305-msse-beacon-pipe"'
expect_out_lines 5 '"c291-0408-postex-rundll32"'
expect_out_lines 3 '"c291-0416-remote-exec-service"'
expect_out_lines 13 '"c291-0424-office-lsa-pipes"'
expect_out '"id":"c291-0408-postex-rundll32","action":"block","severity":"critical"'
expect_err 'eval: 200 events, 100 evaluated by sensor 7.11.18110, 25 matched'
expect_err '100 skipped (other sensors)'
# Every printed line is an odd line (7.11 events are the odd lines).
check "only 7.11 events evaluated" not grep -qE '^\{"line":[0-9]*[02468],' "$WORK/.out"
expect_exit 0 "$RF" -C "$EX" eval "$WORK/v4.rfc" --sensor 7.16.18605 "$corpus"
expect_out_lines 20 '^\{"line":'
# Both sensors run v4 on every event (it needs only 6 inputs).
expect_exit 0 "$RF" -C "$EX" eval "$WORK/v4.rfc" --sensor 7.11.18110 --all-sensors "$corpus"
expect_out_lines 45 '^\{"line":'

# v5: sensor 7.11.18110 refuses to load it (exit 1, nothing evaluated).
expect_exit 1 "$RF" -C "$EX" eval "$WORK/v5.rfc" --sensor 7.11.18110 "$corpus"
expect_no_out
expect_one_line_error 'c291-0719-appdata-pipe-client.*pipe_client_image.*7\.11\.18110.*RF_E_CAPABILITY'
# 7.16.18605 supplies 21 inputs: 27 matches, 7 of them the new instance.
expect_exit 0 "$RF" -C "$EX" eval "$WORK/v5.rfc" --sensor 7.16.18605 "$corpus"
expect_out_lines 27 '^\{"line":'
expect_out_lines 7 '"c291-0719-appdata-pipe-client"'
# Fed 20-input events, the 21-input interpreter refuses each (run-time check).
expect_exit 1 "$RF" -C "$EX" eval "$WORK/v5.rfc" --sensor 7.16.18605 --all-sensors "$corpus"
expect_out_lines 27 '^\{"line":'
expect_err_lines 100 'ipc-events\.jsonl:[0-9]+: refused by the interpreter \(RF_E_INPUT\): the event carries 20 inputs, the content needs 21$'
expect_err '100 refused'

# Standard input, '-' or no file at all.
run_in "$corpus" "$RF" -C "$EX" eval "$WORK/v4.rfc" --sensor 7.11.18110 -
check "stdin ('-'): exit 0" [ "$RC" -eq 0 ]
check "stdin ('-'): 25 matches" [ "$(grep -c '^{"line"' "$WORK/.out")" -eq 25 ]
run_in "$corpus" "$RF" -C "$EX" eval "$WORK/v4.rfc" -s 7.11.18110
check "stdin (implicit): 25 matches" [ "$(grep -c '^{"line"' "$WORK/.out")" -eq 25 ]

# Bad lines: reported as FILE:LINE, skipped; good lines still evaluated; exit 1.
good=$(sed -n 2p "$corpus")
{
  printf '%s\n' "$good"
  printf 'not json\n'
  printf '\n'
  printf '{"template_type":"ipc_named_pipe","inputs":[1.5]}\n'
  printf '{"template_type":"ipc_named_pipe","inputs":["x"],"extra":1}\n'
  printf '{"inputs":["\xff"]}\n'
  printf '[1,2,3]\n'
  printf '%s\n' "$good"
  printf '{"template_type":"other_type","inputs":[]}\n'
  printf '{"inputs":["x"]}\n'
  printf '{"inputs":["%s"]}' "$(head -c 1100000 /dev/zero | tr '\0' a)"
} >"$WORK/bad.jsonl"
expect_exit 1 "$RF" -C "$EX" eval "$WORK/v4.rfc" --sensor 7.16.18605 "$WORK/bad.jsonl"
expect_out '{"line":1,'
expect_out '{"line":8,'
expect_out_lines 2 '^\{"line":'
for l in 2 4 5 6 7 10 11; do
  expect_err_re "^ringfence: .*bad\\.jsonl:$l:"
done
expect_err_lines 7 'bad\.jsonl:[0-9]+:'
expect_err 'bad.jsonl:10: refused by the interpreter (RF_E_INPUT): the event carries 1 input, the content needs 6'
expect_err 'bad.jsonl:11: line longer than 1048576 bytes'
expect_err 'skipped (other template types)'
expect_err '1 refused, 6 invalid lines'

# Usage and I/O errors.
expect_exit 2 "$RF" -C "$EX" eval "$WORK/v4.rfc" --sensor 9.9.9 "$corpus"
expect_one_line_error "no sensor manifest with sensor_version '9\\.9\\.9'.*7\\.11\\.18110"
expect_exit 2 "$RF" -C "$EX" eval "$WORK/v4.rfc" --sensor 7.11.18110 "$WORK/none.jsonl"
expect_one_line_error 'none\.jsonl'
expect_exit 2 "$RF" -C "$EX" eval "$WORK/v4.rfc" --sensor 7.11.18110 "$corpus" extra
expect_exit 1 "$RF" -C "$EX" eval "$EX/channels/c291-v4.yaml" --sensor 7.11.18110 "$corpus"
expect_one_line_error 'c291-v4\.yaml'

finish
