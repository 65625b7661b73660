#!/usr/bin/python3
"""DPoP proofs (RFC 9449 §4.2) for t/37, signed with PyJWT (Debian's
python3-jwt), right and each way wrong.

usage: dpop_proof.py jkt KEY_PEM
       dpop_proof.py proof KEY_PEM METHOD URL [OPTIONS_JSON [COUNT]]

`jkt` prints the RFC 7638 thumbprint of KEY_PEM's public key. `proof`
prints COUNT (default 1) proofs, one a line, each with a fresh jti, signed
by KEY_PEM (EC P-256: ES256, RSA: RS256, Ed25519: EdDSA) with its public
JWK in the header. OPTIONS_JSON may hold:
  token       the access token the proof goes with (its ath)
  nonce       the server nonce
  iat         seconds added to the current time
  jti         this jti instead of a fresh one
  claims      claims to add or replace
  drop        claims to leave out (e.g. ["ath"])
  header      header parameters to add or replace
  jwk_of      a PEM whose public JWK the header carries instead
  variant     good (default), alg-none (unsigned), hs256-oct (HMAC with an
              oct jwk), hs256-public-key (HMAC keyed with the public key
              PEM), private-jwk (the jwk carries the private key)"""
import hashlib
import hmac
import json
import os
import sys
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client_assertion import alg_of, b64, integer, private_key, public_jwk  # noqa: E402




def private_jwk(key):
    jwk = public_jwk(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        jwk["d"] = integer(key.private_numbers().private_value, 32)
    elif isinstance(key, rsa.RSAPrivateKey):
        jwk["d"] = integer(key.private_numbers().d)
    else:
        jwk["d"] = b64(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                         serialization.NoEncryption()))
    return jwk


def thumbprint(jwk):
    """RFC 7638 §3: the required members, sorted, no white space."""
    members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
    canonical = {m: jwk[m] for m in members[jwk["kty"]]}
    return b64(hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).digest())


def by_hand(header, claims, sign):
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    return signing_input + "." + b64(sign(signing_input.encode()))


def proof(key, method, url, options):
    claims = {"jti": options.get("jti") or str(uuid.uuid4()), "htm": method, "htu": url,
              "iat": int(time.time()) + options.get("iat", 0)}
    if "token" in options:
        claims["ath"] = b64(hashlib.sha256(options["token"].encode()).digest())
    if "nonce" in options:
        claims["nonce"] = options["nonce"]
    claims.update(options.get("claims", {}))
    for name in options.get("drop", []):
        claims.pop(name, None)
    header = {"typ": "dpop+jwt", "alg": alg_of(key), "jwk": public_jwk(key)}
    variant = options.get("variant", "good")
    if variant == "private-jwk":
        header["jwk"] = private_jwk(key)
    if "jwk_of" in options:
        header["jwk"] = public_jwk(private_key(options["jwk_of"]))
    header.update(options.get("header", {}))
    if variant == "alg-none":
        return by_hand(dict(header, alg="none"), claims, lambda m: b"")
    if variant == "hs256-oct":
        secret = b"attacker's own symmetric key, 32b"
        return by_hand(dict(header, alg="HS256", jwk={"kty": "oct", "k": b64(secret)}), claims,
                       lambda m: hmac.new(secret, m, hashlib.sha256).digest())
    if variant == "hs256-public-key":
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        return by_hand(dict(header, alg="HS256"), claims,
                       lambda m: hmac.new(public, m, hashlib.sha256).digest())
    alg = header.pop("alg")
    return jwt.encode(claims, key, algorithm=alg, headers=header)


if sys.argv[1] == "jkt":
    print(thumbprint(public_jwk(private_key(sys.argv[2]))))
else:
    key = private_key(sys.argv[2])
    method, url = sys.argv[3:5]
    options = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    for _ in range(int(sys.argv[6]) if len(sys.argv) > 6 else 1):
        print(proof(key, method, url, options))
