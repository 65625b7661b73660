#!/usr/bin/python3
"""Writes the fixtures of test_jose.cpp into DIR: PEM keys, a JWK Set, and
tokens made by PyJWT and the cryptography package (Debian's python3-jwt), an
implementation independent of the module's. Forgeries a library would refuse
to make are put together by hand."""
import base64
import hashlib
import hmac
import json
import os
import sys

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ISSUER = "https://issuer.test"
NOW = 1700000100  # the test's clock
CLAIMS = {"iss": ISSUER, "sub": "app", "client_id": "app", "aud": "https://api.test",
          "iat": 1700000000, "exp": 1700003600, "jti": "j1", "scope": "a b"}

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def write(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def thumbprint(jwk):
    required = {"EC": ["crv", "kty", "x", "y"], "RSA": ["e", "kty", "n"],
                "OKP": ["crv", "kty", "x"]}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return b64(hashlib.sha256(canonical.encode()).digest())


keys = {
    "es": (ec.generate_private_key(ec.SECP256R1()), "ES256", ECAlgorithm(ECAlgorithm.SHA256)),
    "rs": (rsa.generate_private_key(65537, 2048), "RS256", RSAAlgorithm(RSAAlgorithm.SHA256)),
    "ed": (ed25519.Ed25519PrivateKey.generate(), "EdDSA", OKPAlgorithm()),
}
jwks = []
for kid, (key, alg, algorithm) in keys.items():
    write(kid + ".pem", pem(key))
    jwk = json.loads(algorithm.to_jwk(key.public_key()))
    write(kid + ".thumbprint", thumbprint(jwk))
    jwk.update(kid=kid, alg=alg, use="sig")
    jwks.append(jwk)
write("jwks.json", json.dumps({"keys": jwks}))
write("es.pub.pem", public_pem(keys["es"][0]))
write("rsa1024.pem", pem(rsa.generate_private_key(65537, 1024)))
write("p384.pem", pem(ec.generate_private_key(ec.SECP384R1())))
write("ed448.pem", pem(ed448.Ed448PrivateKey.generate()))


def token(kid="es", claims=None, headers=None, key=None, alg=None):
    signer, default_alg, _ = keys[kid] if kid in keys else keys["es"]
    header = {"typ": "at+jwt", "kid": kid}
    header.update(headers or {})
    body = dict(CLAIMS)
    body.update(claims or {})
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key or signer, algorithm=alg or default_alg, headers=header)


def by_hand(header, claims, sign):
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    return signing_input + "." + b64(sign(signing_input.encode()))


es_key = keys["es"][0]
valid = token()
head, body, signature = valid.split(".")
tampered = json.loads(base64.urlsafe_b64decode(body + "=="))
tampered["scope"] = "a b admin"
es_public = public_pem(es_key)

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493
URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def high_s_twin(token):
    """The same ES256 signature with S replaced by n - S: it verifies too."""
    signing_input, signature = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(signature + "==")
    s = int.from_bytes(raw[32:], "big")
    return signing_input + "." + b64(raw[:32] + (P256_ORDER - s).to_bytes(32, "big"))


def eddsa_s_plus_l(token):
    """An Ed25519 signature with S + L for S: RFC 8032 §5.1.7 refuses it."""
    signing_input, signature = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(signature + "==")
    s = int.from_bytes(raw[32:], "little") + ED25519_ORDER
    return signing_input + "." + b64(raw[:32] + s.to_bytes(32, "little"))


def non_canonical_last_char(token):
    """The last character with a bit set that RFC 4648 §3.5 says must be zero."""
    return token[:-1] + URL_ALPHABET[URL_ALPHABET.index(token[-1]) | 1]


valid_eddsa = token("ed")

