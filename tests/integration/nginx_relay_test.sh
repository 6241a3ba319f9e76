#!/usr/bin/env bash
# Integration test of the relay snippets with a real proxy: appliance/examples/
# nginx-beacon-relay.conf (default) or haproxy-beacon-relay.cfg. Beacons of every format sent
# with curl get their collectors' answers, arrive as exactly one syslog datagram each
# (preflights, other paths and refused methods: none), and decode as Endpoint::kUdpSyslog to
# the same rows as the same requests decoded as the HTTP server hands them over.
#   nginx_relay_test.sh BUILD_DIR [nginx|haproxy]
# nginx needs root (the snippet's answer socket lives in /run); a missing proxy skips (77).
set -euo pipefail
build=${1:?usage: nginx_relay_test.sh BUILD_DIR [nginx|haproxy]}
proxy=${2:-nginx}
root=$(cd "$(dirname "$0")/../.." && pwd)
capture="$build/tests/integration/syslog_capture"
[ -x "$capture" ] || { echo "missing $capture (build target syslog_capture)"; exit 1; }
case "$proxy" in
  nginx)
    nginx=$(command -v nginx || true)
    [ -x /usr/sbin/nginx ] && nginx=/usr/sbin/nginx
    if [ -z "$nginx" ] || [ "$(id -u)" != 0 ]; then
      echo "SKIP: needs root and nginx (apt-get install nginx)"
      exit 77
    fi
    socket=/run/nginx-beacon-relay.sock
    if [ -S "$socket" ] && pgrep -x nginx >/dev/null; then
      echo "SKIP: another nginx may own $socket"
      exit 77
    fi
    ;;
  haproxy)
    haproxy=$(command -v haproxy || true)
    [ -x /usr/sbin/haproxy ] && haproxy=/usr/sbin/haproxy
    if [ -z "$haproxy" ]; then
      echo "SKIP: needs haproxy (apt-get install haproxy)"
      exit 77
    fi
    ;;
  *)
    echo "unknown proxy '$proxy' (nginx or haproxy)"
    exit 2
    ;;
esac

