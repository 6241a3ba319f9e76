#!/usr/bin/env bash
# beacond --check and --print-config on this machine, without a ClickHouse: a config whose
# state dir is 0755, whose archive dir is still to be created and whose ClickHouse does not
# answer passes (exit 0) with a warning for each, as does a state dir whose parent is missing
# (beacond makes both); a broken registry and a state dir that cannot be created fail (exit 2,
# as a bad config). --print-config's output, given back to beacond, prints the same, with the
# token and password redacted.
#   tests/integration/check_config_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: check_config_test.sh BUILD_DIR}" && pwd)
work=$(mktemp -d /tmp/beacond-check.XXXXXX)
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
trap 'rc=$?; [ $rc -eq 0 ] && rm -rf "$work" || echo "check_config_test: kept $work" >&2; exit $rc' EXIT
beacond="$build/appliance/beacond"
printf '1 shop UA-1-1 shop.example\n' >"$work/sites.conf"
config() {  # STATE_DIR REGISTRY
  cat <<TOML
[sites]
registry = "$2"
[state]
dir = "$1"
[enrich]
user_agents = ""
[management]
listen = "0.0.0.0:9464"
token = "t0ken-secret"
[clickhouse]
url = "http://127.0.0.1:1"
password = "pw-secret"
spool_dir = "$1/spool"
spool_max_mb = 1
TOML
}
# Runs beacond ARGS... (lib.sh's expect_exit).
expect() { expect_exit "$beacond" "$@"; }

mkdir -m 755 "$work/state"
config "$work/state" "$work/sites.conf" >"$work/ok.toml"
expect 0 --config "$work/ok.toml" --check \
  -e "ok       site registry: $work/sites.conf: 1 sites" \
  -e "WARNING  state dir: $work/state has mode 0755, not 0700" \
  -e "fix: chmod 700 $work/state" \
  -e "WARNING  archive dir: $work/state/archive does not exist; beacond creates it at start" \
  -e "ok       spool space: $work/state/spool: " \
  -e "advice   archive space: $work/state/archive: " \
  -e "WARNING  clickhouse: http://127.0.0.1:1 does not answer SELECT 1 (" \
  -e "this node can run its config" -e "config OK; 1 sites"

printf '1 shop\n' >"$work/broken.conf"
config "$work/state" "$work/broken.conf" >"$work/broken.toml"
expect 2 --config "$work/broken.toml" --check -e "ERROR    site registry: $work/broken.conf:1:"
# A state dir whose parent is missing too: beacond's start makes both.
config "$work/new/state" "$work/sites.conf" >"$work/newstate.toml"
expect 0 --config "$work/newstate.toml" --check \
  -e "WARNING  state dir: $work/new/state does not exist; beacond creates it at start" \
  -e "this node can run its config"
# A regular file where the state dir's parent should be.
config "$work/sites.conf/state" "$work/sites.conf" >"$work/nostate.toml"
expect 2 --config "$work/nostate.toml" --check \
  -e "ERROR    state dir: $work/sites.conf/state does not exist; beacond cannot create it"

"$beacond" --config "$work/ok.toml" --print-config >"$work/printed.toml"
"$beacond" --config "$work/printed.toml" --print-config >"$work/printed-again.toml"
cmp "$work/printed.toml" "$work/printed-again.toml" ||
  { echo "check_config_test: --print-config does not round-trip" >&2; exit 1; }
for want in "token = '(redacted)'" "password = '(redacted)'" "site_rate_per_s = 0" \
  "epoch_ms = 1000"; do
  grep -qF -- "$want" "$work/printed.toml" || { echo "check_config_test: no '$want'" >&2; exit 1; }
done
if grep -q -e t0ken-secret -e pw-secret "$work/printed.toml"; then
  echo "check_config_test: a secret is printed" >&2
  exit 1
fi
echo "check_config_test: passed"
