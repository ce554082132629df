/**
 * Assembles the IdP: database, keys, services, the oidc-provider options and the Koa routes.
 * `createIdpParts` gives an integrator the pieces for their own Provider; `createIdp` builds the
 * whole standalone app from them.
 */
import { createHmac } from 'node:crypto';
import Koa from 'koa';
import type { Middleware } from 'koa';
import mount from 'koa-mount';
import compose from 'koa-compose';
import Provider from 'oidc-provider';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import type { Knex } from 'knex';
import type { Config } from './config/schema.ts';
import { LiveConfig } from './config/live.ts';
import { openDatabase, migrateLatest } from './store/db.ts';
import { createStore, type Store } from './store/index.ts';
import { ensureKeys, type LoadedKeys } from './oidc/keys.ts';
import type { AdapterClass } from './oidc/adapter.ts';
import { createFindAccount } from './oidc/account.ts';
import { createInteractionPolicy } from './oidc/policy.ts';
import { providerConfiguration } from './oidc/provider.ts';
import type { Argon2Functions } from './security/password.ts';
import { createCsrf, type Csrf } from './security/csrf.ts';
import { loadCommonPasswords } from './security/password-policy.ts';
import { createCookieSigner, type CookieSigner } from './security/cookie-signer.ts';
import type { UserService } from './users/service.ts';
import type { RegistrationService } from './flows/register/service.ts';
import type { PasswordWriteback } from './directory/writeback.ts';
import type { Channels, MailDelivery, PhoneDelivery } from './delivery/index.ts';
import { createRenderer, type Renderer } from './web/render.ts';
import { logoAssetPath, readLogo } from './web/logo.ts';
import { isDatabaseUnavailable, RETRY_AFTER_SECONDS } from './web/errors.ts';
import { createLogger, followLevel, type Logger } from './logging.ts';
import { systemClock, type Clock } from './clock.ts';
import type { DirectoryRuntime } from './directory/runtime.ts';
import { createServices } from './app/services.ts';
import { interactionStack } from './app/middleware.ts';
import { createPurger } from './app/purge.ts';
import { health, requestLog } from './app/standalone.ts';
import { createMetrics, serveMetrics, httpMetrics, routeLabel, type HttpMetrics, type Metrics, type MetricsListener } from './metrics/index.ts';
import { requestId, requestIdOf } from './web/request-id.ts';

export { PurgeError } from './app/purge.ts';

export interface IdpOptions {
  /** Injected time source; the system clock by default. */
  clock?: Clock;
  /**
   * Where to log; by default a pino logger at `logging.level` that follows that key on reloads.
   * A logger passed in keeps the level you gave it.
   */
  logger?: Logger;
  /** Directory relative paths in the configuration are resolved against. */
  cwd?: string;
  /** Use this knex instance instead of opening the configured database (it is not closed by close()). */
  knex?: Knex;
  /** Sets passwords in an on-premises directory for users whose password source is onpremises. */
  writeback?: PasswordWriteback;
  /** The argon2 functions to hash with (tests wrap them to count calls); the argon2 package by default. */
  argon2?: Argon2Functions;
  /**
   * Your own senders, used instead of the configured transports (`delivery.mail`, `delivery.phone`):
   * `mail` for email, `sms` for text messages, `voice` for calls. Each gets messages whose recipient
   * is already checked (one plain address; E.164) and resolves once it accepted the message; what it
   * throws is shown to the user as "couldn't send". They are yours to close.
   */
  channels?: Partial<Channels>;
}

