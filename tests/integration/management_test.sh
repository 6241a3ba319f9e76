#!/usr/bin/env bash
# Integration test: the management listener of a running beacond (no ClickHouse needed). Off
# loopback without a bearer token beacond refuses to start; with one, every route needs it and
# beaconctl stats / top send it (from --token-file, $BEACON_MANAGEMENT_TOKEN or --config);
# /healthz and /readyz answer from the workers' progress; the example visitor_key is warned
# about; a pre-existing state directory open to others is made 0700, its salts file 0600.
#   management_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: management_test.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/beacond-management.XXXXXX)
. "$root/tests/integration/lib.sh"
beacond_pid=""
cleanup() {
  local rc=$?
  [ -n "$beacond_pid" ] && kill -KILL "$beacond_pid" 2>/dev/null || true
  if [ $rc -eq 0 ]; then rm -rf "$work"; else echo "management_test: kept $work" >&2; fi
  exit $rc
}
trap cleanup EXIT
fail=0

cp "$root/appliance/examples/sites.conf" "$work/sites.conf"
ch_url="http://127.0.0.1:1"
config() {  # config EXTRA_MANAGEMENT_KEY: the management listener on 0.0.0.0
  beacond_base_config | awk -v extra="$1" '
    prev == "[management]" { print "listen = \"0.0.0.0:0\""; if (extra != "") print extra; prev = ""; next }
    { print; prev = $0 }'
  printf '[enrich]\nuser_agents = ""\n'
}

config "" >"$work/beacond.toml"
set +e
"$build/appliance/beacond" --config "$work/beacond.toml" 2>"$work/refused.log"
rc=$?
set -e
check "off loopback without a token: exit 2 ($rc)" test "$rc" -eq 2
check "... naming the key" grep -q "management.listen: a non-loopback address needs a bearer token" \
  "$work/refused.log"

printf 'm4nagement-t0ken\n' >"$work/token"
chmod 600 "$work/token"
config "token_file = \"$work/token\"" >"$work/beacond.toml"
mkdir -m 0755 "$work/state"
start_beacond
base=${metrics_url%/metrics}
auth="Authorization: Bearer m4nagement-t0ken"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
for path in /metrics /healthz /readyz; do
  check "$path without the token: 401" test "$(code "$base$path")" = 401
  check "$path with a wrong token: 401" test "$(code -H "Authorization: Bearer nope" "$base$path")" = 401
  check "$path with the token: 200" test "$(code -H "$auth" "$base$path")" = 200
done
check "/healthz says ok" test "$(curl -s -H "$auth" "$base/healthz")" = ok
check "/readyz says ready" test "$(curl -s -H "$auth" "$base/readyz")" = ready
# beaconctl sends the token from --token-file, $BEACON_MANAGEMENT_TOKEN or the config.
ctl="$build/appliance/beaconctl"
set +e
"$ctl" stats --metrics-url "$metrics_url" >/dev/null 2>"$work/ctl-refused.log"
rc=$?
set -e
check "beaconctl stats without the token: exit 1 ($rc), HTTP 401" \
  sh -c "test $rc -eq 1 && grep -q 'HTTP 401' '$work/ctl-refused.log'"
check "beaconctl stats --token-file" \
  sh -c "'$ctl' stats --all --metrics-url '$metrics_url' --token-file '$work/token' | grep -q beacond_"
check "beaconctl stats with BEACON_MANAGEMENT_TOKEN" \
  sh -c "BEACON_MANAGEMENT_TOKEN=m4nagement-t0ken '$ctl' stats --all --metrics-url '$metrics_url' | grep -q beacond_"
check "beaconctl stats --config (its [management] token_file)" \
  sh -c "'$ctl' stats --all --metrics-url '$metrics_url' --config '$work/beacond.toml' | grep -q beacond_"
check "beaconctl top --once --config" \
  sh -c "'$ctl' top --once --interval-ms 100 --node 127.0.0.1:$management_port --config '$work/beacond.toml' >/dev/null"
# Without a terminal and with stdin at its end (a script, cron), top must wait out its
# interval between frames, not redraw in a loop: about 4 frames in 1.5 s at 500 ms.
timeout -s INT 1.5 "$ctl" top --interval-ms 500 --node "127.0.0.1:$management_port" \
  --config "$work/beacond.toml" </dev/null >"$work/top-eof.out" 2>&1 || true
frames=$(grep -o $'\x1b\\[H' "$work/top-eof.out" | wc -l)
check "beaconctl top with stdin at EOF draws at its interval ($frames frames)" \
  test "$frames" -ge 1 -a "$frames" -le 8
check "the example visitor_key is warned about" \
  grep -q "visitor_key is the example value" "$work/beacond.log"
check "the state directory became 0700" test "$(stat -c %a "$work/state")" = 700
check "the salts file is 0600" test "$(stat -c %a "$work/state/visitor-salts")" = 600
kill -TERM "$beacond_pid"
wait "$beacond_pid" || true
beacond_pid=""
exit $fail
