// Interop: the checks a Node resource server makes of our JWT access tokens,
// with two libraries nobody here wrote: oauth4webapi's validateJwtAccessToken
// (RFC 9068 §4, RFC 6750 bearer header) and jose's jwtVerify with
// createRemoteJWKSet. Both find the JWK Set from the RFC 8414 metadata and
// fetch it over HTTP. Run by t/32-interop-openid-client.t:
//
//   node jwt_resource_server.mjs ISSUER < tokens
//
// ISSUER is also the audience expected (the module's default audience).
// Tokens come one a line on stdin; for each, one JSON line goes to stdout:
// {"oauth4webapi": {"claims"} | {"error"}, "jose": {"header", "claims"} | {"error"}}.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';

const [issuer] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const version = (pkg) => require(`${pkg}/package.json`).version;

const failure = (e) => ({ error: `${e?.name}: ${e?.message} ${e?.code ?? ''}`.trim() });

try {
  console.log(`# oauth4webapi ${version('oauth4webapi')}, jose ${version('jose')}, node ${process.version}`);
  const issuerUrl = new URL(issuer);
  // allowInsecureRequests: the test server speaks http on the loopback
  const as = await oauth.processDiscoveryResponse(issuerUrl,
    await oauth.discoveryRequest(issuerUrl, { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true }));
  const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri));

  for (const token of readFileSync(0, 'utf8').split('\n').filter(Boolean)) {
    // what a request to the resource server carries
    const request = new Request(new URL('/api/reports', issuer), {
      headers: { authorization: `Bearer ${token}` },
    });
    const out = {};
    try {
      out.oauth4webapi = {
        claims: await oauth.validateJwtAccessToken(as, request, issuer, { [oauth.allowInsecureRequests]: true }),
      };
    } catch (e) {
      out.oauth4webapi = failure(e);
    }
    try {
      const { protectedHeader, payload } = await jose.jwtVerify(token, jwks, {
        issuer: as.issuer, audience: issuer, typ: 'at+jwt', algorithms: ['ES256', 'RS256', 'EdDSA'],
        requiredClaims: ['iss', 'exp', 'aud', 'sub', 'iat', 'jti', 'client_id'],
      });
      out.jose = { header: protectedHeader, claims: payload };
    } catch (e) {
      out.jose = failure(e);
    }
    console.log(JSON.stringify(out));
  }
} catch (e) {
  console.log(`not ok - unexpected error: ${e?.name}: ${e?.message} ${e?.code ?? ''}`);
  process.exit(1);
}
