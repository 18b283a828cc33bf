#!/usr/bin/env bash
# tuf_repo.sh — `ringfence keys` and `ringfence repo` end to end: keys of all
# three types (private files mode 0600, never overwritten), a repository with
# a 2-of-3 ed25519 root, ecdsa targets, rsa snapshot and ed25519 timestamp; a
# validated channel file released with its report's hash; threshold signing;
# publication served over loopback HTTP and downloaded by ringfence-tuf-client;
# root and timestamp key rotation with the commands of docs/trust.md; and the
# refusals (missing key, wrong role, bad threshold, rejected or mismatched
# report) with their exit codes.
. "$(dirname "$0")/lib.sh"

CLIENT="$(dirname "$RINGFENCE")/ringfence-tuf-client"
PY=/usr/bin/python3
SRV=''
trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

check "ringfence-tuf-client is built next to ringfence" test -x "$CLIENT"
check "python3 is there to serve the repository" test -x "$PY"
cd "$WORK" || exit 1

# ---- keys --------------------------------------------------------------------
mkdir keys
for k in alice bob carol timestamp; do
  expect_exit 0 "$RF" keys gen --type ed25519 -o keys/$k
  expect_out_re '^keyid [0-9a-f]{64}$'
done
expect_exit 0 "$RF" keys gen --type ecdsa -o keys/release
expect_exit 0 "$RF" keys gen --type rsa -o keys/snapshot
for k in alice bob carol timestamp release snapshot; do
  check "keys/$k is mode 600" [ "$(stat -c %a keys/$k)" = 600 ]
  check "keys/$k.pub is one line of JSON" [ "$(wc -l <keys/$k.pub)" -eq 1 ]
  check "keys/$k.pub parses" json_valid keys/$k.pub
done
check "ecdsa key object" grep -q '"keytype":"ecdsa","keyval":{"public":"-----BEGIN PUBLIC KEY-----\\n' keys/release.pub
check "rsa key scheme" grep -q '"scheme":"rsassa-pss-sha256"' keys/snapshot.pub
# keys id agrees for the private and the public half.
expect_exit 0 "$RF" keys id keys/alice keys/alice.pub
check "keys id: one id for both halves" [ "$(printf '%s\n' "$OUT" | cut -d' ' -f1 | sort -u | wc -l)" -eq 1 ]
before=$(cat keys/alice)
expect_exit 2 "$RF" keys gen -o keys/alice
expect_one_line_error 'already exists'
check "an existing key is not overwritten" [ "$(cat keys/alice)" = "$before" ]
expect_exit 2 "$RF" keys gen --type dsa -o keys/x
expect_err "unknown key type"
check "no file for a refused type" test ! -e keys/x

# ---- a channel file and its validation report ----------------------------------
expect_exit 0 "$RF" -C "$EX" compile "$EX/channels/c291-v4.yaml" -o c291-v4.rfc
expect_exit 0 "$RF" -C "$EX" validate "$EX/channels/c291-v4.yaml" --report c291-v4.report.json
expect_exit 0 "$RF" -C "$EX" compile "$EX/channels/c291-v5.yaml" -o c291-v5.rfc
expect_exit 1 "$RF" -C "$EX" validate "$EX/channels/c291-v5.yaml" --report c291-v5.report.json

# ---- init -------------------------------------------------------------------------
expect_exit 2 "$RF" repo init repo --root-key keys/alice.pub keys/bob.pub keys/carol.pub \
  --root-threshold 4 --targets-key keys/release.pub --snapshot-key keys/snapshot.pub \
  --timestamp-key keys/timestamp.pub
expect_err "threshold"
expect_exit 2 "$RF" repo init repo --root-key keys/alice.pub --root-threshold 0 \
  --targets-key keys/release.pub --snapshot-key keys/snapshot.pub --timestamp-key keys/timestamp.pub
expect_one_line_error 'bad threshold'
expect_exit 2 "$RF" repo init repo --root-key keys/nobody.pub --targets-key keys/release.pub \
  --snapshot-key keys/snapshot.pub --timestamp-key keys/timestamp.pub
expect_one_line_error 'keys/nobody\.pub'
expect_exit 1 "$RF" repo init repo --root-key keys/alice --targets-key keys/release.pub \
  --snapshot-key keys/snapshot.pub --timestamp-key keys/timestamp.pub
expect_err "not a public key"
expect_exit 2 "$RF" repo init repo --root-key keys/alice.pub --targets-key keys/release.pub \
  --snapshot-key keys/snapshot.pub
expect_err "--timestamp-key is required"
expect_exit 2 "$RF" repo init repo --root-key keys/alice.pub --targets-key keys/release.pub \
  --snapshot-key keys/snapshot.pub --timestamp-key keys/timestamp.pub --expires forever=3
expect_err "unknown role 'forever'"
check "refused inits leave no repository" test ! -e repo

expect_exit 0 "$RF" repo init repo --root-key keys/alice.pub keys/bob.pub keys/carol.pub \
  --root-threshold 2 --targets-key keys/release.pub --snapshot-key keys/snapshot.pub \
  --timestamp-key keys/timestamp.pub
