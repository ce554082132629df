/** A migrated store on a fresh database, for tests that work below the HTTP layer. */
import type { Knex } from 'knex';
import { parseConfig } from '../../src/config/load.ts';
import { openDatabase, migrateLatest } from '../../src/store/db.ts';
import { createStore, type Store } from '../../src/store/index.ts';
import { freshDatabase, type TestDatabase } from './db.ts';

/** `close()` ends the connection and drops the database. */
export async function freshStore(): Promise<{ db: TestDatabase; knex: Knex; store: Store; close(): Promise<void> }> {
  const db = await freshDatabase();
  const config = parseConfig({ database: db.config });
  const knex = openDatabase(config.database);
  await migrateLatest(knex, config.database.schema);
  return {
    db,
    knex,
    store: createStore(knex),
    async close() {
      await knex.destroy();
      await db.cleanup();
    },
  };
}
