#!/usr/bin/env bash
# Integration test: signals during beacond's start (no ClickHouse needed), as systemd's
# ExecReload right after a start, or a quick restart, sends them. SIGHUP sent in a tight loop
# from beacond's first code (right after the dynamic loader) until it serves: it never dies of
# it, it serves, and the start's SIGHUPs are taken as a reload once it serves (pending SIGHUPs
# are one). SIGTERM from the same moment: an orderly exit (0, "SIGTERM: draining"), never
# death by the signal.
#   start_signals_test.sh BUILD_DIR [ROUNDS]
set -euo pipefail
build=$(cd "${1:?usage: start_signals_test.sh BUILD_DIR [ROUNDS]}" && pwd)
rounds=${2:-10}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/beacond-start-signals.XXXXXX)
# shellcheck source=lib.sh
. "$root/tests/integration/lib.sh"
beacond_pid=""
trap 'end_test start_signals_test $?' EXIT
fail=0

offline_config

# Starts beacond and, from its exec on, sends it SIGNAL in a loop (builtins only: a signal
# every few microseconds) until it is ready (sent SIGHUP) or gone; sets beacond_pid and sent.
start_signalling() {  # SIGNAL
  rm -f "$work/ready"
  "$build/appliance/beacond" --config "$work/beacond.toml" --ready-file "$work/ready" \
    2>"$work/beacond.log" &
  beacond_pid=$!
  local maps=() line mapped=0 state="" deadline=$((SECONDS + 30))
  # From the program's first code on. Before it the dynamic loader maps and relocates the
  # libraries, and no program can take a signal yet (nor can the shell's child before the
  # exec); its last step write-protects beacond's relocated data, splitting beacond's mappings
  # from 4 into 5, just before the program's first code (.preinit_array, then the libraries'
  # initialisers and main).
  until ((mapped >= 5)) || ((SECONDS > deadline)); do
    mapfile -t maps 2>/dev/null <"/proc/$beacond_pid/maps" || true
    mapped=0
    for line in "${maps[@]}"; do [[ "$line" == */beacond ]] && mapped=$((mapped + 1)); done
  done
  sent=0
  while [ ! -f "$work/ready" ] && ((SECONDS < deadline)); do
    read -r _ _ state _ 2>/dev/null <"/proc/$beacond_pid/stat" || break
    [ "$state" = Z ] && break
    kill "-$1" "$beacond_pid" 2>/dev/null || break
    sent=$((sent + 1))
  done
}

# Waits for beacond to exit; sets rc to its status (128 + N: killed by signal N).
wait_exit() {
  rc=0
  wait "$beacond_pid" 2>/dev/null || rc=$?
  beacond_pid=""
}

step "SIGHUP from the first moment, $rounds starts"
for round in $(seq 1 "$rounds"); do
  start_signalling HUP
  if ! kill -0 "$beacond_pid" 2>/dev/null || [ ! -f "$work/ready" ]; then
    wait_exit
    check "start $round: beacond survives $sent SIGHUPs (it exited $rc)" false
    tail -n 3 "$work/beacond.log"
    continue
  fi
  management_port=$(sed -n 's/^management_port=//p' "$work/ready")
  for _ in $(seq 1 50); do grep -q "reload ok" "$work/beacond.log" && break; sleep 0.1; done
  check "start $round: after $sent SIGHUPs beacond serves /healthz" \
    sh -c "curl -fsS 'http://127.0.0.1:$management_port/healthz' | grep -q ok"
  check "start $round: the start's SIGHUPs were taken as reloads, applied" \
    sh -c "grep -q 'reload ok' '$work/beacond.log' && ! grep -q 'reload refused' '$work/beacond.log'"
  drain_beacond >/dev/null
done

step "SIGTERM from the first moment, $rounds starts"
for round in $(seq 1 "$rounds"); do
  start_signalling TERM
  wait_exit
  check "start $round: $sent SIGTERMs end in an orderly exit 0 (exit $rc)" test "$rc" -eq 0
  check "start $round: ... which drained" grep -q "SIGTERM: draining" "$work/beacond.log"
done
exit $fail
