/**
 * `report registration` streamed a page of users at a time: the same text and JSON as the report
 * built whole in memory (tables padded to the widest cell, `JSON.stringify(report, null, 2)`),
 * whatever the page size, and the same through the CLI.
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
import type { Config, ConfigInput } from '../src/config/schema.ts';
import { openDatabase, migrateLatest } from '../src/store/db.ts';
import { createStore, type Store } from '../src/store/index.ts';
import { UserService } from '../src/users/service.ts';
import { createPasswordHasher } from '../src/security/password.ts';
import { systemClock } from '../src/clock.ts';
import { writeRegistrationReport } from '../src/cli/reports.ts';
import { table } from '../src/cli/format.ts';

const DAY = 86_400_000;
/** The moment the report is made for (the CLI's own clock is seconds later, far from every boundary). */
const NOW = Date.now();
const at = (days: number) => NOW - days * DAY;
const iso = (ms: number) => new Date(ms).toISOString();
const date = (ms: number) => iso(ms).slice(0, 10);

const sspr: NonNullable<ConfigInput['sspr']> = { enabled: 'selected', groups: ['Staff'], administrators: { groups: ['Admins'] }, methods: { officePhone: true, securityQuestions: true } };

let dir: string;
let db: TestDatabase;
let knex: Knex;
let store: Store;
const ids: Record<string, string> = {};

const configWith = (extra: ConfigInput = {}): Config => parseConfig({ database: db.config, logging: { level: 'silent' }, sspr, ...extra });

test.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'oidc-sspr-registration-'));
  db = await freshDatabase();
  const config = configWith();
  knex = openDatabase(config.database);
  await migrateLatest(knex, config.database.schema);
  store = createStore(knex);
  const users = new UserService(store, createPasswordHasher(() => ({ memoryCost: 7168, timeCost: 1, parallelism: 1 })), systemClock);
  // Names of different lengths, so that every page changes a column's width.
  const groups: Record<string, string[]> = {
    al: ['Staff'],
    bartholomew: ['Staff'],
    cy: ['Staff'],
    dee: ['Staff', 'Admins'],
    eve: [],
    'zoë.o-reilly': ['Staff'],
  };
  for (const [name, memberOf] of Object.entries(groups)) {
    ids[name] = (await users.create({ username: name, email: `${name}@example.org`, passwordSource: 'cloud' })).id;
    for (const group of memberOf) await users.addToGroup(name, group);
  }
  await store.sspr.putMethod(ids.al!, 'email', 'al.private@example.net', at(30));
  await store.sspr.recordConfirmation(ids.al!, at(30));
  await store.sspr.putMethod(ids.bartholomew!, 'authenticator_app', 'encrypted-secret-value', at(20));
  await users.setStatus('bartholomew', 'disabled');
  await store.sspr.putMethod(ids.dee!, 'email', 'dee.private@example.net', at(12));
  await store.sspr.putMethod(ids.dee!, 'mobile_phone', '+31612345678', at(11));
  const answers = ['pet', 'city', 'school'].map((questionId) => ({ questionId, answerHash: `$argon2id$hash-of-${questionId}` }));
  await store.sspr.replaceAnswers(ids.dee!, answers, at(10));
  await store.sspr.recordConfirmation(ids.dee!, at(10));
  await store.sspr.putMethod(ids.eve!, 'email', 'eve.private@example.net', at(9));
  await store.sspr.putMethod(ids['zoë.o-reilly']!, 'office_phone', '+31201234567', at(8));
  await store.sspr.putMethod(ids['zoë.o-reilly']!, 'mobile_phone', '+31687654321', at(7));
  await store.sspr.replaceAnswers(ids['zoë.o-reilly']!, answers, at(6));
});

