// A real OpenID provider (npm `oidc-provider`) for SlugBase's OIDC tests, started by the
// Rust tests on 127.0.0.1. Real discovery document, JWKS, authorization endpoint with PKCE,
// token endpoint and RS256-signed ID tokens.
//
// Usage: node provider.js --port 4455 --client-id slugbase --client-secret s3cret \
//          --redirect-uri http://127.0.0.1:8080/api/auth/testidp/callback
//
// Test-only endpoints (plain HTTP on the same port, never part of a real provider):
//   POST /test/next-login   {"sub", "email", "email_verified", "name", "amr": [...]}
//        The account (and its claims) that the next login interaction signs in as; stays in
//        effect until replaced. The interaction finishes login and consent by itself.
//   POST /test/misbehave    {"mode": null | "wrong_nonce" | "wrong_audience" | "expired"
//                                   | "bad_signature" | "unknown_kid", "kid"?: string}
//        From now on the token endpoint's ID token is re-issued with that defect (signed with
//        the provider's current key, except bad_signature, which uses a key not in the JWKS
//        under the current key's kid, and unknown_kid, which uses a key not in the JWKS under
//        a kid that is not there either: "kid", default "forged-kid").
//   POST /test/rotate-keys  Key rotation: a new signing key with a new kid ("test-key-<n>")
//        replaces the current one, which leaves the JWKS at once; from now on every ID token
//        is signed with the new key. Answers {"kid"}. Sessions, codes and grants are kept.
//   GET  /test/jwks-fetches {"count"}: how many times the JWKS (jwks_uri) was requested.
//   POST /test/jwks-answer  {"mode": null | "huge"}: from now on the JWKS is served as
//        usual, or with the current key but padded to 2 MiB.
//   GET  /test/health       200 once listening.

import http from 'node:http';
import { parseArgs } from 'node:util';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    'client-id': { type: 'string', default: 'slugbase' },
    'client-secret': { type: 'string', default: 'slugbase-test-secret' },
    'redirect-uri': { type: 'string', multiple: true, default: [] },
  },
});

