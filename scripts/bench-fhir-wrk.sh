#!/usr/bin/env bash
# FHIR read throughput measured from outside the process: imports a FHIR
# data set into a fresh encrypted SQLite store, serves it over HTTPS and
# drives GET /fhir/Encounter/{id} and GET /healthz (the baseline) with wrk.
#
#   scripts/bench-fhir-wrk.sh [DATA_DIR_OF_NDJSON] [SECONDS] [CONNECTIONS]
#
# Installs wrk (Debian package) when it is missing and we are root.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/fhir/synthea-10}"
secs="${2:-10}"
conns="${3:-32}"
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "bench: installing wrk (apt-get install wrk)" >&2
    apt-get install -y -q wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
  else
    echo "bench: wrk is not installed; install the Debian package wrk" >&2
    exit 1
  fi
fi
[ -f "$data/Encounter.000.ndjson" ] || { echo "bench: $data has no Encounter.000.ndjson" >&2; exit 1; }
cargo build --release -q -p haven-cli
bin=target/release/haven
dir="$(mktemp -d)/data"
port=$((20000 + RANDOM % 20000))
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$(dirname "$dir")"; }
trap cleanup EXIT
"$bin" init --data-dir "$dir" >/dev/null
"$bin" import --data-dir "$dir" "$data" 2>/dev/null | head -1
"$bin" serve --data-dir "$dir" --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$((port + 1))" >/dev/null 2>&1 &
pid=$!
base="https://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf --cacert "$dir/tls/cert.pem" "$base/readyz" >/dev/null && break; sleep 0.1; done
# An EMR-style service client: full authentication and Cedar authorization.
"$bin" client add --data-dir "$dir" --name bench-emr --scopes 'system/*.cruds' >/dev/null
token="$("$bin" token issue --data-dir "$dir" --user bench-emr --ttl 1h --scope 'system/*.cruds')"
id="$(head -1 "$data/Encounter.000.ndjson" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
echo "== GET /fhir/Encounter/{id} ($conns connections, ${secs}s)"
wrk -t1 -c"$conns" -d"${secs}s" --latency -H "Authorization: Bearer $token" "$base/fhir/Encounter/$id" \
  | grep -E 'Requests/sec|^ +(50|90|99)%|Non-2xx|Socket errors'
echo "== GET /healthz (baseline)"
wrk -t1 -c"$conns" -d"${secs}s" --latency "$base/healthz" | grep -E 'Requests/sec|^ +(50|99)%'
