import test from 'ava';
import type { Knex } from 'knex';
import { openDatabase, migrateLatest, migrateRollbackAll, DirectoryMigrationSource } from '../src/store/db.ts';
import { SsprStore } from '../src/store/sspr.ts';
import { OidcPayloadStore, hashOidcId } from '../src/store/oidc-payloads.ts';
import { UserStore, ConfusableUsernameError } from '../src/store/users.ts';
import { parseConfig } from '../src/config/load.ts';
import { freshDatabase } from './helpers/db.ts';

type Source = { migrationSource: DirectoryMigrationSource; schemaName: string | undefined };

/** The completed migrations by name (with our migration source, knex lists them as { name }). */
async function completedOf(knex: Knex, source: Source): Promise<string[]> {
  const [done] = (await knex.migrate.list(source)) as [({ name: string } | string)[], string[]];
  return done.map((m) => (typeof m === 'string' ? m : m.name));
}

/** Runs `body` on a fresh database, with connections from `open`; then closes them and drops the database. */
async function onFreshDatabase(body: (open: () => Knex, schema: string | undefined) => Promise<void>): Promise<void> {
  const db = await freshDatabase();
  const config = parseConfig({ database: db.config });
  const opened: Knex[] = [];
  try {
    await body(() => {
      const knex = openDatabase(config.database);
      opened.push(knex);
      return knex;
    }, config.database.schema);
  } finally {
    for (const knex of opened) await knex.destroy();
    await db.cleanup();
  }
}

interface BeforeMigration {
  knex: Knex;
  schema: string | undefined;
  source: Source;
  /** Rolls back (later migrations first) until the one under test is no longer applied. */
  downPast(): Promise<void>;
}

/** Runs `body` on a fresh database migrated one at a time up to (not including) `name`. */
async function beforeMigration(name: string, body: (m: BeforeMigration) => Promise<void>): Promise<void> {
  await onFreshDatabase(async (open, schema) => {
    const knex = open();
    const source = { migrationSource: new DirectoryMigrationSource(), schemaName: schema };
    // With our migration source, knex lists migrations by name (completed ones as { name }).
    const pending = async () => ((await knex.migrate.list(source)) as [unknown[], string[]])[1];
    if (schema) await knex.raw('CREATE SCHEMA IF NOT EXISTS ??', [schema]);
    while ((await pending())[0] !== name) {
      if ((await pending()).length === 0) throw new Error(`${name} not found`);
      await knex.migrate.up(source);
    }
    const downPast = async () => {
      while ((await completedOf(knex, source)).includes(name)) await knex.migrate.down(source);
    };
    await body({ knex, schema, source, downPast });
  });
}

/** Rows are seeded at this moment (epoch ms). */
const SEEDED = 1_800_000_000_000;
const userRow = (id: string, username = id, displayName = username) => ({ id, username, username_key: username.toLowerCase(), display_name: displayName, status: 'enabled', password_source: 'cloud', created_at: SEEDED, updated_at: SEEDED });

const TABLES = ['users', 'groups', 'user_groups', 'oidc_payloads', 'keystore', 'sspr_methods', 'sspr_security_answers', 'sspr_state', 'sspr_challenges', 'outbox', 'audit_events', 'account_sessions', 'throttle_counters', 'webauthn_challenges', 'mfa_devices'];

test('migrations: latest → rollback → latest, and every migration has a working down()', async (t) => {
  await onFreshDatabase(async (open, schema) => {
    const knex = open();
    const applied = await migrateLatest(knex, schema);
    t.true(applied.length >= 1);
    for (const table of TABLES) t.true(await knex.schema.hasTable(table), `${table} exists`);
    t.deepEqual(await migrateLatest(knex, schema), [], 'second run applies nothing');

    const rolled = await migrateRollbackAll(knex, schema);
    t.deepEqual([...rolled].sort(), [...applied].sort());
    for (const table of TABLES) t.false(await knex.schema.hasTable(table), `${table} dropped`);

    t.deepEqual(await migrateLatest(knex, schema), applied);
    for (const table of TABLES) t.true(await knex.schema.hasTable(table));
  });
});

