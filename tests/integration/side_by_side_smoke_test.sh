#!/usr/bin/env bash
# bench/side-by-side on one benchmark of one binary against itself (two short rounds): every
# round gives a figure per side, the ratios are new / old of the same round, and a filter that
# matches two benchmarks is refused. Skips (77) with fewer than two CPUs.
#   side_by_side_smoke_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: side_by_side_smoke_test.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(nproc)" -lt 2 ]; then
  echo "SKIP: side-by-side pins its two runs to two CPUs; this machine has $(nproc)"
  exit 77
fi
work=$(mktemp -d /tmp/side-by-side-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
bench=$build/bench/kernels/aggregate_benchmark

"$root/bench/side-by-side" "$bench" "$bench" --filter 'realistic/10000$' \
  --counter ns_per_event --rounds 2 --min-time 0.05 --json "$work/figures.json" |
  tee "$work/stdout"
grep -q "new lower in [0-2] of 2 rounds" "$work/stdout"
python3 - "$work/figures.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert len(r["old"]) == len(r["new"]) == len(r["ratios"]) == 2, r
assert all(x > 0 for x in r["old"] + r["new"]), "a figure that is not positive"
for o, n, q in zip(r["old"], r["new"], r["ratios"]):
    assert abs(q - n / o) < 1e-12, "a ratio that is not new / old of its round"
print("side-by-side smoke: 2 rounds, ratios", ["%.3f" % q for q in r["ratios"]])
PY
if "$root/bench/side-by-side" "$bench" "$bench" --filter 'realistic' --rounds 1 \
  --min-time 0.01 >"$work/refused" 2>&1; then
  echo "a filter matching two benchmarks was not refused" >&2
  exit 1
fi
grep -q "matched 2 benchmarks, not one" "$work/refused"
