import test from 'ava';
import { setImmediate as tick } from 'node:timers/promises';
import type { Knex } from 'knex';
import { startIdp, TestClock, testArgon2, type RunningIdp } from './helpers/idp.ts';
import { discover, authorizationRequest, newBrowser, signIn } from './helpers/rp.ts';
import { parseConfig } from '../src/config/load.ts';
import { openDatabase } from '../src/store/db.ts';
import { createStore } from '../src/store/index.ts';
import { createPasswordHasher, type PasswordHasher } from '../src/security/password.ts';
import { UserService, type LockoutPolicy, type SignInResult } from '../src/users/service.ts';

// Per-account lockout after consecutive failures, growing for repeated lockouts.

let idp: RunningIdp;
/** A second connection pool on the same database: a second instance. */
let other: Knex;
const clock = new TestClock();
const policy: LockoutPolicy = { threshold: 3, durationSeconds: 60, growth: 2, maxDurationSeconds: 300 };

test.before(async () => {
  idp = await startIdp({ clock, config: { lockout: policy } });
  other = openDatabase(parseConfig({ database: idp.db.config }).database);
});
test.after.always(async () => {
  await other?.destroy();
  await idp?.close();
});

/**
 * The real hasher, holding every check of a real password hash until released, so a test can have
 * many sign-ins in flight at once; counts those checks (dummy checks pass straight through).
 */
function gatedHasher() {
  const real = createPasswordHasher(() => testArgon2);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const counts = { real: 0, dummy: 0 };
  const hasher: PasswordHasher = {
    hash: (p) => real.hash(p),
    needsRehash: (h) => real.needsRehash(h),
    async verify(hash, password) {
      if (!hash) {
        counts.dummy += 1;
        return real.verify(hash, password);
      }
      counts.real += 1;
      await gate;
      return real.verify(hash, password);
    },
  };
  return { hasher, counts, release: () => open() };
}

/** Waits for a state the test brings about; the 60 s bound only catches a hang (a loaded CI machine is slow). */
async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!condition() && Date.now() < deadline) await tick();
  if (!condition()) throw new Error(`gave up waiting until ${what}`);
}

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
  // The lock runs from a moment during the attempts: measured from before them it lasts at least,
  // from after them at most, the expected time (however slowly a loaded machine ran them).
  const lockFor = async () => {
    const before = clock.now();
    for (let i = 0; i < 3; i += 1) await attempt('mats', 'wrong');
    const row = (await idp.idp.parts.store.users.findById(user.id))!;
    const until = row.lockedUntil ?? 0;
    return { fromBefore: until - before, left: until - clock.now() };
  };
  const lasts = (lock: { fromBefore: number; left: number }, ms: number) => lock.fromBefore >= ms && lock.left <= ms;
  const first = await lockFor();
  t.true(lasts(first, 60_000), `first lockout 60 s (${JSON.stringify(first)})`);
  clock.advance(first.left + 1000);
  const second = await lockFor();
  t.true(lasts(second, 120_000), `second lockout 120 s (${JSON.stringify(second)})`);
  clock.advance(second.left + 1000);
  const third = await lockFor();
  t.true(lasts(third, 240_000), `third 240 s (${JSON.stringify(third)})`);
  clock.advance(third.left + 1000);
  const fourth = await lockFor();
  t.true(lasts(fourth, 300_000), `capped at 300 s (${JSON.stringify(fourth)})`);

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

