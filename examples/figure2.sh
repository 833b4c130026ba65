#!/usr/bin/env bash
# Figure 2 of the paper (flat hierarchy, basic integrity management): component zero is
# the platform TCB; VMs one, two and three run on it, each with its own CCR, measured
# independently. Every VM depends on component 0 only; the VMs do not depend on each
# other, so a change in one leaves the others' CCRs untouched.
source "$(dirname "$0")/lib.sh"

say "the platform registers VMs one, two and three (admin capability of component 0)"
for vm in one two three; do reg "vm-$vm" platform --ccrs 1; done
ctl list

say "each VM measures its own boot chain into its CCR 0"
for vm in one two three; do
  for part in "vmlinuz-6.1.0-18-amd64" "initrd.img-6.1.0-18-amd64" "root=/dev/vda1 ro quiet"; do
    measure "vm-$vm" 0 "$part (vm-$vm)" >/dev/null
    allow "vm-$vm" 0 "$part (vm-$vm)"
  done
  printf 'vm-%s: %s\n' "$vm" "$(ctl read "vm-$vm")"
done

say "the measurement log of vm-one, CCR 0 (index seq digest event description)"
ctl log vm-one 0

say "a check independent of srtm's code: replaying the log gives the CCR value"
ctl --json log vm-one 0 | python3 -c '
import hashlib, json, sys
v = bytes(32)
for e in json.load(sys.stdin)["entries"]:
    v = hashlib.sha256(v + bytes.fromhex(e["digest"])).digest()
print("replayed:", v.hex())'
printf 'CCR 0:    %s\n' "$(ctl read vm-one 0 | cut -d' ' -f2)"

say "vm-two loads a module: only vm-two's CCR changes (no false dependency between VMs)"
before=$(ctl read vm-one 0)
measure vm-two 0 "virtio_net.ko" >/dev/null
allow vm-two 0 "virtio_net.ko"
[ "$(ctl read vm-one 0)" = "$before" ] && echo "vm-one unchanged"

say "vm-two's capability cannot extend vm-one (refused, nothing changes)"
if ctl --cap "$(capfile vm-two)" extend vm-one 0 --data "forged" 2>&1; then
  echo "UNEXPECTED: the extend was accepted" >&2
  exit 1
fi
[ "$(ctl read vm-one 0)" = "$before" ] && echo "vm-one unchanged"

say "a verifier's joint quote about the three VMs"
verdicts vm-one vm-two vm-three
for vm in one two three; do expect "vm-$vm" trusted; done
