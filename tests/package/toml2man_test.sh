#!/usr/bin/env bash
# Package test of packaging/toml2man: the page made from the shipped example names every
# section and key of it (set or commented out) and renders without groff warnings; a small
# example of each layout rule lands where the rule says; a line it cannot place is an error.
#   toml2man_test.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
toml2man=$root/packaging/toml2man
example=$root/appliance/examples/beacond.toml
work=$(mktemp -d /tmp/beacond-toml2man.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$toml2man" "$example" --version 9.9 --date "May 2026" --output "$work/beacond.toml.5"
page=$work/beacond.toml.5
grep -qx '.TH BEACOND.TOML 5 "May 2026" "beacond 9.9" "File Formats"' "$page" || fail "title line"
sections=0
while read -r name; do
  grep -qE "^\.SS \"\[$name\]( \(optional\))?\"$" "$page" || fail "section [$name] missing"
  sections=$((sections + 1))
done < <(sed -nE 's/^#? ?\[([a-z_]+)\]\s*$/\1/p' "$example")
keys=0
while read -r key; do
  grep -qF "\\fB${key//-/\\-}\\fR = " "$page" || fail "key $key missing"
  keys=$((keys + 1))
done < <(sed -nE 's/^(# ?)?([a-z_]+) *= .*/\2/p' "$example")
((sections >= 8 && keys >= 60)) || fail "only $sections sections and $keys keys found in the example"
LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" >/dev/null 2>"$work/warnings"
[ ! -s "$work/warnings" ] || { cat "$work/warnings"; fail "groff warnings"; }
echo "ok: $sections sections and $keys keys of the example, no groff warnings"

cat >"$work/small.toml" <<'TOML'
# Header line one.
# Header line two.

[alpha]
# The block right above a key without trailing text describes it.
first = 1
second = "a # b"   # trailing text
                   # continued here
# A block above a key with trailing text is a paragraph.
third = .5         # dot
# optional = 7     # set when written

# The lead of a commented-out section.
# [beta]
# gamma = [1, 2]   # a list
TOML
"$toml2man" "$work/small.toml" --version 1 >"$work/small.5"
expect() {  # expect LINE...: the lines follow each other in the page
  local pattern
  pattern=$(printf '%s\n' "$@")
  python3 -c 'import sys; sys.exit(sys.argv[1] not in open(sys.argv[2]).read())' \
    "$pattern" "$work/small.5" || { cat "$work/small.5"; fail "expected: $pattern"; }
}
expect '.SH DESCRIPTION' 'Header line one. Header line two.'
expect '.SS "[alpha]"' '.TP' '\fBfirst\fR = \fI1\fR' \
  'The block right above a key without trailing text describes it.'
expect '\fBsecond\fR = \fI"a # b"\fR' 'trailing text continued here'
expect '.PP' 'A block above a key with trailing text is a paragraph.' '.TP' \
  '\fBthird\fR = \fI.5\fR' 'dot'
expect '\fBoptional\fR = \fI7\fR' 'set when written (optional: not set by default)'
expect '.SS "[beta] (optional)"' '.PP' 'The lead of a commented-out section.' '.TP' \
  '\fBgamma\fR = \fI[1, 2]\fR' 'a list'
echo "ok: the layout rules"

printf '[alpha]\nthis is not toml\n' >"$work/bad.toml"
if "$toml2man" "$work/bad.toml" --version 1 >/dev/null 2>"$work/bad.err"; then
  fail "a line toml2man cannot place was accepted"
fi
grep -q "cannot place this line: 'this is not toml'" "$work/bad.err" || fail "error message"
echo "ok: an unplaceable line is an error"
echo "PASS"