const port = Number(args.port);
if (!Number.isInteger(port) || port <= 0) {
  console.error('--port is required');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const { privateKey: strangerKey } = await jose.generateKeyPair('RS256');

/** sub -> claims */
const accounts = new Map();
let nextLogin = null;
let misbehaviour = null;
let forgedKid = 'forged-kid';
let jwksFetches = 0;
let jwksAnswer = null;

/** The current signing key: { privateKey, kid } (replaced by POST /test/rotate-keys). */
let signing = null;
/** The oidc-provider instance serving with the current key, and its request handler. */
let provider = null;
let callback = null;

async function newSigningKey(generation) {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const kid = `test-key-${generation}`;
  const jwk = { ...(await jose.exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  return { privateKey, kid, jwk };
}

// oidc-provider reads its keys once, at construction; rotating them means a new instance
// with the new key only. Its default (in-memory) adapter keeps sessions, interactions,
// codes and grants in storage shared by every instance of the process, so nothing else of
// the provider changes.
function newProvider(jwk) {
  const instance = new Provider(issuer, {
    clients: [
      {
        client_id: args['client-id'],
        client_secret: args['client-secret'],
        redirect_uris: args['redirect-uri'],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        // auth_time in every ID token (the re-authentication policy reads it).
        require_auth_time: true,
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: ['slugbase-test-cookie-key'] },
    // amr comes with the openid scope (in every ID token whose login had one); the scope
    // claims go into the ID token too (conformIdTokenClaims off): SlugBase reads them there.
    claims: {
      acr: null,
      auth_time: null,
      iss: null,
      sid: null,
      openid: ['sub', 'amr'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      const claims = accounts.get(sub);
      if (!claims) return undefined;
      return { accountId: sub, async claims() { return { ...claims, sub }; } };
    },
    // First-party test client: every requested scope is granted without a consent screen.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) {
        const grant = await ctx.oidc.provider.Grant.find(grantId);
        if (grant) return grant;
      }
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
    ttl: { IdToken: 3600, AccessToken: 3600, AuthorizationCode: 600, Session: 3600, Interaction: 600, Grant: 3600 },
  });
  // Plain HTTP on 127.0.0.1 is what the tests need; no proxy in front.
  instance.proxy = false;
  // The misbehaviour switch: rewrite the ID token of the token endpoint's answer.
  instance.use(async (ctx, next) => {
    await next();
    if (misbehaviour && ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token) {
      ctx.body = { ...ctx.body, id_token: await resign(ctx.body.id_token, misbehaviour) };
    }
  });
  return instance;
}

let generation = 0;
async function rotate() {
  generation += 1;
  signing = await newSigningKey(generation);
  provider = newProvider(signing.jwk);
  callback = provider.callback();
  return signing.kid;
}
await rotate();

async function resign(idToken, mode) {
  const claims = jose.decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  if (mode === 'wrong_nonce') claims.nonce = 'not-the-nonce-that-was-sent';
  if (mode === 'wrong_audience') claims.aud = 'some-other-client';
  if (mode === 'expired') {
    claims.iat = now - 7200;
    claims.exp = now - 3600;
  }
  const stranger = mode === 'bad_signature' || mode === 'unknown_kid';
  const key = stranger ? strangerKey : signing.privateKey;
  const kid = mode === 'unknown_kid' ? forgedKid : signing.kid;
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
    .sign(key);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (chunk) => { data += chunk; });
    req.on('end', () => {
      try { resolve(data ? JSON.parse(data) : {}); } catch (e) { reject(e); }
    });
    req.on('error', reject);
  });
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name !== 'login' && details.prompt.name !== 'consent') {
    return send(res, 400, { error: `unexpected prompt ${details.prompt.name}` });
  }
  if (details.prompt.name === 'consent') {
    // loadExistingGrant grants everything; a consent prompt means a missing claim or scope.
    return send(res, 400, { error: 'consent prompt', details: details.prompt.details });
  }
  if (!nextLogin) {
    return send(res, 409, { error: 'POST /test/next-login first' });
  }
  const { sub, amr, ...claims } = nextLogin;
  accounts.set(sub, claims);
  const login = { accountId: sub, remember: false };
  if (Array.isArray(amr) && amr.length > 0) login.amr = amr;
  return provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    if (url.pathname === '/test/health') return send(res, 200, { ok: true });
    if (url.pathname === '/test/next-login' && req.method === 'POST') {
      const body = await readJson(req);
      if (typeof body.sub !== 'string' || body.sub === '') {
        return send(res, 400, { error: 'sub is required' });
      }
      nextLogin = body;
      return send(res, 200, { ok: true });
    }
    if (url.pathname === '/test/misbehave' && req.method === 'POST') {
      const body = await readJson(req);
      misbehaviour = body.mode ?? null;
      forgedKid = typeof body.kid === 'string' ? body.kid : 'forged-kid';
      return send(res, 200, { ok: true, mode: misbehaviour });
    }
    if (url.pathname === '/test/rotate-keys' && req.method === 'POST') {
      return send(res, 200, { kid: await rotate() });
    }
    if (url.pathname === '/test/jwks-fetches') return send(res, 200, { count: jwksFetches });
    if (url.pathname === '/test/jwks-answer' && req.method === 'POST') {
      jwksAnswer = (await readJson(req)).mode ?? null;
      return send(res, 200, { ok: true, mode: jwksAnswer });
    }
    if (url.pathname === '/jwks') {
      jwksFetches += 1;
      if (jwksAnswer === 'huge') {
        const { kty, n, e, kid, alg, use } = signing.jwk;
        return send(res, 200, { keys: [{ kty, n, e, kid, alg, use }], padding: 'x'.repeat(2 << 20) });
      }
    }
    if (url.pathname.startsWith('/interaction/')) return await interaction(req, res);
    return callback(req, res);
  } catch (error) {
    console.error(error);
    if (!res.headersSent) send(res, 500, { error: String(error) });
    return undefined;
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`oidc test provider listening on ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
