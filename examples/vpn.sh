#!/usr/bin/env bash
# The VPN client of the paper's section 3: it must not bridge the corporate VPN with
# another network. Its active connections are measured into a reversible CCR: while a
# second connection is up the VM is untrusted; when that connection closes, the client
# reverts the CCR and the VM is trusted again without a restart.
source "$(dirname "$0")/lib.sh"

say "vpn-vm: CCR 0 its software (irreversible), CCR 1 its connections (reversible)"
reg vpn-vm platform --ccrs 2 --reversible 1
measure vpn-vm 0 "vpn client 5.1" >/dev/null
only=$(measure vpn-vm 1 "connections: corporate-vpn")
allow vpn-vm 0 "vpn client 5.1"
allow vpn-vm 1 "connections: corporate-vpn"
verdicts vpn-vm
expect vpn-vm trusted

say "a Wi-Fi hotspot comes up beside the VPN (a possible bridge)"
measure vpn-vm 1 "connections: corporate-vpn, wifi-hotspot" >/dev/null
verdicts vpn-vm
expect vpn-vm untrusted "wifi-hotspot"

say "the hotspot closes; the client reverts CCR 1 to its VPN-only state"
ctl --cap "$(capfile vpn-vm)" revert vpn-vm 1 --to "$only"
verdicts vpn-vm
expect vpn-vm trusted
