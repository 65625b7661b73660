// A real RFC 9068 issuer for t/90-oidc-provider.t: node
// oidc-provider over https, with the client credentials grant and JWT access
// tokens for a resource (its resource indicators feature).
//
// usage: node oidc_provider.mjs key FILE KID          a private RSA JWK into FILE
//        node oidc_provider.mjs serve PORT CERT KEY JWK_FILE...
//            the first JWK signs; all are published at /jwks
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const [command, ...args] = process.argv.slice(2);

if (command === 'key') {
    const [file, kid] = args;
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(file, JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }));
} else if (command === 'serve') {
    const [port, cert, key, ...jwkFiles] = args;
    const issuer = `https://127.0.0.1:${port}`;
    const resource = 'https://api.example';
    const provider = new Provider(issuer, {
        clients: [{
            client_id: 'svc',
            client_secret: 'svc-secret',
            grant_types: ['client_credentials'],
            redirect_uris: [],
            response_types: [],
        }],
        jwks: { keys: jwkFiles.map((file) => JSON.parse(readFileSync(file, 'utf8'))) },
        scopes: ['read'],
        features: {
            devInteractions: { enabled: false },
            clientCredentials: { enabled: true },
            resourceIndicators: {
                enabled: true,
                defaultResource: () => resource,
                useGrantedResource: () => true,
                getResourceServerInfo: () => ({
                    scope: 'read',
                    accessTokenFormat: 'jwt',
                    jwt: { sign: { alg: 'RS256' } },
                }),
            },
        },
    });
    https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, provider.callback())
        .listen(Number(port), '127.0.0.1', () => console.log(`listening on ${issuer}`));
} else {
    console.error('usage: oidc_provider.mjs key FILE KID | serve PORT CERT KEY JWK_FILE...');
    process.exit(2);
}
