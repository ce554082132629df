import test from 'ava';
import type { Knex } from 'knex';
import { openDatabase, migrateLatest } from '../src/store/db.ts';
import { parseConfig } from '../src/config/load.ts';
import { Throttle as ThrottleOn, storedKey, type Limit } from '../src/security/throttle.ts';
import { ThrottleStore } from '../src/store/throttle.ts';
import type { Clock } from '../src/clock.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';

/** A clock that only moves when told to, so windows and blocks can be checked to the second. */
class ManualClock implements Clock {
  #now: number;
  constructor(now = Date.UTC(2026, 10, 23, 12, 0, 0)) {
    this.#now = now;
  }
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

/** The throttle logic over the store's counters, on a given connection pool (one per instance). */
class Throttle extends ThrottleOn {
  constructor(pool: Knex, clock: Clock) {
    super(new ThrottleStore(pool), clock);
  }
}

let db: TestDatabase;
let knex: Knex;
/** A second connection pool on the same database: a second instance. */
let other: Knex;

test.before(async () => {
  db = await freshDatabase();
  const config = parseConfig({ database: db.config });
  knex = openDatabase(config.database);
  other = openDatabase(config.database);
  await migrateLatest(knex, config.database.schema);
});
test.after.always(async () => {
  await knex?.destroy();
  await other?.destroy();
  await db?.cleanup();
});

// Tests run concurrently: each uses its own keys and its own clock.

test('the migration creates the counter table', async (t) => {
  t.true(await knex.schema.hasTable('throttle_counters'));
});

test('allowed up to points, then refused until the window ends', async (t) => {
  const clock = new ManualClock();
  const throttle = new Throttle(knex, clock);
  const limit: Limit = { points: 3, windowSeconds: 60 };
  t.deepEqual(await throttle.hit('a:1', limit), { allowed: true, remaining: 2, retryAfterSeconds: 0 });
  t.deepEqual(await throttle.hit('a:1', limit), { allowed: true, remaining: 1, retryAfterSeconds: 0 });
  t.deepEqual(await throttle.hit('a:1', limit), { allowed: true, remaining: 0, retryAfterSeconds: 0 });
  t.deepEqual(await throttle.hit('a:1', limit), { allowed: false, remaining: 0, retryAfterSeconds: 60 });
  clock.advance(30_500);
  const refused = await throttle.hit('a:1', limit);
  t.false(refused.allowed);
  t.is(refused.retryAfterSeconds, 30, 'seconds left of the window, rounded up');
  t.is(await throttle.peek('a:1', limit), 5, 'refused events are counted too');
});

test('a new window starts once the previous one ended', async (t) => {
  const clock = new ManualClock();
  const throttle = new Throttle(knex, clock);
  const limit: Limit = { points: 2, windowSeconds: 10 };
  await throttle.hit('w:1', limit);
  clock.advance(5_000);
  await throttle.hit('w:1', limit);
  t.false((await throttle.hit('w:1', limit)).allowed);
  clock.advance(4_999);
  t.false((await throttle.hit('w:1', limit)).allowed, 'the window is fixed: it started with the first hit');
  t.is(await throttle.peek('w:1', limit), 4);
  clock.advance(1);
  t.is(await throttle.peek('w:1', limit), 0, 'nothing is counted once the window ended');
  t.deepEqual(await throttle.hit('w:1', limit), { allowed: true, remaining: 1, retryAfterSeconds: 0 });
  t.is(await throttle.peek('w:1', limit), 1);
  clock.advance(9_999);
  t.deepEqual(await throttle.hit('w:1', limit), { allowed: true, remaining: 0, retryAfterSeconds: 0 });
  t.deepEqual(await throttle.hit('w:1', limit), { allowed: false, remaining: 0, retryAfterSeconds: 1 });
});

test('reset forgets a key', async (t) => {
  const clock = new ManualClock();
  const throttle = new Throttle(knex, clock);
  const limit: Limit = { points: 1, windowSeconds: 3600 };
  t.true((await throttle.hit('r:1', limit)).allowed);
  t.false((await throttle.hit('r:1', limit)).allowed);
  await throttle.reset('r:1');
  t.is(await throttle.peek('r:1', limit), 0);
  t.true((await throttle.hit('r:1', limit)).allowed);
  await throttle.reset('r:never-seen');
  t.is(await throttle.peek('r:never-seen', limit), 0);
});

test('block and blockedFor, until the block expires', async (t) => {
  const clock = new ManualClock();
  const throttle = new Throttle(knex, clock);
  const limit: Limit = { points: 5, windowSeconds: 60 };
  t.is(await throttle.blockedFor('b:1'), 0);
  await throttle.block('b:1', 86_400);
  t.is(await throttle.blockedFor('b:1'), 86_400);
  clock.advance(3_600_000);
  t.is(await throttle.blockedFor('b:1'), 82_800);
  t.deepEqual(await throttle.hit('b:1', limit), { allowed: false, remaining: 0, retryAfterSeconds: 82_800 }, 'a blocked key refuses every hit');
  await throttle.block('b:1', 60);
  t.is(await throttle.blockedFor('b:1'), 82_800, 'a shorter block leaves the longer one');
  await throttle.block('b:1', 100_000);
  t.is(await throttle.blockedFor('b:1'), 100_000, 'a longer block extends it');
  clock.advance(99_999_500);
  t.is(await throttle.blockedFor('b:1'), 1, 'rounded up');
  clock.advance(500);
  t.is(await throttle.blockedFor('b:1'), 0, 'the block expired');
  t.true((await throttle.hit('b:1', limit)).allowed);
  t.is(await throttle.blockedFor('b:other'), 0, 'other keys are not blocked');

  await throttle.block('b:2', 60);
  await throttle.reset('b:2');
  t.is(await throttle.blockedFor('b:2'), 0, 'reset lifts a block');
});

test('blocking a key keeps its counter, and a counter does not lift a block', async (t) => {
  const clock = new ManualClock();
  const throttle = new Throttle(knex, clock);
  const limit: Limit = { points: 3, windowSeconds: 60 };
  await throttle.hit('bc:1', limit);
  await throttle.hit('bc:1', limit);
  await throttle.block('bc:1', 30);
  t.is(await throttle.peek('bc:1', limit), 2);
  t.deepEqual(await throttle.hit('bc:1', limit), { allowed: false, remaining: 0, retryAfterSeconds: 30 });
  clock.advance(30_000);
  t.deepEqual(await throttle.hit('bc:1', limit), { allowed: false, remaining: 0, retryAfterSeconds: 30 }, 'now over the limit: refused until the window ends');
  clock.advance(30_000);
  t.true((await throttle.hit('bc:1', limit)).allowed);
});

test('separate keys do not interfere', async (t) => {
  const clock = new ManualClock();
  const throttle = new Throttle(knex, clock);
  const limit: Limit = { points: 2, windowSeconds: 60 };
  for (let i = 0; i < 3; i += 1) await throttle.hit('signin:ip:10.0.0.1', limit);
  t.false((await throttle.hit('signin:ip:10.0.0.1', limit)).allowed);
  t.deepEqual(await throttle.hit('signin:ip:10.0.0.2', limit), { allowed: true, remaining: 1, retryAfterSeconds: 0 });
  t.is(await throttle.peek('signin:ip:10.0.0.2', limit), 1);
  await throttle.block('sspr:block:u1', 60);
  t.is(await throttle.blockedFor('sspr:block:u2'), 0);
  t.is(await throttle.peek('sspr:block:u1', limit), 0, 'a block is not a counted event');
});

test('long keys are hashed; a hash cannot collide with a plain key', async (t) => {
  const clock = new ManualClock();
  const throttle = new Throttle(knex, clock);
  const limit: Limit = { points: 1, windowSeconds: 60 };
  const long = 'k:'.padEnd(500, 'x');
  t.true((await throttle.hit(`${long}1`, limit)).allowed);
  t.true((await throttle.hit(`${long}2`, limit)).allowed, 'keys differing after 200 characters are distinct');
  t.false((await throttle.hit(`${long}1`, limit)).allowed);
  t.is(await throttle.peek(`${long}1`, limit), 2);
  t.regex(storedKey(`${long}1`), /^sha256:[0-9a-f]{64}$/);
  t.is(storedKey('sspr:phone:u1'), 'sspr:phone:u1', 'short keys are stored as they are');
  const disguised = storedKey(`${long}1`);
  t.not(storedKey(disguised), disguised);
  t.true((await throttle.hit(disguised, limit)).allowed, 'a key that looks like a stored hash is counted apart');
  const unicode = 'k:é'.repeat(100);
  t.true((await throttle.hit(unicode, limit)).allowed);
  t.false((await throttle.hit(unicode, limit)).allowed);
});

test('concurrent hits on one key: exactly points are allowed', async (t) => {
  const throttle = new Throttle(knex, new ManualClock());
  const limit: Limit = { points: 5, windowSeconds: 60 };
  const results = await Promise.all(Array.from({ length: 15 }, () => throttle.hit('c:1', limit)));
  t.is(results.filter((r) => r.allowed).length, 5);
  t.deepEqual(results.filter((r) => r.allowed).map((r) => r.remaining).sort(), [0, 1, 2, 3, 4]);
  t.is(await throttle.peek('c:1', limit), 15);
});

/** Two instances' throttles on their own connections to one database, at the same moment. */
function twoInstances() {
  const now = Date.now();
  const a = new Throttle(knex, new ManualClock(now));
  const b = new Throttle(other, new ManualClock(now));
  /** `count` calls at once, every other one on each instance. */
  const race = <T>(count: number, call: (throttle: Throttle) => Promise<T>) => Promise.all(Array.from({ length: count }, (_, i) => call(i % 2 === 0 ? a : b)));
  return { a, b, race };
}

test('concurrent hits from two instances on one key: exactly points are allowed', async (t) => {
  const { a, b, race } = twoInstances();
  const limit: Limit = { points: 8, windowSeconds: 60 };
  const results = await race(24, (throttle) => throttle.hit('c:2', limit));
  t.is(results.filter((r) => r.allowed).length, 8);
  t.is(await a.peek('c:2', limit), 24);
  t.is(await b.peek('c:2', limit), 24);

  // A fresh key raced from both sides: the first insert must not be lost.
  const first = await Promise.all([a.hit('c:3', { points: 1, windowSeconds: 60 }), b.hit('c:3', { points: 1, windowSeconds: 60 })]);
  t.is(first.filter((r) => r.allowed).length, 1);
});

test('take counts like hit; giveBack uncounts within the same window only', async (t) => {
  const clock = new ManualClock();
  const throttle = new Throttle(knex, clock);
  const limit: Limit = { points: 2, windowSeconds: 60 };
  const first = await throttle.take('t:1', limit);
  t.like(first, { allowed: true, remaining: 1, retryAfterSeconds: 0 });
  await first.giveBack();
  t.is(await throttle.peek('t:1', limit), 0, 'given back');
  await first.giveBack();
  t.is(await throttle.peek('t:1', limit), 0, 'never below zero');
  const kept = await throttle.take('t:1', limit);
  await throttle.take('t:1', limit);
  const over = await throttle.take('t:1', limit);
  t.like(over, { allowed: false, remaining: 0, retryAfterSeconds: 60 });
  await over.giveBack();
  t.is(await throttle.peek('t:1', limit), 2);
  clock.advance(60_000);
  await throttle.hit('t:1', limit);
  await kept.giveBack();
  t.is(await throttle.peek('t:1', limit), 1, 'a point of the previous window is not taken from the new one');
});

test('concurrent takes from two instances: exactly points are allowed, and giving back lets as many more in', async (t) => {
  const { a, race } = twoInstances();
  const limit: Limit = { points: 4, windowSeconds: 60 };
  const taken = await race(20, (throttle) => throttle.take('t:2', limit));
  t.is(taken.filter((r) => r.allowed).length, 4);
  await Promise.all(taken.filter((r) => !r.allowed).map((r) => r.giveBack()));
  t.is(await a.peek('t:2', limit), 4, 'the refused ones gave theirs back');
  await Promise.all(taken.filter((r) => r.allowed).slice(0, 2).map((r) => r.giveBack()));
  const again = await race(6, (throttle) => throttle.take('t:2', limit));
  t.is(again.filter((r) => r.allowed).length, 2);
});

// Serial tests run before the concurrent ones: no other test's rows exist while this one purges.
test.serial('purgeExpired deletes only rows whose window and block both ended', async (t) => {
  const clock = new ManualClock(Date.UTC(2030, 0, 1));
  const throttle = new Throttle(knex, clock);
  const short: Limit = { points: 5, windowSeconds: 10 };
  const long: Limit = { points: 5, windowSeconds: 1000 };
  await throttle.hit('p:short', short);
  await throttle.hit('p:long', long);
  await throttle.block('p:blocked', 100);
  await throttle.hit('p:counted-and-blocked', short);
  await throttle.block('p:counted-and-blocked', 100);
  await throttle.block('p:blocked-then-counted', 5);
  await throttle.hit('p:blocked-then-counted', long);
  clock.advance(10_000);
  const keys = () => knex('throttle_counters').whereLike('key', 'p:%').orderBy('key').pluck('key') as Promise<string[]>;
  t.is((await keys()).length, 5);
  t.is(await throttle.purgeExpired(), 1);
  t.deepEqual(await keys(), ['p:blocked', 'p:blocked-then-counted', 'p:counted-and-blocked', 'p:long']);
  t.is(await throttle.blockedFor('p:counted-and-blocked'), 90);
  clock.advance(90_000);
  t.is(await throttle.purgeExpired(), 2);
  t.deepEqual(await keys(), ['p:blocked-then-counted', 'p:long']);
  clock.advance(900_000);
  t.is(await throttle.purgeExpired(), 2);
  t.deepEqual(await keys(), []);
  t.is(await throttle.purgeExpired(), 0);
});

test('invalid limits are refused', async (t) => {
  const throttle = new Throttle(knex, new ManualClock());
  await t.throwsAsync(throttle.hit('i:1', { points: 0, windowSeconds: 60 }), { instanceOf: RangeError });
  await t.throwsAsync(throttle.hit('i:1', { points: 1.5, windowSeconds: 60 }), { instanceOf: RangeError });
  await t.throwsAsync(throttle.hit('i:1', { points: 1, windowSeconds: 0 }), { instanceOf: RangeError });
  await t.throwsAsync(throttle.peek('i:1', { points: 1, windowSeconds: Number.NaN }), { instanceOf: RangeError });
  await t.throwsAsync(throttle.block('i:1', 0), { instanceOf: RangeError });
  t.is(await throttle.peek('i:1', { points: 1, windowSeconds: 60 }), 0, 'nothing was counted');
});
