#!/usr/bin/python3
"""The JWK Sets of the IdPs people run, as each publishes its own: Keycloak's
with its realm's RSA-OAEP encryption key first and x5c on every key, Entra
ID's without alg and with x5t, x5c and an issuer member, Auth0's and Okta's
plain. One RSA key per IdP, made in DIR on first use (DIR/VENDOR.pem, kid
"VENDOR-sig"), for t/interop/idp_shapes.py to sign that IdP's tokens with.
PyJWT and the cryptography package (Debian's python3-jwt).

usage: idp_key_sets.py DIR VENDOR    prints VENDOR's JWK Set"""
import json
import os
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idp_jwks import certificate_members, rsa_jwk  # noqa: E402


def key(directory, name):
    path = os.path.join(directory, name + ".pem")
    if not os.path.exists(path):
        made = rsa.generate_private_key(65537, 2048)
        with open(path, "wb") as f:
            f.write(made.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def key_set(directory, vendor):
    signing = key(directory, vendor)
    jwk = dict(rsa_jwk(signing), kid=vendor + "-sig", use="sig")
    if vendor == "keycloak":
        enc = key(directory, "keycloak-enc")
        return [dict(rsa_jwk(enc), kid="keycloak-enc", use="enc", alg="RSA-OAEP",
                     **certificate_members(enc)),
                dict(jwk, alg="RS256", **certificate_members(signing))]
    if vendor == "entra":
        x5c = certificate_members(signing)["x5c"]
        return [dict(jwk, x5t=vendor + "-sig", x5c=x5c, issuer="https://login.microsoftonline.com/{tenantid}/v2.0")]
    return [dict(jwk, alg="RS256")]


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(json.dumps({"keys": key_set(sys.argv[1], sys.argv[2])}))
