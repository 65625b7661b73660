// Interop: oauth4webapi (a client library nobody here wrote) authenticates
// with tls_client_auth (RFC 8705 §2) through its customFetch hook, over a
// Node https request that presents a client certificate, and uses its bound
// token at a protected location. Run by t/36-mtls.t:
//
//   node oauth4webapi_mtls.mjs ISSUER CLIENT_ID CA.pem CERT.pem KEY.pem OTHER.pem OTHER.key
//
// ISSUER serves the RFC 8414 metadata, /token and the protected /api/ (scope
// read). Prints one "ok - ..." line per check, or "not ok - ..." and exits 1
// at the first failure.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import * as oauth from 'oauth4webapi';

const [issuer, clientId, caPath, certPath, keyPath, otherCert, otherKey] = process.argv.slice(2);
const ca = readFileSync(caPath);

function check(cond, what, detail) {
  if (!cond) {
    console.log(`not ok - ${what}${detail === undefined ? '' : ' ' + JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok - ${what}`);
}

// A fetch over node:https with the client certificate CERT (none: null).
// A fresh agent per connection: a bound token must meet the certificate of
// the connection it comes on.
function fetchWith(cert, key) {
  return (url, options = {}) =>
    new Promise((resolve, reject) => {
      const headers = Object.fromEntries(new Headers(options.headers ?? {}));
      const request = https.request(url, {
        method: options.method ?? 'GET', headers, ca, agent: false,
        ...(cert ? { cert: readFileSync(cert), key: readFileSync(key) } : {}),
      }, (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          const status = response.statusCode;
          const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
          }
          const result = new Response(body, { status, headers: responseHeaders });
          Object.defineProperty(result, 'url', { value: String(url) });
          resolve(result);
        });
      });
      request.on('error', reject);
      if (options.body !== undefined && options.body !== null) {
        request.write(String(options.body));
      }
      request.end();
    });
}

try {
  const own = { [oauth.customFetch]: fetchWith(certPath, keyPath) };
  const url = new URL(issuer);
  const as = await oauth.processDiscoveryResponse(
    url, await oauth.discoveryRequest(url, { algorithm: 'oauth2', ...own }));
  check(as.token_endpoint_auth_methods_supported?.includes('tls_client_auth'),
    'discovery: tls_client_auth is supported', as);
  check(as.tls_client_certificate_bound_access_tokens === true,
    'discovery: tls_client_certificate_bound_access_tokens', as);

  const client = { client_id: clientId };
  const response = await oauth.clientCredentialsGrantRequest(
    as, client, oauth.TlsClientAuth(), new URLSearchParams({ scope: 'read' }), own);
  const tokens = await oauth.processClientCredentialsResponse(as, client, response);
  check(typeof tokens.access_token === 'string', 'a token by tls_client_auth');

  const api = new URL('/api/', issuer);
  // The status, and the challenge's error that oauth4webapi throws for a 401.
  const call = async (options) => {
    try {
      const response = await oauth.protectedResourceRequest(
        tokens.access_token, 'GET', api, new Headers(), null, options);
      return `${response.status}`;
    } catch (error) {
      if (!(error instanceof oauth.WWWAuthenticateChallengeError)) throw error;
      return `${error.response.status} ${error.cause[0]?.parameters?.error}`;
    }
  };
  check(await call(own) === '200', 'the bound token with its certificate: 200');
  const stolen = await call({ [oauth.customFetch]: fetchWith(otherCert, otherKey) });
  check(stolen === '401 invalid_token', 'the bound token with another certificate: 401 invalid_token',
    stolen);
  const bare = await call({ [oauth.customFetch]: fetchWith(null, null) });
  check(bare === '401 invalid_token', 'the bound token with no certificate: 401 invalid_token', bare);

  const refused = await oauth.clientCredentialsGrantRequest(
    as, client, oauth.TlsClientAuth(), new URLSearchParams({ scope: 'read' }),
    { [oauth.customFetch]: fetchWith(otherCert, otherKey) });
  check(refused.status === 401, "another client's certificate: 401", refused.status);
} catch (error) {
  check(false, 'no exception', String(error?.stack ?? error));
}
