#!/usr/bin/python3
"""An issuer's JWK Sets as IdPs publish them, and its tokens of each of the
ten JWS algorithms, played with PyJWT and the cryptography package (Debian's
python3-jwt).

usage: idp_jwks.py keys DIR           PEM keys and the JWK Sets, into DIR
       idp_jwks.py tokens DIR ISSUER  {name: token} of each alg, and forgeries"""
import base64
import datetime
import hashlib
import hmac
import json
import os
import sys
import time

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

CURVES = {"p256": (ec.SECP256R1, "P-256", "ES256"), "p384": (ec.SECP384R1, "P-384", "ES384"),
          "p521": (ec.SECP521R1, "P-521", "ES512")}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pem_path(directory, name):
    return os.path.join(directory, "idp-" + name + ".pem")


def load(directory, name):
    return serialization.load_pem_private_key(open(pem_path(directory, name), "rb").read(), None)


def rsa_jwk(key):
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.pop("key_ops", None)  # PyJWT's; the IdPs publish none
    return jwk


def ec_jwk(key, crv):
    """RFC 7518 §6.2.1.2: coordinates the full size of the curve."""
    numbers = key.public_key().public_numbers()
    size = (key.curve.key_size + 7) // 8
    return {"kty": "EC", "crv": crv, "x": b64(numbers.x.to_bytes(size, "big")),
            "y": b64(numbers.y.to_bytes(size, "big"))}


def certificate_members(key):
    """x5c and x5t as Keycloak adds them: a self-signed certificate."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "realm-a")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    return {"x5c": [base64.b64encode(der).decode()], "x5t": b64(hashlib.sha1(der).digest()),
            "x5t#S256": b64(hashlib.sha256(der).digest())}


def write_keys(directory):
    keys = {"rsa": rsa.generate_private_key(65537, 2048),
            "enc": rsa.generate_private_key(65537, 2048),
            "weak": rsa.generate_private_key(65537, 1024),
            "ed": ed25519.Ed25519PrivateKey.generate()}
    keys.update({kid: ec.generate_private_key(curve()) for kid, (curve, _, _) in CURVES.items()})
    for name, key in keys.items():
        with open(pem_path(directory, name), "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    # Keycloak's realm set: its RSA-OAEP encryption key listed first.
    enc = dict(rsa_jwk(keys["enc"]), kid="kc-enc", use="enc", alg="RSA-OAEP",
               **certificate_members(keys["enc"]))
    sig = dict(rsa_jwk(keys["rsa"]), kid="kc-sig", use="sig", alg="RS256",
               **certificate_members(keys["rsa"]))
    sets = {"keycloak.json": [enc, sig]}
    # A key of each type and curve; the RSA one without alg, as Entra
    # publishes some keys, so that it takes RS* and PS*.
    every = [dict(rsa_jwk(keys["rsa"]), kid="rsa", use="sig")]
    every += [dict(ec_jwk(keys[kid], crv), kid=kid, use="sig", alg=alg)
              for kid, (_, crv, alg) in CURVES.items()]
    ed = json.loads(OKPAlgorithm.to_jwk(keys["ed"].public_key()))
    ed.pop("key_ops", None)
    every.append(dict(ed, kid="ed", use="sig", alg="EdDSA"))
    sets["every.json"] = every
    # Nothing in it verifies a signature.
    sets["unusable.json"] = [enc, dict(rsa_jwk(keys["weak"]), kid="weak", use="sig"),
                             {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}]
    for name, jwks in sets.items():
        with open(os.path.join(directory, name), "w") as f:
            json.dump({"keys": jwks}, f)


def tokens(directory, issuer):
    now = int(time.time())
    claims = {"iss": issuer, "sub": "user-7", "azp": "svc", "aud": "https://api.test",
              "iat": now - 10, "exp": now + 300, "jti": "j-%d" % now, "scope": "read"}

    def token(key_name, alg, kid):
        return jwt.encode(claims, load(directory, key_name), algorithm=alg,
                          headers={"typ": "at+jwt", "kid": kid})

    out = {alg: token("rsa", alg, "rsa")
           for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]}
    out.update({alg: token(kid, alg, kid) for kid, (_, _, alg) in CURVES.items()})
    out["EdDSA"] = token("ed", "EdDSA", "ed")
    out["keycloak"] = token("rsa", "RS256", "kc-sig")
    out["keycloak-ps256"] = token("rsa", "PS256", "kc-sig")
    # RFC 8725 §3.1: a header alg off its key's type or curve, each signed
    # the way its alg asks, by a key of the kind the header claims.
    out["es384-on-p256"] = token("p384", "ES384", "p256")
    out["es512-on-p384"] = token("p521", "ES512", "p384")
    out["ps256-on-ec"] = token("rsa", "PS256", "p256")
    out["eddsa-on-rsa"] = token("ed", "EdDSA", "rsa")
    public = load(directory, "rsa").public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": "rsa"}).encode()) + \
        "." + b64(json.dumps(claims).encode())
    out["hs256-on-rsa"] = signing_input + "." + b64(
        hmac.new(public, signing_input.encode(), hashlib.sha256).digest())
    out["encryption-key"] = token("enc", "RS256", "kc-enc")
    return out


if __name__ == "__main__":
    if sys.argv[1] == "keys":
        write_keys(sys.argv[2])
    else:
        print(json.dumps(tokens(sys.argv[2], sys.argv[3])))
