#!/usr/bin/env bash
# FHIR throughput measured from outside the process: imports a FHIR data
# set into a fresh encrypted SQLite store, serves it over HTTPS and drives
# GET /fhir/Encounter/{id}, GET /fhir/Patient?identifier=SYSTEM|VALUE and
# GET /healthz (the baseline) with wrk. Each figure is printed next to its
# target: import >= 5,000 resources/s; read >= 10,000 req/s with p99 <= 10 ms.
#
#   scripts/bench-fhir-wrk.sh [DATA_DIR_OF_NDJSON] [SECONDS] [CONNECTIONS]
#
# The binary is built in ${CARGO_TARGET_DIR:-target}. Installs wrk (Debian
# package) when it is missing and we are root.
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
[ -f "$data/Patient.000.ndjson" ] || { echo "bench: $data has no Patient.000.ndjson" >&2; exit 1; }
cargo build --release -q -p haven-cli
bin="${CARGO_TARGET_DIR:-target}/release/haven"
dir="$(mktemp -d)/data"
port=$((20000 + RANDOM % 20000))
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$(dirname "$dir")"; }
trap cleanup EXIT
"$bin" init --data-dir "$dir" >/dev/null
echo "== import $data (target: >= 5,000 resources/s)"
"$bin" import --data-dir "$dir" "$data" 2>/dev/null | head -1
"$bin" serve --data-dir "$dir" --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$((port + 1))" >/dev/null 2>&1 &
pid=$!
base="https://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf --cacert "$dir/tls/cert.pem" "$base/readyz" >/dev/null && break; sleep 0.1; done
# An EMR-style service client: full authentication and Cedar authorization.
"$bin" client add --data-dir "$dir" --name bench-emr --scopes 'system/*.cruds' >/dev/null
token="$("$bin" token issue --data-dir "$dir" --user bench-emr --ttl 1h --scope 'system/*.cruds')"
id="$(head -1 "$data/Encounter.000.ndjson" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
# SYSTEM|VALUE of the first identifier of the first Patient, URL-encoded.
identifier="$(head -1 "$data/Patient.000.ndjson" | python3 -c '
import json, sys, urllib.parse
i = json.load(sys.stdin)["identifier"][0]
print(urllib.parse.quote(i["system"] + "|" + i["value"], safe=""))')"
# The search must find its Patient, or the phase would measure empty answers.
found="$(curl -sf --cacert "$dir/tls/cert.pem" -H "Authorization: Bearer $token" \
  "$base/fhir/Patient?identifier=$identifier&_summary=count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')"
[ "$found" = 1 ] || { echo "bench: Patient?identifier= found $found patients, not 1" >&2; exit 1; }
run() { # name url target
  echo "== $1 ($conns connections, ${secs}s; $3)"
  wrk -t1 -c"$conns" -d"${secs}s" --latency -H "Authorization: Bearer $token" "$2" \
    | grep -E 'Requests/sec|^ +(50|90|99)%|Non-2xx|Socket errors'
}
run "GET /fhir/Encounter/{id}" "$base/fhir/Encounter/$id" "target: >= 10,000 req/s, p99 <= 10 ms"
run "GET /fhir/Patient?identifier=SYSTEM|VALUE" "$base/fhir/Patient?identifier=$identifier" \
  "no target of its own; the read target for comparison: >= 10,000 req/s, p99 <= 10 ms"
echo "== GET /healthz (baseline, no target)"
wrk -t1 -c"$conns" -d"${secs}s" --latency "$base/healthz" | grep -E 'Requests/sec|^ +(50|99)%'
