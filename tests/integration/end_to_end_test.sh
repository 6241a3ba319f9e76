#!/usr/bin/env bash
# Integration test: >= 100,000 generated beacons over HTTP into beacond, drained into a real
# ClickHouse; the analyst queries must equal the ground truth (counts exactly, visitors
# within the sketch's error). Between sending and draining, malformed and oversized HTTP
# requests must each get their status code and counter while beacond keeps serving.
#   end_to_end_test.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: end_to_end_test.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
exec "$root/scripts/e2e-run" --build "$build" --beacons 100000 --sites 40 --seed 11 \
  --between "$root/tests/integration/http_rejects_check.sh"
