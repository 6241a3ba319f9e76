# shellcheck shell=bash
# Shell pieces shared by the integration scripts that run beacond themselves, over those of
# scripts/lib.sh. Source it once `build` (the build directory) and `work` (the test's scratch
# directory) are set.

beacon_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
. "$beacon_root/scripts/lib.sh"

# Prints the sections every test beacond has: the registry and state under $work, HTTP on
# LISTEN (default a free loopback port) with WORKERS workers (default 1), management on a free
# loopback port, and ClickHouse at $ch_url, database "beacon". [clickhouse] comes last, so a
# caller may append keys of that section before its own sections.
# shellcheck disable=SC2120
beacond_base_config() {
  beacond_config "$work" "${1:-127.0.0.1:0}" "${2:-1}" "$ch_url" beacon
}

# Starts a ClickHouse under $work/clickhouse (sets ch_url) with beacond's schema in database
# "beacon", and writes a registry of SITES generated sites (seed SEED) to $work/sites.conf.
start_clickhouse_and_sites() {  # SITES SEED
  ch_url=$("$beacon_root/scripts/clickhouse-local" start "$work/clickhouse" | tail -n 1)
  "$build/appliance/beaconctl" schema --clickhouse "$ch_url" --database beacon >/dev/null
  "$build/bench/gen/beacon-gen" sites --sites "$1" --seed "$2" --out "$work/sites.conf" >/dev/null
}

# The first site of $work/sites.conf: its id (site), first tracking id (tid) and a host it
# serves (host; a wildcard's www.), for the tests that send its pageviews (send_pageviews).
first_site() {
  site=$(awk '!/^#/ && NF {print $1; exit}' "$work/sites.conf")
  tid=$(awk '!/^#/ && NF {split($3, t, ","); print t[1]; exit}' "$work/sites.conf")
  host=$(awk '!/^#/ && NF {split($4, h, ","); sub(/^\*\./, "www.", h[1]); print h[1]; exit}' \
    "$work/sites.conf")
}

