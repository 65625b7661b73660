#!/usr/bin/python3
"""Makes the JWTs the gate must refuse, and one it must accept, with PyJWT
(Debian's python3-jwt). Prints one "NAME TOKEN" line each.

usage: forge_jwt.py KEY_PEM KID OTHER_EC_PEM OTHER_RSA_PEM ISSUER CLIENT SCOPE [VALID_TOKEN]

KEY_PEM is the key the gate knows under KID (EC P-256, signing ES256, or
RSA, signing RS256): signing with it shows that each check holds by itself.
VALID_TOKEN, a token the issuer made, is tampered with; without it, the
control is. The key of the other type names KID's key with its own alg; the
other key of KEY_PEM's type signs under KID. t/lib/JwtForgeries.pm knows the
check each forgery fails."""
import base64
import hashlib
import hmac
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm, RSAAlgorithm, get_default_algorithms

key_pem, kid, other_ec_pem, other_rsa_pem, issuer, client, scope = sys.argv[1:8]
load = lambda path: serialization.load_pem_private_key(open(path, "rb").read(), None)
key, other_ec, other_rsa = load(key_pem), load(other_ec_pem), load(other_rsa_pem)
is_ec = isinstance(key, ec.EllipticCurvePrivateKey)
alg = "ES256" if is_ec else "RS256"
same_type_other, other_type, other_type_alg = \
    (other_ec, other_rsa, "RS256") if is_ec else (other_rsa, other_ec, "ES256")
public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
now = int(time.time())


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**changes):
    c = {"iss": issuer, "sub": client, "client_id": client, "aud": issuer, "iat": now - 100,
         "exp": now + 600, "jti": b64(hashlib.sha256(str(changes).encode()).digest()),
         "scope": scope}
    c.update(changes)
    return {name: value for name, value in c.items() if value is not None}


def signed(body, signer=key, algorithm=alg, **header):
    h = {"typ": "at+jwt", "kid": kid}
    h.update(header)
    return jwt.encode(body, signer, algorithm=algorithm, headers=h)


def by_hand(header, body_text, sign, payload=None):
    """header, body_text (the claims' JSON text, as sent) and sign(signing
    input); payload, when given, is what is signed in place of the encoded
    body (RFC 7797's unencoded payload)."""
    head = b64(json.dumps(dict({"alg": alg, "typ": "at+jwt", "kid": kid}, **header)).encode())
    signing_input = head + "." + (payload if payload is not None else b64(body_text.encode()))
    return head + "." + b64(body_text.encode()) + "." + b64(sign(signing_input.encode()))


def sign_right(message):
    """KEY_PEM's JWS signature of message: R || S for ES256 (RFC 7518 §3.4)."""
    return get_default_algorithms()[alg].sign(message, key)


def public_jwk(private):
    algorithm = ECAlgorithm(ECAlgorithm.SHA256) if isinstance(private, ec.EllipticCurvePrivateKey) \
        else RSAAlgorithm(RSAAlgorithm.SHA256)
    return json.loads(algorithm.to_jwk(private.public_key()))


# The last character with a bit set that base64url leaves zero there
# (RFC 4648 §3.5): the same signature bytes to a lax decoder.
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def non_canonical(token):
    return token[:-1] + ALPHABET[ALPHABET.index(token[-1]) | 1]


control = signed(claims())
valid = sys.argv[8] if len(sys.argv) > 8 else control
head, payload, signature = valid.split(".")
tampered = json.loads(base64.urlsafe_b64decode(payload + "=="))
tampered["scope"] = scope + " admin"
body = json.dumps(claims())
attacker_jwk = public_jwk(same_type_other)

forged = {
    "control": control,
    "alg-none": by_hand({"alg": "none"}, body, lambda m: b""),
    "alg-none-signed": by_hand({"alg": "none"}, body, sign_right),
    "hs256-public-key": by_hand({"alg": "HS256"}, body,
                                lambda m: hmac.new(public, m, hashlib.sha256).digest()),
    "alg-of-other-key-type": signed(claims(), other_type, other_type_alg),
    "wrong-kid": signed(claims(), kid="nobody"),
    "kid-not-a-string": by_hand({"kid": 7}, body, sign_right),
    "tampered": head + "." + b64(json.dumps(tampered).encode()) + "." + signature,
    "other-key": signed(claims(), same_type_other),
    # RFC 8725 §3.10 (the key comes from the issuer, never the token): an
    # attacker's key embedded or pointed to, under the issuer's kid.
    "header-jwk": signed(claims(), same_type_other, jwk=attacker_jwk),
    "header-jku": signed(claims(), same_type_other, jku="https://attacker.example/jwks.json"),
    "header-x5u": signed(claims(), same_type_other, x5u="https://attacker.example/cert.pem"),
    "crit": signed(claims(), crit=["exp"], exp=now + 600),
    "b64-false": by_hand({"b64": False, "crit": ["b64"]}, body, sign_right, payload=body),
    "two-segments": control.rsplit(".", 1)[0],
    "four-segments": control + "." + control.rsplit(".", 1)[1],
    "padded-signature": control + "=",
    "non-canonical-signature": non_canonical(control),
    # One element, two scopes once the array is joined (t/64).
    "scp-element-with-space": signed(claims(scp=["read admin"])),
    "duplicate-iss": by_hand({}, body[:-1] + ', "iss": "https://attacker.example"}', sign_right),
    "wrong-iss": signed(claims(iss=issuer + "/other")),
    "wrong-typ": signed(claims(), typ="JWT"),
    "expired": signed(claims(exp=now - 10)),
    "no-exp": signed(claims(exp=None)),
    "nbf-future": signed(claims(nbf=now + 100)),
    "iat-future": signed(claims(iat=now + 100)),
}
if is_ec:
    # OpenSSL's DER signature in place of JOSE's R || S.
    forged["der-signature"] = by_hand({}, body, lambda m: key.sign(m, ec.ECDSA(hashes.SHA256())))
else:
    # The right key, but PSS where its JWK names RS256.
    forged["ps256-for-rs256-key"] = signed(claims(), key, "PS256")
for name, token in forged.items():
    print(name, token)
