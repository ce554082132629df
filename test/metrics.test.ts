/**
 * GET /metrics: real sign-ins (openid-client), a failed one, a registration at sign-in and a reset
 * by emailed code move the counters; the bearer token is required; two IdPs in one process count
 * apart; metrics off answers 404; a separate listener; no user name, address or id as a label value.
 */
import test from 'ava';
import { startIdp, type RunningIdp } from './helpers/idp.ts';
import { startSsprIdp, type SsprTestbed } from './helpers/sspr-idp.ts';
import { Browser, type Page } from './helpers/browser.ts';
import { codeIn, registerEmail } from './helpers/register.ts';
import { discover, authorizationRequest, newBrowser, signIn, redeem, login, oidc } from './helpers/rp.ts';
import { freshStore } from './helpers/store.ts';
import knexFactory from 'knex';
import { parseConfig } from '../src/config/load.ts';
import { createMetrics, Metrics } from '../src/metrics/index.ts';
import { watchDatabase } from '../src/metrics/hooks.ts';
import { parse, scrape as scrapeWith, value, moved, labelValues, requests } from './helpers/metrics.ts';
import { ssprWith } from './helpers/sspr-settings.ts';

const TOKEN = 'metrics-scrape-token-0123456789';
const CLIENT = { clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' };

let bed: SsprTestbed;
let idp: RunningIdp;
let rp: oidc.Configuration;

test.before(async () => {
  bed = await startSsprIdp(
    ssprWith(['email']),
    { config: { metrics: { enabled: true, token: TOKEN } } },
  );
  idp = bed.idp;
  rp = await discover({ issuer: idp.issuer, ...CLIENT });
});
test.after.always(async () => {
  await bed?.close();
});

/** /metrics of `url`, with the scrape token unless told otherwise. */
const scrape = (url: string, token: string | undefined = TOKEN) => scrapeWith(url, token);

async function registeredUser(username: string, address: string): Promise<string> {
  const parts = idp.idp.parts;
  const user = await parts.users.create({ username, password: `${username} old password` });
  await parts.store.sspr.putMethod(user.id, 'email', address, bed.clock.now());
  await parts.store.sspr.recordConfirmation(user.id, bed.clock.now());
  return user.id;
}

test.serial('a real sign-in, a wrong password and an unknown user move the login counters and the latency histogram, by route pattern', async (t) => {
  await registeredUser('mira', 'mira.private@example.net');
  const before = (await scrape(idp.url)).series;

  const { tokens } = await login(rp, 'mira', 'mira old password');
  t.truthy(tokens.id_token);
  const browser = newBrowser();
  const auth = await authorizationRequest(rp);
  const form = await browser.navigate(auth.url.href);
  const wrong = await signIn(browser, form, 'mira', 'not her password 123');
  t.regex(wrong.html, /name="password"/);
  await signIn(browser, wrong, 'nobody-here', 'whatever password 1');

  const { text, series: after } = await scrape(idp.url);
  t.deepEqual(
    moved(before, after, ['oidc_sspr_logins_total{result="success"}', 'oidc_sspr_logins_total{result="wrong_password"}', 'oidc_sspr_logins_total{result="unknown_user"}']),
    { 'oidc_sspr_logins_total{result="success"}': 1, 'oidc_sspr_logins_total{result="wrong_password"}': 1, 'oidc_sspr_logins_total{result="unknown_user"}': 1 },
  );
  // Three password posts on the login route's pattern; oidc-provider's endpoints by theirs.
  const posts = (s: Map<string, number>) => requests(s, 'method="POST"', 'route="/interaction/:uid/login"');
  t.is(posts(after) - posts(before), 3);
  t.regex(text, /oidc_sspr_http_request_duration_seconds_count\{method="POST",route="\/token",status="200"\} [1-9]/);
  t.regex(text, /oidc_sspr_http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/auth",status="303"\}/);
  // The raw paths (interaction uids) are no label value.
  t.false(labelValues(text).some((v) => /^\/interaction\/(?!:uid)/.test(v)), 'no raw interaction path as a route');
  // prom-client's process defaults.
  t.regex(text, /^process_cpu_user_seconds_total /m);
  t.regex(text, /^nodejs_heap_size_used_bytes /m);
});

test.serial('the registration interrupt: shown, then finished, with the code counted by channel and flow', async (t) => {
  const parts = idp.idp.parts;
  await parts.users.create({ username: 'otto', password: 'otto old password' });
  const before = (await scrape(idp.url)).series;
  const browser = newBrowser();
  const auth = await authorizationRequest(rp);
  const interrupt = await signIn(browser, await browser.navigate(auth.url.href), 'otto', 'otto old password');
  t.regex(interrupt.html, /Don(&#39;|')t lose access to your account/);
  const overview = await registerEmail(browser, interrupt, bed.smtp, 'otto.private@example.net');
  const back = await browser.submit(overview, '/finish');
  t.is(back.status, 0);
  t.truthy((await redeem(rp, auth, back.url)).id_token);
  const after = (await scrape(idp.url)).series;
  t.deepEqual(
    moved(before, after, [
      'oidc_sspr_registration_interrupts_total{outcome="shown"}',
      'oidc_sspr_registration_interrupts_total{outcome="finished"}',
      'oidc_sspr_codes_sent_total{channel="email",flow="register"}',
    ]),
    {
      'oidc_sspr_registration_interrupts_total{outcome="shown"}': 1,
      'oidc_sspr_registration_interrupts_total{outcome="finished"}': 1,
      'oidc_sspr_codes_sent_total{channel="email",flow="register"}': 1,
    },
  );
});

async function resetByEmail(username: string): Promise<{ browser: Browser; page: Page }> {
  const browser = new Browser();
  const identify = await browser.navigate(`${idp.issuer}/reset`);
  const choices = await browser.submit(identify, '/reset', { username });
  if (!/value="email"/.test(choices.html)) throw new Error(`no email choice: ${choices.status} ${choices.html.slice(0, 800)}`);
  return { browser, page: await browser.submit(choices, '/reset/flow/method', { method: 'email' }) };
}

test.serial('a reset: started, code sent, completed; a refused start counted by its reason', async (t) => {
  const address = 'nina.private@example.net';
  await registeredUser('nina', address);
  const before = (await scrape(idp.url)).series;
  const sentAt = bed.smtp.messages.length;
  const { browser, page: codePage } = await resetByEmail('nina');
  const mail = await bed.smtp.waitFor((m) => bed.smtp.messages.indexOf(m) >= sentAt && m.to.includes(address));
  const passwordPage = await browser.submit(codePage, '/reset/flow/answer', { code: codeIn(mail.text) });
  const done = await browser.submit(passwordPage, '/reset/flow/password', { password: 'amber willow harbour', confirm: 'amber willow harbour' });
  t.regex(done.html, /Your password has been reset/);
  // A user id that isn't registered: refused at once (the page looks like a real account's).
  const refusedBrowser = new Browser();
  await refusedBrowser.submit(await refusedBrowser.navigate(`${idp.issuer}/reset`), '/reset', { username: 'no-such-person' });

  const after = (await scrape(idp.url)).series;
  t.deepEqual(
    moved(before, after, [
      'oidc_sspr_resets_started_total',
      'oidc_sspr_codes_sent_total{channel="email",flow="reset"}',
      'oidc_sspr_resets_completed_total',
      'oidc_sspr_resets_refused_total{reason="not_registered"}',
    ]),
    {
      oidc_sspr_resets_started_total: 1,
      'oidc_sspr_codes_sent_total{channel="email",flow="reset"}': 1,
      oidc_sspr_resets_completed_total: 1,
      'oidc_sspr_resets_refused_total{reason="not_registered"}': 1,
    },
  );
});

test.serial('no user name, address, id or IP is a label value', async (t) => {
  const { text } = await scrape(idp.url);
  const users = await idp.idp.parts.store.audit.list({});
  const personal = new Set<string>(['mira', 'otto', 'nina', 'nobody-here', 'no-such-person', 'mira.private@example.net', 'otto.private@example.net', 'nina.private@example.net', '127.0.0.1']);
  for (const e of users) {
    if (e.userId) personal.add(e.userId);
    if (e.flowId) personal.add(e.flowId);
  }
  t.true(personal.size > 9, 'the audit trail holds the ids of the flows above');
  const values = labelValues(text);
  t.true(values.length > 50);
  const leaked = values.filter((v) => [...personal].some((p) => v.includes(p)));
  t.deepEqual(leaked, []);
});

test('the bearer token is required: none or a wrong one is refused with 401', async (t) => {
  const none = await fetch(`${idp.url}/metrics`);
  t.is(none.status, 401);
  t.regex(none.headers.get('www-authenticate') ?? '', /^Bearer/);
  t.notRegex(await none.text(), /oidc_sspr_/);
  for (const header of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, 'Bearer ', TOKEN, `Basic ${TOKEN}`]) {
    const refused = await fetch(`${idp.url}/metrics`, { headers: { Authorization: header } });
    t.is(refused.status, 401, header);
  }
  const ok = await fetch(`${idp.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  t.is(ok.status, 200);
  t.regex(ok.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
});

test('metrics are off by default: /metrics is a 404 page', async (t) => {
  const off = await startIdp();
  try {
    t.is(off.idp.parts.metrics, undefined);
    const response = await fetch(`${off.url}/metrics`, { headers: { Accept: 'text/html' } });
    t.is(response.status, 404);
    t.notRegex(await response.text(), /oidc_sspr_/);
  } finally {
    await off.close();
  }
});

test('two IdPs in one process count apart; throttle refusals and delivery failures are counted; a separate listener serves /metrics', async (t) => {
  const deadSmtp = 9; // nothing listens on the discard port; a released free port may be taken by another test's server
  const other = await startIdp({
    config: {
      metrics: { enabled: true, listen: { port: 0 } },
      throttle: { signinPerIp: 2 },
      sspr: { enabled: 'all', methods: { email: true, mobilePhone: false, authenticatorApp: false }, captcha: { enabled: false } },
      delivery: { mail: { transport: 'smtp', smtp: { host: '127.0.0.1', port: deadSmtp, timeoutSeconds: 5 } } },
    },
  });
  try {
    const listener = other.idp.metricsListener;
    t.truthy(listener);
    t.regex(listener!.url, /^http:\/\/127\.0\.0\.1:\d+$/, 'loopback by default');
    t.is((await fetch(`${other.url}/metrics`)).status, 404, 'not on the main port');
    t.is((await fetch(`${listener!.url}/other`)).status, 404);

    const mainBefore = (await scrape(idp.url)).series;
    const user = await other.idp.parts.users.create({ username: 'pavel', password: 'pavel old password' });
    await other.idp.parts.store.sspr.putMethod(user.id, 'email', 'pavel@example.net', Date.now());
    await other.idp.parts.store.sspr.recordConfirmation(user.id, Date.now());
    const otherRp = await discover({ issuer: other.issuer, ...CLIENT });
    const browser = newBrowser();
    let page = await browser.navigate((await authorizationRequest(otherRp)).url.href);
    for (let i = 0; i < 3; i += 1) page = await signIn(browser, page, 'pavel', `wrong password ${i}00`);

    // A reset whose code mail can't go out: the SMTP server isn't there.
    const reset = new Browser();
    const choices = await reset.submit(await reset.navigate(`${other.issuer}/reset`), '/reset', { username: 'pavel' });
    const failed = await reset.submit(choices, '/reset/flow/method', { method: 'email' });
    t.not(failed.status, 500);

    const { series } = await scrape(listener!.url, undefined);
    t.is(value(series, 'oidc_sspr_logins_total{result="wrong_password"}'), 2);
    t.is(value(series, 'oidc_sspr_logins_total{result="ip_throttled"}'), 1);
    t.is(value(series, 'oidc_sspr_throttle_refusals_total{limit="signin_ip"}'), 1);
    t.is(value(series, 'oidc_sspr_delivery_failures_total{channel="email",reason="unreachable"}'), 1);
    t.is(value(series, 'oidc_sspr_codes_sent_total{channel="email",flow="reset"}'), 0, 'a code that did not go out is no code sent');
    t.is(value(series, 'oidc_sspr_resets_started_total'), 1);
    // The first IdP saw none of it.
    const mainAfter = (await scrape(idp.url)).series;
    t.deepEqual(
      moved(mainBefore, mainAfter, ['oidc_sspr_logins_total{result="wrong_password"}', 'oidc_sspr_throttle_refusals_total{limit="signin_ip"}', 'oidc_sspr_delivery_failures_total{channel="email",reason="unreachable"}']),
      { 'oidc_sspr_logins_total{result="wrong_password"}': 0, 'oidc_sspr_throttle_refusals_total{limit="signin_ip"}': 0, 'oidc_sspr_delivery_failures_total{channel="email",reason="unreachable"}': 0 },
    );
  } finally {
    await other.close();
  }
  const gone = await fetch(`${other.idp.metricsListener!.url}/metrics`).then(() => 'answered', () => 'refused');
  t.is(gone, 'refused', 'close() stops the listener');
});

test('database errors: a failing statement and a connection that cannot be made are counted by kind', async (t) => {
  const { db, knex, store } = await freshStore();
  const dead = knexFactory({ client: 'pg', connection: 'postgres://postgres@127.0.0.1:9/none', pool: { min: 0, max: 1 }, acquireConnectionTimeout: 10_000, log: { error: () => {}, warn: () => {} } });
  try {
    const metrics = createMetrics(parseConfig({ metrics: { enabled: true } }).metrics, knex, store)!;
    t.true(metrics instanceof Metrics);
    await t.throwsAsync(knex.raw('select * from no_such_table'));
    watchDatabase(dead, metrics);
    await t.throwsAsync(dead.raw('select 1'));
    const series = parse(await metrics.text());
    t.is(value(series, 'oidc_sspr_database_errors_total{kind="query"}'), 1);
    t.true(value(series, 'oidc_sspr_database_errors_total{kind="connect"}') >= 1);
    t.is(createMetrics(parseConfig({}).metrics, knex, store), undefined, 'off by default');
  } finally {
    await dead.destroy();
    await knex.destroy();
    await db.cleanup();
  }
});

test('the metrics section of the configuration: defaults, and errors naming the key', (t) => {
  t.deepEqual(parseConfig({}).metrics, { enabled: false });
  t.deepEqual(parseConfig({ metrics: { enabled: true, listen: { port: 9464 } } }).metrics, { enabled: true, listen: { host: '127.0.0.1', port: 9464 } });
  t.throws(() => parseConfig({ metrics: { enabled: true, token: 'short' } }), { message: /metrics\.token/ });
  t.throws(() => parseConfig({ metrics: { token: TOKEN } }), { message: /metrics\.enabled/ });
  t.throws(() => parseConfig({ metrics: { enabled: true, listen: { port: 70000 } } }), { message: /metrics\.listen\.port/ });
  t.throws(() => parseConfig({ metrics: { enabled: true, path: '/x' } }), { message: /metrics/ });
});