test('migrations run concurrently from several connections apply once', async (t) => {
  await onFreshDatabase(async (open, schema) => {
    const [a, b] = [open(), open()];
    const [ra, rb] = await Promise.all([migrateLatest(a, schema), migrateLatest(b, schema)]);
    t.is(ra.length + rb.length, Math.max(ra.length, rb.length), 'only one of them applied the migrations');
    t.true(await a.schema.hasTable('users'));
  });
});

test('several credentials of one kind: the migration keeps every existing method row, and going down keeps the first of each kind', async (t) => {
  const MINE = '20261206230000_method_credentials.ts';
  await beforeMigration(MINE, async ({ knex, schema, source, downPast }) => {
    const now = SEEDED;
    await knex('users').insert([userRow('u1', 'ann', 'Ann'), userRow('u2', 'ben', 'Ben')]);
    const old = [
      { user_id: 'u1', kind: 'email', value: 'ann@example.net', verified_at: now, created_at: now, updated_at: now, last_used_step: null },
      { user_id: 'u1', kind: 'authenticator_app', value: 'sealed', verified_at: now, created_at: now, updated_at: now + 1, last_used_step: 42 },
      { user_id: 'u2', kind: 'mobile_phone', value: '+31612345678', verified_at: null, created_at: now, updated_at: now, last_used_step: null },
    ];
    await knex('sspr_methods').insert(old);
    await knex.migrate.up(source);
    await migrateLatest(knex, schema);

    const rows = await knex('sspr_methods').orderBy(['user_id', 'kind']).select('user_id', 'kind', 'slot', 'label', 'value', 'verified_at', 'last_used_step');
    t.deepEqual(
      rows.map((r) => ({ ...r, verified_at: r.verified_at === null ? null : Number(r.verified_at), last_used_step: r.last_used_step === null ? null : Number(r.last_used_step) })),
      [
        { user_id: 'u1', kind: 'authenticator_app', slot: '', label: null, value: 'sealed', verified_at: now, last_used_step: 42 },
        { user_id: 'u1', kind: 'email', slot: '', label: null, value: 'ann@example.net', verified_at: now, last_used_step: null },
        { user_id: 'u2', kind: 'mobile_phone', slot: '', label: null, value: '+31612345678', verified_at: null, last_used_step: null },
      ],
    );

    // Two credentials of one kind now fit, each in its own slot; the kind's single slot still upserts.
    const store = new SsprStore(knex);
    await store.putMethod('u2', 'mobile_phone', '+31687654321', now, { slot: 'second', label: 'work' });
    t.is(await store.putMethod('u2', 'mobile_phone', '+31611111111', now), '+31612345678', 'slot "" is replaced, not duplicated');
    const phones = (await store.methods('u2')).map((m) => [m.slot, m.value, m.label]);
    t.deepEqual(phones, [['', '+31611111111', null], ['second', '+31687654321', 'work']]);
    t.true(await store.deleteMethod('u2', 'mobile_phone', 'second'));
    t.deepEqual((await store.methods('u2')).map((m) => m.slot), ['']);

    await store.putMethod('u2', 'mobile_phone', '+31687654321', now, { slot: 'second' });
    await downPast();
    const back = await knex('sspr_methods').where({ user_id: 'u2' }).select('value');
    t.deepEqual(back.map((r) => r.value), ['+31611111111'], 'going down keeps the first credential of each kind');
  });
});

