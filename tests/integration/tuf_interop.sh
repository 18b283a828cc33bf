#!/usr/bin/env bash
# tuf_interop.sh — a repository published by `ringfence repo` is read by an
# independent TUF client, tuf-js (tests/interop/tufjs/tuf-js-client), as well
# as by ringfence-tuf-client: ed25519 / ecdsa / rsa keys, a 2-of-3 root, a
# delegated role with path patterns, consistent snapshots, then a root and a
# timestamp key rotation that both clients follow from what they trusted, and
# a repository without consistent snapshots. Served over loopback HTTP.
#
# tuf-js comes from npm: without tests/interop/tufjs/node_modules this test
# FAILS (it does not skip) and says to run `make deps`.
. "$(dirname "$0")/lib.sh"

CLIENT="$(dirname "$RINGFENCE")/ringfence-tuf-client"
TUFJS_DIR="$RF_SOURCE_DIR/tests/interop/tufjs"
TUFJS="$TUFJS_DIR/tuf-js-client"
PY=/usr/bin/python3
SRV=''
trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

if [ ! -d "$TUFJS_DIR/node_modules/tuf-js" ] || ! command -v node >/dev/null 2>&1 ||
  [ ! -x "$TUFJS" ]; then
  echo "FAIL: the tuf-js reference client is not installed ($TUFJS_DIR/node_modules/tuf-js" \
    "or node missing): run 'make deps' (it runs 'npm ci' in tests/interop/tufjs)" >&2
  exit 1
fi
check "ringfence-tuf-client is built next to ringfence" test -x "$CLIENT"
cd "$WORK" || exit 1

# ---- serve $WORK/public over loopback ----------------------------------------------
mkdir public
serve_dir "$WORK/public"

# download CLIENT STATE SUBDIR TARGET: CLIENT (tufjs|rf) downloads TARGET from
# $URL/SUBDIR with its trusted metadata in md-STATE, into dl-STATE.
download() {
  local prog=$CLIENT
  [ "$1" = tufjs ] && prog=$TUFJS
  mkdir -p "dl-$2"
  expect_exit 0 "$prog" --metadata-dir "md-$2" --metadata-url "$URL/$3/metadata" \
    --target-name "$4" --target-base-url "$URL/$3/targets" --target-dir "dl-$2" download
}
init_client() { # init_client CLIENT STATE ROOT
  local prog=$CLIENT
  [ "$1" = tufjs ] && prog=$TUFJS
  expect_exit 0 "$prog" --metadata-dir "md-$2" init "$3"
}

# ---- keys and a repository ---------------------------------------------------------
mkdir keys
for k in alice bob carol timestamp team; do
  expect_exit 0 "$RF" keys gen --type ed25519 -o keys/$k
done
expect_exit 0 "$RF" keys gen --type ecdsa -o keys/release
expect_exit 0 "$RF" keys gen --type rsa -o keys/snapshot
expect_exit 0 "$RF" -C "$EX" compile "$EX/channels/c291-v4.yaml" -o c291-v4.rfc
expect_exit 0 "$RF" -C "$EX" validate "$EX/channels/c291-v4.yaml" --report c291-v4.report.json
printf 'release notes\n' >notes.txt

expect_exit 0 "$RF" repo init repo --root-key keys/alice.pub keys/bob.pub keys/carol.pub \
  --root-threshold 2 --targets-key keys/release.pub --snapshot-key keys/snapshot.pub \
  --timestamp-key keys/timestamp.pub
expect_exit 0 "$RF" repo delegate repo --role team-291 --key keys/team.pub \
  --paths 'channels/291/*' --terminating
expect_exit 0 "$RF" repo add-target repo c291-v4.rfc --role team-291 \
  --name channels/291/c291-v4.rfc --report c291-v4.report.json
expect_exit 0 "$RF" repo add-target repo notes.txt --name docs/notes.txt
expect_exit 0 "$RF" repo sign repo --role team-291 --key keys/team
expect_exit 0 "$RF" repo sign repo --role targets --key keys/release
expect_exit 0 "$RF" repo sign repo --role root --key keys/alice
expect_exit 0 "$RF" repo sign repo --role root --key keys/carol
expect_exit 0 "$RF" repo snapshot repo --key keys/snapshot
expect_exit 0 "$RF" repo timestamp repo --key keys/timestamp
expect_exit 0 "$RF" repo publish repo public/cs
expect_out "downloaded all 2 targets"

