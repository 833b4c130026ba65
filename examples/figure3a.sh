#!/usr/bin/env bash
# Figure 3(a) of the paper: a domain manager starts three VMs and declares that they
# depend on it. The VMs trust the manager, not each other: when the manager loads code
# nobody knows, all three lose their trust; one VM's change touches only that VM.
source "$(dirname "$0")/lib.sh"

say "the platform starts a domain manager; the manager registers three VMs"
reg dm platform
for vm in dm-vm1 dm-vm2 dm-vm3; do reg "$vm" dm; done
measure dm 0 "domain manager 3.1" >/dev/null
allow dm 0 "domain manager 3.1"
for vm in dm-vm1 dm-vm2 dm-vm3; do
  measure "$vm" 0 "guest kernel 6.1" >/dev/null
  allow "$vm" 0 "guest kernel 6.1"
done
ctl graph dm-vm1

say "a verifier asks about the three VMs (the quote covers what they depend on)"
verdicts dm-vm1 dm-vm2 dm-vm3
for vm in dm dm-vm1 dm-vm2 dm-vm3; do expect "$vm" trusted; done

say "dm-vm2 loads an unknown driver: only dm-vm2 is affected"
measure dm-vm2 0 "unknown driver" >/dev/null
verdicts dm-vm1 dm-vm2 dm-vm3
expect dm-vm1 trusted
expect dm-vm2 untrusted "not in the allowlist"
expect dm-vm3 trusted

say "the domain manager loads an unknown plug-in: every VM it manages is untrusted"
measure dm 0 "unknown plug-in" >/dev/null
verdicts dm-vm1 dm-vm3
expect dm untrusted
expect dm-vm1 untrusted "dm"
expect dm-vm3 untrusted "dm"
