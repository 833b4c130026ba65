#!/usr/bin/env bash
# What `meson install` gives an operator: every file of the system service, in a temporary
# DESTDIR root. The programs (srtmctl with the installed libsrtm), the unit (Type=notify),
# sysusers.d and tmpfiles.d (checked by systemd's own tools), the sample configuration
# (installed once, never overwritten), srtm.proto, libsrtm.pc, the soname, the manual pages
# (they render) and the bash completions (they parse).
# (grep without -q after a pipe: with pipefail, -q could SIGPIPE the writer.)
# Usage: check-install.sh BUILD_DIR
set -euo pipefail
build=$1
fail() { echo "check-install: $*" >&2; exit 1; }
opt() { meson introspect --buildoptions "$build" |
  python3 -c "import json,sys; print([o['value'] for o in json.load(sys.stdin) if o['name']=='$1'][0])"; }
abs() { case $1 in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }
prefix=$(opt prefix)
libdir=$(abs "$(opt libdir)") bindir=$(abs "$(opt bindir)") sbindir=$(abs "$(opt sbindir)")
sysconfdir=$(abs "$(opt sysconfdir)") datadir=$(abs "$(opt datadir)")
mandir=$(abs "$(opt mandir)") includedir=$(abs "$(opt includedir)")
root=$(mktemp -d /tmp/srtm-install-XXXXXX)
trap 'rm -rf "$root" "$root.log"' EXIT
install_into() {
  meson install -C "$build" --destdir "$root" --no-rebuild --quiet >"$root.log" 2>&1 ||
    { cat "$root.log" >&2; fail "meson install failed"; }
}
install_into

must() { [ -s "$root$1" ] || fail "not installed (or empty): $1"; }
for f in "$bindir/srtmctl" "$sbindir/srtmd" "$sbindir/srtm-launch" "$sbindir/srtm-keymgr" \
  "$prefix/lib/systemd/system/srtmd.service" "$prefix/lib/sysusers.d/srtm.conf" \
  "$prefix/lib/systemd/system/srtm-verifierd.service" \
  "$prefix/lib/tmpfiles.d/srtm.conf" "$sysconfdir/srtm/srtmd.conf" \
  "$datadir/srtm/srtm.proto" "$libdir/pkgconfig/libsrtm.pc" "$includedir/srtm/srtm.h" \
  "$libdir/libsrtm.so.0" "$mandir/man8/srtmd.8" "$mandir/man8/srtm-launch.8" \
  "$mandir/man8/srtm-keymgr.8" "$mandir/man1/srtmctl.1" "$mandir/man5/srtmd.conf.5" \
  "$mandir/man3/libsrtm.3" "$sbindir/srtm-verifierd" "$mandir/man8/srtm-verifierd.8" "$bindir/srtm-fleet" \
  "$mandir/man1/srtm-fleet.1"; do
  must "$f"
done

# The programs run from the root; srtmctl with the libsrtm installed there.
export LD_LIBRARY_PATH=$root$libdir
"$root$bindir/srtmctl" --version | grep '^srtmctl' >/dev/null || fail "the installed srtmctl does not run"
ldd "$root$bindir/srtmctl" | grep "libsrtm.so.0 => $root$libdir/" >/dev/null ||
  fail "srtmctl does not load the installed libsrtm: $(ldd "$root$bindir/srtmctl" | grep srtm)"
for p in srtmd srtm-launch srtm-keymgr srtm-verifierd; do
  "$root$sbindir/$p" --version | grep "^$p [0-9]" >/dev/null || fail "$p --version does not answer"
done
unset LD_LIBRARY_PATH
readelf -d "$root$libdir/libsrtm.so.0" | grep 'SONAME.*\[libsrtm\.so\.0\]' >/dev/null ||
  fail "libsrtm has no soname libsrtm.so.0"
# meson install runs no ldconfig: outside /usr srtmctl must find libsrtm by its RUNPATH.
if [ "$prefix" != /usr ]; then
  readelf -d "$root$bindir/srtmctl" | grep "RUNPATH.*\[$libdir\]" >/dev/null ||
    fail "srtmctl under $prefix has no RUNPATH $libdir (it would need ldconfig)"
