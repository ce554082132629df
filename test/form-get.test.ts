import test from 'ava';
import { pageOfFormAction } from '../src/web/form-get.ts';
import { startIdp, type RunningIdp } from './helpers/idp.ts';
import { authorizationRequest, discover, newBrowser, signIn } from './helpers/rp.ts';

// A GET to a form's action (the language switcher on a page that answered a form, a reload, a
// copied address) goes back to the page the form belongs to, in the language asked for.

// Each row: a form's action and the page a GET of it goes back to.
const formPages: [action: string, page: string][] = [
  ['/interaction/abc/login', '/interaction/abc'],
  ['/interaction/abc/methods/email/send', '/interaction/abc/methods/email'],
  ['/interaction/abc/methods/email', '/interaction/abc/methods'],
  ['/interaction/abc/methods', '/interaction/abc'],
  ['/reset/flow/answer', '/reset/flow'],
  ['/reset/flow', '/reset'],
  ['/security-info/methods/email/verify', '/security-info/methods/email'],
  ['/security-info/login', '/security-info'],
];

test('pageOfFormAction: one level up, never above a flow page, nothing outside the flows', (t) => {
  for (const [action, page] of formPages) t.is(pageOfFormAction(action), page, action);
  for (const root of ['/interaction/abc', '/reset', '/security-info', '/token', '/auth', '/session/end/confirm', '/']) t.is(pageOfFormAction(root), undefined, root);
});

let idp: RunningIdp;
test.before(async () => {
  idp = await startIdp({ prefix: '/idp' });
  await idp.idp.parts.users.create({ username: 'lotte', password: 'lotte password 1' });
});
test.after.always(async () => {
  await idp?.close();
});

test('the switcher on a page that answered a sign-in post leads to the sign-in page in that language', async (t) => {
  const config = await discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const browser = newBrowser();
  const form = await browser.navigate((await authorizationRequest(config)).url.href);
  const failed = await signIn(browser, form, 'lotte', 'wrong password');
  t.is(failed.status, 200);
  const switcher = /href="([^"]*\?lang=nl)"/.exec(failed.html)?.[1];
  t.truthy(switcher);
  t.regex(switcher!, /^\/idp\/interaction\/[\w-]+\/login\?lang=nl$/);

  const answer = await browser.request(new URL(switcher!, idp.url).href);
  t.is(answer.status, 303);
  t.regex(answer.headers.get('location') ?? '', /^\/idp\/interaction\/[\w-]+\?lang=nl$/);
  const dutch = await browser.navigate(new URL(switcher!, idp.url).href);
  t.is(dutch.status, 200);
  t.regex(dutch.html, /<html lang="nl">/);
  t.regex(dutch.html, /name="password"/);
});

test('other GETs of form actions: the styled page, never a bare "Method Not Allowed"', async (t) => {
  const browser = newBrowser();
  const reset = await browser.navigate(`${idp.issuer}/reset/flow/answer?lang=nl`);
  // No reset flow in this browser: the flow's page says it expired, in Dutch.
  t.is(reset.url.replace(/\?.*$/, ''), `${idp.issuer}/reset/flow`);
  t.regex(reset.html, /<html lang="nl">/);
  const page = await browser.navigate(`${idp.issuer}/interaction/nope/methods/email/send`);
  t.true(page.status >= 400 && page.status < 500, String(page.status));
  t.regex(page.html, /<main id="main"/);
  t.notRegex(page.html, /^Method Not Allowed$/m);
});
