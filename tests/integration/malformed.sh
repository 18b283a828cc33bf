#!/usr/bin/env bash
# malformed.sh — hostile and broken channel sources through `validate` and
# `compile`: empty file, directory, missing file, a 100 MiB file, a YAML
# alias bomb, 10,000-deep nesting, invalid UTF-8, unknown keys, duplicate
# keys, duplicate ids. Each ends with exit 1 (bad content) or 2 (I/O) and a
# message naming the file (and line:col where there is one) — never a signal,
# never a hang.
. "$(dirname "$0")/lib.sh"

v4=$EX/channels/c291-v4.yaml
T="timeout 60"

# validate_bad FILE LOCATION-REGEX: validate rejects FILE (exit 1), names the
# location in a finding, says REJECTED; compile rejects it with one line.
validate_bad() {
  local f=$1 loc=$2
  expect_exit 1 $T "$RF" -C "$EX" validate "$f"
  expect_out "verdict: REJECTED"
  expect_out_re "$loc: \\[(parse|schema)\\] "
  expect_exit 1 $T "$RF" -C "$EX" compile "$f" -o "$WORK/out.rfc"
  expect_one_line_error "^ringfence: $loc: "
}

# Empty file: rejected, named.
: >"$WORK/empty.yaml"
validate_bad "$WORK/empty.yaml" '.*empty\.yaml(:[0-9]+)*'

# Not a file / no file: I/O errors.
expect_exit 2 "$RF" -C "$EX" validate "$WORK"
expect_one_line_error 'is a directory'
expect_exit 2 "$RF" -C "$EX" validate "$WORK/missing.yaml"
expect_one_line_error 'missing\.yaml: cannot open'
expect_exit 2 "$RF" -C "$EX" validate "$v4" --baseline "$WORK/missing.rfc"
expect_one_line_error 'missing\.rfc'
expect_exit 2 "$RF" -C "$EX" validate "$v4" --corpus "$WORK/no-corpus"
expect_one_line_error 'no-corpus'

# 100 MiB (sparse): refused by size before it is read, quickly.
truncate -s 100M "$WORK/huge.yaml"
start=$(date +%s)
expect_exit_in "1 2" $T "$RF" -C "$EX" validate "$WORK/huge.yaml"
expect_out_re 'huge\.yaml.*(larger|limit|too (big|large))'
expect_exit_in "1 2" $T "$RF" -C "$EX" compile "$WORK/huge.yaml" -o "$WORK/out.rfc"
expect_one_line_error 'huge\.yaml'
truncate -s 100M "$WORK/huge.rfc"
expect_exit_in "1 2" $T "$RF" inspect "$WORK/huge.rfc"
expect_one_line_error 'huge\.rfc'
check "a 100 MiB file is refused in seconds" [ $(($(date +%s) - start)) -lt 20 ]

# YAML alias bomb ("billion laughs"): aliases are refused outright.
cat >"$WORK/bomb.yaml" <<'Y'
kind: Channel
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
Y
validate_bad "$WORK/bomb.yaml" '.*bomb\.yaml:[0-9]+:[0-9]+'

# 10,000-deep nesting.
{
  printf 'kind: Channel\nchannel: '
  head -c 10000 /dev/zero | tr '\0' '['
  head -c 10000 /dev/zero | tr '\0' ']'
  printf '\n'
} >"$WORK/deep.yaml"
validate_bad "$WORK/deep.yaml" '.*deep\.yaml:2:[0-9]+'
{
  printf 'kind: Channel\nchannel: '
  for _ in $(seq 1 2000); do printf '{a: '; done
  printf '1'
  for _ in $(seq 1 2000); do printf '}'; done
  printf '\n'
} >"$WORK/deepmap.yaml"
validate_bad "$WORK/deepmap.yaml" '.*deepmap\.yaml:2:[0-9]+'

# Invalid UTF-8 on line 3.
printf 'kind: Channel\nchannel: 291\ntemplate_type: ipc_\xff\xfepipe\n' >"$WORK/utf8.yaml"
validate_bad "$WORK/utf8.yaml" '.*utf8\.yaml:3(:[0-9]+)?'
# Overlong encoding of '/' inside a quoted string.
printf "kind: Channel\nchannel: 291\ntemplate_type: 'ipc\xc0\xafx'\n" >"$WORK/overlong.yaml"
validate_bad "$WORK/overlong.yaml" '.*overlong\.yaml:3(:[0-9]+)?'

# Unknown key, at a known line.
{ cat "$v4"; printf 'colour: blue\n'; } >"$WORK/unknown.yaml"
line=$(line_of "$WORK/unknown.yaml" '^colour:')
validate_bad "$WORK/unknown.yaml" ".*unknown\\.yaml:$line:1"
expect_err "colour"
# Unknown key inside an instance.
sed 's/^    severity: medium$/    severity: medium\n    sevrity: low/' "$v4" >"$WORK/unknown2.yaml"
line=$(line_of "$WORK/unknown2.yaml" 'sevrity')
validate_bad "$WORK/unknown2.yaml" ".*unknown2\\.yaml:$line:[0-9]+"

# Duplicate key: content_version twice.
{ cat "$v4"; printf 'content_version: 9\n'; } >"$WORK/dupkey.yaml"
line=$(line_of "$WORK/dupkey.yaml" '^content_version: 9')
validate_bad "$WORK/dupkey.yaml" ".*dupkey\\.yaml:$line:1"
expect_err "content_version"

# Duplicate instance id.
sed 's/- id: c291-0408-postex-rundll32/- id: c291-0305-msse-beacon-pipe/' "$v4" >"$WORK/dupid.yaml"
line=$(grep -n 'id: c291-0305-msse-beacon-pipe' "$WORK/dupid.yaml" | sed -n 2p | cut -d: -f1)
validate_bad "$WORK/dupid.yaml" ".*dupid\\.yaml:$line:[0-9]+"
expect_err "c291-0305-msse-beacon-pipe"

# A criterion that does not fit its field's type (range on a string field).
sed "s/pipe_name: {glob: '\\\\\\\\.\\\\pipe\\\\MSSE-\\*-server'}/pipe_name: {range: [1, 2]}/" "$v4" >"$WORK/badtype.yaml"
if grep -q 'pipe_name: {range' "$WORK/badtype.yaml"; then
  line=$(line_of "$WORK/badtype.yaml" 'pipe_name: \{range')
  validate_bad "$WORK/badtype.yaml" ".*badtype\\.yaml:$line:[0-9]+"
else
  check "test setup: sed should have produced a range on pipe_name" false
fi

# Not YAML at all; a binary blob given as a source.
printf '\x00\x01\x02\x03RFCH garbage' >"$WORK/binary.yaml"
expect_exit 1 "$RF" -C "$EX" validate "$WORK/binary.yaml"
expect_out "verdict: REJECTED"
printf 'kind: Channel\n  bad indent: [\n' >"$WORK/syntax.yaml"
validate_bad "$WORK/syntax.yaml" '.*syntax\.yaml:[0-9]+:[0-9]+'

finish
