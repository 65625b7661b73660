// Mints the bench's ES256 JWSs, each usable once: private_key_jwt client
// assertions (figure K1) and DPoP proofs (K3, K4). Python's standard library
// cannot sign ES256, and a process per JWS would take longer than the sample
// it feeds, so bench.py keeps this one running (node, no npm package) and
// asks it for a file before each sample, one request a line on stdin:
//
//   {"out": PATH, "count": N, "exp_in": SECONDS (optional),
//    "items": [{"key": PEM_PATH, "header": {...}, "claims": {...},
//               "prefix": TEXT, "jwk_in_header": BOOL}, ...]}
//
// Line i of PATH is items[i % items.length].prefix followed by a JWS of the
// item's header and claims, plus a fresh "jti" and "iat" (now) and, with
// exp_in, "exp" (now + exp_in): made just before the sample, so that the
// assertions' exp and the proofs' iat are fresh when the gate sees them.
// With jwk_in_header, the header carries the key's public JWK (a DPoP proof).
// Answers "ok N" on stdout once PATH is written, "error TEXT" if it failed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import readline from 'node:readline';

const keys = new Map();

function keyOf(path) {
    if (!keys.has(path)) {
        const privateKey = crypto.createPrivateKey(fs.readFileSync(path));
        const {kty, crv, x, y} = crypto.createPublicKey(privateKey).export({format: 'jwk'});
        keys.set(path, {privateKey, jwk: {kty, crv, x, y}});
    }
    return keys.get(path);
}

const segment = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

function jws(item, now, expIn) {
    const key = keyOf(item.key);
    const header = item.jwk_in_header ? {...item.header, jwk: key.jwk} : item.header;
    const claims = {...item.claims, jti: crypto.randomBytes(16).toString('base64url'), iat: now};
    if (expIn) {
        claims.exp = now + expIn;
    }
    const input = segment(header) + '.' + segment(claims);
    const signature = crypto.sign('sha256', Buffer.from(input),
                                  {key: key.privateKey, dsaEncoding: 'ieee-p1363'});
    return input + '.' + signature.toString('base64url');
}

function mint(request) {
    const now = Math.floor(Date.now() / 1000);
    const lines = [];
    for (let i = 0; i < request.count; i++) {
        const item = request.items[i % request.items.length];
        lines.push((item.prefix || '') + jws(item, now, request.exp_in) + '\n');
    }
    fs.writeFileSync(request.out, lines.join(''));
    return lines.length;
}

const input = readline.createInterface({input: process.stdin});
input.on('line', (line) => {
    try {
        process.stdout.write('ok ' + mint(JSON.parse(line)) + '\n');
    } catch (e) {
        process.stdout.write('error ' + String(e.message).replace(/\n/g, ' ') + '\n');
    }
});
process.stdout.write('ready\n');
