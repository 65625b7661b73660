#!/usr/bin/python3
"""Verifies JWT access tokens with PyJWT (Debian's python3-jwt), an
implementation independent of the module's, against the JWK Set it fetches
from JWKS_URL. Tokens come one a line on stdin; for each, one JSON line goes
to stdout: {"header": ..., "claims": ...} or {"error": "..."}.

usage: pyjwt_verify.py JWKS_URL ISSUER"""
import json
import sys

import jwt

jwks_url, issuer = sys.argv[1], sys.argv[2]
client = jwt.PyJWKClient(jwks_url, cache_keys=False)
for line in sys.stdin:
    token = line.strip()
    try:
        key = client.get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=["ES256", "RS256", "EdDSA"],
                            audience=issuer, issuer=issuer,
                            options={"require": ["exp", "iat", "iss", "sub", "aud", "jti"]})
        print(json.dumps({"header": jwt.get_unverified_header(token), "claims": claims}))
    except Exception as e:  # every failure is reported, none stops the run
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
    sys.stdout.flush()
