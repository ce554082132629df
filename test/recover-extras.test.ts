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
const writeback: PasswordWriteback = {
  async setPassword(user, password) {
    if (failWriteback) throw new Error('directory unreachable');
    written.push({ username: user.username, password });
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
  for (const name of ['vera', 'wim']) {
    const user = await idp.idp.parts.users.create({ username: name, password: `${name} old password`, passwordSource: name === 'wim' ? 'onpremises' : 'cloud' });
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
});
