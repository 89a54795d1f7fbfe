#!/usr/bin/env bash
# Installs what Haven's tests need that a fresh machine may lack: Node.js 20+
# with npm, the packages of the FHIR interop client in
# crates/haven-cli/tests/interop (fhir-kit-client, pinned by package-lock.json),
# and headless Chromium with chromedriver for the web front-end's browser
# tests (Debian's chromium and chromium-driver).
#
# Safe to run every time: npm ci runs only when node_modules is missing or
# older than package-lock.json. Prints one line on success.
set -euo pipefail
cd "$(dirname "$0")/.."

interop=crates/haven-cli/tests/interop
min_node=20

# Chromium and chromedriver, where the web tests look for them.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: chromium or chromedriver not found; running: apt-get update && apt-get install -y chromium chromium-driver" >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >&2
  fi
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    echo "test-deps: chromium/chromedriver missing: the browser tests will print SKIPPED" \
      "(as root: apt-get install chromium chromium-driver)" >&2
  fi
fi

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: npm not found; running: apt-get update && apt-get install -y nodejs npm" >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >&2
    if ! command -v npm >/dev/null 2>&1; then
      echo "test-deps: npm is still missing after apt-get install; install Node.js ${min_node}+ with npm" >&2
      exit 1
    fi
  else
    echo "test-deps: npm is not installed. Install Node.js ${min_node}+ with npm" \
      "(for example 'apt-get install nodejs npm' as root), then re-run $0" >&2
    exit 1
  fi
fi

if ! command -v node >/dev/null 2>&1; then
  echo "test-deps: npm is installed but node is not; install Node.js ${min_node}+" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt "$min_node" ]; then
  echo "test-deps: Node.js $(node --version) is too old; fhir-kit-client needs Node.js ${min_node}+" >&2
  exit 1
fi

lock=$interop/package-lock.json
installed=$interop/node_modules/.package-lock.json
if [ ! -f "$installed" ] || [ "$installed" -ot "$lock" ]; then
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  if ! (cd "$interop" && npm ci --no-audit --no-fund) >"$log" 2>&1; then
    cat "$log" >&2
    echo "test-deps: 'npm ci' failed in $interop" >&2
    exit 1
  fi
  echo "test-deps: installed interop client packages in $interop (node $(node --version))"
else
  echo "test-deps: interop client packages up to date (node $(node --version))"
fi
