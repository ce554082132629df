/**
 * Assembles the IdP: database, keys, services, the oidc-provider options and the Koa routes.
 * `createIdpParts` gives an integrator the pieces for their own Provider; `createIdp` builds the
 * whole standalone app from them.
 */
import path from 'node:path';
import { createHmac } from 'node:crypto';
import Koa from 'koa';
import type { Middleware } from 'koa';
import compose from 'koa-compose';
import mount from 'koa-mount';
import Provider from 'oidc-provider';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import type { Knex } from 'knex';
import type { Config } from './config/schema.ts';
import { LiveConfig } from './config/live.ts';
import { openDatabase, migrateLatest } from './store/db.ts';
import { createStore, type Store } from './store/index.ts';
import { ensureKeys, type LoadedKeys } from './oidc/keys.ts';
import { createKnexAdapter, type AdapterClass } from './oidc/adapter.ts';
import { createClientSource } from './oidc/clients.ts';
import { createFindAccount } from './oidc/account.ts';
import { createInteractionPolicy } from './oidc/policy.ts';
import { providerConfiguration } from './oidc/provider.ts';
import { createPasswordHasher, type Argon2Functions } from './security/password.ts';
import { createCsrf, type Csrf } from './security/csrf.ts';
import { loadCommonPasswords } from './security/password-policy.ts';
import { createCookieSigner, type CookieSigner } from './security/cookie-signer.ts';
import { securityHeaders } from './security/headers.ts';
import { UserService } from './users/service.ts';
import { LoginService } from './flows/login/service.ts';
import { PasswordSignIn } from './flows/sign-in.ts';
import { loginRoutes } from './flows/login/routes.ts';
import { interactionKit } from './flows/interaction.ts';
import { RegistrationService } from './flows/register/service.ts';
import { StandingService } from './sspr/standing.ts';
import { registerRoutes } from './flows/register/routes.ts';
import { ReauthService } from './flows/register/reauth.ts';
import { SetupService } from './flows/setup/service.ts';
import { setupRoutes } from './flows/setup/routes.ts';
import { loadSecretsKey, secretKeys, createSecretBox, deriveKey } from './security/secrets.ts';
import { Captcha, CAPTCHA_KEY_LABEL } from './security/captcha.ts';
import { clientAuthGuard, clientAuthLimits } from './oidc/client-auth-throttle.ts';
import { RecoveryService } from './flows/recover/service.ts';
import { recoverRoutes } from './flows/recover/routes.ts';
import { HelpdeskRequests } from './flows/recover/helpdesk.ts';
import { ResetGate } from './flows/recover/gate.ts';
import { OneTimeCodes } from './security/codes.ts';
import { createMailDelivery, createPhoneDelivery, type MailDelivery, type PhoneDelivery } from './delivery/index.ts';
import { createMethodRegistry, createChallenges } from './methods/registry.ts';
import { MfaService } from './mfa/service.ts';
import { RememberedDevices } from './mfa/devices.ts';
import { mfaRoutes } from './flows/mfa/routes.ts';
import { PasskeySignIn } from './methods/passkey/sign-in.ts';
import { pinOrigin } from './web/pin-origin.ts';
import { ChangeNotifier } from './sspr/notify.ts';
import { createRenderer, viewsDir, LOCALE_COOKIE, type Renderer } from './web/render.ts';
import { formActionsOnGet } from './web/form-get.ts';
import { createRouteKit } from './web/route-kit.ts';
import { logoAssetPath, readLogo } from './web/logo.ts';
import { errorPages, isDatabaseUnavailable, RETRY_AFTER_SECONDS } from './web/errors.ts';
import { requestId, requestIdOf } from './web/request-id.ts';
import { assets } from './web/assets.ts';
import { isLocale } from './i18n/index.ts';
import { createLogger, followLevel, type Logger } from './logging.ts';
import { systemClock, type Clock } from './clock.ts';
import { createDirectoryRuntime, directoryPasswordCheck, type DirectoryRuntime } from './directory/runtime.ts';
import { LdapPasswordWriteback, type PasswordWriteback } from './directory/writeback.ts';
import { createMetrics, meteredDelivery, meteredThrottle, serveMetrics, type Metrics, type MetricsListener } from './metrics/index.ts';

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

