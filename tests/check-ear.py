#!/usr/bin/python3
"""An independent check of srtm's EAR (docs/verifier.md, "The verdict as an EAR"), with
jwcrypto's JOSE implementation and no srtm code: the ES256 signature verifies with the
public half of KEY.pem, and the claims are those documented.

usage: check-ear.py JWT_FILE KEY.pem NONCE_HEX POLICY_FILE STATUS...
STATUS: PATH=affirming|contraindicated|none, one per expected submodule.
Exit 0 when everything holds, 1 (with the reason on stderr) otherwise."""
import base64
import hashlib
import json
import sys

from jwcrypto import jwk, jws


def fail(why):
    print("check-ear: " + why, file=sys.stderr)
    sys.exit(1)


def main():
    jwt_file, key_file, nonce_hex, policy_file = sys.argv[1:5]
    want = dict(s.split("=", 1) for s in sys.argv[5:])
    with open(key_file, "rb") as f:
        public = jwk.JWK.from_json(jwk.JWK.from_pem(f.read()).export_public())
    with open(jwt_file) as f:
        token = f.read().strip()
    obj = jws.JWS()
    try:
        obj.deserialize(token)
        obj.verify(public, alg="ES256")
    except Exception as e:  # jwcrypto raises its own classes
        fail("signature refused: %r" % e)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    if header.get("alg") != "ES256":
        fail("alg is %r" % header.get("alg"))
    claims = json.loads(obj.payload)
    if claims.get("eat_profile") != "tag:github.com,2023:veraison/ear":
        fail("eat_profile %r" % claims.get("eat_profile"))
    if not isinstance(claims.get("iat"), int) or claims["iat"] <= 0:
        fail("iat %r" % claims.get("iat"))
    vid = claims.get("ear.verifier-id")
    if not isinstance(vid, dict) or vid.get("developer") != "srtm" or "build" not in vid:
        fail("ear.verifier-id %r" % vid)
    nonce = base64.urlsafe_b64encode(bytes.fromhex(nonce_hex)).decode().rstrip("=")
    if claims.get("eat_nonce") != nonce:
        fail("eat_nonce %r, expected %r" % (claims.get("eat_nonce"), nonce))
    with open(policy_file, "rb") as f:
        policy_id = "sha256:" + hashlib.sha256(f.read()).hexdigest()
    subs = claims.get("submods")
    if not isinstance(subs, dict) or set(subs) != set(want):
        fail("submods %r, expected %r" % (sorted(subs or {}), sorted(want)))
    for name, status in want.items():
        s = subs[name]
        if s.get("ear.status") != status:
            fail("%s: ear.status %r, expected %r" % (name, s.get("ear.status"), status))
        if s.get("ear.appraisal-policy-id") != policy_id:
            fail("%s: ear.appraisal-policy-id %r" % (name, s.get("ear.appraisal-policy-id")))
    ok = all(v == "affirming" for v in want.values())
    if claims.get("srtm.ok") is not ok:
        fail("srtm.ok %r" % claims.get("srtm.ok"))


main()