tokens = {
    "valid-es256": valid,
    "es256-high-s-twin": high_s_twin(valid),
    "es256-non-canonical-signature": non_canonical_last_char(valid),
    "eddsa-s-plus-l": eddsa_s_plus_l(valid_eddsa),
    "valid-rs256": token("rs"),
    "valid-eddsa": valid_eddsa,
    "typ-application": token(headers={"typ": "application/at+jwt"}),
    "scp-array": token(claims={"scope": None, "scp": ["a", "b"]}),
    "scp-string": token(claims={"scope": None, "scp": "a b"}),
    "scp-element-with-space": token(claims={"scope": None, "scp": ["a", "b admin"]}),
    "scp-element-with-tab": token(claims={"scope": None, "scp": ["a\tadmin"]}),
    "scp-empty-element": token(claims={"scope": None, "scp": ["a", ""]}),
    "azp-client": token(claims={"client_id": None, "azp": "other"}),
    "aud-array": token(claims={"aud": ["https://api.test", "https://b.test"]}),
    "alg-none": by_hand({"alg": "none", "typ": "at+jwt", "kid": "es"}, CLAIMS, lambda m: b""),
    "alg-none-with-signature": by_hand({"alg": "none", "typ": "at+jwt", "kid": "es"}, CLAIMS,
                                       lambda m: b"x" * 64),
    "hs256-public-key": by_hand({"alg": "HS256", "typ": "at+jwt", "kid": "es"}, CLAIMS,
                                lambda m: hmac.new(es_public, m, hashlib.sha256).digest()),
    "rs256-names-ec-key": token("rs", headers={"kid": "es"}),
    "es256-names-rsa-key": token("es", headers={"kid": "rs"}),
    "wrong-kid": token(headers={"kid": "nobody"}),
    "tampered": head + "." + b64(json.dumps(tampered).encode()) + "." + signature,
    "wrong-iss": token(claims={"iss": "https://evil.test"}),
    "wrong-typ": token(headers={"typ": "JWT"}),
    "no-typ": by_hand({"alg": "ES256", "kid": "es"}, CLAIMS,
                      lambda m: b"x" * 64),
    "crit": token(headers={"crit": ["exp"]}),
    "expired": token(claims={"exp": 1700000050}),
    "no-exp": token(claims={"exp": None}),
    "nbf-future": token(claims={"nbf": 1700000200}),
    "iat-future": token(claims={"iat": 1700000200}),
    "other-key": token(key=ec.generate_private_key(ec.SECP256R1())),
    "der-signature": by_hand({"alg": "ES256", "typ": "at+jwt", "kid": "es"}, CLAIMS,
                             lambda m: es_key.sign(m, ec.ECDSA(hashes.SHA256()))),
    "two-parts": head + "." + body,
    "four-parts": valid + ".x",
    "padded": valid + "=",
    "no-sub": token(claims={"sub": None}),
    "crlf-client": token(claims={"client_id": "app\r\nX-Admin: 1"}),
    "crlf-audience": token(claims={"aud": ["https://api.test", "x\ny"]}),
    "scope-number": token(claims={"scope": 7}),
}
for name, value in tokens.items():
    write(name + ".jwt", value)

# PyJWT makes the raw R‖S of RFC 7518 §3.4, so the DER forgery above differs
# from a valid token in its encoding only.
assert len(base64.urlsafe_b64decode(signature + "==")) == 64

# ---- a trusted issuer's JWK Set as published --------------------------------
# A key of each type and curve, signing each of the ten algorithms. The RSA
# key's JWK has no alg, as Entra publishes some: it takes RS* and PS*.
from jwt.algorithms import RSAPSSAlgorithm  # noqa: E402

def ec_jwk(key):
    """RFC 7518 §6.2.1.2: x and y the full size of the curve, which PyJWT 2.6
    does not pad to (a P-521 coordinate is nearly always a byte short)."""
    numbers = key.public_key().public_numbers()
    size = (key.curve.key_size + 7) // 8
    return {"kty": "EC", "crv": {256: "P-256", 384: "P-384", 521: "P-521"}[key.curve.key_size],
            "x": b64(numbers.x.to_bytes(size, "big")), "y": b64(numbers.y.to_bytes(size, "big"))}


