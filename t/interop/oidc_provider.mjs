// node oidc-provider as a real RFC 9068 issuer on loopback, over https with a
// certificate the test makes: the client credentials grant, resource
// indicators (RFC 8707), JWT access tokens signed RS256.
//
// usage: node oidc_provider.mjs key FILE KID
//            a private RSA JWK set of one key, into FILE
//        node oidc_provider.mjs serve PORT CERT KEY JWKS_FILE CLIENT_ID SECRET RESOURCE
//            serves https://127.0.0.1:PORT until killed
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import Provider from 'oidc-provider';

const [command, ...args] = process.argv.slice(2);

if (command === 'key') {
  const [file, kid] = args;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
  writeFileSync(file, JSON.stringify({ keys: [jwk] }));
} else if (command === 'serve') {
  const [port, cert, key, jwksFile, clientId, secret, resource] = args;
  const scope = 'reports:read';
  const provider = new Provider(`https://127.0.0.1:${port}`, {
    clients: [{
      client_id: clientId, client_secret: secret, grant_types: ['client_credentials'],
      redirect_uris: [], response_types: [], scope,
    }],
    jwks: JSON.parse(readFileSync(jwksFile, 'utf8')),
    scopes: [scope],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => ({
          scope, audience: indicator, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
  });
  createServer({ cert: readFileSync(cert), key: readFileSync(key) }, provider.callback())
    .listen(Number(port), '127.0.0.1');
} else {
  console.error('usage: node oidc_provider.mjs key FILE KID | serve PORT CERT KEY JWKS_FILE CLIENT_ID SECRET RESOURCE');
  process.exit(2);
}
