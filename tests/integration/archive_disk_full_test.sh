#!/usr/bin/env bash
# The raw archive on a full disk, against a running beacond: its archive directory is a tmpfs
# of 64 KiB that the test mounts. While it is full, beacon requests are answered 503 with
# Retry-After and the write errors are counted; once the tmpfs is grown the archive resumes
# and requests are answered 200 again; every request answered 200 is in the archive. Skips
# (77) when mount is not permitted.
#   archive_disk_full_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: archive_disk_full_test.sh BUILD_DIR}" && pwd)
work=$(mktemp -d /tmp/beacond-archive-full.XXXXXX)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
mkdir "$work/archive"
mount_small_tmpfs_or_skip archive_disk_full_test "$work/archive" 64k
beacond_pid=""
finish() {
  local rc=$?
  if [ -n "$beacond_pid" ] && kill -0 "$beacond_pid" 2>/dev/null; then kill -KILL "$beacond_pid"; fi
  umount "$work/archive" 2>/dev/null || true
  if [ $rc -eq 0 ]; then rm -rf "$work"; else echo "archive_disk_full_test: kept $work" >&2; fi
  exit $rc
}
trap finish EXIT

"$build/bench/gen/beacon-gen" sites --sites 2 --seed 3 --out "$work/sites.conf" >/dev/null
first_site
{
  beacond_config "$work" 127.0.0.1:0 1 http://127.0.0.1:1 beacon
  printf '[enrich]\nuser_agents = ""\n[archive]\nenabled = true\ndir = "%s"\n' "$work/archive"
} >"$work/beacond.toml"
start_beacond

# Sends 50 beacons on one keep-alive connection; prints their status codes, one a line.
send_round() {  # ROUND
  local urls=() i
  for i in $(seq 1 50); do
    urls+=(-o /dev/null "http://127.0.0.1:$http_port/collect?v=1&tid=$tid&cid=$1.$i&t=pageview&dl=https%3A%2F%2F$host%2F$RANDOM$RANDOM$RANDOM")
  done
  curl -s -w '%{http_code}\n' "${urls[@]}"
}
metric() { curl -fsS "$metrics_url" | awk -v k="$1" '$1 == k {print $2}'; }

step "fill the 64 KiB archive until beacons are answered 503"
ok=0
full=0
for round in $(seq 1 200); do
  codes=$(send_round "$round")
  ok=$((ok + $(grep -c '^200$' <<<"$codes" || true)))
  if grep -q '^503$' <<<"$codes"; then full=1; break; fi
done
[ "$full" -eq 1 ] || { echo "archive_disk_full_test: never answered 503" >&2; exit 1; }
errors=$(metric beacond_archive_write_errors_total)
echo "200s before full: $ok; write errors: $errors"
[ "${errors:-0}" -ge 1 ] || { echo "archive_disk_full_test: no write error counted" >&2; exit 1; }
codes=$(send_round full)
[ "$(grep -c '^503$' <<<"$codes" || true)" -ge 1 ] || { echo "not 503 while full" >&2; exit 1; }
ok=$((ok + $(grep -c '^200$' <<<"$codes" || true)))
head=$(curl -s -D - -o /dev/null "http://127.0.0.1:$http_port/collect?v=1&tid=$tid&cid=9.9&t=pageview")
if grep -q '^HTTP/1.1 503' <<<"$head"; then
  grep -i '^Retry-After: ' <<<"$head" || { echo "503 without Retry-After" >&2; exit 1; }
elif grep -q '^HTTP/1.1 200' <<<"$head"; then
  ok=$((ok + 1))  # the failed writer had just resumed
fi

step "space returns: the archive resumes"
mount -o remount,size=8m "$work/archive"
recovered=0
for round in $(seq 1 100); do
  codes=$(send_round "r$round")
  ok=$((ok + $(grep -c '^200$' <<<"$codes" || true)))
  if ! grep -q '^503$' <<<"$codes"; then recovered=1; break; fi
  sleep 0.2
done
[ "$recovered" -eq 1 ] || { echo "archive_disk_full_test: no recovery" >&2; exit 1; }
curl -fsS "$metrics_url" | grep -E '^beacond_archive_|^beacond_http_requests_(shed|unarchived)'
kill -KILL "$beacond_pid"
wait "$beacond_pid" 2>/dev/null || true
beacond_pid=""
records=$("$build/tests/integration/archive_count" "$work/archive" | awk '{print $2}')
echo "200s: $ok, archived: $records"
[ "$records" -eq "$ok" ] || { echo "archive_disk_full_test: 200s != archived" >&2; exit 1; }
