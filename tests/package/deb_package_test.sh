#!/usr/bin/env bash
# Package test: builds the .deb from BUILD_DIR with cpack, then checks its contents
# (dpkg-deb -c), conffiles and control fields (dpkg-deb -e), the maintainer scripts (no
# service is started or enabled on install), the unit (systemd-analyze verify), the man pages
# (man --warnings; every beaconctl subcommand documented) and lintian (no E: or W: tag that is
# not overridden). Files of appliance/monitoring/ and docs/operations.md are required in the
# package when the source tree has them. Skips (77) without dpkg-dev, fakeroot or lintian.
#   deb_package_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: deb_package_test.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
for tool in cpack dpkg-deb dpkg-shlibdeps fakeroot lintian; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is missing (scripts/install-deps)"; exit 77; }
done
work=$(mktemp -d /tmp/beacond-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== cpack -G DEB"
(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/out/beacond_*_*.deb)
echo "$deb"

echo "== contents"
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' >"$work/contents"
required=(
  /usr/sbin/beacond /usr/bin/beaconctl /lib/systemd/system/beacond.service
  /etc/beacond/beacond.toml /etc/beacond/sites.conf
  /usr/share/beacond/relay/nginx-beacon-relay.conf /usr/share/beacond/relay/haproxy-beacon-relay.cfg
  /usr/share/doc/beacond/analyst-queries.md /usr/share/doc/beacond/copyright
  /usr/share/doc/beacond/changelog.Debian.gz /usr/share/doc/beacond/examples/beacond.toml
  /usr/share/man/man8/beacond.8.gz /usr/share/man/man8/beaconctl.8.gz
  /usr/share/man/man5/beacond.toml.5.gz /usr/share/bash-completion/completions/beaconctl
  /usr/share/lintian/overrides/beacond
)
if [ -d "$root/appliance/monitoring" ]; then
  while IFS= read -r f; do
    required+=("/usr/share/beacond/monitoring/${f#"$root/appliance/monitoring/"}")
  done < <(find "$root/appliance/monitoring" -type f | sort)
fi
[ -f "$root/docs/operations.md" ] && required+=(/usr/share/doc/beacond/operations.md)
for path in "${required[@]}"; do
  grep -qxF "$path" "$work/contents" || fail "$path is not in the package"
done
echo "${#required[@]} required paths present"
if grep -E '^/usr/local|^/home|^/tmp|^/work' "$work/contents"; then fail "paths outside the layout"; fi

echo "== control, conffiles, maintainer scripts"
dpkg-deb -e "$deb" "$work/control"
printf '/etc/beacond/beacond.toml\n/etc/beacond/sites.conf\n' >"$work/expected-conffiles"
diff -u "$work/expected-conffiles" "$work/control/conffiles" || fail "conffiles"
grep '^/etc/' "$work/contents" | grep -v '/$' | sort >"$work/etc-files"
diff -u "$work/expected-conffiles" "$work/etc-files" || fail "a file under /etc is not a conffile"
depends=$(sed -n 's/^Depends: //p' "$work/control/control")
echo "Depends: $depends"
for dep in uap-core adduser libc6 libcurl4; do
  [[ ", $depends," == *", $dep"[\ ,]* ]] || fail "Depends lacks $dep (shlibdeps)"
done
for script in postinst prerm postrm; do
  [ -x "$work/control/$script" ] || fail "$script missing or not executable"
  sh -n "$work/control/$script"
done
if grep -En '(systemctl|deb-systemd-invoke|invoke-rc\.d)[^#]* (start|enable|restart)\b' \
    "$work/control/postinst"; then
  fail "postinst starts or enables the service"
fi
grep -q 'adduser --system' "$work/control/postinst" || fail "postinst creates no system user"

echo "== unit"
mkdir "$work/root"
dpkg -x "$deb" "$work/root"
unit=$work/root/lib/systemd/system/beacond.service
grep -qx 'ExecStart=/usr/sbin/beacond --config /etc/beacond/beacond.toml --drain-timeout [0-9]*' \
  "$unit" || fail "ExecStart is not the installed beacond on the installed config"
drain=$(sed -n 's/^ExecStart=.*--drain-timeout \([0-9]*\).*/\1/p' "$unit")
stop=$(sed -n 's/^TimeoutStopSec=//p' "$unit")
((stop > drain)) || fail "TimeoutStopSec=$stop is not above the drain deadline $drain"
grep -q '^StateDirectory=beacond' "$unit" || fail "no StateDirectory="
if command -v systemd-analyze >/dev/null && [ -f /lib/systemd/system/sysinit.target ]; then
  # The unit as it would be installed, its program path pointed into the extracted package.
  mkdir "$work/verify"
  sed "s|/usr/sbin/beacond|$work/root/usr/sbin/beacond|g" "$unit" >"$work/verify/beacond.service"
  MANPATH=$work/root/usr/share/man systemd-analyze verify "$work/verify/beacond.service" \
    >"$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "systemd-analyze verify"; }
  [ ! -s "$work/verify.log" ] || { cat "$work/verify.log"; fail "systemd-analyze verify warns"; }
  echo "systemd-analyze verify: clean"
else
  echo "systemd-analyze verify: skipped (no systemd-analyze or no system units here)"
fi

echo "== man pages"
for page in man8/beacond.8.gz man8/beaconctl.8.gz man5/beacond.toml.5.gz; do
  LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$work/root/usr/share/man/$page" \
    >"$work/page.txt" 2>"$work/page.err"
  [ ! -s "$work/page.err" ] || { cat "$work/page.err"; fail "$page: groff warnings"; }
  [ -s "$work/page.txt" ] || fail "$page renders empty"
done
"$work/root/usr/bin/beaconctl" --help | sed -n '/^Subcommands:/,$p' | awk 'NR > 1 && $1 {print $1}' \
  >"$work/subcommands"
[ -s "$work/subcommands" ] || fail "beaconctl --help lists no subcommands"
while read -r sub; do
  # roff escapes a name's hyphens (dead\-letter).
  zcat "$work/root/usr/share/man/man8/beaconctl.8.gz" | sed 's/\\-/-/g' |
    grep "^\.SS \"beaconctl $sub " >/dev/null ||
    fail "beaconctl.8 does not document '$sub'"
done <"$work/subcommands"
echo "man pages: no warnings; beaconctl.8 documents $(wc -l <"$work/subcommands") subcommands"

echo "== lintian"
# Lintian warns on stderr that it runs as root; the tags go to stdout.
rc=0
lintian --pedantic --display-info --fail-on error,warning "$deb" 2>/dev/null | tee "$work/lintian" || rc=$?
((rc == 0)) || fail "lintian: E: or W: tags not overridden (exit $rc)"
if grep -E '^[EW]: ' "$work/lintian"; then fail "lintian E:/W: tags"; fi
echo "lintian: no E: or W: tags"
echo "PASS"
