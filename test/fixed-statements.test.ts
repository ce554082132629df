/**
 * The store's fixed SQL texts (store/raw.ts: fixedStatement): the same rows on both databases, and
 * on PostgreSQL one prepared statement per text and connection, parsed once and run again.
 */
import test from 'ava';
import type { Knex } from 'knex';
import { openDatabase } from '../src/store/db.ts';
import { fixedStatement, rowsOf } from '../src/store/raw.ts';
import type { Config } from '../src/config/schema.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';

let fresh: TestDatabase;
let db: Knex;
test.before(async () => {
  fresh = await freshDatabase();
  // One connection, so every statement below runs on the connection that prepared it.
  const config = (fresh.kind === 'postgres' ? { ...fresh.config, pool: { min: 0, max: 1 } } : fresh.config) as Config['database'];
  db = openDatabase(config);
  if (fresh.kind === 'postgres') await db.raw('create schema if not exists ??', [(fresh.config as { schema: string }).schema]);
  await db.schema.createTable('things', (t) => {
    t.string('id').primary();
    t.string('name');
  });
  await db('things').insert([
    { id: 'a', name: 'first' },
    { id: 'b', name: 'second' },
  ]);
});
test.after.always(async () => {
  await db?.destroy();
  await fresh?.cleanup();
});

const BY_ID = 'select id, name from things where id = ?';

/** The prepared statements of the pool's one connection (PostgreSQL). */
async function prepared(): Promise<string[]> {
  return rowsOf<{ statement: string }>(await db.raw('select statement from pg_prepared_statements order by statement')).map((r) => r.statement);
}

test('a fixed statement gives the rows of its bindings, run after run', async (t) => {
  for (const [id, name] of [['a', 'first'], ['b', 'second'], ['a', 'first']] as const) {
    t.deepEqual(rowsOf(await fixedStatement(db, BY_ID, [id])), [{ id, name }]);
  }
  t.deepEqual(rowsOf(await fixedStatement(db, 'update things set name = ? where id = ? returning id', ['renamed', 'b'])), [{ id: 'b' }]);
  t.deepEqual(rowsOf(await fixedStatement(db, BY_ID, ['b'])), [{ id: 'b', name: 'renamed' }]);
  t.deepEqual(rowsOf(await fixedStatement(db, BY_ID, ['none'])), []);
});

test('on PostgreSQL each text is prepared once per connection; a select * is never prepared', async (t) => {
  if (fresh.kind !== 'postgres') {
    t.is(fresh.kind, 'sqlite', 'SQLite keeps its statements in sqlite-statements.ts (its own test)');
    return;
  }
  const text = 'select name from things where id = ? and name is not null';
  for (let i = 0; i < 3; i += 1) await fixedStatement(db, text, ['a']);
  await fixedStatement(db, 'select * from things where id = ?', ['a']);
  const statements = await prepared();
  t.is(statements.filter((s) => s === 'select name from things where id = $1 and name is not null').length, 1, statements.join('\n'));
  t.false(statements.some((s) => s.includes('*')), statements.join('\n'));
  // A column added later: the prepared statement names its columns, so it keeps working.
  await db.schema.alterTable('things', (tb) => tb.string('extra'));
  t.deepEqual(rowsOf(await fixedStatement(db, text, ['a'])), [{ name: 'first' }]);
  t.deepEqual(rowsOf(await fixedStatement(db, 'select * from things where id = ?', ['a'])), [{ id: 'a', name: 'first', extra: null }]);
});

test('with database.preparedStatements off, the same texts run unnamed (a pooler without prepared statements)', async (t) => {
  const config = (fresh.kind === 'postgres' ? { ...fresh.config, pool: { min: 0, max: 1 }, preparedStatements: false } : { ...fresh.config, preparedStatements: false }) as Config['database'];
  const plain = openDatabase(config);
  try {
    const text = 'select id from things where name = ? and id is not null';
    for (let i = 0; i < 2; i += 1) t.deepEqual(rowsOf(await fixedStatement(plain, text, ['first'])), [{ id: 'a' }]);
    if (fresh.kind === 'postgres') {
      const statements = rowsOf<{ statement: string }>(await plain.raw('select statement from pg_prepared_statements')).map((r) => r.statement);
      t.deepEqual(statements, [], statements.join('\n'));
    }
  } finally {
    await plain.destroy();
  }
});
