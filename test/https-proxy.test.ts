/**
 * Behind a TLS-terminating proxy (`server.trustProxy: true`, `X-Forwarded-Proto: https`) every
 * response carries HSTS and every cookie is Secure; without trustProxy the same header changes
 * nothing, and neither does plain http with trustProxy on.
 */
import test from 'ava';
import { startIdp, type RunningIdp } from './helpers/idp.ts';
import { discover, authorizationRequest, newBrowser } from './helpers/rp.ts';
import { formWith, type Page } from './helpers/browser.ts';

let trusting: RunningIdp;
let plain: RunningIdp;

test.before(async () => {
  [trusting, plain] = await Promise.all([startIdp({ config: { server: { trustProxy: true } } }), startIdp()]);
  for (const idp of [trusting, plain]) {
    await idp.idp.parts.users.create({ username: 'pat', displayName: 'Pat', email: 'pat@example.org', password: 'pat password 123' });
  }
});
test.after.always(async () => {
  await trusting?.close();
  await plain?.close();
});

interface Seen {
  responses: number;
  hsts: (string | null)[];
  setCookies: string[];
}

/** Signs in and opens the other pages that set cookies, sending `headers` with every request. */
async function journey(idp: RunningIdp, headers: Record<string, string>): Promise<Seen> {
  const browser = newBrowser();
  const seen: Seen = { responses: 0, hsts: [], setCookies: [] };
  const request = async (url: string, form?: Record<string, string>): Promise<Page> => {
    // The proxy speaks https to the browser and http to us: follow its https links over http.
    const target = new URL(url);
    if (target.host === new URL(idp.url).host) target.protocol = 'http:';
    const page = await browser.request(target.href, { headers, form });
    seen.responses += 1;
    seen.hsts.push(page.headers.get('strict-transport-security'));
    seen.setCookies.push(...page.headers.getSetCookie());
    return page;
  };
  const follow = async (page: Page): Promise<Page> => {
    while (page.status >= 300 && page.status < 400) {
      const next = new URL(page.headers.get('location')!, page.url);
      if (next.host !== new URL(idp.url).host) return page;
      page = await request(next.href);
    }
    return page;
  };

  const rp = await discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const auth = await authorizationRequest(rp);
  const login = await follow(await request(auth.url.href));
  const form = formWith(login, '/login');
  const back = await follow(await request(form.action, { ...form.fields, username: 'pat', password: 'pat password 123' }));
  if (!/^http:\/\/127\.0\.0\.1:9\/callback\?code=/.test(back.headers.get('location') ?? '')) throw new Error(`sign-in did not reach the client: ${back.status} ${back.html.slice(0, 500)}`);
  await follow(await request(`${idp.issuer}/reset?lang=nl`));
  await follow(await request(`${idp.issuer}/security-info`));
  return seen;
}

const names = (setCookies: string[]) => [...new Set(setCookies.map((c) => c.slice(0, c.indexOf('='))))].sort();

test('trustProxy and X-Forwarded-Proto: https: HSTS on every response, every cookie Secure', async (t) => {
  const seen = await journey(trusting, { 'X-Forwarded-Proto': 'https' });
  t.true(seen.responses >= 6);
  t.deepEqual(
    seen.hsts.filter((h) => h !== 'max-age=31536000; includeSubDomains'),
    [],
    'every response has HSTS',
  );
  // The provider's cookies, the locale cookie and the pre-session cookies of the reset and security-info pages.
  const all = names(seen.setCookies);
  for (const name of ['_interaction', '_interaction_resume', '_session', 'oidc_sspr_lang', 'oidc_sspr_reset_pre', 'oidc_sspr_account_pre']) {
    t.true(all.includes(name), `${name} among ${all.join(', ')}`);
  }
  t.deepEqual(
    seen.setCookies.filter((c) => !/;\s*secure\b/i.test(c)),
    [],
    'every cookie is Secure',
  );
  t.true(seen.setCookies.every((c) => /;\s*httponly\b/i.test(c)), 'and httpOnly');
});

test('without trustProxy, X-Forwarded-Proto is ignored: no HSTS, no Secure cookies', async (t) => {
  const seen = await journey(plain, { 'X-Forwarded-Proto': 'https' });
  t.true(seen.setCookies.length >= 6);
  t.deepEqual(seen.hsts.filter(Boolean), []);
  t.deepEqual(seen.setCookies.filter((c) => /;\s*secure\b/i.test(c)), []);
});

test('with trustProxy but plain http (no X-Forwarded-Proto): no HSTS, no Secure cookies', async (t) => {
  const seen = await journey(trusting, {});
  t.true(seen.setCookies.length >= 6);
  t.deepEqual(seen.hsts.filter(Boolean), []);
  t.deepEqual(seen.setCookies.filter((c) => /;\s*secure\b/i.test(c)), []);
});
