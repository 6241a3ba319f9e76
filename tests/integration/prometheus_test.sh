#!/usr/bin/env bash
# Debian's Prometheus scraping a running beacond (HTTP, kernel UDP relay and, when built with
# DPDK, the DPDK relay replaying a capture), with the shipped alert rules loaded. Through
# Prometheus's HTTP API: the series arrive with their job, instance and own labels and the
# values of a direct scrape; every rule loads and evaluates; every metric the rules and the
# Grafana dashboard name is a series Prometheus holds, and every panel's query runs.
#   tests/integration/prometheus_test.sh BUILD_DIR [WITH_DPDK (0|1)]
set -euo pipefail
build=$(cd "${1:?usage: prometheus_test.sh BUILD_DIR [WITH_DPDK]}" && pwd)
with_dpdk=${2:-0}
root=$(cd "$(dirname "$0")/../.." && pwd)
monitoring="$root/appliance/monitoring"
command -v prometheus >/dev/null || { echo "prometheus_test: no prometheus (install-deps)" >&2; exit 77; }
work=$(mktemp -d /tmp/beacond-prometheus.XXXXXX)
beacond_pid=""
prometheus_pid=""
cleanup() {
  local rc=$?
  kill_started "$beacond_pid" "$prometheus_pid"
  "$root/scripts/clickhouse-local" stop "$work/clickhouse" >/dev/null 2>&1 || true
  if [ $rc -eq 0 ]; then rm -rf "$work"; else echo "prometheus_test: kept $work" >&2; fi
  exit $rc
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
. "$root/tests/integration/lib.sh"

step "beacond with traffic (DPDK relay: $with_dpdk)"
start_node_with_traffic
target="127.0.0.1:${metrics_url#http://127.0.0.1:}"
target=${target%/metrics}

step "Prometheus scraping $target every second, rules loaded"
prom_port=$(free_ports 1)
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $monitoring/beacond.rules.yml
scrape_configs:
  - job_name: beacond
    static_configs:
      - targets: ["$target"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" 2>"$work/prometheus.log" &
prometheus_pid=$!
api="http://127.0.0.1:$prom_port/api/v1"

# The traffic is in when the accepted count holds still and ClickHouse has acknowledged all
# of it; then a scrape by Prometheus must carry the counts of a direct one.
expected=""
for _ in $(seq 1 60); do
  read -r now acked < <(curl -fsS "$metrics_url" | awk '$1 == "beacond_events_accepted_total" { a = $2 }
    $1 == "beacond_forward_acknowledged_events_total" { k = $2 } END { print a, k }')
  [ -n "$now" ] && [ "$now" = "$expected" ] && [ "$acked" = "$now" ] && break
  expected=$now
  sleep 1
done
curl -fsS "$metrics_url" >"$work/metrics.txt"
for _ in $(seq 1 60); do
  got=$(curl -fsS "$api/query" --data-urlencode 'query=beacond_events_accepted_total' 2>/dev/null |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' \
    2>/dev/null || true)
  [ "$got" = "$expected" ] && break
  sleep 1
done
echo "accepted events: direct scrape $expected, Prometheus $got"
[ "$got" = "$expected" ] || { tail "$work/prometheus.log" >&2; exit 1; }
sleep 3  # a few rule evaluations

step "Series, labels, rules and dashboard through the HTTP API"
python3 - "$api" "$target" "$work/metrics.txt" "$monitoring" "$with_dpdk" <<'PY'
import json, re, sys, urllib.parse, urllib.request
api, target, scrape_path, monitoring, with_dpdk = sys.argv[1:]
failures = []
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
def get(path, **params):
    query = urllib.parse.urlencode(params, doseq=True)
    with urllib.request.urlopen(f"{api}/{path}?{query}") as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]

# The direct scrape: {(name, frozenset(labels)): value}.
scrape = {}
for line in open(scrape_path):
    if line.startswith("#") or not line.strip():
        continue
    key, value = line.rsplit(" ", 1)
    name, _, labels = key.partition("{")
    pairs = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))
    scrape[(name, pairs)] = float(value)
names = {name for name, _ in scrape}

held = set(get("label/__name__/values"))
missing = sorted(n for n in names if n not in held)
check(not missing, f"all {len(names)} scraped families are series in Prometheus {missing or ''}")

for family, label in [("beacond_rejects_total", "reason"), ("beacond_http_requests_total", "endpoint"),
                      ("beacond_worker_ticks_total", "worker"), ("beacond_worker_cpu_seconds_total", "worker"),
                      ("beacond_forward_spool_bytes", "shard"), ("beacond_breakdown_folded_total", "dimension"),
                      ("beacond_site_events_accepted_total", "site")] + \
                     ([("beacond_dpdk_frames_total", "outcome"), ("beacond_dpdk_port_rx_packets_total", "port")]
                      if with_dpdk == "1" else []):
    series = get("series", **{"match[]": family})
    want = {dict(l)[label] for n, l in scrape if n == family}
    got = {s.get(label) for s in series}
    jobs = {(s.get("job"), s.get("instance")) for s in series}
    check(want and got == want and jobs == {("beacond", target)},
          f"{family}: {len(series)} series, job=beacond instance={target}, {label} in {sorted(want)}")

for (name, labels), value in sorted(scrape.items()):
    if name not in ("beacond_events_accepted_total", "beacond_rejects_total",
                    "beacond_site_events_accepted_total",
                    "beacond_http_requests_total", "beacond_dpdk_beacons_total",
                    "beacond_forward_acknowledged_events_total"):
        continue
    selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels))
    result = get("query", query=f"{name}{{{selector}}}")["result"]
    got = float(result[0]["value"][1]) if result else None
    if value or got:
        check(got == value, f"{name}{{{selector}}} = {got} (scrape {value})")

