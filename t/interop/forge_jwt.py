#!/usr/bin/python3
"""Makes the JWTs the gate must refuse, and one it must accept, with PyJWT
(Debian's python3-jwt). Prints one "NAME TOKEN" line each.

usage: forge_jwt.py KEY_PEM KID OTHER_EC_PEM OTHER_RSA_PEM ISSUER CLIENT SCOPE VALID_TOKEN

KEY_PEM is the server's own signing key (EC P-256, kid KID): signing with it
shows that each claim check holds by itself. VALID_TOKEN is a token the
server issued, for the tampered payload."""
import base64
import hashlib
import hmac
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization

key_pem, kid, other_ec, other_rsa, issuer, client, scope, valid = sys.argv[1:9]
read = lambda path: open(path, "rb").read()
key = read(key_pem)
public = serialization.load_pem_private_key(key, None).public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
now = int(time.time())


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**changes):
    c = {"iss": issuer, "sub": client, "client_id": client, "aud": issuer, "iat": now - 100,
         "exp": now + 600, "jti": b64(hashlib.sha256(str(changes).encode()).digest()),
         "scope": scope}
    c.update(changes)
    return c


def signed(body, signer=key, alg="ES256", **header):
    h = {"typ": "at+jwt", "kid": kid}
    h.update(header)
    return jwt.encode(body, signer, algorithm=alg, headers=h)


def by_hand(header, body, sign):
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(body).encode())
    return signing_input + "." + b64(sign(signing_input.encode()))


head, payload, signature = valid.split(".")
tampered = json.loads(base64.urlsafe_b64decode(payload + "=="))
tampered["scope"] = scope + " admin"

forged = {
    "control": signed(claims()),
    "alg-none": by_hand({"alg": "none", "typ": "at+jwt", "kid": kid}, claims(), lambda m: b""),
    "hs256-public-key": by_hand({"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims(),
                                lambda m: hmac.new(public, m, hashlib.sha256).digest()),
    "rs256-names-ec-key": signed(claims(), read(other_rsa), "RS256"),
    "wrong-kid": signed(claims(), kid="nobody"),
    "tampered": head + "." + b64(json.dumps(tampered).encode()) + "." + signature,
    "wrong-iss": signed(claims(iss=issuer + "/other")),
    "wrong-typ": signed(claims(), typ="JWT"),
    "expired": signed(claims(exp=now - 10)),
    "nbf-future": signed(claims(nbf=now + 100)),
    "other-key": signed(claims(), read(other_ec)),
}
for name, token in forged.items():
    print(name, token)
