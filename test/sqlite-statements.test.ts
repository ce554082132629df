import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sqlite3 from 'sqlite3';
import knexFactory, { type Knex } from 'knex';
import { keepStatements } from '../src/store/sqlite-statements.ts';
import { openDatabase } from '../src/store/db.ts';

/** A raw connection with keepStatements, counting the statements it prepares. */
async function connection(max?: number) {
  const dir = await mkdtemp(path.join(tmpdir(), 'oidc-sspr-stmts-'));
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const d = new sqlite3.Database(path.join(dir, 'x.sqlite'), (err) => (err ? reject(err) : resolve(d)));
  });
  const prepared: string[] = [];
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string, ...rest: unknown[]) => {
    prepared.push(sql);
    return (prepare as (...args: unknown[]) => sqlite3.Statement)(sql, ...rest);
  }) as sqlite3.Database['prepare'];
  keepStatements(db, max);
  const all = (sql: string, params: unknown[] = []) =>
    new Promise<unknown[]>((resolve, reject) => db.all(sql, params, (err: Error | null, rows: unknown[]) => (err ? reject(err) : resolve(rows))));
  const run = (sql: string, params: unknown[] = []) =>
    new Promise<{ lastID: number; changes: number }>((resolve, reject) =>
      db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
        if (err) reject(err);
        else resolve({ lastID: this.lastID, changes: this.changes });
      }),
    );
  const close = () => new Promise<void>((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())));
  await run('create table t (id integer primary key, name text unique)');
  return { db, prepared, all, run, close, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

test('a data statement is prepared once and run again with new bindings', async (t) => {
  const c = await connection();
  for (let i = 0; i < 5; i += 1) t.is((await c.run('insert into t (name) values (?)', [`n${i}`])).lastID, i + 1);
  const rows = await Promise.all([0, 1, 2].map((i) => c.all('select name from t where id = ?', [i + 1])));
  t.deepEqual(rows, [[{ name: 'n0' }], [{ name: 'n1' }], [{ name: 'n2' }]]);
  t.is((await c.run('update t set name = name || ? where id > ?', ['!', 3])).changes, 2, 'changes as the driver reports them');
  t.deepEqual(c.prepared, ['insert into t (name) values (?)', 'select name from t where id = ?', 'update t set name = name || ? where id > ?']);
  await c.close();
  await c.cleanup();
});

test('errors reach the caller, and the statement works again afterwards', async (t) => {
  const c = await connection();
  await c.run('insert into t (name) values (?)', ['same']);
  await t.throwsAsync(c.run('insert into t (name) values (?)', ['same']), { message: /UNIQUE constraint failed/ });
  t.is((await c.run('insert into t (name) values (?)', ['other'])).changes, 1);
  await t.throwsAsync(c.all('select missing_column from nowhere where x = ?', [1]), { message: /no such table/ }, 'a statement that does not prepare fails, it does not hang');
  await t.throwsAsync(c.all('select missing_column from nowhere where x = ?', [1]), { message: /no such table/ }, 'and is not kept');
  t.deepEqual(await c.all('select count(*) as n from t'), [{ n: 2 }]);
  await c.close();
  await c.cleanup();
});

test('beyond the limit the least recently used statement is finalized; closing finalizes the rest', async (t) => {
  const c = await connection(2);
  await c.all('select 1 as a from t');
  await c.all('select 2 as a from t');
  await c.all('select 1 as a from t');
  await c.all('select 3 as a from t'); // evicts "select 2"
  await c.all('select 1 as a from t');
  await c.all('select 2 as a from t');
  t.deepEqual(c.prepared, ['select 1 as a from t', 'select 2 as a from t', 'select 3 as a from t', 'select 2 as a from t']);
  await t.notThrowsAsync(c.close(), 'sqlite3_close would refuse with statements left open');
  await c.cleanup();
});

test('transaction control and schema statements are not kept', async (t) => {
  const c = await connection();
  await c.run('begin');
  await c.run('insert into t (name) values (?)', ['rolled back']);
  await c.run('rollback');
  await c.run('pragma user_version = 3');
  t.deepEqual(await c.all('select count(*) as n from t'), [{ n: 0 }]);
  t.deepEqual(c.prepared, ['insert into t (name) values (?)', 'select count(*) as n from t']);
  await c.close();
  await c.cleanup();
});

test('through knex: queries, returning, transactions (committed and rolled back) and destroy', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'oidc-sspr-stmts-'));
  const knex: Knex = openDatabase({ client: 'sqlite', filename: path.join(dir, 'k.sqlite') } as Parameters<typeof openDatabase>[0]);
  await knex.schema.createTable('items', (tb) => {
    tb.increments('id');
    tb.string('name').unique();
  });
  for (let round = 0; round < 3; round += 1) {
    await knex('items').insert({ name: `a${round}` });
    t.is(await knex('items').where({ name: `a${round}` }).update({ name: `b${round}` }), 1);
  }
  t.deepEqual(await knex('items').insert({ name: 'c' }).returning('name'), [{ name: 'c' }]);
  await knex.transaction(async (trx) => {
    await trx('items').insert({ name: 'in transaction' });
  });
  await t.throwsAsync(
    knex.transaction(async (trx) => {
      await trx('items').insert({ name: 'rolled back' });
      throw new Error('no');
    }),
  );
  t.deepEqual((await knex('items').orderBy('id').pluck('name')) as string[], ['b0', 'b1', 'b2', 'c', 'in transaction']);
  await t.notThrowsAsync(knex.destroy());
  await rm(dir, { recursive: true, force: true });
});

test('knex on SQLite keeps statements; a second instance of the file sees every commit', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'oidc-sspr-stmts-'));
  const file = path.join(dir, 'shared.sqlite');
  const a = openDatabase({ client: 'sqlite', filename: file } as Parameters<typeof openDatabase>[0]);
  const b = knexFactory({ client: 'sqlite3', connection: { filename: file }, useNullAsDefault: true, pool: { min: 1, max: 1 } });
  await a.schema.createTable('kv', (tb) => {
    tb.string('k').primary();
    tb.integer('v');
  });
  for (let i = 0; i < 20; i += 1) {
    await a.raw('insert into kv (k, v) values (?, ?) on conflict (k) do update set v = excluded.v', ['x', i]);
    t.deepEqual(await b('kv').where({ k: 'x' }).first('v'), { v: i });
    t.deepEqual(rowsOf(await a.raw('select v from kv where k = ?', ['x'])), [{ v: i }], 'and its own reads are never stale');
  }
  await a.destroy();
  await b.destroy();
  await rm(dir, { recursive: true, force: true });
});

function rowsOf(result: unknown): unknown[] {
  return Array.isArray(result) ? result : (result as { rows: unknown[] }).rows;
}
