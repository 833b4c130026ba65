#!/usr/bin/env python3
"""Differential check of the report rules of docs/verifier.md and docs/evidence.md: reports
made here (deeper hierarchies, bare names and paths, unmatched policy names, dependency
records, removed dependencies judged at the cut, reverts and revert_by, cycles, long
chains, terminated components, text srtmd never writes) are signed into evidence with the
example's software AIK and IRK (tests/data/example/aik-key.pem, irk-key.pem), then verified
by `srtmctl verify` and by the independent tests/data/verify-example.py; both must print the
same checks, reasons and verdicts and exit with the same code.

    compare-crafted.py SRTMCTL EXAMPLE_DIR
"""
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "verify-example.py")
_spec = importlib.util.spec_from_file_location("verify_example", SCRIPT)
ve = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ve)  # its protobuf encoder, to write reports


def sha(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


def ldelim(num, b):
    return ve.uvarint(num << 3 | 2) + ve.uvarint(len(b)) + b


class Signer:
    """The example's evidence with another report: a new quote qualifier in the attest,
    the attest signed by the AIK, the report signed by the IRK."""

    def __init__(self, d):
        load = lambda n: serialization.load_pem_private_key(
            open(os.path.join(d, n), "rb").read(), None)
        self.aik, self.irk = load("aik-key.pem"), load("irk-key.pem")
        self.nonce = bytes.fromhex(open(os.path.join(d, "nonce.hex")).read().strip())
        self.raw = open(os.path.join(d, "evidence.bin"), "rb").read()
        self.attest = ve.decode(self.raw, ve.EVIDENCE)["quote"]["attest"]

    def evidence(self, report):
        att = bytearray(self.attest)
        att[44:76] = sha(self.nonce, sha(report))  # extraData: after magic, type, signer, size
        att = bytes(att)
        r, s = decode_dss_signature(self.aik.sign(att, ec.ECDSA(hashes.SHA256())))
        sig = (b"\x00\x18\x00\x0b\x00\x20" + r.to_bytes(32, "big") + b"\x00\x20" +
               s.to_bytes(32, "big"))
        irk_sig = self.irk.sign(b"srtm-irk-report-v1" + self.nonce + sha(report),
                                ec.ECDSA(hashes.SHA256()))
        out = b""
        for num, _, val, start, _, end, _ in ve.fields(self.raw):
            if num == 3:
                out += ldelim(3, report)
            elif num == 4:
                out += ldelim(4, irk_sig)
            elif num == 5:
                q = ldelim(1, att) + ldelim(2, sig)
                q += b"".join(val[s0:e0] for n0, _, _, s0, _, e0, _ in ve.fields(val) if n0 > 2)
                out += ldelim(5, q)
            else:
                out += self.raw[start:end]
        return out


# ---- reports ----

D = [sha(b"d%d" % i) for i in range(10)]


def entry(seq, digest, desc="", **kw):
    e = {"index": 0, "seq": seq, "digest": digest, "event_type": 0, "description": desc,
         "reverted": False, "revert_marker": False, "revert_to_seq": 0, "revert_by": 0,
         "_unknown": []}
    e.update(kw)
    return e


def ccr(index, log, policy=1):
    live = []
    for e in log:
        if e["revert_marker"]:
            while live and live[-1][0] > e["revert_to_seq"]:
                live.pop()
        else:
            live.append((e["seq"], sha(live[-1][1] if live else bytes(32), e["digest"])))
    return {"index": index, "policy": policy, "value": live[-1][1] if live else bytes(32),
            "log": log, "_unknown": []}


def chg(seq, component, on, actor, removed=False):
    return {"seq": seq, "component": component, "on": on, "actor": actor, "removed": removed,
            "_unknown": []}


def comp(h, name, parent, deps, ccrs, changes=None, terminated=False):
    """A component; by default with the records srtmd writes at registration."""
    if changes is None:
        changes = [chg(h, h, d, parent) for d in deps] if h else []
    return {"handle": h, "name": name, "ccrs": ccrs, "parent": parent, "depends_on": deps,
            "terminated": terminated, "dependency_changes": changes, "_unknown": []}


def report(comps, since_seq=0, seq=100):
    return ve.encode({"format": 1, "srtm_instance": b"\x01" * 16, "reset_count": 1,
                      "restart_count": 0, "seq": seq, "components": comps,
                      "since_seq": since_seq, "_unknown": []}, ve.CCR_REPORT)


def inc(index, before, log, policy=1):
    """A CCR of an incremental report: the entries `before` left out (log_offset, and
    base_value their replay), `log` reported with their indexes in the whole log."""
    r = ccr(index, before + log, policy)
    for k, e in enumerate(log):
        e["index"] = len(before) + k
    r.update(log=log, log_offset=len(before), base_value=ccr(index, before, policy)["value"])
    return r


def allow(*ds, **kw):
    return dict({"ccrs": {"0": {"allowed_digests": [d.hex() for d in ds]}}}, **kw)


def scenarios():
    """(name, report bytes, policy components, other policy keys)."""
    good, bad = ccr(0, [entry(2, D[0])]), ccr(0, [entry(3, D[9], "evil")])
    plat = comp(0, "platform", 0, [], [ccr(0, [])])
    deep = [plat, comp(1, "dm", 0, [0], [good]), comp(2, "vm-b", 1, [1], [good])]
    yield "deep", report(deep), {"platform": {"ccrs": {}}, "dm": allow(D[0]),
                                 "platform/dm/vm-b": allow(D[0])}, {}
    yield "bare-deep", report(deep), {"dm": allow(D[0]), "vm-b": allow(D[0])}, {
        "require": ["vm-b", "dm"]}
    yield "twice", report([plat, comp(1, "vm-b", 0, [0], [good])]), {
        "vm-b": allow(D[0]), "platform/vm-b": allow(D[0])}, {}
    measured = comp(0, "platform", 0, [], [ccr(0, [entry(1, D[1])])])
    two = [measured, comp(1, "dm", 0, [0], [good, ccr(1, [])])]
    yield "replay-only", report(two), {"dm": allow(D[0])}, {"unlisted": "replay-only"}
    yield "unlisted", report(two), {"dm": allow(D[0]), "nothere": allow(D[0])}, {
        "require": ["gone", "platform/x/y"]}
    yield "orphan", report([plat, comp(1, "a", 7, [0, 7], [good])]), {"a": allow(D[0])}, {}
    yield "expected", report([plat, comp(1, "a", 0, [0], [good, ccr(2, [])])]), {"a": {"ccrs": {
        "0": {"expected_value": "00" * 32},
        "2": {"expected_value": "11" * 32, "allowed_digests": []},
        "5": {"allowed_digests": []}}}}, {}
    # removed dependencies, judged at the cut and now
    fw_log = ccr(0, [entry(2, D[0]), entry(5, D[9], "bad")])
    for name, cut, actor in [("cut-before-bad", 4, 0), ("cut-after-bad", 6, 0),
                             ("cut-by-self", 4, 2), ("cut-by-dependency", 4, 1),
                             ("cut-out-of-order", 1, 0)]:
        yield name, report([plat, comp(1, "fw", 0, [0], [fw_log]), comp(
            2, "web", 0, [0], [good], [chg(2, 2, 0, 0), chg(3, 2, 1, 2), chg(cut, 2, 1, actor, True)])]), {
            "fw": allow(D[0]), "web": allow(D[0])}, {"require": ["web"]}
    reverted = ccr(0, [entry(2, D[0]), entry(3, D[9], "bad", reverted=True),
                       entry(6, b"", revert_marker=True, revert_to_seq=2, revert_by=1)], policy=2)
    for name, cut in [("cut-revert-before", 7), ("cut-revert-after", 4)]:
        yield name, report([plat, comp(1, "fw", 0, [0], [reverted]), comp(
            2, "web", 0, [0], [good], [chg(2, 2, 0, 0), chg(3, 2, 1, 2), chg(cut, 2, 1, 0, True)])]), {
            "fw": allow(D[0], revert_by=["self"]), "web": allow(D[0])}, {}
    yield "cut-now-bad", report([plat, comp(1, "x", 0, [0], [bad]), comp(2, "fw", 0, [0, 1], [good]),
                                 comp(3, "web", 0, [0], [good], [chg(3, 3, 0, 0), chg(4, 3, 2, 3),
                                                                 chg(9, 3, 2, 3, True)])]), {
        "x": allow(D[0]), "fw": allow(D[0]), "web": allow(D[0])}, {}
    yield "cut-missing", report([plat, comp(3, "web", 0, [0], [good], [
        chg(3, 3, 0, 0), chg(4, 3, 2, 3), chg(9, 3, 2, 3, True)])]), {"web": allow(D[0])}, {}
    # who reverted
    for name, by, rule in [("revert-self-only", 0, ["self"]), ("revert-default", 2, None),
                           ("revert-named", 2, ["other"]), ("revert-path", 2, ["platform/other"]),
                           ("revert-missing", 9, ["other", "self"]), ("revert-nobody", 1, [])]:
        log = ccr(0, [entry(2, D[0]), entry(3, D[9], "bad", reverted=True),
                      entry(6, b"", revert_marker=True, revert_to_seq=2, revert_by=by)], policy=2)
        fw = allow(D[0]) if rule is None else allow(D[0], revert_by=rule)
        yield name, report([plat, comp(1, "fw", 0, [0], [log]), comp(2, "other", 0, [0], [good])]), {
            "fw": fw, "other": allow(D[0])}, {}
    # records that do not replay
    yield "records", report([plat, comp(1, "a", 0, [0], [good], [chg(1, 1, 0, 0), chg(2, 1, 0, 0)]),
                             comp(2, "b", 0, [0], [good], [chg(1, 2, 3, 0, True)]),
                             comp(3, "c", 0, [0, 1], [good]),
                             comp(4, "d", 0, [0], [good], [chg(1, 5, 0, 0)]),
                             comp(5, "e", 0, [0], [good], [chg(2, 5, 0, 0), chg(1, 5, 1, 0)]),
                             comp(6, "f", 0, [0, 1], [good], [chg(6, 6, 0, 0)]),
                             comp(7, "g", 0, [0], [good], [chg(7, 7, 0, 0), chg(7, 7, 1, 0)])]), {
        k: allow(D[0]) for k in "abcdefg"}, {}
    # the dependency rule
    yield "cycles-chains", report([
        plat, comp(1, "a", 0, [0, 2], [good]), comp(2, "b", 0, [0, 1], [good]),
        comp(3, "c", 0, [0, 3], [good]), comp(4, "d", 0, [0, 1], [good]),
        comp(5, "e", 4, [4], [good]), comp(6, "f", 0, [0, 9], [bad]),
        comp(7, "g", 0, [0, 6], [good], terminated=True), comp(8, "h", 0, [0, 7], [good])]), dict(
        {k: allow(D[0]) for k in "abcdfgh"}, **{"platform/d/e": allow(D[0])}), {}
    chain = [plat] + [comp(i, "n%d" % i, i - 1, [i - 1], [bad if i == 1 else good])
                      for i in range(1, 15)]
    yield "long-chain", report(chain), {"platform/" + "/".join(
        "n%d" % j for j in range(1, i + 1)): allow(D[0]) for i in range(1, 15)}, {}
    term = [plat, comp(1, "a", 0, [0], [good], terminated=True), comp(2, "b", 0, [0, 1], [good])]
    yield "terminated-accepted", report(term), {"a": allow(D[0]), "b": allow(D[0])}, {
        "terminated": "accepted"}
    yield "terminated", report(term), {"a": allow(D[0]), "b": allow(D[0])}, {}
    # text srtmd never writes
    yield "nul-in-name", report([plat]).replace(b"platform", b"plat\0orm"), {"a": allow(D[0])}, {}
    yield "slash-in-name", report([plat, comp(1, "a/b", 0, [0], [good])]), {"a": allow(D[0])}, {}
    yield "bad-utf8", report([plat, comp(1, "a", 0, [0], [ccr(0, [entry(2, D[0], "\udcff")])])]), {
        "a": allow(D[0])}, {}
    yield "no-platform", report([comp(1, "a", 0, [0], [good])]), {"a": allow(D[0])}, {}
    # incremental reports (docs/verifier.md, "Incremental verification"): without a state
    # nothing can continue them, and what srtmd never sends is a lie either way
    for name, since, mk in [
            ("incremental", 50, lambda: inc(0, [entry(2, D[0])], [entry(60, D[0])])),
            ("incremental-not-allowed", 50,
             lambda: inc(0, [entry(2, D[0])], [entry(60, D[0]), entry(61, D[9], "evil")])),
            ("incremental-wrong-value", 50,
             lambda: dict(inc(0, [entry(2, D[0])], [entry(60, D[0])]), value=D[3])),
            ("offset-in-full", 0, lambda: inc(0, [entry(2, D[0])], [entry(60, D[0])])),
            ("offset-reversible", 50, lambda: inc(0, [entry(2, D[0])], [entry(60, D[0])], 2)),
            ("offset-short-base", 50, lambda: dict(inc(0, [entry(2, D[0])], [entry(60, D[0])]),
                                                   base_value=D[0][:31])),
            ("offset-seq-not-after", 50, lambda: inc(0, [entry(2, D[0])], [entry(40, D[0])])),
            ("offset-index-gap", 50,
             lambda: inc(0, [entry(2, D[0])], [entry(60, D[0]), entry(61, D[0], index=9)])),
            ("base-without-offset", 50, lambda: dict(ccr(0, [entry(60, D[0])]),
                                                     base_value=D[0]))]:
        r = mk()
        if name == "offset-index-gap":
            r["log"][1]["index"] = 9
        yield name, report([plat, comp(1, "a", 0, [0], [r])], since), {"a": allow(D[0])}, {}
    yield "offset-removal-target", report([
        plat, comp(1, "fw", 0, [0], [inc(0, [entry(2, D[0])], [entry(60, D[0])])]),
        comp(2, "web", 0, [0], [good], [chg(2, 2, 0, 0), chg(3, 2, 1, 2), chg(4, 2, 1, 0, True)])],
        50), {"fw": allow(D[0]), "web": allow(D[0])}, {}


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    srtmctl, d = argv[1], argv[2]
    signer = Signer(d)
    differ = count = 0
    with tempfile.TemporaryDirectory() as tmp:
        ev, pol = os.path.join(tmp, "evidence.bin"), os.path.join(tmp, "policy.json")
        for name, rep, comps, extra in scenarios():
            count += 1
            with open(ev, "wb") as f:
                f.write(signer.evidence(rep))
            with open(pol, "w") as f:
                json.dump(dict({"format": "srtm-policy-v1", "aik": {"scheme": "ecdsa-sha256"},
                                "pcrs": {"reference_file": os.path.join(
                                    os.path.abspath(d), "reference.json")},
                                "components": comps}, **extra), f)
            args = [ev, os.path.join(d, "aik.pem"), pol, signer.nonce.hex()]
            c = subprocess.run([srtmctl, "verify", args[0], "--aik", args[1], "--policy", args[2],
                                "--nonce", args[3]], capture_output=True, check=False)
            p = subprocess.run([sys.executable, SCRIPT] + args, capture_output=True, check=False)
            if (c.returncode, c.stdout) != (p.returncode, p.stdout):
                differ += 1
                print("%s:\n  srtmctl exit %d:\n%s  verify-example.py exit %d:\n%s" % (
                    name, c.returncode, c.stdout.decode(errors="replace"), p.returncode,
                    p.stdout.decode(errors="replace")))
    print("%d reports, %d differ" % (count, differ))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
