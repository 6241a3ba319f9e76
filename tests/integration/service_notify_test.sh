#!/usr/bin/env bash
# Integration test (no ClickHouse needed): beacond tells a Type=notify service manager when it
# serves and when it stops, by sd_notify's datagram to $NOTIFY_SOCKET. A unix datagram socket
# of this test stands in for systemd: READY=1 must come once beacond serves (its ready file
# written, /healthz answered), never before, and STOPPING=1 at SIGTERM. The shipped unit must
# be Type=notify, so that systemd holds `systemctl reload` until beacond can take a SIGHUP.
#   service_notify_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: service_notify_test.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/beacond-notify.XXXXXX)
# shellcheck source=lib.sh
. "$root/tests/integration/lib.sh"
beacond_pid=""
listener_pid=""
trap 'rc=$?; kill_started "$listener_pid"; end_test service_notify_test $rc' EXIT
fail=0

offline_config

step "the shipped unit waits for beacond's readiness"
unit=$root/appliance/examples/beacond.service
check "Type=notify" grep -qx 'Type=notify' "$unit"
check "NotifyAccess=main" grep -qx 'NotifyAccess=main' "$unit"

step "READY=1 once beacond serves, STOPPING=1 at SIGTERM"
# Each datagram on its own line, stamped with whether the ready file existed when it came.
python3 - "$work/notify.sock" "$work/ready" >"$work/notify.log" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    data = s.recv(4096).decode()
    ready = "after-ready-file" if os.path.exists(sys.argv[2]) else "before-ready-file"
    print(ready, data.replace("\n", " "), flush=True)
PY
listener_pid=$!
for _ in $(seq 1 50); do grep -q listening "$work/notify.log" && break; sleep 0.1; done
NOTIFY_SOCKET=$work/notify.sock start_beacond
for _ in $(seq 1 50); do grep -q READY=1 "$work/notify.log" && break; sleep 0.1; done
cat "$work/notify.log"
check "READY=1 came, after the ready file was written" \
  grep -q '^after-ready-file READY=1' "$work/notify.log"
check "nothing came before beacond served" sh -c "! grep -q before-ready-file '$work/notify.log'"
check "/healthz answers" sh -c "curl -fsS 'http://127.0.0.1:$management_port/healthz' | grep -q ok"
drain_beacond >/dev/null
check "STOPPING=1 at SIGTERM" grep -q 'STOPPING=1' "$work/notify.log"

step "without NOTIFY_SOCKET nothing is sent and nothing is said"
rm -f "$work/ready"
start_beacond
check "no notification error logged" sh -c "! grep -q 'notify the service manager' '$work/beacond.log'"
drain_beacond >/dev/null
exit $fail
