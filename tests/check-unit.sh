#!/usr/bin/env bash
# The installed systemd unit: `meson install --destdir` into a temporary root, then
# `systemd-analyze verify --root` on the unit installed there, so that its ExecStart= and
# ExecStopPost= paths (the install paths, filled in at configure time) must resolve to the
# installed binaries. The unit must start srtmd through the one-step launch, close the
# period in ExecStopPost=, and pass no unmeasured option; the sample configuration installed
# beside it must parse. A control removes srtm-launch from the root: verify must then fail.
# Usage: check-unit.sh BUILD_DIR PREFIX SYSCONFDIR
set -euo pipefail
build=$1 prefix=$2 sysconfdir=$3
case $sysconfdir in /*) ;; *) sysconfdir=$prefix/$sysconfdir ;; esac
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "check-unit: systemd-analyze is missing (scripts/install-deps installs systemd)" >&2
  exit 77
fi
root=$(mktemp -d /tmp/srtm-unit-XXXXXX)
trap 'rm -rf "$root"' EXIT
meson install -C "$build" --destdir "$root" --no-rebuild --quiet >"$root.log" 2>&1 ||
  { cat "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
unit=$root$prefix/lib/systemd/system/srtmd.service
conf=$root$sysconfdir/srtm/srtmd.conf
fail() { echo "check-unit: $*" >&2; exit 1; }
[ -f "$unit" ] || fail "the unit is not installed at ${unit#"$root"}"
[ -f "$conf" ] || fail "the sample configuration is not installed at ${conf#"$root"}"

# What the unit must say.
grep -q "^ExecStart=$prefix/sbin/srtm-launch --config $sysconfdir/srtm/srtmd.conf -- $prefix/sbin/srtmd --config $sysconfdir/srtm/srtmd.conf" "$unit" ||
  fail "ExecStart= is not the one-step launch with the install paths: $(grep '^ExecStart=' "$unit")"
grep -q "^Type=notify\$" "$unit" || fail "the unit is not Type=notify (srtmd sends READY=1 once it serves)"
grep -q "^ExecStart=.* --foreground\$" "$unit" || fail "ExecStart= does not keep srtmd in the foreground"
grep -q "^ExecStopPost=$prefix/sbin/srtm-launch --close --config $sysconfdir/srtm/srtmd.conf\$" "$unit" ||
  fail "no ExecStopPost= srtm-launch --close"
if grep -E '^Exec(Start|StartPre)=.*--(user|no-seccomp|listen-tcp|srtm-pcr|proof-pcrs|irk-|insecure)' "$unit"; then
  fail "the unit passes an unmeasured option to srtmd"
fi

# The sample configuration is in srtmd's grammar (srtm-launch refuses anything else).
"$build/srtm/srtm-launch" --print --srtmd "$build/srtm/srtmd" --config "$conf" >/dev/null ||
  fail "the sample srtmd.conf does not parse"

# The root holds the installed files and the few targets the unit's dependencies name.
mkdir -p "$root/usr/lib/systemd/system"
for t in sysinit basic shutdown multi-user tpm2; do
  printf '[Unit]\nDescription=%s (stub for systemd-analyze verify)\n' "$t" \
    >"$root/usr/lib/systemd/system/$t.target"
done
systemd-analyze verify --root="$root" "$unit" || fail "systemd-analyze verify failed"

# Control: without srtm-launch in the root, the same verify must fail.
rm "$root$prefix/sbin/srtm-launch"
if systemd-analyze verify --root="$root" "$unit" 2>/dev/null; then
  fail "verify passed without the binary ExecStart= names: it does not check the paths"
fi
echo "check-unit: $(basename "$unit") installed under $prefix verifies"