rsa_any = rsa.generate_private_key(65537, 2048)
rsa_rs256 = rsa.generate_private_key(65537, 2048)
ec_keys = {"p256": (ec.generate_private_key(ec.SECP256R1()), "ES256"),
           "p384": (ec.generate_private_key(ec.SECP384R1()), "ES384"),
           "p521": (ec.generate_private_key(ec.SECP521R1()), "ES512")}
trusted = []
jwk = json.loads(RSAAlgorithm.to_jwk(rsa_any.public_key()))
jwk.update(kid="rsa-any", use="sig")
trusted.append(jwk)
jwk = json.loads(RSAAlgorithm.to_jwk(rsa_rs256.public_key()))
jwk.update(kid="rsa-rs256", use="sig", alg="RS256")
trusted.append(jwk)
for kid, (key, alg) in ec_keys.items():
    jwk = ec_jwk(key)
    jwk.update(kid=kid, alg=alg)
    trusted.append(jwk)
jwk = json.loads(OKPAlgorithm.to_jwk(keys["ed"][0].public_key()))
jwk.update(kid="ed", alg="EdDSA", use="sig")
trusted.append(jwk)
write("trusted-jwks.json", json.dumps({"keys": trusted}))


def trusted_token(key, alg, kid):
    return jwt.encode(CLAIMS, key, algorithm=alg, headers={"typ": "at+jwt", "kid": kid})


for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]:
    write("trusted-" + alg + ".jwt", trusted_token(rsa_any, alg, "rsa-any"))
for kid, (key, alg) in ec_keys.items():
    write("trusted-" + alg + ".jwt", trusted_token(key, alg, kid))
write("trusted-EdDSA.jwt", trusted_token(keys["ed"][0], "EdDSA", "ed"))
# RFC 8725 §3.1: an alg off its key's type or curve, each signed as its alg
# asks with a key of the right kind, the header naming the wrong one.
write("trusted-es384-on-p256.jwt", trusted_token(ec_keys["p384"][0], "ES384", "p256"))
write("trusted-es256-on-p384.jwt", trusted_token(ec_keys["p256"][0], "ES256", "p384"))
write("trusted-ps256-on-ec.jwt", trusted_token(rsa_any, "PS256", "p256"))
write("trusted-ps256-on-rs256-key.jwt", trusted_token(rsa_rs256, "PS256", "rsa-rs256"))
write("trusted-es256-on-rsa.jwt", trusted_token(ec_keys["p256"][0], "ES256", "rsa-any"))
rsa_any_public = public_pem(rsa_any)
write("trusted-hs256-on-rsa.jwt",
      by_hand({"alg": "HS256", "typ": "at+jwt", "kid": "rsa-any"}, CLAIMS,
              lambda m: hmac.new(rsa_any_public, m, hashlib.sha256).digest()))

# Keycloak's realm set: an RS256 signing key and an RSA-OAEP encryption key,
# each with the certificate members Keycloak adds.
kc_sig = json.loads(RSAAlgorithm.to_jwk(rsa_any.public_key()))
del kc_sig["key_ops"]  # PyJWT's; Keycloak publishes none
kc_sig.update(kid="kc-sig", use="sig", alg="RS256", x5c=["MIIC"], x5t="dGh1bWI",
              **{"x5t#S256": "dGh1bWIy"})
kc_enc = json.loads(RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048).public_key()))
del kc_enc["key_ops"]
kc_enc.update(kid="kc-enc", use="enc", alg="RSA-OAEP", x5c=["MIIC"], x5t="dGh1bWI",
              **{"x5t#S256": "dGh1bWIy"})
write("keycloak-jwks.json", json.dumps({"keys": [kc_enc, kc_sig]}))
write("p384-jwk.json", json.dumps(ec_jwk(ec_keys["p384"][0])))
write("rsa1024-jwk.json",
      json.dumps(json.loads(RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 1024).public_key()))))