# Stops the ClickHouse under $work, keeping its port in ch_port for a restart on it: the
# tests of beacond while ClickHouse is down.
stop_clickhouse_keeping_port() {
  ch_port=${ch_url##*:}
  "$beacon_root/scripts/clickhouse-local" stop "$work/clickhouse" >/dev/null
}

# Prints the beacond.toml of the outage tests: a ClickHouse that goes down, beacond with
# max_pending_mb = 1, epochs of 100 ms, breakdown cuts every 300 ms, retries capped at 500 ms,
# no user-agent patterns, and the archive with group commits and WHEN_FULL as
# when_forwarder_full.
outage_config() {  # WHEN_FULL
  beacond_base_config
  printf 'flush_interval_ms = 100\nbreakdown_flush_interval_ms = 300\nretry_max_ms = 500\n'
  printf 'max_pending_mb = 1\n'
  printf '[pipeline]\nepoch_ms = 100\n[enrich]\nuser_agents = ""\n'
  printf '[archive]\nenabled = true\ncommit = "group"\nwhen_forwarder_full = "%s"\n' "$1"
}

# Writes $work/beacond.toml and $work/sites.conf for the tests that need no ClickHouse: the
# example registry, ClickHouse at a port nothing listens on (sets ch_url), no user-agent
# patterns.
offline_config() {
  cp "$beacon_root/appliance/examples/sites.conf" "$work/sites.conf"
  ch_url="http://127.0.0.1:1"
  {
    beacond_base_config
    printf '[enrich]\nuser_agents = ""\n'
  } >"$work/beacond.toml"
}

# Starts beacond on a registry of SITES generated sites (seed SEED) under $work, without
# ClickHouse (ch_url: a port nothing listens on) or user-agent patterns: the tests of the
# management listener in front of a large registry.
start_offline_beacond_on_sites() {  # SITES SEED
  "$build/bench/gen/beacon-gen" sites --sites "$1" --seed "$2" --out "$work/sites.conf" >/dev/null
  ch_url="http://127.0.0.1:1"
  {
    beacond_base_config
    printf '[enrich]\nuser_agents = ""\n'
  } >"$work/beacond.toml"
  step "beacond on $1 sites"
  start_beacond
}

# Starts beacond again in $work, keeping the earlier runs' logs in $work/beacond-all.log.
restart_beacond() {
  [ -f "$work/beacond.log" ] && cat "$work/beacond.log" >>"$work/beacond-all.log"
  rm -f "$work/ready"
  start_beacond
}

# Starts the ClickHouse under $work again on the port stop_clickhouse_keeping_port kept.
restart_clickhouse_on_kept_port() {
  CLICKHOUSE_LOCAL_HTTP_PORT=$ch_port "$beacon_root/scripts/clickhouse-local" start \
    "$work/clickhouse" >/dev/null
}

# restart_clickhouse_on_kept_port, then SIGKILLs beacond at a random point of its catch-up
# KILLS times, each time restarting it and sending 500 pageviews from FIRST + k * 10000; adds
# the 200s to `total`.
catch_up_kill_loop() {  # KILLS FIRST
  local k ok
  restart_clickhouse_on_kept_port
  for k in $(seq 1 "$1"); do
    sleep "0.$((RANDOM % 9 + 1))"
    kill_node "$beacond_pid"
    beacond_pid=""
    restart_beacond
    ok=$(send_pageviews $(($2 + k * 10000)) 500 1)
    total=$((total + ok))
    echo "kill $k: restarted, answered 200: $ok"
  done
}

# Waits (SECONDS, default 60, at most) until site_minutes counts `total` pageviews of $site;
# prints the count.
wait_until_landed() {  # [SECONDS]
  local landed=0
  for _ in $(seq 1 $((${1:-60} * 2))); do
    landed=$(curl -fsS "$ch_url/" --data-binary \
      "SELECT sum(pageviews) FROM beacon.site_minutes WHERE site_id = $site FORMAT TSV")
    [ "$landed" -ge "$total" ] && break
    sleep 0.5
  done
  echo "landed $landed of $total"
}

# The end of a test that runs beacond and a ClickHouse under $work, for its EXIT trap: kills
# beacond if it still runs, stops the ClickHouse, removes $work when the test passed (RC 0),
# else keeps it and says so; exits RC.
end_test() {  # NAME RC
  if [ -n "${beacond_pid:-}" ] && kill -0 "$beacond_pid" 2>/dev/null; then
    kill -KILL "$beacond_pid" 2>/dev/null || true
  fi
  "$beacon_root/scripts/clickhouse-local" stop "$work/clickhouse" >/dev/null 2>&1 || true
  if [ "$2" -eq 0 ]; then rm -rf "$work"; else echo "$1: kept $work" >&2; fi
  exit "$2"
}

# The start of a test that runs beacond and a ClickHouse under $work: end_test NAME on exit,
# then start_clickhouse_and_sites SITES SEED.
begin_test() {  # NAME SITES SEED
  beacond_pid=""
  # shellcheck disable=SC2064  # NAME now, the exit status at exit
  trap "end_test $1 \$?" EXIT
  step "ClickHouse, schema, sites"
  start_clickhouse_and_sites "$2" "$3"
}

# Waits until the current minute is at most 40 s old, so that what a test replays now and the
# truth it wrote for the minute of writing fall in one minute (replayed beacons carry no time:
# beacond stamps them on arrival).
wait_early_in_minute() {
  while [ $(($(date +%s) % 60)) -gt 40 ]; do sleep 1; done
}

# Prints a test beacond's configuration (beacond_base_config LISTEN) and its [dpdk] section,
# open for more keys: EAL without hugepages, PCI or shared config, two lcores, file prefix
# PREFIX-<pid>, the vdev VDEV as the one port, one worker lcore.
dpdk_test_config() {  # PREFIX VDEV [LISTEN]
  beacond_base_config "${3:-127.0.0.1:0}"
  cat <<TOML
[dpdk]
eal_args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--file-prefix",
            "$1-$$", "-l", "0-1", "--log-level", "lib.eal:warning", "--vdev", "$2"]
ports = ["${2%%,*}"]
workers = 1
TOML
}