fi
PKG_CONFIG_PATH=$root$libdir/pkgconfig pkg-config --libs libsrtm | grep -- -lsrtm >/dev/null ||
  fail "libsrtm.pc does not give -lsrtm"

# The unit is a notify service that keeps srtmd in the foreground.
unit=$root$prefix/lib/systemd/system/srtmd.service
grep -q '^Type=notify$' "$unit" || fail "the unit is not Type=notify"
grep -q '^ExecStart=.*/srtmd --config .* --foreground$' "$unit" || fail "ExecStart= detaches"
# The fleet verifier's: the installed daemon, restarted on failure, as a dynamic user.
vunit=$root$prefix/lib/systemd/system/srtm-verifierd.service
grep -q "^ExecStart=$sbindir/srtm-verifierd --store sqlite:/var/lib/srtm-verifierd/" "$vunit" ||
  fail "srtm-verifierd.service does not start $sbindir/srtm-verifierd on its state directory"
grep -q '^Restart=on-failure$' "$vunit" || fail "srtm-verifierd.service is not restarted on failure"
grep -q '^DynamicUser=yes$' "$vunit" || fail "srtm-verifierd.service does not run as a dynamic user"
grep -q '^CapabilityBoundingSet=$' "$vunit" || fail "srtm-verifierd.service keeps capabilities"
if command -v systemd-analyze >/dev/null 2>&1; then
  out=$(systemd-analyze verify --man=no "$vunit" 2>&1 | grep -v "not executable\|No such file\|Failed to prepare\|is not a valid" || true)
  [ -z "$out" ] || fail "systemd-analyze verify: $out"
fi

# sysusers.d and tmpfiles.d, applied to the root by systemd's tools.
mkdir -p "$root/etc"
systemd-sysusers --root="$root" "$root$prefix/lib/sysusers.d/srtm.conf" >/dev/null 2>&1 ||
  fail "systemd-sysusers refuses srtm.conf"
grep -q '^srtm:' "$root/etc/passwd" || fail "sysusers.d made no user srtm"
systemd-tmpfiles --root="$root" --create "$root$prefix/lib/tmpfiles.d/srtm.conf" ||
  fail "systemd-tmpfiles refuses srtm.conf"
[ "$(stat -c %a "$root/var/lib/srtm")" = 700 ] || fail "/var/lib/srtm is not mode 0700"
[ -d "$root/run/srtm" ] || fail "tmpfiles.d made no /run/srtm"

# The manual pages render, the completions parse.
if command -v man >/dev/null 2>&1; then
  for page in "$root$mandir"/man*/*; do
    [ -n "$(MANWIDTH=80 man -l "$page" 2>/dev/null)" ] || fail "$page does not render"
  done
fi
compdir=$(pkg-config --variable=completionsdir bash-completion 2>/dev/null || true)
compdir=${compdir:+$prefix/${compdir#/usr/}}
compdir=${compdir:-$datadir/bash-completion/completions}
for p in srtmctl srtmd srtm-launch srtm-keymgr srtm-verifierd; do
  must "$compdir/$p"
  bash -n "$root$compdir/$p" || fail "the completion of $p does not parse"
done
# And srtmctl's completes its commands.
if [ -f /usr/share/bash-completion/bash_completion ]; then
  words=$(bash -c 'source /usr/share/bash-completion/bash_completion; source "$1"
    COMP_WORDS=(srtmctl re); COMP_CWORD=1; COMP_LINE="srtmctl re"; COMP_POINT=10
    _srtmctl; echo "${COMPREPLY[*]}"' _ "$root$compdir/srtmctl")
  [ "$words" = "register read revert" ] || fail "srtmctl re<TAB> gives '$words'"
fi

# A second install keeps the operator's configuration (measured: a changed byte would
# need a new IRK) and puts the sample beside it.
conf=$root$sysconfdir/srtm/srtmd.conf
echo "workers 8" >>"$conf"
sum=$(sha256sum <"$conf")
install_into
[ "$(sha256sum <"$conf")" = "$sum" ] || fail "a second install overwrote srtmd.conf"
must "$sysconfdir/srtm/srtmd.conf.sample"
echo "check-install: every file of the service installed under $prefix"