test('registration state in its own columns: the migration fills them from the audit trail, and going down keeps every state row', async (t) => {
  const MINE = '20261207120000_registration_state.ts';
  await beforeMigration(MINE, async ({ knex, schema, source, downPast }) => {
    const now = SEEDED;
    await knex('users').insert([userRow('ann'), userRow('ben'), userRow('cas')]);
    await knex('sspr_state').insert([
      { user_id: 'ann', confirmed_at: now - 5, skips: 2, updated_at: now - 5 },
      { user_id: 'cas', confirmed_at: null, skips: 1, updated_at: now - 9 },
    ]);
    const started = (userId: string, at: number, flowId: string | null) => ({ at, type: 'sspr.registration.started', user_id: userId, flow_id: flowId, outcome: 'success', details: '{}' });
    await knex('audit_events').insert([
      started('ann', now - 300, 'flow-a1'),
      started('ann', now - 100, 'flow-a2'),
      { ...started('ann', now - 50, 'flow-other'), type: 'sspr.registration.completed' },
      started('ben', now - 200, 'flow-b'),
      started('gone', now - 10, 'flow-gone'),
    ]);
    await knex.migrate.up(source);
    await migrateLatest(knex, schema);

    const states = async () =>
      (await knex('sspr_state').orderBy('user_id').select('user_id', 'confirmed_at', 'skips', 'registration_started_at', 'registration_flow')).map((r) => ({
        ...r,
        confirmed_at: r.confirmed_at === null ? null : Number(r.confirmed_at),
        skips: Number(r.skips),
        registration_started_at: r.registration_started_at === null ? null : Number(r.registration_started_at),
      }));
    t.deepEqual(await states(), [
      { user_id: 'ann', confirmed_at: now - 5, skips: 2, registration_started_at: now - 100, registration_flow: 'flow-a2' },
      { user_id: 'ben', confirmed_at: null, skips: 0, registration_started_at: now - 200, registration_flow: 'flow-b' },
      { user_id: 'cas', confirmed_at: null, skips: 1, registration_started_at: null, registration_flow: null },
    ], 'each account keeps its newest start; accounts without one, and events of deleted users, add nothing');

    // The store decides "already started in this flow" from the columns: the migrated flow counts.
    const store = new SsprStore(knex);
    t.false(await store.registrationStarted('ann', 'flow-a2', now), 'the flow the audit trail named');
    t.true(await store.registrationStarted('ann', 'flow-a3', now + 1));
    t.false(await store.registrationStarted('ann', 'flow-a3', now + 2), 'once per flow');
    t.true(await store.registrationStarted('cas', 'flow-c', now));
    t.deepEqual(await store.state('ann'), { confirmedAt: now - 5, skips: 2 }, 'confirmation and skips untouched');

    await downPast();
    t.deepEqual(
      (await knex('sspr_state').orderBy('user_id').select('user_id', 'confirmed_at', 'skips')).map((r) => [r.user_id, r.confirmed_at === null ? null : Number(r.confirmed_at), Number(r.skips)]),
      [['ann', now - 5, 2], ['ben', null, 0], ['cas', null, 1]],
      'going down keeps every row',
    );
    t.false(await knex.schema.hasColumn('sspr_state', 'registration_flow'));
    t.false(await knex.schema.hasColumn('sspr_state', 'registration_started_at'));
    t.is(Number((await knex('users').count({ n: '*' }))[0]!.n), 3, 'and every user');
    await migrateLatest(knex, schema);
    t.true(await knex.schema.hasColumn('sspr_state', 'registration_flow'));
  });
});

test('hashed oidc ids: the migration rewrites existing rows so live sessions and tokens survive the upgrade', async (t) => {
  const MINE = '20261207093000_oidc_hashed_ids.ts';
  await beforeMigration(MINE, async ({ knex, schema, source, downPast }) => {
    const later = Date.now() + 3_600_000;
    const row = (model: string, id: string, payload: Record<string, unknown>, extra: Record<string, string> = {}) =>
      ({ model, id, payload: JSON.stringify({ jti: id, kind: model, ...payload }), expires_at: later, consumed_at: null, ...extra });
    await knex('oidc_payloads').insert([
      row('Session', 'old-session-id', { uid: 'old-uid', accountId: 'acc' }, { uid: 'old-uid', account_id: 'acc' }),
      row('Grant', 'old-grant', { accountId: 'acc' }, { account_id: 'acc' }),
      row('AccessToken', 'old-access-token', { grantId: 'old-grant', accountId: 'acc' }, { grant_id: 'old-grant', account_id: 'acc' }),
      row('RefreshToken', 'old-refresh-token', { grantId: 'old-grant' }, { grant_id: 'old-grant' }),
      row('Interaction', 'old-interaction', { session: { uid: 'old-uid', cookie: 'old-session-id', accountId: 'acc' } }),
    ]);
    await knex.migrate.up(source);
    await migrateLatest(knex, schema);

    const rows = await knex('oidc_payloads').select('id', 'payload', 'grant_id');
    t.is(rows.length, 5);
    for (const r of rows) {
      t.false(String(r.id).startsWith('old-'), 'no id left in the clear');
      t.false(String(r.payload).includes('old-session-id') || String(r.payload).includes('-token'), 'no id left in a payload');
      if (r.grant_id !== null) t.is(r.grant_id, hashOidcId('old-grant'));
    }
    const store = new OidcPayloadStore(knex);
    const now = Date.now();
    t.like((await store.find('Session', 'old-session-id', now))?.payload, { jti: 'old-session-id', accountId: 'acc' }, 'the old session cookie still finds its session');
    t.like((await store.find('AccessToken', 'old-access-token', now))?.payload, { grantId: 'old-grant' });
    t.like((await store.findByUid('Session', 'old-uid', now))?.payload, { accountId: 'acc' });
    t.like((await store.find('Interaction', 'old-interaction', now))?.payload, { session: { uid: 'old-uid', accountId: 'acc' } });
    t.is(await store.revokeByGrantId('old-grant'), 2, 'grant revocation still reaches the old tokens');
    t.true((await store.revokeAccount('acc')) >= 2, 'and so does ending the account\'s sessions');
    t.is(await store.find('Session', 'old-session-id', now), undefined);

    await knex('oidc_payloads').insert(row('Session', 'x', {}));
    await downPast();
    t.is(await knex('oidc_payloads').count({ n: '*' }).first().then((r) => Number(r?.n)), 0, 'going down ends every session (a hash cannot be undone)');
  });
});