# ---- both clients download both targets ---------------------------------------------
for c in tufjs rf; do
  init_client $c $c public/cs/metadata/1.root.json
  download $c $c cs channels/291/c291-v4.rfc
  download $c $c cs docs/notes.txt
  check "$c: channel file intact" cmp -s c291-v4.rfc "dl-$c/channels%2F291%2Fc291-v4.rfc"
  check "$c: notes intact" cmp -s notes.txt "dl-$c/docs%2Fnotes.txt"
done
check "tuf-js kept the delegated role" test -f md-tufjs/team-291.json

# ---- rotate a root key and the timestamp key, release more ---------------------------
expect_exit 0 "$RF" keys gen --type ed25519 -o keys/dave
expect_exit 0 "$RF" repo root repo --add-key root=keys/dave.pub --remove-key root=keys/carol.pub
# 2 of the old root keys (alice, carol) and 2 of the new (alice, dave).
expect_exit 0 "$RF" repo sign repo --role root --key keys/alice
expect_exit 0 "$RF" repo sign repo --role root --key keys/dave
expect_exit 0 "$RF" repo sign repo --role root --key keys/carol
expect_exit 0 "$RF" repo publish repo public/cs
expect_exit 0 "$RF" keys gen --type ed25519 -o keys/timestamp-2
expect_exit 0 "$RF" repo root repo --add-key timestamp=keys/timestamp-2.pub --remove-key timestamp=keys/timestamp.pub
expect_exit 0 "$RF" repo sign repo --role root --key keys/alice
expect_exit 0 "$RF" repo sign repo --role root --key keys/bob
printf 'release notes, second edition\n' >notes.txt
expect_exit 0 "$RF" repo add-target repo notes.txt --name docs/notes.txt
expect_exit 0 "$RF" repo sign repo --role targets --key keys/release
expect_exit 0 "$RF" repo snapshot repo --key keys/snapshot
expect_exit 0 "$RF" repo timestamp repo --key keys/timestamp-2
expect_exit 0 "$RF" repo publish repo public/cs
expect_out "root v3"
for c in tufjs rf; do
  rm -f "dl-$c/docs%2Fnotes.txt"
  download $c $c cs docs/notes.txt
  check "$c: follows the rotations to the new notes" cmp -s notes.txt "dl-$c/docs%2Fnotes.txt"
  check "$c: trusts root 3" grep -q '"version": 3' "md-$c/root.json"
  init_client $c "$c-fresh" public/cs/metadata/1.root.json
  download $c "$c-fresh" cs channels/291/c291-v4.rfc
  check "$c: a fresh client walks 1 -> 3" cmp -s c291-v4.rfc "dl-$c-fresh/channels%2F291%2Fc291-v4.rfc"
done

# ---- a tampered target: both refuse it -------------------------------------------------
sha=$(sha256sum notes.txt | cut -d' ' -f1)
printf 'evil\n' >"public/cs/targets/docs/$sha.notes.txt"
for c in tufjs rf; do
  prog=$CLIENT
  [ $c = tufjs ] && prog=$TUFJS
  mkdir -p "dl-$c-t"
  expect_exit 1 "$prog" --metadata-dir "md-$c" --metadata-url "$URL/cs/metadata" \
    --target-name docs/notes.txt --target-base-url "$URL/cs/targets" --target-dir "dl-$c-t" download
  check "$c: nothing written for a tampered target" test ! -e "dl-$c-t/docs%2Fnotes.txt"
done

# ---- without consistent snapshots ---------------------------------------------------------
expect_exit 0 "$RF" repo init plain --root-key keys/alice.pub --targets-key keys/release.pub \
  --snapshot-key keys/snapshot.pub --timestamp-key keys/timestamp.pub --no-consistent-snapshot
expect_exit 0 "$RF" repo add-target plain c291-v4.rfc --name channels/291/c291-v4.rfc \
  --report c291-v4.report.json
expect_exit 0 "$RF" repo sign plain --role targets --key keys/release
expect_exit 0 "$RF" repo sign plain --role root --key keys/alice
expect_exit 0 "$RF" repo snapshot plain --key keys/snapshot
expect_exit 0 "$RF" repo timestamp plain --key keys/timestamp
expect_exit 0 "$RF" repo publish plain public/plain
check "unversioned targets.json" test -f public/plain/metadata/targets.json
check "target at its path" cmp -s c291-v4.rfc public/plain/targets/channels/291/c291-v4.rfc
for c in tufjs rf; do
  init_client $c "$c-plain" public/plain/metadata/1.root.json
  download $c "$c-plain" plain channels/291/c291-v4.rfc
  check "$c: downloads without consistent snapshots" cmp -s c291-v4.rfc "dl-$c-plain/channels%2F291%2Fc291-v4.rfc"
done

finish
