#!/usr/bin/env bash
# beacon-bench on a tiny matrix (scalar and fpga-csim; kernel UDP relay, HTTP, nginx; one
# worker; seconds): its JSON parses and holds rows, ratios marked same-run and a latency CDF,
# and its three plots are PNG files. Without gnuplot it skips (77).
#   beacon_bench_smoke_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: beacon_bench_smoke_test.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v gnuplot >/dev/null; then
  echo "SKIP: no gnuplot (apt-get install gnuplot-nox)"
  exit 77
fi
work=$(mktemp -d /tmp/beacon-bench-smoke.XXXXXX)
trap 'rc=$?; [ $rc -eq 0 ] && rm -rf "$work" || echo "kept $work" >&2; exit $rc' EXIT

"$root/bench/beacon-bench" --build-dir "$build" --smoke --out "$work/out" | tee "$work/stdout"
grep -q "same-run" "$work/stdout"
python3 - "$work/out" <<'PY'
import json, sys
out = sys.argv[1]
r = json.load(open(out + "/beacon-bench.json"))
rows = r["ingress"]
assert any(x["ingress"] == "http" for x in rows), "no HTTP row"
assert any(x["ingress"] == "udp" for x in rows) or any(
    s["what"].startswith("udp") for s in r["skipped"]), "no UDP row and no reason"
assert all(x["beacons_per_s"] > 0 for x in rows), "a row without throughput"
assert r["ratios"] and all(x["same_run"] for x in r["ratios"]), "ratios not marked same-run"
assert r["latency"] and all(len(c["cdf"]) > 1 for c in r["latency"]), "no latency CDF"
for name in ("stages", "scaling", "latency"):
    with open("%s/%s.png" % (out, name), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", name + ".png is not a PNG"
print("beacon-bench smoke: %d rows, %d ratios, %d CDFs, 3 PNGs" %
      (len(rows), len(r["ratios"]), len(r["latency"])))
PY
