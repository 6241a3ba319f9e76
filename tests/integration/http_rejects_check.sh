#!/usr/bin/env bash
# Sends one malformed or oversized request per class to a running beacond (port and metrics
# URL from e2e-run's environment), checks each status code and parse-reject counter, and
# that a valid beacon is still answered afterwards.
set -euo pipefail
port=${BEACOND_HTTP_PORT:?}
metrics=${BEACOND_METRICS_URL:?}

# raw_status REQUEST: writes REQUEST (printf format) on a fresh connection; prints the status.
raw_status() {
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf "$1" >&3
  local line=""
  IFS= read -r -t 5 line <&3 || true
  exec 3<&- 3>&-
  echo "$line" | awk '{print $2}'
}

counter() {  # counter NAME LABEL-SELECTOR -> value (0 when absent)
  curl -fsS "$metrics" | awk -v k="$1{$2}" '$1 == k {v = $2} END {print v + 0}'
}

failures=0
check() {  # check NAME EXPECTED_STATUS REASON REQUEST
  local before after got
  before=$(counter beacond_http_parse_rejects_total "reason=\"$3\"")
  got=$(raw_status "$4")
  after=$(counter beacond_http_parse_rejects_total "reason=\"$3\"")
  if [ "$got" = "$2" ] && [ "$after" -eq $((before + 1)) ]; then
    printf '  ok   %-34s %s, %s counted\n' "$1" "$got" "$3"
  else
    printf '  FAIL %-34s status %s (want %s), %s %s -> %s\n' "$1" "$got" "$2" "$3" "$before" "$after"
    failures=$((failures + 1))
  fi
}

long=$(head -c 9000 /dev/zero | tr '\0' 'a')
check "bare LF line ending" 400 bare_lf 'GET /collect?v=1 HTTP/1.1\nHost: x\n\n'
check "obsolete header folding" 400 obsolete_folding 'GET /collect HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n'
check "duplicate Content-Length" 400 duplicate_content_length 'POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nv=1'
check "Content-Length with chunked" 400 content_length_with_transfer_encoding 'POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
check "two Host lines" 400 duplicate_host 'GET /collect HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n'
check "chunked HTTP/1.0" 400 legacy_transfer_encoding 'POST /collect HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
check "oversized request line" 414 request_line_too_long "GET /x?$long HTTP/1.1\r\nHost: x\r\n\r\n"
check "oversized header line" 431 header_line_too_long "GET /collect HTTP/1.1\r\nHost: x\r\nX-Big: $long\r\n\r\n"
check "oversized body" 413 body_too_large 'POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\nv=1'
check "unsupported HTTP version" 505 unsupported_version 'GET /collect HTTP/2.0\r\nHost: x\r\n\r\n'

ok=$(raw_status 'GET /collect?v=1&t=pageview HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
if [ "$ok" = "200" ]; then echo "  ok   a valid beacon afterwards gets 200"; else
  echo "  FAIL a valid beacon afterwards got '$ok'"; failures=$((failures + 1)); fi
[ "$failures" -eq 0 ]
