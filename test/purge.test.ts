import test from 'ava';
import { Writable } from 'node:stream';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { buildConfig, TestClock } from './helpers/idp.ts';
import { createIdpParts, type IdpParts } from '../src/app.ts';
import { createLogger } from '../src/logging.ts';

// The server's purge job (IdpParts.purge, run on a timer by createIdp): audit retention and ended
// throttle counters among the rest, and every job runs even when another fails.

const DAY = 86_400_000;
const HOUR = 3_600_000;

interface Bed {
  db: TestDatabase;
  parts: IdpParts;
  clock: TestClock;
  logs: Record<string, unknown>[];
}

async function bed(retentionDays: number): Promise<Bed> {
  const db = await freshDatabase();
  const clock = new TestClock();
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const config = buildConfig('http://127.0.0.1:9', db, { audit: { retentionDays }, logging: { level: 'warn' } });
  const parts = await createIdpParts(config, { clock, logger: createLogger('warn', sink) });
  return { db, parts, clock, logs };
}

async function close(b: Bed | undefined): Promise<void> {
  await b?.parts.close();
  await b?.db.cleanup();
}

/** Old and recent audit events, ended and live throttle rows. */
async function seed({ parts, clock }: Bed): Promise<void> {
  const now = clock.now();
  const audit = parts.store.audit;
  await audit.record({ type: 'old.year', outcome: 'info' }, now - 400 * DAY);
  await audit.record({ type: 'old.month', outcome: 'info' }, now - 31 * DAY);
  await audit.record({ type: 'kept.month', outcome: 'info' }, now - 29 * DAY);
  await audit.record({ type: 'kept.now', outcome: 'success' }, now);
  const throttle = parts.store.throttle;
  await throttle.count('seed:window-ended', now - 2 * HOUR, now - HOUR);
  await throttle.block('seed:block-ended', now - 1000);
  await throttle.count('seed:window-live', now, now + HOUR);
  // Its window ended, but the block on it still runs: the row stays.
  await throttle.count('seed:blocked', now - 2 * HOUR, now - HOUR);
  await throttle.block('seed:blocked', now + 24 * HOUR);
}

const auditTypes = async (parts: IdpParts) => (await parts.store.audit.list()).map((e) => e.type);
const throttleKeys = async (parts: IdpParts) => ((await parts.store.db('throttle_counters').orderBy('key').select('key')) as { key: string }[]).map((r) => r.key);

test('the purge job deletes audit events older than audit.retentionDays and ended throttle rows, and keeps the rest', async (t) => {
  let b: Bed | undefined;
  try {
    b = await bed(30);
    await seed(b);
    t.is(await b.parts.purge(), 4, 'two audit events and two throttle rows');
    t.deepEqual(await auditTypes(b.parts), ['kept.month', 'kept.now']);
    t.deepEqual(await throttleKeys(b.parts), ['seed:blocked', 'seed:window-live']);
    t.is(await b.parts.purge(), 0, 'nothing left to purge');

    // Retention is read live: a shorter period applies at the next run.
    b.parts.config.replace({ ...b.parts.config.current, audit: { retentionDays: 10 } });
    t.is(await b.parts.purge(), 1);
    t.deepEqual(await auditTypes(b.parts), ['kept.now']);

    // Time passes: the live window and then the block end, and their rows go.
    b.clock.advance(HOUR + 1);
    t.is(await b.parts.purge(), 1);
    t.deepEqual(await throttleKeys(b.parts), ['seed:blocked']);
    b.clock.advance(24 * HOUR);
    t.is(await b.parts.purge(), 1);
    t.deepEqual(await throttleKeys(b.parts), []);
    t.deepEqual(b.logs.filter((l) => Number(l.level) >= 40), [], 'no warnings');
  } finally {
    await close(b);
  }
});

test('a failing purge job does not stop the others: each runs, the failure is logged, purge() reports it', async (t) => {
  let b: Bed | undefined;
  try {
    b = await bed(30);
    await seed(b);
    // The first job (expired oidc rows) fails: its table is gone.
    await b.parts.store.db.schema.dropTable('oidc_payloads');
    const error = await t.throwsAsync(b.parts.purge());
    t.regex(error?.message ?? '', /purge: 1 of \d+ jobs failed: oidc_payloads/);
    t.is((error as Error & { deleted?: number }).deleted, 4, 'what the other jobs deleted is still reported');
    t.deepEqual(await auditTypes(b.parts), ['kept.month', 'kept.now'], 'audit retention ran after the failed job');
    t.deepEqual(await throttleKeys(b.parts), ['seed:blocked', 'seed:window-live'], 'the throttle purge ran after the failed job');
    const logged = b.logs.filter((l) => l.msg === 'purge job failed');
    t.is(logged.length, 1);
    t.like(logged[0], { job: 'oidc_payloads', level: 50 });
    t.truthy((logged[0]!.err as { message?: string } | undefined)?.message, 'with its cause');
  } finally {
    await close(b);
  }
});