/** Some purge jobs failed (each was logged); the others ran and deleted `deleted` rows. */
export class PurgeError extends Error {
  readonly failed: string[];
  readonly deleted: number;
  constructor(failed: string[], of: number, deleted: number) {
    super(`purge: ${failed.length} of ${of} jobs failed: ${failed.join(', ')} (${deleted} rows deleted by the others)`);
    this.name = 'PurgeError';
    this.failed = failed;
    this.deleted = deleted;
  }
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
  const hasher = createPasswordHasher(() => live.current.passwords.argon2, options.argon2);
  // The dummy hash for unknown users exists before the first sign-in, for every parameter set.
  await hasher.prepare();
  live.onChange(() => {
    hasher.prepare().catch((error: unknown) => log.error({ err: error }, 'computing the dummy password hash failed'));
  });
  const directory = await createDirectoryRuntime(config, { store, clock, log, cwd: options.cwd, country: () => live.current.sspr.defaultCountry });
  const users = new UserService(store, hasher, clock, () => live.current.lockout, directory && directoryPasswordCheck(store, directory.client));
  const clients = createClientSource(() => live.current.clients, config.oidc.signingAlgorithm);
  const isFirstParty = (clientId: string) => clients.get(clientId)?.firstParty === true;
  const adapter = createKnexAdapter(store.oidc, clock, clients);
  const basePath = new URL(config.server.issuer).pathname.replace(/\/+$/, '');
  const site = () => ({
    organisation: live.current.ui.organisation,
    logoUrl: live.current.ui.logoUrl ?? (live.current.ui.logoFile ? `${basePath}${logoAssetPath(live.current.ui.logoFile)}` : undefined),
    defaultLocale: live.current.ui.defaultLocale,
    basePath,
  });
  const render = createRenderer(site);
  const throttle = meteredThrottle(store.throttle, clock, metrics);
  const passwordSignIn = new PasswordSignIn({
    users,
    log,
    audit: store.audit,
    clock,
    throttle,
    limit: () => ({ points: live.current.throttle.signinPerIp, windowSeconds: live.current.throttle.signinWindowSeconds }),
  });
  const login = new LoginService({ signIn: passwordSignIn, isFirstParty });

  const master = await loadSecretsKey(store.keys, config.sspr.secretsKey, clock);
  const derived = secretKeys(master);
  const box = createSecretBox(derived.secretBox);
  const codes = new OneTimeCodes(store.sspr, clock, () => derived.codePepper, () => live.current.sspr.codes);
  const mail = meteredDelivery(createMailDelivery({ config: () => live.current.delivery.mail, outbox: store.outbox, log, clock }), metrics);
  const phone = meteredDelivery(createPhoneDelivery({ config: () => live.current.delivery.phone, outbox: store.outbox, log, clock }), metrics);
  const methodDeps = {
    config: () => live.current,
    store,
    clock,
    codes,
    throttle,
    hasher,
    mail,
    phone,
    seal: (plain: string) => box.seal(plain),
    open: (sealed: string) => box.open(sealed),
  };
  const methods = createMethodRegistry(methodDeps);
  const notifier = new ChangeNotifier(mail, log, () => live.current.ui.organisation);
  const standing = new StandingService({ store, config: () => live.current, clock });
  const registration = new RegistrationService({ store, config: () => live.current, clock, methods, notifier, standing });
  const writeback = options.writeback ?? (directory && config.directory?.mode === 'writable' ? new LdapPasswordWriteback(store, directory.client, { log, clock }) : undefined);
  if (config.sspr.onPremises.passwordWriteback && !writeback) {
    log.warn(
      { key: 'sspr.onPremises.passwordWriteback' },
      'sspr.onPremises.passwordWriteback is on but no PasswordWriteback was passed to createIdp/createIdpParts: on-premises accounts are refused at "Can\'t access your account?" (SSPR_WRITEBACK_UNAVAILABLE)',
    );
  }
  const mfa = new MfaService(methodDeps);
  const devices = new RememberedDevices({ store, clock, config: () => live.current });
  const mfaGate = {
    required: (accountId: string) => mfa.required(accountId),
    remembered: async (accountId: string, token: string | undefined, request: { ip?: string; clientId?: string }) =>
      (await devices.check(token, accountId, request)) === 'remembered',
  };
  const helpdesk = new HelpdeskRequests({ store, config: () => live.current, clock, mail, log });
  const captcha = new Captcha({ store: store.captcha, clock, key: deriveKey(master, CAPTCHA_KEY_LABEL), config: () => live.current.sspr.captcha });
  const recovery = new RecoveryService({
    store,
    config: () => live.current,
    clock,
    users,
    standing,
    challenges: createChallenges(methodDeps),
    hasher,
    mail,
    log,
    throttle,
    helpdesk,
    gate: new ResetGate({ throttle, captcha, config: () => live.current }),
    writeback,
  });
  const purgeTimers = new Set<NodeJS.Timeout>();
  const purging = new Set<Promise<unknown>>();

