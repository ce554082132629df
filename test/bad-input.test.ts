import test from 'ava';
import { RP_REDIRECT } from './helpers/idp.ts';
import { idpBed } from './helpers/once-per-file.ts';
import { rawGet, languageLinks } from './helpers/raw-http.ts';
import { discover, authorizationRequest, newBrowser } from './helpers/rp.ts';
import { formWith, type Page } from './helpers/browser.ts';

const idp = idpBed({}, (idp) => idp.idp.parts.users.create({ username: 'ivan', password: 'ivan password 12' }));

/** No 5xx, no stack trace, no internal error text. */
function assertClean(t: import('ava').ExecutionContext, page: Page, label: string) {
  t.true(page.status < 500, `${label}: status ${page.status}`);
  t.notRegex(page.html, /\n\s+at [\w.<>]+ \(|node_modules|TypeError|ReferenceError|SQLITE|knex/i, `${label}: no internals leak`);
}

async function loginPage() {
  const config = await discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const browser = newBrowser();
  const page = await browser.navigate((await authorizationRequest(config)).url.href);
  return { browser, page, form: formWith(page, '/login') };
}

test('unknown client and mismatched redirect_uri get an error page, not a redirect', async (t) => {
  const browser = newBrowser();
  const unknown = await browser.navigate(`${idp.issuer}/auth?client_id=nope&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(RP_REDIRECT)}`);
  t.is(unknown.status, 400);
  t.regex(unknown.html, /invalid_client/);
  assertClean(t, unknown, 'unknown client');

  const evil = await browser.navigate(`${idp.issuer}/auth?client_id=confidential-app&response_type=code&scope=openid&redirect_uri=${encodeURIComponent('https://evil.example/cb')}`);
  t.is(evil.status, 400, 'never redirects to an unregistered URI');
  t.regex(evil.html, /redirect_uri/);
  assertClean(t, evil, 'bad redirect');
});

test('sign-in form: missing, empty, oversized, unicode and control-character values', async (t) => {
  const cases: [string, Record<string, string>][] = [
    ['missing username', { password: 'x' }],
    ['missing password', { username: 'ivan' }],
    ['both empty', { username: '', password: '' }],
    ['long username', { username: 'a'.repeat(5000), password: 'x' }],
    ['long password', { username: 'ivan', password: 'p'.repeat(20000) }],
    ['control characters', { username: 'iv\u0001an\u001b[31m', password: 'ivan password 12' }],
    ['right-to-left override', { username: 'ivan\u202e', password: 'ivan password 12' }],
    ['emoji and combining marks', { username: '🙂e\u0301', password: '密码密码密码' }],
    ['only spaces', { username: '   ', password: '   ' }],
    ['sql-looking', { username: "ivan' OR '1'='1", password: "' OR 1=1 --" }],
  ];
  for (const [label, values] of cases) {
    const { browser, form } = await loginPage();
    const fields: Record<string, string> = { csrf: form.fields.csrf! };
    Object.assign(fields, values);
    const page = await browser.request(form.action, { form: fields });
    assertClean(t, page, label);
    t.is(page.status, 200, `${label}: the form is shown again`);
    t.regex(page.html, /not right/, `${label}: the usual failure message`);
  }
});

test('a field sent twice, a foreign content type and an oversized body are refused clearly', async (t) => {
  const { browser, form } = await loginPage();
  const twice = await browser.request(form.action, {
    body: `csrf=${encodeURIComponent(form.fields.csrf!)}&username=ivan&username=other&password=x`,
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  });
  t.is(twice.status, 400);
  assertClean(t, twice, 'repeated');

  const json = await browser.request(form.action, { body: JSON.stringify({ username: 'ivan' }), headers: { 'Content-Type': 'application/json' } });
  t.is(json.status, 415);
  assertClean(t, json, 'json');

  const huge = await browser.request(form.action, { form: { csrf: form.fields.csrf!, username: 'ivan', password: 'x'.repeat(64 * 1024) } });
  t.is(huge.status, 413);
  assertClean(t, huge, 'huge');

  const badEncoding = await browser.request(form.action, {
    body: `csrf=${encodeURIComponent(form.fields.csrf!)}&username=%FF%FE&password=%`,
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  });
  t.true(badEncoding.status === 400 || badEncoding.status === 200);
  assertClean(t, badEncoding, 'bad encoding');
});

test('CSRF: missing, wrong, or from another flow is refused with 403', async (t) => {
  const a = await loginPage();
  const b = await loginPage();
  const missing = await a.browser.request(a.form.action, { form: { username: 'ivan', password: 'ivan password 12' } });
  t.is(missing.status, 403);
  const wrong = await a.browser.request(a.form.action, { form: { csrf: 'x'.repeat(43), username: 'ivan', password: 'ivan password 12' } });
  t.is(wrong.status, 403);
  const foreign = await a.browser.request(a.form.action, { form: { csrf: b.form.fields.csrf!, username: 'ivan', password: 'ivan password 12' } });
  t.is(foreign.status, 403, "another flow's token doesn't work");
  assertClean(t, foreign, 'foreign');
  const ok = await a.browser.request(a.form.action, { form: { ...a.form.fields, username: 'ivan', password: 'ivan password 12' } });
  t.is(ok.status, 303, 'the right token still works');
});

test('interaction pages without the flow cookie, or with another uid, explain the expiry', async (t) => {
  const stranger = newBrowser();
  const none = await stranger.request(`${idp.issuer}/interaction/abc123`);
  t.is(none.status, 400);
  t.regex(none.html, /expired/);
  assertClean(t, none, 'no cookie');

  const { browser } = await loginPage();
  const other = await browser.request(`${idp.issuer}/interaction/not-my-uid`);
  t.is(other.status, 400);
  const post = await stranger.request(`${idp.issuer}/interaction/abc123/login`, { form: { username: 'a', password: 'b' } });
  t.is(post.status, 400);
  assertClean(t, post, 'post without cookie');
});

test('unknown paths and methods get a 404/405 page; JSON callers get JSON', async (t) => {
  const page = await newBrowser().request(`${idp.issuer}/no/such/page`);
  t.is(page.status, 404);
  assertClean(t, page, '404');
  const json = await fetch(`${idp.issuer}/no/such/page`, { headers: { Accept: 'application/json' } });
  t.is(json.status, 404);
  t.deepEqual(await json.json(), { error: 'not_found' });
  const put = await fetch(`${idp.issuer}/interaction/abc/login`, { method: 'PUT' });
  t.true(put.status === 405 || put.status === 404);
});

test('token endpoint: bad grants and bad client credentials are OAuth errors, not 500s', async (t) => {
  const basic = `Basic ${Buffer.from('confidential-app:confidential-app-secret-0123456789').toString('base64')}`;
  const post = (body: string, auth = basic) =>
    fetch(`${idp.issuer}/token`, { method: 'POST', headers: { Authorization: auth, 'Content-Type': 'application/x-www-form-urlencoded' }, body });
  const badCode = await post(`grant_type=authorization_code&code=nope&redirect_uri=${encodeURIComponent(RP_REDIRECT)}`);
  t.is(badCode.status, 400);
  t.is(((await badCode.json()) as { error: string }).error, 'invalid_grant');
  const badSecret = await post('grant_type=authorization_code&code=x', `Basic ${Buffer.from('confidential-app:wrong').toString('base64')}`);
  t.is(badSecret.status, 401);
  const garbage = await post('%%%&&&===', basic);
  t.true(garbage.status >= 400 && garbage.status < 500);
});

test('security headers on pages', async (t) => {
  const { page } = await loginPage();
  t.regex(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  t.notRegex(page.headers.get('content-security-policy') ?? '', /unsafe-inline/);
  t.regex(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  t.is(page.headers.get('referrer-policy'), 'no-referrer');
  t.is(page.headers.get('x-content-type-options'), 'nosniff');
  t.is(page.headers.get('cache-control'), 'no-store');
  t.notRegex(page.html, /<script(?![^>]*\bsrc=)/i, 'no inline script');
});

test('the branded 404 links its languages to this site only, whatever the path looks like (issue 13 #6)', async (t) => {
  for (const target of ['//evil.example/reset', '///evil.example/reset', '/\\evil.example/reset', '/\\/evil.example/x', 'http://evil.example/reset']) {
    const page = await rawGet(idp.url, target);
    // The absolute form names a path that exists here (/reset): that page, linking to itself.
    t.is(page.status, target.startsWith('http:') ? 200 : 404, target);
    const links = languageLinks(page.html);
    t.true(links.length > 0, `${target}: the switcher is there`);
    // One leading slash and no backslash (browsers read `\` as `/`): a path here, never `//host`.
    for (const href of links) t.regex(href, /^\/(?![/\\])[^\\]*$/, `${target}: ${href} is a path on this site`);
  }
  const plain = await rawGet(idp.url, '//evil.example/reset');
  t.deepEqual(languageLinks(plain.html), ['/evil.example/reset']);
  const ordinary = await rawGet(idp.url, '/reset');
  t.deepEqual(languageLinks(ordinary.html), ['/reset'], 'an ordinary page links to itself, as before');
});
