#!/usr/bin/python3
"""The access tokens of the IdPs people run, in the exact shapes of their
defaults for a machine client, and their JWK Sets as they publish them:
Keycloak, Auth0 (default and RFC 9068 profile), Okta, Entra ID v1 and v2
(app-only with roles, delegated with scp), and an RFC 9068 issuer. Played with
PyJWT and the cryptography package (Debian's python3-jwt); the README's
recipes are tested with them (t/90-idp-recipes.t).

usage: idp_shapes.py jwks DIR SHAPE                   the JWK Set (a key is made
                                                      in DIR on first use)
       idp_shapes.py token DIR SHAPE ISSUER AUDIENCE  a token of that shape"""
import json
import os
import sys
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idp_jwks import certificate_members, rsa_jwk  # noqa: E402

CLIENT = "svc-reports"  # the machine client every shape names, each its own way


def key(directory, name):
    path = os.path.join(directory, "shape-" + name + ".pem")
    if not os.path.exists(path):
        made = rsa.generate_private_key(65537, 2048)
        with open(path, "wb") as f:
            f.write(made.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def keycloak(now, issuer, audience):
    # A service account's token (Keycloak 24): typ "JWT" in the header, and a
    # claim typ "Bearer" that is no JOSE header; the client in azp and client_id.
    return {"typ": "JWT"}, {
        "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()), "iss": issuer,
        "aud": [audience, "account"], "sub": str(uuid.uuid4()), "typ": "Bearer",
        "azp": CLIENT, "acr": "1", "allowed-origins": ["/*"],
        "realm_access": {"roles": ["offline_access", "reports-reader", "uma_authorization"]},
        "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
        "scope": "profile email reports:read", "clientHost": "127.0.0.1",
        "email_verified": False, "preferred_username": "service-account-" + CLIENT,
        "clientAddress": "127.0.0.1", "client_id": CLIENT}


def auth0(now, issuer, audience):
    # Client credentials, RBAC on: no typ but "JWT", sub "ID@clients", azp,
    # the granted scopes and the same again as permissions.
    return {"typ": "JWT"}, {
        "iss": issuer, "sub": CLIENT + "@clients", "aud": audience, "iat": now,
        "exp": now + 300, "gty": "client-credentials", "azp": CLIENT,
        "scope": "reports:read", "permissions": ["reports:read"]}


def auth0_rfc9068(now, issuer, audience):
    # The tenant's "RFC 9068" token profile.
    return {"typ": "at+jwt"}, {
        "iss": issuer, "sub": CLIENT + "@clients", "aud": audience, "iat": now,
        "exp": now + 300, "jti": str(uuid.uuid4()), "client_id": CLIENT,
        "scope": "reports:read"}


def okta(now, issuer, audience):
    # A custom authorization server: no typ at all, ver 1, the client in cid,
    # the scopes as an array in scp.
    return {}, {
        "ver": 1, "jti": "AT." + uuid.uuid4().hex, "iss": issuer, "aud": audience,
        "iat": now, "exp": now + 300, "cid": CLIENT, "scp": ["reports:read"], "sub": CLIENT}


def entra_v1(now, issuer, audience):
    # App-only, v1 endpoint: the client in appid, app roles in roles; sub is
    # the service principal, which is not the client.
    return {"typ": "JWT", "x5t": "shape-entra"}, {
        "aud": audience, "iss": issuer, "iat": now, "nbf": now, "exp": now + 300,
        "aio": "E2Zg", "appid": CLIENT, "appidacr": "1", "idp": issuer,
        "oid": str(uuid.uuid4()), "rh": "0.AX", "roles": ["Reports.Read"],
        "sub": str(uuid.uuid4()), "tid": str(uuid.uuid4()), "uti": "x", "ver": "1.0"}


def entra_v2(now, issuer, audience):
    # App-only, v2 endpoint: the client in azp.
    return {"typ": "JWT"}, {
        "aud": audience, "iss": issuer, "iat": now, "nbf": now, "exp": now + 300,
        "aio": "E2Zg", "azp": CLIENT, "azpacr": "1", "oid": str(uuid.uuid4()),
        "rh": "0.AX", "roles": ["Reports.Read"], "sub": str(uuid.uuid4()),
        "tid": str(uuid.uuid4()), "uti": "x", "ver": "2.0"}


def entra_v2_delegated(now, issuer, audience):
    # Delegated, v2: a user's token for the client, the scopes in scp (a string).
    return {"typ": "JWT"}, {
        "aud": audience, "iss": issuer, "iat": now, "nbf": now, "exp": now + 300,
        "azp": CLIENT, "azpacr": "0", "name": "A User", "oid": str(uuid.uuid4()),
        "preferred_username": "user@example.com", "scp": "Reports.Read",
        "sub": str(uuid.uuid4()), "tid": str(uuid.uuid4()), "ver": "2.0"}


def rfc9068(now, issuer, audience):
    return {"typ": "at+jwt"}, {
        "iss": issuer, "sub": CLIENT, "aud": audience, "iat": now, "exp": now + 300,
        "jti": str(uuid.uuid4()), "client_id": CLIENT, "scope": "reports:read"}


SHAPES = {"keycloak": keycloak, "auth0": auth0, "auth0-rfc9068": auth0_rfc9068, "okta": okta,
          "entra-v1": entra_v1, "entra-v2": entra_v2, "entra-v2-delegated": entra_v2_delegated,
          "rfc9068": rfc9068}


def key_name(shape):
    return shape.split("-")[0]  # one IdP, one key: Auth0's two profiles share it


def jwks(directory, shape):
    name = key_name(shape)
    signing = key(directory, name)
    jwk = dict(rsa_jwk(signing), kid="shape-" + name, use="sig")
    if name == "keycloak":  # its realm's RSA-OAEP encryption key first, and x5c on both
        enc = key(directory, "keycloak-enc")
        return {"keys": [dict(rsa_jwk(enc), kid="shape-keycloak-enc", use="enc", alg="RSA-OAEP",
                              **certificate_members(enc)),
                         dict(jwk, alg="RS256", **certificate_members(signing))]}
    if name == "entra":  # no alg; x5t and x5c, and the issuer a key serves
        return {"keys": [dict(jwk, x5t="shape-entra", issuer="{tenantid}",
                              **{k: v for k, v in certificate_members(signing).items()
                                 if k == "x5c"})]}
    return {"keys": [dict(jwk, alg="RS256")]}


def token(directory, shape, issuer, audience):
    header, claims = SHAPES[shape](int(time.time()), issuer, audience)
    # PyJWT adds typ JWT unless told None: then it leaves typ out.
    header = dict({"typ": None}, **header, kid="shape-" + key_name(shape))
    return jwt.encode(claims, key(directory, key_name(shape)), algorithm="RS256", headers=header)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "jwks":
        print(json.dumps(jwks(sys.argv[2], sys.argv[3])))
    elif len(sys.argv) == 6 and sys.argv[1] == "token":
        print(token(*sys.argv[2:6]))
    else:
        sys.exit(__doc__)
