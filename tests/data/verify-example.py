#!/usr/bin/env python3
"""An independent check of srtm evidence, written from docs/evidence.md, docs/verifier.md,
docs/protocol.md and proto/srtm.proto alone: it parses the protobuf and the TPM structures
by hand, recomputes every digest, the qualifyingData, the PCR digests, the Merkle root and
the CCR replay, verifies the three ECDSA signatures (hashlib and the `cryptography`
module, nothing of srtm), and prints the verdict in the form of `srtmctl verify`.

    verify-example.py EVIDENCE AIK.pem POLICY.json NONCE   (NONCE: hex, or a file of hex)
    verify-example.py --update-doc DOC.md EVIDENCE BATCHED-EVIDENCE
        rewrite the <!-- example:NAME --> blocks of DOC.md from EVIDENCE (and the
        <!-- example:batched-NAME --> blocks from BATCHED-EVIDENCE)

Exit 0: every check passed and every requested component is trusted; 1: not; 2: usage
(a nonce that is not 16 to 64 bytes included); 4: the policy or its reference file is
refused.

Scope: the checks, reasons and verdicts of docs/verifier.md and docs/evidence.md: paths
and the naming rule, the fail-closed defaults and the names of the policy, the report's
re-encoding and text checks, allowlists, expected values, require, unlisted, terminated,
dependency-change records, removed dependencies judged at the cut, revert_by, and the
dependency rule with its chain texts, and check 18 `continuity` as a verifier without a
state judges it (an incremental report, or incremental CCRs in a full one, always fail
it: this script keeps no state). Protobuf parsing follows the wire format (varints,
length-delimited fields, packed or unpacked repeated scalars, unknown fields skipped,
the last value of a repeated singular scalar wins); it does not merge repeated singular
sub-messages, which srtmd never writes. The policy is checked for what decides verdicts
(the proof/running rule, names, defaults, a policy that names nothing); its JSON only as
far as Python's parser allows (duplicate keys, NaN, invalid UTF-8 refused).
"""
import hashlib
import json
import os
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

IRK_REPORT_TAG = b"srtm-irk-report-v1"
IRK_BATCH_TAG = b"srtm-irk-batch-v1"
IRK_CERT_TAG = b"srtm-irk-certificate-v1"
TPM_GENERATED_VALUE = 0xFF544347
TPM_ST_ATTEST_QUOTE = 0x8018
TPM_ALG_SHA256 = 0x000B
TPM_ALG_ECDSA = 0x0018
MAX_EVIDENCE = 48 * 1024 * 1024 + 4 * 1024 * 1024
MERKLE_MAX_LEAVES = 256
MERKLE_MAX_PATH = 8


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


# ---- protobuf, by hand ----

class Malformed(Exception):
    pass


def varint(buf, off):
    val, shift = 0, 0
    while True:
        if off >= len(buf) or shift > 63:
            raise Malformed("truncated varint")
        b = buf[off]
        off += 1
        val |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return val & 0xFFFFFFFFFFFFFFFF, off


def fields(buf):
    """(number, wire type, value, start, header end, end, key end) for each field."""
    off, out = 0, []
    while off < len(buf):
        start = off
        key, off = varint(buf, off)
        if off - start > 5:  # protobuf-c reads a key of at most 5 bytes
            raise Malformed("key of more than 5 bytes")
        key &= 0xFFFFFFFF
        num, wt = key >> 3, key & 7
        if num == 0:
            raise Malformed("field number 0")
        hdr = keyend = off
        if wt == 0:
            val, off = varint(buf, off)
        elif wt == 1:
            if off + 8 > len(buf):
                raise Malformed("truncated fixed64")
            val, off = buf[off:off + 8], off + 8
        elif wt == 2:
            n, off = varint(buf, off)
            hdr = off
            if n > len(buf) - off:
                raise Malformed("length past the end")
            val, off = buf[off:off + n], off + n
        elif wt == 5:
            if off + 4 > len(buf):
                raise Malformed("truncated fixed32")
            val, off = buf[off:off + 4], off + 4
        else:
            raise Malformed("wire type %d" % wt)
        out.append((num, wt, val, start, hdr, off, keyend))
    return out


# schema: field number -> (name, kind, repeated); kinds: u32 u64 bool enum bytes string
# or a nested schema (a dict)
LOG_ENTRY = {1: ("index", "u64", False), 2: ("seq", "u64", False), 3: ("digest", "bytes", False),
             4: ("event_type", "u32", False), 5: ("description", "string", False),
             6: ("reverted", "bool", False), 7: ("revert_marker", "bool", False),
             8: ("revert_to_seq", "u64", False), 9: ("revert_by", "u64", False)}
REPORT_CCR = {1: ("index", "u32", False), 2: ("policy", "enum", False),
              3: ("value", "bytes", False), 4: ("log", LOG_ENTRY, True),
              5: ("log_offset", "u64", False), 6: ("base_value", "bytes", False)}
DEPENDENCY_CHANGE = {1: ("seq", "u64", False), 2: ("component", "u64", False),
                     3: ("on", "u64", False), 4: ("actor", "u64", False),
                     5: ("removed", "bool", False)}
REPORT_COMPONENT = {1: ("handle", "u64", False), 2: ("name", "string", False),
                    3: ("ccrs", REPORT_CCR, True), 4: ("parent", "u64", False),
                    5: ("depends_on", "u64", True), 6: ("terminated", "bool", False),
                    7: ("dependency_changes", DEPENDENCY_CHANGE, True)}
CCR_REPORT = {1: ("format", "u32", False), 2: ("srtm_instance", "bytes", False),
              3: ("reset_count", "u32", False), 4: ("restart_count", "u32", False),
              5: ("seq", "u64", False), 6: ("components", REPORT_COMPONENT, True),
              7: ("since_seq", "u64", False)}
TPM_QUOTE = {1: ("attest", "bytes", False), 2: ("signature", "bytes", False),
             3: ("pcrs", "u32", True), 4: ("pcr_values", "bytes", True)}
MERKLE_PROOF = {1: ("leaf_index", "u32", False), 2: ("leaf_count", "u32", False),
                3: ("path", "bytes", True)}
EVIDENCE = {1: ("format", "u32", False), 2: ("nonce", "bytes", False),
            3: ("report", "bytes", False), 4: ("irk_signature", "bytes", False),
            5: ("quote", TPM_QUOTE, False), 6: ("irk_certificate", TPM_QUOTE, False),
            7: ("irk_public", "bytes", False), 8: ("batch", MERKLE_PROOF, False)}
SCALARS = {"u32": 0xFFFFFFFF, "u64": 0xFFFFFFFFFFFFFFFF, "bool": 1, "enum": 0xFFFFFFFF}


def scalar(kind, val):
    if kind == "bool":
        return val != 0
    return val & SCALARS[kind]  # a varint wider than the field is truncated, as protobuf does


def decode(buf, schema):
    msg = {}
    for name, kind, rep in schema.values():
        msg[name] = [] if rep else (None if isinstance(kind, dict) else
                                    b"" if kind == "bytes" else "" if kind == "string" else
                                    False if kind == "bool" else 0)
    msg["_unknown"] = []
    for num, wt, val, start, hdr, end, keyend in fields(buf):
        if num not in schema:
            msg["_unknown"].append((num, wt, bytes(buf[keyend:end])))  # skipped, kept
            continue
        name, kind, rep = schema[num]
        if kind == "bool" and not rep:
            # protobuf-c reads a bool of any wire type: true when a byte after the key
            # (a length prefix included) has a non-zero low 7 bits
            msg[name] = any(x & 0x7F for x in buf[keyend:end])
            continue
        if isinstance(kind, dict) or kind in ("bytes", "string"):
            if wt != 2:
                raise Malformed("%s: wire type %d" % (name, wt))
            if isinstance(kind, dict):
                v = decode(val, kind)
            elif kind == "string":
                # as the C verifier sees a protobuf-c string: up to the first NUL, not
                # checked for UTF-8 (docs/evidence.md, "Encoding")
                v = bytes(val).split(b"\0")[0].decode("utf-8", "surrogateescape")
            else:
                v = bytes(val)
            if rep:
                msg[name].append(v)
            else:
                msg[name] = v
        else:
            if wt == 0:
                vals = [val]
            elif wt == 2 and rep:  # packed
                vals, off = [], 0
                while off < len(val):
                    x, off = varint(val, off)
                    vals.append(x)
            else:
                raise Malformed("%s: wire type %d" % (name, wt))
            vals = [scalar(kind, x) for x in vals]
            if rep:
                msg[name].extend(vals)
            else:
                msg[name] = vals[-1]
    return msg


