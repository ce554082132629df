/**
 * The log at trace level, over a sign-in (with a wrong password first), the registration of an
 * email address by code, tokens, userinfo, refresh, and a password reset by emailed code: it holds
 * none of the passwords, codes, tokens or cookie values that went by.
 */
import test from 'ava';
import { createLogger } from '../src/logging.ts';
import { ssprBed } from './helpers/sspr-idp.ts';
import { codeIn, registerEmail } from './helpers/register.ts';
import { discover, authorizationRequest, newBrowser, signIn, redeem, oidc } from './helpers/rp.ts';
import type { Browser } from './helpers/browser.ts';

const lines: string[] = [];

const bed = ssprBed(
  {
    enabled: 'all', methodsRequired: 1, methods: { email: true, mobilePhone: false, authenticatorApp: false },
    registration: { requireOnSignIn: true }, captcha: { enabled: false }, codes: { resendAfterSeconds: 0 },
  },
  { config: { logging: { level: 'trace' } }, logger: createLogger('trace', { write: (line: string) => void lines.push(line) }) },
);

const OLD_PASSWORD = 'olive harbour kettle 41';
const WRONG_PASSWORD = 'not-her-password-Zq81x';
const NEW_PASSWORD = 'copper lantern meadow 77';
const CLIENT_SECRET = 'confidential-app-secret-0123456789';

test('no password, code, token or cookie value reaches the log, at trace level', async (t) => {
  const { idp, smtp } = bed;
  await idp.idp.parts.users.create({ username: 'logan', displayName: 'Logan', email: 'logan@corp.example', password: OLD_PASSWORD });
  const rp = await discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: CLIENT_SECRET });
  const browsers: Browser[] = [];
  const secrets = new Map<string, string>([
    ['old password', OLD_PASSWORD],
    ['wrong password', WRONG_PASSWORD],
    ['new password', NEW_PASSWORD],
    ['client secret', CLIENT_SECRET],
  ]);

  // Sign-in: a wrong password, then the right one, then the registration interrupt with an emailed code.
  const browser = newBrowser();
  browsers.push(browser);
  const auth = await authorizationRequest(rp, { scope: 'openid profile email offline_access', prompt: 'consent' });
  const form = await browser.navigate(auth.url.href);
  const wrong = await signIn(browser, form, 'logan', WRONG_PASSWORD);
  t.regex(wrong.html, /not right/);
  const interrupt = await signIn(browser, wrong, 'logan', OLD_PASSWORD);
  t.regex(interrupt.html, /Don(&#39;|')t lose access to your account/);
  const overview = await registerEmail(browser, interrupt, smtp, 'logan.private@example.net');
  const done = await browser.submit(overview, '/finish');
  t.is(done.status, 0, 'back at the client');
  secrets.set('authorization code', new URL(done.url).searchParams.get('code')!);
  const tokens = await redeem(rp, auth, done.url);
  const claims = tokens.claims()!;
  await oidc.fetchUserInfo(rp, tokens.access_token, claims.sub);
  const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
  for (const [name, value] of Object.entries({ access: tokens.access_token, id: tokens.id_token, refresh: tokens.refresh_token, refreshedAccess: refreshed.access_token, refreshedRefresh: refreshed.refresh_token })) {
    if (value) secrets.set(`${name} token`, value);
  }

  // Reset by emailed code, in a fresh browser.
  const resetter = newBrowser();
  browsers.push(resetter);
  const start = await resetter.navigate(`${idp.issuer}/reset`);
  const choose = await resetter.submit(start, '/reset', { username: 'logan' });
  const before = smtp.messages.length;
  const codePage = await resetter.submit(choose, '/reset/flow/method', { method: 'email' });
  const mail = await smtp.waitFor((m) => smtp.messages.indexOf(m) >= before && m.to.includes('logan.private@example.net'));
  const passwordPage = await resetter.submit(codePage, '/reset/flow/answer', { code: codeIn(mail.text) });
  const reset = await resetter.submit(passwordPage, '/reset/flow/password', { password: NEW_PASSWORD, confirm: NEW_PASSWORD });
  t.regex(reset.html, /Your password has been reset/);
  await idp.idp.parts.settled();

  // Every code that was mailed (registration and reset).
  smtp.messages.forEach((m, i) => {
    if (/\b\d{6,10}\b/.test(m.text.replace(/(\d) (?=\d)/g, '$1'))) secrets.set(`code in mail ${i} (${m.subject})`, codeIn(m.text));
  });
  t.true([...secrets.keys()].filter((k) => k.startsWith('code in mail')).length >= 2, 'the registration and the reset code');

  // Cookie values that identify something. Left out: short words (the language cookie's "en") and
  // interaction ids, which oidc-provider puts in the interaction URLs themselves (/interaction/:uid).
  const uids = new Set([...lines.join('').matchAll(/\/interaction\/([\w-]+)/g)].map((m) => m[1]!));
  let cookies = 0;
  for (const b of browsers) {
    for (const value of b.cookieValuesSeen()) {
      if (value.length < 16 || uids.has(value)) continue;
      secrets.set(`cookie value ${value.slice(0, 6)}…`, value);
      cookies += 1;
    }
  }
  t.true(cookies >= 6, `session, signatures, CSRF pre-sessions and the reset flow (found ${cookies})`);

  const log = lines.join('');
  t.true(lines.length >= 25, `the log was captured (${lines.length} lines)`);
  t.regex(log, /"level":20,[^\n]*"path":"\/token"[^\n]*"msg":"request"/, 'debug lines (one per request) are written');
  t.regex(log, /"event":"signin.failure"/);
  t.regex(log, /"kind":"reset.email.code"/);
  for (const [name, value] of secrets) t.false(log.includes(value), `the ${name} is not in the log`);
});
