#!/usr/bin/env python3
"""Differential check of docs/evidence.md: the example evidence with bytes changed at
random (a fixed seed, so every run tries the same inputs), verified by `srtmctl verify`
and by the independent tests/data/verify-example.py; both must print the same checks,
reasons and verdicts and exit with the same code. Any difference is a place where the
document and the code disagree.

    compare-example.py SRTMCTL EXAMPLE_DIR COUNT
"""
import os
import random
import subprocess
import sys
import tempfile


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, check=False)
    return p.returncode, p.stdout


def main(argv):
    if len(argv) != 4:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    srtmctl, d, count = argv[1], argv[2], int(argv[3])
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "verify-example.py")
    with open(os.path.join(d, "nonce.hex")) as f:
        nonce = f.read().strip()
    aik, pol = os.path.join(d, "aik.pem"), os.path.join(d, "policy.json")
    rng = random.Random(20261204)
    differ = 0
    with tempfile.TemporaryDirectory() as tmp:
        mutated = os.path.join(tmp, "evidence.bin")
        for i in range(count):
            name = "evidence.bin" if i % 2 == 0 else "evidence-batch.bin"
            with open(os.path.join(d, name), "rb") as f:
                b = bytearray(f.read())
            if i > 1:  # the first two are the stored files as they are
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
                for _ in range(rng.randrange(3)):
                    b[rng.randrange(len(b))] = rng.randrange(256)
            with open(mutated, "wb") as f:
                f.write(b)
            c = run([srtmctl, "verify", mutated, "--aik", aik, "--policy", pol, "--nonce", nonce])
            p = run([sys.executable, script, mutated, aik, pol, nonce])
            if c != p:
                differ += 1
                print("input %d (%s, changed):\n  srtmctl exit %d:\n%s  verify-example.py exit "
                      "%d:\n%s" % (i, name, c[0], c[1].decode(errors="replace"), p[0],
                                    p[1].decode(errors="replace")))
    print("%d inputs, %d differ" % (count, differ))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
