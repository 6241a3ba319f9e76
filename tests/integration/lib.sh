# Shell pieces shared by the integration scripts that run beacond themselves. Source it once
# `build` (the build directory) and `work` (the test's scratch directory) are set.

# Prints the sections every test beacond has: the registry and state under $work, HTTP on
# LISTEN (default a free loopback port) with WORKERS workers (default 1), management on a free
# loopback port, and ClickHouse at $ch_url, database "beacon". [clickhouse] comes last, so a
# caller may append keys of that section before its own sections.
beacond_base_config() {
  cat <<TOML
[sites]
registry = "$work/sites.conf"
[http]
listen = "${1:-127.0.0.1:0}"
workers = ${2:-1}
[management]
listen = "127.0.0.1:0"
[state]
dir = "$work/state"
[clickhouse]
url = "$ch_url"
database = "beacon"
TOML
}

# Prints the [dpdk] eal_args of a test: no hugepages, no PCI, no shared config, two lcores,
# file prefix PREFIX-<pid>, and the vdev VDEV.
dpdk_test_eal_args() {
  cat <<TOML
eal_args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--file-prefix",
            "$1-$$", "-l", "0-1", "--log-level", "lib.eal:warning", "--vdev", "$2"]
TOML
}

# Starts beacond on $work/beacond.toml (under the command given as arguments, e.g.
# `ip netns exec NODE`), waits until it is ready and sets beacond_pid, http_port and
# metrics_url. beacond compiles uap-core's patterns first: ~5 s idle, so wait up to 60 s.
start_beacond() {
  "$@" "$build/appliance/beacond" --config "$work/beacond.toml" --ready-file "$work/ready" \
    2>"$work/beacond.log" &
  beacond_pid=$!
  for _ in $(seq 1 600); do
    [ -f "$work/ready" ] && break
    kill -0 "$beacond_pid" 2>/dev/null || { cat "$work/beacond.log" >&2; exit 1; }
    sleep 0.1
  done
  [ -f "$work/ready" ] || { cat "$work/beacond.log" >&2; echo "beacond did not become ready" >&2; exit 1; }
  http_port=$(sed -n 's/^http_port=//p' "$work/ready")
  metrics_url="http://127.0.0.1:$(sed -n 's/^management_port=//p' "$work/ready")/metrics"
}

# check DESCRIPTION COMMAND...: prints ok or FAILED for the command's outcome; a failure sets
# fail=1 (initialise fail=0 first).
check() {
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what" >&2; fail=1; fi
}
