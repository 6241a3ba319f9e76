#!/usr/bin/env bash
# beaconctl doctor and setup on this machine: a config without DPDK passes (exit 0); a DPDK
# port at a PCI address with no device fails (exit 1) saying there is no NIC; a missing state
# dir (its parent missing too) is a warning, as beacond's start makes both, setup --apply
# creates it, and doctor passes again; one below a regular file fails; a bad config fails.
#   tests/integration/doctor_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: doctor_test.sh BUILD_DIR}" && pwd)
work=$(mktemp -d /tmp/beacond-doctor.XXXXXX)
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
trap 'rc=$?; [ $rc -eq 0 ] && rm -rf "$work" || echo "doctor_test: kept $work" >&2; exit $rc' EXIT
beaconctl="$build/appliance/beaconctl"
printf '1 shop UA-1-1 shop.example\n' >"$work/sites.conf"
config() {
  printf '[sites]\nregistry = "%s"\n[state]\ndir = "%s"\n' "$work/sites.conf" "$1"
  printf '[enrich]\nuser_agents = ""\n'
}
# Runs beaconctl ARGS... (lib.sh's expect_exit).
expect() { expect_exit "$beaconctl" "$@"; }

mkdir -p "$work/state"
config "$work/state" >"$work/plain.toml"
expect 0 doctor -c "$work/plain.toml" -e "no [dpdk] section" -e "this node can run its config"

{
  config "$work/state"
  printf '[dpdk]\neal_args = ["-l", "0-1"]\nports = ["0000:7e:1f.7"]\nhit_batch_port = 5140\n'
} >"$work/nic.toml"
expect 1 doctor -c "$work/nic.toml" \
  -e "ERROR    port 0000:7e:1f.7: no PCI device at 0000:7e:1f.7: this machine has no NIC there" \
  -e "this node cannot run its config"

# Missing with its parent: beacond's start makes both, so the node can run its config.
config "$work/missing/state" >"$work/missing.toml"
expect 0 doctor -c "$work/missing.toml" \
  -e "WARNING  state dir: $work/missing/state does not exist; beacond creates it at start"
expect 0 setup -c "$work/missing.toml" -e "setup --apply would carry out 1 fix(es)"
expect 0 setup -c "$work/missing.toml" --apply -e "applied  state dir: mkdir -p -m 700 $work/missing/state" \
  -e "this node can run its config"
[ "$(stat -c %a "$work/missing/state")" = 700 ] || { echo "doctor_test: state dir not 0700" >&2; exit 1; }
expect 0 doctor -c "$work/missing.toml" -e "ok       state dir: $work/missing/state is writable"
# Below a regular file no start can make it.
config "$work/sites.conf/state" >"$work/nostate.toml"
expect 1 doctor -c "$work/nostate.toml" \
  -e "ERROR    state dir: $work/sites.conf/state does not exist; beacond cannot create it"

printf '[http]\nlisten = 8080\n' >"$work/bad.toml"
expect 1 doctor -c "$work/bad.toml" -e "ERROR    config:"
echo "doctor_test: passed"
