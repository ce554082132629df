/**
 * `oidc-sspr audit`, `audit purge`, `report registration` and `report resets`, run as child
 * processes against a fresh database seeded through the store with known users, methods and
 * audit events at known times.
 */
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Knex } from 'knex';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { runCli } from './helpers/process.ts';
import { parseConfig } from '../src/config/load.ts';
import { openDatabase, migrateLatest } from '../src/store/db.ts';
import { createStore, type Store, type AuditEvent } from '../src/store/index.ts';
import type { AuditLine } from '../src/store/reports.ts';
import { UserService } from '../src/users/service.ts';
import { createPasswordHasher } from '../src/security/password.ts';
import { systemClock } from '../src/clock.ts';
import { parseSince, purgeAudit } from '../src/cli/audit-commands.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Seeded times are relative to this moment; the CLI runs seconds later, far from every boundary. */
const NOW = Date.now();
const ago = (ms: number) => NOW - ms;
const iso = (ms: number) => new Date(ms).toISOString();

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

const cli = (args: string[]): Promise<Result> => runCli(args);

let dir: string;
let db: TestDatabase;
let purgeDb: TestDatabase;
let configFile: string;
let purgeConfigFile: string;
let purgeKnex: Knex;
let purgeStore: Store;
const ids: Record<string, string> = {};

const ssprConfig = {
  enabled: 'selected',
  groups: ['Staff'],
  administrators: { groups: ['Admins'] },
  methods: { officePhone: true, securityQuestions: true },
};

async function writeConfig(name: string, database: TestDatabase['config'], extra: Record<string, unknown> = {}): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, stringify({ database, logging: { level: 'silent' }, sspr: ssprConfig, ...extra }));
  return file;
}

async function open(database: TestDatabase): Promise<{ knex: Knex; store: Store }> {
  const config = parseConfig({ database: database.config });
  const knex = openDatabase(config.database);
  await migrateLatest(knex, config.database.schema);
  return { knex, store: createStore(knex) };
}

const run = (args: string[]) => cli(['--config', configFile, ...args]);

