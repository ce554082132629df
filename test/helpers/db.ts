/**
 * A fresh database per test file: a SQLite file in a temp dir, or (OIDC_SSPR_TEST_DB=postgres)
 * a new schema in the PostgreSQL database named by OIDC_SSPR_TEST_PG_URL, dropped afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import type { ConfigInput } from '../../src/config/schema.ts';

export type DatabaseInput = NonNullable<ConfigInput['database']>;

export const testDbKind: 'sqlite' | 'postgres' = process.env.OIDC_SSPR_TEST_DB === 'postgres' ? 'postgres' : 'sqlite';
export const pgUrl = process.env.OIDC_SSPR_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  kind: 'sqlite' | 'postgres';
  config: DatabaseInput;
  cleanup(): Promise<void>;
}

export async function freshDatabase(): Promise<TestDatabase> {
  if (testDbKind === 'postgres') {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    return {
      kind: 'postgres',
      config: { client: 'postgres', url: pgUrl, schema, pool: { min: 0, max: 5 } },
      async cleanup() {
        const admin = knexFactory({ client: 'pg', connection: pgUrl, pool: { min: 0, max: 1 } });
        try {
          await admin.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
        } finally {
          await admin.destroy();
        }
      },
    };
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'oidc-sspr-test-'));
  return {
    kind: 'sqlite',
    config: { client: 'sqlite', filename: path.join(dir, 'idp.sqlite') },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
