#!/usr/bin/env bash
# Figure 3(c) of the paper: an application VM depends on the networking, storage and
# vTPM service VMs; the vTPM VM depends on its manager. Trouble anywhere below shows up
# in the application VM's verdict, with the chain that explains it.
source "$(dirname "$0")/lib.sh"

say "service VMs, a vTPM manager with its vTPM VM, and the application VM using them"
reg net-vm platform
reg storage-vm platform
reg vtpm-mgr platform
reg vtpm-vm vtpm-mgr
reg app-dm platform
reg app-vm app-dm --depends-on net-vm,storage-vm,vtpm-vm
for c in net-vm storage-vm vtpm-mgr vtpm-vm app-dm app-vm; do
  measure "$c" 0 "$c image 1.0" >/dev/null
  allow "$c" 0 "$c image 1.0"
done
ctl graph app-vm
verdicts app-vm
for c in net-vm storage-vm vtpm-mgr vtpm-vm app-vm; do expect "$c" trusted; done

say "the vTPM manager is replaced by an unknown build"
measure vtpm-mgr 0 "vtpm-mgr unknown build" >/dev/null
verdicts app-vm
expect vtpm-mgr untrusted
expect vtpm-vm untrusted "vtpm-mgr"
expect app-vm untrusted "vtpm"
expect net-vm trusted
expect storage-vm trusted