def uvarint(v):
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def scalar_bytes(kind, v):
    if kind == "bool":
        return b"\x01"
    if kind == "enum" and v >= 1 << 31:  # a negative int32: sign-extended to 64 bits
        v |= 0xFFFFFFFF00000000
    return uvarint(v)


def encode(msg, schema):
    """The encoding srtmd's packer (protobuf-c) gives a decoded message: known fields in
    field-number order, defaults left out, repeated scalars packed, minimal varints, then
    the unknown fields in the order they came, each with a minimal key."""
    out = bytearray()
    for num in sorted(schema):
        name, kind, rep = schema[num]
        v = msg.get(name)  # a field left out is its default
        if v is None and not isinstance(kind, dict):
            v = [] if rep else b"" if kind == "bytes" else "" if kind == "string" else 0
        if isinstance(kind, dict):
            for sub in (v if rep else [] if v is None else [v]):
                b = encode(sub, kind)
                out += uvarint(num << 3 | 2) + uvarint(len(b)) + b
        elif kind in ("bytes", "string"):
            b = v.encode("utf-8", "surrogateescape") if kind == "string" else v
            if b:
                out += uvarint(num << 3 | 2) + uvarint(len(b)) + b
        elif rep:
            if v:
                body = b"".join(scalar_bytes(kind, x) for x in v)
                out += uvarint(num << 3 | 2) + uvarint(len(body)) + body
        elif v:
            out += uvarint(num << 3) + scalar_bytes(kind, v)
    for num, wt, raw in msg["_unknown"]:
        out += uvarint(num << 3 | wt) + raw
    return bytes(out)


def utf8_ok(s):
    """Strict UTF-8 without NUL (no overlong forms, no surrogates, at most U+10FFFF)."""
    b = s.encode("utf-8", "surrogateescape")
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\0" not in b


def blen(s):
    return len(s.encode("utf-8", "surrogateescape"))


# ---- the TPM structures, by hand (big-endian) ----

class Reader:
    def __init__(self, buf):
        self.buf, self.off = buf, 0

    def take(self, n):
        if self.off + n > len(self.buf):
            raise Malformed("truncated at byte %d" % self.off)
        b = self.buf[self.off:self.off + n]
        self.off += n
        return b

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def u64(self):
        return struct.unpack(">Q", self.take(8))[0]

    def tpm2b(self, limit):
        n = self.u16()
        if n > limit:
            raise Malformed("TPM2B of %d bytes over %d" % (n, limit))
        return self.take(n)


def parse_attest(buf):
    """TPMS_ATTEST of a quote: the fields the verifier uses; raises Malformed."""
    r = Reader(buf)
    a = {"magic": r.u32(), "type": r.u16()}
    a["signer"] = r.tpm2b(66)            # TPM2B_NAME (tpm2-tss allows 68, the verifier 66)
    a["extra"] = r.tpm2b(64)             # TPM2B_DATA
    a["clock"], a["reset"], a["restart"], a["safe"] = r.u64(), r.u32(), r.u32(), r.u8()
    a["firmware"] = r.u64()
    count = r.u32()                      # TPML_PCR_SELECTION
    if count > 16:
        raise Malformed("%d PCR banks" % count)
    mask = 0
    for _ in range(count):
        alg, size = r.u16(), r.u8()
        if size > 4:
            raise Malformed("sizeofSelect %d" % size)
        for i, b in enumerate(r.take(size)):
            if b == 0:
                continue
            if alg != TPM_ALG_SHA256 or i >= 3:
                raise Malformed("a PCR selected outside the SHA-256 bank's PCRs 0-23")
            mask |= b << (8 * i)
    a["mask"] = mask
    a["pcr_digest"] = r.tpm2b(64)
    if len(a["pcr_digest"]) != 32:
        raise Malformed("pcrDigest of %d bytes" % len(a["pcr_digest"]))
    if r.off != len(buf):
        raise Malformed("%d bytes after the structure" % (len(buf) - r.off))
    return a


HMAC_SIZES = {0x0004: 20, 0x000B: 32, 0x000C: 48, 0x000D: 64, 0x0012: 32}


def parse_signature(buf):
    """TPMT_SIGNATURE: (sigAlg, hash, r, s); every algorithm tpm2-tss knows must parse, as
    the C verifier unmarshals the structure before it looks at the algorithm."""
    rd = Reader(buf)
    alg = rd.u16()
    h = r_ = s_ = None
    if alg in (0x0014, 0x0016):                    # RSASSA, RSAPSS
        h = rd.u16()
        rd.tpm2b(512)
    elif alg in (0x0018, 0x001A, 0x001B, 0x001C):  # ECDSA, ECDAA, SM2, ECSCHNORR
        h = rd.u16()
        r_, s_ = rd.tpm2b(128), rd.tpm2b(128)
    elif alg == 0x0005:                            # HMAC: a TPMT_HA
        h = rd.u16()
        if h not in HMAC_SIZES:
            raise Malformed("HMAC hash 0x%04x" % h)
        rd.take(HMAC_SIZES[h])
    elif alg != 0x0010:                            # TPM_ALG_NULL: nothing follows
        raise Malformed("sigAlg 0x%04x" % alg)
    if rd.off != len(buf):
        raise Malformed("bytes after the signature")
    return alg, h, r_, s_


def der_from_rs(r_, s_):
    return encode_dss_signature(int.from_bytes(r_, "big"), int.from_bytes(s_, "big"))


# ---- Merkle tree of batched quotes ----

def merkle_root(q, index, count, path):
    h = sha256(b"\x00", q)
    used, n, at = 0, count, index
    while n > 1:
        if at ^ 1 < n:
            if used == len(path):
                return None
            sib = path[used]
            h = sha256(b"\x01", sib, h) if at & 1 else sha256(b"\x01", h, sib)
            used += 1
        n, at = (n + 1) // 2, at // 2
    if used != len(path):
        return None
    return sha256(b"\x02", struct.pack(">I", count), h)


# ---- the policy ----

class PolicyError(Exception):
    pass


def strict_json(path):
    """RFC 8259 JSON and nothing more (docs/verifier.md, "The JSON grammar"), as far as
    Python's parser can be told: duplicate keys, NaN and Infinity, NUL and invalid UTF-8
    are refused; a document that is not an object too."""
    def pairs(items):
        keys = [k for k, _ in items]
        for k in keys:
            if keys.count(k) > 1:
                raise PolicyError("%s: not valid JSON: key \"%s\" appears twice in one object"
                                  % (path, k))
            if "\0" in k:
                raise PolicyError("%s: not valid JSON: NUL in a key" % path)
        return dict(items)

    def constant(name):
        raise PolicyError("%s: not valid JSON: %s" % (path, name))
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
        doc = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise PolicyError("%s: not valid JSON: %s" % (path, e))
    if not isinstance(doc, dict):
        raise PolicyError("%s: must be a JSON object" % path)
    return doc


