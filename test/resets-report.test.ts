/**
 * `oidc-sspr report resets` over what real flows recorded: flows run through the pages (mail to a
 * real SMTP server, a writeback that refuses), then the CLI, as a child process, reads the database.
 */
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startSsprIdp, type SsprTestbed } from './helpers/sspr-idp.ts';
import { Browser, type Page } from './helpers/browser.ts';
import { codeIn } from './helpers/register.ts';
import { runCli } from './helpers/process.ts';

let bed: SsprTestbed;
let dir: string;

test.before(async () => {
  bed = await startSsprIdp(
    {
      enabled: 'all',
      methods: { email: true },
      registration: { requireOnSignIn: false },
      captcha: { enabled: false },
      codes: { resendAfterSeconds: 0, maxSends: 10 },
      limits: { emailsPer10Minutes: 2 },
      onPremises: { passwordWriteback: true },
      administrators: { groups: ['Admins'] },
    },
    {
      writeback: {
        async setPassword() {
          throw new Error('directory unreachable');
        },
      },
    },
  );
  dir = await mkdtemp(path.join(tmpdir(), 'oidc-sspr-report-'));
});
test.after.always(async () => {
  await bed?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const parts = () => bed.idp.idp.parts;

async function user(username: string, opts: { email?: string; source?: 'onpremises'; groups?: string[] } = {}) {
  const created = await parts().users.create({ username, password: `${username} old password`, email: opts.email, passwordSource: opts.source });
  for (const g of opts.groups ?? []) await parts().users.addToGroup(username, g);
  if (!opts.groups) await parts().store.sspr.putMethod(created.id, 'email', `${username}@example.net`, bed.clock.now());
  return created;
}

async function begin(username: string): Promise<{ browser: Browser; page: Page }> {
  const browser = new Browser();
  const form = await browser.navigate(`${bed.idp.issuer}/reset`);
  return { browser, page: await browser.submit(form, '/reset', { username }) };
}

async function emailed(browser: Browser, page: Page, username: string): Promise<{ codePage: Page; code: string }> {
  const before = bed.smtp.messages.length;
  const codePage = await browser.submit(page, '/reset/flow/method', { method: 'email' });
  const mail = await bed.smtp.waitFor((m) => bed.smtp.messages.indexOf(m) >= before && m.to.includes(`${username}@example.net`));
  return { codePage, code: codeIn(mail.text) };
}

const cli = (args: string[]) => runCli(args);

const errorCode = (page: Page) => /Error code: ([A-Z_]+)/.exec(page.html)?.[1];

test('report resets counts completed, refused and failed resets by reason from real flows', async (t) => {
  await user('admin', { email: 'admin@corp.example', groups: ['Admins'] });

  // Completed.
  await user('ann');
  const ann = await begin('ann');
  const a = await emailed(ann.browser, ann.page, 'ann');
  const password = await ann.browser.submit(a.codePage, '/reset/flow/answer', { code: a.code });
  t.regex((await ann.browser.submit(password, '/reset/flow/password', { password: 'orchid canyon lamp', confirm: 'orchid canyon lamp' })).html, /has been reset/);

  // Too many wrong codes: the only method is used up.
  await user('ben');
  const ben = await begin('ben');
  let page = (await emailed(ben.browser, ben.page, 'ben')).codePage;
  for (let i = 0; i < 5; i += 1) page = await ben.browser.submit(page, '/reset/flow/answer', { code: '00000000' });
  t.is(errorCode(page), 'SSPR_TOO_MANY_ATTEMPTS');

  // Blocked in the middle: a third email within 10 minutes.
  await user('cas');
  const cas = await begin('cas');
  const c = await emailed(cas.browser, cas.page, 'cas');
  await cas.browser.submit(c.codePage, '/reset/flow/answer', { action: 'resend' });
  t.is(errorCode(await cas.browser.submit(c.codePage, '/reset/flow/answer', { action: 'resend' })), 'SSPR_BLOCKED');

  // The directory refuses the new password.
  await user('dan', { source: 'onpremises' });
  const dan = await begin('dan');
  const d = await emailed(dan.browser, dan.page, 'dan');
  const danPassword = await dan.browser.submit(d.codePage, '/reset/flow/answer', { code: d.code });
  t.is((await dan.browser.submit(danPassword, '/reset/flow/password', { password: 'walnut prism tide', confirm: 'walnut prism tide' })).status, 502);

  // Refused at the start, and contact an administrator.
  await user('eve', { groups: [] });
  const eve = await begin('eve');
  t.is(errorCode(eve.page), 'SSPR_NOT_REGISTERED');
  await eve.browser.submit(eve.page, '/reset/flow/contact');
  await parts().settled();

  const file = path.join(dir, 'idp.yaml');
  await writeFile(file, stringify({ database: bed.idp.db.config, logging: { level: 'silent' } }));
  const result = await cli(['--config', file, 'report', 'resets', '--json']);
  t.is(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as Record<string, unknown>;
  t.like(report, {
    days: 30,
    started: 5,
    refused: { total: 1, byReason: { not_enabled: 0, not_registered: 1, onprem_managed: 0 } },
    completed: 1,
    unlocked: 0,
    failedSteps: { total: 5, byMethod: { email: 5 } },
    failed: { total: 3, byReason: { blocked: 1, too_many_attempts: 1, writeback: 1, incomplete: 0 } },
    blocked: 1,
    contactAdmin: 1,
  });

  const text = await cli(['--config', file, 'report', 'resets']);
  t.regex(text.stdout, /^failed resets:\s+3$/m);
  t.regex(text.stdout, /^ {2}too_many_attempts\s+1$/m);
});
