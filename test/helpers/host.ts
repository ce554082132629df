/**
 * A host application that owns its Koa app and its Provider and mounts the IdP's parts under
 * /idp, as the README's embedding section shows, on a random local port and a fresh database.
 */
import http from 'node:http';
import Koa from 'koa';
import mount from 'koa-mount';
import Provider from 'oidc-provider';
import { createIdpParts, type IdpParts } from '../../src/index.ts';
import { createLogger } from '../../src/logging.ts';
import type { Clock } from '../../src/clock.ts';
import { freshDatabase, type TestDatabase } from './db.ts';
import { buildConfig, listen, closeServer, closer, type StartOptions } from './idp.ts';

export interface MountedHost {
  /** http://127.0.0.1:port of the host. */
  origin: string;
  /** The IdP's issuer: the origin + /idp. */
  issuer: string;
  parts: IdpParts;
  provider: Provider;
  close(): Promise<void>;
}

export interface HostOptions {
  config?: StartOptions['config'];
  clock?: Clock;
  /** The host's own middleware, put in front of the IdP's mount. */
  before?: (app: Koa, parts: IdpParts) => void;
}

export async function startHost(options: HostOptions = {}): Promise<MountedHost> {
  const db: TestDatabase = await freshDatabase();
  const server = http.createServer();
  const origin = `http://127.0.0.1:${await listen(server)}`;
  const issuer = `${origin}/idp`;
  let parts: IdpParts | undefined;
  try {
    parts = await createIdpParts(buildConfig(issuer, db, options.config), { logger: createLogger('silent'), clock: options.clock });
    const provider = new Provider(issuer, { ...parts.providerConfiguration() });
    const app = new Koa();
    app.keys = parts.cookieSigner;
    options.before?.(app, parts);
    app.use(mount('/idp', parts.middleware(provider)));
    server.on('request', app.callback());
    const started = parts;
    return {
      origin,
      issuer,
      parts,
      provider,
      close: closer(server, started, db),
    };
  } catch (error) {
    await closeServer(server);
    await parts?.close();
    await db.cleanup();
    throw error;
  }
}
