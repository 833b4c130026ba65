#!/usr/bin/env bash
# The firewall of the paper's section 6.2: VM_FW filters the traffic of VM_B, so VM_B's
# integrity depends on VM_FW's rule set, which VM_FW keeps in a reversible CCR. Under the
# expected rule set R_beta, VM_A trusts VM_B; when VM_FW switches to the unexpected R_alpha
# it does not; when VM_FW reverts to R_beta, VM_B is trusted again - no restart.
source "$(dirname "$0")/lib.sh"

say "VM_FW (CCR 0: its image; CCR 1, reversible: its rule set) and VM_B behind it"
reg vm-fw platform --ccrs 2 --reversible 1
reg vm-b platform --depends-on vm-fw
measure vm-fw 0 "firewall vm image 2.3" >/dev/null
beta=$(measure vm-fw 1 "rule set R_beta")
measure vm-b 0 "web server 1.24" >/dev/null
allow vm-fw 0 "firewall vm image 2.3"
allow vm-fw 1 "rule set R_beta"
allow vm-b 0 "web server 1.24"
verdicts vm-b
expect vm-fw trusted
expect vm-b trusted

say "VM_FW switches to the unexpected rule set R_alpha"
measure vm-fw 1 "rule set R_alpha" >/dev/null
verdicts vm-b
expect vm-fw untrusted "R_alpha"
expect vm-b untrusted "vm-fw"

say "VM_FW reverts CCR 1 to R_beta (seq $beta): VM_B is trusted again, nothing restarted"
ctl --cap "$(capfile vm-fw)" revert vm-fw 1 --to "$beta"
ctl log vm-fw 1
verdicts vm-b
expect vm-fw trusted
expect vm-b trusted
