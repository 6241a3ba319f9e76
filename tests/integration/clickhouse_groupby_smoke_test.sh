#!/usr/bin/env bash
# bench/clickhouse-groupby for one short round: a private ClickHouse 18.16 groups the
# benchmark's events into the same rows as MinuteAggregator (every count and visitor estimate
# equal, or the tool exits 1), and the round gives both figures per event and their ratio.
#   clickhouse_groupby_smoke_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: clickhouse_groupby_smoke_test.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/clickhouse-groupby-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT

"$root/bench/clickhouse-groupby" --build-dir "$build" --rounds 1 --min-time 0.05 \
  --json "$work/figures.json" | tee "$work/stdout"
grep -q "rows equal beacond's" "$work/stdout"
python3 - "$work/figures.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["events"] > 100000 and r["rows"] > 1000, r
(f,) = r["rounds"]
assert f["clickhouse_ns"] > f["array_join_ns"] > 0 and f["beacond_ns"] > 0, f
assert abs(f["ratio"] - f["clickhouse_ns"] / f["beacond_ns"]) < 1e-9, f
print("clickhouse-groupby smoke: %d events, %d rows equal, ratio %.2f" %
      (r["events"], r["rows"], f["ratio"]))
PY
