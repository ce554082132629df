import test from 'ava';
import { solveChallenge } from 'altcha-lib';
import { deriveKey as shaDeriveKey } from 'altcha-lib/algorithms/sha';
import { startIdp, type RunningIdp } from './helpers/idp.ts';
import { Browser, formWith, type Page } from './helpers/browser.ts';
import { codeIn } from './helpers/register.ts';
import type { PasswordWriteback } from '../src/flows/recover/service.ts';

// The reset flow with the CAPTCHA on, and password writeback for on-premises accounts.

let idp: RunningIdp;
const written: { username: string; password: string }[] = [];
let failWriteback = false;
/** Runs inside the directory call, after the directory accepted the password (e.g. to break the database). */
let afterWrite: (() => Promise<void>) | undefined;
/** While set, the directory call waits for it (to hold one submission inside the directory). */
let gate: Promise<void> | undefined;
let release = () => {};
let entered = 0;
const writeback: PasswordWriteback = {
  async setPassword(user, password) {
    // A second submission inside the directory at the same time must not happen; if it does, both go on.
    if ((entered += 1) >= 2) release();
    if (gate) await gate;
    if (failWriteback) throw new Error('directory unreachable');
    written.push({ username: user.username, password });
    await afterWrite?.();
  },
};

test.before(async () => {
  idp = await startIdp({
    writeback,
    config: {
      sspr: {
        enabled: 'all',
        methods: { email: true },
        captcha: { enabled: true, maxNumber: 2000 },
        codes: { resendAfterSeconds: 0 },
        onPremises: { passwordWriteback: true, allowUnlockWithoutReset: true },
      },
    },
  });
  for (const name of ['vera', 'wim', 'xavi', 'yara']) {
    const user = await idp.idp.parts.users.create({ username: name, password: `${name} old password`, passwordSource: name === 'vera' ? 'cloud' : 'onpremises' });
    await idp.idp.parts.store.sspr.putMethod(user.id, 'email', `${name}@example.net`, Date.now());
  }
});
test.after.always(async () => {
  await idp?.close();
});

/** Fetches and solves a challenge as the widget would; returns the form field value. */
async function solved(): Promise<string> {
  const challenge = (await (await fetch(`${idp.issuer}/reset/captcha`)).json()) as Parameters<typeof solveChallenge>[0]['challenge'];
  const solution = await solveChallenge({ challenge, deriveKey: shaDeriveKey, timeout: 30_000 });
  return Buffer.from(JSON.stringify({ challenge, solution: { counter: solution!.counter, derivedKey: solution!.derivedKey } })).toString('base64');
}

async function codeFromOutbox(userId: string): Promise<string> {
  const [latest] = await idp.idp.parts.store.outbox.latest({ userId }, 1);
  return codeIn(latest!.body);
}

async function throughVerification(username: string): Promise<{ browser: Browser; page: Page }> {
  const browser = new Browser();
  const form = await browser.navigate(`${idp.issuer}/reset`);
  const flow = await browser.submit(form, '/reset', { username, altcha: await solved() });
  const codePage = await browser.submit(flow, '/reset/flow/method', { method: 'email' });
  const user = await idp.idp.parts.users.find(username);
  const page = await browser.submit(codePage, '/reset/flow/answer', { code: await codeFromOutbox(user!.id) });
  return { browser, page };
}

