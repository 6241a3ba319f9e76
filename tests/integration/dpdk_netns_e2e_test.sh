#!/usr/bin/env bash
# End to end with real parts on a veth pair between two network namespaces this test creates
# (198.18.0.0/15, nothing leaves them):
#   node ns: beacond with its DPDK port on bcnv0 (net_af_packet), the exception path on a TAP
#            (bcntap0, 198.18.0.1/24), ClickHouse on the namespace's loopback;
#   peer ns: bcnv1 (198.18.0.2/24), a real nginx with appliance/examples/nginx-beacon-relay.conf
#            relaying beacons that curl sends it as UDP syslog to 198.18.0.1:5514.
# nginx's ARP for 198.18.0.1 is answered by the node's kernel through the exception path; an
# HTTP beacon sent by curl over TCP to 198.18.0.1 is answered by beacond's kernel-socket
# server through the exception path too. ClickHouse must then hold every beacon.
#   dpdk_netns_e2e_test.sh BUILD_DIR [BEACONS]
# Needs root and nginx; skips (77) otherwise.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: dpdk_netns_e2e_test.sh BUILD_DIR [BEACONS]}" && pwd)
beacons=${2:-200}
nginx=/usr/sbin/nginx
if [ "$(id -u)" != 0 ] || [ ! -x "$nginx" ] || ! command -v ip >/dev/null; then
  echo "SKIP: needs root, iproute2 and nginx"
  exit 77
fi

node=bcn-node-$$
peer=bcn-peer-$$
work=$(mktemp -d /tmp/beacond-netns.XXXXXX)
chmod 755 "$work"
beacond_pid=""
cleanup() {
  local rc=$?
  [ -n "$beacond_pid" ] && kill -KILL "$beacond_pid" 2>/dev/null || true
  if [ -f "$work/nginx/nginx.pid" ]; then kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true; fi
  ip netns exec "$node" "$root/scripts/clickhouse-local" stop "$work/clickhouse" >/dev/null 2>&1 || true
  ip netns del "$peer" 2>/dev/null || true
  ip netns del "$node" 2>/dev/null || true
  if [ $rc -eq 0 ]; then rm -rf "$work"; else echo "dpdk_netns_e2e_test: kept $work" >&2; fi
  exit $rc
}
trap cleanup EXIT
. "$root/tests/integration/lib.sh"
in_node() { ip netns exec "$node" "$@"; }
in_peer() { ip netns exec "$peer" "$@"; }

step "Namespaces and the veth pair"
ip netns add "$node"
ip netns add "$peer"
ip link add bcnv0 netns "$node" type veth peer name bcnv1 netns "$peer"
in_node ip link set lo up
in_peer ip link set lo up
in_node ip link set bcnv0 up
in_peer ip addr add 198.18.0.2/24 dev bcnv1
in_peer ip link set bcnv1 up
# veth leaves the checksums of local senders to "hardware" (CHECKSUM_PARTIAL) and af_packet
# shows them unfinished; a real NIC fills them in. Make the peer's veth compute them (what
# `ethtool -K bcnv1 tx off` does: ETHTOOL_STXCSUM through SIOCETHTOOL).
in_peer python3 - <<'PY'
import ctypes, fcntl, socket, struct
value = ctypes.create_string_buffer(struct.pack("II", 0x17, 0), 8)  # ETHTOOL_STXCSUM, off
request = struct.pack("16sP", b"bcnv1", ctypes.addressof(value))
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
fcntl.ioctl(sock.fileno(), 0x8946, request)
PY
# bcnv0 belongs to DPDK: the node's kernel must neither answer ARP on it nor take the IP
# packets af_packet also shows it (198.18.0.1 lives on the TAP, so rp_filter drops them).
in_node sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.bcnv0.rp_filter=1 \
  net.ipv4.conf.bcnv0.arp_ignore=8 net.ipv6.conf.bcnv0.disable_ipv6=1