  /**
   * Every purge is a plain DELETE of expired rows: safe to run from several instances at once.
   * Each job runs even when another failed (each failure is logged with its job); then a failure
   * rejects with a PurgeError that still tells how many rows the other jobs deleted.
   */
  async function purge(): Promise<number> {
    const now = clock.now();
    const jobs: [string, () => Promise<number>][] = [
      ['oidc_payloads', () => store.oidc.purgeExpired(now)],
      ['sspr_challenges', () => store.sspr.purgeChallenges(now)],
      ['webauthn_challenges', () => store.passkeys.purgeChallenges(now)],
      ['account_sessions', () => store.accountSessions.purgeExpired(now)],
      ['mfa_devices', () => store.mfaDevices.purgeExpired(now)],
      ['reset_flows', () => store.reset.purgeExpired(now)],
      ['captcha_solutions', () => store.captcha.purgeExpired(now)],
      ['throttle_counters', () => throttle.purgeExpired()],
      ['audit_events', () => store.audit.purgeOlderThan(now - live.current.audit.retentionDays * 86_400_000)],
    ];
    let total = 0;
    const failed: string[] = [];
    for (const [job, run] of jobs) {
      try {
        total += await run();
      } catch (error) {
        failed.push(job);
        log.error({ err: error, job }, 'purge job failed');
      }
    }
    if (failed.length) throw new PurgeError(failed, jobs.length, total);
    return total;
  }

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
    middleware(provider) {
      const web = createRouteKit({ csrf, site, bodyLimitKb: () => live.current.server.bodyLimitKb });
      const kit = interactionKit(provider, web, clock);
      const reauth = new ReauthService({ signIn: passwordSignIn, audit: store.audit, clock });
      const register = registerRoutes({ kit, registration, reauth, users, render });
      const second = mfaRoutes({ kit, mfa, devices, users, render, config: () => live.current });
      const routes = loginRoutes({ kit, login, render, promptPages: { ...register.promptPages, ...second.promptPages }, passkeys: new PasskeySignIn(methodDeps) });
      const setup = setupRoutes({
        setup: new SetupService({ store, users, clock, signIn: passwordSignIn }),
        registration,
        web,
        render,
      });
      const rememberLocale: Middleware = async (ctx, next) => {
        const lang = ctx.query.lang;
        if (isLocale(lang)) {
          ctx.cookies.set(LOCALE_COOKIE, lang, { httpOnly: true, sameSite: 'lax', maxAge: 365 * 86400_000, path: '/', signed: false });
        }
        await next();
      };
      const recover = recoverRoutes({ recovery, captcha, web, render, config: () => live.current });
      return compose([
        requestId(config.server.trustProxy),
        pinOrigin(config.server.issuer),
        securityHeaders(),
        errorPages(render, log),
        rememberLocale,
        formActionsOnGet(basePath),
        assets(path.join(viewsDir, 'assets'), { logoFile: () => live.current.ui.logoFile, cwd: options.cwd }),
        register.router.routes() as Middleware,
        second.router.routes() as Middleware,
        setup.routes() as Middleware,
        recover.routes() as Middleware,
        routes.routes() as Middleware,
        routes.allowedMethods() as Middleware,
        clientAuthGuard(provider, { throttle, audit: store.audit, clock, limits: () => clientAuthLimits(live.current) }),
        mount(provider),
      ]);
    },
    purge,
    metrics,
    startPurge(intervalMs = config.oidc.purgeIntervalSeconds * 1000) {
      if (!Number.isFinite(intervalMs) || intervalMs <= 0) throw new RangeError(`startPurge: intervalMs must be a positive number, got ${intervalMs}`);
      let running: Promise<unknown> | undefined;
      const timer = setInterval(() => {
        if (running) return;
        const run = purge()
          .catch((error: unknown) => log.warn({ err: { message: (error as Error).message } }, 'purge failed'))
          .finally(() => {
            running = undefined;
            purging.delete(run);
          });
        running = run;
        purging.add(run);
      }, intervalMs);
      timer.unref();
      purgeTimers.add(timer);
      return () => {
        clearInterval(timer);
        purgeTimers.delete(timer);
      };
    },
    settled: () => helpdesk.settled(),
    async close() {
      for (const timer of purgeTimers) clearInterval(timer);
      purgeTimers.clear();
      await Promise.allSettled([...purging]);
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
  const metricsListener = await serveMetrics(app, parts.metrics, config.metrics, parts.basePath).catch(async (error: unknown) => {
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

/**
 * `GET /healthz`: 200 when the database answers, 503 otherwise (for load balancers). The directory's
 * state is reported on its own (`directory`): when only it is down, cloud users are still served.
 */
function health(store: Store, directory: DirectoryRuntime | undefined): Middleware {
  return async (ctx, next) => {
    if (ctx.path !== '/healthz' || ctx.method !== 'GET') return next();
    try {
      await store.ping();
      ctx.body = { status: 'ok', ...(directory ? { directory: await directory.health() } : {}) };
    } catch {
      ctx.status = 503;
      ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
      ctx.body = { status: 'unavailable' };
    }
  };
}

/** One log line per request: its id, method, path without query (it may carry codes), status, duration. */
function requestLog(log: Logger): Middleware {
  return async (ctx, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      log.debug({ requestId: requestIdOf(ctx), method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(performance.now() - started) }, 'request');
    }
  };
}