dir=$(mktemp -d /tmp/relay-test.XXXXXX)
capture_pid=
cleanup() {
  if [ -f "$dir/haproxy.pid" ]; then
    kill "$(cat "$dir/haproxy.pid")" 2>/dev/null || true
  fi
  if [ -f "$dir/nginx.pid" ]; then
    "$nginx" -p "$dir" -c "$dir/nginx.conf" -s stop 2>/dev/null || true
    for _ in $(seq 50); do [ -f "$dir/nginx.pid" ] || break; sleep 0.1; done
  fi
  [ -n "$capture_pid" ] && kill "$capture_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/requests" "$dir/datagrams"

. "$root/tests/integration/lib.sh"
http_port=$(free_ports)

# The beacons: endpoint name (for the direct decode), method, URI, body.
ua='Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0'
n=0
beacon() {  # beacon ENDPOINT METHOD URI BODY EXPECTED_STATUS EXPECTED_BODY
  printf '%s' "$1" >"$dir/requests/$n.endpoint"
  printf '%s' "$2" >"$dir/requests/$n.method"
  printf '%s' "$3" >"$dir/requests/$n.uri"
  printf '%s' "$4" >"$dir/requests/$n.body"
  printf '%s' "$ua" >"$dir/requests/$n.ua"
  printf '%s' "$5" >"$dir/requests/$n.status"
  printf '%s' "$6" >"$dir/requests/$n.answer"
  n=$((n + 1))
}
beacon ga_collect GET '/collect?v=1&tid=G-SHOP1&cid=1.1&t=pageview&dl=https%3A%2F%2Fshop.example%2Fa' '' 200 ''
beacon ga_collect POST '/r/collect' 'v=1&tid=G-SHOP1&cid=1.2&t=event&ec=video&ea=play' 200 ''
beacon ga_batch POST '/batch' $'v=1&tid=G-SHOP1&cid=2&t=pageview&dl=https%3A%2F%2Fshop.example%2Fb\r\nv=1&tid=G-SHOP1&cid=2&t=event&ec=c&ea=a\n' 200 ''
beacon ga4_gtag POST '/g/collect?v=2&tid=G-SHOP1&cid=5.5&dl=https%3A%2F%2Fshop.example%2Fg&_p=9' $'en=page_view\nen=scroll&epn.percent_scrolled=90' 204 ''
beacon ga4_gtag GET '/g/collect?v=2&tid=G-SHOP1&cid=5.6&en=page_view&dl=https%3A%2F%2Fshop.example%2Fh' '' 204 ''
beacon ga4_mp POST '/mp/collect?measurement_id=G-SHOP1&api_secret=s3cret' '{"client_id":"7.7","events":[{"name":"page_view","params":{"page_location":"https://shop.example/m?a=\"1\"&b=\\\\"}},{"name":"purchase","params":{"note":"tab\there / slash"}}]}' 204 ''
beacon plausible POST '/api/event' $'{"name":"pageview","url":"https://shop.example/caf\xc3\xa9","domain":"shop.example",\n "props":{"quote":"\\"x\\"","ctl":"\\u0001"}}' 202 ok
beacon snowplow_get GET '/i?e=pv&url=https%3A%2F%2Fshop.example%2Fs&tv=js-3&p=web&aid=shopapp&duid=d1' '' 200 ''
beacon snowplow_post POST '/com.snowplowanalytics.snowplow/tp2' '{"schema":"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4","data":[{"e":"pv","url":"https://shop.example/t","tv":"js-3","p":"web","aid":"shopapp","duid":"d2"},{"e":"se","se_ca":"c","se_ac":"a","tv":"js-3","p":"web","aid":"shopapp","duid":"d2"}]}' 200 ok
count=$n

"$capture" capture "$dir/udp_port" "$dir/datagrams" "$count" &
capture_pid=$!
for _ in $(seq 100); do [ -s "$dir/udp_port" ] && break; sleep 0.05; done
udp_port=$(cat "$dir/udp_port")

start_nginx() {
  write_nginx_relay_conf "$dir" "127.0.0.1:$http_port" "127.0.0.1:$udp_port"
  rm -f "$socket"
  "$nginx" -p "$dir" -c "$dir/nginx.conf" -t -q
  "$nginx" -p "$dir" -c "$dir/nginx.conf"
}

start_haproxy() {
  base64 -d <<<R0lGODlhAQABAPAAAP///wAAACH5BAUAAAAALAAAAAABAAEAAAICRAEAOw== >"$dir/pixel.gif"
  cat >"$dir/haproxy.cfg" <<EOF
global
  tune.bufsize 65536
  pidfile $dir/haproxy.pid
defaults
  mode http
  timeout connect 5s
  timeout client 10s
  timeout server 10s
EOF
  : >"$dir/error.log"
  export BEACON_RELAY_BIND="127.0.0.1:$http_port" BEACON_RELAY_SYSLOG="127.0.0.1:$udp_port"
  export BEACON_RELAY_PIXEL="$dir/pixel.gif"
  local config="$root/appliance/examples/haproxy-beacon-relay.cfg"
  "$haproxy" -c -q -f "$dir/haproxy.cfg" -f "$config"
  "$haproxy" -D -f "$dir/haproxy.cfg" -f "$config"
}

"start_$proxy"
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$http_port/" && break
  sleep 0.05
done

failures=0
for ((i = 0; i < count; i++)); do
  method=$(cat "$dir/requests/$i.method")
  uri=$(cat "$dir/requests/$i.uri")
  args=(-s -o "$dir/answer" -w '%{http_code}' -A "$ua" -H 'Referer: https://shop.example/from'
        -H 'CF-IPCountry: DE' -H 'Origin: https://shop.example')
  if [ "$method" = POST ]; then
    args+=(-H 'Content-Type: text/plain;charset=UTF-8' --data-binary "@$dir/requests/$i.body")
  fi
  status=$(curl "${args[@]}" "http://127.0.0.1:$http_port$uri")
  answer_ok=1
  if [ -s "$dir/requests/$i.answer" ] && ! cmp -s "$dir/answer" "$dir/requests/$i.answer"; then
    answer_ok=0
  fi
  if [ "$status" != "$(cat "$dir/requests/$i.status")" ] || [ "$answer_ok" = 0 ]; then
    echo "FAIL: $method $uri answered $status '$(cat "$dir/answer")'"
    failures=$((failures + 1))
  fi
done

# Not relayed: a CORS preflight (answered by nginx), an unknown path, a wrong method.
preflight=$(curl -s -o /dev/null -D - -X OPTIONS -H 'Origin: https://shop.example' \
  -H 'Access-Control-Request-Method: POST' "http://127.0.0.1:$http_port/api/event")
grep -qi '^HTTP/1.1 204' <<<"$preflight" || { echo "FAIL: preflight: $preflight"; failures=$((failures + 1)); }
grep -qi '^access-control-allow-origin: \*' <<<"$preflight" || { echo "FAIL: preflight CORS: $preflight"; failures=$((failures + 1)); }
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/favicon.ico")" = 404 ] ||
  { echo "FAIL: /favicon.ico not 404"; failures=$((failures + 1)); }
refused=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/batch")
[ "$refused" = 403 ] || [ "$refused" = 405 ] ||
  { echo "FAIL: GET /batch answered $refused"; failures=$((failures + 1)); }

if ! wait "$capture_pid"; then
  capture_pid=
  echo "FAIL: capture ($proxy error log follows)"; cat "$dir/error.log"
  exit 1
fi
capture_pid=
"$capture" check "$dir/requests" "$dir/datagrams" "$count" || failures=$((failures + 1))
if [ "$failures" != 0 ]; then
  echo "FAIL: $failures failures"
  exit 1
fi
echo "PASS: $count beacons relayed by $proxy and decoded as over HTTP"