async function json<T>(args: string[]): Promise<T> {
  const r = await run([...args, '--json']);
  if (r.code !== 0) throw new Error(`${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** An event as `audit --json` prints it: its time as ISO text, its details always an object. */
type AuditRecord = Omit<AuditLine, 'at' | 'details'> & { at: string; details: Record<string, unknown> };

/** The seeded events: [when, event]. User names are replaced by ids when seeding. */
const seed: [number, AuditEvent & { user?: string }][] = [
  // Registration.
  [ago(20 * DAY), { type: 'sspr.method.added', outcome: 'success', user: 'alice', clientId: 'portal', ip: '10.0.0.1', flowId: 'flow-1', details: { method: 'email' } }],
  [ago(19 * DAY), { type: 'sspr.registration.completed', outcome: 'success', user: 'alice', details: { methods: 'email mobilePhone' } }],
  [ago(8 * DAY), { type: 'admin.office_phone.set', outcome: 'success', user: 'frank', details: { by: 'cli' } }],
  // Older than 30 days (but not than 60).
  [ago(40 * DAY), { type: 'sspr.reset.started', outcome: 'success', user: 'alice' }],
  [ago(40 * DAY - MINUTE), { type: 'sspr.reset.completed', outcome: 'success', user: 'alice', details: { methods: 'email' } }],
  [ago(41 * DAY), { type: 'sspr.reset.started', outcome: 'failure', user: 'bob', details: { reason: 'not_enabled' } }],
  [ago(50 * DAY), { type: 'test.weird', outcome: 'info', ip: 'evil\u001b[31m', details: { text: 'red\u001b[31m', spaced: 'a b' } }],
  // Within 30 days, more than 2 days ago.
  [ago(5 * DAY), { type: 'sspr.reset.started', outcome: 'success', user: 'alice', ip: '10.0.0.5' }],
  [ago(5 * DAY - 1 * MINUTE), { type: 'sspr.reset.step', outcome: 'failure', user: 'alice', details: { method: 'email' } }],
  [ago(5 * DAY - 2 * MINUTE), { type: 'sspr.reset.step', outcome: 'failure', user: 'alice', details: { method: 'mobilePhone' } }],
  [ago(5 * DAY - 3 * MINUTE), { type: 'sspr.reset.step', outcome: 'info', user: 'alice', details: { method: 'mobilePhone' } }],
  [ago(5 * DAY - 4 * MINUTE), { type: 'sspr.unlocked', outcome: 'success', user: 'alice' }],
  [ago(4 * DAY), { type: 'setup.signin', outcome: 'failure', user: 'bob', ip: '10.0.0.2', details: { reason: 'wrong_password' } }],
  [ago(6 * DAY), { type: 'sspr.reset.started', outcome: 'success', user: 'dave' }],
  [ago(6 * DAY + HOUR), { type: 'sspr.blocked', outcome: 'failure', user: 'bob', details: { limit: 'resetsPerDay' } }],
  [ago(7 * DAY), { type: 'sspr.reset.started', outcome: 'failure', user: 'erin', details: { reason: 'not_enabled' } }],
  [ago(7 * DAY + 1 * MINUTE), { type: 'sspr.reset.started', outcome: 'failure', user: 'bob', details: { reason: 'not_registered' } }],
  [ago(7 * DAY + 2 * MINUTE), { type: 'sspr.reset.started', outcome: 'failure', ip: '192.0.2.9', details: { reason: 'not_registered' } }],
  [ago(7 * DAY - 1 * MINUTE), { type: 'sspr.contact_admin', outcome: 'success', user: 'bob', details: { reason: 'not_registered', recipients: 1 } }],
  [ago(8 * DAY + HOUR), { type: 'sspr.reset.started', outcome: 'failure', user: 'frank', details: { reason: 'onprem_managed' } }],
  [ago(8 * DAY), { type: 'sspr.contact_admin', outcome: 'success', user: 'frank', details: { reason: 'onprem_managed', recipients: 1 } }],
  [ago(9 * DAY), { type: 'sspr.reset.failed', outcome: 'failure', user: 'frank', details: { reason: 'writeback' } }],
  // Within the last 2 days.
  [ago(1 * DAY), { type: 'sspr.reset.started', outcome: 'success', user: 'alice' }],
  [ago(1 * DAY - 1 * MINUTE), { type: 'sspr.reset.step', outcome: 'failure', user: 'alice', details: { method: 'email' } }],
  [ago(1 * DAY - 2 * MINUTE), { type: 'sspr.reset.step', outcome: 'success', user: 'alice', details: { method: 'email', step: 1 } }],
  [ago(1 * DAY - 3 * MINUTE), { type: 'sspr.reset.completed', outcome: 'success', user: 'alice', details: { methods: 'email' } }],
  [ago(1 * HOUR), { type: 'sspr.method.added', outcome: 'success', user: 'gone', details: { method: 'email' } }],
];

test.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'oidc-sspr-audit-'));
  [db, purgeDb] = await Promise.all([freshDatabase(), freshDatabase()]);
  configFile = await writeConfig('idp.yaml', db.config);
  purgeConfigFile = await writeConfig('purge.yaml', purgeDb.config, { audit: { retentionDays: 30 } });

  const { knex, store } = await open(db);
  try {
    const users = new UserService(store, createPasswordHasher(() => ({ memoryCost: 7168, timeCost: 1, parallelism: 1 })), systemClock);
    const groups: Record<string, string[]> = { alice: ['Staff'], bob: ['Staff'], carol: ['Staff', 'Admins'], dave: ['Staff'], erin: [], frank: ['Staff'], gone: ['Staff'] };
    for (const [name, memberOf] of Object.entries(groups)) {
      ids[name] = (await users.create({ username: name, email: `${name}@example.org`, passwordSource: name === 'frank' ? 'onpremises' : 'cloud' })).id;
      for (const group of memberOf) await users.addToGroup(name, group);
    }
    await store.sspr.putMethod(ids.alice!, 'email', 'alice.private@example.net', ago(20 * DAY));
    await store.sspr.putMethod(ids.alice!, 'mobile_phone', '+31612345678', ago(19 * DAY));
    await store.sspr.recordConfirmation(ids.alice!, ago(19 * DAY));
    await store.sspr.putMethod(ids.bob!, 'authenticator_app', 'encrypted-secret-value', ago(15 * DAY));
    await store.sspr.putMethod(ids.carol!, 'email', 'carol.private@example.net', ago(12 * DAY));
    const answers = ['pet', 'city', 'school'].map((questionId) => ({ questionId, answerHash: `$argon2id$hash-of-${questionId}` }));
    await store.sspr.replaceAnswers(ids.carol!, answers, ago(12 * DAY));
    await store.sspr.replaceAnswers(ids.dave!, answers, ago(10 * DAY));
    await store.sspr.recordConfirmation(ids.dave!, ago(10 * DAY));
    await store.sspr.putMethod(ids.erin!, 'email', 'erin.private@example.net', ago(9 * DAY));
    await store.sspr.putMethod(ids.frank!, 'office_phone', '+31201234567', ago(8 * DAY));
    await store.sspr.putMethod(ids.gone!, 'email', 'gone@example.net', ago(2 * HOUR));
    for (const [at, { user, ...event }] of seed) await store.audit.record({ ...event, userId: user ? ids[user]! : null }, at);
    await users.delete('gone');
  } finally {
    await knex.destroy();
  }

  ({ knex: purgeKnex, store: purgeStore } = await open(purgeDb));
  for (const [days, type] of [[31, 'old.one'], [30.5, 'old.two'], [29, 'kept.one'], [1, 'kept.two']] as const) {
    await purgeStore.audit.record({ type, outcome: 'info' }, ago(days * DAY));
  }
});

test.after.always(async () => {
  await purgeKnex?.destroy();
  await db?.cleanup();
  await purgeDb?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Exactly one line on stderr, prefixed with the program name. */
const oneErrorLine = (r: Result) => /^oidc-sspr: [^\n]+\n$/.test(r.stderr);

test('audit --json lists every event oldest first, with usernames, and the id of a deleted user', async (t) => {
  const events = await json<AuditRecord[]>(['audit']);
  t.is(events.length, seed.length);
  const times = events.map((e) => Date.parse(e.at));
  t.deepEqual(times, [...times].sort((a, b) => a - b));
  t.deepEqual(events[0], {
    id: events[0]!.id,
    at: iso(ago(50 * DAY)),
    type: 'test.weird',
    outcome: 'info',
    userId: null,
    username: null,
    clientId: null,
    ip: 'evil\u001b[31m',
    flowId: null,
    details: { text: 'red\u001b[31m', spaced: 'a b' },
  });
  const added = events.find((e) => e.type === 'sspr.method.added' && e.username === 'alice');
  t.like(added, { at: iso(ago(20 * DAY)), outcome: 'success', userId: ids.alice, clientId: 'portal', ip: '10.0.0.1', flowId: 'flow-1', details: { method: 'email' } });
  const gone = events.at(-1)!;
  t.like(gone, { type: 'sspr.method.added', userId: ids.gone, username: null });
});

test('audit filters by user, type prefix, since and limit', async (t) => {
  const q = (...args: string[]) => json<AuditRecord[]>(['audit', ...args]);
  // Started together: each is a process of its own.
  const [alice, steps, resets, upper, wildcard, recent, hours, minutes, isoTime, isoDate, combined, newest, byId] = await Promise.all([
    q('--user', 'ALICE'),
    q('--type', 'sspr.reset.step'),
    q('--type', 'sspr.reset'),
    q('--type', 'SSPR.reset'),
    q('--type', 'sspr.reset_'),
    q('--since', '2d'),
    q('--since', '48h'),
    q('--since', '90m'),
    q('--since', new Date(ago(4.5 * DAY)).toISOString()),
    q('--since', new Date(ago(100 * DAY)).toISOString().slice(0, 10)),
    q('--user', 'alice', '--type', 'sspr.reset.started', '--since', '30d'),
    q('--type', 'sspr.reset', '--limit', '2'),
    q('--user', ids.gone!),
  ]);
  t.is(alice.length, 13);
  t.true(alice.every((e) => e.userId === ids.alice && e.username === 'alice'));

  t.is(steps.length, 5);
  t.is(resets.length, 17);
  t.true(resets.every((e) => e.type.startsWith('sspr.reset')));
  t.is(upper.length, 0, 'the prefix is case-sensitive');
  t.is(wildcard.length, 0, 'no wildcards');

  t.deepEqual(
    recent.map((e) => e.type),
    ['sspr.reset.started', 'sspr.reset.step', 'sspr.reset.step', 'sspr.reset.completed', 'sspr.method.added'],
  );
  t.is(hours.length, 5);
  t.is(minutes.length, 1);
  t.is(isoTime.length, 6, 'ISO time: the 5 recent events and the sign-in');
  t.is(isoDate.length, seed.length, 'ISO date');

  t.deepEqual(
    combined.map((e) => e.at),
    [iso(ago(5 * DAY)), iso(ago(1 * DAY))],
  );
  t.deepEqual(
    newest.map((e) => [e.type, e.outcome]),
    [
      ['sspr.reset.step', 'success'],
      ['sspr.reset.completed', 'success'],
    ],
    'the newest two, oldest first',
  );
  t.is(byId.length, 1, 'a deleted user is found by id');
  t.is(byId[0]!.userId, ids.gone!);
});

test('audit text: one line per event, details as k=v, nothing that steers the terminal', async (t) => {
  const added = await run(['audit', '--user', 'alice', '--type', 'sspr.method']);
  t.is(added.code, 0, added.stderr);
  t.is(added.stdout, `${iso(ago(20 * DAY))}  sspr.method.added  success  alice  portal  10.0.0.1  flow-1  method=email\n`);

  const registration = await run(['audit', '--type', 'sspr.registration']);
  t.is(registration.stdout, `${iso(ago(19 * DAY))}  sspr.registration.completed  success  alice  -  -  -  methods="email mobilePhone"\n`);

  const recent = await run(['audit', '--since', '2d']);
  t.is(recent.code, 0, recent.stderr);
  const lines = recent.stdout.trimEnd().split('\n');
  t.is(lines.length, 5);
  t.regex(lines[1]!, /^\S+Z\s+sspr\.reset\.step\s+failure\s+alice\s+-\s+-\s+-\s+method=email$/);
  t.regex(lines[2]!, /\s+method=email step=1$/);
  t.regex(lines[4]!, new RegExp(`^${iso(ago(HOUR))}\\s+sspr\\.method\\.added\\s+success\\s+${ids.gone}\\s+`), 'a deleted user shows as their id');

  const weird = await run(['audit', '--type', 'test.weird']);
  t.is(weird.code, 0, weird.stderr);
  t.false(/\p{Cc}/u.test(weird.stdout.slice(0, -1)), 'no control characters reach the terminal');
  t.true(weird.stdout.includes('evil\\u{1b}[31m'));
  t.true(weird.stdout.includes('text=red\\u{1b}[31m spaced="a b"'));

  const none = await run(['audit', '--type', 'nothing.like.this']);
  t.is(none.stdout, '(no events)\n');
});

test('audit: bad --since, --limit and --type exit 2; an unknown user exits 1', async (t) => {
  const sinces = ['7x', 'yesterday', '0d', '2026-02-30', '2026-03-01T25:00', '2026-3-1', '7 d', ''];
  const limits = ['0', 'ten', '10001', '1.5'];
  const users = ['nobody', '00000000-0000-4000-8000-000000000000'];
  const [sinceResults, limitResults, userResults, emptyType, days] = await Promise.all([
    Promise.all(sinces.map((since) => run(['audit', '--since', since]))),
    Promise.all(limits.map((limit) => run(['audit', '--limit', limit]))),
    Promise.all(users.map((user) => run(['audit', '--user', user]))),
    run(['audit', '--type', '']),
    run(['audit', '--days', '3']),
  ]);
  for (const [i, since] of sinces.entries()) {
    const r = sinceResults[i]!;
    t.is(r.code, 2, since);
    t.true(oneErrorLine(r), r.stderr);
    t.true(r.stderr.includes(`--since must be an ISO date or time`), r.stderr);
    t.true(r.stderr.includes('7d, 24h or 30m'), r.stderr);
    t.is(r.stdout, '');
  }
  for (const [i, limit] of limits.entries()) {
    const r = limitResults[i]!;
    t.is(r.code, 2, limit);
    t.regex(r.stderr, /--limit must be a whole number from 1 to 10000/);
  }
  t.is(emptyType.code, 2);
  t.regex(emptyType.stderr, /--type must be 1 to 64 characters/);
  t.is(days.code, 2, '--days is not an audit option');
  t.regex(days.stderr, /option '--days' does not apply to 'audit'/);

  for (const [i, user] of users.entries()) {
    const r = userResults[i]!;
    t.is(r.code, 1, user);
    t.is(r.stderr, `oidc-sspr: no user ${user}\n`);
    t.is(r.stdout, '');
  }
});

test('parseSince: relative times, ISO dates and times with and without an offset', (t) => {
  const now = Date.UTC(2026, 2, 10, 12, 0, 0);
  t.is(parseSince('7d', now), now - 7 * DAY);
  t.is(parseSince('24h', now), now - DAY);
  t.is(parseSince('30m', now), now - 30 * MINUTE);
  t.is(parseSince('2026-03-01', now), Date.UTC(2026, 2, 1));
  t.is(parseSince('2026-03-01T09:30', now), Date.UTC(2026, 2, 1, 9, 30));
  t.is(parseSince('2026-03-01 09:30:15.5', now), Date.UTC(2026, 2, 1, 9, 30, 15, 500));
  t.is(parseSince('2026-03-01T09:30:00Z', now), Date.UTC(2026, 2, 1, 9, 30));
  t.is(parseSince('2026-03-01T09:30+01:00', now), Date.UTC(2026, 2, 1, 8, 30));
  t.is(parseSince('2026-03-01T09:30-0230', now), Date.UTC(2026, 2, 1, 12, 0));
  for (const bad of ['2026-02-29', '2026-03-01T09:60', '2026-03-01Z', '1w', '-7d', 'now']) t.throws(() => parseSince(bad, now), { message: /--since must be/ }, bad);
});

interface RegistrationReport {
  policy: { enabled: string; groups: string[]; methodsRequired: number };
  coverage: { users: number; inScope: number; registered: number; notRegistered: number; registeredPercent: number | null; notRegisteredPercent: number | null };
  methods: Record<string, { offered: boolean; users: number; percent: number | null }>;
  users: {
    username: string;
    id: string;
    admin: boolean;
    required: number;
    registered: boolean;
    methods: { method: string; verifiedAt: string | null; counts: boolean }[];
    securityQuestions: number;
    confirmedAt: string | null;
  }[];
}

test('report registration --json: coverage, users per method, per user methods and dates (standing() decides)', async (t) => {
  const r = await run(['report', 'registration', '--json']);
  t.is(r.code, 0, r.stderr);
  for (const secret of ['private@example.net', '+316', 'encrypted-secret', '$argon2']) t.false(r.stdout.includes(secret), `no ${secret}`);
  const report = JSON.parse(r.stdout) as RegistrationReport;
  t.deepEqual(report.coverage, { users: 6, inScope: 5, registered: 3, notRegistered: 2, registeredPercent: 60, notRegisteredPercent: 40 });
  t.deepEqual(report.methods, {
    email: { offered: true, users: 2, percent: 40 },
    mobilePhone: { offered: true, users: 1, percent: 20 },
    officePhone: { offered: true, users: 1, percent: 20 },
    authenticatorApp: { offered: true, users: 1, percent: 20 },
    // Passkeys are off unless sspr.methods.passkey says otherwise.
    passkey: { offered: false, users: 0, percent: 0 },
    securityQuestions: { offered: true, users: 1, percent: 20 },
  });
  t.deepEqual(
    report.users.map((u) => [u.username, u.registered]),
    [
      ['alice', true],
      ['bob', false],
      ['carol', false],
      ['dave', true],
      ['frank', true],
    ],
    'erin is not in scope; gone was deleted',
  );
  const [alice, bob, carol, dave, frank] = report.users;
  t.like(alice, { id: ids.alice, admin: false, required: 1, securityQuestions: 0, confirmedAt: iso(ago(19 * DAY)) });
  t.deepEqual(alice!.methods, [
    { method: 'email', verifiedAt: iso(ago(20 * DAY)), counts: true },
    { method: 'mobilePhone', verifiedAt: iso(ago(19 * DAY)), counts: true },
  ]);
  t.deepEqual(bob!.methods, [{ method: 'authenticatorApp', verifiedAt: iso(ago(15 * DAY)), counts: true }], 'the app alone is never enough');
  t.like(carol, { admin: true, required: 2, securityQuestions: 3, confirmedAt: null });
  t.deepEqual(carol!.methods, [
    { method: 'email', verifiedAt: iso(ago(12 * DAY)), counts: true },
    { method: 'securityQuestions', verifiedAt: iso(ago(12 * DAY)), counts: false },
  ]);
  t.deepEqual(dave!.methods, [{ method: 'securityQuestions', verifiedAt: iso(ago(10 * DAY)), counts: true }]);
  t.deepEqual(frank!.methods, [{ method: 'officePhone', verifiedAt: iso(ago(8 * DAY)), counts: true }]);
});

test('report registration: text', async (t) => {
  const r = await run(['report', 'registration']);
  t.is(r.code, 0, r.stderr);
  const out = r.stdout;
  t.regex(out, /^SSPR is enabled for members of Staff; 1 method\(s\) required, 2 for administrators \(Admins\)$/m);
  t.regex(out, /^users in scope:\s+5 of 6$/m);
  t.regex(out, /^registered:\s+3 \(60\.0%\)$/m);
  t.regex(out, /^not registered:\s+2 \(40\.0%\)$/m);
  t.regex(out, /^email\s+2 \(40\.0%\)$/m);
  t.regex(out, /^securityQuestions\s+1 \(20\.0%\)$/m);
  const date = (ms: number) => iso(ms).slice(0, 10);
  t.regex(out, new RegExp(`^alice\\s+yes \\(1 needed\\)\\s+email ${date(ago(20 * DAY))}, mobilePhone ${date(ago(19 * DAY))}\\s+0\\s+${date(ago(19 * DAY))}$`, 'm'));
  t.regex(out, new RegExp(`^carol\\s+no \\(2 needed\\)\\s+email ${date(ago(12 * DAY))}, securityQuestions ${date(ago(12 * DAY))} \\(not counted\\)\\s+3\\s+never$`, 'm'));
  t.false(/^erin/m.test(out));
  t.false(out.includes('private@example.net'));
});

interface ResetsReport {
  days: number;
  since: string;
  started: number;
  refused: { total: number; byReason: Record<string, number> };
  completed: number;
  unlocked: number;
  failedSteps: { total: number; byMethod: Record<string, number> };
  failed: { total: number; byReason: Record<string, number> };
  blocked: number;
  contactAdmin: number;
}

test('report resets: the last 30 days by default, or --days N', async (t) => {
  const from = Date.now();
  const report = await json<ResetsReport>(['report', 'resets']);
  const since = Date.parse(report.since) + 30 * DAY; // the moment the report was made
  t.true(since >= from && since <= Date.now(), report.since);
  t.deepEqual({ ...report, since: undefined, until: undefined }, {
    days: 30,
    since: undefined,
    until: undefined,
    started: 7,
    refused: { total: 4, byReason: { not_enabled: 1, not_registered: 2, onprem_managed: 1 } },
    completed: 1,
    unlocked: 1,
    failedSteps: { total: 3, byMethod: { email: 2, mobilePhone: 1 } },
    failed: { total: 1, byReason: { blocked: 0, too_many_attempts: 0, writeback: 1, incomplete: 0 } },
    blocked: 1,
    contactAdmin: 2,
  });

  const wider = await json<ResetsReport>(['report', 'resets', '--days', '60']);
  t.like(wider, { days: 60, started: 9, refused: { total: 5, byReason: { not_enabled: 2, not_registered: 2, onprem_managed: 1 } }, completed: 2 });

  const text = await run(['report', 'resets', '--days', '3']);
  t.is(text.code, 0, text.stderr);
  const expected = [
    ['flows started:', '1'],
    ['refused:', '0'],
    ['  not_enabled', '0'],
    ['  not_registered', '0'],
    ['  onprem_managed', '0'],
    ['completed (new password):', '1'],
    ['unlocked (no new password):', '0'],
    ['failed verification steps:', '1'],
    ['  email', '1'],
    ['failed resets:', '0'],
    ['  blocked', '0'],
    ['  too_many_attempts', '0'],
    ['  writeback', '0'],
    ['  incomplete', '0'],
    ['blocked from SSPR:', '0'],
    ['contact-admin requests:', '0'],
  ];
  const lines = text.stdout.trimEnd().split('\n');
  t.regex(lines[0]!, /^SSPR password resets, last 3 day\(s\): \S+Z to \S+Z$/);
  t.deepEqual(
    lines.slice(1).map((l) => [l.replace(/\s+\d+$/, ''), l.replace(/^.*\s/, '')]),
    expected,
  );

  const thirty = await run(['report', 'resets']);
  t.regex(thirty.stdout, /^ {2}not_registered\s+2$/m);
  t.regex(thirty.stdout, /^ {2}mobilePhone\s+1$/m);
  t.regex(thirty.stdout, /^ {2}writeback\s+1$/m);
  t.regex(thirty.stdout, /^blocked from SSPR:\s+1$/m);
  t.regex(thirty.stdout, /^contact-admin requests:\s+2$/m);

  const badDays = ['0', 'x', '3651'];
  const badResults = await Promise.all(badDays.map((days) => run(['report', 'resets', '--days', days])));
  for (const [i, days] of badDays.entries()) {
    const bad = badResults[i]!;
    t.is(bad.code, 2, days);
    t.regex(bad.stderr, /--days must be a whole number from 1 to 3650/);
  }
});

test('audit purge needs --yes and deletes only events older than audit.retentionDays', async (t) => {
  const types = async () => (await purgeStore.audit.list()).map((e) => e.type);
  const refused = await cli(['--config', purgeConfigFile, 'audit', 'purge']);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /older than 30 days .*add --yes/);
  t.deepEqual(await types(), ['old.one', 'old.two', 'kept.one', 'kept.two']);

  const purged = await cli(['--config', purgeConfigFile, 'audit', 'purge', '--yes']);
  t.is(purged.code, 0, purged.stderr);
  t.regex(purged.stdout, /^deleted 2 audit events older than 30 days \(before \S+Z\)\n$/);
  t.deepEqual(await types(), ['kept.one', 'kept.two', 'admin.audit.purged']);
  t.like((await purgeStore.audit.list({ type: 'admin.audit.purged' }))[0], { outcome: 'success', details: { by: 'cli', deleted: 2, retentionDays: 30 } });

  // The helper behind `audit purge` (the server's own purge job is tested in purge.test.ts).
  t.is(await purgeAudit(purgeStore, 10, NOW), 1);
  t.deepEqual(await types(), ['kept.two', 'admin.audit.purged']);
  t.is(await purgeAudit(purgeStore, 10, NOW), 0);
});
