#!/usr/bin/env bash
# Integration test: fair overload through beacond into a real ClickHouse. With [limits]
# site_rate_per_s = 200 and site_burst = 200, site A (shop) floods /collect at 10x its budget
# while site B (blog) sends at a normal rate, both for SECONDS. Checks: B's pageviews in
# ClickHouse equal what it sent and none of B's were refused; A's pageviews are within 5 % of
# its budget (burst + rate x the seconds A sent for); every one of A's beacons over the budget
# was answered 429 and counted in beacond_site_budget_dropped_total.
#   site_budget_test.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=$(cd "${1:?usage: site_budget_test.sh BUILD_DIR [SECONDS]}" && pwd)
seconds=${2:-5}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/beacond-budget.XXXXXX)
. "$root/tests/integration/lib.sh"
beacond_pid=""
# lib.sh's end_test: kills beacond, stops ClickHouse, keeps $work when the test failed.
trap 'end_test site_budget_test $?' EXIT
fail=0
rate=200
burst=200

ch_url=$("$root/scripts/clickhouse-local" start "$work/clickhouse" | tail -n 1)
"$build/appliance/beaconctl" schema --clickhouse "$ch_url" --database beacon >/dev/null
cp "$root/appliance/examples/sites.conf" "$work/sites.conf"
{
  beacond_base_config
  cat <<TOML
flush_interval_ms = 200
[pipeline]
epoch_ms = 100
[enrich]
user_agents = ""
[limits]
site_rate_per_s = $rate
site_burst = $burst
TOML
} >"$work/beacond.toml"
start_beacond

# Two senders over keep-alive connections, 50 pipelined requests per write: A at 10x the
# budget, B at a quarter of it. Each prints: sent last_send_s answered_429.
send() {  # send TID HOST PER_SECOND
  python3 - "$http_port" "$1" "$2" "$3" "$seconds" <<'PY'
import re, socket, sys, time
port, tid, host, per_s, seconds = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
s = socket.create_connection(("127.0.0.1", port))
buf = b""
def response_head():  # reads one response; returns its head
    global buf
    def more():
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("connection closed")
        return chunk
    while b"\r\n\r\n" not in buf:
        buf += more()
    head, _, buf = buf.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(buf) < length:
        buf += more()
    buf = buf[length:]
    return head
ua = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"
sent, start, last, block, refused = 0, time.monotonic(), 0.0, 50, 0
while time.monotonic() - start < seconds:
    due = int((time.monotonic() - start) * per_s)
    n = min(block, due - sent)
    if n <= 0:
        time.sleep(0.002)
        continue
    req = b"".join(
        (f"GET /collect?v=1&tid={tid}&cid={sent + i}.1&t=pageview&dl=https%3A%2F%2F{host}%2F "
         f"HTTP/1.1\r\nHost: t\r\nUser-Agent: {ua}\r\n\r\n").encode() for i in range(n))
    s.sendall(req)
    for _ in range(n):
        head = response_head()
        if head.startswith(b"HTTP/1.1 429") and b"Retry-After: " in head:
            refused += 1
        elif not head.startswith(b"HTTP/1.1 200"):
            sys.exit("a beacon answered neither 200 nor 429 with Retry-After")
    sent += n
    last = time.monotonic() - start
print(sent, last, refused)
PY
}
send UA-100001-1 shop.example $((rate * 10)) >"$work/a.out" &
a_pid=$!
send UA-100002-1 blog.example $((rate / 4)) >"$work/b.out"
wait "$a_pid"
read -r a_sent a_last a_429 <"$work/a.out"
read -r b_sent _ b_429 <"$work/b.out"
sleep 1
curl -fsS "$metrics_url" >"$work/metrics.txt"
kill -TERM "$beacond_pid"
wait "$beacond_pid"
beacond_pid=""

query() { curl -fsS "$ch_url/" --data-binary "$1 FORMAT TSV"; }
pageviews() { query "SELECT sum(pageviews) FROM beacon.site_minutes WHERE site_id = $1"; }
dropped() {
  awk -v s="beacond_site_budget_dropped_total{site=\"$1\",reason=\"site_rate\"}" \
    '$1 == s { v = $2 } END { print v + 0 }' "$work/metrics.txt"
}
a_rows=$(pageviews 1)
b_rows=$(pageviews 2)
budget=$(awk -v r=$rate -v b=$burst -v t="$a_last" 'BEGIN { printf "%d", b + r * t }')
echo "A sent $a_sent over ${a_last} s, budget $budget, in ClickHouse $a_rows, 429 $a_429," \
  "dropped $(dropped 1)"
echo "B sent $b_sent, in ClickHouse $b_rows, 429 $b_429, dropped $(dropped 2)"
check "A flooded at 10x its budget" test "$a_sent" -ge $((budget * 8))
check "B's pageviews exact ($b_rows of $b_sent)" test "$b_rows" -eq "$b_sent"
check "none of B's refused" test "$(dropped 2)" -eq 0 -a "$b_429" -eq 0
check "A's pageviews within 5 % of the budget ($a_rows vs $budget)" \
  awk -v a="$a_rows" -v b="$budget" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.05 * b) }'
check "every one of A's refusals answered 429 and counted" \
  test $((a_rows + a_429)) -eq "$a_sent" -a "$a_429" -eq "$(dropped 1)"
exit $fail
