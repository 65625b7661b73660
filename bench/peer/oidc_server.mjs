// The peer for `make bench`: node's oidc-provider serving the client
// credentials grant with its default in-memory adapter, issuing opaque access
// tokens for one resource server, on 127.0.0.1 only.
//
//   node bench/peer/oidc_server.mjs PORT CLIENT_ID CLIENT_SECRET SCOPE
//
// Prints "ready" on standard output once it listens.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, scope] = process.argv.slice(2);
if (!port || !clientId || !clientSecret || !scope) {
  console.error('usage: oidc_server.mjs PORT CLIENT_ID CLIENT_SECRET SCOPE');
  process.exit(2);
}

const resource = 'https://api.bench.invalid/';
// A signing key of our own, so the provider runs without its development keys.
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'ES256', kid: 'bench' };

const provider = new Provider(`http://127.0.0.1:${port}`, {
  jwks: { keys: [jwk] },
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
      scope,
    },
  ],
  scopes: scope.split(' '),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // A request that names no resource gets tokens for this one.
      defaultResource: () => resource,
      getResourceServerInfo: () => ({ scope, accessTokenFormat: 'opaque', accessTokenTTL: 3600 }),
    },
  },
  ttl: { ClientCredentials: 3600 },
});
provider.proxy = false;

const server = provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write('ready\n');
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
