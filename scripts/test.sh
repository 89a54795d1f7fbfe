#!/usr/bin/env bash
# Runs Haven's whole test suite: the README's test command.
#
# PostgreSQL backend tests run when HAVEN_TEST_POSTGRES_URL is set (for
# example postgres://postgres@127.0.0.1:5432/test); each run uses its own
# schema, so runs never collide. Without it they print SKIPPED and pass.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${HAVEN_TEST_POSTGRES_URL:-}" ]; then
  echo "note: HAVEN_TEST_POSTGRES_URL is not set; PostgreSQL backend tests will be skipped" >&2
fi
# Test-only tools a fresh machine lacks (the independent FHIR client).
scripts/test-deps.sh
exec cargo test --workspace --all-targets --locked "$@"
