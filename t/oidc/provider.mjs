// SPDX-License-Identifier: BSD-3-Clause
// A real OpenID provider for t/oidc.t: the npm package oidc-provider (OIDC_PROVIDER_DIR names its
// directory) on a loopback port, with one confidential client (weft), PKCE required, consent given
// automatically, and a login step that logs in the account the test names (GET /__test/user?u=NAME).
// For the refusal checks the test switches a mode (GET /__test/mode?m=...) under which the token endpoint's
// ID token is replaced by a real, signed one that is wrong in one way: another audience, expired, a
// tampered signature, signed with a new key that the key set then publishes (rotation), or with a key it
// never publishes. GET /__test/stats counts the key set's fetches.
//
// usage: node provider.mjs PORTFILE CLIENT_ID CLIENT_SECRET REDIRECT_URI
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const [portFile, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const root = process.env.OIDC_PROVIDER_DIR;
const { default: Provider } = await import(pathToFileURL(path.join(root, 'lib/index.js')).href);
const jose = createRequire(path.join(root, 'package.json'))('jose');

const accounts = {
  alice: { email: 'alice@example.com', email_verified: true, name: 'Alice Liddell', groups: ['staff', 'admins'] },
  bob: { email: 'bob@other.org', email_verified: true, name: 'Bob', groups: ['staff'] },
  dave: { email: 'dave@example.com', email_verified: true, name: 'Dave', groups: ['staff'] },
  // another subject showing alice's address: weft binds users to (issuer, subject), not to the address
  alice2: { email: 'alice@example.com', email_verified: true, name: 'Not Alice', groups: ['staff'] },
};

async function key(kid) {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await jose.exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const { d, p, q, dp, dq, qi, ...pub } = jwk;
  return { priv: privateKey, jwk, pub };
}
const k1 = await key('k1'), k2 = await key('k2'), k3 = await key('k3');

let mode = 'normal', user = 'alice', jwksFetches = 0, rotated = false;

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUri],
    grant_types: ['authorization_code'], response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [k1.jwk] },
  cookies: { keys: ['t-oidc-cookie-key'] },
  pkce: { required: () => true, methods: ['S256'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  conformIdTokenClaims: false, // the claims asked for by scope go into the ID token (weft reads no userinfo)
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    if (!accounts[id]) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...accounts[id] }; } };
  },
  async loadExistingGrant(ctx) { // consent is given: every scope asked for
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.params.scope || 'openid');
    await grant.save();
    return grant;
  },
});

async function resign(token, change, k) {
  const claims = { ...jose.decodeJwt(token), ...change };
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: k.jwk.kid }).sign(k.priv);
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/mode') {
    mode = ctx.query.m; rotated = rotated || mode === 'rotate'; ctx.body = { mode };
    return;
  }
  if (ctx.path === '/__test/user') { user = ctx.query.u; ctx.body = { user }; return; }
  if (ctx.path === '/__test/email') { accounts[ctx.query.u].email = ctx.query.e; ctx.body = accounts[ctx.query.u]; return; }
  if (ctx.path === '/__test/stats') { ctx.body = { jwks: jwksFetches, mode, user }; return; }
  if (ctx.path.startsWith('/interaction/')) { // the login page: the account the test named logs in
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const result = details.prompt.name === 'login' ? { login: { accountId: user } } : {};
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false }));
    return;
  }
  await next();
  if (ctx.path === '/jwks') {
    jwksFetches++;
    if (rotated) ctx.body = { keys: [k1.pub, k2.pub] };
  }
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body && ctx.body.id_token && mode !== 'normal') {
    const t = ctx.body.id_token, now = Math.floor(Date.now() / 1000);
    if (mode === 'wrong_aud') ctx.body.id_token = await resign(t, { aud: 'someone-else' }, k1);
    else if (mode === 'expired') ctx.body.id_token = await resign(t, { iat: now - 7200, exp: now - 3600 }, k1);
    else if (mode === 'rotate') ctx.body.id_token = await resign(t, {}, k2);
    else if (mode === 'unknown_kid') ctx.body.id_token = await resign(t, {}, k3);
    else if (mode === 'tampered') { // one character of the signature changed
      const [h, p, s] = t.split('.');
      const i = Math.floor(s.length / 2);
      ctx.body.id_token = `${h}.${p}.${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
    } else if (mode === 'claims_changed') { // the payload changed, the signature kept
      const [h, , s] = t.split('.');
      const claims = { ...jose.decodeJwt(t), email: 'mallory@example.com' };
      ctx.body.id_token = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    }
  }
});

server.on('request', provider.callback());
fs.writeFileSync(portFile + '.tmp', String(server.address().port));
fs.renameSync(portFile + '.tmp', portFile);
process.on('SIGTERM', () => process.exit(0));