per_site = get("query", query="sum(beacond_site_events_accepted_total)")["result"]
accepted = scrape[("beacond_events_accepted_total", frozenset())]
check(per_site and float(per_site[0]["value"][1]) == accepted,
      f"the sites' accepted events add up to beacond_events_accepted_total ({accepted})")

up = get("query", query='up{job="beacond"}')["result"]
check(len(up) == 1 and up[0]["value"][1] == "1", "up{job=beacond} == 1")

rules = [r for g in get("rules")["groups"] for r in g["rules"]]
bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
check(len(rules) >= 17 and not bad, f"{len(rules)} rules loaded and evaluated {bad or ''}")
firing = [r["name"] for r in rules if r.get("type") == "alerting" and r.get("state") == "firing"]
check(not firing, f"no alert fires on a healthy node {firing or ''}")

# Every raw metric a rule or a dashboard panel names is a series Prometheus holds.
metric_re = re.compile(r"\bbeacond?_[a-z0-9_]+")
rule_text = open(f"{monitoring}/beacond.rules.yml").read()
rule_exprs = re.findall(r"expr: \|?\n?((?:.*\n)+?)(?=\s+(?:for|labels|- record|- alert):|\Z)", rule_text)
rule_metrics = set(metric_re.findall(" ".join(rule_exprs)))
dpdk_only = {m for m in rule_metrics if m.startswith("beacond_dpdk_")} if with_dpdk != "1" else set()
# The card's series exist only with an fpga backend; this beacond runs the SIMD one.
fpga_only = {m for m in rule_metrics if m.startswith("beacond_fpga_")}
unknown = sorted(rule_metrics - held - dpdk_only - fpga_only)
check(rule_metrics and not unknown, f"the rules' {len(rule_metrics)} metrics are real series {unknown or ''}")

dashboard = json.load(open(f"{monitoring}/beacond.dashboard.json"))
exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
panel_metrics = set(metric_re.findall(" ".join(exprs)))
dpdk_only = {m for m in panel_metrics if m.startswith("beacond_dpdk_")} if with_dpdk != "1" else set()
unknown = sorted(panel_metrics - held - dpdk_only)
check(len(exprs) > 20 and not unknown,
      f"the dashboard's {len(exprs)} queries name {len(panel_metrics)} metrics, all real series {unknown or ''}")
if dpdk_only:
    print(f"note: {len(dpdk_only)} beacond_dpdk_* names not checked (beacond built without DPDK)")
for expr in exprs:
    query = expr.replace('"$instance"', '".*"').replace("$__rate_interval", "1m")
    try:
        get("query", query=query)
    except Exception as e:  # a 400 from the API names the parse error
        check(False, f"dashboard query runs: {expr}: {e}")
check(True, "every dashboard query runs")
sys.exit(1 if failures else 0)
PY
