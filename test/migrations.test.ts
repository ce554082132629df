import test from 'ava';
import { openDatabase, migrateLatest, migrateRollbackAll } from '../src/store/db.ts';
import { parseConfig } from '../src/config/load.ts';
import { freshDatabase } from './helpers/db.ts';

const TABLES = ['users', 'groups', 'user_groups', 'oidc_payloads', 'keystore', 'sspr_methods', 'sspr_security_answers', 'sspr_state', 'sspr_challenges', 'outbox', 'audit_events', 'account_sessions', 'throttle_counters'];

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
