#!/usr/bin/env bash
# Integration test: fair overload through beacond into a real ClickHouse. With [limits]
# site_rate_per_s = 200 and site_burst = 200, site A (shop) floods /collect at 10x its budget
# while site B (blog) sends at a normal rate, both for SECONDS; once with over_budget =
# "refuse", once with "sample" (sample_one_in = 10), each into a database of its own.
# Checks, both modes: B's pageviews in ClickHouse equal what it sent (weighted too) and none of
# B's were refused; every one of A's refused beacons was answered 429 and counted in
# beacond_site_budget_dropped_total. Refuse: A's pageviews are within 5 % of its budget (burst
# + rate x the seconds A sent for). Sample: A's plain pageviews are within 10 % of the budget
# plus a tenth of the rest, and its weighted pageviews within 10 % of what it sent (the sample
# of ~900 beacons has a relative standard error near 3 %, the weighted sum near 3 % of the
# total).
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
one_in=10

ch_url=$("$root/scripts/clickhouse-local" start "$work/clickhouse" | tail -n 1)
cp "$root/appliance/examples/sites.conf" "$work/sites.conf"

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
query() { curl -fsS "$ch_url/" --data-binary "$1 FORMAT TSV"; }
# Of site $2 in database $1: sum(pageviews) and sum(weighted_pageviews).
pageviews() {
  query "SELECT sum(pageviews), sum(weighted_pageviews) FROM $1.site_minutes WHERE site_id = $2"
}
dropped() {  # SITE REASON
  awk -v s="beacond_site_budget_dropped_total{site=\"$1\",reason=\"$2\"}" \
    '$1 == s { v = $2 } END { print v + 0 }' "$work/metrics.txt"
}
within() {  # VALUE TARGET FRACTION
  awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= f * b) }'
}

# Runs A's flood and B's normal traffic through a beacond with over_budget = MODE into
# database DB; sets a_sent a_last a_429 b_sent b_429 and saves the scrape to metrics.txt.
run() {  # MODE DB
  "$build/appliance/beaconctl" schema --clickhouse "$ch_url" --database "$2" >/dev/null
  rm -rf "$work/state" "$work/ready"
  {
    beacond_config "$work" 127.0.0.1:0 1 "$ch_url" "$2"
    cat <<TOML
flush_interval_ms = 200
[pipeline]
epoch_ms = 100
[enrich]
user_agents = ""
[limits]
site_rate_per_s = $rate
site_burst = $burst
over_budget = "$1"
sample_one_in = $one_in
TOML
  } >"$work/beacond.toml"
  start_beacond
  send UA-100001-1 shop.example $((rate * 10)) >"$work/a.out" &
  local a_pid=$!
  send UA-100002-1 blog.example $((rate / 4)) >"$work/b.out"
  wait "$a_pid"
  read -r a_sent a_last a_429 <"$work/a.out"
  read -r b_sent _ b_429 <"$work/b.out"
  sleep 1
  curl -fsS "$metrics_url" >"$work/metrics.txt"
  drain_beacond
}

# Both modes: B untouched, A's refusals answered 429 and counted under REASON.
check_common() {  # DB REASON A_ROWS
  local b_rows b_weighted
  read -r b_rows b_weighted <<<"$(pageviews "$1" 2)"
  echo "B sent $b_sent, in ClickHouse $b_rows (weighted $b_weighted), 429 $b_429"
  check "$1: B's pageviews exact ($b_rows of $b_sent)" \
    test "$b_rows" -eq "$b_sent" -a "$b_weighted" -eq "$b_sent"
  check "$1: none of B's refused" test "$(dropped 2 "$2")" -eq 0 -a "$b_429" -eq 0
  check "$1: every one of A's refusals answered 429 and counted" \
    test $(($3 + a_429)) -eq "$a_sent" -a "$a_429" -eq "$(dropped 1 "$2")"
}

step "over_budget = refuse"
run refuse refused
read -r a_rows a_weighted <<<"$(pageviews refused 1)"
budget=$(awk -v r=$rate -v b=$burst -v t="$a_last" 'BEGIN { printf "%d", b + r * t }')
echo "A sent $a_sent over ${a_last} s, budget $budget, in ClickHouse $a_rows, 429 $a_429"
check "A flooded at 10x its budget" test "$a_sent" -ge $((budget * 8))
check "A's pageviews within 5 % of the budget ($a_rows vs $budget)" within "$a_rows" "$budget" 0.05
check "nothing sampled: A's weighted pageviews are its pageviews" test "$a_weighted" -eq "$a_rows"
check_common refused site_rate "$a_rows"

step "over_budget = sample, sample_one_in = $one_in"
run sample sampled
read -r a_rows a_weighted <<<"$(pageviews sampled 1)"
budget=$(awk -v r=$rate -v b=$burst -v t="$a_last" 'BEGIN { printf "%d", b + r * t }')
expected=$(awk -v b="$budget" -v s="$a_sent" -v n=$one_in 'BEGIN { printf "%d", b + (s - b) / n }')
echo "A sent $a_sent over ${a_last} s, budget $budget, in ClickHouse $a_rows" \
  "(weighted $a_weighted), 429 $a_429"
check "A's plain pageviews within 10 % of budget + sample ($a_rows vs $expected)" \
  within "$a_rows" "$expected" 0.10
check "A's weighted pageviews within 10 % of what it sent ($a_weighted vs $a_sent)" \
  within "$a_weighted" "$a_sent" 0.10
check_common sampled sampled_out "$a_rows"
exit $fail
