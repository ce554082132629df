import test from 'ava';
import type { IdpParts } from '../src/index.ts';
import { TestClock, RP_LOGOUT_REDIRECT } from './helpers/idp.ts';
import { startHost, type MountedHost } from './helpers/host.ts';
import { discover, login, authorizationRequest, oidc } from './helpers/rp.ts';
import { formWith } from './helpers/browser.ts';
import { rawGet, languageLinks } from './helpers/raw-http.ts';

// A host application that owns its Koa app and its Provider, and mounts the IdP under /idp.
let host: MountedHost;
let parts: IdpParts;
let origin: string;
const clock = new TestClock();

test.before(async () => {
  host = await startHost({
    clock,
    before: (app) =>
      app.use(async (ctx, next) => {
        if (ctx.path === '/') {
          ctx.body = 'host home';
          return;
        }
        await next();
      }),
  });
  ({ parts, origin } = host);
  await parts.users.create({ username: 'carol', displayName: 'Carol', email: 'carol@example.org', password: 'carol password 1' });
});

test.after.always(async () => {
  await host?.close();
});

test('the host keeps its own routes', async (t) => {
  const res = await fetch(`${origin}/`);
  t.is(await res.text(), 'host home');
});

test('metrics are off by default: no metrics parts, and /metrics is left to the host (a 404 here)', async (t) => {
  t.is(parts.metrics, undefined);
  t.is(parts.httpMetrics, undefined);
  const res = await fetch(`${origin}/metrics`);
  t.is(res.status, 404);
  t.notRegex(await res.text(), /oidc_sspr_/);
});

test('discovery and endpoints live under the prefix', async (t) => {
  const config = await discover({ issuer: `${origin}/idp`, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const meta = config.serverMetadata();
  t.is(meta.issuer, `${origin}/idp`);
  t.is(meta.authorization_endpoint, `${origin}/idp/auth`);
  t.is(meta.token_endpoint, `${origin}/idp/token`);
});

test('a relying party signs in through the mounted IdP: code + PKCE, userinfo, refresh, RP-initiated logout', async (t) => {
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

  // RP-initiated logout, all the way: confirm, back to the client's post-logout URI, session gone.
  const sessionId = browser.cookie('_session');
  t.truthy(sessionId);
  t.truthy(await parts.store.oidc.find('Session', sessionId!, 0), 'the session is stored');
  const end = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: RP_LOGOUT_REDIRECT, state: 'bye' });
  const confirm = await browser.navigate(end.href);
  t.is(confirm.status, 200);
  t.regex(confirm.html, /\/idp\/assets\/site\.css/);
  const form = formWith(confirm, '/session/end/confirm');
  t.true(form.action.startsWith(`${origin}/idp/`), `the confirm form posts under the prefix: ${form.action}`);
  const done = await browser.navigate(form.action, { form: { ...form.fields, logout: 'yes' } });
  t.is(done.status, 0, 'the browser is sent back to the client');
  const back = new URL(done.url);
  t.is(`${back.origin}${back.pathname}`, RP_LOGOUT_REDIRECT);
  t.is(back.searchParams.get('state'), 'bye');

  // A new authorization asks for the password again: the IdP session is gone ...
  const again = await browser.navigate((await authorizationRequest(config)).url.href);
  t.is(again.status, 200);
  t.regex(again.html, /name="password"/);
  // ... and so is its row in the database.
  t.is(await parts.store.oidc.find('Session', sessionId!, 0), undefined);
});

test('the IdP pages under the prefix carry security headers and the IdP error page', async (t) => {
  const res = await fetch(`${origin}/idp/interaction/nope`, { headers: { Accept: 'text/html' } });
  t.is(res.status, 400);
  t.regex(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  t.regex(await res.text(), /session_expired/);
});

/** Polls `check` until it holds (the purge timer runs in the background); 30 s only bounds a hang. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return check();
}

// Serial, so it runs before the others: it moves the shared clock past the authorization code's
// 60 s lifetime, which a concurrent sign-in would meet as invalid_grant.
test.serial('mounted, parts.startPurge deletes expired rows on its timer until it is stopped', async (t) => {
  const oidcRows = parts.store.oidc;
  // find() with now = 0 sees a row whatever its expiry: it tells whether the row is still stored.
  const stored = async (id: string) => (await oidcRows.find('Interaction', id, 0)) !== undefined;
  await oidcRows.upsert('Interaction', 'purge-expired', { kind: 'Interaction' }, clock.now() + 60_000);
  await oidcRows.upsert('Interaction', 'purge-current', { kind: 'Interaction' }, clock.now() + 3_600_000);
  clock.advance(61_000);
  t.true(await stored('purge-expired'), 'nothing deletes it before the timer runs');

  const stop = parts.startPurge(20);
  try {
    t.true(await eventually(async () => !(await stored('purge-expired'))), 'the timer purged the expired row');
  } finally {
    stop();
  }
  t.true(await stored('purge-current'), 'rows that have not expired stay');

  // Stopped: a row that expires afterwards stays until the next purge.
  await oidcRows.upsert('Interaction', 'purge-after-stop', { kind: 'Interaction' }, clock.now() + 1000);
  clock.advance(2000);
  // No barrier to wait for: a cleared interval never fires. The pause gives a stop() that failed to
  // clear it the time to show (five periods); load can only make this check weaker, never fail it.
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.true(await stored('purge-after-stop'));
  t.true((await parts.purge()) >= 1);
  t.false(await stored('purge-after-stop'));
  t.throws(() => parts.startPurge(0), { instanceOf: RangeError });
});

test('mounted, the branded 404 links its languages under the prefix only (issue 13 #6)', async (t) => {
  for (const [target, expected] of [
    ['/idp//evil.example/reset', '/idp/evil.example/reset'],
    ['/idp/\\evil.example/reset', '/idp/evil.example/reset'],
    ['/idp/reset', '/idp/reset'],
  ] as const) {
    const page = await rawGet(origin, target);
    t.deepEqual(languageLinks(page.html), [expected], target);
  }
});
