import test from 'ava';
import { startIdp, TestClock, type RunningIdp } from './helpers/idp.ts';
import { discover, authorizationRequest, newBrowser, signIn } from './helpers/rp.ts';

// Per-account lockout after consecutive failures, growing for repeated lockouts.

let idp: RunningIdp;
const clock = new TestClock();

test.before(async () => {
  idp = await startIdp({ clock, config: { lockout: { threshold: 3, durationSeconds: 60, growth: 2, maxDurationSeconds: 300 } } });
});
test.after.always(async () => {
  await idp?.close();
});

async function attempt(username: string, password: string): Promise<{ ok: boolean; message: string }> {
  const config = await discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const browser = newBrowser();
  const page = await browser.navigate((await authorizationRequest(config)).url.href);
  const after = await signIn(browser, page, username, password);
  return { ok: after.status === 0, message: /<p class="alert"[^>]*>([^<]*)</.exec(after.html)?.[1] ?? '' };
}

test.serial('after threshold failures the right password is refused with the usual message until the lockout ends', async (t) => {
  await idp.idp.parts.users.create({ username: 'lena', password: 'lena right password' });
  for (let i = 0; i < 3; i += 1) t.false((await attempt('lena', 'wrong')).ok);
  const locked = await attempt('lena', 'lena right password');
  const wrong = await attempt('nobody-at-all', 'x');
  t.false(locked.ok, 'locked: the right password does not get in');
  t.is(locked.message, wrong.message, 'and nothing tells the account is locked');
  const user = await idp.idp.parts.users.find('lena');
  const audit = await idp.idp.parts.store.audit.list({ userId: user!.id });
  t.is(audit.filter((e) => e.type === 'signin.locked').length, 1);
  t.true(audit.some((e) => e.type === 'signin.failure' && e.details?.reason === 'locked'));

  clock.advance(61_000);
  t.true((await attempt('lena', 'lena right password')).ok, 'after the lockout the right password works');
});

test.serial('repeated lockouts last longer, up to the maximum; an administrator can unlock', async (t) => {
  await idp.idp.parts.users.create({ username: 'mats', password: 'mats right password' });
  const user = (await idp.idp.parts.users.find('mats'))!;
  const lockFor = async () => {
    for (let i = 0; i < 3; i += 1) await attempt('mats', 'wrong');
    const row = (await idp.idp.parts.store.users.findById(user.id))!;
    return (row.lockedUntil ?? 0) - clock.now();
  };
  const first = await lockFor();
  t.true(first > 55_000 && first <= 60_000, `first lockout ~60 s (${first})`);
  clock.advance(first + 1000);
  const second = await lockFor();
  t.true(second > 115_000 && second <= 120_000, `second lockout ~120 s (${second})`);
  clock.advance(second + 1000);
  const third = await lockFor();
  t.true(third > 235_000 && third <= 240_000, `third ~240 s (${third})`);
  clock.advance(third + 1000);
  const fourth = await lockFor();
  t.true(fourth > 295_000 && fourth <= 300_000, `capped at 300 s (${fourth})`);

  await idp.idp.parts.users.unlock('mats');
  t.true((await attempt('mats', 'mats right password')).ok, 'unlocked by the administrator');
});

test.serial('a successful sign-in resets the count of failures', async (t) => {
  await idp.idp.parts.users.create({ username: 'nils', password: 'nils right password' });
  await attempt('nils', 'wrong');
  await attempt('nils', 'wrong');
  t.true((await attempt('nils', 'nils right password')).ok);
  await attempt('nils', 'wrong');
  await attempt('nils', 'wrong');
  t.true((await attempt('nils', 'nils right password')).ok, 'two plus two failures never reach three in a row');
});
