import test from 'ava';
import { startIdp, RP_LOGOUT_REDIRECT, type RunningIdp } from './helpers/idp.ts';
import { discover, login, authorizationRequest, newBrowser, signIn, redeem, oidc } from './helpers/rp.ts';
import { formWith } from './helpers/browser.ts';

let idp: RunningIdp;

test.before(async () => {
  idp = await startIdp();
  const alice = await idp.idp.parts.users.create({ username: 'Alice', displayName: 'Alice Example', email: 'alice@example.org', password: 'correct horse battery' });
  await idp.idp.parts.users.addToGroup(alice.username, 'Staff');
  await idp.idp.parts.users.create({ username: 'bob', password: 'bob password 123' });
});
test.after.always(async () => {
  await idp?.close();
});

const confidential = () => discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });

test('discovery advertises code flow with S256 PKCE only', async (t) => {
  const config = await confidential();
  const meta = config.serverMetadata();
  t.is(meta.issuer, idp.issuer);
  t.deepEqual(meta.response_types_supported, ['code']);
  t.deepEqual(meta.code_challenge_methods_supported, ['S256']);
  t.truthy(meta.revocation_endpoint);
  t.truthy(meta.introspection_endpoint);
  t.truthy(meta.end_session_endpoint);
  const jwks = (await (await fetch(meta.jwks_uri!)).json()) as { keys: { kid: string; d?: string }[] };
  t.true(jwks.keys.length >= 1);
  t.false(jwks.keys.some((k) => 'd' in k), 'no private key material published');
});

test('confidential client: code + PKCE, id_token, userinfo, refresh, introspection, revocation', async (t) => {
  const config = await confidential();
  const { tokens } = await login(config, 'alice', 'correct horse battery', { scope: 'openid profile email groups offline_access', prompt: 'consent' });
  const claims = tokens.claims()!;
  const user = await idp.idp.parts.users.find('alice');
  t.is(claims.sub, user!.id);
  t.is(claims.iss, idp.issuer);
  t.truthy(tokens.refresh_token, 'offline_access gives a refresh token');

  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  t.is(info.preferred_username, 'Alice');
  t.is(info.name, 'Alice Example');
  t.is(info.email, 'alice@example.org');
  t.deepEqual(info.groups, ['Staff']);

  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  t.truthy(refreshed.access_token);
  t.not(refreshed.access_token, tokens.access_token);

  const active = await oidc.tokenIntrospection(config, refreshed.access_token);
  t.true(active.active);
  t.is(active.sub, claims.sub);

  await oidc.tokenRevocation(config, refreshed.access_token);
  const revoked = await oidc.tokenIntrospection(config, refreshed.access_token);
  t.false(revoked.active);
});

test('public client needs PKCE and gets tokens with it', async (t) => {
  const config = await discover({ issuer: idp.issuer, clientId: 'public-app' });
  const { tokens } = await login(config, 'bob', 'bob password 123');
  t.truthy(tokens.access_token);

  const auth = await authorizationRequest(config);
  const withoutPkce = new URL(auth.url);
  withoutPkce.searchParams.delete('code_challenge');
  withoutPkce.searchParams.delete('code_challenge_method');
  const page = await newBrowser().navigate(withoutPkce.href);
  t.is(page.status, 0, 'error goes back to the registered redirect_uri');
  t.regex(page.url, /error=invalid_request/);
  t.regex(decodeURIComponent(page.url), /PKCE/);
});