def check_name(where, name):
    """A components key or required name: a bare name or a path of names joined by '/'."""
    if not isinstance(name, str) or not 1 <= blen(name) <= 1024 or not utf8_ok(name):
        raise PolicyError("%s: a component name or path is 1 to 1024 bytes of UTF-8 without "
                          "NUL" % where)
    if any(not 1 <= blen(seg) <= 128 for seg in name.split("/")):
        raise PolicyError("%s: each name of a path is 1 to 128 bytes" % where)


def load_policy(path):
    pol = strict_json(path)
    if pol.get("format") != "srtm-policy-v1":
        raise PolicyError("format: must be \"srtm-policy-v1\"")
    if pol.get("aik") != {"scheme": "ecdsa-sha256"}:
        raise PolicyError("aik: must be {\"scheme\": \"ecdsa-sha256\"}")
    pcrs = pol["pcrs"]
    if "reference_file" in pcrs:
        ref_path = os.path.join(os.path.dirname(path), pcrs["reference_file"])
        ref = strict_json(ref_path)
        if ref.get("format") != "srtm-reference-v1" or ref.get("bank", "sha256") != "sha256":
            raise PolicyError("pcrs.reference_file: not an srtm-reference-v1 file of the "
                              "sha256 bank")
        proof, running = ref["proof"], ref["running"]
    else:
        proof, running = pcrs["proof"], pcrs["running"]
    conv = lambda m: {int(k): bytes.fromhex(v) for k, v in m.items()}
    proof, running = conv(proof), conv(running)
    if not proof or not running:
        raise PolicyError("pcrs: proof and running name at least one PCR each")
    if not any(proof[i] != running[i] for i in proof if i in running):
        raise PolicyError("pcrs: proof and running must differ in a PCR both name (the SRTM "
                          "PCR, which the close event extends): otherwise a key certified "
                          "after the proof period would pass as certified inside it")
    comps = {}
    for name, c in pol.get("components", {}).items():
        check_name("components." + name, name)
        rules = {}
        for idx, rule in c["ccrs"].items():
            allowed = None
            if "allowed_digests" in rule:
                allowed = {bytes.fromhex(d if isinstance(d, str) else d["digest"]): (
                    None if isinstance(d, str) else d.get("label"))
                    for d in rule["allowed_digests"]}
            exp = bytes.fromhex(rule["expected_value"]) if "expected_value" in rule else None
            if allowed is None and exp is None:
                raise PolicyError("components.%s.ccrs.%s: needs allowed_digests or "
                                  "expected_value" % (name, idx))
            rules[int(idx)] = (allowed, exp)
        comps[name] = {"ccrs": rules, "revert_by": c.get("revert_by")}
    require = pol.get("require")
    if require is not None:
        if not require:
            raise PolicyError("require: empty: it would require nothing")
        for i, name in enumerate(require):
            check_name("require[%d]" % i, name)
    if not comps and not require:
        raise PolicyError("components: the policy names no component and requires none, so "
                          "it would trust any report")
    unlisted = pol.get("unlisted", "untrusted")
    terminated = pol.get("terminated", "untrusted")
    if unlisted not in ("untrusted", "replay-only"):
        raise PolicyError("unlisted: must be \"replay-only\" or \"untrusted\"")
    if terminated not in ("untrusted", "accepted"):
        raise PolicyError("terminated: must be \"untrusted\" or \"accepted\"")
    return {"proof": proof, "running": running,
            "allow_extra": pcrs.get("allow_extra", False), "components": comps,
            "require": require, "unlisted": unlisted, "terminated": terminated}


# ---- the evidence-level checks ----

class Fail(Exception):
    pass