/** The parts of the IdP an integrator mounts into a Koa app that owns its own Provider. */
export interface IdpParts {
  config: LiveConfig;
  store: Store;
  users: UserService;
  registration: RegistrationService;
  mail: MailDelivery;
  phone: PhoneDelivery;
  log: Logger;
  clock: Clock;
  keys: LoadedKeys;
  /** The on-premises directory when `directory:` is configured (createIdp starts its sync). */
  directory: DirectoryRuntime | undefined;
  /** Signs and verifies cookies with `keys.cookieKeys` (Keygrip's format): give it to the host app as `app.keys`. */
  cookieSigner: CookieSigner;
  csrf: Csrf;
  render: Renderer;
  /** External path prefix of the IdP, from the issuer URL ('' at the root). */
  basePath: string;
  adapter: AdapterClass;
  /** oidc-provider options: adapter, findAccount, interaction policy and url, claims, keys, pages. */
  providerConfiguration(): Configuration;
  /**
   * Koa middleware serving the interaction pages, assets and the given Provider, with the IdP's
   * error pages and security headers: mount it at `basePath` (the issuer's path) in the host app.
   */
  middleware(provider: Provider): Middleware;
  /**
   * Deletes expired rows now (also runs on a timer in createIdp): oidc rows, codes, sessions, flows,
   * CAPTCHA solutions, ended throttle counters and audit events past audit.retentionDays. Every job
   * runs even if another fails; then it rejects with a PurgeError.
   */
  purge(): Promise<number>;
  /**
   * Runs purge() every `intervalMs` (default `oidc.purgeIntervalSeconds`) until the returned
   * function is called or close(). createIdp starts one; a host that mounts the parts starts its own.
   * A run that fails is logged; a run still going when the next is due makes that one skip.
   */
  startPurge(intervalMs?: number): () => void;
  /** Prometheus series of this IdP (its own registry); undefined unless `metrics.enabled`. */
  metrics: Metrics | undefined;
  /**
   * For a host app, undefined unless `metrics.enabled`: `timing`, the latency histogram by route
   * pattern (app.use it first, in front of the mount), and `endpoint`, GET /metrics with
   * `metrics.token` enforced. `metrics.listen` is createIdp's: a host serves `endpoint` where it wants.
   */
  httpMetrics: HttpMetrics | undefined;
  /** Resolves once the work started in the background so far (helpdesk mails) is done. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export interface Idp {
  app: Koa;
  provider: Provider;
  parts: IdpParts;
  /** The listener of `metrics.listen`, when configured. */
  metricsListener: MetricsListener | undefined;
  close(): Promise<void>;
}

function csrfSecret(cookieKey: string): Buffer {
  return createHmac('sha256', cookieKey).update('oidc-sspr csrf').digest();
}

