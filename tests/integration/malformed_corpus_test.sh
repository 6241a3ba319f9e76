#!/usr/bin/env bash
# The malformed corpus against one running beacond with every ingress: [http], [udp] (with
# allowed_sources) and [dpdk] replaying two net_pcap captures — beacon-gen's relay capture with
# every malformed frame class and incomplete datagrams, and the mirror cases' TCP flows
# (malformed_corpus.py, which holds the table of cases and runs them). Then, after the SIGTERM
# drain, ClickHouse holds every accepted hit.
#   tests/integration/malformed_corpus_test.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
scripts=$(cd "$here/../../scripts" && pwd)
build=$(cd "${1:?usage: malformed_corpus_test.sh BUILD_DIR}" && pwd)
work=$(mktemp -d /tmp/beacond-malformed.XXXXXX)
beacond_pid=""
cleanup() {
  local rc=$?
  if [ -n "$beacond_pid" ]; then kill -KILL "$beacond_pid" 2>/dev/null || true; fi
  "$scripts/clickhouse-local" stop "$work/clickhouse" >/dev/null 2>&1 || true
  if [ $rc -eq 0 ]; then rm -rf "$work"; else echo "malformed_corpus_test: kept $work" >&2; fi
  exit $rc
}
trap cleanup EXIT
. "$here/lib.sh"

ch_url=$("$scripts/clickhouse-local" start "$work/clickhouse" | tail -n 1)
"$build/appliance/beaconctl" schema --clickhouse "$ch_url" --database beacon >/dev/null
cat >"$work/sites.conf" <<'SITES'
1 shop UA-1-1,G-SHOP1,shop.example,shopapp shop.example,*.shop.example api_secrets=s3cret
SITES
free_port() { python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
hits_port=$(free_port)
syslog_port=$(free_port)

"$build/bench/gen/beacon-gen" sites --sites 5 --seed 4 --out "$work/relay-sites.conf" >/dev/null
"$build/bench/gen/beacon-gen" pcap --out "$work/relay.pcap" --sites-file "$work/relay-sites.conf" \
  --truth "$work/relay-truth.tsv" --frames-truth "$work/frames.tsv" --beacons 300 \
  --malformed-frames 2 --incomplete-datagrams 2 --fragment-share 0.1 --ipv6-share 0.3 \
  --vlan-share 0.2 --hit-batch-port 5140 --syslog-port 5514 >/dev/null
python3 "$here/malformed_corpus.py" mirror-pcap "$work/mirror.pcap"
{
  beacond_base_config
  cat <<TOML
[udp]
hit_batch_port = $hits_port
syslog_port = $syslog_port
allowed_sources = ["127.0.0.1/32", "::1"]
TOML
  # lib.sh's [dpdk] section and EAL arguments, with the mirror's capture as a second vdev.
  dpdk_test_config beacond-malformed "net_pcap_relay,rx_pcap=$work/relay.pcap" |
    sed -n '/^\[dpdk\]/,$p' | grep -v '^ports = \|^workers = ' |
    sed 's|"\]$|", "--vdev", "net_pcap_mirror,rx_pcap='"$work"'/mirror.pcap"]|'
  cat <<TOML
ports = ["net_pcap_relay", "net_pcap_mirror"]
workers = 1
hit_batch_port = 5140
syslog_port = 5514
reassembly_timeout_ms = 200
mirror_ports = [80]
mirror_flows = 8
mirror_flow_bytes = 4096
mirror_gap_ms = 300
mirror_syn_idle_ms = 500
TOML
} >"$work/beacond.toml"
start_beacond
sleep 2  # the captures replay; holes, half-open flows and incomplete datagrams time out

python3 "$here/malformed_corpus.py" run --http-port "$http_port" --hits-port "$hits_port" \
  --syslog-port "$syslog_port" --metrics "$metrics_url" --frames-truth "$work/frames.tsv"

accepted=$(curl -fsS "$metrics_url" | awk '$1 == "beacond_events_accepted_total" { print $2 }')
kill -TERM "$beacond_pid"
wait "$beacond_pid"
beacond_pid=""
landed=$(curl -fsS "$ch_url/" --data-binary \
  "SELECT sum(pageviews) + sum(events) FROM beacon.site_minutes FORMAT TSV")
echo "accepted hits $accepted, in ClickHouse $landed"
[ "$accepted" = "$landed" ]
