#!/usr/bin/python3
"""An IdP that publishes its keys at a URL, played with the Python standard
library and PyJWT, for t/66-jwks-uri.t. It serves DIR's files as they are at
each request, so the test rotates keys, or makes the IdP misbehave, by
writing them:

  DIR/openid-configuration  the discovery document, at any path ending in
                            /.well-known/openid-configuration (absent: 404)
  DIR/jwks.json             the JWK Set, at /jwks and at any path ending in
                            /jwks.json or /discovery/keys
  DIR/mode                  "ok" (absent too), "html", "huge" or "hang"
  DIR/cache-control         the Cache-Control of the JWK Set, if any
  DIR/hits                  one line per request, its path: appended

usage: idp_https.py serve DIR PORT [CERT KEY]   https with CERT, else http
       idp_https.py key DIR NAME                an RSA key, DIR/NAME.pem
       idp_https.py jwks DIR NAME...            the JWK Set of those keys
       idp_https.py token DIR NAME ISSUER [KID]
           a token of NAME's key, under kid NAME or KID (the forgeries of
           the JWT tests are t/interop/forge_jwt.py's)"""
import http.server
import json
import os
import ssl
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def read(directory, name, default=None):
    try:
        with open(os.path.join(directory, name), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return default


def serve(directory, port, cert=None, key=None):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body, content_type="application/json", extra=()):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in extra:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            with open(os.path.join(directory, "hits"), "a") as f:
                f.write(self.path + "\n")
            mode = (read(directory, "mode", b"ok") or b"ok").decode().strip()
            if mode == "hang":
                time.sleep(3600)
            if mode == "html":
                return self.answer(200, b"<html><body>Service Unavailable</body></html>",
                                   "text/html")
            if mode == "huge":
                return self.answer(200, b'{"keys":[' + b" " * (4 << 20) + b"]}")
            # Under the issuer's path too, as Keycloak's realms and Entra's tenants have it.
            if self.path.endswith("/.well-known/openid-configuration"):
                body = read(directory, "openid-configuration")
                return self.answer(200, body) if body else self.answer(404, b"{}")
            # Auth0's, Entra's and the tests' own key set paths.
            if self.path == "/jwks" or self.path.endswith(("/jwks.json", "/discovery/keys")):
                control = read(directory, "cache-control")
                extra = [("Cache-Control", control.decode().strip())] if control else []
                return self.answer(200, read(directory, "jwks.json", b"{}"), extra=extra)
            self.answer(404, b"{}")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    if cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


def load(directory, name):
    with open(os.path.join(directory, name + ".pem"), "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def token(directory, name, issuer, kid=None):
    now = int(time.time())
    claims = {"iss": issuer, "sub": "svc", "client_id": "svc", "aud": "https://api.example",
              "scope": "read", "iat": now, "exp": now + 600, "jti": os.urandom(8).hex()}
    header = {"typ": "at+jwt", "kid": kid or name}
    return jwt.encode(claims, load(directory, name), algorithm="RS256", headers=header)


def main(argv):
    command, directory = argv[1], argv[2]
    if command == "serve":
        serve(directory, int(argv[3]), *argv[4:6])
    elif command == "key":
        key = rsa.generate_private_key(65537, 2048)
        with open(os.path.join(directory, argv[3] + ".pem"), "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    elif command == "jwks":
        keys = []
        for name in argv[3:]:
            jwk = json.loads(RSAAlgorithm.to_jwk(load(directory, name).public_key()))
            jwk.pop("key_ops", None)
            keys.append(dict(jwk, kid=name, use="sig", alg="RS256"))
        print(json.dumps({"keys": keys}))
    elif command == "token":
        print(token(directory, argv[3], argv[4], *argv[5:6]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