# Writes DIR/nginx.conf, an nginx (run as root) with its pid, logs and temp files in DIR that
# serves appliance/examples/nginx-beacon-relay.conf, and DIR/beacon-relay-site.conf, the
# snippet's site: listening on LISTEN, relaying beacons to the syslog server SYSLOG (host:port).
write_nginx_relay_conf() {  # DIR LISTEN SYSLOG
  cat >"$1/beacon-relay-site.conf" <<EOF
listen $2;
server_name collect.test;
access_log syslog:server=$3,facility=local7,tag=beacon,nohostname beacon_relay if=\$beacon_relay_log;
EOF
  cat >"$1/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 64; }
http {
  client_body_temp_path $1/client_body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fastcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
  access_log off;
  include $beacon_root/appliance/examples/nginx-beacon-relay.conf;
}
EOF
}

# Mounts a tmpfs of SIZE (e.g. 64k) on DIR, owner-only, for a test of a full archive; when
# mount is not permitted, says that NAME is skipped, removes $work and exits 77.
mount_small_tmpfs_or_skip() {  # NAME DIR SIZE
  if ! mount -t tmpfs -o "size=$3,mode=0700" tmpfs "$2" 2>/dev/null; then
    echo "$1: skipped: cannot mount a tmpfs (needs CAP_SYS_ADMIN)"
    rm -rf "$work"
    exit 77
  fi
}

# Sends beacond SIGTERM and waits for it to exit; sets stop_rc (its exit status) and stop_took
# (seconds from the signal to the exit), clears beacond_pid and shows the log's last lines.
stop_beacond_timed() {
  local start
  start=$(date +%s.%N)
  kill -TERM "$beacond_pid"
  stop_rc=0
  wait "$beacond_pid" || stop_rc=$?
  beacond_pid=""
  stop_took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
  tail -n 3 "$work/beacond.log"
  echo "beacond exited $stop_rc after $stop_took s"
}

# check (below) that ClickHouse's database "beacon" at $ch_url counts EXPECTED pageviews of
# site SITE in site_minutes and in breakdown_minutes' page rows: each beacon once.
check_pageviews_once() {  # EXPECTED SITE
  local sum site_sum page_sum
  sum() { curl -fsS "$ch_url/" --data-binary "SELECT sum(pageviews) FROM beacon.$1 FORMAT TSV"; }
  site_sum=$(sum "site_minutes WHERE site_id = $2")
  page_sum=$(sum "breakdown_minutes WHERE site_id = $2 AND dimension = 'page'")
  check "site_minutes counts each beacon once ($site_sum of $1)" test "$site_sum" -eq "$1"
  check "breakdown_minutes too ($page_sum of $1)" test "$page_sum" -eq "$1"
}

# SIGKILLs and reaps each of the given processes still running; empty arguments are skipped.
kill_started() {
  for pid in "$@"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null || true
    fi
  done
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
      dpdk_test_config beacond-node "net_pcap_replay,rx_pcap=$work/relay.pcap" |
        sed -n '/^\[dpdk\]/,$p'
      printf 'hit_batch_port = 5140\nsyslog_port = 5514\n'
    fi
  } >"$work/beacond.toml"
  start_beacond
  "$build/bench/gen/beacon-gen" send --target "http://127.0.0.1:$http_port" \
    --sites-file "$work/sites.conf" --beacons 5000 --seed 3 --truth "$work/truth.tsv" >/dev/null
}

# check DESCRIPTION COMMAND...: prints ok or FAILED for the command's outcome; a failure sets
# fail=1 (initialise fail=0 first).
check() {
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what" >&2; fail=1; fi
}

