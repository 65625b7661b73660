// Interop: what an MCP client does with a protected resource (RFC 9728 §5),
// with oauth4webapi, which nobody here wrote: call the resource without a
// good token, take resource_metadata from the 401 challenge, fetch that
// document and check its resource is the one expected. Run by
// t/69-resource-metadata.t:
//
//   node resource_metadata.mjs RESOURCE_URL EXPECTED_RESOURCE
//
// One JSON line to stdout: {"resource_metadata", "metadata"} | {"error"}.
import * as oauth from 'oauth4webapi';

const [resourceUrl, expectedResource] = process.argv.slice(2);
const insecure = { [oauth.allowInsecureRequests]: true };  // the test server speaks http on the loopback

try {
  let challenges;
  try {
    await oauth.protectedResourceRequest('not-a-token', 'GET', new URL(resourceUrl), new Headers(),
      null, insecure);
  } catch (e) {
    if (!(e instanceof oauth.WWWAuthenticateChallengeError)) throw e;
    challenges = e.cause;
  }
  const bearer = challenges?.find((c) => c.scheme === 'bearer');
  const where = bearer?.parameters?.resource_metadata;
  if (!where) throw new Error(`no resource_metadata in ${JSON.stringify(challenges)}`);
  const response = await fetch(where, { headers: { accept: 'application/json' } });
  const metadata = await oauth.processResourceDiscoveryResponse(new URL(expectedResource), response);
  console.log(JSON.stringify({ resource_metadata: where, metadata }));
} catch (e) {
  console.log(JSON.stringify({ error: `${e?.name}: ${e?.message} ${e?.code ?? ''}`.trim() }));
}
