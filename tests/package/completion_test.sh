#!/usr/bin/env bash
# Package test of the generated bash completion for beaconctl (BUILD_DIR/packaging/
# beaconctl.bash): it registers with `complete`, offers every subcommand `beaconctl --help`
# lists, each subcommand's options, files after a file-taking option or positional, and
# nothing after an option whose value is not a file.
#   completion_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: completion_test.sh BUILD_DIR}" && pwd)
completion=$build/packaging/beaconctl.bash
beaconctl=$build/appliance/beaconctl
[ -f "$completion" ] || { echo "FAIL: $completion not generated" >&2; exit 1; }
work=$(mktemp -d /tmp/beacond-completion.XXXXXX)
trap 'rm -rf "$work"' EXIT
touch "$work/node-a.toml" "$work/node-b.conf"

# complete WORD...: what the completion offers for the last word, one per line, sorted.
complete_words() {
  bash --norc --noprofile -c '
    . "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    _beaconctl beaconctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$completion" "$@"
}
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() {  # expect "EXPECTED LINES" WORD...
  local want=$1 got
  shift
  got=$(complete_words "$@")
  [ "$got" = "$want" ] || fail "beaconctl ${*:2}: offered [$got], want [$want]"
  echo "ok: '$*' -> $(echo "$got" | tr '\n' ' ')"
}

registered=$(bash --norc --noprofile -c '. "$1"; complete -p beaconctl' _ "$completion")
[ "$registered" = "complete -F _beaconctl beaconctl" ] || fail "complete -p: $registered"
subcommands=$("$beaconctl" --help | sed -n '/^Subcommands:/,$p' | awk 'NR > 1 && $1 {print $1}' | sort)
[ -n "$subcommands" ] || fail "beaconctl --help lists no subcommands"
expect "$subcommands" beaconctl ""
expect "schema
sites
stats" beaconctl s
expect "--clickhouse
--cluster" beaconctl schema --cl
expect "--config" beaconctl schema --con
expect "--all" beaconctl stats --a
expect "$work/node-a.toml" beaconctl schema --config "$work/node-a"
expect "$work/node-b.conf" beaconctl sites "$work/node-b"
expect "" beaconctl stats --metrics-url ""
expect "" beaconctl schema --clickhouse http
echo "PASS"
