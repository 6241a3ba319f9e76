#!/usr/bin/env bash
# Package test: `cmake --install BUILD_DIR --prefix $stage/usr` (the layout of the package:
# /etc and /lib beside usr/), then the installed programs only: `beacond --check` and
# `beaconctl` on the installed default config and registry, and a short end to end run — a
# local ClickHouse, the schema by the installed beaconctl, the installed beacond on the
# installed config with an operator's edits (registry, ports, state, spool, ClickHouse URL),
# BEACONS generated beacons, a SIGTERM drain and beacon-gen's verify against the truth.
#   installed_end_to_end_test.sh BUILD_DIR [BEACONS]
set -euo pipefail
build=$(cd "${1:?usage: installed_end_to_end_test.sh BUILD_DIR [BEACONS]}" && pwd)
beacons=${2:-5000}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/beacond-installed.XXXXXX)
. "$root/tests/integration/lib.sh"
beacond_pid=""
# lib.sh's end_test: kills beacond, stops ClickHouse, keeps $work when the test failed.
trap 'end_test installed_end_to_end_test $?' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== cmake --install --prefix $work/root/usr"
stage=$work/root
cmake --install "$build" --prefix "$stage/usr" >"$work/install.log"
for path in usr/sbin/beacond usr/bin/beaconctl etc/beacond/beacond.toml etc/beacond/sites.conf \
    lib/systemd/system/beacond.service usr/share/man/man8/beacond.8.gz; do
  [ -e "$stage/$path" ] || fail "$path not installed"
done
if grep -E '^-- (Installing|Up-to-date): ' "$work/install.log" | grep -vF -- "$stage/"; then
  fail "cmake --install wrote outside the prefix's root"
fi
beacond=$stage/usr/sbin/beacond
beaconctl=$stage/usr/bin/beaconctl
conf=$stage/etc/beacond/beacond.toml

echo "== the installed programs on the installed default config"
# The default config names /etc/beacond/sites.conf; the staged copy stands in for it.
"$beacond" --config "$conf" --sites "$stage/etc/beacond/sites.conf" --check | tee "$work/check"
grep -qx 'config OK; 3 sites' "$work/check" || fail "beacond --check"
"$beaconctl" sites "$stage/etc/beacond/sites.conf" | tee "$work/sites"
grep -q ': 3 sites, 4 tracking ids, 1 sites accepting any host$' "$work/sites" || fail "beaconctl sites"
"$beaconctl" schema --config "$conf" --print >"$work/schema.sql"
grep -q 'CREATE TABLE IF NOT EXISTS beacon.site_minutes' "$work/schema.sql" ||
  fail "beaconctl schema --print on the default config"
if "$beacond" --config "$conf" --sites /nonexistent --check 2>/dev/null; then
  fail "beacond --check accepted a missing registry"
fi

echo "== end to end with the installed programs"
ch_url=$("$root/scripts/clickhouse-local" start "$work/clickhouse" | tail -n 1)
"$beaconctl" schema --clickhouse "$ch_url" --database beacon
"$build/bench/gen/beacon-gen" sites --sites 20 --seed 5 --out "$work/sites.conf" >/dev/null
# What an operator edits in the shipped config: registry, listen ports, state, spool, ClickHouse.
sed -e "s|^registry = .*|registry = \"$work/sites.conf\"|" \
    -e 's|^listen = .*|listen = "127.0.0.1:0"|' \
    -e 's|^workers = 0 .*|workers = 2|' \
    -e "s|^dir = \"/var/lib/beacond\"|dir = \"$work/state\"|" \
    -e "s|^url = .*|url = \"$ch_url\"|" \
    -e "s|^spool_dir = .*|spool_dir = \"$work/spool\"|" "$conf" >"$work/beacond.toml"
[ "$(grep -c "$work\|$ch_url\|127.0.0.1:0\|^workers = 2" "$work/beacond.toml")" -eq 7 ] ||
  fail "the shipped config no longer has the keys this test edits"
"$beacond" --config "$work/beacond.toml" --check
BEACOND=$beacond start_beacond
"$build/bench/gen/beacon-gen" send --target "http://127.0.0.1:$http_port" \
  --sites-file "$work/sites.conf" --beacons "$beacons" --seed 5 --connections 4 --pipeline 8 \
  --truth "$work/truth.tsv"
"$build/bench/gen/beacon-gen" wait-metrics --metrics-url "$metrics_url" --truth "$work/truth.tsv" \
  --timeout-s 60
"$beaconctl" stats --metrics-url "$metrics_url" | tee "$work/stats"
grep -q '^beacond_' "$work/stats" || fail "beaconctl stats printed no counters"
curl -fsS "$metrics_url" >"$work/metrics.txt"
kill -TERM "$beacond_pid"
rc=0
wait "$beacond_pid" || rc=$?
beacond_pid=""
tail -n 2 "$work/beacond.log"
((rc == 0)) || fail "the installed beacond exited $rc after SIGTERM"
"$build/bench/gen/beacon-gen" verify --truth "$work/truth.tsv" --clickhouse "$ch_url" \
  --database beacon --metrics-url "file://$work/metrics.txt"
echo "PASS"
