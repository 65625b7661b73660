// Interop: openid-client v6 (a client library nobody here wrote) against the
// module. Run by t/32-interop-openid-client.t with node from the repo root's
// node_modules:
//
//   node openid_client.mjs ISSUER CLIENT_ID CLIENT_SECRET RS_ID RS_SECRET [ALG]
//
// ISSUER is the oauth_issuer of a server that serves the RFC 8414 metadata,
// /token, /introspect, /revoke and the protected /api/reports (scope
// reports:read). With ALG, its tokens are JWTs signed with ALG, its JWK Set
// at /jwks. Prints one "ok - ..." line per check, or "not ok - ..." and
// exits 1 at the first failure.
import { createRequire } from 'node:module';
import * as jose from 'jose';
import * as client from 'openid-client';

const [issuer, clientId, clientSecret, rsId, rsSecret, alg] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const version = require('openid-client/package.json').version;
const SCOPE = 'reports:read';

function check(cond, what, detail) {
  if (!cond) {
    console.log(`not ok - ${what}${detail === undefined ? '' : ' ' + JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok - ${what}`);
}

async function discover(id, auth) {
  // algorithm 'oauth2': RFC 8414 /.well-known/oauth-authorization-server;
  // allowInsecureRequests: the test server speaks http on the loopback.
  return client.discovery(new URL(issuer), id, undefined, auth, {
    algorithm: 'oauth2',
    execute: [client.allowInsecureRequests],
    timeout: 10,
  });
}

async function api(token) {
  return fetch(new URL('/api/reports', issuer), { headers: { authorization: `Bearer ${token}` } });
}

try {
  console.log(`# openid-client ${version}, node ${process.version}`);
  const origin = new URL(issuer).origin;

  for (const [name, auth] of [
    ['client_secret_basic', client.ClientSecretBasic],
    ['client_secret_post', client.ClientSecretPost],
  ]) {
    const config = await discover(clientId, auth(clientSecret));
    const md = config.serverMetadata();
    check(md.issuer === issuer, `${name}: discovery: issuer`, md);
    check(md.token_endpoint === `${origin}/token`, `${name}: discovery: token_endpoint`, md);
    check(md.introspection_endpoint === `${origin}/introspect`, `${name}: discovery: introspection_endpoint`, md);
    check(md.revocation_endpoint === `${origin}/revoke`, `${name}: discovery: revocation_endpoint`, md);
    check(JSON.stringify(md.grant_types_supported) === '["client_credentials"]',
      `${name}: discovery: grant_types_supported`, md);
    check(md.token_endpoint_auth_methods_supported?.includes(name),
      `${name}: discovery: ${name} is supported`, md);
    if (alg) check(md.jwks_uri === `${origin}/jwks`, `${name}: discovery: jwks_uri`, md);

    const tokens = await client.clientCredentialsGrant(config, { scope: SCOPE });
    check(typeof tokens.access_token === 'string' && tokens.token_type === 'bearer',
      `${name}: clientCredentialsGrant: a bearer token`, tokens);
    check(tokens.scope === SCOPE, `${name}: clientCredentialsGrant: scope`, tokens);
    check(tokens.expiresIn() > 0, `${name}: clientCredentialsGrant: expiresIn()`, tokens);
    // the client only reads it (verifying is the resource server's part:
    // jwt_resource_server.mjs)
    const header = alg ? jose.decodeProtectedHeader(tokens.access_token) : {};
    const claims = alg ? jose.decodeJwt(tokens.access_token) : {};
    if (alg) {
      check(header.alg === alg && header.typ === 'at+jwt' && claims.client_id === clientId
        && claims.scope === SCOPE, `${name}: clientCredentialsGrant: a JWT, alg ${alg}, typ at+jwt`,
        [header, claims]);
    }

    const res = await client.fetchProtectedResource(config, tokens.access_token,
      new URL('/api/reports', issuer), 'GET');
    check(res.status === 200 && res.headers.get('x-client-id') === clientId,
      `${name}: fetchProtectedResource: 200 for ${clientId}`, res.status);

    const rsConfig = await discover(rsId, auth(rsSecret));
    let info = await client.tokenIntrospection(rsConfig, tokens.access_token);
    check(info.active === true && info.client_id === clientId && info.sub === clientId
      && info.scope === SCOPE && info.token_type === 'Bearer' && info.iss === issuer
      && info.exp - info.iat === tokens.expires_in,
      `${name}: tokenIntrospection: active, with its grant`, info);
    if (alg) {
      // aud may be a string or an array in either (RFC 7519 §4.1.3, RFC 7662 §2.2)
      check(info.jti === claims.jti && info.exp === claims.exp && info.iat === claims.iat
        && JSON.stringify([info.aud].flat()) === JSON.stringify([claims.aud].flat()),
        `${name}: tokenIntrospection: the JWT's jti, aud, exp, iat`, [info, claims]);
    }

    await client.tokenRevocation(config, tokens.access_token);
    check(true, `${name}: tokenRevocation resolves`);

    info = await client.tokenIntrospection(rsConfig, tokens.access_token);
    check(JSON.stringify(info) === '{"active":false}', `${name}: tokenIntrospection after revocation`, info);

    const after = await api(tokens.access_token);
    check(after.status === 401 && /error="invalid_token"/.test(after.headers.get('www-authenticate') ?? ''),
      `${name}: the protected location answers 401 invalid_token`,
      [after.status, after.headers.get('www-authenticate')]);

    try {
      await client.fetchProtectedResource(config, tokens.access_token, new URL('/api/reports', issuer), 'GET');
      check(false, `${name}: fetchProtectedResource rejects the revoked token`);
    } catch (e) {
      check(e instanceof client.WWWAuthenticateChallengeError && e.status === 401
        && e.cause?.[0]?.scheme === 'bearer' && e.cause?.[0]?.parameters?.error === 'invalid_token',
        `${name}: fetchProtectedResource throws the invalid_token challenge`, String(e));
    }

    // a wrong secret: the server's invalid_client reaches the caller
    const bad = await discover(clientId, auth(clientSecret + 'x'));
    try {
      await client.clientCredentialsGrant(bad, { scope: SCOPE });
      check(false, `${name}: a wrong secret is refused`);
    } catch (e) {
      // A 401 with a challenge (Basic) surfaces as the challenge, without Basic
      // as the body's error; the body says invalid_client either way.
      let body = e.cause;
      if (e instanceof client.WWWAuthenticateChallengeError) {
        check(name === 'client_secret_basic' && e.cause?.[0]?.scheme === 'basic'
          && e.cause?.[0]?.parameters?.realm === 'interop',
          `${name}: a wrong secret: the challenge is Basic realm="interop"`, e.cause);
        body = await e.response.json();
      }
      check(e.status === 401 && body?.error === 'invalid_client', `${name}: a wrong secret: 401 invalid_client`,
        [String(e), body]);
    }

    // a caller without the introspection right: 403 unauthorized_client
    try {
      await client.tokenIntrospection(config, 'anything');
      check(false, `${name}: introspection without the right is refused`);
    } catch (e) {
      check(e.error === 'unauthorized_client' && e.status === 403,
        `${name}: introspection without the right: unauthorized_client`, String(e));
    }
  }
  console.log('# all checks passed');
} catch (e) {
  console.log(`not ok - unexpected error: ${e?.name}: ${e?.message} ${e?.code ?? ''}`);
  if (e?.cause) console.log(`# cause: ${JSON.stringify(e.cause)}`);
  process.exit(1);
}
