// Figure K4's peer: the DPoP check of our gate (RFC 9449 §4.3, §7.1) done in
// njs behind auth_request, as jwt_gate.js does the JWT check: the access
// token as jwt_gate.js checks it (our ES256 key, header, claims, scope) and
// bound to a key (cnf.jkt), then the proof: typ dpop+jwt, alg ES256, a public
// P-256 jwk (no "d"), its signature by that jwk, htm, htu (this server's
// scheme, Host and path), iat at most 60 s old and 30 s ahead, a jti of 1-256
// characters, ath = base64url(SHA-256(token)) and the jwk's RFC 7638
// thumbprint = cnf.jkt. njs 0.7.9 has no shared dictionary
// (js_shared_dict_zone came with njs 0.8.0) and keeps nothing between
// requests, so the jti is not remembered: no replay check, which our gate
// does (a write under the zone's lock each request). Each request imports
// both keys and verifies both signatures: it has no verdict cache either.
import jwt_gate from 'jwt_gate.js';

const P256_SPKI_HEADER = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const DPOP = /^DPoP ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;
const JWS = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;

function part(text) {
    return JSON.parse(Buffer.from(text, 'base64url').toString());
}

function b64url(bytes) {
    return Buffer.from(bytes).toString('base64url');
}

function p256Key(x, y) {
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(x, 'base64url'), Buffer.from(y, 'base64url')]);
    return crypto.subtle.importKey('spki', Buffer.concat([P256_SPKI_HEADER, point]),
                                   {name: 'ECDSA', namedCurve: 'P-256'}, false, ['verify']);
}

async function es256Verifies(x, y, m) {
    const key = await p256Key(x, y);
    return crypto.subtle.verify({name: 'ECDSA', hash: 'SHA-256'}, key, Buffer.from(m[3], 'base64url'),
                                Buffer.from(m[1] + '.' + m[2]));
}

// The proof's own checks, before any signature: 0 when it may be verified.
function proofRefused(header, claims, r, now) {
    const jwk = header.jwk || {};
    const htu = r.variables.scheme + '://' + r.headersIn.Host + r.variables.request_uri.split('?')[0];
    return header.typ !== 'dpop+jwt' || header.alg !== 'ES256' || jwk.kty !== 'EC' ||
           jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string' ||
           jwk.d !== undefined || claims.htm !== r.variables.request_method || claims.htu !== htu ||
           typeof claims.iat !== 'number' || claims.iat < now - 60 || claims.iat > now + 30 ||
           typeof claims.jti !== 'string' || claims.jti.length < 1 || claims.jti.length > 256;
}

async function verify(r) {
    const token = (r.headersIn.Authorization || '').match(DPOP);
    const proof = (r.headersIn.DPoP || '').match(JWS);
    let header, claims, proofHeader, proofClaims;
    try {
        header = part(token[1]);
        claims = part(token[2]);
        proofHeader = part(proof[1]);
        proofClaims = part(proof[2]);
    } catch (e) {
        r.return(401);
        return;
    }
    const v = r.variables;
    const now = Math.floor(Date.now() / 1000);
    const status = jwt_gate.refusal(header, claims, v, now);
    if (status || !claims.cnf || typeof claims.cnf.jkt !== 'string' ||
        proofRefused(proofHeader, proofClaims, r, now)) {
        r.return(status || 401);
        return;
    }
    const jwk = proofHeader.jwk;
    const tokenText = token[1] + '.' + token[2] + '.' + token[3];
    // RFC 7638: the members crv, kty, x, y in this order, no whitespace
    const thumbprintInput = '{"crv":"P-256","kty":"EC","x":"' + jwk.x + '","y":"' + jwk.y + '"}';
    const ath = await crypto.subtle.digest('SHA-256', Buffer.from(tokenText));
    const jkt = await crypto.subtle.digest('SHA-256', Buffer.from(thumbprintInput));
    if (proofClaims.ath !== b64url(ath) || claims.cnf.jkt !== b64url(jkt)) {
        r.return(401);
        return;
    }
    const tokenOk = await es256Verifies(v.bench_jwk_x, v.bench_jwk_y, token);
    const proofOk = tokenOk && await es256Verifies(jwk.x, jwk.y, proof);
    r.return(proofOk ? 204 : 401);
}

export default {verify};
