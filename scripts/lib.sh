# shellcheck shell=bash
# Shell pieces shared by the scripts here and tests/integration/: source it. start_beacond and
# drain_beacond need `build` (the build directory) and `work` (the run's scratch directory),
# and set variables for the caller.
# shellcheck disable=SC2034,SC2154

step() { printf '\n== %s\n' "$*"; }

# Prints COUNT (default 1) distinct free PROTO (tcp, the default, or udp) ports on 127.0.0.1,
# held open together so that they differ.
free_ports() {
  python3 - "${1:-1}" "${2:-tcp}" <<'PY'
import socket, sys
kind = socket.SOCK_DGRAM if sys.argv[2] == "udp" else socket.SOCK_STREAM
socks = [socket.socket(socket.AF_INET, kind) for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# Prints the sections every beacond run by these scripts has: the registry DIR/sites.conf and
# the state under DIR/state, HTTP on LISTEN with WORKERS workers, management on a free loopback
# port; given CH_URL and DATABASE, then [clickhouse] with that url and database. [clickhouse]
# comes last, so a caller may append keys of that section before its own sections.
beacond_config() {  # DIR LISTEN WORKERS [CH_URL DATABASE]
  cat <<TOML
[sites]
registry = "$1/sites.conf"
[http]
listen = "$2"
workers = $3
[management]
listen = "127.0.0.1:0"
[state]
dir = "$1/state"
TOML
  if [ $# -ge 5 ]; then
    printf '[clickhouse]\nurl = "%s"\ndatabase = "%s"\n' "$4" "$5"
  fi
}

# Starts beacond ($BEACOND, default the build's) on $work/beacond.toml (under the command given as arguments, e.g.
# `ip netns exec NODE`), waits until it is ready and sets beacond_pid, http_port,
# management_port and metrics_url. beacond compiles uap-core's patterns first: ~5 s idle, so
# wait up to 60 s.
# shellcheck disable=SC2120
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
  management_port=$(sed -n 's/^management_port=//p' "$work/ready")
  metrics_url="http://127.0.0.1:$management_port/metrics"
}

# Waits (60 s at most) until beacond has counted every hit of $work/truth.tsv, then, SETTLE
# seconds (default 0) later, saves its scrape to $work/metrics.txt.
# shellcheck disable=SC2120
save_metrics_at_truth() {  # [SETTLE]
  "$build/bench/gen/beacon-gen" wait-metrics --metrics-url "$metrics_url" \
    --truth "$work/truth.tsv" --timeout-s 60
  sleep "${1:-0}"
  curl -fsS "$metrics_url" >"$work/metrics.txt"
}

# Stops beacond with SIGTERM, which drains it, shows the last lines of its log and exits the
# script unless beacond exited 0.
drain_beacond() {
  kill -TERM "$beacond_pid"
  local rc=0
  wait "$beacond_pid" || rc=$?
  beacond_pid=""
  tail -n 3 "$work/beacond.log"
  [ $rc -eq 0 ] || { echo "beacond exited $rc after SIGTERM" >&2; exit 1; }
}
