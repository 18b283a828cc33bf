#!/usr/bin/env bash
# rfc_damage.sh — damaged channel files through `ringfence inspect` (the
# fleet's reader): the intact file is shown (exit 0); every truncation is
# refused (exit 1) with a one-line error; every single-byte change ends in
# exit 0 or 1 — never 2 (it is not an I/O problem), never a signal (>128),
# never a sanitizer report. The channel is small so the loops stay fast;
# under the sanitizer build (RF_SANITIZE=1) the loops take a sample.
. "$(dirname "$0")/lib.sh"

# A small channel: one instance, one criterion of each value type.
mkdir -p "$WORK/ws/types" "$WORK/ws/sensors"
cp "$EX/types/ipc_named_pipe.yaml" "$WORK/ws/types/"
cp "$EX/sensors/falcon-7.11.yaml" "$WORK/ws/sensors/"
cat >"$WORK/small.yaml" <<'Y'
kind: Channel
channel: 7
template_type: ipc_named_pipe
template_version: 1
content_version: 1
instances:
  - id: small
    action: detect
    severity: low
    match:
      pipe_name: {prefix: '\\.\pipe\x', nocase: true}
      pid: {one_of: [4, 8]}
    tests:
      - {event: {pipe_name: '\\.\pipe\X1', pid: 4}, expect: match}
Y
expect_exit 0 "$RF" -C "$WORK/ws" compile "$WORK/small.yaml" -o "$WORK/small.rfc"
expect_exit 0 "$RF" inspect "$WORK/small.rfc"
expect_out "small"
f=$WORK/small.rfc
size=$(wc -c <"$f" | tr -d ' ')
check "the test channel stays small ($size bytes)" [ "$size" -lt 2048 ]

step=1
[ "$RF_SANITIZE" = 1 ] && step=7

# Every truncation (a sample under sanitizers): refused, exit 1, one line.
bad_trunc=0 n=0
for ((len = 0; len < size; len += step)); do
  head -c "$len" "$f" >"$WORK/t.rfc"
  "$RF" inspect "$WORK/t.rfc" >/dev/null 2>"$WORK/t.err"
  rc=$?
  n=$((n + 1))
  mapfile -t errl <"$WORK/t.err" # (no fork per check: this loop runs often)
  if [ $rc -ne 1 ] || [ "${#errl[@]}" -ne 1 ] || [[ ${errl[0]} != ringfence:* ]]; then
    echo "truncation to $len bytes: exit $rc: $(head -c 300 "$WORK/t.err")" >&2
    bad_trunc=$((bad_trunc + 1))
  fi
done
check "every truncation refused with exit 1 and one line ($bad_trunc of $n not)" [ $bad_trunc -eq 0 ]

# Every single-byte change (x ^ 0xff, and x ^ 0x01 on every 8th byte): 0 or 1 only.
mapfile -t bytes < <(od -An -v -tu1 "$f" | tr -s ' ' '\n' | grep -v '^$')
check "od read every byte" [ "${#bytes[@]}" -eq "$size" ]
bad_flip=0 accepted=0 n=0
for ((i = 0; i < size; i += step)); do
  for mask in 255 1; do
    [ $mask = 1 ] && [ $((i % 8)) -ne 0 ] && continue
    cp "$f" "$WORK/x.rfc"
    printf -v oct '\\%03o' $((bytes[i] ^ mask))
    printf "$oct" | dd of="$WORK/x.rfc" bs=1 seek="$i" conv=notrunc status=none
    "$RF" inspect "$WORK/x.rfc" >/dev/null 2>"$WORK/x.err"
    rc=$?
    n=$((n + 1))
    [ $rc -eq 0 ] && accepted=$((accepted + 1))
    # A sanitizer report exits 86/87 (lib.sh), so the exit code catches it.
    if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
      echo "byte $i ^ $mask: exit $rc: $(head -c 300 "$WORK/x.err")" >&2
      bad_flip=$((bad_flip + 1))
    fi
  done
done
check "every changed byte ends in exit 0 or 1 ($bad_flip of $n did not)" [ $bad_flip -eq 0 ]
# The body is covered by a SHA-256: almost every change must be refused.
check "changed files accepted: $accepted of $n (should be ~0)" [ $accepted -le $((n / 20)) ]

# Bytes appended after a valid file are refused too.
cp "$f" "$WORK/long.rfc"
printf 'trailing' >>"$WORK/long.rfc"
expect_exit 1 "$RF" inspect "$WORK/long.rfc"
expect_one_line_error 'long\.rfc'
# A channel source handed to inspect is not a channel file.
expect_exit 1 "$RF" inspect "$WORK/small.yaml"
expect_one_line_error 'small\.yaml'

finish