test.serial('parallel guesses from two instances: at most threshold passwords are checked, the lock holds for the right one', async (t) => {
  await idp.idp.parts.users.create({ username: 'olga', password: 'olga right password' });
  const { hasher, counts, release } = gatedHasher();
  const instances = [idp.idp.parts.store, createStore(other)].map((store) => new UserService(store, hasher, clock, () => policy));
  let settled = 0;
  const attempt = (i: number, password: string) => instances[i % 2]!.signIn('olga', password).finally(() => (settled += 1));

  const started = clock.now();
  const guesses = Array.from({ length: 40 }, (_, i) => attempt(i, `guess ${i}`));
  // Every guess has either reached a password check (and waits there) or been refused.
  await until('every guess is checked or refused', () => counts.real + settled === 40);
  const right = attempt(1, 'olga right password');
  await until('the right password is checked or refused', () => counts.real + settled === 41);
  release();
  const results: SignInResult[] = await Promise.all(guesses);
  const rightResult = await right;

  t.is(counts.real, policy.threshold, 'exactly threshold passwords were checked');
  t.is(counts.dummy, 41 - policy.threshold, 'every other attempt burnt a dummy check instead');
  t.false(rightResult.ok, 'the right password is refused');
  t.is(rightResult.ok ? '' : rightResult.reason, 'locked');
  const reasons = results.map((r) => (r.ok ? 'ok' : r.reason));
  t.is(reasons.filter((r) => r === 'wrong_password').length, policy.threshold);
  t.is(reasons.filter((r) => r === 'locked').length, 40 - policy.threshold);
  t.is(results.filter((r) => !r.ok && r.lockedNow).length, 1, 'locked once');

  const row = (await idp.idp.parts.store.users.findById(rightResult.ok ? '' : rightResult.userId!))!;
  // 60 s from the moment the locking guess started: after `started`, before now (however long the guesses took).
  t.true(row.lockedUntil! >= started + 60_000 && row.lockedUntil! <= clock.now() + 60_000, 'the first lockout, 60 s');
  t.is(row.lockouts, 1);
  t.is(row.failedSignins, 0, 'the failures start again after the lock');
  t.false((await attempt(0, 'olga right password')).ok, 'still locked afterwards');

  clock.advance(61_000);
  t.true((await new UserService(idp.idp.parts.store, createPasswordHasher(() => testArgon2), clock, () => policy).signIn('olga', 'olga right password')).ok, 'after the lockout the right password works');
});

test.serial('the right password while the last attempts are in flight: refused once a concurrent failure locks', async (t) => {
  await idp.idp.parts.users.create({ username: 'pia', password: 'pia right password' });
  const { hasher, counts, release } = gatedHasher();
  const users = new UserService(idp.idp.parts.store, hasher, clock, () => policy);
  // Two wrong guesses and the right password are checked at once: the count is full meanwhile.
  const wrong = [users.signIn('pia', 'guess a'), users.signIn('pia', 'guess b')];
  const right = users.signIn('pia', 'pia right password');
  await until('all three are being checked', () => counts.real === 3);
  let fourthDone = false;
  const fourthAttempt = users.signIn('pia', 'guess c').finally(() => (fourthDone = true));
  await until('the fourth attempt is refused or checked', () => fourthDone || counts.real === 4);
  t.is(counts.real, 3, 'the fourth attempt is not checked');
  release();
  const fourth = await fourthAttempt;
  t.true(!fourth.ok && fourth.reason === 'locked' && fourth.lockedNow === true, 'a fourth attempt finds threshold attempts counted: it locks');
  await Promise.all(wrong);
  const result = await right;
  t.true(!result.ok && result.reason === 'locked', 'the lock came first: the right password does not get in');
  t.is(counts.real, 3);
});

test.serial('a threshold lowered below the failures already counted locks at the next attempt, and the lock ends', async (t) => {
  const created = await idp.idp.parts.users.create({ username: 'quinn', password: 'quinn right password' });
  const loose = new UserService(idp.idp.parts.store, createPasswordHasher(() => testArgon2), clock, () => ({ ...policy, threshold: 10 }));
  for (let i = 0; i < 5; i += 1) await loose.signIn('quinn', 'wrong');
  t.is((await idp.idp.parts.store.users.findById(created.id))!.failedSignins, 5);
  const strict = new UserService(idp.idp.parts.store, createPasswordHasher(() => testArgon2), clock, () => policy);
  const next = await strict.signIn('quinn', 'quinn right password');
  t.true(!next.ok && next.reason === 'locked' && next.lockedNow === true, 'five failures are over the new threshold of three');
  clock.advance(61_000);
  t.true((await strict.signIn('quinn', 'quinn right password')).ok, 'never refused without a lock end');
});