check "repo.json" json_valid repo/repo.json
check "root history 1" test -f repo/staged/root-history/1.root.json
expect_exit 2 "$RF" repo init repo --root-key keys/alice.pub --targets-key keys/release.pub \
  --snapshot-key keys/snapshot.pub --timestamp-key keys/timestamp.pub
expect_err "not empty"

# ---- release a channel file (docs/trust.md, "Releasing a channel file") ------------
expect_exit 1 "$RF" repo add-target repo c291-v5.rfc --name channels/291/c291-v5.rfc \
  --report c291-v5.report.json
expect_one_line_error "verdict is 'rejected'"
expect_exit 1 "$RF" repo add-target repo c291-v5.rfc --report c291-v4.report.json
expect_one_line_error 'report is for other content'
expect_exit 1 "$RF" repo add-target repo c291-v4.rfc --role nosuch --name x.rfc
expect_one_line_error 'no role "nosuch"'
expect_exit 2 "$RF" repo add-target repo c291-v4.rfc --name ../escape.rfc
expect_one_line_error '".." part'
expect_exit 2 "$RF" repo add-target repo c291-v4.rfc --custom '[1,2]'
expect_one_line_error 'JSON object'
expect_exit 2 "$RF" repo add-target repo c291-v4.rfc --custom '{"channel":7}'
expect_one_line_error 'comes from the channel file'
head -c 100 c291-v4.rfc >broken.rfc
expect_exit 1 "$RF" repo add-target repo broken.rfc
expect_err "does not read as one: not released"
targets_before=$(cat repo/staged/targets.json)

expect_exit 0 "$RF" repo add-target repo c291-v4.rfc --name channels/291/c291-v4.rfc \
  --report c291-v4.report.json --custom '{"ticket":"REL-42"}'
expect_out "added target channels/291/c291-v4.rfc in role targets"
check "refusals did not touch targets" not [ "$targets_before" = "$(cat repo/staged/targets.json)" ]
check "the file is in the repository" cmp -s c291-v4.rfc repo/targets/channels/291/c291-v4.rfc
expect_exit 1 "$RF" repo sign repo --role targetz --key keys/release
expect_one_line_error 'no role "targetz"'
expect_exit 2 "$RF" repo sign repo --role targets --key keys/missing
expect_one_line_error 'keys/missing'
expect_exit 1 "$RF" repo sign repo --role targets --key keys/alice
expect_one_line_error 'not a key of role targets'
expect_exit 0 "$RF" repo sign repo --role targets --key keys/release
expect_out "targets: version 1, 1 of 1 signature"
expect_exit 0 "$RF" repo sign repo --role root --key keys/alice
expect_exit 0 "$RF" repo snapshot repo --key keys/snapshot
expect_exit 0 "$RF" repo timestamp repo --key keys/timestamp
expect_exit 0 "$RF" repo status repo
expect_out_re '^root +1 .* 1/2 +no'
expect_out "not ready to publish"
expect_exit 1 "$RF" repo publish repo public
expect_one_line_error 'root version 1 is not signed by a threshold of its own root keys.*1 valid signature.*2 needed'
check "a refused publish writes nothing" test ! -e public
# The second root key holder signs in turn.
expect_exit 0 "$RF" repo sign repo --role root --key keys/bob
expect_out "root: version 1, 2 of 2 signatures"
expect_exit 0 "$RF" repo status repo --json
check "status --json parses" json_valid "$WORK/.out"
expect_out '"ready": true'
expect_exit 0 "$RF" repo publish repo public
expect_out "published public: root v1 targets v1 snapshot v1 timestamp v1"
expect_out "downloaded all 1 target"
for f in 1.root.json 1.targets.json 1.snapshot.json timestamp.json; do
  check "public/metadata/$f" test -f public/metadata/$f
done
sha=$(sha256sum c291-v4.rfc | cut -d' ' -f1)
check "target under its hash" cmp -s c291-v4.rfc "public/targets/channels/291/$sha.c291-v4.rfc"
rsha=$(sha256sum c291-v4.report.json | cut -d' ' -f1)
check "custom metadata: channel" grep -q '"channel": 291' public/metadata/1.targets.json
check "custom metadata: content_version" grep -q '"content_version": 4' public/metadata/1.targets.json
check "custom metadata: template" grep -q '"template_type": "ipc_named_pipe"' public/metadata/1.targets.json
check "custom metadata: report hash" grep -q "\"report_sha256\": \"$rsha\"" public/metadata/1.targets.json
check "custom metadata: --custom field" grep -q '"ticket": "REL-42"' public/metadata/1.targets.json

