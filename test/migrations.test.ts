import test from 'ava';
import { openDatabase, migrateLatest, migrateRollbackAll, DirectoryMigrationSource } from '../src/store/db.ts';
import { SsprStore } from '../src/store/sspr.ts';
import { parseConfig } from '../src/config/load.ts';
import { freshDatabase } from './helpers/db.ts';

const TABLES = ['users', 'groups', 'user_groups', 'oidc_payloads', 'keystore', 'sspr_methods', 'sspr_security_answers', 'sspr_state', 'sspr_challenges', 'outbox', 'audit_events', 'account_sessions', 'throttle_counters', 'webauthn_challenges'];

test('migrations: latest → rollback → latest, and every migration has a working down()', async (t) => {
  const db = await freshDatabase();
  const config = parseConfig({ database: db.config });
  const knex = openDatabase(config.database);
  try {
    const schema = config.database.schema;
    const applied = await migrateLatest(knex, schema);
    t.true(applied.length >= 1);
    for (const table of TABLES) t.true(await knex.schema.hasTable(table), `${table} exists`);
    t.deepEqual(await migrateLatest(knex, schema), [], 'second run applies nothing');

    const rolled = await migrateRollbackAll(knex, schema);
    t.deepEqual([...rolled].sort(), [...applied].sort());
    for (const table of TABLES) t.false(await knex.schema.hasTable(table), `${table} dropped`);

    t.deepEqual(await migrateLatest(knex, schema), applied);
    for (const table of TABLES) t.true(await knex.schema.hasTable(table));
  } finally {
    await knex.destroy();
    await db.cleanup();
  }
});

test('migrations run concurrently from several connections apply once', async (t) => {
  const db = await freshDatabase();
  const config = parseConfig({ database: db.config });
  const a = openDatabase(config.database);
  const b = openDatabase(config.database);
  try {
    const [ra, rb] = await Promise.all([migrateLatest(a, config.database.schema), migrateLatest(b, config.database.schema)]);
    t.is(ra.length + rb.length, Math.max(ra.length, rb.length), 'only one of them applied the migrations');
    t.true(await a.schema.hasTable('users'));
  } finally {
    await a.destroy();
    await b.destroy();
    await db.cleanup();
  }
});

test('several credentials of one kind: the migration keeps every existing method row, and going down keeps the first of each kind', async (t) => {
  const db = await freshDatabase();
  const config = parseConfig({ database: db.config });
  const knex = openDatabase(config.database);
  const schema = config.database.schema;
  const source = { migrationSource: new DirectoryMigrationSource(), schemaName: schema };
  const MINE = '20261206230000_method_credentials.ts';
  // With our migration source, knex lists migrations by name (completed ones as { name }).
  const listed = async () => (await knex.migrate.list(source)) as [({ name: string } | string)[], string[]];
  const pending = async () => (await listed())[1];
  const completed = async () => (await listed())[0].map((m) => (typeof m === 'string' ? m : m.name));
  try {
    if (schema) await knex.raw('CREATE SCHEMA IF NOT EXISTS ??', [schema]);
    // Up to the migration before this one, one at a time.
    while ((await pending())[0] !== MINE) {
      if ((await pending()).length === 0) throw new Error(`${MINE} not found`);
      await knex.migrate.up(source);
    }
    const now = 1_800_000_000_000;
    await knex('users').insert([
      { id: 'u1', username: 'ann', username_key: 'ann', display_name: 'Ann', status: 'enabled', password_source: 'cloud', created_at: now, updated_at: now },
      { id: 'u2', username: 'ben', username_key: 'ben', display_name: 'Ben', status: 'enabled', password_source: 'cloud', created_at: now, updated_at: now },
    ]);
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
    while ((await completed()).includes(MINE)) await knex.migrate.down(source);
    const back = await knex('sspr_methods').where({ user_id: 'u2' }).select('value');
    t.deepEqual(back.map((r) => r.value), ['+31611111111'], 'going down keeps the first credential of each kind');
  } finally {
    await knex.destroy();
    await db.cleanup();
  }
});

test('passkeys: a credential id belongs to one account only; other kinds keep their shared slot; going down removes passkeys', async (t) => {
  const db = await freshDatabase();
  const config = parseConfig({ database: db.config });
  const knex = openDatabase(config.database);
  const schema = config.database.schema;
  const source = { migrationSource: new DirectoryMigrationSource(), schemaName: schema };
  try {
    await migrateLatest(knex, schema);
    const now = 1_800_000_000_000;
    await knex('users').insert([
      { id: 'u1', username: 'ann', username_key: 'ann', display_name: 'Ann', status: 'enabled', password_source: 'cloud', created_at: now, updated_at: now },
      { id: 'u2', username: 'ben', username_key: 'ben', display_name: 'Ben', status: 'enabled', password_source: 'cloud', created_at: now, updated_at: now },
    ]);
    const store = new SsprStore(knex);
    await store.putMethod('u1', 'email', 'ann@example.net', now);
    await store.putMethod('u2', 'email', 'ben@example.net', now);
    await store.putMethod('u1', 'passkey', '{}', now, { slot: 'credential-a', label: 'A' });
    await store.putMethod('u1', 'passkey', '{}', now, { slot: 'credential-b', label: 'B' });
    await t.throwsAsync(store.putMethod('u2', 'passkey', '{}', now, { slot: 'credential-a' }), undefined, "another account can't hold the same credential");
    t.deepEqual((await store.methods('u1')).map((m) => `${m.kind}:${m.slot}`), ['email:', 'passkey:credential-a', 'passkey:credential-b']);
    await knex('webauthn_challenges').insert({ challenge: 'c1', binding: 'login:x', user_id: null, created_at: now, expires_at: now + 1, consumed_at: null });

    await knex.migrate.down(source);
    t.false(await knex.schema.hasTable('webauthn_challenges'));
    t.deepEqual((await store.methods('u1')).map((m) => m.kind), ['email']);
    await migrateLatest(knex, schema);
    t.true(await knex.schema.hasTable('webauthn_challenges'));
  } finally {
    await knex.destroy();
    await db.cleanup();
  }
});
