"""Interop: Authlib (a client library nobody here wrote) against the module.

Run by t/31-interop-authlib.t with Debian's /usr/bin/python3 (python3-authlib):

    authlib_client.py BASE_URL CLIENT_ID CLIENT_SECRET RS_ID RS_SECRET [ALG]

AUTHLIB_INSECURE_TRANSPORT=1 in the environment lets Authlib speak plain http
to the loopback test server. BASE_URL serves /token, /introspect, /revoke and the protected /api/reports,
which needs the scope reports:read. With ALG, the tokens are JWTs signed with
ALG: Authlib's own JOSE (authlib.jose) verifies each against the JWK Set named
by the RFC 8414 metadata, as a resource server in Python would. Prints one
"ok - ..." line per check, or "not ok - ..." and exits 1 at the first failure.
"""
import base64
import json
import sys

import authlib
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client import OAuthError
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.jose.errors import BadSignatureError

base, client_id, client_secret, rs_id, rs_secret = sys.argv[1:6]
alg = sys.argv[6] if len(sys.argv) > 6 else None
SCOPE = "reports:read"


def check(cond, what, detail=""):
    if not cond:
        print(f"not ok - {what} {detail}".rstrip(), flush=True)
        sys.exit(1)
    print(f"ok - {what}", flush=True)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def verify_jwt(method, token):
    """The checks of a resource server that trusts BASE_URL's JWK Set."""
    md = requests.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()
    check(md.get("jwks_uri") == f"{base}/jwks", f"{method}: metadata: jwks_uri", repr(md))
    keys = JsonWebKey.import_key_set(requests.get(md["jwks_uri"], timeout=10).json())
    access = token["access_token"]
    claims = JsonWebToken([alg]).decode(access, keys, claims_options={
        "iss": {"essential": True, "value": base}, "aud": {"essential": True, "value": base},
        "sub": {"essential": True, "value": client_id}, "exp": {"essential": True},
        "iat": {"essential": True}, "jti": {"essential": True}})
    claims.validate()
    check(True, f"{method}: authlib.jose verifies the JWT against the JWKS: iss, aud, sub, exp, iat")
    check(claims.header.get("alg") == alg and claims.header.get("typ") == "at+jwt",
          f"{method}: JWT header: alg {alg}, typ at+jwt", repr(claims.header))
    check(claims.get("client_id") == client_id and claims.get("scope") == SCOPE
          and claims["exp"] - claims["iat"] == token["expires_in"],
          f"{method}: JWT claims: client_id, scope, exp - iat = expires_in", repr(dict(claims)))

    # the same signature over other claims: a wider scope
    head, _, sig = access.split(".")
    forged = dict(claims, scope=SCOPE + " admin")
    tampered = ".".join([head, b64url(json.dumps(forged).encode()), sig])
    try:
        JsonWebToken([alg]).decode(tampered, keys)
        check(False, f"{method}: authlib.jose refuses a tampered JWT")
    except BadSignatureError:
        check(True, f"{method}: authlib.jose refuses a tampered JWT")
    # plain requests: the session would send its own token instead
    r = requests.get(f"{base}/api/reports", headers={"Authorization": f"Bearer {tampered}"}, timeout=10)
    check(r.status_code == 401 and 'error="invalid_token"' in r.headers.get("WWW-Authenticate", ""),
          f"{method}: the protected location refuses the tampered JWT", f"{r.status_code} {r.headers}")
    return claims


def session(method, cid=client_id, secret=client_secret, **kw):
    return OAuth2Session(cid, secret, token_endpoint_auth_method=method, timeout=10, **kw)


print(f"# authlib {authlib.__version__}, requests {requests.__version__}", flush=True)

def main():
    for method in ("client_secret_basic", "client_secret_post"):
        s = session(method, scope=SCOPE)
        token = s.fetch_token(f"{base}/token", grant_type="client_credentials")
        check(token.get("token_type") == "Bearer", f"{method}: token_type Bearer", repr(dict(token)))
        check(token.get("scope") == SCOPE, f"{method}: scope {SCOPE}", repr(dict(token)))
        check(isinstance(token.get("expires_in"), int) and token["expires_in"] > 0,
              f"{method}: expires_in", repr(dict(token)))
        check(not token.is_expired(), f"{method}: Authlib sees the token as live")

        r = s.get(f"{base}/api/reports")
        check(r.status_code == 200, f"{method}: the protected location answers 200",
              f"{r.status_code} {r.headers} {r.text!r}")
        check(r.headers.get("X-Client-Id") == client_id,
              f"{method}: the protected location sees client {client_id}", repr(r.headers))

        claims = verify_jwt(method, token) if alg else {}

        # introspection and revocation through Authlib's own helpers
        rs = session(method, rs_id, rs_secret)
        resp = rs.introspect_token(f"{base}/introspect", token=token["access_token"])
        info = resp.json()
        check(resp.status_code == 200 and info.get("active") is True and info.get("client_id") == client_id
              and info.get("scope") == SCOPE, f"{method}: introspection says active", repr(info))
        if alg:
            # aud may be a string or an array in either (RFC 7519 §4.1.3, RFC 7662 §2.2)
            def auds(v):
                return [v] if isinstance(v, str) else v
            check(all(info.get(c) == claims[c] for c in ("iss", "jti", "exp", "iat"))
                  and auds(info.get("aud")) == auds(claims["aud"]),
                  f"{method}: introspection answers the JWT's iss, aud, jti, exp, iat", repr(info))

        resp = s.revoke_token(f"{base}/revoke", token=token["access_token"], token_type_hint="access_token")
        check(resp.status_code == 200, f"{method}: revocation answers 200", f"{resp.status_code} {resp.text!r}")

        resp = rs.introspect_token(f"{base}/introspect", token=token["access_token"])
        check(resp.json() == {"active": False}, f"{method}: introspection after revocation: inactive", resp.text)

        r = s.get(f"{base}/api/reports")
        check(r.status_code == 401 and 'error="invalid_token"' in r.headers.get("WWW-Authenticate", ""),
              f"{method}: the protected location refuses the revoked token",
              f"{r.status_code} {r.headers}")

        # a wrong secret: Authlib raises the server's invalid_client
        bad = session(method, secret=client_secret + "x", scope=SCOPE)
        try:
            bad.fetch_token(f"{base}/token", grant_type="client_credentials")
            check(False, f"{method}: a wrong secret is refused")
        except OAuthError as e:
            check(e.error == "invalid_client", f"{method}: a wrong secret raises invalid_client", repr(e))

        # a scope the client does not hold: invalid_scope
        bad = session(method, scope="admin")
        try:
            bad.fetch_token(f"{base}/token", grant_type="client_credentials")
            check(False, f"{method}: an unknown scope is refused")
        except OAuthError as e:
            check(e.error == "invalid_scope", f"{method}: an unknown scope raises invalid_scope", repr(e))


try:
    main()
except Exception as e:  # a library error or a broken connection: one failed check
    print(f"not ok - unexpected error: {type(e).__name__}: {e}", flush=True)
    sys.exit(1)
print("# all checks passed", flush=True)
