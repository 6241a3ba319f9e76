#!/usr/bin/env bash
# Package test of the maintainer scripts with real dpkg: the .deb from BUILD_DIR is installed,
# reinstalled over an edited conffile (an upgrade) and purged in a throwaway copy of this
# machine's root (a private mount namespace, an overlay over /, chroot), so the host's dpkg
# database, users and /etc stay untouched. Checks: the system user, /var/lib/beacond and its
# spool/ and archive/ owned by it (0750), the config readable by root and beacond only, the
# unit installed but not enabled, the installed beacond --check as the beacond user, the
# operator's edit kept across the upgrade, and a purge removing state and config. Skips (77)
# when not root or when the namespace or overlay cannot be made.
#   maintainer_scripts_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: maintainer_scripts_test.sh BUILD_DIR}" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ "${BEACON_IN_OVERLAY:-}" != 1 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (a mount namespace and chroot)"; exit 77; }
  for tool in cpack dpkg-shlibdeps fakeroot unshare; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool is missing"; exit 77; }
  done
  work=$(mktemp -d /tmp/beacond-maint.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  (cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) ||
    { cat "$work/cpack.log"; fail "cpack"; }
  mkdir "$work/upper" "$work/ovl" "$work/merged"
  unshare -m true 2>/dev/null || { echo "SKIP: no mount namespace here"; exit 77; }
  rc=0
  BEACON_IN_OVERLAY=1 unshare -m --propagation private "$0" "$build" "$work" || rc=$?
  exit $rc
fi

work=${2:?}
merged=$work/merged
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/ovl" "$merged" ||
  { echo "SKIP: overlayfs over / is not allowed here"; exit 77; }
for fs in dev proc sys; do mount --rbind "/$fs" "$merged/$fs"; done
mount -t tmpfs tmpfs "$merged/run"  # no /run/systemd/system: scripts must not need systemd
in_root() { chroot "$merged" "$@"; }
cp "$work"/out/beacond_*.deb "$merged/tmp/beacond.deb"
if in_root dpkg-query -W beacond >/dev/null 2>&1; then fail "beacond is already installed here"; fi

echo "== dpkg -i"
in_root dpkg -i /tmp/beacond.deb
in_root getent passwd beacond | grep -q ':/var/lib/beacond:' || fail "no system user beacond"
for dir in /var/lib/beacond /var/lib/beacond/spool /var/lib/beacond/archive; do
  got=$(in_root stat -c '%U:%G %a' "$dir")
  [ "$got" = "beacond:beacond 750" ] || fail "$dir is $got"
done
got=$(in_root stat -c '%U:%G %a' /etc/beacond/beacond.toml)
[ "$got" = "root:beacond 640" ] || fail "/etc/beacond/beacond.toml is $got"
[ -f "$merged/lib/systemd/system/beacond.service" ] || fail "unit not installed"
if [ -e "$merged/etc/systemd/system/multi-user.target.wants/beacond.service" ]; then
  fail "the unit was enabled on install"
fi
in_root runuser -u beacond -- /usr/sbin/beacond --config /etc/beacond/beacond.toml --check |
  grep -qx 'config OK; 3 sites' || fail "beacond --check as the beacond user"
echo "ok: user, directories, modes, unit disabled, --check as beacond"

echo "== upgrade over an edited conffile"
sed -i 's|^workers = 0 |workers = 3 |' "$merged/etc/beacond/beacond.toml"
in_root dpkg -i /tmp/beacond.deb
grep -q '^workers = 3 ' "$merged/etc/beacond/beacond.toml" || fail "the operator's edit was lost"
got=$(in_root stat -c '%U:%G %a' /etc/beacond/beacond.toml)
[ "$got" = "root:beacond 640" ] || fail "after the upgrade /etc/beacond/beacond.toml is $got"
echo "ok: edit kept, modes kept"

echo "== dpkg --purge"
in_root dpkg --purge beacond
for path in /var/lib/beacond /etc/beacond /usr/sbin/beacond /lib/systemd/system/beacond.service; do
  [ ! -e "$merged$path" ] || fail "$path left after purge"
done
echo "ok: purge removed state, config and programs"
echo "PASS"
