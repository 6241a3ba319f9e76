#!/usr/bin/env bash
# SIGTERM while the raw archive's disk is full, against a real ClickHouse: the archive is a
# tmpfs of 64 KiB that the test mounts and fills until beacons are answered 503. The epochs
# whose markers the full archive refuses cannot be closed, so the drain must exit 3, never
# 0; say "timed out" only when it waited for its deadline; and its last line must put the
# events those epochs hold in the archive for the next start's replay, not among the lost.
# Then, the tmpfs grown, a restart replays them: ClickHouse holds every beacon answered 200
# exactly once. Skips (77) when mount is not permitted.
#   archive_full_drain_test.sh BUILD_DIR [DRAIN]
set -euo pipefail
build=$(cd "${1:?usage: archive_full_drain_test.sh BUILD_DIR [DRAIN]}" && pwd)
drain=${2:-3}
work=$(mktemp -d /tmp/beacond-full-drain.XXXXXX)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
mkdir "$work/archive"
mount_small_tmpfs_or_skip archive_full_drain_test "$work/archive" 64k
begin_test archive_full_drain_test 2 3
trap 'rc=$?; umount "$work/archive" 2>/dev/null || true; end_test archive_full_drain_test $rc' EXIT
fail=0
first_site
{
  beacond_base_config
  printf 'flush_interval_ms = 100\nspool_dir = "%s"\n' "$work/spool"
  printf '[pipeline]\nepoch_ms = 100\n[enrich]\nuser_agents = ""\n'
  printf '[archive]\nenabled = true\ndir = "%s"\n' "$work/archive"
} >"$work/beacond.toml"
BEACOND_ARGS="--drain-timeout $drain" start_beacond

step "fill the 64 KiB archive until beacons are answered 503, then SIGTERM"
# One keep-alive connection, distinct pages (the archive's blocks compress little); prints the
# number of beacons answered 200.
python3 - "$http_port" "$tid" "$host" >"$work/ok.txt" <<'PY'
import random, socket, sys
port, tid, host = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ok = refused = 0
s = socket.create_connection(("127.0.0.1", port))
for i in range(20000):
    page = "%032x" % random.getrandbits(128)
    s.sendall((f"GET /collect?v=1&tid={tid}&cid={i}.1&t=pageview&dl=https%3A%2F%2F{host}%2F{page} "
               "HTTP/1.1\r\nHost: t\r\n\r\n").encode())
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(65536)
    if got.startswith(b"HTTP/1.1 200"):
        ok += 1
    else:
        refused += 1
        if refused >= 50:
            break
        if b"Connection: close" in got:
            s.close()
            s = socket.create_connection(("127.0.0.1", port))
print(ok)
PY
ok=$(cat "$work/ok.txt")
echo "answered 200: $ok"
stop_beacond_timed
check "exit 3: the epochs the archive refused to close were not drained" test "$stop_rc" -eq 3
if grep -q "drain timed out" "$work/beacond.log"; then
  check "\"timed out\" only after the deadline ($stop_took s of $drain s)" \
    awk -v t="$stop_took" -v d="$drain" 'BEGIN { exit !(t >= d) }'
fi
last=$(tail -n 1 "$work/beacond.log")
field() { sed -n "s/.*[;,] \([0-9]*\) $1.*/\1/p" <<<"$last"; }
accepted=$(sed -n 's/.*stopped; \([0-9]*\) events accepted.*/\1/p' <<<"$last")
acked=$(field "acknowledged by ClickHouse")
spooled=$(field "spooled for the next start")
archived=$(field "left in the archive for the next start's replay")
lost=$(sed -n 's/.* \([0-9]*\) lost (.*/\1/p' <<<"$last")
echo "accepted $accepted, acknowledged $acked, spooled $spooled, in the archive ${archived:-?}, lost $lost"
check "the events not delivered are in the archive, not lost: each answered 200 accounted for" \
  test "$((acked + spooled + ${archived:-0}))" -eq "$ok"
check "accepted: the $ok answered 200, not those answered 503 (accepted $accepted)" \
  test "$accepted" -eq "$ok"
check "lost: none (a beacon answered 503 was never accepted)" test "$lost" -eq 0

step "space returns: a restart replays the archive"
mount -o remount,size=8m "$work/archive"
rm -f "$work/ready"
start_beacond
drain_beacond
check_pageviews_once "$ok" "$site"
exit $fail
