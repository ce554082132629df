/** Opens the database and applies migrations. */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { readdir } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import knexFactory from 'knex';
import type { Knex } from 'knex';
import type { Config } from '../config/schema.ts';
import type { Database as SqliteConnection } from 'sqlite3';
import { keepStatements } from './sqlite-statements.ts';
import { withoutPreparedStatements } from './raw.ts';

// Run from the sources (src/store/db.ts) the migrations are the .ts files in migrations/; in the
// built package (dist/store/db.js) they are compiled to dist/migrations/ (see src/build.ts).
const fromSources = import.meta.url.endsWith('.ts');

/** Directory holding the knex migrations shipped with oidc-sspr (.ts in the sources, .js in the package). */
export const migrationsDir = fileURLToPath(new URL(fromSources ? '../../migrations/' : '../migrations/', import.meta.url));

/** Where knex's own messages go; by default they would be printed to stdout with console.log. */
export interface DatabaseLog {
  warn(message: string): void;
}

function knexLog(log: DatabaseLog | undefined) {
  const forward = (message: unknown) => log?.warn(String(message).split('\n')[0]!);
  return { warn: forward, error: forward, deprecate: forward, debug: () => {} };
}

/** Creates a knex instance for the configured database. */
export function openDatabase(db: Config['database'], cwd = process.cwd(), log?: DatabaseLog): Knex {
  if (db.client === 'sqlite') {
    const filename = path.resolve(cwd, db.filename);
    mkdirSync(path.dirname(filename), { recursive: true });
    return knexFactory({
      client: 'sqlite3',
      connection: { filename },
      useNullAsDefault: true,
      // Errors quote the SQL with placeholders, not with the values (tokens, hashes, codes): errors end up in logs.
      compileSqlOnError: false,
      log: knexLog(log),
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: unknown) => void) {
          // WAL lets several processes share the file; busy_timeout makes them wait instead of failing.
          conn.run('PRAGMA journal_mode = WAL', (e1) => {
            if (e1) return done(e1, conn);
            conn.run('PRAGMA busy_timeout = 5000', (e2) => {
              if (e2) return done(e2, conn);
              conn.run('PRAGMA foreign_keys = ON', (e3) => {
                if (!e3) keepStatements(conn);
                done(e3, conn);
              });
            });
          });
        },
      },
    });
  }
  const knex = knexFactory({
    client: 'pg',
    // A server that accepts connections but never answers must not hold requests for long.
    connection: { connectionString: db.url, connectionTimeoutMillis: 5000 },
    searchPath: db.schema ? [db.schema] : undefined,
    pool: { min: db.pool.min, max: db.pool.max },
    acquireConnectionTimeout: 10_000,
    compileSqlOnError: false,
    log: knexLog(log),
  });
  return db.preparedStatements === false ? withoutPreparedStatements(knex) : knex;
}

const MIGRATION_FILE = /^\d{14}_[a-z0-9_-]+\.(ts|js)$/;

/** Migration source reading the migrations (.ts or compiled .js files) from a directory, in name order. */
export class DirectoryMigrationSource implements Knex.MigrationSource<string> {
  readonly dir: string;
  constructor(dir: string = migrationsDir) {
    this.dir = dir;
  }
  async getMigrations(): Promise<string[]> {
    const files = (await readdir(this.dir)).filter((f) => MIGRATION_FILE.test(f)).sort();
    // One file per migration: a compiled .js next to its .ts source wins (it runs anywhere).
    return files.filter((f) => !(f.endsWith('.ts') && files.includes(f.replace(/\.ts$/, '.js'))));
  }
  /**
   * Recorded under the name of the .ts source (`20261123000000_initial.ts`) whichever file ran, so
   * a database migrated from the sources and one migrated by the built package are the same to knex.
   */
  getMigrationName(migration: string): string {
    return migration.replace(/\.js$/, '.ts');
  }
  async getMigration(migration: string): Promise<Knex.Migration> {
    return (await import(pathToFileURL(path.join(this.dir, migration)).href)) as Knex.Migration;
  }
}

async function ensureSchema(knex: Knex, schema: string | undefined): Promise<void> {
  if (schema && knex.client.config.client === 'pg') {
    await knex.raw('CREATE SCHEMA IF NOT EXISTS ??', [schema]);
  }
}

// Instances starting together race for knex's migration lock and table creation: the loser waits and retries.
const RACE = /locked|already exists|duplicate key|SQLITE_BUSY|UNIQUE constraint failed: knex_migrations/i;

/**
 * knex creates its lock table with one row, but instances creating it at the same moment may each
 * insert one; its lock (`update … where is_locked = 0`, expecting exactly one row) then never
 * succeeds again and no instance can start. Deletes the extra unlocked rows, keeping the first.
 */
async function dropExtraLockRows(knex: Knex, schema: string | undefined): Promise<void> {
  const table = () => (schema ? knex.withSchema(schema) : knex).table<{ index: number; is_locked: number }>('knex_migrations_lock');
  const first = await table().min('index', { as: 'first' }).first();
  if (first?.first === null || first?.first === undefined) return;
  await table().where('index', '>', Number(first.first)).andWhere('is_locked', 0).delete();
}

/** How long an instance waits for another one's migrations before it gives up starting. */
const MIGRATION_LOCK_WAIT_MS = 300_000;

/** Applies all pending migrations; returns the names applied. Safe to call from several instances at once. */
export async function migrateLatest(knex: Knex, schema?: string): Promise<string[]> {
  // As long as another instance may take to migrate, not a number of tries: on a loaded machine
  // (or a big migration) the winner can hold the lock for longer than any fixed count of short waits.
  const deadline = Date.now() + MIGRATION_LOCK_WAIT_MS;
  for (;;) {
    try {
      await ensureSchema(knex, schema);
      const [, applied] = (await knex.migrate.latest({ migrationSource: new DirectoryMigrationSource(), schemaName: schema })) as [number, string[]];
      return applied;
    } catch (error) {
      const e = error as Error;
      if (Date.now() >= deadline || !(e.name === 'MigrationLocked' || RACE.test(e.message))) throw error;
      if (e.name === 'MigrationLocked') await dropExtraLockRows(knex, schema).catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
    }
  }
}

/** Rolls back every migration (used by tests and `migrate --rollback`). */
export async function migrateRollbackAll(knex: Knex, schema?: string): Promise<string[]> {
  const [, rolled] = (await knex.migrate.rollback({ migrationSource: new DirectoryMigrationSource(), schemaName: schema }, true)) as [number, string[]];
  return rolled;
}
