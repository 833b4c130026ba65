#!/usr/bin/env python3
"""Incremental verification end to end through `srtmctl verify --state` and `srtmctl
state` (docs/verifier.md, "Incremental verification"): reports of one made-up srtmd run,
full and incremental, signed into evidence with the example's software AIK and IRK (as
compare-crafted.py does), verified in sequence with the state file the verifier keeps.
An honest increment verifies; an increment or a full report that does not extend what was
verified is refused (check continuity, a verdict) and leaves the state tainted; an
increment of another run only asks for a full quote (needs_full); a full report of a new
run starts a new state.

    check-incremental.py SRTMCTL EXAMPLE_DIR
"""
import importlib.util
import json
import os
import stat
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("compare_crafted",
                                               os.path.join(HERE, "compare-crafted.py"))
cc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cc)  # Signer, entry, ccr, inc, comp, allow
ve, D, entry, ccr, inc, comp = cc.ve, cc.D, cc.entry, cc.ccr, cc.inc, cc.comp

RUN_A, RUN_B = b"\x0a" * 16, b"\x0b" * 16


def report(comps, seq, since_seq=0, instance=RUN_A):
    return ve.encode({"format": 1, "srtm_instance": instance, "reset_count": 1,
                      "restart_count": 0, "seq": seq, "components": comps,
                      "since_seq": since_seq, "_unknown": []}, ve.CCR_REPORT)


def host(vm_ccr):
    return [comp(0, "platform", 0, [], [ccr(0, [])]), comp(1, "vm", 0, [0], [vm_ccr])]


class Check:
    def __init__(self, srtmctl, d, tmp):
        self.srtmctl, self.d, self.tmp = srtmctl, d, tmp
        self.signer = cc.Signer(d)
        self.state = os.path.join(tmp, "state")
        self.pol = os.path.join(tmp, "policy.json")
        with open(self.pol, "w") as f:
            json.dump({"format": "srtm-policy-v1", "aik": {"scheme": "ecdsa-sha256"},
                       "pcrs": {"reference_file": os.path.join(os.path.abspath(d),
                                                               "reference.json")},
                       "components": {"platform": {"ccrs": {"0": {"allowed_digests": []}}},
                                      "vm": cc.allow(D[0], D[1], D[2])}}, f)
        self.failures = 0

    def ctl(self, *args):
        p = subprocess.run([self.srtmctl] + list(args), capture_output=True, check=False)
        return p.returncode, p.stdout.decode(errors="replace")

    def verify(self, rep, *extra):
        ev = os.path.join(self.tmp, "evidence.bin")
        with open(ev, "wb") as f:
            f.write(self.signer.evidence(rep))
        return self.ctl(*extra, "verify", ev, "--aik", os.path.join(self.d, "aik.pem"),
                        "--policy", self.pol, "--nonce", self.signer.nonce.hex(),
                        "--state", self.state)

    def since(self):
        return self.ctl("state", self.state, "--policy", self.pol)[1]

    def state_bytes(self):
        with open(self.state, "rb") as f:
            return f.read()

    def expect(self, what, ok, detail=""):
        if not ok:
            self.failures += 1
            print("FAIL: %s\n%s" % (what, detail))

    def run(self):
        old = [entry(2, D[0]), entry(3, D[1])]
        rc, out = self.verify(report(host(ccr(0, old)), 10))
        self.expect("a full report verifies and starts the state", rc == 0, out)
        mode = stat.S_IMODE(os.stat(self.state).st_mode)
        self.expect("the state file is mode 0600", mode == 0o600, oct(mode))
        want = "--since-instance %s --since-seq 10\n" % RUN_A.hex()
        self.expect("state says what to quote since", self.since() == want, self.since())

        rc, out = self.verify(report(host(inc(0, old, [entry(15, D[2])])), 20, 10))
        self.expect("an honest increment verifies", rc == 0, out)
        after = self.state_bytes()
        self.expect("the state moved on", "--since-seq 20" in self.since(), self.since())

        spliced = [entry(2, D[2]), entry(3, D[1]), entry(15, D[2])]
        rc, out = self.verify(report(host(inc(0, spliced, [entry(25, D[0])])), 30, 20))
        self.expect("an increment that does not extend the state is refused",
                    rc == 1 and "check continuity: failed: vm (handle 1) CCR 0: log_offset 3, "
                    "base value " in out and "the log does not extend what was verified" in out,
                    out)
        self.expect("a lie leaves the state tainted: no increment is asked for again",
                    self.state_bytes() != after and self.since() == "", self.since())
        rc, out = self.verify(report(host(ccr(0, old + [entry(15, D[2]), entry(25, D[0])])), 30))
        self.expect("and the run's next honest report is refused too",
                    rc == 1 and "an earlier report of this srtmd run failed continuity: " in out,
                    out)

        with open(self.state, "wb") as f:  # the state before the lie, again
            f.write(after)
        rc, out = self.verify(report(host(ccr(0, spliced + [entry(25, D[0])])), 30))
        self.expect("a full report of the same run that rewrites a verified entry is refused",
                    rc == 1 and "vm (handle 1) CCR 0: log entry 0 .. 2 replay to " in out, out)

        new = [entry(2, D[0])]
        rc, out = self.verify(report(host(inc(0, new, [entry(25, D[1])])), 30, 20, RUN_B),
                              "--json")
        res = json.loads(out) if out else {}
        self.expect("an increment of another run needs a full quote",
                    rc == 1 and res.get("needs_full") is True, out)
        rc, out = self.verify(report(host(ccr(0, new + [entry(25, D[1])])), 30, 0, RUN_B))
        self.expect("a full report of the new run verifies", rc == 0, out)
        self.expect("and starts a new state", RUN_B.hex() in self.since(), self.since())
        return self.failures


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        failures = Check(argv[1], argv[2], tmp).run()
    print("%d failures" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