test.serial('the identify page carries the self-hosted widget; no solution, or a reused one, is refused', async (t) => {
  const browser = new Browser();
  const form = await browser.navigate(`${idp.issuer}/reset`);
  t.regex(form.html, /<altcha-widget challenge="\/reset\/captcha" name="altcha"/);
  t.regex(form.html, /<script type="module" src="\/assets\/altcha\.js"><\/script>/);
  const none = await browser.submit(form, '/reset', { username: 'vera' });
  t.is(none.status, 400);
  t.regex(none.html, /couldn(&#39;|')t confirm that you(&#39;|')re a person/);
  const payload = await solved();
  const first = await browser.submit(form, '/reset', { username: 'vera', altcha: payload });
  t.regex(first.html, /Prove it(&#39;|')s you/);
  const again = await browser.navigate(`${idp.issuer}/reset`);
  const reused = await browser.request(formWith(again, '/reset').action, { form: { ...formWith(again, '/reset').fields, username: 'vera', altcha: payload } });
  t.is(reused.status, 400, 'a solution works once');
  t.regex(reused.html, /couldn(&#39;|')t confirm/);
});

test.serial('on-premises account with writeback: the new password goes to the directory first', async (t) => {
  const { browser, page } = await throughVerification('wim');
  const done = await browser.submit(page, '/reset/flow/password', { password: 'granite willow ferry', confirm: 'granite willow ferry' });
  t.regex(done.html, /Your password has been reset/);
  t.deepEqual(written.at(-1), { username: 'wim', password: 'granite willow ferry' });
});

test.serial('writeback failure: a clear error, and nothing changes here', async (t) => {
  const { browser, page } = await throughVerification('wim');
  failWriteback = true;
  try {
    const failed = await browser.submit(page, '/reset/flow/password', { password: 'quartz meadow lantern', confirm: 'quartz meadow lantern' });
    t.is(failed.status, 502);
    t.regex(failed.html, /couldn(&#39;|')t be changed in your organisation(&#39;|')s directory/);
  } finally {
    failWriteback = false;
  }
  t.true((await idp.idp.parts.users.signIn('wim', 'granite willow ferry')).ok, 'the previous password still works');
  t.false((await idp.idp.parts.users.signIn('wim', 'quartz meadow lantern')).ok);
  const failed = await idp.idp.parts.store.audit.list({ type: 'sspr.reset.failed', userId: (await idp.idp.parts.users.find('wim'))!.id });
  t.is(failed.at(-1)?.details?.reason, 'writeback');
  // The flow went back to the password step: the user can try again once the directory is back.
  const retry = await browser.submit(page, '/reset/flow/password', { password: 'quartz meadow lantern', confirm: 'quartz meadow lantern' });
  t.regex(retry.html, /Your password has been reset/);
  t.deepEqual(written.at(-1), { username: 'wim', password: 'quartz meadow lantern' });
});

test.serial('two parallel submissions of an on-premises reset: only the one that claimed the flow reaches the directory', async (t) => {
  const { browser, page } = await throughVerification('xavi');
  const form = formWith(page, '/reset/flow/password');
  const before = written.length;
  entered = 0;
  // The first submission in the directory waits there until the other one has its answer.
  gate = new Promise<void>((resolve) => (release = resolve));
  try {
    const submit = (password: string) => browser.request(form.action, { form: { ...form.fields, password, confirm: password } }).finally(() => release());
    const [a, b] = await Promise.all([submit('amber falcon river'), submit('cobalt heron meadow')]);
    t.deepEqual([a.status, b.status].sort(), [303, 409], 'one wins, the other is refused');
  } finally {
    gate = undefined;
    release = () => {};
  }
  const writes = written.slice(before);
  t.is(writes.length, 1, 'the refused submission never reached the directory');
  t.true((await idp.idp.parts.users.signIn('xavi', writes[0]!.password)).ok, 'the directory and this service agree');
});

test.serial('the database fails after the directory took the password: a clear 503, logged and audited; submitting again finishes', async (t) => {
  const { browser, page } = await throughVerification('yara');
  const db = idp.idp.parts.store.db;
  afterWrite = async () => {
    afterWrite = undefined;
    await db.schema.renameTable('account_sessions', 'account_sessions_away');
  };
  let broken: Awaited<ReturnType<Browser['submit']>>;
  try {
    broken = await browser.submit(page, '/reset/flow/password', { password: 'saffron glacier piano', confirm: 'saffron glacier piano' });
  } finally {
    afterWrite = undefined;
    if (await db.schema.hasTable('account_sessions_away')) await db.schema.renameTable('account_sessions_away', 'account_sessions');
  }
  t.is(broken.status, 503);
  t.regex(broken.html, /saved in your organisation(&#39;|')s directory, but this service couldn(&#39;|')t finish/);
  t.deepEqual(written.at(-1), { username: 'yara', password: 'saffron glacier piano' });
  t.true((await idp.idp.parts.users.signIn('yara', 'yara old password')).ok, 'nothing changed here');
  const failed = await idp.idp.parts.store.audit.list({ type: 'sspr.reset.failed', userId: (await idp.idp.parts.users.find('yara'))!.id });
  t.is(failed.at(-1)?.details?.reason, 'incomplete');
  const again = await browser.submit(page, '/reset/flow/password', { password: 'saffron glacier piano', confirm: 'saffron glacier piano' });
  t.regex(again.html, /Your password has been reset/);
  t.true((await idp.idp.parts.users.signIn('yara', 'saffron glacier piano')).ok);
});
