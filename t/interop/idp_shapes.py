#!/usr/bin/python3
"""Access tokens in the exact shapes the IdPs people run issue them, signed
with the test's own key (PyJWT, Debian's python3-jwt): header typ, client
and scope claims as each IdP writes them by default.

usage: idp_shapes.py SHAPE PEM KID ISSUER AUDIENCE
SHAPE: keycloak, auth0, auth0-untyped, auth0-rfc9068, okta, entra-v1, entra-v2-app,
       entra-v2-delegated, rfc9068"""
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization

shape, pem, kid, issuer, audience = sys.argv[1:6]
now = int(time.time())
common = {"iss": issuer, "aud": audience, "iat": now - 5, "exp": now + 300}

# typ: the header's (None: none at all); claims: the token's beyond `common`.
SHAPES = {
    # Keycloak 24, a user's token for a confidential client: typ JWT, the
    # client in azp, scopes a string, roles under realm_access.
    "keycloak": ("JWT", {
        "jti": "onrtac:6d1e6c5e-8c2b-4f3e-9d0e-7c1f2b3a4d5e", "sub": "f3c1a2b4-1111-2222-3333-444455556666",
        "typ": "Bearer", "azp": "orders-web", "sid": "0a1b2c3d", "acr": "1",
        "allowed-origins": ["https://orders.test"],
        "realm_access": {"roles": ["offline_access", "uma_authorization", "orders-admin"]},
        "resource_access": {"account": {"roles": ["manage-account"]}},
        "scope": "openid profile email orders:read", "email_verified": True,
        "preferred_username": "alice"}),
    # Auth0, the default profile, client credentials with RBAC: typ JWT,
    # azp, a scope string and the permissions array.
    "auth0": ("JWT", {
        "sub": "Zk9aQ2xpZW50SWQ@clients", "azp": "Zk9aQ2xpZW50SWQ", "gty": "client-credentials",
        "scope": "read:orders", "permissions": ["read:orders", "write:orders"]}),
    # The same without typ, as older Auth0 tenants and many libraries sign.
    "auth0-untyped": (None, {
        "sub": "Zk9aQ2xpZW50SWQ@clients", "azp": "Zk9aQ2xpZW50SWQ", "gty": "client-credentials",
        "scope": "read:orders", "permissions": ["read:orders", "write:orders"]}),
    # Auth0 with the API's RFC 9068 token profile: at+jwt and client_id.
    "auth0-rfc9068": ("at+jwt", {
        "sub": "Zk9aQ2xpZW50SWQ@clients", "client_id": "Zk9aQ2xpZW50SWQ",
        "jti": "4f1c2d3e", "scope": "read:orders"}),
    # Any RFC 9068 issuer (node oidc-provider), client credentials.
    "rfc9068": ("at+jwt", {
        "sub": "orders-service", "client_id": "orders-service", "jti": "Yb7kLq2",
        "scope": "orders:read"}),
    # Okta, a custom authorization server, a user's token: no typ, the client
    # in cid, the user in sub and uid, scopes an scp array.
    "okta": (None, {
        "ver": 1, "jti": "AT.q2nN9ruvVtq4VfPlPWJ1X3vCmmZ5bYrpkFmbdRuvQLk", "cid": "0oa1okta2client3",
        "uid": "00u1user2okta3", "sub": "alice@example.com", "auth_time": now - 60,
        "scp": ["openid", "orders:read"]}),
    # Entra ID v1 app-only: typ JWT, the client in appid, the service
    # principal in sub and oid, app roles in roles.
    "entra-v1": ("JWT", {
        "nbf": now - 5, "aio": "E2ZgYJg", "appid": "11111111-2222-3333-4444-555555555555",
        "appidacr": "1", "idp": issuer, "oid": "99999999-8888-7777-6666-555555555555",
        "rh": "0.AAAA", "roles": ["Orders.Read.All"], "sub": "99999999-8888-7777-6666-555555555555",
        "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47", "uti": "AbCdEf", "ver": "1.0"}),
    # Entra ID v2 app-only: the client in azp, app roles in roles.
    "entra-v2-app": ("JWT", {
        "nbf": now - 5, "azp": "11111111-2222-3333-4444-555555555555", "azpacr": "1",
        "oid": "99999999-8888-7777-6666-555555555555", "roles": ["Orders.Read.All"],
        "sub": "99999999-8888-7777-6666-555555555555", "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "uti": "AbCdEf", "ver": "2.0"}),
    # Entra ID v2 delegated: azp, delegated scopes in an scp string.
    "entra-v2-delegated": ("JWT", {
        "nbf": now - 5, "azp": "11111111-2222-3333-4444-555555555555", "azpacr": "1",
        "name": "Alice", "oid": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "scp": "Orders.Read User.Read",
        "sub": "Yz1AbCdEfGhIjKlMnOpQrStUvWxYz", "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "uti": "AbCdEf", "ver": "2.0"}),
}

typ, claims = SHAPES[shape]
key = serialization.load_pem_private_key(open(pem, "rb").read(), None)
# PyJWT writes typ JWT unless told otherwise; None leaves it out.
print(jwt.encode({**common, **claims}, key, algorithm="RS256", headers={"typ": typ, "kid": kid}))
