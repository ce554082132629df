/**
 * Bench users, seeded fast and kept between runs: N users `bench0 … bench<N-1>` sharing one
 * precomputed argon2id hash (one hash call, not N), each with a registered email for the reset
 * phase, inserted in bulk. The seeded database is cached by N and the argon2 parameters: a SQLite
 * file under test/output/bench-cache/ (copied for each run) or a PostgreSQL schema `bench_<key>`.
 */
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import argon2 from 'argon2';
import knexFactory, { type Knex } from 'knex';
import type { Config, ConfigInput } from '../../../src/config/schema.ts';
import { openDatabase, migrateLatest } from '../../../src/store/db.ts';
import type { Argon2Params } from '../../../src/security/password.ts';
import { root } from './servers.ts';

export const PASSWORD = 'bench password correct horse battery';
export const username = (i: number) => `bench${i}`;
export const emailOf = (i: number) => `bench${i}@example.org`;
/** Deterministic ids, so that the bench never has to load a million of them. */
export const userId = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

export type DatabaseInput = NonNullable<ConfigInput['database']>;

export interface SeedTarget {
  kind: 'sqlite' | 'postgres';
  /** PostgreSQL server URL (postgres only). */
  pgUrl?: string;
  /** Where this run's SQLite file goes (sqlite only). */
  runDir: string;
}

export interface Seeded {
  database: DatabaseInput;
  cached: boolean;
  seedSeconds: number;
}

// knex writes a multi-row insert on SQLite as a compound SELECT, which SQLite caps at 500 terms.
const batchOf = (db: Knex) => (db.client.config.client === 'sqlite3' ? 400 : 1000);
const sqliteDb = (filename: string) => ({ client: 'sqlite', filename }) as Config['database'];

function cacheKey(users: number, params: Argon2Params): string {
  return `u${users}_m${params.memoryCost}_t${params.timeCost}_p${params.parallelism}`;
}

async function isSeeded(db: Knex, users: number): Promise<boolean> {
  try {
    const [row] = await db('users').count<{ n: string | number }[]>({ n: '*' });
    return Number(row?.n) === users && Boolean(await db('users').where({ id: userId(users - 1) }).first('id'));
  } catch {
    return false;
  }
}

async function fill(db: Knex, schema: string | undefined, users: number, params: Argon2Params, log: (line: string) => void): Promise<void> {
  await migrateLatest(db, schema);
  const hash = await argon2.hash(PASSWORD, { type: argon2.argon2id, ...params });
  const now = Date.now();
  await db('sspr_methods').delete();
  await db('users').delete();
  const BATCH = batchOf(db);
  for (let start = 0; start < users; start += BATCH) {
    const end = Math.min(users, start + BATCH);
    const rows: Record<string, unknown>[] = [];
    const methods: Record<string, unknown>[] = [];
    for (let i = start; i < end; i += 1) {
      rows.push({
        id: userId(i),
        username: username(i),
        username_key: username(i),
        display_name: `Bench User ${i}`,
        email: emailOf(i),
        email_verified: false,
        status: 'enabled',
        password_source: 'cloud',
        password_hash: hash,
        password_changed_at: now,
        created_at: now,
        updated_at: now,
      });
      methods.push({ id: userId(i), user_id: userId(i), kind: 'email', slot: '', value: emailOf(i), verified_at: now, created_at: now, updated_at: now });
    }
    await db.transaction(async (trx) => {
      await trx('users').insert(rows);
      await trx('sspr_methods').insert(methods);
    });
    if (end % 100_000 === 0 || end === users) log(`  seeded ${end} of ${users} users`);
  }
}

/** A database holding exactly `users` bench users with these argon2 parameters, reused when cached. */
export async function seedUsers(target: SeedTarget, users: number, params: Argon2Params, log: (line: string) => void): Promise<Seeded> {
  const key = cacheKey(users, params);
  const started = performance.now();
  if (target.kind === 'sqlite') {
    const cacheDir = path.join(root, 'test/output/bench-cache');
    mkdirSync(cacheDir, { recursive: true });
    const cached = path.join(cacheDir, `${key}.sqlite`);
    const filename = path.join(target.runDir, `${key}.sqlite`);
    let hit = existsSync(cached);
    if (hit) {
      const db = openDatabase(sqliteDb(cached));
      try {
        hit = await isSeeded(db, users);
      } finally {
        await db.destroy();
      }
    }
    if (!hit) {
      log(`seeding ${users} users into a new SQLite cache file (${path.relative(process.cwd(), cached)})`);
      const building = `${cached}.building`;
      rmSync(building, { force: true });
      const db = openDatabase(sqliteDb(building));
      try {
        await fill(db, undefined, users, params, log);
        await db.raw('PRAGMA wal_checkpoint(TRUNCATE)');
      } finally {
        await db.destroy();
      }
      for (const suffix of ['-wal', '-shm']) rmSync(`${building}${suffix}`, { force: true });
      renameSync(building, cached);
    }
    copyFileSync(cached, filename);
    return { database: { client: 'sqlite', filename }, cached: hit, seedSeconds: (performance.now() - started) / 1000 };
  }

  const url = target.pgUrl!;
  const schema = `bench_${key}`;
  const database: DatabaseInput = { client: 'postgres', url, schema, pool: { min: 0, max: 10 } };
  const admin = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
  try {
    await admin.raw('CREATE SCHEMA IF NOT EXISTS ??', [schema]);
  } finally {
    await admin.destroy();
  }
  const db = openDatabase({ client: 'postgres', url, schema, pool: { min: 0, max: 10 } } as Config['database']);
  try {
    await migrateLatest(db, schema);
    const hit = await isSeeded(db, users);
    if (!hit) {
      log(`seeding ${users} users into PostgreSQL schema ${schema}`);
      await fill(db, schema, users, params, log);
      await db.raw('ANALYZE');
    }
    return { database, cached: hit, seedSeconds: (performance.now() - started) / 1000 };
  } finally {
    await db.destroy();
  }
}