step "ClickHouse, schema and sites in the node namespace"
ch_url=$(in_node "$root/scripts/clickhouse-local" start "$work/clickhouse" | tail -n 1)
in_node "$build/appliance/beaconctl" schema --clickhouse "$ch_url" --database beacon >/dev/null
"$build/bench/gen/beacon-gen" sites --sites 3 --seed 1 --out "$work/sites.conf"
read -r site_id _ tid hosts < <(grep -v '^#' "$work/sites.conf" | head -n 1)
host=${hosts%%,*}

{
  dpdk_test_config beacond-netns net_af_packet0,iface=bcnv0 0.0.0.0:8080
  cat <<TOML
syslog_port = 5514
hit_batch_port = 5140
exception_port = "net_tap0,iface=bcntap0"
TOML
} >"$work/beacond.toml"

step "beacond on the node's DPDK port"
start_beacond ip netns exec "$node"
cat "$work/beacond.log"
# The node's address lives on the exception path's TAP.
in_node ip addr add 198.18.0.1/24 dev bcntap0
in_node ip link set bcntap0 up

step "nginx in the peer namespace, relaying to 198.18.0.1:5514"
mkdir -p "$work/nginx"
write_nginx_relay_conf "$work/nginx" 127.0.0.1:8081 198.18.0.1:5514
# The snippet's answer socket lives in /run: give this nginx a /run of its own.
in_peer unshare -m --propagation private sh -c \
  "mount -t tmpfs tmpfs /run && $nginx -p $work/nginx -c $work/nginx/nginx.conf" \
  </dev/null >"$work/nginx/stdout.log" 2>&1
for _ in $(seq 1 100); do
  in_peer curl -s -o /dev/null http://127.0.0.1:8081/ && break
  sleep 0.05
done

step "Sending $beacons beacons through nginx and one over TCP to beacond"
ua='Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0'
for i in $(seq 1 "$beacons"); do
  status=$(in_peer curl -s -o /dev/null -w '%{http_code}' -A "$ua" \
    "http://127.0.0.1:8081/collect?v=1&tid=$tid&cid=$i.1&t=pageview&dl=https%3A%2F%2F$host%2Fp$((i % 7))")
  [ "$status" = 200 ] || { echo "nginx answered $status to beacon $i" >&2; exit 1; }
done
wait_accepted() {  # wait_accepted N
  accepted=0
  for _ in $(seq 1 100); do
    accepted=$(in_node curl -fsS "$metrics_url" |
      awk '$1 == "beacond_events_accepted_total" { print $2 }')
    [ "${accepted:-0}" -ge "$1" ] && break
    sleep 0.1
  done
  in_node curl -fsS "$metrics_url" >"$work/metrics.txt"
  grep -E '^beacond_dpdk_(beacons|to_kernel|from_kernel)_total|^beacond_dpdk_frames_total\{outcome="(beacon_datagram|not_ip|not_udp)"' \
    "$work/metrics.txt"
  echo "accepted: $accepted of $1"
  [ "$accepted" = "$1" ] || { echo "beacond accepted $accepted of $1" >&2; exit 1; }
}
wait_accepted "$beacons"

# Over TCP to the node's address: ARP and TCP take the exception path to the kernel, whose
# socket is beacond's HTTP server.
status=$(in_peer curl -s --max-time 10 -o "$work/pixel.gif" -w '%{http_code}' -A "$ua" \
  "http://198.18.0.1:8080/collect?v=1&tid=$tid&cid=tcp.1&t=pageview&dl=https%3A%2F%2F$host%2Ftcp")
echo "HTTP over the exception path: $status, $(stat -c %s "$work/pixel.gif") bytes"
[ "$status" = 200 ] || { echo "beacond over TCP answered $status" >&2; exit 1; }

want=$((beacons + 1))
wait_accepted "$want"

step "Draining beacond (SIGTERM), then ClickHouse"
drain_beacond
landed=$(in_node curl -fsS "$ch_url/" --data-binary \
  "SELECT sum(pageviews) FROM beacon.site_minutes WHERE site_id = $site_id")
echo "pageviews of site $site_id in ClickHouse: $landed (sent $want)"
[ "$landed" = "$want" ] || exit 1
echo "NETNS E2E OK"
