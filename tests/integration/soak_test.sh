#!/usr/bin/env bash
# Soak: beacon-gen traffic at RATE hits a second for SECONDS (5 % malformed hits) while
# soak_traffic.py sends 2 % attack traffic (slow, oversized, garbage requests) and samples
# beacond's RSS every second; RSS must stay flat after the warm-up (the criterion is in
# soak_traffic.py), and after the drain every accepted hit is in ClickHouse (beacon-gen
# verify, through scripts/e2e-run). CI runs two minutes; by hand, e.g. 30 minutes:
#   tests/integration/soak_test.sh BUILD_DIR 1800
#   soak_test.sh BUILD_DIR [SECONDS=120] [RATE=1000]
set -euo pipefail
build=${1:?usage: soak_test.sh BUILD_DIR [SECONDS] [RATE]}
seconds=${2:-120}
rate=${3:-1000}
root=$(cd "$(dirname "$0")/../.." && pwd)
attack_rate=$(awk -v r="$rate" 'BEGIN { print r * 0.02 }')
samples=${SOAK_RSS_SAMPLES:-/dev/null}
exec "$root/scripts/e2e-run" --build "$build" --beacons $((rate * seconds)) --rate "$rate" \
  --sites 40 --seed 12 --connections 4 --pipeline 4 --malformed-share 0.05 \
  --during "python3 '$root/tests/integration/soak_traffic.py' --duration $seconds \
    --attack-rate $attack_rate --samples '$samples'"