export async function createIdpParts(config: Config, options: IdpOptions = {}): Promise<IdpParts> {
  const clock = options.clock ?? systemClock;
  const log = options.logger ?? createLogger(config.logging.level);
  // Files the configuration names are checked before anything starts (a ConfigError names the key).
  if (config.ui.logoFile) await readLogo(config.ui.logoFile, options.cwd);
  const db = options.knex ?? openDatabase(config.database, options.cwd, { warn: (message) => log.warn({ component: 'database' }, message) });
  try {
    await migrateLatest(db, config.database.schema);
  } catch (error) {
    if (!options.knex) await db.destroy();
    throw error;
  }
  // The shipped list of common passwords is read now: a missing file fails here, at start, and
  // no password reset pays for indexing it.
  loadCommonPasswords();
  const store = createStore(db);
  const metrics = createMetrics(config.metrics, db, store);
  const live = new LiveConfig(config);
  // A logger passed in is the caller's to set; ours follows logging.level on reloads.
  if (!options.logger) followLevel(live, log);
  const keys = await ensureKeys(store.keys, config.oidc.signingAlgorithm, clock);
  const cookieSigner = createCookieSigner(keys.cookieKeys);
  const secret = csrfSecret(keys.cookieKeys[0]!);
  const csrf = createCsrf(() => secret);
  const services = await createServices(config, live, { store, clock, log, metrics }, options);
  const { directory, users, registration, mail, phone, adapter, helpdesk, isFirstParty, standing, mfaGate } = services;
  const basePath = new URL(config.server.issuer).pathname.replace(/\/+$/, '');
  const site = () => ({
    organisation: live.current.ui.organisation,
    logoUrl: live.current.ui.logoUrl ?? (live.current.ui.logoFile ? `${basePath}${logoAssetPath(live.current.ui.logoFile)}` : undefined),
    defaultLocale: live.current.ui.defaultLocale,
    basePath,
  });
  const render = createRenderer(site);
  const purger = createPurger({ store, throttle: services.throttle, clock, log, auditRetentionDays: () => live.current.audit.retentionDays });

  return {
    config: live,
    store,
    users,
    registration,
    mail,
    phone,
    log,
    clock,
    keys,
    directory,
    cookieSigner,
    csrf,
    render,
    basePath,
    adapter,
    providerConfiguration: () =>
      providerConfiguration({
        config,
        keys,
        cookieSigner,
        adapter,
        findAccount: createFindAccount(store),
        policy: createInteractionPolicy(standing, mfaGate),
        render,
        basePath,
        isFirstParty,
      }),
    middleware: (provider) => {
      const stack = interactionStack(provider, { live, store, services, csrf, render, site, basePath, issuer: config.server.issuer, trustProxy: config.server.trustProxy, log, clock, cwd: options.cwd });
      // With metrics, the stack notes which of its routes served a request, for `timing` outside it.
      return metrics ? compose([routeLabel(basePath), stack]) : stack;
    },
    purge: purger.purge,
    metrics,
    httpMetrics: metrics ? httpMetrics(metrics, config.metrics) : undefined,
    startPurge: (intervalMs = config.oidc.purgeIntervalSeconds * 1000) => purger.startPurge(intervalMs),
    settled: () => helpdesk.settled(),
    async close() {
      await purger.stop();
      directory?.stop();
      await directory?.settled();
      // Closing the transports cancels background sends; their failures are logged before the database goes.
      await Promise.allSettled([mail.close(), phone.close()]);
      await helpdesk.settled();
      if (!options.knex) await db.destroy();
    },
  };
}

/** Builds the standalone IdP: a Koa app serving oidc-provider and the interaction pages. */
export async function createIdp(config: Config, options: IdpOptions = {}): Promise<Idp> {
  const parts = await createIdpParts(config, options);
  const provider = new Provider(config.server.issuer, parts.providerConfiguration());
  provider.proxy = config.server.trustProxy;
  // The client address is taken from the right of X-Forwarded-For: the left is the client's to write.
  provider.maxIpsCount = config.server.proxyHops;
  provider.on('server_error', (ctx: KoaContextWithOIDC, error: Error) => {
    parts.log.error({ err: error, path: ctx.path, requestId: requestIdOf(ctx as unknown as Koa.Context) }, 'oidc-provider server error');
    // A database outage is temporary: 503 with Retry-After from the JSON endpoints (token, userinfo)
    // too, not 500 (pages get their 503 from renderError).
    if (isDatabaseUnavailable(error)) {
      ctx.status = 503;
      ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
    }
  });

  const app = new Koa();
  app.proxy = config.server.trustProxy;
  app.maxIpsCount = config.server.proxyHops;
  // Mounted, oidc-provider signs its cookies with the host app's keys.
  app.keys = parts.cookieSigner;
  app.silent = true;
  const metricsListener = await serveMetrics(app, parts.metrics, config.metrics).catch(async (error: unknown) => {
    await parts.close();
    throw error;
  });
  app.use(requestId(config.server.trustProxy));
  app.use(requestLog(parts.log));
  app.use(health(parts.store, parts.directory));
  const idp = parts.middleware(provider);
  app.use(parts.basePath ? mount(parts.basePath, idp) : idp);

  const stopPurge = parts.startPurge();
  parts.directory?.start(parts.users);

  return {
    app,
    provider,
    parts,
    metricsListener,
    async close() {
      stopPurge();
      await metricsListener?.close();
      await parts.close();
    },
  };
}
