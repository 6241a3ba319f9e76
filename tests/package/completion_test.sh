#!/usr/bin/env bash
# Package test of the generated bash completion for beaconctl (BUILD_DIR/packaging/
# beaconctl.bash): it registers with `complete`, offers every subcommand `beaconctl --help`
# lists, each subcommand's options, paths after a path-taking option or positional, and
# nothing after an option whose value is not a path; and, on a program printing CLI11's help
# layout, subcommands nested two deep, in the completion and in the man page include.
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
    "$(complete -p "$1" | sed "s/^complete -F \([^ ]*\) .*/\1/")" "$1" \
      "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
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
expect "$(printf '%s\n' "$subcommands" | grep '^s')" beaconctl s
expect "--clickhouse
--cluster" beaconctl schema --cl
expect "--config" beaconctl schema --con
expect "--all" beaconctl stats --a
expect "$work/node-a.toml" beaconctl schema --config "$work/node-a"
expect "$work/node-b.conf" beaconctl sites "$work/node-b"
expect "" beaconctl stats --metrics-url ""
expect "" beaconctl schema --clickhouse http

# Nested subcommands (beaconctl's grow them): a program printing CLI11's help layout.
cat >"$work/nested" <<'SH'
#!/bin/sh
case "$*" in
  --help) printf 'nested: tool\nUsage: ./nested [OPTIONS] SUBCOMMAND\n\nOptions:\n  -h,--help                   Print this help message and exit\n\nSubcommands:\n  archive                     Raw archive\n\n' ;;
  "archive --help") printf 'Raw archive\nUsage: ./nested archive [OPTIONS] SUBCOMMAND\n\nOptions:\n  -h,--help                   Print this help message and exit\n\nSubcommands:\n  ls                          List segments\n  export                      Export rows\n\n' ;;
  "archive ls --help") printf 'List segments\nUsage: ./nested archive ls [OPTIONS]\n\nOptions:\n  -h,--help                   Print this help message and exit\n  --dir TEXT                  Archive directory\n  --json                      JSON lines\n\n' ;;
  "archive export --help") printf 'Export rows\nUsage: ./nested archive export [OPTIONS] out\n\nPositionals:\n  out TEXT REQUIRED           Output file\n\nOptions:\n  -h,--help                   Print this help message and exit\n  --since INT                 Start time\n\n' ;;
  *) exit 109 ;;
esac
SH
chmod +x "$work/nested"
completion=$work/nested.bash
python3 "$(dirname "$0")/../../packaging/cli_help" completion "$work/nested" "$completion"
expect "archive" nested ""
expect "export
ls" nested archive ""
expect "--dir
--help
--json" nested archive ls --
expect "$work/node-a.toml
$work/node-b.conf" nested archive ls --dir "$work/node"
expect "" nested archive export --since ""
expect "$work/node-a.toml" nested archive export "$work/node-a"
python3 "$(dirname "$0")/../../packaging/cli_help" h2m "$work/nested" >"$work/nested.h2m"
for usage in 'nested archive [OPTIONS] SUBCOMMAND' 'nested archive ls [OPTIONS]' \
    'nested archive export [OPTIONS] out'; do
  grep -qxF ".SS \"$usage\"" "$work/nested.h2m" || fail "h2m lacks $usage"
done
echo "ok: nested subcommands in the completion and the man page include"
echo "PASS"
