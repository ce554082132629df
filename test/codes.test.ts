import test from 'ava';
import type { Knex } from 'knex';
import { randomBytes } from 'node:crypto';
import type { Store } from '../src/store/index.ts';
import { OneTimeCodes, targetKey, type CodePolicy } from '../src/security/codes.ts';
import type { TestDatabase } from './helpers/db.ts';
import { freshStore } from './helpers/store.ts';
import type { Clock } from '../src/clock.ts';

let db: TestDatabase;
let knex: Knex;
let store: Store;
const pepper = randomBytes(32);
const basePolicy: CodePolicy = { length: 8, ttlMinutes: 10, maxAttempts: 5, maxSends: 3, resendAfterSeconds: 30 };

test.before(async () => {
  ({ db, knex, store } = await freshStore());
});
test.after.always(async () => {
  await knex?.destroy();
  await db?.cleanup();
});

/** A clock that stands still until moved, so boundaries can be tested to the millisecond. */
class ManualClock implements Clock {
  #now = Date.UTC(2026, 10, 23, 12, 0, 0);
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

let userCounter = 0;
/** A new user (challenges reference users) and a code service with its own movable clock. */
async function setup(policy: Partial<CodePolicy> = {}) {
  const id = `u${++userCounter}-${randomBytes(4).toString('hex')}`;
  const clock = new ManualClock();
  await store.users.create({
    id,
    username: id,
    usernameKey: id,
    usernameSkeleton: id,
    displayName: id,
    email: null,
    emailVerified: false,
    passwordSource: 'cloud',
    passwordHash: null,
    now: clock.now(),
  });
  const current = { ...basePolicy, ...policy };
  const codes = new OneTimeCodes(store.sspr, clock, () => pepper, () => current);
  return { userId: id, clock, codes, policy: current };
}

async function issued(codes: OneTimeCodes, userId: string, purpose: string, target: string, pending?: string | null) {
  const r = await codes.issue(userId, purpose, target, pending);
  if (!r.ok) throw new Error(`issue failed: ${r.reason}`);
  return r;
}

/** Any code of the right length other than `code`. */
const otherCode = (code: string) => code.replace(/^./, (d) => String((Number(d) + 1) % 10));

test('issue → verify ok, with the pending value and the code formatted as the user may type it', async (t) => {
  const { userId, codes } = await setup();
  const r = await issued(codes, userId, 'register:email', 'New@Example.org', 'new@example.org');
  t.regex(r.code, /^[0-9]{8}$/);
  const typed = `${r.code.slice(0, 4)} - ${r.code.slice(4)}`;
  t.deepEqual(await codes.verify(userId, 'register:email', '  new@EXAMPLE.org ', typed), { ok: true, pendingValue: 'new@example.org' });
});

test('wrong codes count down; after maxAttempts even the right code fails', async (t) => {
  const { userId, codes } = await setup({ maxAttempts: 3 });
  const r = await issued(codes, userId, 'reset:email', 'a@example.org');
  const wrong = otherCode(r.code);
  t.deepEqual(await codes.verify(userId, 'reset:email', 'a@example.org', wrong), { ok: false, reason: 'wrong_code', attemptsLeft: 2 });
  t.deepEqual(await codes.verify(userId, 'reset:email', 'a@example.org', wrong), { ok: false, reason: 'wrong_code', attemptsLeft: 1 });
  t.deepEqual(await codes.verify(userId, 'reset:email', 'a@example.org', wrong), { ok: false, reason: 'wrong_code', attemptsLeft: 0 });
  t.deepEqual(await codes.verify(userId, 'reset:email', 'a@example.org', r.code), { ok: false, reason: 'too_many_attempts' });
  const row = await knex('sspr_challenges').where({ id: r.challengeId }).first();
  t.is(Number(row.attempts), 3, 'the refused right code did not count');
});

test('a code expires after ttlMinutes', async (t) => {
  const { userId, codes, clock } = await setup({ ttlMinutes: 2 });
  const r = await issued(codes, userId, 'reset:email', 'a@example.org');
  clock.advance(2 * 60_000);
  t.deepEqual(await codes.verify(userId, 'reset:email', 'a@example.org', r.code), { ok: false, reason: 'expired' });
});

test('a code is valid until just before expiry', async (t) => {
  const { userId, codes, clock } = await setup({ ttlMinutes: 2 });
  const r = await issued(codes, userId, 'reset:email', 'a@example.org');
  clock.advance(2 * 60_000 - 1);
  t.like(await codes.verify(userId, 'reset:email', 'a@example.org', r.code), { ok: true });
});

test('a used code cannot be used again', async (t) => {
  const { userId, codes } = await setup();
  const r = await issued(codes, userId, 'reset:email', 'a@example.org');
  t.like(await codes.verify(userId, 'reset:email', 'a@example.org', r.code), { ok: true });
  t.deepEqual(await codes.verify(userId, 'reset:email', 'a@example.org', r.code), { ok: false, reason: 'used' });
});

test('a code sent to address A does not verify for address B, and that costs no attempt', async (t) => {
  const { userId, codes } = await setup();
  const r = await issued(codes, userId, 'register:email', 'a@example.org');
  t.deepEqual(await codes.verify(userId, 'register:email', 'b@example.org', r.code), { ok: false, reason: 'wrong_target' });
  t.like(await codes.verify(userId, 'register:email', 'A@Example.org', r.code), { ok: true });
});

test('codes are bound to the user and the purpose', async (t) => {
  const { userId, codes } = await setup();
  const other = await setup();
  const r = await issued(codes, userId, 'register:email', 'a@example.org');
  t.deepEqual(await codes.verify(other.userId, 'register:email', 'a@example.org', r.code), { ok: false, reason: 'not_found' });
  t.deepEqual(await codes.verify(userId, 'reset:email', 'a@example.org', r.code), { ok: false, reason: 'not_found' });
  t.like(await codes.verify(userId, 'register:email', 'a@example.org', r.code), { ok: true });
});

test('a new code voids the old one', async (t) => {
  const { userId, codes, clock, policy } = await setup();
  const first = await issued(codes, userId, 'reset:email', 'a@example.org');
  clock.advance(policy.resendAfterSeconds * 1000);
  const second = await issued(codes, userId, 'reset:email', 'a@example.org');
  const old = await store.sspr.challenge(first.challengeId);
  t.not(old?.consumedAt, null, 'the first challenge is void');
  if (first.code !== second.code) {
    t.like(await codes.verify(userId, 'reset:email', 'a@example.org', first.code), { ok: false, reason: 'wrong_code' });
  }
  t.like(await codes.verify(userId, 'reset:email', 'a@example.org', second.code), { ok: true });
});

test('a code for another address also replaces the open one of the purpose', async (t) => {
  const { userId, codes } = await setup();
  const a = await issued(codes, userId, 'register:email', 'a@example.org');
  const b = await issued(codes, userId, 'register:email', 'b@example.org');
  t.not((await store.sspr.challenge(a.challengeId))?.consumedAt, null);
  t.deepEqual(await codes.verify(userId, 'register:email', 'a@example.org', a.code), { ok: false, reason: 'wrong_target' });
  t.like(await codes.verify(userId, 'register:email', 'b@example.org', b.code), { ok: true });
});

test('resend too soon', async (t) => {
  const { userId, codes, clock } = await setup({ resendAfterSeconds: 30 });
  await issued(codes, userId, 'reset:email', 'a@example.org');
  clock.advance(10_500);
  t.deepEqual(await codes.issue(userId, 'reset:email', ' A@example.org'), { ok: false, reason: 'resend_too_soon', retryAfterSeconds: 20 });
  clock.advance(19_500);
  t.like(await codes.issue(userId, 'reset:email', 'a@example.org'), { ok: true });
});

test('too many sends within the validity window; allowed again once it has passed', async (t) => {
  const { userId, codes, clock } = await setup({ maxSends: 3, ttlMinutes: 5, resendAfterSeconds: 30 });
  for (let i = 0; i < 3; i++) {
    await issued(codes, userId, 'reset:mobile_phone', '+31612345678');
    clock.advance(30_000);
  }
  t.deepEqual(await codes.issue(userId, 'reset:mobile_phone', '+31612345678'), { ok: false, reason: 'too_many_sends' });
  t.like(await codes.issue(userId, 'reset:email', 'a@example.org'), { ok: true }, 'other purposes are separate');
  clock.advance(5 * 60_000 - 60_000);
  t.like(await codes.issue(userId, 'reset:mobile_phone', '+31612345678'), { ok: true });
});

test('the code is stored only as an HMAC bound to the challenge', async (t) => {
  const { userId, codes } = await setup();
  const r = await issued(codes, userId, 'register:email', 'secret@example.org', 'secret@example.org');
  const row = (await knex('sspr_challenges').where({ id: r.challengeId }).first()) as Record<string, unknown>;
  t.regex(String(row.code_hash), /^[0-9a-f]{64}$/);
  t.not(row.code_hash, r.code);
  for (const [column, value] of Object.entries(row)) {
    t.false(String(value).includes(r.code), `${column} does not contain the code`);
  }
  t.is(row.target_key, targetKey('secret@example.org'));
  t.not(row.target_key, 'secret@example.org');
  t.is(Number(row.sends), 1);
});

test('codes have 6–10 digits, leading zeros included, and look uniform', async (t) => {
  for (const length of [6, 7, 8, 9, 10]) {
    const { userId, codes } = await setup({ length, resendAfterSeconds: 0, maxSends: 10 });
    const r = await issued(codes, userId, 'reset:email', 'a@example.org');
    t.regex(r.code, new RegExp(`^[0-9]{${length}}$`));
  }
  // The generator itself, over many draws: every digit at every position, leading zeros included.
  const { randomCode } = await import('../src/security/codes.ts');
  const counts = Array.from({ length: 10 }, () => 0);
  let leadingZero = 0;
  const draws = 4000;
  for (let i = 0; i < draws; i++) {
    const code = randomCode(6);
    t.is(code.length, 6);
    if (code.startsWith('0')) leadingZero++;
    for (const d of code) counts[Number(d)]!++;
  }
  t.true(leadingZero > 0, 'leading zeros occur');
  const expected = (draws * 6) / 10;
  for (const c of counts) t.true(Math.abs(c - expected) < expected * 0.15, `digit frequency ${c} near ${expected}`);
});

test('concurrent verifications of one code: exactly one succeeds', async (t) => {
  const { userId, codes } = await setup({ maxAttempts: 10 });
  const r = await issued(codes, userId, 'reset:email', 'a@example.org');
  const results = await Promise.all(Array.from({ length: 6 }, () => codes.verify(userId, 'reset:email', 'a@example.org', r.code)));
  t.is(results.filter((x) => x.ok).length, 1);
  for (const x of results.filter((y) => !y.ok)) t.like(x, { ok: false, reason: 'used' });
});

test('parallel guesses never exceed maxAttempts', async (t) => {
  const { userId, codes } = await setup({ maxAttempts: 3 });
  const r = await issued(codes, userId, 'reset:email', 'a@example.org');
  const wrong = otherCode(r.code);
  const results = await Promise.all(Array.from({ length: 8 }, () => codes.verify(userId, 'reset:email', 'a@example.org', wrong)));
  t.is(results.filter((x) => !x.ok && x.reason === 'wrong_code').length, 3);
  const row = await knex('sspr_challenges').where({ id: r.challengeId }).first();
  t.is(Number(row.attempts), 3);
  t.deepEqual(await codes.verify(userId, 'reset:email', 'a@example.org', r.code), { ok: false, reason: 'too_many_attempts' });
});

test('garbage input is a wrong code, never an error', async (t) => {
  const { userId, codes } = await setup({ maxAttempts: 10 });
  const r = await issued(codes, userId, 'reset:email', 'a@example.org');
  const garbage = ['', 'abc', '9'.repeat(50), '١٢٣٤٥٦٧٨', '１２３４５６７８', `${r.code}x`, ` ${r.code}0`, 'x'.repeat(100_000), '\u0000'];
  let left = 10;
  for (const g of garbage) {
    const result = await codes.verify(userId, 'reset:email', 'a@example.org', g);
    t.deepEqual(result, { ok: false, reason: 'wrong_code', attemptsLeft: --left }, JSON.stringify(g.slice(0, 20)));
  }
  t.like(await codes.verify(userId, 'reset:email', 'a@example.org', r.code), { ok: true });
});

test('verify without any challenge: not_found', async (t) => {
  const { userId, codes } = await setup();
  t.deepEqual(await codes.verify(userId, 'reset:email', 'a@example.org', '12345678'), { ok: false, reason: 'not_found' });
});

test('hold, pending and consume: a value taken back once', async (t) => {
  const { userId, codes, clock } = await setup();
  t.is(await codes.pending(userId, 'register:authenticator_app'), undefined);
  const first = await codes.hold(userId, 'register:authenticator_app', 'sealed-1');
  const id = await codes.hold(userId, 'register:authenticator_app', 'sealed-2');
  t.not(first, id);
  t.deepEqual(await codes.pending(userId, 'register:authenticator_app'), { challengeId: id, pendingValue: 'sealed-2' });
  t.false(await codes.consume(first), 'the replaced value is void');
  const [a, b] = await Promise.all([codes.consume(id), codes.consume(id)]);
  t.true(a !== b, 'exactly one consumer wins');
  t.is(await codes.pending(userId, 'register:authenticator_app'), undefined);
  // A held value without a code can't be verified as a code either.
  t.deepEqual(await codes.verify(userId, 'register:authenticator_app', '', '12345678'), { ok: false, reason: 'not_found' });

  const later = await codes.hold(userId, 'register:authenticator_app', 'sealed-3', 1);
  clock.advance(60_000);
  t.is(await codes.pending(userId, 'register:authenticator_app'), undefined, 'expired');
  t.false(await codes.consume(later));
});

test('consume refuses a challenge that has a code', async (t) => {
  const { userId, codes } = await setup();
  const r = await issued(codes, userId, 'register:email', 'a@example.org', 'a@example.org');
  t.false(await codes.consume(r.challengeId));
  t.is(await codes.pending(userId, 'register:email'), undefined);
  t.like(await codes.verify(userId, 'register:email', 'a@example.org', r.code), { ok: true });
});

test('the pepper matters: another key does not accept the code', async (t) => {
  const { userId, codes, clock, policy } = await setup();
  const r = await issued(codes, userId, 'reset:email', 'a@example.org');
  const other = new OneTimeCodes(store.sspr, clock, () => randomBytes(32), () => policy);
  t.like(await other.verify(userId, 'reset:email', 'a@example.org', r.code), { ok: false, reason: 'wrong_code' });
});
