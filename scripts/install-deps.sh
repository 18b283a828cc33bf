#!/usr/bin/env bash
# install-deps.sh — installs the Debian packages ringfence needs to build and
# test, if any are missing. Called by `make demo` and `make test`; safe to run
# again (it only asks apt and npm when something is missing). Uses sudo when
# not root for apt.
#   scripts/install-deps.sh [--fuzz]   (--fuzz adds clang for libFuzzer)
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config libyaml-dev libjansson-dev
      libvectorscan-dev libpcre2-dev libcmocka-dev libssl-dev libcurl4-openssl-dev
      python3 python3-cryptography faketime strace nodejs
      libsqlite3-dev sqlite3 libmicrohttpd-dev libpq-dev postgresql openssl)
# npm: Debian's package, unless the machine already has an npm (a Node.js
# distribution that ships its own npm conflicts with Debian's).
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
if [ "${1:-}" = "--fuzz" ]; then
  pkgs+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "ringfence: installing missing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      SUDO="sudo"
    else
      echo "ringfence: need root (or sudo) to install: ${missing[*]}" >&2
      exit 2
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The tuf-js client from the npm registry, for the TUF interoperability test;
# exact versions pinned by its package-lock.json.
tufjs="$(dirname "$0")/../tests/interop/tufjs"
if [ ! -f "$tufjs/node_modules/.package-lock.json" ] ||
   [ "$tufjs/package-lock.json" -nt "$tufjs/node_modules/.package-lock.json" ]; then
  echo "ringfence: installing the tuf-js test client (npm ci)"
  (cd "$tufjs" && npm ci --no-audit --no-fund --loglevel=error)
fi
