#!/usr/bin/env bash
# compile.sh — `ringfence compile`: reproducible output (byte-identical on
# every run), the summary line and its SHA-256, the default output name,
# atomic writes, and the exit codes for bad sources and unwritable outputs.
. "$(dirname "$0")/lib.sh"

v4=$EX/channels/c291-v4.yaml
expect_exit 0 "$RF" -C "$EX" compile "$v4" -o "$WORK/a.rfc"
expect_out_re '^wrote .*/a\.rfc \(4 instances, [0-9]+ bytes, sha256 [0-9a-f]{64}\)$'
printed=$(printf '%s\n' "$OUT" | sed -E 's/.*sha256 ([0-9a-f]{64})\)$/\1/')
size=$(printf '%s\n' "$OUT" | sed -E 's/.*, ([0-9]+) bytes,.*/\1/')
expect_exit 0 "$RF" -C "$EX" compile "$v4" --output "$WORK/b.rfc"
check "compile must be byte-identical twice" cmp -s "$WORK/a.rfc" "$WORK/b.rfc"
check "printed size matches the file" [ "$size" = "$(wc -c <"$WORK/a.rfc" | tr -d ' ')" ]
if command -v sha256sum >/dev/null 2>&1; then
  check "printed sha256 matches the file" [ "$printed" = "$(sha256sum "$WORK/a.rfc" | cut -d' ' -f1)" ]
fi
# Same bytes from a copy of the source elsewhere (nothing path-dependent).
cp "$v4" "$WORK/copy.yaml"
expect_exit 0 "$RF" -C "$EX" compile "$WORK/copy.yaml"
check "default output is CHANNEL with .rfc" test -s "$WORK/copy.rfc"
check "output does not depend on the source path" cmp -s "$WORK/a.rfc" "$WORK/copy.rfc"
check "no temporary files are left behind" [ -z "$(ls "$WORK" | grep -F .tmp)" ]

# v5 compiles (compile does not validate) and differs from v4.
expect_exit 0 "$RF" -C "$EX" compile "$EX/channels/c291-v5.yaml" -o "$WORK/v5.rfc"
expect_out "(5 instances,"
check "v5 differs from v4" not cmp -s "$WORK/a.rfc" "$WORK/v5.rfc"

# An unwritable output is an I/O error; the old file is kept.
expect_exit 2 "$RF" -C "$EX" compile "$v4" -o "$WORK/no/such/dir/x.rfc"
expect_one_line_error 'x\.rfc'
# A source naming a field the template type lacks: rejected with file:line:col.
sed 's/image_path: {suffix/image_pathz: {suffix/' "$v4" >"$WORK/badfield.yaml"
line=$(line_of "$WORK/badfield.yaml" 'image_pathz')
expect_exit 1 "$RF" -C "$EX" compile "$WORK/badfield.yaml" -o "$WORK/bad.rfc"
expect_one_line_error "badfield\\.yaml:$line:[0-9]+: .*image_pathz"
check "nothing written for a rejected source" test ! -e "$WORK/bad.rfc"
# A workspace without the template type: rejected.
mkdir -p "$WORK/emptyws"
expect_exit 1 "$RF" -C "$WORK/emptyws" compile "$v4" -o "$WORK/x.rfc"
expect_one_line_error 'ipc_named_pipe'
# A broken document in the workspace is reported by every command that loads it.
cp -R "$EX/types" "$EX/sensors" "$WORK/emptyws/"
printf 'kind: SensorManifest\nsensor_version: "9.9"\ntemplate_types: 7\n' >"$WORK/emptyws/sensors/zz-broken.yaml"
expect_exit 1 "$RF" -C "$WORK/emptyws" compile "$v4" -o "$WORK/x.rfc"
expect_one_line_error 'zz-broken\.yaml:3'

finish
