#!/usr/bin/env bash
# Integration test: /metrics scrapes do not stall the management listener (no ClickHouse
# needed). beacond runs on a 200,000-site registry, whose every scrape renders each site's count
# (about 0.1 s idle, more under load). While four scrapers scrape back to back, /healthz is
# polled: each probe must answer within 250 ms (a watchdog or load balancer probe), and every
# scrape answers 200 with the metrics. Then SIGTERM while the scrapers go on: beacond drains and
# exits 0, each scrape answered or its connection closed cleanly (never reset).
#   metrics_liveness_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: metrics_liveness_test.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/beacond-metrics-liveness.XXXXXX)
# shellcheck source=lib.sh
. "$root/tests/integration/lib.sh"
beacond_pid=""
scrapers=()
trap 'rc=$?; touch "$work/stop"; kill_started "${scrapers[@]}"; end_test metrics_liveness_test $rc' EXIT
fail=0
readonly sites=200000 probe_bound_s=0.25

start_offline_beacond_on_sites "$sites" 7
base="http://127.0.0.1:$management_port"
took=$(curl -s -o /dev/null -w '%{time_total}' "$base/metrics")
echo "one scrape alone: $took s"

# Scraper N: scrapes until $work/stop exists; one line per scrape in $work/scrapes-N: curl's
# exit status, the HTTP status and whether the body holds beacond_http_requests_total.
scrape_loop() {  # N
  local rc code
  while [ ! -f "$work/stop" ]; do
    rc=0
    code=$(curl -s -o "$work/scrape-$1" -w '%{http_code}' "$base/metrics") || rc=$?
    if grep -q '^beacond_http_requests_total' "$work/scrape-$1" 2>/dev/null; then
      echo "$rc $code metrics"
    else
      echo "$rc $code -"
    fi
    rm -f "$work/scrape-$1"
  done >"$work/scrapes-$1"
}
for n in 1 2 3 4; do
  scrape_loop "$n" &
  scrapers+=($!)
done

step "/healthz polled for 3 s while four scrapers scrape"
slowest=0
probes=0
end=$((SECONDS + 3))
while [ $SECONDS -lt $end ]; do
  answer=$(curl -s -o /dev/null -m 10 -w '%{http_code} %{time_total}' "$base/healthz") || true
  read -r code t <<<"$answer"
  [ "$code" = 200 ] || { echo "/healthz answered '$answer'" >&2; fail=1; }
  slowest=$(awk -v a="$slowest" -v b="$t" 'BEGIN { print (b > a) ? b : a }')
  probes=$((probes + 1))
  sleep 0.02
done
scraped=$(cat "$work"/scrapes-* | wc -l)
check "$probes probes: /healthz answered within $probe_bound_s s during $scraped scrapes (slowest $slowest s)" \
  awk -v t="$slowest" -v b="$probe_bound_s" 'BEGIN { exit !(t < b) }'
check "the scrapes ran meanwhile ($scraped > 8)" test "$scraped" -gt 8
check "every scrape answered 200 with the metrics" \
  sh -c "! grep -v '^0 200 metrics$' $work/scrapes-*"

step "SIGTERM while the scrapers go on"
cat "$work"/scrapes-* >"$work/before-stop"
kill -TERM "$beacond_pid"
rc=0
wait "$beacond_pid" || rc=$?
beacond_pid=""
touch "$work/stop"
for pid in "${scrapers[@]}"; do wait "$pid" || true; done
scrapers=()
tail -n 3 "$work/beacond.log"
check "beacond drained and exited 0 (exit $rc)" test "$rc" -eq 0
# curl: 0 answered, 52 closed without an answer, 7 no listener any more; 56 would be a reset.
check "each scrape during the stop was answered 200 or closed cleanly: $(cat "$work"/scrapes-* |
  sort | uniq -c | tr -s ' \n' ' ')" \
  sh -c "! grep -Ev '^(0 200 metrics|52 000 -|7 000 -)$' $work/scrapes-*"
exit $fail