# ---- serve it over loopback and download with ringfence-tuf-client ------------------
serve_dir "$WORK/public"
get() { # get NAME TARGET: download TARGET with client state NAME
  mkdir -p "dl-$1"
  expect_exit 0 "$CLIENT" --metadata-dir "md-$1" --metadata-url "$URL/metadata" \
    --target-name "$2" --target-base-url "$URL/targets" --target-dir "dl-$1" download
}
expect_exit 0 "$CLIENT" --metadata-dir md-agent init public/metadata/1.root.json
expect_exit 0 "$CLIENT" --metadata-dir md-agent --metadata-url "$URL/metadata" refresh
get agent channels/291/c291-v4.rfc
check "downloaded file equals the channel file" cmp -s c291-v4.rfc "dl-agent/channels%2F291%2Fc291-v4.rfc"

# ---- key rotation (docs/trust.md, "Rotating keys") -------------------------------------
# Carol's root key is replaced by Dave's.
expect_exit 0 "$RF" keys gen --type ed25519 -o keys/dave
expect_exit 0 "$RF" repo root repo --add-key root=keys/dave.pub --remove-key root=keys/carol.pub
expect_out "root: version 2, 0 of 2 signatures (and 0 of 2 from the previous root's keys)"
# Dave alone (new key) and Carol alone (old key) are not enough.
expect_exit 0 "$RF" repo sign repo --role root --key keys/dave
expect_exit 0 "$RF" repo sign repo --role root --key keys/carol
expect_out "root: version 2, 1 of 2 signatures (and 1 of 2 from the previous root's keys)"
expect_exit 1 "$RF" repo publish repo public
expect_one_line_error 'root version 2'
expect_exit 0 "$RF" repo sign repo --role root --key keys/alice
expect_out "root: version 2, 2 of 2 signatures (and 2 of 2 from the previous root's keys)"
expect_exit 0 "$RF" repo publish repo public
check "public/metadata/2.root.json" test -f public/metadata/2.root.json
check "root 1 is still published" test -f public/metadata/1.root.json
expect_exit 1 "$RF" repo sign repo --role root --key keys/carol
expect_one_line_error 'not a key of role root'

# The timestamp key is compromised: a new one replaces it.
expect_exit 0 "$RF" keys gen --type ed25519 -o keys/timestamp-2
expect_exit 0 "$RF" repo root repo --add-key timestamp=keys/timestamp-2.pub --remove-key timestamp=keys/timestamp.pub
expect_exit 0 "$RF" repo sign repo --role root --key keys/alice
expect_exit 0 "$RF" repo sign repo --role root --key keys/bob
expect_exit 0 "$RF" repo snapshot repo --key keys/snapshot
expect_exit 0 "$RF" repo timestamp repo --key keys/timestamp-2
expect_exit 0 "$RF" repo publish repo public
expect_out "root v3"
expect_exit 1 "$RF" repo timestamp repo --key keys/timestamp
expect_one_line_error 'not a key of role timestamp'

# A new release after the rotations; the agent that trusted root 1 follows.
expect_exit 0 "$RF" repo add-target repo "$RF_SOURCE_DIR/README.md" --name docs/readme.txt
expect_out "targets: version 2, 0 of 1 signature"
expect_exit 0 "$RF" repo sign repo --role targets --key keys/release
expect_exit 0 "$RF" repo snapshot repo --key keys/snapshot
expect_exit 0 "$RF" repo timestamp repo --key keys/timestamp-2
expect_exit 0 "$RF" repo publish repo public
expect_out "downloaded all 2 targets"
get agent docs/readme.txt
check "the agent took the new target" cmp -s "$RF_SOURCE_DIR/README.md" "dl-agent/docs%2Freadme.txt"
check "the agent trusts root 3" grep -q '"version": 3' md-agent/root.json
# A fresh client from root 1 walks 1 -> 2 -> 3.
expect_exit 0 "$CLIENT" --metadata-dir md-fresh init public/metadata/1.root.json
get fresh channels/291/c291-v4.rfc
check "a fresh client downloads too" cmp -s c291-v4.rfc "dl-fresh/channels%2F291%2Fc291-v4.rfc"

# A tampered published target is refused by the client.
printf 'x' >>"public/targets/docs/$(sha256sum "$RF_SOURCE_DIR/README.md" | cut -d' ' -f1).readme.txt"
mkdir -p dl-t
expect_exit 1 "$CLIENT" --metadata-dir md-fresh --metadata-url "$URL/metadata" \
  --target-name docs/readme.txt --target-base-url "$URL/targets" --target-dir dl-t download
check "nothing written for a tampered target" test ! -e "dl-t/docs%2Freadme.txt"

# ---- help ---------------------------------------------------------------------------------
expect_exit 0 "$RF" help repo
expect_out "Subcommands:"
expect_exit 0 "$RF" help keys
expect_out "keys gen"
expect_exit 0 "$RF" repo sign --help
expect_out "usage: ringfence repo sign DIR --role ROLE --key PRIVATE"
expect_exit 2 "$RF" repo frobnicate repo
expect_one_line_error "unknown subcommand 'frobnicate'"
expect_exit 2 "$RF" repo status
expect_exit 2 "$RF" repo status no-such-dir
expect_exit 2 "$RF" repo status "$WORK/keys"
expect_one_line_error 'not a ringfence TUF repository'

finish