test('scopes gate claims', async (t) => {
  const config = await confidential();
  const { tokens } = await login(config, 'alice', 'correct horse battery', { scope: 'openid' });
  const info = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
  t.deepEqual(Object.keys(info), ['sub']);
  t.deepEqual(Object.keys(tokens.claims()!).filter((k) => !['iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'at_hash', 'sid', 'jti'].includes(k)), ['sub', 'acr', 'amr'], 'beyond the scope: only how the user authenticated');
});

test('SSPR data never appears in tokens, userinfo or introspection, whatever is asked for', async (t) => {
  // A user with every kind of recovery information registered.
  const carol = await idp.idp.parts.users.create({ username: 'carol', displayName: 'Carol Example', email: 'carol@example.org', password: 'carol password 123' });
  await idp.idp.parts.users.addToGroup('carol', 'Staff');
  const sspr = idp.idp.parts.store.sspr;
  const now = Date.now();
  await sspr.putMethod(carol.id, 'email', 'carol.recovery@example.net', now);
  await sspr.putMethod(carol.id, 'mobile_phone', '+31612345678', now);
  await sspr.putMethod(carol.id, 'office_phone', '+31201234567', now);
  await sspr.putMethod(carol.id, 'authenticator_app', 'v1.sealed-authenticator-secret', now);
  await sspr.replaceAnswers(
    carol.id,
    ['first-school', 'first-concert', 'parents-met-city'].map((questionId) => ({ questionId, answerHash: `$argon2id$v=19$m=7168,t=1,p=1$${questionId}-salt$hash` })),
    now,
  );
  await sspr.recordConfirmation(carol.id, now);

  const config = await confidential();
  const { tokens } = await login(config, 'carol', 'carol password 123', {
    scope: 'openid profile email groups offline_access',
    // Claims asked for by name, standard or not, get nothing either.
    claims: JSON.stringify({
      id_token: { phone_number: null, email: null, recovery_email: null },
      userinfo: { phone_number: null, phone_number_verified: null, address: null, sspr: null },
    }),
    prompt: 'consent',
  });
  const sub = tokens.claims()!.sub;
  t.is(sub, carol.id);
  const info = await oidc.fetchUserInfo(config, tokens.access_token, sub);
  t.is(info.email, 'carol@example.org', 'the directory address, not the recovery one');
  t.deepEqual(info.groups, ['Staff']);
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  const seen = JSON.stringify({
    id: tokens.claims(),
    info,
    refreshedId: refreshed.claims(),
    access: await oidc.tokenIntrospection(config, tokens.access_token),
    refresh: await oidc.tokenIntrospection(config, refreshed.refresh_token ?? tokens.refresh_token!),
  });
  for (const secret of ['carol.recovery', '612345678', '201234567', 'sealed-authenticator', 'first-school', 'first-concert', 'parents-met-city', 'argon2']) {
    t.false(seen.includes(secret), `${secret} leaked`);
  }
  t.notRegex(seen, /phone|question|authenticator|totp|password|sspr|recovery/i);
});

test('third-party client shows consent; Allow continues, Deny returns access_denied', async (t) => {
  const config = await discover({ issuer: idp.issuer, clientId: 'third-party-app', clientSecret: 'third-party-app-secret-0123456789', authMethod: 'client_secret_post' });
  const browser = newBrowser();
  const auth = await authorizationRequest(config);
  let page = await browser.navigate(auth.url.href);
  page = await signIn(browser, page, 'bob', 'bob password 123');
  t.is(page.status, 200);
  t.regex(page.html, /Third Party App/);
  t.regex(page.html, /Allow access/);
  page = await browser.submit(page, '/confirm');
  t.is(page.status, 0);
  const tokens = await redeem(config, auth, page.url);
  t.truthy(tokens.access_token);

  // A second sign-in in a fresh browser: consent is remembered per grant only within the session, so deny it this time.
  const other = newBrowser();
  const auth2 = await authorizationRequest(config, { scope: 'openid email' });
  let page2 = await other.navigate(auth2.url.href);
  page2 = await signIn(other, page2, 'bob', 'bob password 123');
  page2 = await other.submit(page2, '/abort');
  t.is(page2.status, 0);
  t.regex(page2.url, /error=access_denied/);
});

test('cancel on the sign-in page returns access_denied to the client', async (t) => {
  const config = await confidential();
  const browser = newBrowser();
  const auth = await authorizationRequest(config);
  const page = await browser.navigate(auth.url.href);
  t.regex(page.html, /Can(&#39;|')t access your account\?/);
  const back = await browser.submit(page, '/abort');
  t.is(back.status, 0);
  t.regex(back.url, /error=access_denied/);
  t.regex(back.url, new RegExp(`state=${auth.state}`));
});

test('RP-initiated logout ends the session', async (t) => {
  const config = await confidential();
  const { tokens, browser } = await login(config, 'alice', 'correct horse battery');
  const endUrl = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: RP_LOGOUT_REDIRECT });
  const confirm = await browser.navigate(endUrl.href);
  t.is(confirm.status, 200);
  t.regex(confirm.html, /sign out/i);
  const form = formWith(confirm, '/session/end/confirm');
  const done = await browser.navigate(form.action, { form: { ...form.fields, logout: 'yes' } });
  t.is(done.status, 0);
  t.true(done.url.startsWith(RP_LOGOUT_REDIRECT));

  // The session is gone: a new authorization shows the sign-in page again.
  const auth = await authorizationRequest(config);
  const again = await browser.navigate(auth.url.href);
  t.is(again.status, 200);
  t.regex(again.html, /name="password"/);
});

test('an existing session signs in without the form (SSO)', async (t) => {
  const config = await confidential();
  const { browser } = await login(config, 'alice', 'correct horse battery');
  const auth = await authorizationRequest(config);
  const page = await browser.navigate(auth.url.href);
  t.is(page.status, 0);
  const tokens = await redeem(config, auth, page.url);
  t.truthy(tokens.id_token);
});

test('oidc_payloads holds no usable id: no row id or payload equals a token, code or session cookie, and the flow still works', async (t) => {
  const config = await confidential();
  const { tokens, browser, callbackUrl } = await login(config, 'alice', 'correct horse battery', { scope: 'openid offline_access', prompt: 'consent' });
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  const code = new URL(callbackUrl).searchParams.get('code')!;
  const session = browser.cookie('_session');
  t.truthy(session, 'the browser holds a session cookie');
  const secrets = [tokens.access_token, tokens.refresh_token!, refreshed.access_token, refreshed.refresh_token!, code, session!, ...browser.cookieValuesSeen()];
  const rows = await idp.idp.parts.store.db('oidc_payloads').select('model', 'id', 'grant_id', 'payload');
  t.true(rows.some((r) => r.model === 'Session') && rows.some((r) => r.model === 'RefreshToken') && rows.some((r) => r.model === 'AccessToken'));
  for (const row of rows) {
    for (const secret of secrets) {
      t.not(row.id, secret, `${row.model} row id is not a token or cookie value`);
      t.false(String(row.payload).includes(secret), `${row.model} payload holds no token or cookie value`);
    }
  }

  // The session (found by its hashed id) still signs in silently; tokens still work until revoked.
  const auth = await authorizationRequest(config, { prompt: 'none' });
  const silent = await browser.navigate(auth.url.href);
  t.regex(silent.url, /[?&]code=/, 'prompt=none finds the session');
  t.truthy((await oidc.fetchUserInfo(config, refreshed.access_token, tokens.claims()!.sub)).sub);
  await oidc.tokenRevocation(config, refreshed.refresh_token!);
  await t.throwsAsync(oidc.refreshTokenGrant(config, refreshed.refresh_token!), undefined, 'a revoked refresh token is refused');
});

const withoutPkce = (auth: { url: URL }) => {
  const url = new URL(auth.url);
  url.searchParams.delete('code_challenge');
  url.searchParams.delete('code_challenge_method');
  return url.href;
};

test('oidc.requirePkce: by default (public) a confidential client may omit PKCE; with `all` it gets invalid_request', async (t) => {
  const lenient = await newBrowser().navigate(withoutPkce(await authorizationRequest(await confidential())));
  t.is(lenient.status, 200, 'default: the sign-in page, no error');
  t.regex(lenient.html, /name="password"/);

  const strict = await startIdp({ config: { oidc: { requirePkce: 'all' } } });
  try {
    await strict.idp.parts.users.create({ username: 'carol', password: 'carol password 123' });
    const config = await discover({ issuer: strict.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
    const page = await newBrowser().navigate(withoutPkce(await authorizationRequest(config)));
    t.is(page.status, 0, 'the error goes back to the registered redirect_uri');
    const back = new URL(page.url);
    t.is(back.searchParams.get('error'), 'invalid_request');
    t.regex(back.searchParams.get('error_description') ?? '', /PKCE/);
    const { tokens } = await login(config, 'carol', 'carol password 123');
    t.truthy(tokens.access_token, 'with PKCE the confidential client signs in');
  } finally {
    await strict.close();
  }
});
