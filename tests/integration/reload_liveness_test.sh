#!/usr/bin/env bash
# Integration test: a reload does not stall the management listener (no ClickHouse needed).
# beacond runs on a 200,000-site registry, whose reload takes about a second. While POST
# /reload runs, /healthz and /metrics are polled: each must answer within 250 ms (a watchdog or
# load balancer probe). The POST still answers the reload's outcome; a second POST sent while
# one runs waits for a reload of its own and answers it; a SIGHUP reload takes the same path.
#   reload_liveness_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: reload_liveness_test.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/beacond-reload-liveness.XXXXXX)
# shellcheck source=lib.sh
. "$root/tests/integration/lib.sh"
beacond_pid=""
posts=()
trap 'rc=$?; kill_started "${posts[@]}"; end_test reload_liveness_test $rc' EXIT
fail=0
readonly sites=200000 probe_bound_s=0.25

start_offline_beacond_on_sites "$sites" 5
base="http://127.0.0.1:$management_port"

# Starts POST /reload in the background: its status and body go to $work/post-N, its time to
# $work/post-N.time once done.
post_reload() {  # N
  curl -s -X POST -o "$work/post-$1" -w '%{http_code} %{time_total}\n' "$base/reload" \
    >"$work/post-$1.time.tmp" && mv "$work/post-$1.time.tmp" "$work/post-$1.time" &
  posts+=($!)
}

# Polls /healthz and /metrics every 20 ms until FILE exists; prints the slowest /healthz and
# /metrics answers' times (s) and the number of probes; fails when one was not 200.
probe_until() {  # FILE
  local slowest_healthz=0 slowest_metrics=0 probes=0 answer code took
  while [ ! -f "$1" ]; do
    for path in healthz metrics; do
      answer=$(curl -s -o /dev/null -m 10 -w '%{http_code} %{time_total}' "$base/$path") || true
      read -r code took <<<"$answer"
      [ "$code" = 200 ] || { echo "/$path answered '$answer'" >&2; return 1; }
      if [ $path = healthz ]; then
        slowest_healthz=$(awk -v a="$slowest_healthz" -v b="$took" 'BEGIN { print (b > a) ? b : a }')
      else
        slowest_metrics=$(awk -v a="$slowest_metrics" -v b="$took" 'BEGIN { print (b > a) ? b : a }')
      fi
      probes=$((probes + 1))
    done
    sleep 0.02
  done
  echo "$slowest_healthz $slowest_metrics $probes"
}

# check that the probes of a run (probe_until's output) were quick: /healthz within
# $probe_bound_s; /metrics, whose scrape of 200,000 sites' budgets takes about 0.1 s alone
# (more on a busy machine), within 2 s.
check_probes() {  # SLOWEST_HEALTHZ SLOWEST_METRICS PROBES
  check "$3 probes: /healthz answered within $probe_bound_s s during the reloads (slowest $1 s)" \
    awk -v t="$1" -v b="$probe_bound_s" 'BEGIN { exit !(t < b) }'
  check "... /metrics within 2 s (slowest $2 s)" awk -v t="$2" 'BEGIN { exit !(t < 2) }'
}

step "POST /reload, probes meanwhile"
post_reload 1
probes=$(probe_until "$work/post-1.time")
read -r code took <"$work/post-1.time"
echo "reload answered $code in $took s: $(cat "$work/post-1")"
check "the reload answers 200 with its outcome" \
  grep -q "^ok: $sites sites (+0 -0)" "$work/post-1"
check "the reload took long enough for the probes to see it (${took} s > 0.3 s)" \
  awk -v t="$took" 'BEGIN { exit !(t > 0.3) }'
# shellcheck disable=SC2086  # three words
check_probes $probes

step "Two POSTs at once: the second waits for a reload of its own"
post_reload 2
sleep 0.1
post_reload 3
probes=$(probe_until "$work/post-3.time")
while [ ! -f "$work/post-2.time" ]; do sleep 0.05; done
for n in 2 3; do
  check "POST $n answers 200 with its outcome ($(cat "$work/post-$n.time"))" \
    sh -c "grep -q '^200 ' '$work/post-$n.time' && grep -q '^ok: $sites sites' '$work/post-$n'"
done
# shellcheck disable=SC2086  # three words
check_probes $probes

step "SIGHUP: the same reloader; a POST during it waits for the next reload"
applied() { grep -c "beacond: reload ok" "$work/beacond.log" || true; }
before=$(applied)
kill -HUP "$beacond_pid"
sleep 0.1
post_reload 4
probes=$(probe_until "$work/post-4.time")
check "POST during the SIGHUP reload answers 200 ($(cat "$work/post-4.time"))" \
  grep -q '^200 ' "$work/post-4.time"
check "both reloads ran ($(($(applied) - before)) more in the log)" test $(($(applied) - before)) -eq 2
# shellcheck disable=SC2086  # three words
check_probes $probes
check "beacond_config_reloads_total{outcome=\"ok\"} counts the 5 reloads" \
  sh -c "curl -s '$base/metrics' | grep -q '^beacond_config_reloads_total{outcome=\"ok\"} 5$'"

step "SIGTERM"
drain_beacond
exit $fail
