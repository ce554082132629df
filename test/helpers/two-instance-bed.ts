/**
 * Two real server processes on one fresh database (codes go to the outbox), optionally behind a
 * front such as nginx, with the test's own handle on that database and the confidential client
 * discovered at the issuer. Registered for a test file with `useTwoInstanceBed`.
 */
import test from 'ava';
import { freshDatabase, type TestDatabase } from './db.ts';
import { startCluster, type Cluster } from './cluster.ts';
import { defaultClients, testArgon2 } from './idp.ts';
import { discover, oidc } from './rp.ts';
import { codeIn } from './register.ts';
import { createIdpParts, type IdpParts } from '../../src/app.ts';
import { parseConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/logging.ts';
import type { SsprInput } from './sspr-settings.ts';

export const CLIENT = { clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' };

export interface TwoInstanceBed<Front> {
  db: TestDatabase;
  cluster: Cluster;
  /** What `front` started (nginx), or undefined without one. */
  front: Front;
  /** The test's own handle on the database: users in, codes out (the outbox), checks. */
  parts: IdpParts;
  /** The confidential client, discovered at the issuer. */
  rp: oidc.Configuration;
}

export interface TwoInstanceOptions<Front extends { close(): Promise<void> } | undefined> {
  sspr: SsprInput;
  /** Each instance's configuration beyond database, logging, clients, argon2, sspr and the outbox. */
  config?: Record<string, unknown>;
  /** The issuer when a front answers for the instances (the front's URL); else instance 0's URL. */
  issuer?: () => Promise<string>;
  /** Started once the instances listen, stopped before them. */
  front?: (cluster: Cluster, issuer: string) => Promise<Front>;
}

/** Starts the bed in test.before, stops it in test.after.always; returns the bed for the tests. */
export function useTwoInstanceBed<Front extends { close(): Promise<void> } | undefined = undefined>(options: TwoInstanceOptions<Front>): () => TwoInstanceBed<Front> {
  let bed: TwoInstanceBed<Front> | undefined;
  test.before(async () => {
    const db = await freshDatabase();
    const chosen = await options.issuer?.();
    let cluster: Cluster | undefined;
    let front: Front | undefined;
    try {
      cluster = await startCluster(
        2,
        () => ({
          ...options.config,
          database: db.config,
          logging: { level: 'debug' },
          clients: defaultClients,
          passwords: { argon2: testArgon2 },
          sspr: options.sspr,
          delivery: { mail: { transport: 'outbox' }, phone: { transport: 'outbox' } },
        }),
        chosen ? { issuer: chosen } : {},
      );
      const { issuer } = cluster;
      front = (await options.front?.(cluster, issuer)) as Front;
      const parts = await createIdpParts(
        parseConfig({ server: { issuer }, database: db.config, logging: { level: 'silent' }, clients: defaultClients, passwords: { argon2: testArgon2 }, sspr: options.sspr }),
        { logger: createLogger('silent') },
      );
      const rp = await discover({ issuer, ...CLIENT });
      bed = { db, cluster, front, parts, rp };
    } catch (error) {
      await front?.close();
      await cluster?.close();
      await db.cleanup();
      throw error;
    }
  });
  test.after.always(async () => {
    if (!bed) return;
    await bed.parts.close();
    await bed.front?.close();
    await bed.cluster.close();
    await bed.db.cleanup();
  });
  return () => {
    if (!bed) throw new Error('test bed not started');
    return bed;
  };
}

/** The id of the newest outbox message to `address` (0 if none). */
export async function lastMailId(parts: IdpParts, address: string): Promise<number> {
  return (await parts.store.outbox.latest({ recipient: address }, 1))[0]?.id ?? 0;
}

/** The newest outbox message to `address` after id `after`, polled (delivery is part of the request, but don't rely on it). */
export async function mailTo(parts: IdpParts, address: string, after: number): Promise<{ id: number; code: string }> {
  for (let i = 0; i < 100; i += 1) {
    const [message] = await parts.store.outbox.latest({ recipient: address }, 1);
    if (message && message.id > after) return { id: message.id, code: codeIn(message.body) };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no message to ${address} in the outbox`);
}