# expect_exit PROGRAM STATUS ARGS... [-e PATTERN]...: runs PROGRAM ARGS..., prints the command
# line and its output, and exits the script unless PROGRAM exited STATUS and its output (stdout
# and stderr) holds each PATTERN, a fixed string.
expect_exit() {
  local program=$1 want=$2 rc=0 out
  shift 2
  local args=()
  while [ $# -gt 0 ] && [ "$1" != -e ]; do args+=("$1"); shift; done
  out=$("$program" "${args[@]}" 2>&1) || rc=$?
  printf '$ %s %s  (exit %d)\n%s\n\n' "${program##*/}" "${args[*]}" "$rc" "$out"
  [ "$rc" = "$want" ] || { echo "${program##*/}: exit $rc, expected $want" >&2; exit 1; }
  while [ $# -gt 0 ]; do
    grep -qF -- "$2" <<<"$out" || { echo "${program##*/}: no '$2' in the output" >&2; exit 1; }
    shift 2
  done
}

# Nodes for the tests that kill and restart beacond: a node is a directory DIR with its
# beacond.toml, state/ (archive, salts), spool/, and its logs (DIR/beacond.log of the current
# start, DIR/beacond-runs.log of the earlier ones). start_node starts beacond in DIR (as
# start_beacond, which sets beacond_pid, http_port, ...); kill_node SIGKILLs and reaps PID.
start_node() {  # DIR
  local saved_work=$work
  work=$1
  if [ -f "$work/beacond.log" ]; then cat "$work/beacond.log" >>"$work/beacond-runs.log"; fi
  rm -f "$work/ready"
  start_beacond
  work=$saved_work
}
kill_node() {  # PID
  kill -KILL "$1"
  wait "$1" 2>/dev/null || true
}

# Writes DIR/truth.tsv, the exact truth of what node DIR took: its run's acknowledged
# requests and those in doubt that its archive holds (archive_count --tags), plus the truth
# files given as ADD... Prints beacon-gen truth's line; 1 when an acknowledged request is
# missing from the archive. SEND_ARGS: the model options given to `beacon-gen send`.
archived_truth() {  # DIR "SEND_ARGS" [ADD...]
  local dir=$1 send_args=$2 add=() file
  shift 2
  for file in "$@"; do add+=(--add "$file"); done
  "$build/tests/integration/archive_count" "$dir/state/archive" --tags "$dir/archived-tags.txt"
  # shellcheck disable=SC2086  # SEND_ARGS is a word list
  "$build/bench/gen/beacon-gen" truth --sites-file "$dir/sites.conf" $send_args \
    --request-log "$dir/requests.log" --archived-tags "$dir/archived-tags.txt" "${add[@]}" \
    --out "$dir/truth.tsv"
}

# Prints the verify table's "lost" and "doubled" rows of OUTPUT (a beacon-gen verify report)
# as one line: "lost P per (site, minute), B per breakdown value; doubled P, B".
lost_and_doubled() {  # OUTPUT
  awk '/hits lost, per/ { lp = $(NF-2) } /hits doubled, per/ { dp = $(NF-2) }
       /counts lost, per value/ { lb = $(NF-2) } /counts doubled, per value/ { db = $(NF-2) }
       END { printf "lost %s per (site, minute), %s per breakdown value; doubled %s, %s\n",
             lp, lb, dp, db }' <<<"$1"
}

# Writes FILE, uap-core's regexes cut down to the entries beacon-gen's user agents match
# (tests/integration/uap_subset.py): the same labels, compiled in well under a second, for
# tests that restart beacond often.
write_uap_subset() {  # FILE
  "$build/bench/gen/beacon-gen" agents |
    python3 "$beacon_root/tests/integration/uap_subset.py" /usr/share/uap-core/regexes.yaml "$1"
}

# Stops the beacond PID of node DIR with SIGTERM (drain_beacond: exits the script unless it
# exits 0).
drain_node() {  # DIR PID
  local saved_work=$work
  work=$1
  beacond_pid=$2
  drain_beacond
  work=$saved_work
}

# Sends pageviews of site $tid (host $host) to $http_port, with distinct pages over one
# keep-alive connection, from beacon FIRST on, until COUNT were sent or REFUSALS were answered other than 200; prints how
# many were answered 200.
send_pageviews() {  # FIRST COUNT REFUSALS
  python3 - "$http_port" "$tid" "$host" "$@" <<'PY'
import socket, sys
port, tid, host = int(sys.argv[1]), sys.argv[2], sys.argv[3]
first, count, refusals = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
ok = refused = 0
s = socket.create_connection(("127.0.0.1", port))
for i in range(first, first + count):
    s.sendall((f"GET /collect?v=1&tid={tid}&cid={i}.1&t=pageview&dl=https%3A%2F%2F{host}%2Fp{i} "
               "HTTP/1.1\r\nHost: t\r\n\r\n").encode())
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("connection closed after %d beacons" % (i - first))
        got += chunk
    if got.startswith(b"HTTP/1.1 200"):
        ok += 1
        continue
    refused += 1
    if refused >= refusals:
        break
    if b"Connection: close" in got:
        s.close()
        s = socket.create_connection(("127.0.0.1", port))
print(ok)
PY
}