test.after.always(async () => {
  await knex?.destroy();
  await db?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The report's lines, as written, and how often it waited for the reader. */
async function report(config: Config, options: { json: boolean; pageSize?: number }): Promise<{ text: string; writes: number; drains: number }> {
  const chunks: string[] = [];
  let drains = 0;
  const output = {
    out: (text: string) => void chunks.push(`${text}\n`),
    drain: async () => void (drains += 1),
  };
  await writeRegistrationReport(store, config, NOW, output, options);
  return { text: chunks.join(''), writes: chunks.length, drains };
}

const method = (m: string, verifiedAt: number, counts = true) => ({ method: m, verifiedAt: iso(verifiedAt), counts });

/** The report's methods block, in its key order, from [users, percent] of each offered method (passkeys are off here). */
const tally = (...[email, mobilePhone, officePhone, authenticatorApp, securityQuestions]: [number, number][]) => {
  const offered = ([users, percent]: [number, number]) => ({ offered: true, users, percent });
  return {
    email: offered(email!),
    mobilePhone: offered(mobilePhone!),
    officePhone: offered(officePhone!),
    authenticatorApp: offered(authenticatorApp!),
    passkey: { offered: false, users: 0, percent: 0 },
    securityQuestions: offered(securityQuestions!),
  };
};

/** The report as a whole, in the order the command has always printed its keys. */
const expectedReport = () => ({
  generatedAt: iso(NOW),
  policy: { enabled: 'selected', groups: ['Staff'], methodsRequired: 1, administratorGroups: ['Admins'] },
  coverage: { users: 6, inScope: 5, registered: 3, notRegistered: 2, registeredPercent: 60, notRegisteredPercent: 40 },
  methods: tally([2, 40], [2, 40], [1, 20], [1, 20], [1, 20]),
  users: [
    { username: 'al', id: ids.al, status: 'enabled', admin: false, required: 1, registered: true, methods: [method('email', at(30))], securityQuestions: 0, confirmedAt: iso(at(30)), reconfirmDue: false },
    {
      username: 'bartholomew',
      id: ids.bartholomew,
      status: 'disabled',
      admin: false,
      required: 1,
      registered: false,
      methods: [method('authenticatorApp', at(20))],
      securityQuestions: 0,
      confirmedAt: null,
      reconfirmDue: true,
    },
    { username: 'cy', id: ids.cy, status: 'enabled', admin: false, required: 1, registered: false, methods: [], securityQuestions: 0, confirmedAt: null, reconfirmDue: true },
    {
      username: 'dee',
      id: ids.dee,
      status: 'enabled',
      admin: true,
      required: 2,
      registered: true,
      methods: [method('email', at(12)), method('mobilePhone', at(11)), method('securityQuestions', at(10), false)],
      securityQuestions: 3,
      confirmedAt: iso(at(10)),
      reconfirmDue: false,
    },
    {
      username: 'zoë.o-reilly',
      id: ids['zoë.o-reilly'],
      status: 'enabled',
      admin: false,
      required: 1,
      registered: true,
      methods: [method('mobilePhone', at(7)), method('officePhone', at(8)), method('securityQuestions', at(6))],
      securityQuestions: 3,
      confirmedAt: null,
      reconfirmDue: true,
    },
  ],
});

/** The text as the report built whole printed it: each table padded to its widest cell. */
const expectedText = () =>
  [
    `SSPR registration, ${iso(NOW)}`,
    'SSPR is enabled for members of Staff; 1 method(s) required, 2 for administrators (Admins)',
    '',
    table([
      ['users in scope:', '5 of 6'],
      ['registered:', '3 (60.0%)'],
      ['not registered:', '2 (40.0%)'],
    ]),
    '',
    table([
      ['method', 'users'],
      ['email', '2 (40.0%)'],
      ['mobilePhone', '2 (40.0%)'],
      ['officePhone', '1 (20.0%)'],
      ['authenticatorApp', '1 (20.0%)'],
      ['passkey', '0 (0.0%) not offered'],
      ['securityQuestions', '1 (20.0%)'],
    ]),
    '',
    table([
      ['username', 'registered', 'methods (verified, UTC)', 'questions', 'confirmed'],
      ['al', 'yes (1 needed)', `email ${date(at(30))}`, '0', date(at(30))],
      ['bartholomew (disabled)', 'no (1 needed)', `authenticatorApp ${date(at(20))}`, '0', 'never'],
      ['cy', 'no (1 needed)', '-', '0', 'never'],
      ['dee', 'yes (2 needed)', `email ${date(at(12))}, mobilePhone ${date(at(11))}, securityQuestions ${date(at(10))} (not counted)`, '3', date(at(10))],
      ['zoë.o-reilly', 'yes (1 needed)', `mobilePhone ${date(at(7))}, officePhone ${date(at(8))}, securityQuestions ${date(at(6))}`, '3', 'never'],
    ]),
    '',
  ].join('\n');

test('text: the same report at any page size, tables padded to the widest cell of all pages', async (t) => {
  const config = configWith();
  for (const pageSize of [1, 2, 5, 2000]) {
    const r = await report(config, { json: false, pageSize });
    t.is(r.text, expectedText(), `page size ${pageSize}`);
    t.true(r.drains >= Math.ceil(5 / pageSize), `waits for the reader once per page at least (page size ${pageSize})`);
  }
});

test('--json: JSON.stringify(report, null, 2) of the whole report, written a page at a time', async (t) => {
  const config = configWith();
  const expected = `${JSON.stringify(expectedReport(), null, 2)}\n`;
  for (const pageSize of [1, 2, 5, 2000]) {
    const r = await report(config, { json: true, pageSize });
    t.is(r.text, expected, `page size ${pageSize}`);
    if (pageSize === 1) t.true(r.writes > 5, 'not one write of the whole report');
  }
  t.false(expected.includes('private@example.net'));
});

test('nobody in scope: "(no users in scope)" and an empty users array', async (t) => {
  const config = configWith({ sspr: { ...sspr, groups: ['Nobody'] } });
  const text = (await report(config, { json: false, pageSize: 2 })).text;
  t.true(text.startsWith(`SSPR registration, ${iso(NOW)}\nSSPR is enabled for members of Nobody; 1 method(s) required, 2 for administrators (Admins)\n`));
  t.regex(text, /^users in scope:\s+0 of 6$/m);
  t.regex(text, /^registered:\s+0 \(n\/a\)$/m);
  t.true(text.endsWith('\n\n(no users in scope)\n'));
  const json = (await report(config, { json: true, pageSize: 2 })).text;
  const whole = {
    ...expectedReport(),
    policy: { enabled: 'selected', groups: ['Nobody'], methodsRequired: 1, administratorGroups: ['Admins'] },
    coverage: { users: 6, inScope: 0, registered: 0, notRegistered: 0, registeredPercent: null, notRegisteredPercent: null },
    methods: Object.fromEntries(Object.entries(expectedReport().methods).map(([id, m]) => [id, { ...m, users: 0, percent: null }])),
    users: [],
  };
  t.is(json, `${JSON.stringify(whole, null, 2)}\n`);
});

test('the CLI prints the same streamed report', async (t) => {
  const configFile = path.join(dir, 'idp.yaml');
  await writeFile(configFile, stringify({ database: db.config, logging: { level: 'silent' }, sspr }));
  const [text, json] = await Promise.all([runCli(['--config', configFile, 'report', 'registration']), runCli(['--config', configFile, 'report', 'registration', '--json'])]);
  t.is(text.code, 0, text.stderr);
  t.is(json.code, 0, json.stderr);
  // Each run reads its own clock: the moment it names is the one thing that differs.
  const generatedAt = (JSON.parse(json.stdout) as { generatedAt: string }).generatedAt;
  t.is(json.stdout, `${JSON.stringify({ ...expectedReport(), generatedAt }, null, 2)}\n`);
  const textAt = /^SSPR registration, (\S+)\n/.exec(text.stdout)?.[1] ?? 'missing';
  t.is(text.stdout, expectedText().replace(`SSPR registration, ${iso(NOW)}`, `SSPR registration, ${textAt}`));
});

// Serial: ava runs serial tests before the others, which must not see the user it adds.
test.serial('one snapshot: a user added while the report is written is in neither pass', async (t) => {
  const config = configWith();
  // Another connection, as another process would write (SQLite's pool has one connection).
  const writerKnex = openDatabase(config.database);
  const writer = new UserService(createStore(writerKnex), createPasswordHasher(() => ({ memoryCost: 7168, timeCost: 1, parallelism: 1 })), systemClock);
  try {
    for (const json of [false, true]) {
      const chunks: string[] = [];
      let added = false;
      const output = {
        out: (text: string) => void chunks.push(`${text}\n`),
        // Called between the pages of the second pass: the first has counted already.
        drain: async () => {
          if (added) return;
          added = true;
          const late = await writer.create({ username: 'zz-late', email: 'zz-late@example.org', passwordSource: 'cloud' });
          await writer.addToGroup('zz-late', 'Staff');
          await createStore(writerKnex).sspr.putMethod(late.id, 'email', 'late.private@example.net', at(1));
        },
      };
      try {
        await writeRegistrationReport(store, config, NOW, output, { json, pageSize: 2 });
      } finally {
        if (added) await writer.delete('zz-late');
      }
      t.true(added);
      t.is(chunks.join(''), json ? `${JSON.stringify(expectedReport(), null, 2)}\n` : expectedText(), json ? 'json' : 'text');
    }
  } finally {
    await writerKnex.destroy();
  }
});
