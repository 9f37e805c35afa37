// The peer of bench/run: node oidc-provider configured like bheem-sso is in the benchmark.
//
//   PORT=18081 node server.js
//
// One confidential client (client_secret_basic, authorization_code + refresh_token +
// client_credentials, PKCE S256 required, the same redirect URI), RS256 signing with a fresh
// RSA-2048 key, RS256 JWT access tokens (for the resource server `urn:bench:api`, which is how
// oidc-provider issues JWT access tokens), ID tokens with nonce/at_hash/sid, refresh tokens
// rotated on every use, introspection, revocation, userinfo, the built-in in-memory adapter.
// The login is its interaction flow with a password form of our own; the password is checked
// against an argon2id hash with bheem-sso's parameters (19 MiB, 2 passes, 1 lane), by the
// `argon2` package (the reference C implementation on libuv's thread pool). The first-party
// app is trusted the way bheem-sso's `skip_consent` does: its grant is created without asking.
import crypto from 'node:crypto';
import http from 'node:http';

import argon2 from 'argon2';
import Provider, { errors } from 'oidc-provider';

const port = Number(process.env.PORT || 18081);
const issuer = `http://127.0.0.1:${port}`;
const CLIENT_ID = process.env.BENCH_CLIENT_ID || 'bench';
const CLIENT_SECRET = process.env.BENCH_CLIENT_SECRET || 'bench-client-secret-0123456789';
const REDIRECT_URI = process.env.BENCH_REDIRECT_URI || 'http://127.0.0.1:9/cb';
const RESOURCE = 'urn:bench:api';
const ARGON2 = {
  type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1,
};

const USER = {
  id: crypto.randomUUID(),
  email: process.env.BENCH_USER_EMAIL || 'bench@example.com',
  username: 'bench',
  name: 'Bench User',
  companyId: process.env.BENCH_COMPANY_ID || '0b6c1f0e-2f57-4f43-9a49-6a0e2f1f3c55',
  role: 'member',
};
USER.hash = await argon2.hash(process.env.BENCH_USER_PASSWORD || 'bench-password-1', ARGON2);
// Verified against when the login names nobody, so that costs what a real check costs.
const DUMMY_HASH = await argon2.hash('a password nobody has', ARGON2);

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig' };
jwk.kid = crypto.createHash('sha256')
  .update(JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n }))
  .digest('base64url');

function findUser(login) {
  const l = String(login || '').trim().toLowerCase();
  return l === USER.email || l === USER.username ? USER : undefined;
}

const configuration = {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    client_name: 'Bench',
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    redirect_uris: [REDIRECT_URI],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  responseTypes: ['code'],
  scopes: ['openid', 'offline_access', 'profile', 'email', 'company'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    company: ['company_id', 'role'],
  },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client, oneOf) => oneOf,
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, resourceIndicator) {
        if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: 'api',
          audience: RESOURCE,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  // bheem-sso's access tokens carry company_id; so do these.
  extraTokenClaims(ctx, token) {
    return token.accountId === USER.id ? { company_id: USER.companyId } : undefined;
  },
  async findAccount(ctx, sub) {
    if (sub !== USER.id) return undefined;
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          email: USER.email,
          email_verified: true,
          name: USER.name,
          preferred_username: USER.username,
          company_id: USER.companyId,
          role: USER.role,
        };
      },
    };
  },
  // skip_consent: the bench client's grant is made without a consent page.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const grant = await ctx.oidc.provider.Grant.find(grantId);
      if (grant) return grant;
    }
    if (ctx.oidc.client.clientId !== CLIENT_ID || !ctx.oidc.session.accountId) return undefined;
    const grant = new ctx.oidc.provider.Grant({
      clientId: CLIENT_ID,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile email company offline_access');
    grant.addResourceScope(RESOURCE, 'api');
    await grant.save();
    return grant;
  },
  // bheem-sso issues a refresh token on every code exchange of this client (it asks for
  // offline_access) and rotates it on every use; oidc-provider drops offline_access without
  // prompt=consent, so it is told here to do the same.
  issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  ttl: {
    AccessToken: 600,
    ClientCredentials: 600,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 30 * 24 * 3600,
    Grant: 30 * 24 * 3600,
    Session: 7 * 24 * 3600,
    Interaction: 3600,
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
};

const provider = new Provider(issuer, configuration);
const callback = provider.callback();

function escape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(uid, login, error) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Sign in</title></head><body>
<h1>Sign in</h1>${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Email or username <input type="text" name="login" value="${escape(login || '')}" required></label>
<label>Password <input type="password" name="password" required></label>
<button type="submit">Sign in</button>
</form></body></html>`;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > 64 * 1024) reject(new Error('body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  res.setHeader('cache-control', 'no-store');
  if (req.method === 'GET' && !action) {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(loginPage(uid, details.params.login_hint));
    return;
  }
  if (req.method === 'POST' && action === 'login') {
    const form = new URLSearchParams(await readBody(req));
    const user = findUser(form.get('login'));
    const password = (form.get('password') || '').slice(0, 1024);
    const ok = await argon2.verify(user ? user.hash : DUMMY_HASH, password);
    if (!user || !ok) {
      res.statusCode = 401;
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(loginPage(uid, form.get('login'), 'The email, username or password is not right.'));
      return;
    }
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: user.id } },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  res.statusCode = 405;
  res.end();
}

const server = http.createServer((req, res) => {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?(?:\?|$)/.exec(req.url);
  if (!m) {
    callback(req, res);
    return;
  }
  interaction(req, res, m[1], m[2]).catch((err) => {
    if (!res.headersSent) {
      res.statusCode = err instanceof errors.SessionNotFound ? 400 : 500;
      res.setHeader('content-type', 'text/plain; charset=utf-8');
    }
    res.end(`interaction failed: ${err.message}`);
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ${issuer} (pid ${process.pid})`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
