#!/usr/bin/env bash
# Figure 3(b) of the paper: two nested chains. A JVM runs a Java application; a
# hypervisor runs a guest. Each child depends on its own chain only: a bad JVM makes the
# application untrusted and leaves the guest alone.
source "$(dirname "$0")/lib.sh"

say "two chains: jvm -> java-app, hypervisor -> guest"
reg jvm platform
reg java-app jvm
reg hypervisor platform
reg guest hypervisor
measure jvm 0 "openjdk 17.0.9" >/dev/null
measure java-app 0 "payroll.jar 4.2" >/dev/null
measure hypervisor 0 "xen 4.17" >/dev/null
measure guest 0 "guest kernel 6.1" >/dev/null
allow jvm 0 "openjdk 17.0.9"
allow java-app 0 "payroll.jar 4.2"
allow hypervisor 0 "xen 4.17"
allow guest 0 "guest kernel 6.1"
verdicts java-app guest
for c in jvm java-app hypervisor guest; do expect "$c" trusted; done

say "the JVM loads an agent nobody knows"
measure jvm 0 "unknown agent.jar" >/dev/null
verdicts java-app guest
expect jvm untrusted
expect java-app untrusted "jvm"
expect guest trusted
