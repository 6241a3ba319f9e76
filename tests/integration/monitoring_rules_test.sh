#!/usr/bin/env bash
# The shipped alert rules (appliance/monitoring) with Debian's promtool.
#   monitoring_rules_test.sh check  promtool check rules, and every runbook_url names a
#                                   section of docs/operations.md
#   monitoring_rules_test.sh test   promtool test rules: the rules' unit tests
# Without promtool (install-deps installs it): skipped (77).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
monitoring="$root/appliance/monitoring"
command -v promtool >/dev/null || { echo "monitoring_rules_test: no promtool" >&2; exit 77; }
case "${1:?usage: monitoring_rules_test.sh check|test}" in
  check)
    promtool check rules "$monitoring/beacond.rules.yml"
    # GitHub-style anchors of the guide's headings: lower case, spaces to '-', punctuation gone.
    anchors=$(sed -n 's/^#\{1,6\} //p' "$root/docs/operations.md" | tr 'A-Z ' 'a-z-' |
      tr -cd 'a-z0-9_\n-')
    missing=0
    for anchor in $(sed -n 's/.*runbook_url: "docs\/operations.md#\([^"]*\)".*/\1/p' \
        "$monitoring/beacond.rules.yml"); do
      grep -qx -- "$anchor" <<<"$anchors" || { echo "no section #$anchor in docs/operations.md"; missing=1; }
    done
    alerts=$(grep -c '^ *- alert:' "$monitoring/beacond.rules.yml")
    runbooks=$(grep -c 'runbook_url: "docs/operations.md#' "$monitoring/beacond.rules.yml")
    [ "$alerts" = "$runbooks" ] || { echo "$alerts alerts but $runbooks runbook links"; missing=1; }
    [ $missing -eq 0 ] && echo "runbooks: $alerts alerts, each linking a section of docs/operations.md"
    exit $missing
    ;;
  test) exec promtool test rules "$monitoring/beacond.rules.test.yml" ;;
  *) echo "usage: monitoring_rules_test.sh check|test" >&2; exit 2 ;;
esac
