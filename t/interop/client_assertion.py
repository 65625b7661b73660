#!/usr/bin/python3
"""Client assertions (RFC 7523 private_key_jwt) for t/35, signed with PyJWT
(Debian's python3-jwt), and the JWK Set of a key.

usage: client_assertion.py jwks KEY_PEM KID
       client_assertion.py sign KEY_PEM KID CLIENT AUD VARIANT [COUNT]

`jwks` prints the public JWK Set of KEY_PEM. `sign` prints COUNT (default
1) assertions of VARIANT, one a line, each with a fresh jti: good, wrong-aud,
exp-far, no-exp, expired, iss-not-sub, alg-none, hs256-public-key, no-jti."""
import base64
import hashlib
import hmac
import json
import sys
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def private_key(path):
    return serialization.load_pem_private_key(open(path, "rb").read(), None)


def alg_of(key):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ES256"
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    return "EdDSA"


def integer(n, size=None):
    return b64(n.to_bytes(size or (n.bit_length() + 7) // 8, "big"))


def public_jwk(key):
    """The public JWK, built by hand: PyJWT 2.6 leaves leading zero bytes
    out of EC coordinates (RFC 7518 §6.2.1.2 wants the full size)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        numbers = key.public_key().public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": integer(numbers.x, 32), "y": integer(numbers.y, 32)}
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        return {"kty": "RSA", "n": integer(numbers.n), "e": integer(numbers.e)}
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}


def jwks(path, kid):
    key = private_key(path)
    jwk = public_jwk(key)
    jwk.update({"kid": kid, "use": "sig", "alg": alg_of(key)})
    return json.dumps({"keys": [jwk]})


def by_hand(header, body, sign):
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(body).encode())
    return signing_input + "." + b64(sign(signing_input.encode()))


def assertion(path, kid, client, aud, variant):
    key = private_key(path)
    now = int(time.time())
    claims = {"iss": client, "sub": client, "aud": aud, "iat": now, "exp": now + 60,
              "jti": str(uuid.uuid4())}
    if variant == "wrong-aud":
        claims["aud"] = "https://elsewhere.example/token"
    elif variant == "exp-far":
        claims["exp"] = now + 600
    elif variant == "no-exp":
        del claims["exp"]
    elif variant == "expired":
        claims["exp"] = now - 120
    elif variant == "iss-not-sub":
        claims["iss"] = "someone-else"
    elif variant == "no-jti":
        del claims["jti"]
    header = {"alg": alg_of(key), "kid": kid, "typ": "JWT"}
    if variant == "alg-none":
        return by_hand(dict(header, alg="none"), claims, lambda m: b"")
    if variant == "hs256-public-key":
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        return by_hand(dict(header, alg="HS256"), claims,
                       lambda m: hmac.new(public, m, hashlib.sha256).digest())
    return jwt.encode(claims, key, algorithm=alg_of(key), headers={"kid": kid})


if __name__ == "__main__":
    if sys.argv[1] == "jwks":
        print(jwks(sys.argv[2], sys.argv[3]))
    else:
        path, kid, client, aud, variant = sys.argv[2:7]
        for _ in range(int(sys.argv[7]) if len(sys.argv) > 7 else 1):
            print(assertion(path, kid, client, aud, variant))
