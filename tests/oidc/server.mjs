// A Keycloak-shaped OpenID provider for Keyway's tests: the real,
// OpenID-certified `oidc-provider` behind Keycloak's issuer
// (`/realms/<realm>`) and paths (`/protocol/openid-connect/...`).
//
// Env: REALMS (comma-separated, default "keyway"), AUDIENCE (default
// "keyway"), CLIENT_SECRET, TOKEN_TYP ("JWT" to send Keycloak's header type
// instead of RFC 9068's "at+jwt"). Prints one JSON line `{"port": N}` once
// it listens on 127.0.0.1 (PORT, default any free port).
//
// Browser sign-in (the console's authorization code + PKCE): set
// CONSOLE_REDIRECT_URI to register the public client CONSOLE_CLIENT_ID
// (default "keyway-console"; PKCE S256 required; confidential with
// CONSOLE_CLIENT_SECRET, public otherwise) with that one redirect URI. There is no login form: every authorization request signs
// in TEST_USER (JSON claims, at least "sub", e.g. {"sub": "u1",
// "organization": ["acme"], "realm_access": {"roles": ["admin"]}}) at once,
// so a test can follow the redirects without a browser. The user's claims
// go into the access token as Keycloak puts them there.
//
// Every start makes new signing keys, as an IdP restart after a key
// rotation would. Test-only routes sit outside the realms:
//   POST /test/realms/<realm>/sign  {header, claims, signer}
//        signs a token with the realm's key (signer "realm", default), with a
//        key nobody publishes ("stranger"), or as HS256 keyed with the realm's
//        public key PEM ("hs256-public-key", the classic confusion attack).
//   POST /test/down, POST /test/up
//        make every realm route answer 503 (the IdP is down) and back.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const realms = (process.env.REALMS || 'keyway').split(',').map((r) => r.trim()).filter(Boolean);
const audience = process.env.AUDIENCE || 'keyway';
const clientSecret = process.env.CLIENT_SECRET || 'keyway-test-secret';
const tokenTyp = process.env.TOKEN_TYP;
const consoleClientId = process.env.CONSOLE_CLIENT_ID || 'keyway-console';
const consoleRedirect = process.env.CONSOLE_REDIRECT_URI;
const consoleSecret = process.env.CONSOLE_CLIENT_SECRET;
const testUser = JSON.parse(process.env.TEST_USER || '{"sub": "test-user"}');
let down = false;
// oidc-provider prints notices now and then; a test that stopped reading
// our stdout must not make that a crash.
process.stdout.on('error', () => {});

const stranger = await jose.generateKeyPair('RS256', { extractable: true });
const byRealm = new Map();

async function realm(name, origin) {
  const { privateKey, publicKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await jose.exportJWK(privateKey)), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };
  const issuer = `${origin}/realms/${name}`;
  const provider = new Provider(issuer, {
    jwks: { keys: [jwk] },
    clients: [{
      client_id: 'keyway-service',
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      keyway_claims: { realm_access: { roles: ['platform-admin'] } },
    }, ...(consoleRedirect ? [{
      client_id: consoleClientId,
      ...(consoleSecret
        ? { client_secret: consoleSecret, token_endpoint_auth_method: 'client_secret_basic' }
        : { token_endpoint_auth_method: 'none' }),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [consoleRedirect],
    }] : [])],
    extraClientMetadata: { properties: ['keyway_claims'] },
    // Keycloak's claim layout: the service account's roles on its token, the
    // signed-in user's claims on a user's token.
    extraTokenClaims: (ctx, token) => ({
      azp: token.clientId,
      ...(ctx.oidc.client?.keyway_claims || {}),
      ...(token.accountId ? userClaims(token.accountId) : {}),
    }),
    findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
    pkce: { required: () => true },
    interactions: { url: (ctx, interaction) => `/realms/${name}/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:keyway:api',
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          audience, scope: '', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    formats: { customizers: { jwt: (ctx, token, jwt) => { if (tokenTyp) jwt.header.typ = tokenTyp; return jwt; } } },
    routes: {
      authorization: '/protocol/openid-connect/auth',
      token: '/protocol/openid-connect/token',
      jwks: '/protocol/openid-connect/certs',
      userinfo: '/protocol/openid-connect/userinfo',
      end_session: '/protocol/openid-connect/logout',
      revocation: '/protocol/openid-connect/revoke',
      introspection: '/protocol/openid-connect/token/introspect',
    },
  });
  return { provider, callback: provider.callback(), privateKey, publicKey, kid: jwk.kid, issuer };
}

// The test user's claims other than `sub`, for the user `id`.
function userClaims(id) {
  const { sub, ...claims } = testUser;
  return id === sub ? claims : {};
}

// Every interaction (login, consent) ends at once: TEST_USER signs in and
// grants the console `openid` and the API's audience.
async function autoLogin(r, req, res) {
  const details = await r.provider.interactionDetails(req, res);
  const grant = new r.provider.Grant({ accountId: testUser.sub, clientId: details.params.client_id });
  grant.addOIDCScope('openid');
  grant.addResourceScope('urn:keyway:api', '');
  const grantId = await grant.save();
  await r.provider.interactionFinished(req, res, {
    login: { accountId: testUser.sub },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

async function sign(r, { header = {}, claims = {}, signer = 'realm' }) {
  const payload = new TextEncoder().encode(JSON.stringify(claims));
  if (signer === 'hs256-public-key') {
    const pem = new TextEncoder().encode(await jose.exportSPKI(r.publicKey));
    return new jose.CompactSign(payload).setProtectedHeader({ typ: 'JWT', ...header, alg: 'HS256' }).sign(pem);
  }
  const key = signer === 'stranger' ? stranger.privateKey : r.privateKey;
  return new jose.CompactSign(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: r.kid, ...header }).sign(key);
}

function body(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => { try { resolve(data ? JSON.parse(data) : {}); } catch (e) { reject(e); } });
  });
}

function reply(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

async function testRoute(req, res) {
  if (req.url === '/test/down' || req.url === '/test/up') {
    down = req.url === '/test/down';
    return reply(res, 200, { down });
  }
  const m = req.url.match(/^\/test\/realms\/([^/]+)\/sign$/);
  const r = m && byRealm.get(m[1]);
  if (!r) return reply(res, 404, { error: 'no such test route or realm' });
  return reply(res, 200, { token: await sign(r, await body(req)), kid: r.kid, issuer: r.issuer });
}

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/test/')) {
    testRoute(req, res).catch((e) => reply(res, 500, { error: String(e) }));
    return;
  }
  const m = req.url.match(/^\/realms\/([^/?]+)(.*)$/);
  const r = m && byRealm.get(m[1]);
  if (!r) return reply(res, 404, { error: 'unknown realm' });
  if (down) return reply(res, 503, { error: 'down for the test' });
  if (/^\/interaction\/[^/?]+$/.test(m[2])) {
    autoLogin(r, req, res).catch((e) => reply(res, 400, { error: String(e) }));
    return;
  }
  // oidc-provider ignores the issuer's path when it routes: hand it the
  // path below the realm, and the original URL for the links it prints.
  req.originalUrl = req.url;
  req.url = m[2] || '/';
  r.callback(req, res);
});

server.listen(Number(process.env.PORT || 0), '127.0.0.1', async () => {
  const { port } = server.address();
  const origin = `http://127.0.0.1:${port}`;
  for (const name of realms) byRealm.set(name, await realm(name, origin));
  process.stdout.write(`${JSON.stringify({ port, realms: [...byRealm.values()].map((r) => r.issuer) })}\n`);
});
