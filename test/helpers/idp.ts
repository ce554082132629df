/** Starts a real IdP on a random local port with a fresh database. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../src/config/load.ts';
import type { Config, ConfigInput } from '../../src/config/schema.ts';
import { createIdp, type Idp } from '../../src/app.ts';
import { createLogger, type Logger } from '../../src/logging.ts';
import type { Clock } from '../../src/clock.ts';
import type { PasswordWriteback } from '../../src/flows/recover/service.ts';
import type { Argon2Functions } from '../../src/security/password.ts';
import type { Channels } from '../../src/delivery/index.ts';
import { freshDatabase, type TestDatabase } from './db.ts';

/** A clock tests can move. */
export class TestClock implements Clock {
  #offset = 0;
  now(): number {
    return Date.now() + this.#offset;
  }
  advance(ms: number): void {
    this.#offset += ms;
  }
  /** Runs `fn` with the clock `ms` ahead, then sets it back however `fn` ended. */
  async ahead<T>(ms: number, fn: () => Promise<T>): Promise<T> {
    this.advance(ms);
    try {
      return await fn();
    } finally {
      this.advance(-ms);
    }
  }
}

export const RP_REDIRECT = 'http://127.0.0.1:9/callback';
export const RP_LOGOUT_REDIRECT = 'http://127.0.0.1:9/signed-out';

/** Fast-but-real argon2id parameters for tests (the schema's minimum memory). */
export const testArgon2 = { memoryCost: 7168, timeCost: 1, parallelism: 1 };

export const defaultClients: NonNullable<ConfigInput['clients']> = [
  {
    clientId: 'confidential-app',
    clientName: 'Confidential App',
    clientSecret: 'confidential-app-secret-0123456789',
    redirectUris: [RP_REDIRECT],
    postLogoutRedirectUris: [RP_LOGOUT_REDIRECT],
    firstParty: true,
  },
  {
    clientId: 'third-party-app',
    clientName: 'Third Party App',
    clientSecret: 'third-party-app-secret-0123456789',
    tokenEndpointAuthMethod: 'client_secret_post',
    redirectUris: [RP_REDIRECT],
    firstParty: false,
  },
  {
    clientId: 'public-app',
    clientName: 'Public App',
    redirectUris: [RP_REDIRECT],
    firstParty: true,
  },
];

export interface RunningIdp {
  url: string;
  issuer: string;
  idp: Idp;
  config: Config;
  db: TestDatabase;
  server: http.Server;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Mount path in the issuer, e.g. '/idp'. */
  prefix?: string;
  clock?: Clock;
  config?: Omit<ConfigInput, 'server' | 'database'> & { server?: Omit<NonNullable<ConfigInput['server']>, 'issuer'> };
  /** Reuse a database (and don't drop it on close). */
  db?: TestDatabase;
  writeback?: PasswordWriteback;
  /** Wraps the argon2 functions (e.g. to count hashes). */
  argon2?: Argon2Functions;
  /** Log here instead of stdout at the configured level (tests that read the log). */
  logger?: Logger;
  /** Host of the issuer, listened on (default 127.0.0.1); passkeys need a name, e.g. 'localhost'. */
  host?: string;
  /** Senders of the test's own, in place of the configured transports. */
  channels?: Partial<Channels>;
}

export function listen(server: http.Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port));
  });
}

export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export function buildConfig(issuer: string, db: TestDatabase, extra: StartOptions['config'] = {}): Config {
  return parseConfig({
    clients: defaultClients,
    logging: { level: process.env.OIDC_SSPR_TEST_LOG ?? 'silent' },
    passwords: { argon2: testArgon2 },
    ...extra,
    // The background purge would run at a point of the test that depends on the machine's speed
    // (deleting what a moved clock expired, adding statements to those a test counts); the tests
    // of the purge start it themselves.
    oidc: { purgeIntervalSeconds: 86_400, ...extra.oidc },
    server: { ...extra.server, issuer },
    database: db.config,
  });
}

export async function startIdp(options: StartOptions = {}): Promise<RunningIdp> {
  const db = options.db ?? (await freshDatabase());
  const server = http.createServer();
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, host);
  const url = `http://${host}:${port}`;
  const issuer = `${url}${options.prefix ?? ''}`;
  const config = buildConfig(issuer, db, options.config);
  const logger = options.logger ?? createLogger(config.logging.level);
  const idp = await createIdp(config, { clock: options.clock, logger, writeback: options.writeback, argon2: options.argon2, channels: options.channels });
  server.on('request', idp.app.callback());
  return {
    url,
    issuer,
    idp,
    config,
    db,
    server,
    close: closer(server, idp, options.db ? undefined : db),
  };
}

/** Closes the HTTP server, then what it served, then (when given) the test database. */
export function closer(server: http.Server, served: { close(): Promise<void> }, db?: { cleanup(): Promise<void> }): () => Promise<void> {
  return async () => {
    await closeServer(server);
    await served.close();
    await db?.cleanup();
  };
}
