#!/usr/bin/python3
"""Interop: Authlib (Debian's python3-authlib) gets a token with
private_key_jwt (its PrivateKeyJWT client auth, RFC 7523), then calls the
protected location. Run by t/35-private-key-jwt.t:

  authlib_private_key_jwt.py BASE_URL CLIENT_ID KEY_PEM ALG

Authlib's assertions live an hour unless told: the module takes at most 5
minutes, so the claims set exp. Authlib 1.2 writes the jti it makes into the
claims dict it was given, so a PrivateKeyJWT's second assertion repeats the
first's jti: each request gets a new one here, and the reuse is shown
refused. Prints "ok - ..." per check, or "not ok -
..." and exits 1 at the first failure."""
import sys
import time

import authlib
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT

base, client_id, key_pem, alg = sys.argv[1:5]
print(f"# authlib {authlib.__version__}")


def check(cond, what, detail=""):
    if not cond:
        print(f"not ok - {what} {detail}")
        sys.exit(1)
    print(f"ok - {what}")


def fresh_auth():
    return PrivateKeyJWT(token_url, claims={"exp": int(time.time()) + 60}, alg=alg)


token_url = base + "/token"
session = OAuth2Session(client_id, open(key_pem).read(), scope="reports:read",
                        token_endpoint_auth_method="private_key_jwt")
session.register_client_auth_method(fresh_auth())
token = session.fetch_token(token_url, grant_type="client_credentials")
check(token.get("token_type") == "Bearer", "private_key_jwt: a bearer token", token)
check(token.get("scope") == "reports:read", "private_key_jwt: the scope asked for", token)
r = session.get(base + "/api/reports")
check(r.status_code == 200 and r.text == "ok\n", "the protected location answers 200",
      r.status_code)
try:
    session.fetch_token(token_url, grant_type="client_credentials")
    check(False, "the same PrivateKeyJWT again (its jti repeated) is refused")
except OAuthError as e:
    check(e.error == "invalid_client", "the same PrivateKeyJWT again (its jti repeated) is refused",
          e)
session.register_client_auth_method(fresh_auth())
second = session.fetch_token(token_url, grant_type="client_credentials")
check(second["access_token"] != token["access_token"],
      "a new PrivateKeyJWT (a fresh jti) gets another token")
print("# all checks passed")