class Verifier:
    def __init__(self, evidence, aik_pem, policy, nonce):
        self.raw, self.pol, self.nonce = evidence, policy, nonce
        self.aik = serialization.load_pem_public_key(aik_pem)
        assert isinstance(self.aik, ec.EllipticCurvePublicKey) and self.aik.curve.name == "secp256r1"
        self.ev = self.rep = None
        self.attest, self.pcrs = {}, {}

    def evidence_parse(self):
        if len(self.raw) > MAX_EVIDENCE:
            raise Fail("evidence of %d bytes is larger than %d" % (len(self.raw), MAX_EVIDENCE))
        try:
            self.ev = decode(self.raw, EVIDENCE)
        except Malformed:
            raise Fail("not an Evidence message")
        if self.ev["quote"] is None:
            raise Fail("no joint quote")
        if self.ev["irk_certificate"] is None:
            raise Fail("no IRK certificate")
        if not self.ev["irk_public"] or not self.ev["irk_signature"]:
            raise Fail("no IRK public key or signature")

    def report_parse(self):
        if not self.ev["report"]:
            raise Fail("no report")
        try:
            self.rep = decode(self.ev["report"], CCR_REPORT)
        except Malformed:
            raise Fail("the report bytes are not a CcrReport")
        if encode(self.rep, CCR_REPORT) != self.ev["report"]:
            raise Fail("the report does not encode back to its own bytes: a name or "
                       "description holds a NUL byte, or the encoding is not srtmd's")
        for i, c in enumerate(self.rep["components"]):
            n = c["name"]
            if not 1 <= blen(n) <= 128 or not utf8_ok(n) or "/" in n:
                raise Fail("the name of component %d (handle %d) is not 1 to 128 bytes of "
                           "UTF-8 without '/'" % (i, c["handle"]))
            for r in c["ccrs"]:
                for k, e in enumerate(r["log"]):
                    d = e["description"]
                    if blen(d) > 256 or not utf8_ok(d):
                        raise Fail("component %d (handle %d), CCR %d, log entry %d: the "
                                   "description is not at most 256 bytes of UTF-8"
                                   % (i, c["handle"], r["index"], (r["log_offset"] + k) & U64))

    def format(self):
        if self.ev["format"] != 1:
            raise Fail("evidence format %d, expected 1" % self.ev["format"])
        if self.rep["format"] != 1:
            raise Fail("report format %d, expected 1" % self.rep["format"])

    def nonce_check(self):
        if self.ev["nonce"] != self.nonce:
            raise Fail("the evidence answers another nonce than the one given")

    def signature(self, which):
        q = self.ev[which]
        if not q["signature"]:  # protobuf-c gives C a NULL pointer for empty bytes
            raise Fail("the signature is not a TPMT_SIGNATURE (invalid argument)")
        try:
            alg, h, r_, s_ = parse_signature(q["signature"])
        except Malformed:
            raise Fail("the signature is not a TPMT_SIGNATURE (malformed message)")
        if alg != TPM_ALG_ECDSA or h != TPM_ALG_SHA256:
            raise Fail("the signature is not ecdsa-sha256, the scheme the policy names")
        if not 1 <= len(r_) <= 32 or not 1 <= len(s_) <= 32:
            raise Fail("the signature is not a TPMT_SIGNATURE (malformed message)")
        try:
            self.aik.verify(der_from_rs(r_, s_), q["attest"], ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise Fail("the signature does not verify with the AIK public key given")

    def attest_check(self, which):
        a = self.ev[which]["attest"]
        if len(a) >= 6:
            magic, typ = struct.unpack(">IH", a[:6])
            if magic != TPM_GENERATED_VALUE:
                raise Fail("magic is 0x%08x, not TPM_GENERATED_VALUE: the TPM did not make this "
                           "structure" % magic)
            if typ != TPM_ST_ATTEST_QUOTE:
                raise Fail("attestation type 0x%04x is not TPM_ST_ATTEST_QUOTE" % typ)
        if not a:
            raise Fail("the attest structure does not parse as a quote (invalid argument)")
        try:
            self.attest[which] = parse_attest(a)
        except Malformed:
            raise Fail("the attest structure does not parse as a quote (malformed message)")

    def pcr_digest(self, which):
        q, att = self.ev[which], self.attest[which]
        if len(q["pcrs"]) != len(q["pcr_values"]):
            raise Fail("%d PCR numbers but %d values" % (len(q["pcrs"]), len(q["pcr_values"])))
        vals, mask, prev = {}, 0, -1
        for pcr, v in zip(q["pcrs"], q["pcr_values"]):
            if pcr >= 24 or pcr <= prev:
                raise Fail("PCR numbers are not ascending numbers below 24")
            if len(v) != 32:
                raise Fail("the value of PCR %d is %d bytes" % (pcr, len(v)))
            vals[pcr], mask, prev = v, mask | 1 << pcr, pcr
        if mask != att["mask"]:
            raise Fail("the PCR values given (mask 0x%06x) are not the selection quoted "
                       "(mask 0x%06x)" % (mask, att["mask"]))
        if mask == 0:
            raise Fail("cannot compute the PCR digest")
        if sha256(*(vals[i] for i in sorted(vals))) != att["pcr_digest"]:
            raise Fail("the PCR values given do not hash to the quoted PCR digest")
        self.pcrs[which] = vals

    def pcr_reference(self, which, ref, name):
        got = self.pcrs[which]
        for i in range(24):
            if i in ref and i not in got:
                raise Fail("PCR %d of the %s reference is not quoted" % (i, name))
            if i in ref and got[i] != ref[i]:
                raise Fail("PCR %d is %s, the %s reference says %s"
                           % (i, got[i].hex(), name, ref[i].hex()))
            if i not in ref and i in got and not self.pol["allow_extra"]:
                raise Fail("PCR %d is quoted but not in the %s reference (pcrs.allow_extra is "
                           "false)" % (i, name))

    def certificate_qualifier(self):
        if len(self.ev["irk_public"]) > 128:
            raise Fail("cannot hash the IRK public key")
        if self.attest["irk_certificate"]["extra"] != sha256(IRK_CERT_TAG, self.ev["irk_public"]):
            raise Fail('the certificate\'s qualifyingData is not SHA-256("srtm-irk-certificate-'
                       'v1" || IRK public key): it certifies another key')

    def same_boot(self):
        c, q = self.attest["irk_certificate"], self.attest["quote"]
        if (c["reset"], c["restart"]) != (q["reset"], q["restart"]):
            raise Fail("the IRK certificate is from another boot (resetCount %d, restartCount "
                       "%d) than the quote (resetCount %d, restartCount %d)"
                       % (c["reset"], c["restart"], q["reset"], q["restart"]))
        if (self.rep["reset_count"], self.rep["restart_count"]) != (q["reset"], q["restart"]):
            raise Fail("the report claims resetCount %d, restartCount %d; the quote has %d, %d"
                       % (self.rep["reset_count"], self.rep["restart_count"], q["reset"],
                          q["restart"]))

    def batch_root(self, q):
        """The Merkle root that qualifier q and the batch proof lead to."""
        b = self.ev["batch"]
        if not (2 <= b["leaf_count"] <= MERKLE_MAX_LEAVES and b["leaf_index"] < b["leaf_count"]
                and len(b["path"]) <= MERKLE_MAX_PATH):
            raise Fail("the batch proof claims leaf %d of %d with %d path elements"
                       % (b["leaf_index"], b["leaf_count"], len(b["path"])))
        for i, p in enumerate(b["path"]):
            if len(p) != 32:
                raise Fail("batch path element %d is %d bytes, not 32" % (i, len(p)))
        root = merkle_root(q, b["leaf_index"], b["leaf_count"], b["path"])
        if root is None:
            raise Fail("the batch path does not fit leaf %d of a tree of %d"
                       % (b["leaf_index"], b["leaf_count"]))
        return root

    def quote_qualifier(self):
        q = sha256(self.nonce, sha256(self.ev["report"]))
        b = self.ev["batch"]
        want = self.batch_root(q) if b is not None else q
        if self.attest["quote"]["extra"] != want:
            raise Fail("the batch path from SHA-256(nonce || SHA-256(report)) does not lead to "
                       "the quote's qualifyingData: the report, the nonce or the path is not the "
                       "one the TPM quoted" if b is not None else
                       "the quote's qualifyingData is not SHA-256(nonce || SHA-256(report)): the "
                       "report or the nonce is not the one the TPM quoted")

    def irk_signature(self):
        # Alone, the IRK signs this report and nonce; in a batch, once, the batch's root.
        batched = self.ev["batch"] is not None
        if batched:
            root = self.batch_root(sha256(self.nonce, sha256(self.ev["report"])))
        try:
            assert len(self.ev["irk_public"]) <= 128
            k = serialization.load_der_public_key(self.ev["irk_public"])
            assert isinstance(k, ec.EllipticCurvePublicKey) and k.curve.name == "secp256r1"
        except Exception:  # not DER, not EC, another curve, trailing bytes
            raise Fail("the IRK public key is not a P-256 key")
        msg = (IRK_BATCH_TAG + root if batched else
               IRK_REPORT_TAG + self.nonce + sha256(self.ev["report"]))
        try:
            k.verify(self.ev["irk_signature"], msg, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise Fail("the IRK signature over the batch's Merkle root does not verify" if batched
                       else "the IRK signature over the nonce and the report does not verify")

    def report_handles(self):
        hs = [c["handle"] for c in self.rep["components"]]
        for a, b in zip(hs, hs[1:]):
            if a == b:
                raise Fail("handle %d appears more than once in the report" % b)
            if a > b:
                raise Fail("handles are not ascending (%d after %d)" % (b, a))

    def continuity(self):
        """Check 18 without a state (this verifier keeps none, docs/verifier.md,
        "Incremental verification"): a full report has no incremental CCR, and an
        incremental report cannot be judged."""
        rep, comps = self.rep, self.rep["components"]
        target = [False] * len(comps)
        for c in comps:
            for d in c["dependency_changes"]:
                j = find_handle(comps, d["on"]) if d["removed"] else NONE
                if j is not NONE:
                    target[j] = True
        for i, c in enumerate(comps):
            for r in c["ccrs"]:
                off = r["log_offset"]
                if rep["since_seq"] == 0 and (off != 0 or r["base_value"]):
                    why = ("log_offset %d and a base value of %d bytes in a full report "
                           "(since_seq 0)" % (off, len(r["base_value"])))
                elif target[i] and off != 0:
                    why = ("log_offset %d, but %s is the target of a removal record and must "
                           "be reported whole" % (off, c["name"]))
                else:
                    why = incremental_shape(r, rep["since_seq"])
                if why is not None:
                    raise Fail("%s (handle %d) CCR %d: %s" % (c["name"], c["handle"], r["index"],
                                                              why))
        if rep["since_seq"] != 0:
            raise Fail("cannot continue: an incremental report (since_seq %d) and no state to "
                       "continue" % rep["since_seq"])

    def checks(self):
        """(name, prerequisites, function) in the verifier's order."""
        return [
            ("evidence-parse", [], self.evidence_parse),
            ("report-parse", ["evidence-parse"], self.report_parse),
            ("format", ["evidence-parse", "report-parse"], self.format),
            ("nonce", ["evidence-parse"], self.nonce_check),
            ("quote-signature", ["evidence-parse"], lambda: self.signature("quote")),
            ("certificate-signature", ["evidence-parse"],
             lambda: self.signature("irk_certificate")),
            ("quote-attest", ["evidence-parse"], lambda: self.attest_check("quote")),
            ("certificate-attest", ["evidence-parse"],
             lambda: self.attest_check("irk_certificate")),
            ("quote-pcr-digest", ["quote-attest"], lambda: self.pcr_digest("quote")),
            ("certificate-pcr-digest", ["certificate-attest"],
             lambda: self.pcr_digest("irk_certificate")),
            ("certificate-pcrs-reference", ["certificate-pcr-digest"],
             lambda: self.pcr_reference("irk_certificate", self.pol["proof"], "proof")),
            ("quote-pcrs-reference", ["quote-pcr-digest"],
             lambda: self.pcr_reference("quote", self.pol["running"], "running")),
            ("certificate-qualifier", ["certificate-attest"], self.certificate_qualifier),
            ("same-boot", ["quote-attest", "certificate-attest", "report-parse"], self.same_boot),
            ("quote-qualifier", ["quote-attest"], self.quote_qualifier),
            ("irk-signature", ["evidence-parse"], self.irk_signature),
            ("report-handles", ["report-parse"], self.report_handles),
            ("continuity", ["report-handles"], self.continuity),
        ]

    def run(self):
        results = {}
        out = []
        for name, needs, fn in self.checks():
            unmet = next((n for n in needs if not results[n][0]), None)
            if unmet is not None:
                results[name] = (False, "not checked: %s failed" % unmet)
            else:
                try:
                    fn()
                    results[name] = (True, "")
                except Fail as e:
                    results[name] = (False, str(e))
            out.append((name,) + results[name])
        return out


# ---- the component rules ----

NONE = None
U64 = 0xFFFFFFFFFFFFFFFF


def incremental_shape(r, since_seq):
    """The reason an incremental CCR is not what srtmd sends, or None."""
    off, log = r["log_offset"], r["log"]
    if off == 0:
        return ("a base value of %d bytes with log_offset 0" % len(r["base_value"])
                if r["base_value"] else None)
    if r["policy"] != 1:
        return "log_offset %d on a CCR that is not IRREVERSIBLE" % off
    if len(r["base_value"]) != 32:
        return "log_offset %d with a base value of %d bytes, not 32" % (off, len(r["base_value"]))
    if off > U64 - len(log):
        return "log_offset %d and %d entries overflow" % (off, len(log))
    if log and log[0]["seq"] <= since_seq:
        return "log entry %d has seq %d, not after since_seq %d" % (off, log[0]["seq"], since_seq)
    for k, e in enumerate(log):
        if e["index"] != off + k:
            return ("reported log entry %d has index %d, not %d: the entries after log_offset "
                    "%d are not consecutive" % (k, e["index"], off + k, off))
    return None


def replay(ccr):
    """(value, None) or (None, (entry index, reason)), as docs/evidence.md says; an
    incremental CCR (log_offset > 0) starts from its base value."""
    start = ccr["base_value"] if ccr["log_offset"] != 0 else bytes(32)
    live = []  # (seq, value after it, log index)
    undone = [False] * len(ccr["log"])
    for k, e in enumerate(ccr["log"]):
        if e["revert_marker"]:
            if ccr["policy"] != 2:
                return None, (k, "a revert marker in an irreversible CCR")
            while live and live[-1][0] > e["revert_to_seq"]:
                undone[live.pop()[2]] = True
            if e["revert_to_seq"] != 0 and (not live or live[-1][0] != e["revert_to_seq"]):
                return None, (k, "a revert marker names no live measurement")
            continue
        if len(e["digest"]) != 32:
            return None, (k, "a log entry without a 32-byte digest")
        prev = live[-1][1] if live else start
        live.append((e["seq"], sha256(prev, e["digest"]), k))
    for k, e in enumerate(ccr["log"]):
        if not e["revert_marker"] and e["reverted"] != undone[k]:
            return None, (k, "a measurement undone by a revert is not marked reverted"
                          if undone[k] else "a measurement marked reverted was never reverted")
    return (live[-1][1] if live else start), None


def rule_terminated(c, pol):
    return ["terminated"] if c["terminated"] and pol["terminated"] == "untrusted" else []


def rule_replay(c):
    why, seen = [], []
    for r in c["ccrs"]:
        why += ["CCR %d appears twice in the report" % r["index"]] * seen.count(r["index"])
        seen.append(r["index"])
        off = r["log_offset"]
        if len(r["value"]) != 32:
            why.append("CCR %d: value is %d bytes, not 32" % (r["index"], len(r["value"])))
            continue
        if off != 0 and len(r["base_value"]) != 32:
            why.append("CCR %d: base value is %d bytes, not 32"
                       % (r["index"], len(r["base_value"])))
            continue
        val, bad = replay(r)
        if bad is not None:
            why.append("CCR %d: log entry %d: %s" % (r["index"], (off + bad[0]) & U64, bad[1]))
        elif val != r["value"] and off == 0:
            why.append("CCR %d: value does not match the replay of its %d log entries"
                       % (r["index"], len(r["log"])))
        elif val != r["value"]:
            why.append("CCR %d: value does not match the replay of its %d log entries after "
                       "entry %d from its base value" % (r["index"], len(r["log"]), off - 1))
    return why


def rules_for(pol, c, path):
    """(key, rules, twice): the policy entry for a component, by its path, or by its bare
    name for a direct child of component 0 (docs/verifier.md, "Names and paths")."""
    comps = pol["components"]
    by_path = path if path is not None and path in comps else None
    by_name = c["name"] if c["handle"] != 0 and c["parent"] == 0 and c["name"] in comps else None
    twice = by_name if by_path is not None and by_name is not None and by_path != by_name \
        else None
    key = by_path if by_path is not None else by_name
    return key, (comps[key] if key is not None else None), twice


def judge_ccr(r, rule):
    allowed, exp = rule
    judged = [(k, e) for k, e in enumerate(r["log"])
              if not e["reverted"] and not e["revert_marker"]]
    if exp is not None and len(r["value"]) == 32 and r["value"] == exp:
        return []
    if allowed is not None and all(e["digest"] in allowed for _, e in judged):
        return []
    why = []
    if exp is not None:
        why.append("CCR %d: value %s is not the expected value"
                   % (r["index"], r["value"].hex() if len(r["value"]) == 32 else "(malformed)"))
    if allowed is not None:
        bad = [(k, e) for k, e in judged if e["digest"] not in allowed]
        for k, e in bad[:8]:
            d = e["description"]
            why.append("CCR %d: log entry %d digest %s%s is not in the allowlist"
                       % (r["index"], (r["log_offset"] + k) & U64,
                          e["digest"].hex() if len(e["digest"]) == 32
                          else "(malformed)", ' ("%s")' % d if d and utf8_ok(d) else ""))
        if len(bad) > 8:
            why.append("CCR %d: %d more log entries are not in the allowlist"
                       % (r["index"], len(bad) - 8))
    return why


def rule_policy(c, pol, path):
    key, pc, twice = rules_for(pol, c, path)
    if twice is not None:
        return ['named twice in the policy, as "%s" and "%s"' % (twice, key)]
    if pc is None and c["handle"] == 0 and not any(r["log"] or r["log_offset"]
                                                   for r in c["ccrs"]):
        return []  # component 0 with nothing measured: the PCR reference describes it
    if pc is None:
        return (['not named in the policy ("unlisted": "untrusted")']
                if pol["unlisted"] == "untrusted" else [])
    why = []
    for r in c["ccrs"]:
        rule = pc["ccrs"].get(r["index"])
        if rule is not None:
            why += judge_ccr(r, rule)
        elif pol["unlisted"] == "untrusted":
            why.append("CCR %d: no rule in the policy" % r["index"])
    indexes = [r["index"] for r in c["ccrs"]]
    for idx in sorted(pc["ccrs"]):
        if idx not in indexes:
            why.append("CCR %d named by the policy is missing from the report" % idx)
    return why


# ---- the report's graph: handles, paths, names ----

def find_handle(comps, h):
    """The index of the component with handle h: a binary search over the report order
    (handles are ascending once report-handles passed; before, the same search is made on
    whatever order the report has)."""
    lo, hi = 0, len(comps)
    while lo < hi:
        mid = lo + (hi - lo) // 2
        m = comps[mid]["handle"]
        if m == h:
            return mid
        if m < h:
            lo = mid + 1
        else:
            hi = mid
    return NONE


def compute_paths(comps):
    """Each component's path: the names from component 0 down to it joined by '/'; None
    when the parent links do not reach component 0 or the path is over 1024 bytes."""
    n = len(comps)
    state, paths = [0] * n, [None] * n
    for i in range(n):
        walk, cur = [], i
        while state[cur] == 0:
            state[cur] = 1
            walk.append(cur)
            if comps[cur]["handle"] == 0:
                break
            up = find_handle(comps, comps[cur]["parent"])
            if up is NONE or state[up] == 1:
                break
            cur = up
        while walk:
            k = walk.pop()
            c = comps[k]
            state[k] = 2
            up = None
            if c["handle"] != 0:
                j = find_handle(comps, c["parent"])
                up = paths[j] if j is not NONE else None
                if up is None:
                    continue
            if (blen(up) + 1 if up is not None else 0) + blen(c["name"]) > 1024:
                continue
            paths[k] = (up + "/" if up is not None else "") + c["name"]
    return paths


def resolve_name(name, root):
    """What a policy name stands for: a path as it is, the platform's own name as it is, a
    bare name as a child of component 0; None without a component 0."""
    if "/" in name or (root is not None and name == root):
        out = name
    elif root is not None:
        out = root + "/" + name
    else:
        return None
    return out if blen(out) < 1024 + 128 + 2 else None


def root_name(comps):
    root = None
    for c in comps:
        if c["handle"] == 0:
            root = c["name"]
    return root


def in_parent_chain(comps, a, x):
    """a is x or one of its ancestors by the parent fields (a missing one ends it)."""
    while True:
        if a == x:
            return True
        i = find_handle(comps, x)
        if i is NONE or x == 0 or comps[i]["parent"] >= x:
            return False
        x = comps[i]["parent"]


def name_of(comps, h):
    i = find_handle(comps, h)
    return comps[i]["name"] if i is not NONE else "(not in the report)"


# ---- a component's history (dependency changes, reverts) ----

def records_rule(c):
    recs = c["dependency_changes"]
    if not recs:
        return []
    if len(recs) > 1024:
        return ["%d dependency changes recorded, more than 1024" % len(recs)]
    live, bad = [], None
    for i, d in enumerate(recs):
        if d["component"] != c["handle"]:
            bad = "a record of another component"
        elif i > 0 and d["seq"] < recs[i - 1]["seq"]:
            bad = "records out of sequence order"
        elif not d["removed"] and d["on"] in live:
            bad = "an edge added twice"
        elif d["removed"] and d["on"] not in live:
            bad = "an edge removed that was not there"
        elif d["removed"]:
            live.remove(d["on"])
        else:
            live.append(d["on"])
        if bad:
            break
    if bad is None and any(h not in live for h in c["depends_on"]):
        bad = "an edge in depends_on that no record added"
    if bad is None and len(live) != len(c["depends_on"]):
        bad = "an edge recorded that is missing from depends_on"
    return ["its dependency changes do not replay to its dependencies: " + bad] if bad else []


def ccr_at(r, s):
    """CCR r as it was right after sequence number s: the log entries up to the first one
    with a greater seq, reverted only by the markers among them, and their replay."""
    n = 0
    while n < len(r["log"]) and r["log"][n]["seq"] <= s:
        n += 1
    log = [dict(e, reverted=False) for e in r["log"][:n]]
    live = []
    for k, e in enumerate(log):
        if e["revert_marker"]:
            while live and log[live[-1]]["seq"] > e["revert_to_seq"]:
                log[live.pop()]["reverted"] = True
        elif len(e["digest"]) == 32:
            live.append(k)
    value = bytes(32)
    for k in live:
        value = sha256(value, log[k]["digest"])
    return dict(r, log=log, value=value)


def removed_one(comps, paths, pol, c, d):
    j = find_handle(comps, d["on"])
    if j is NONE:
        return ["removed its dependency on handle %d at seq %d, whose state then cannot be "
                "established: it is missing from the report" % (d["on"], d["seq"])]
    z = comps[j]
    if d["actor"] == d["on"] or not in_parent_chain(comps, d["actor"], c["handle"]):
        return ["its dependency on %s was removed at seq %d by %s, which may not remove it"
                % (z["name"], d["seq"], name_of(comps, d["actor"]))]
    then = dict(z, ccrs=[ccr_at(r, d["seq"]) for r in z["ccrs"]])
    why = rule_policy(then, pol, paths[j])
    if why:
        return ["removed its dependency on %s at seq %d while %s was untrusted: %s"
                % (z["name"], d["seq"], z["name"], why[0])]
    return []


def may_revert(comps, paths, pol, i, by):
    c = comps[i]
    _, pc, _ = rules_for(pol, c, paths[i])
    if pc is None or pc["revert_by"] is None:
        return in_parent_chain(comps, by, c["handle"])
    k = find_handle(comps, by)
    root = root_name(comps)
    for name in pc["revert_by"]:
        if name == "self" and by == c["handle"]:
            return True
        if k is not NONE and paths[k] is not None and resolve_name(name, root) == paths[k]:
            return True
    return False


def revert_rule(comps, paths, pol, i):
    why = []
    for r in comps[i]["ccrs"]:
        for k, e in enumerate(r["log"]):
            if e["revert_marker"] and not may_revert(comps, paths, pol, i, e["revert_by"]):
                why.append("CCR %d: log entry %d: reverted by %s (handle %d), which may not "
                           "revert it" % (r["index"], k, name_of(comps, e["revert_by"]),
                                          e["revert_by"]))
    return why


def history(comps, paths, pol, reasons):
    for i, c in enumerate(comps):
        reasons[i] += records_rule(c)
        for d in c["dependency_changes"]:
            if d["removed"]:
                reasons[i] += removed_one(comps, paths, pol, c, d)
        reasons[i] += revert_rule(comps, paths, pol, i)


# ---- the dependency rule ----

def resolve_edges(comps, reasons):
    """Each component's edges (index, cut: 0 or the seq of the edge's removal) and the
    consistency reasons that need no traversal."""
    edges = []
    for i, c in enumerate(comps):
        es, missing = [], 0
        for h in c["depends_on"]:
            j = find_handle(comps, h)
            if j is not NONE:
                es.append((j, 0))
            else:
                missing += 1
                if missing <= 8:
                    reasons[i].append("depends on handle %d, which is missing from the report"
                                      % h)
        for d in c["dependency_changes"]:
            j = find_handle(comps, d["on"]) if d["removed"] else NONE
            if j is not NONE:
                es.append((j, d["seq"]))
        if missing > 8:
            reasons[i].append("depends on %d more handles missing from the report"
                              % (missing - 8))
        if c["handle"] == 0 and c["depends_on"]:
            reasons[i].append("component 0 (the platform TCB) depends on handle %d; it can "
                              "depend on nothing" % c["depends_on"][0])
        if c["handle"] != 0 and c["parent"] not in c["depends_on"]:
            reasons[i].append("its parent, handle %d, is not among its dependencies"
                              % c["parent"])
        edges.append(es)
    return edges


def sccs(edges):
    """The strongly connected components, each completed only after every component
    reachable from it (Tarjan's algorithm, iteratively)."""
    n = len(edges)
    order, low, on_stack = [None] * n, [0] * n, [False] * n
    stack, out, counter = [], [], 0
    for s in range(n):
        if order[s] is not None:
            continue
        order[s] = low[s] = counter
        counter += 1
        stack.append(s)
        on_stack[s] = True
        calls = [(s, 0)]
        while calls:
            v, at = calls[-1]
            if at < len(edges[v]):
                calls[-1] = (v, at + 1)
                w = edges[v][at][0]
                if order[w] is None:
                    order[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    calls.append((w, 0))
                elif on_stack[w] and order[w] < low[v]:
                    low[v] = order[w]
                continue
            calls.pop()
            if calls and low[v] < low[calls[-1][0]]:
                low[calls[-1][0]] = low[v]
            if low[v] != order[v]:
                continue
            members = []
            while True:
                w = stack.pop()
                on_stack[w] = False
                members.append(w)
                if w == v:
                    break
            out.append(members)
    return out


def dependency_rule(comps, pol, reasons):
    """trusted(X) = own(X) and trusted(every dependency); the reason names the chain down
    to a component whose own rules failed (docs/verifier.md, "The dependency rule")."""
    edges = resolve_edges(comps, reasons)
    n = len(comps)
    trusted, scc_of = [False] * n, [None] * n
    nxt, hops, last = [NONE] * n, [0] * n, list(range(n))

    def smaller(a, best):
        return best is NONE or comps[a]["handle"] < comps[best]["handle"]

    def chain_end(r):
        if comps[r]["terminated"] and pol["terminated"] == "untrusted":
            return "which is terminated"
        why = reasons[r][0] if reasons[r] else "untrusted"
        if why.startswith("CCR "):
            return "whose " + why
        if why.startswith("depends on "):
            return "which " + why
        return "which is untrusted: " + why

    def dependency_reason(d, cut):
        text = ("depended on %s until its removal at seq %d, " % (comps[d]["name"], cut)
                if cut else "depends on %s, " % comps[d]["name"])
        cur, shown = d, 1
        while nxt[cur] is not NONE:
            if shown == 8 and hops[cur] > 1:
                text += "which depends on ... (%d more) ..., " % (hops[cur] - 1)
                cur = last[cur]
                text += "which depends on %s, " % comps[cur]["name"]
                break
            cur = nxt[cur]
            text += "which depends on %s, " % comps[cur]["name"]
            shown += 1
        return text + chain_end(cur)

    for sid, members in enumerate(sccs(edges)):
        for x in members:
            scc_of[x] = sid
        # stack order, as the C verifier evaluates them (the order changes no verdict)
        for x in reversed(members):
            inside = outside = NONE
            cut = 0
            for d, c in edges[x]:
                if scc_of[d] == sid:
                    if smaller(d, inside):
                        inside = d
                elif not trusted[d] and smaller(d, outside):
                    outside, cut = d, c
            if inside == x:
                reasons[x].append("dependency cycle: depends on itself")
            elif inside is not NONE:
                reasons[x].append("dependency cycle: depends on %s, which depends back on it"
                                  % comps[inside]["name"])
            own_ok = not reasons[x]
            if outside is not NONE:
                reasons[x].append(dependency_reason(outside, cut))
            trusted[x] = own_ok and outside is NONE
            if own_ok and outside is not NONE:
                nxt[x], hops[x], last[x] = outside, hops[outside] + 1, last[outside]


# ---- the verdicts ----

def verdicts(rep, pol, evidence_ok, failed):
    """[(shown name, reasons, in report)]: the report's components in report order, then
    the names of the policy that stand for none of them."""
    comps = rep["components"] if rep is not None else []
    names = [c["name"] for c in comps]
    paths = compute_paths(comps)
    reasons = []
    for i, c in enumerate(comps):
        why = []
        if not evidence_ok:
            why.append("evidence not verified (failed: %s)" % ", ".join(failed))
        if names.count(c["name"]) > 1:
            why.append("appears %d times in the report" % names.count(c["name"]))
        why += rule_terminated(c, pol) + rule_replay(c) + rule_policy(c, pol, paths[i])
        reasons.append(why)
    if evidence_ok and rep is not None:
        history(comps, paths, pol, reasons)
        dependency_rule(comps, pol, reasons)
    out = [(paths[i] if paths[i] is not None else names[i], reasons[i], True)
           for i in range(len(comps))]
    # the names of the policy: each must stand for a component of the report
    index = {p: i for i, p in enumerate(paths) if p is not None}
    root = root_name(comps)

    def lookup(name):
        want = resolve_name(name, root) if comps else None
        return index.get(want) if want is not None else NONE

    def unmatched(name, reason):
        if not any(n == name for n, _, inrep in out if not inrep):
            out.append((name, [reason], False))
    ok = True
    for name in pol["require"] or []:
        k = lookup(name)
        if k is NONE:
            unmatched(name, "missing from the report")
        else:
            ok = ok and not reasons[k]
    for name in sorted(pol["components"], key=lambda k: k.encode("utf-8", "surrogateescape")):
        if lookup(name) is NONE:
            unmatched(name, "named in the policy but not in the report")
    ok = ok and all(inrep or not why for _, why, inrep in out)
    if not pol["require"]:
        ok = ok and all(not why for _, why, _ in out)
    return out, ok


# ---- the markdown blocks of docs/evidence.md ----

def hex_lines(b, comment=None, width=16):
    lines = []
    for i in range(0, max(len(b), 1), width):
        chunk = b[i:i + width]
        if not chunk:
            break
        text = " ".join("%02x" % x for x in chunk)
        if comment is not None and i == 0:
            text = "%-48s # %s" % (text, comment)
        lines.append(text)
    if not b and comment is not None:
        lines.append("%-48s # %s" % ("", comment))
    return lines


def annotate_message(buf, schema, indent=""):
    lines = []
    for num, wt, val, start, hdr, end, _ in fields(buf):
        name, kind, rep = schema.get(num, ("unknown", "bytes", False))
        key = buf[start:hdr]
        if isinstance(kind, dict):
            lines += hex_lines(key, "%s%d %s: message, %d bytes" % (indent, num, name, len(val)))
            lines += annotate_message(val, kind, indent + "  ")
        elif wt == 2 and kind not in ("bytes", "string"):
            vals, off = [], 0
            while off < len(val):
                x, off = varint(val, off)
                vals.append(x)
            lines += hex_lines(key, "%s%d %s: packed, length %d" % (indent, num, name, len(val)))
            lines += hex_lines(val, "%s  %s" % (indent, ", ".join(map(str, vals))))
        elif wt == 2:
            desc = '"%s"' % val.decode() if kind == "string" else "%d bytes" % len(val)
            lines += hex_lines(key, "%s%d %s: %s" % (indent, num, name, desc))
            lines += hex_lines(val)
        else:
            lines += hex_lines(buf[start:end], "%s%d %s = %d" % (indent, num, name, val))
    return lines


def annotate_attest(a):
    r = Reader(a)
    out = []

    def f(n, what):
        out.extend(hex_lines(r.take(n), what))
    f(4, "magic TPM_GENERATED_VALUE (\"\\xffTCG\")")
    f(2, "type TPM_ST_ATTEST_QUOTE")
    n = struct.unpack(">H", a[r.off:r.off + 2])[0]
    f(2, "qualifiedSigner.size = %d" % n)
    f(n, "qualifiedSigner.name (not checked)")
    n = struct.unpack(">H", a[r.off:r.off + 2])[0]
    f(2, "extraData.size = %d" % n)
    f(n, "extraData: the qualifyingData")
    f(8, "clockInfo.clock (ms; not checked)")
    f(4, "clockInfo.resetCount")
    f(4, "clockInfo.restartCount")
    f(1, "clockInfo.safe (not checked)")
    f(8, "firmwareVersion (not checked)")
    f(4, "pcrSelect.count = 1")
    f(2, "pcrSelections[0].hash TPM_ALG_SHA256")
    f(1, "pcrSelections[0].sizeofSelect = 3")
    f(3, "pcrSelect bits: PCR 0 (byte 0 bit 0), PCR 15 (byte 1 bit 7)")
    f(2, "pcrDigest.size = 32")
    f(32, "pcrDigest")
    return out


def annotate_signature(s):
    r = Reader(s)
    out = []
    out += hex_lines(r.take(2), "sigAlg TPM_ALG_ECDSA")
    out += hex_lines(r.take(2), "hash TPM_ALG_SHA256")
    n = struct.unpack(">H", s[r.off:r.off + 2])[0]
    out += hex_lines(r.take(2), "signatureR.size = %d" % n)
    out += hex_lines(r.take(n), "r, unsigned big-endian")
    n = struct.unpack(">H", s[r.off:r.off + 2])[0]
    out += hex_lines(r.take(2), "signatureS.size = %d" % n)
    out += hex_lines(r.take(n), "s")
    return out


def annotate_der(d):
    out = hex_lines(d[:2], "SEQUENCE, %d bytes" % d[1])
    off = 2
    for name in ("r", "s"):
        n = d[off + 1]
        out += hex_lines(d[off:off + 2], "INTEGER %s, %d bytes" % (name, n))
        out += hex_lines(d[off + 2:off + 2 + n])
        off += 2 + n
    return out


def blocks(raw):
    """Every block of the document: name -> text lines."""
    ev = decode(raw, EVIDENCE)
    rep = decode(ev["report"], CCR_REPORT)
    nonce, report = ev["nonce"], ev["report"]
    q = sha256(nonce, sha256(report))
    quote, cert = ev["quote"], ev["irk_certificate"]
    b = {}
    b["evidence"] = annotate_message(raw, EVIDENCE)
    b["nonce"] = hex_lines(nonce)
    b["report"] = annotate_message(report, CCR_REPORT)
    b["report-sha256"] = hex_lines(sha256(report))
    b["quote-qualifier-input"] = (hex_lines(nonce, "nonce") +
                                  hex_lines(sha256(report), "SHA-256(report)"))
    b["quote-qualifier"] = hex_lines(q)
    b["quote-attest"] = annotate_attest(quote["attest"])
    b["quote-pcr-input"] = (hex_lines(quote["pcr_values"][0], "PCR %d" % quote["pcrs"][0]) +
                            hex_lines(quote["pcr_values"][1], "PCR %d" % quote["pcrs"][1]))
    b["quote-pcr-digest"] = hex_lines(sha256(*quote["pcr_values"]))
    b["quote-signature"] = annotate_signature(quote["signature"])
    _, _, r_, s_ = parse_signature(quote["signature"])
    b["quote-signature-der"] = annotate_der(der_from_rs(r_, s_))
    b["irk-public"] = hex_lines(ev["irk_public"])
    b["certificate-qualifier-input"] = (hex_lines(IRK_CERT_TAG, '"srtm-irk-certificate-v1"') +
                                        hex_lines(ev["irk_public"], "IRK public key (DER)"))
    b["certificate-qualifier"] = hex_lines(sha256(IRK_CERT_TAG, ev["irk_public"]))
    b["certificate-attest"] = annotate_attest(cert["attest"])
    b["certificate-pcr-digest"] = hex_lines(sha256(*cert["pcr_values"]))
    b["certificate-signature"] = annotate_signature(cert["signature"])
    msg = IRK_REPORT_TAG + nonce + sha256(report)
    b["irk-message"] = (hex_lines(IRK_REPORT_TAG, '"srtm-irk-report-v1"') +
                        hex_lines(nonce, "nonce") + hex_lines(sha256(report), "SHA-256(report)"))
    b["irk-message-sha256"] = hex_lines(sha256(msg))
    b["irk-signature"] = annotate_der(ev["irk_signature"])
    ccr = next(c for c in rep["components"] if c["handle"] == 1)["ccrs"][0]
    value = bytes(32)
    for k, e in enumerate(ccr["log"]):
        b["replay-%d-input" % (k + 1)] = (hex_lines(value, "value before entry %d" % k) +
                                         hex_lines(e["digest"], "digest of entry %d" % k))
        value = sha256(value, e["digest"])
        b["replay-%d" % (k + 1)] = hex_lines(value)
    if ev["batch"] is not None:
        bt = ev["batch"]
        b["batch"] = batch_lines(raw)
        h = sha256(b"\x00", q)
        b["batch-leaf"] = hex_lines(h)
        node = sha256(b"\x01", bt["path"][0], h)
        b["batch-node"] = hex_lines(node)
        root = sha256(b"\x02", struct.pack(">I", bt["leaf_count"]), node)
        b["batch-root"] = hex_lines(root)
        b["batch-irk-message"] = (hex_lines(IRK_BATCH_TAG, '"srtm-irk-batch-v1"') +
                                  hex_lines(root, "root"))
        b["batch-irk-message-sha256"] = hex_lines(sha256(IRK_BATCH_TAG, root))
        b["batch-attest"] = annotate_attest(quote["attest"])
    return b


def batch_lines(raw):
    for num, wt, val, start, hdr, end, _ in fields(raw):
        if num == 8:
            return (hex_lines(raw[start:hdr], "8 batch: message, %d bytes" % len(val)) +
                    annotate_message(val, MERKLE_PROOF, "  "))
    return []


def update_doc(doc, evidence_paths):
    with open(doc) as f:
        text = f.read()
    all_blocks = {}
    for prefix, path in evidence_paths:
        with open(path, "rb") as f:
            for name, lines in blocks(f.read()).items():
                all_blocks[prefix + name] = lines
    for name, lines in all_blocks.items():
        start, end = "<!-- example:%s -->" % name, "<!-- /example:%s -->" % name
        i = text.find(start)
        if i < 0:
            continue
        j = text.find(end, i)
        if j < 0:
            sys.exit("%s: %s has no end marker" % (doc, start))
        body = "\n```\n" + "\n".join(l.rstrip() for l in lines) + "\n```\n"
        text = text[:i + len(start)] + body + text[j:]
    with open(doc, "w") as f:
        f.write(text)


def esc(text):
    """srtmctl's text output: a backslash doubled, control bytes as \\xHH, other bytes
    (invalid UTF-8 of a name included) as they are."""
    out = []
    for b in text.encode("utf-8", "surrogateescape"):
        out.append("\\\\" if b == 0x5C else "\\x%02x" % b if b < 0x20 or b == 0x7F
                   else bytes([b]).decode("utf-8", "surrogateescape"))
    return "".join(out)


def emit(*parts):
    sys.stdout.buffer.write(("".join(parts) + "\n").encode("utf-8", "surrogateescape"))


def main(argv):
    if len(argv) == 5 and argv[1] == "--update-doc":
        update_doc(argv[2], [("", argv[3]), ("batched-", argv[4])])
        return 0
    if len(argv) != 5:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    with open(argv[1], "rb") as f:
        raw = f.read()
    with open(argv[2], "rb") as f:
        aik = f.read()
    try:
        pol = load_policy(argv[3])
    except (PolicyError, OSError, KeyError, TypeError, ValueError, AttributeError) as e:
        print("policy file '%s': %s" % (argv[3], e), file=sys.stderr)
        return 4
    nonce = argv[4]
    if os.path.isfile(nonce):
        with open(nonce) as f:
            nonce = f.read()
    try:
        nonce = bytes.fromhex(nonce.strip())
    except ValueError:
        nonce = b""
    if not 16 <= len(nonce) <= 64:
        print("the nonce is 16 to 64 bytes as hex digits", file=sys.stderr)
        return 2
    v = Verifier(raw, aik, pol, nonce)
    results = v.run()
    if results[0][0] == "evidence-parse" and not results[0][1]:
        # bytes that are not evidence at all: said once (docs/verifier.md), no verdicts
        print("'%s' is not an evidence file (%s)" % (argv[1], esc(results[0][2])),
              file=sys.stderr)
        return 1
    failed = [n for n, ok, _ in results if not ok]
    for name, ok, reason in results:
        if not ok:
            emit("check %s: failed: " % name, esc(reason))
    # a report that failed report-parse is not read further
    rep = v.rep if dict((n, ok) for n, ok, _ in results)["report-parse"] else None
    out, requested_ok = verdicts(rep, pol, not failed, failed)
    for name, why, _ in out:
        emit(esc(name), ": trusted" if not why else
             ": untrusted: " + "; ".join(esc(w) for w in why))
    return 0 if not failed and requested_ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
