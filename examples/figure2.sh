#!/usr/bin/env bash
# Figure 2 of the paper (flat hierarchy, basic integrity management): component zero is
# the platform TCB; VMs one, two and three run on it, each with its own CCR, measured
# independently. Every VM depends on component 0 only; the VMs do not depend on each
# other, so a change in one leaves the others' CCRs untouched.
#
# Needs: a running srtmd at $SRTM_SOCKET, its admin capability at $SRTM_ADMIN_CAP,
# srtmctl at $SRTMCTL (or on PATH) and a scratch directory $SRTM_DEMO_DIR.
set -euo pipefail
ctl=${SRTMCTL:-srtmctl}
dir=${SRTM_DEMO_DIR:?set SRTM_DEMO_DIR}
admin=${SRTM_ADMIN_CAP:?set SRTM_ADMIN_CAP}

say() { printf '\n== %s\n' "$*"; }

say "the domain manager registers VMs one, two and three (admin capability of component 0)"
for vm in one two three; do
  rm -f "$dir/vm-$vm.cap"
  "$ctl" --cap "$admin" register "vm-$vm" --ccrs 1 --cap-out "$dir/vm-$vm.cap"
done

say "each VM measures its own boot chain into its CCR 0"
for vm in one two three; do
  cap="$dir/vm-$vm.cap"
  "$ctl" --cap "$cap" extend "vm-$vm" 0 --data "vmlinuz-6.1.0-18-amd64 for vm-$vm" --desc "kernel"
  "$ctl" --cap "$cap" extend "vm-$vm" 0 --data "initrd.img-6.1.0-18-amd64 for vm-$vm" --desc "initrd"
  "$ctl" --cap "$cap" extend "vm-$vm" 0 --data "root=/dev/vda1 ro quiet (vm-$vm)" --desc "kernel command line"
done

say "the CCR table"
"$ctl" list
for vm in one two three; do
  printf 'vm-%s: ' "$vm"
  "$ctl" read "vm-$vm"
done

say "the measurement log of vm-one, CCR 0 (index seq digest event description)"
"$ctl" log vm-one 0

say "a verifier's check, independent of srtm's code: replaying the log gives the CCR value"
"$ctl" --json log vm-one 0 | python3 -c '
import hashlib, json, sys
v = bytes(32)
for e in json.load(sys.stdin)["entries"]:
    v = hashlib.sha256(v + bytes.fromhex(e["digest"])).digest()
print("replayed:", v.hex())'
printf 'CCR 0:    %s\n' "$("$ctl" read vm-one 0 | cut -d' ' -f2)"

say "vm-two loads a module: only vm-two's CCR changes (no false dependency between VMs)"
before_one=$("$ctl" read vm-one 0)
"$ctl" --cap "$dir/vm-two.cap" extend vm-two 0 --data "virtio_net.ko" --desc "kernel module"
after_one=$("$ctl" read vm-one 0)
printf 'vm-one before: %s\nvm-one after:  %s\n' "$before_one" "$after_one"
[ "$before_one" = "$after_one" ] && echo "vm-one unchanged"
printf 'vm-two now:    %s\n' "$("$ctl" read vm-two 0)"

say "vm-two's capability cannot extend vm-one (refused, nothing changes)"
if "$ctl" --cap "$dir/vm-two.cap" extend vm-one 0 --data "forged" 2>&1; then
  echo "UNEXPECTED: the extend was accepted" >&2
  exit 1
fi
[ "$("$ctl" read vm-one 0)" = "$after_one" ] && echo "vm-one unchanged"
