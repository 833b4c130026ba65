#!/usr/bin/python3
"""An independent reader of srtm's Canonical Event Log (docs/evidence.md, "The CCR logs as
a Canonical Event Log"), with the Python standard library only: it replays the CEL
records' SHA-256 digests, per register (content.handle, pcr), from 32 zero bytes, and
compares every result with the CCR values srtm reports for the same evidence
('srtmctl --json show': report.components[].ccrs[].value).

A CEL of one CCR ('srtmctl log NAME CCR --format cel') is compared with
'srtmctl --json read NAME CCR' instead: its "ccrs" list, the register being the pcr.

usage: check-cel.py CEL.json SHOW.json|READ.json
Exit 0 when every CCR value matches, 1 (with the reason on stderr) otherwise."""
import hashlib
import json
import sys


def fail(why):
    print("check-cel: " + why, file=sys.stderr)
    sys.exit(1)


def main():
    with open(sys.argv[1]) as f:
        cel = json.load(f)
    with open(sys.argv[2]) as f:
        show = json.load(f)
    if not isinstance(cel, list):
        fail("the CEL is not a JSON array")
    regs = {}
    for n, rec in enumerate(cel):
        if rec.get("recnum") != n:
            fail("record %d has recnum %r" % (n, rec.get("recnum")))
        if rec.get("content_type") != "srtm_ccr":
            fail("record %d: content_type %r" % (n, rec.get("content_type")))
        digests = [d for d in rec["digests"] if d.get("hashAlg") == "sha256"]
        if len(digests) != 1:
            fail("record %d: not exactly one sha256 digest" % n)
        digest = bytes.fromhex(digests[0]["digest"])
        if len(digest) != 32:
            fail("record %d: a digest of %d bytes" % (n, len(digest)))
        key = (rec["content"].get("handle"), rec["pcr"])
        regs[key] = hashlib.sha256(regs.get(key, bytes(32)) + digest).digest()
    seen = set()
    if "report" not in show:  # one component's CCRs, as 'srtmctl --json read' says
        show = {"report": {"components": [{"handle": None, "component": "the component",
                                           "ccrs": show["ccrs"]}]}}
    for comp in show["report"]["components"]:
        for ccr in comp["ccrs"]:
            key = (comp["handle"], ccr["index"])
            seen.add(key)
            got = regs.get(key, bytes(32)).hex()
            if got != ccr["value"]:
                fail("%s CCR %d: the CEL replays to %s, srtm reports %s"
                     % (comp["component"], ccr["index"], got, ccr["value"]))
    extra = set(regs) - seen
    if extra:
        fail("records for registers srtm does not report: %r" % sorted(extra))
    print("check-cel: %d records, %d CCRs match" % (len(cel), len(seen)))


main()
