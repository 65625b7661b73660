// Figure J4's peer: the check of the gate's JWTs done in njs, as NGINX's own
// examples do it: `auth_request` to a location whose js_content verifies the
// token with WebCrypto. The key comes from the JWK Set (x, y and kid in
// variables the bench sets); njs 0.7.9 imports an EC key as SPKI only, not as
// a JWK, so the point is wrapped in P-256's SPKI header. njs keeps nothing
// between requests, so it imports the key and verifies the signature on every
// request: it has no verdict cache to offer.
const P256_SPKI_HEADER = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const JWS = /^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;

function part(text) {
    return JSON.parse(Buffer.from(text, 'base64url').toString());
}

// The checks of our gate (RFC 9068 §4, RFC 8725): header, issuer, lifetime,
// subject, then the scope; 401 or 403 as the gate answers.
function refusal(header, claims, v, now) {
    if (header.alg !== 'ES256' || header.typ !== 'at+jwt' || header.kid !== v.bench_jwk_kid ||
        header.crit !== undefined || claims.iss !== v.bench_issuer ||
        typeof claims.exp !== 'number' || claims.exp <= now ||
        (claims.nbf !== undefined && claims.nbf > now) || typeof claims.sub !== 'string') {
        return 401;
    }
    return (' ' + (claims.scope || '') + ' ').includes(' reports:read ') ? 0 : 403;
}

async function verify(r) {
    const m = (r.headersIn.Authorization || '').match(JWS);
    let header, claims;
    try {
        header = part(m[1]);
        claims = part(m[2]);
    } catch (e) {
        r.return(401);
        return;
    }
    const v = r.variables;
    const status = refusal(header, claims, v, Math.floor(Date.now() / 1000));
    if (status) {
        r.return(status);
        return;
    }
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(v.bench_jwk_x, 'base64url'),
                                 Buffer.from(v.bench_jwk_y, 'base64url')]);
    const key = await crypto.subtle.importKey('spki', Buffer.concat([P256_SPKI_HEADER, point]),
                                              {name: 'ECDSA', namedCurve: 'P-256'}, false, ['verify']);
    const ok = await crypto.subtle.verify({name: 'ECDSA', hash: 'SHA-256'}, key,
                                          Buffer.from(m[3], 'base64url'),
                                          Buffer.from(m[1] + '.' + m[2]));
    r.return(ok ? 204 : 401);
}

export default {verify, refusal};  // refusal: dpop_gate.js checks the token alike
