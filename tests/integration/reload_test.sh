#!/usr/bin/env bash
# Integration test: live reload under traffic. BEACONS generated beacons go over HTTP into
# beacond in two phases while a reload (SIGHUP and beaconctl reload, in turn) runs every
# 100 ms; between the phases the registry gains site 20 and loses site 1. The ground truth of
# both phases (hits of a site beacond lacks expected as unknown_site) must equal what reached
# ClickHouse and beacond's counters: nothing dropped or counted twice, each site counted from
# its reload on. Then a broken registry is refused with its reason while traffic goes on, and
# a changed restart-only key is reported.
#   reload_test.sh BUILD_DIR [BEACONS]
set -euo pipefail
build=$(cd "${1:?usage: reload_test.sh BUILD_DIR [BEACONS]}" && pwd)
beacons=${2:-200000}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/beacond-reload.XXXXXX)
# shellcheck source=lib.sh
. "$root/tests/integration/lib.sh"
gen="$build/bench/gen/beacon-gen"
ctl="$build/appliance/beaconctl"
reloader_pid=""
begin_test reload_test 20 7
trap 'rc=$?; kill_started "$reloader_pid"; end_test reload_test $rc' EXIT
fail=0

# first.conf lacks site 20, second.conf site 1; beacond reads sites.conf.
mv "$work/sites.conf" "$work/all.conf"
grep -v '^20 ' "$work/all.conf" >"$work/first.conf"
grep -v '^1 ' "$work/all.conf" >"$work/second.conf"
cp "$work/first.conf" "$work/sites.conf"
{
  beacond_base_config "127.0.0.1:0" 2
  echo "flush_interval_ms = 200"
} >"$work/beacond.toml"
step "beacond"
start_beacond
reload() { "$ctl" reload --management "127.0.0.1:$management_port"; }

# Reloads every 100 ms until $work/stop exists, by SIGHUP and beaconctl in turn; counts them.
reload_every_100ms() {
  local n=0
  while [ ! -f "$work/stop" ]; do
    if ((n % 2)); then kill -HUP "$beacond_pid"; else reload >/dev/null; fi
    n=$((n + 1))
    sleep 0.1
  done
  echo "$n" >"$work/reloads"
}
reload_every_100ms &
reloader_pid=$!

send() {  # PHASE SEED BEACONS: sends with beacond's registry being PHASE.conf
  "$gen" send --target "http://127.0.0.1:$http_port" --sites-file "$work/all.conf" \
    --registered-sites "$work/$1.conf" --beacons "$3" --seed "$2" --malformed-share 0 \
    --bot-share 0 --connections 4 --pipeline 8 --truth "$work/truth-$1-$2.tsv"
}
step "Phase 1: $((beacons / 2)) beacons, site 20 not registered"
send first 1 $((beacons / 2))
step "Reload: site 20 added, site 1 removed"
cp "$work/second.conf" "$work/sites.conf.new"
mv "$work/sites.conf.new" "$work/sites.conf"
reload  # applied before phase 2's first beacon: the loop's reloads find the same file
step "Phase 2: $((beacons / 2)) beacons, site 1 no longer registered"
send second 2 $((beacons / 2))
touch "$work/stop"
wait "$reloader_pid"
reloader_pid=""
echo "$(cat "$work/reloads") reloads during the run"

step "A broken registry is refused and traffic goes on"
echo "21 broken" >>"$work/sites.conf"
rc=0
reload 2>"$work/refused.txt" || rc=$?
cat "$work/refused.txt"
check "beaconctl reload exits 1 on a refusal" test "$rc" -eq 1
check "the refusal names the file and line" grep -Eq "refused: $work/sites.conf:[0-9]+: expected" "$work/refused.txt"
send second 3 2000

step "A restart-only key is reported, not applied"
cp "$work/second.conf" "$work/sites.conf"
sed -i 's/^workers = 2$/workers = 3/' "$work/beacond.toml"
reload >"$work/restart.txt"
cat "$work/restart.txt"
check "http.workers needs a restart" grep -q "restart needed for: http.workers" "$work/restart.txt"

truths=(--truth "$work/truth-first-1.tsv" --truth "$work/truth-second-2.tsv"
  --truth "$work/truth-second-3.tsv")
"$gen" wait-metrics --metrics-url "$metrics_url" "${truths[@]}" --timeout-s 60
sleep 1
curl -fsS "$metrics_url" >"$work/metrics.txt"
sample() { awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }' "$work/metrics.txt"; }
ok_reloads=$(sample 'beacond_config_reloads_total{outcome="ok"}')
echo "reloads: $ok_reloads ok, $(sample 'beacond_config_reloads_total{outcome="refused"}') refused"
# SIGHUPs that arrive together coalesce; each beaconctl reload is answered once applied.
check "the reloads of the run applied" test "$ok_reloads" -ge "$(($(cat "$work/reloads") / 2 + 2))"
check "one reload refused" test "$(sample 'beacond_config_reloads_total{outcome="refused"}')" -eq 1
check "a restart is pending" test "$(sample beacond_config_restart_pending_keys)" -eq 1
# The per-site counters (kept by site id across the registry changes) match each phase's truth.
site_truth() {  # SITE TRUTH...: pageviews + events of SITE in the truth files
  local site=$1
  shift
  awk -F'\t' -v s="$site" '$1 == "site_minute" && $2 == s { n += $4 + $5 } END { print n + 0 }' "$@"
}
site_metric() { sample "beacond_site_events_accepted_total{site=\"$1\",name=\"$2\"}"; }
name1=$(awk '$1 == 1 { print $2 }' "$work/all.conf")
name20=$(awk '$1 == 20 { print $2 }' "$work/all.conf")
check "site 1 counted in phase 1 only" \
  test "$(site_metric 1 "$name1")" -eq "$(site_truth 1 "$work"/truth-*.tsv)"
check "site 20 counted from its reload on" \
  test "$(site_metric 20 "$name20")" -eq "$(site_truth 20 "$work"/truth-*.tsv)"
unknown1=$(awk -F'\t' '$1 == "reject" && $2 == "unknown_site" { print $3 }' "$work/truth-first-1.tsv")
check "phase 1 sent site 20 hits, expected rejected ($unknown1)" test "${unknown1:-0}" -gt 0
check "nothing of site 20 accepted in phase 1" test "$(site_truth 20 "$work/truth-first-1.tsv")" -eq 0
check "site 1 sent nothing accepted in phase 2" test "$(site_truth 1 "$work/truth-second-2.tsv")" -eq 0

step "Drain and verify against the truth of all phases"
drain_beacond
"$gen" verify "${truths[@]}" --clickhouse "$ch_url" --database beacon \
  --metrics-url "file://$work/metrics.txt" || fail=1
exit $fail
