// Interop: oauth4webapi (a client library nobody here wrote) authenticates
// with private_key_jwt (its PrivateKeyJwt client auth, RFC 7523) at the
// token, introspection and revocation endpoints. Run by
// t/35-private-key-jwt.t with node from the repo root's node_modules:
//
//   node oauth4webapi_private_key_jwt.mjs ISSUER CLIENT_ID KEY_PEM KID ALG
//
// ISSUER serves the RFC 8414 metadata, /token, /introspect and /revoke; the
// client may introspect. Prints one "ok - ..." line per check, or
// "not ok - ..." and exits 1 at the first failure.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import * as jose from 'jose';
import * as oauth from 'oauth4webapi';

const [issuer, clientId, keyPem, kid, alg] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const version = require('oauth4webapi/package.json').version;
const insecure = { [oauth.allowInsecureRequests]: true };

function check(cond, what, detail) {
  if (!cond) {
    console.log(`not ok - ${what}${detail === undefined ? '' : ' ' + JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok - ${what}`);
}

try {
  console.log(`# oauth4webapi ${version}, node ${process.version}`);
  const issuerUrl = new URL(issuer);
  const as = await oauth.processDiscoveryResponse(
    issuerUrl, await oauth.discoveryRequest(issuerUrl, { algorithm: 'oauth2', ...insecure }));
  check(as.token_endpoint_auth_methods_supported?.includes('private_key_jwt'),
    'discovery: private_key_jwt is supported', as);
  check(as.token_endpoint_auth_signing_alg_values_supported?.includes(alg),
    `discovery: ${alg} is a supported signing alg`, as);
  const key = await jose.importPKCS8(readFileSync(keyPem, 'utf8'), alg);
  const client = { client_id: clientId };
  const auth = oauth.PrivateKeyJwt({ key, kid });

  const response = await oauth.clientCredentialsGrantRequest(
    as, client, auth, new URLSearchParams({ scope: 'reports:read' }), insecure);
  const tokens = await oauth.processClientCredentialsResponse(as, client, response);
  check(typeof tokens.access_token === 'string' && tokens.token_type === 'bearer',
    'client credentials: a bearer token', tokens);
  check(tokens.scope === 'reports:read', 'client credentials: the scope asked for', tokens);

  const again = await oauth.clientCredentialsGrantRequest(
    as, client, auth, new URLSearchParams(), insecure);
  const second = await oauth.processClientCredentialsResponse(as, client, again);
  check(second.access_token !== tokens.access_token, 'a second request (a fresh assertion) gets a token');

  const introspected = await oauth.processIntrospectionResponse(as, client,
    await oauth.introspectionRequest(as, client, auth, tokens.access_token, insecure));
  check(introspected.active === true && introspected.client_id === clientId,
    'introspection with private_key_jwt: active, its client', introspected);

  const revoked = await oauth.revocationRequest(as, client, auth, tokens.access_token, insecure);
  await oauth.processRevocationResponse(revoked);
  check(revoked.status === 200, 'revocation with private_key_jwt: 200');

  const after = await oauth.processIntrospectionResponse(as, client,
    await oauth.introspectionRequest(as, client, auth, tokens.access_token, insecure));
  check(after.active === false, 'the revoked token is inactive', after);
  console.log('# all checks passed');
} catch (e) {
  console.log(`not ok - ${e.name}: ${e.message} ${JSON.stringify(e.cause ?? '')}`);
  process.exit(1);
}
