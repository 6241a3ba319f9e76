#!/usr/bin/env bash
# The passive HTTP mirror end to end (no hugepages, no NIC): beacon-gen writes a capture of
# mirrored HTTP/1.1 flows (keep-alive, pipelining, reordering, retransmission, loss, a
# non-beacon path, malformed requests), beacond replays it through net_pcap into its [dpdk]
# mirror on a worker lcore, and then
#   - beacond_dpdk_frames_total{outcome="mirror_segment"}, the mirror's beacons, gaps,
#     non-beacon requests and bare_lf rejects equal the capture's mirror truth,
#   - every landed hit is counted (accepted or under its reject reason) as the hit truth says,
#   - after the SIGTERM drain, ClickHouse holds the truth's aggregates (beacon-gen verify).
#   tests/integration/dpdk_mirror_test.sh BUILD_DIR [HITS]
set -euo pipefail

build=$(cd "$1" && pwd)
hits=${2:-20000}
work=$(mktemp -d /tmp/beacond-mirror.XXXXXX)
. "$(dirname "$0")/lib.sh"
begin_test dpdk_mirror_test 40 6
# The mirrored hits carry no qt: beacond stamps them with the replay minute.
wait_early_in_minute
step "Writing the mirror capture ($hits hits)"
"$build/bench/gen/beacon-gen" mirror-pcap --out "$work/mirror.pcap" \
  --sites-file "$work/sites.conf" --beacons "$hits" --seed 6 --loss-share 0.05 \
  --truth "$work/truth.tsv" --mirror-truth "$work/mirror.tsv"

{
  dpdk_test_config beacond-mirror-test "net_pcap_mirror,rx_pcap=$work/mirror.pcap"
  cat <<TOML
mirror_ports = [80]
mirror_gap_ms = 300
TOML
} >"$work/beacond.toml"

step "beacond with the DPDK mirror replaying the capture"
start_beacond
save_metrics_at_truth 1  # lossy flows close once mirror_gap_ms has passed

step "Mirror counters beside the capture's truth"
failed=0
metric() { awk -v name="$1" '$1 == name { print $2 }' "$work/metrics.txt"; }
truth() { awk -v k="$1" '$1 == k { print $2 }' "$work/mirror.tsv"; }
check() {
  printf '%-28s truth %8s  beacond %8s\n' "$1" "$2" "${3:-missing}"
  [ "$2" = "${3:-}" ] || failed=1
}
check segments "$(truth segments)" "$(metric 'beacond_dpdk_frames_total{outcome="mirror_segment"}')"
check beacons "$(truth beacons)" "$(metric beacond_dpdk_mirror_beacons_total)"
check gaps "$(truth gaps)" "$(metric beacond_dpdk_mirror_gaps_total)"
check not_beacon_path "$(truth not_beacon_path)" \
  "$(metric beacond_dpdk_mirror_not_beacon_path_total)"
check flows_opened "$(truth flows)" "$(metric beacond_dpdk_mirror_flows_opened_total)"
check bare_lf "$(awk '$1 == "http_reject" && $2 == "bare_lf" { print $3 }' "$work/mirror.tsv")" \
  "$(metric 'beacond_dpdk_mirror_http_rejects_by_reason_total{reason="bare_lf"}')"
check open_flows 0 "$(metric beacond_dpdk_mirror_flows)"
[ $failed -eq 0 ] || { echo "dpdk_mirror_test: mirror counters differ from the truth" >&2; exit 1; }

step "Draining beacond (SIGTERM)"
drain_beacond

step "What landed in ClickHouse, beside the ground truth"
"$build/bench/gen/beacon-gen" verify --truth "$work/truth.tsv" --clickhouse "$ch_url" \
  --database beacon --metrics-url "file://$work/metrics.txt"