test('username skeletons: the migration gives existing users theirs, so a look-alike of an old account is refused', async (t) => {
  const MINE = '20261207094000_username_skeleton.ts';
  await beforeMigration(MINE, async ({ knex, schema, source, downPast }) => {
    const now = SEEDED;
    await knex('users').insert(userRow('u1', 'Mallory', 'M'));
    await migrateLatest(knex, schema);
    t.is((await knex('users').where({ id: 'u1' }).first()).username_skeleton, 'rnallory');
    const users = new UserStore(knex);
    t.is(await users.lookalike('rnallory', 'rnallory'), 'Mallory');
    const error = await t.throwsAsync(users.create({ id: 'u2', username: 'rnallory', usernameKey: 'rnallory', usernameSkeleton: 'rnallory', displayName: 'x', email: null, emailVerified: false, passwordSource: 'cloud', passwordHash: null, now }));
    t.true(error instanceof ConfusableUsernameError);
    await downPast();
    t.false(await knex.schema.hasColumn('users', 'username_skeleton'));
    t.truthy(await knex('users').where({ id: 'u1' }).first(), 'going down keeps the users');
  });
});

test('passkeys: a credential id belongs to one account only; other kinds keep their shared slot; going down removes passkeys', async (t) => {
  await onFreshDatabase(async (open, schema) => {
    const knex = open();
    const source = { migrationSource: new DirectoryMigrationSource(), schemaName: schema };
    await migrateLatest(knex, schema);
    const now = SEEDED;
    await knex('users').insert([userRow('u1', 'ann', 'Ann'), userRow('u2', 'ben', 'Ben')]);
    const store = new SsprStore(knex);
    await store.putMethod('u1', 'email', 'ann@example.net', now);
    await store.putMethod('u2', 'email', 'ben@example.net', now);
    await store.putMethod('u1', 'passkey', '{}', now, { slot: 'credential-a', label: 'A' });
    await store.putMethod('u1', 'passkey', '{}', now, { slot: 'credential-b', label: 'B' });
    await t.throwsAsync(store.putMethod('u2', 'passkey', '{}', now, { slot: 'credential-a' }), undefined, "another account can't hold the same credential");
    t.deepEqual((await store.methods('u1')).map((m) => `${m.kind}:${m.slot}`), ['email:', 'passkey:credential-a', 'passkey:credential-b']);
    await knex('webauthn_challenges').insert({ challenge: 'c1', binding: 'login:x', user_id: null, created_at: now, expires_at: now + 1, consumed_at: null });

    // Down to before the passkeys migration (later ones first).
    while ((await completedOf(knex, source)).includes('20261207100000_passkeys.ts')) await knex.migrate.down(source);
    t.false(await knex.schema.hasTable('webauthn_challenges'));
    t.deepEqual((await store.methods('u1')).map((m) => m.kind), ['email']);
    await migrateLatest(knex, schema);
    t.true(await knex.schema.hasTable('webauthn_challenges'));
  });
});
