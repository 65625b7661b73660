#!/usr/bin/python3
"""Another issuer, played with PyJWT (Debian's python3-jwt): its JWK Set and
its RFC 9068 tokens, the way Keycloak or Entra ID write them (scp as an
array, azp for the client).

usage: idp_jwt.py jwks PEM:KID...          the JWK Set of these keys
       idp_jwt.py token PEM KID ISSUER [CLAIMS_JSON]   a token signed by PEM"""
import base64
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


def load(path):
    return serialization.load_pem_private_key(open(path, "rb").read(), None)


def full_size_coordinates(key):
    """RFC 7518 §6.2.1.2: x and y the full size of the curve; PyJWT 2.6
    leaves out leading zero bytes (one key in 128)."""
    numbers = key.public_key().public_numbers()
    size = (key.curve.key_size + 7) // 8
    return {c: base64.urlsafe_b64encode(getattr(numbers, c).to_bytes(size, "big")).rstrip(b"=").decode()
            for c in ("x", "y")}


def alg_of(key):
    return "ES256" if hasattr(key, "curve") else "RS256"


if sys.argv[1] == "jwks":
    keys = []
    for spec in sys.argv[2:]:
        path, kid = spec.split(":")
        key = load(path)
        algorithm = ECAlgorithm(ECAlgorithm.SHA256) if alg_of(key) == "ES256" \
            else RSAAlgorithm(RSAAlgorithm.SHA256)
        jwk = json.loads(algorithm.to_jwk(key.public_key()))
        if alg_of(key) == "ES256":
            jwk.update(full_size_coordinates(key))
        jwk.update(kid=kid, use="sig", alg=alg_of(key))
        keys.append(jwk)
    print(json.dumps({"keys": keys}))
else:
    path, kid, issuer = sys.argv[2:5]
    now = int(time.time())
    claims = {"iss": issuer, "sub": "user-7", "azp": "svc", "aud": "https://api.test",
              "iat": now - 10, "exp": now + 300, "jti": "j-%d" % now, "scp": ["read", "extra"]}
    claims.update(json.loads(sys.argv[5]) if len(sys.argv) > 5 else {})
    key = load(path)
    print(jwt.encode(claims, key, algorithm=alg_of(key), headers={"typ": "at+jwt", "kid": kid}))
