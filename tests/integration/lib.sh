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

# Starts beacond ($BEACOND, default the build's) on $work/beacond.toml (under the command given
# as arguments, e.g. `ip netns exec NODE`), waits until it is ready and sets beacond_pid,
# http_port and metrics_url. beacond compiles uap-core's patterns first: ~5 s idle, so wait up
# to 60 s.
start_beacond() {
  "$@" "${BEACOND:-$build/appliance/beacond}" --config "$work/beacond.toml" --ready-file "$work/ready" \
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

# SIGKILLs and reaps each of the given processes still running; empty arguments are skipped.
kill_started() {
  for pid in "$@"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null || true
    fi
  done
}

# Prints N free loopback ports of kind tcp (default) or udp, space-separated.
free_ports() {
  python3 - "$1" "${2:-tcp}" <<'PY'
import socket, sys
kind = socket.SOCK_DGRAM if sys.argv[2] == "udp" else socket.SOCK_STREAM
socks = [socket.socket(socket.AF_INET, kind) for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# Starts a local ClickHouse with the schema and a registry of 20 sites under $work, then
# beacond on them with HTTP (two workers), the kernel UDP relay and, when $with_dpdk is 1,
# the DPDK relay replaying a capture of 2,000 hits (one worker lcore); sends 5,000 beacons
# over HTTP. Needs `root` (the repository root). Sets what start_beacond sets, and ch_url.
start_node_with_traffic() {
  ch_url=$("$root/scripts/clickhouse-local" start "$work/clickhouse" | tail -n 1)
  "$build/appliance/beaconctl" schema --clickhouse "$ch_url" --database beacon >/dev/null
  "$build/bench/gen/beacon-gen" sites --sites 20 --seed 3 --out "$work/sites.conf" >/dev/null
  local udp_port
  udp_port=$(free_ports 1 udp)
  {
    beacond_base_config "127.0.0.1:0" 2
    printf '[udp]\naddress = "127.0.0.1"\nhit_batch_port = %s\n' "$udp_port"
    if [ "${with_dpdk:-0}" = 1 ]; then
      "$build/bench/gen/beacon-gen" pcap --out "$work/relay.pcap" --sites-file "$work/sites.conf" \
        --beacons 2000 --seed 3 --truth "$work/pcap-truth.tsv" \
        --frames-truth "$work/pcap-frames.tsv" >/dev/null
      echo "[dpdk]"
      dpdk_test_eal_args beacond-node "net_pcap_replay,rx_pcap=$work/relay.pcap"
      printf 'ports = ["net_pcap_replay"]\nworkers = 1\nhit_batch_port = 5140\nsyslog_port = 5514\n'
    fi
  } >"$work/beacond.toml"
  start_beacond
  "$build/bench/gen/beacon-gen" send --target "http://127.0.0.1:$http_port" \
    --sites-file "$work/sites.conf" --beacons 5000 --seed 3 --truth "$work/truth.tsv" >/dev/null
}
