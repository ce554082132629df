import test from 'ava';
import http from 'node:http';
import Koa from 'koa';
import mount from 'koa-mount';
import Provider from 'oidc-provider';
import { createIdpParts, type IdpParts } from '../src/index.ts';
import { createLogger } from '../src/logging.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { buildConfig, listen, closeServer } from './helpers/idp.ts';
import { discover, login, oidc } from './helpers/rp.ts';

// A host application that owns its Koa app and its Provider, and mounts the IdP under /idp.
let server: http.Server;
let parts: IdpParts;
let db: TestDatabase;
let origin: string;

test.before(async () => {
  db = await freshDatabase();
  server = http.createServer();
  origin = `http://127.0.0.1:${await listen(server)}`;
  const config = buildConfig(`${origin}/idp`, db);
  parts = await createIdpParts(config, { logger: createLogger('silent') });

  const provider = new Provider(`${origin}/idp`, { ...parts.providerConfiguration() });
  const host = new Koa();
  host.keys = parts.cookieSigner;
  host.use(async (ctx, next) => {
    if (ctx.path === '/') {
      ctx.body = 'host home';
      return;
    }
    await next();
  });
  host.use(mount('/idp', parts.middleware(provider)));
  server.on('request', host.callback());

  await parts.users.create({ username: 'carol', displayName: 'Carol', email: 'carol@example.org', password: 'carol password 1' });
});

test.after.always(async () => {
  await closeServer(server);
  await parts?.close();
  await db?.cleanup();
});

test('the host keeps its own routes', async (t) => {
  const res = await fetch(`${origin}/`);
  t.is(await res.text(), 'host home');
});

test('discovery and endpoints live under the prefix', async (t) => {
  const config = await discover({ issuer: `${origin}/idp`, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const meta = config.serverMetadata();
  t.is(meta.issuer, `${origin}/idp`);
  t.is(meta.authorization_endpoint, `${origin}/idp/auth`);
  t.is(meta.token_endpoint, `${origin}/idp/token`);
});

test('a relying party signs in through the mounted IdP: code + PKCE, userinfo, refresh, logout', async (t) => {
  const config = await discover({ issuer: `${origin}/idp`, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const { tokens, browser } = await login(config, 'carol', 'carol password 1', { scope: 'openid profile email offline_access', prompt: 'consent' });
  const claims = tokens.claims()!;
  t.is(claims.iss, `${origin}/idp`);
  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  t.is(info.email, 'carol@example.org');
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  t.truthy(refreshed.access_token);

  // The interaction cookie is scoped under the prefix.
  t.true(browser.cookieNames().some((n) => n.startsWith('_session')));

  const end = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token! });
  const confirm = await browser.navigate(end.href);
  t.is(confirm.status, 200);
  t.regex(confirm.html, /\/idp\/assets\/site\.css/);
});

test('the IdP pages under the prefix carry security headers and the IdP error page', async (t) => {
  const res = await fetch(`${origin}/idp/interaction/nope`, { headers: { Accept: 'text/html' } });
  t.is(res.status, 400);
  t.regex(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  t.regex(await res.text(), /session_expired/);
});
