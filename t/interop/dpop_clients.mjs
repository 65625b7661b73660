// Interop: DPoP (RFC 9449) with two client libraries nobody here wrote,
// oauth4webapi (its DPoP() handle) and openid-client v6 (getDPoPHandle),
// against the module's token endpoint (format=jwt) and a protected location.
// Run by t/37-dpop.t with node from the repo root's node_modules:
//
//   node dpop_clients.mjs LIBRARY ISSUER CLIENT_ID AUTH API_URL DPOP_ALG [nonce]
//
// LIBRARY is oauth4webapi or openid-client; AUTH is secret:SECRET or
// private_key_jwt:KEY_PEM:KID (an ES256 key); DPOP_ALG the algorithm of the
// DPoP key the library makes (ES256, PS256, EdDSA, ...). API_URL answers
// "ok\n" to a token of scope reports:read. With `nonce`, the server has
// oauth_dpop_nonce on: the library must get use_dpop_nonce at the token
// endpoint, and with a handle that has no nonce yet at the protected
// location, and retry with the DPoP-Nonce it was sent. Prints one
// "ok - ..." line per check, or "not ok - ..." and exits 1 at the first
// failure.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import * as jose from 'jose';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';

const [library, issuer, clientId, authSpec, apiUrl, dpopAlg, mode] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const version = require(`${library}/package.json`).version;
const nonceMode = mode === 'nonce';
const SCOPE = 'reports:read';
const ALGS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519'];

function check(cond, what, detail) {
  if (!cond) {
    console.log(`not ok - ${what}${detail === undefined ? '' : ' ' + JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok - ${what}`);
}

// Every response the library got, in order: [where, status, error, DPoP-Nonce].
const seen = [];
async function recordingFetch(url, init) {
  const response = await fetch(url, init);
  const copy = response.clone();
  let error = '';
  if (copy.headers.get('content-type')?.includes('json')) {
    error = (await copy.json().catch(() => ({}))).error ?? '';
  }
  const challenge = response.headers.get('www-authenticate') ?? '';
  error ||= challenge.match(/error="([^"]*)"/)?.[1] ?? '';
  seen.push([new URL(url).pathname, response.status, error, response.headers.get('dpop-nonce')]);
  return response;
}

async function clientAuth(lib) {
  const [kind, ...rest] = authSpec.split(':');
  if (kind === 'secret') {
    return [kind, lib.ClientSecretBasic(rest.join(':'))];
  }
  const [pem, kid] = rest;
  const key = await jose.importPKCS8(readFileSync(pem, 'utf8'), 'ES256');
  return [kind, lib.PrivateKeyJwt({ key, kid })];
}

// The nonce dance seen at PATH: a use_dpop_nonce answer with a DPoP-Nonce,
// then success with the same request retried.
function nonceRetried(path, status, okStatus) {
  const at = seen.filter(([p]) => p === path);
  check(at.length === 2 && at[0][1] === status && at[0][2] === 'use_dpop_nonce' && at[0][3]
    && at[1][1] === okStatus, `${path}: use_dpop_nonce with a DPoP-Nonce, then retried by itself`, at);
}

async function withOauth4webapi() {
  const [authName, auth] = await clientAuth(oauth);
  const options = { [oauth.allowInsecureRequests]: true, [oauth.customFetch]: recordingFetch };
  const issuerUrl = new URL(issuer);
  const as = await oauth.processDiscoveryResponse(
    issuerUrl, await oauth.discoveryRequest(issuerUrl, { algorithm: 'oauth2', ...options }));
  check(JSON.stringify(as.dpop_signing_alg_values_supported) === JSON.stringify(ALGS),
    'discovery: dpop_signing_alg_values_supported', as.dpop_signing_alg_values_supported);
  const c = { client_id: clientId };
  const keyPair = await oauth.generateKeyPair(dpopAlg, { extractable: true });
  const DPoP = oauth.DPoP(c, keyPair);

  // the documented pattern: a use_dpop_nonce error is retried once, the
  // handle having kept the DPoP-Nonce the server sent
  async function retryingOnNonce(request) {
    try {
      return await request();
    } catch (e) {
      if (!oauth.isDPoPNonceError(e)) throw e;
      return request();
    }
  }
  const tokens = await retryingOnNonce(async () => oauth.processClientCredentialsResponse(as, c,
    await oauth.clientCredentialsGrantRequest(as, c, auth, new URLSearchParams({ scope: SCOPE }),
      { ...options, DPoP })));
  const fresh = oauth.DPoP(c, keyPair);   // the same key, no nonce known yet
  const response = await retryingOnNonce(() => oauth.protectedResourceRequest(
    tokens.access_token, 'GET', new URL(apiUrl), undefined, undefined, { ...options, DPoP: fresh }));
  return [authName, as.token_endpoint, tokens, await DPoP.calculateThumbprint(), response];
}

async function withOpenidClient() {
  const [authName, auth] = await clientAuth(client);
  const config = await client.discovery(new URL(issuer), clientId, undefined, auth, {
    algorithm: 'oauth2', execute: [client.allowInsecureRequests], timeout: 10,
  });
  config[client.customFetch] = recordingFetch;
  const md = config.serverMetadata();
  check(JSON.stringify(md.dpop_signing_alg_values_supported) === JSON.stringify(ALGS),
    'discovery: dpop_signing_alg_values_supported', md.dpop_signing_alg_values_supported);
  const keyPair = await client.randomDPoPKeyPair(dpopAlg);
  const DPoP = client.getDPoPHandle(config, keyPair);
  // openid-client retries a use_dpop_nonce answer by itself
  const tokens = await client.clientCredentialsGrant(config, { scope: SCOPE }, { DPoP });
  const fresh = client.getDPoPHandle(config, keyPair);
  const response = await client.fetchProtectedResource(config, tokens.access_token, new URL(apiUrl),
    'GET', undefined, undefined, { DPoP: fresh });
  return [authName, md.token_endpoint, tokens, await DPoP.calculateThumbprint(), response];
}

try {
  console.log(`# ${library} ${version}, node ${process.version}, DPoP key ${dpopAlg}`);
  const [authName, tokenEndpoint, tokens, jkt, response] =
    await (library === 'oauth4webapi' ? withOauth4webapi() : withOpenidClient());
  check(tokens.token_type === 'dpop', `${authName}: token_type DPoP`, tokens);
  check(tokens.scope === SCOPE, `${authName}: the scope asked for`, tokens);
  const claims = jose.decodeJwt(tokens.access_token);
  check(claims.cnf?.jkt === jkt, 'the JWT is bound to the DPoP key: cnf.jkt is its thumbprint',
    [claims.cnf, jkt]);
  check(response.status === 200 && (await response.text()) === 'ok\n',
    'the protected location answers 200 to the token and a proof', response.status);
  if (nonceMode) {
    nonceRetried(new URL(tokenEndpoint).pathname, 400, 200);
    nonceRetried(new URL(apiUrl).pathname, 401, 200);
  } else {
    check(seen.every(([, status]) => status === 200), 'no request refused', seen);
  }
  console.log('# all checks passed');
} catch (e) {
  console.log(`not ok - ${e.name}: ${e.message} ${JSON.stringify(e.cause ?? '')}`);
  console.log(`# responses: ${JSON.stringify(seen)}`);
  process.exit(1);
}
