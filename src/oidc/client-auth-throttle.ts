/**
 * Throttling of wrong client secrets at the token, introspection and revocation endpoints.
 *
 * oidc-provider checks a secret with `Client#compareClientSecret`, after it found the client and
 * before it does anything for it: that one method is wrapped here. Every wrong secret is counted
 * per client id and per IP address (one atomic statement each, shared by every instance); past
 * either limit the answer is 429 `invalid_client` with Retry-After, also for the right secret once
 * this instance has seen a wrong one for that client or address in the window (then the counters
 * are read; otherwise a right secret costs no statement). So per window at most the limit of wrong
 * secrets, plus one per instance that had seen none, get an answer that tells right from wrong.
 * Every failure and refusal is audited with the client id and the address, never the secret.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { errors } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { Middleware } from 'koa';
import type { AuditStore } from '../store/audit.ts';
import type { Clock } from '../clock.ts';
import type { Throttle, Limit } from '../security/throttle.ts';
import type { Config } from '../config/schema.ts';

export interface ClientAuthLimits {
  perClient: Limit;
  perIp: Limit;
}

/** The limits from `throttle.clientAuth*`. */
export function clientAuthLimits(config: Config): ClientAuthLimits {
  const { clientAuthPerClient, clientAuthPerIp, clientAuthWindowSeconds: windowSeconds } = config.throttle;
  return { perClient: { points: clientAuthPerClient, windowSeconds }, perIp: { points: clientAuthPerIp, windowSeconds } };
}

interface Request {
  ip: string;
  retryAfterSeconds: number;
}

/** The 429 oidc-provider renders as `{ error: 'invalid_client', error_description }`. */
class TooManyClientAuthFailures extends errors.InvalidClientAuth {
  constructor() {
    super('client authentication throttled');
    this.status = 429;
    this.statusCode = 429;
    this.error_description = 'too many failed client authentications; try again later';
  }
}

export interface ClientAuthGuardDeps {
  throttle: Throttle;
  audit: AuditStore;
  clock: Clock;
  limits: () => ClientAuthLimits;
}

const guarded = new WeakSet<Provider>();

/**
 * Wraps the provider's secret check (once per Provider) and returns the middleware that must run
 * in front of it: it tells the check the request's address and sets Retry-After on a refusal.
 */
export function clientAuthGuard(provider: Provider, deps: ClientAuthGuardDeps): Middleware {
  const requests = new AsyncLocalStorage<Request>();
  if (!guarded.has(provider)) {
    guarded.add(provider);
    const proto = provider.Client.prototype;
    const compare = proto.compareClientSecret;
    proto.compareClientSecret = async function (this: InstanceType<Provider['Client']>, actual: string): Promise<boolean> {
      return checked(deps, requests.getStore(), this.clientId, () => compare.call(this, actual));
    };
  }
  return async (ctx, next) => {
    const request: Request = { ip: ctx.ip, retryAfterSeconds: 0 };
    await requests.run(request, next);
    if (request.retryAfterSeconds > 0 && ctx.status === 429) ctx.set('Retry-After', String(request.retryAfterSeconds));
  };
}

/**
 * Keys (client id, address) this instance saw a wrong secret for, until their window ends. A right
 * secret for a key not in here costs no statement: a token request stays as cheap as it was.
 */
class RecentFailures {
  static readonly MAX = 10_000;
  readonly #until = new Map<string, number>();
  /** With more keys than MAX: every right secret is checked against the counters until then. */
  #everyoneUntil = 0;

  note(keys: string[], until: number, now: number): void {
    for (const key of keys) this.#until.set(key, until);
    if (this.#until.size <= RecentFailures.MAX) return;
    for (const [key, end] of this.#until) if (end <= now) this.#until.delete(key);
    if (this.#until.size > RecentFailures.MAX) {
      this.#until.clear();
      this.#everyoneUntil = until;
    }
  }

  any(keys: string[], now: number): boolean {
    return this.#everyoneUntil > now || keys.some((key) => (this.#until.get(key) ?? 0) > now);
  }
}

const recent = new WeakMap<ClientAuthGuardDeps, RecentFailures>();

async function checked(deps: ClientAuthGuardDeps, request: Request | undefined, clientId: string, compare: () => boolean | Promise<boolean>): Promise<boolean> {
  const ip = request?.ip ?? 'unknown';
  const limits = deps.limits();
  const keys = [`client-auth:client:${clientId}`, `client-auth:ip:${ip}`];
  const failures = recent.get(deps) ?? new RecentFailures();
  recent.set(deps, failures);
  const take = () => Promise.all([deps.throttle.take(keys[0]!, limits.perClient), deps.throttle.take(keys[1]!, limits.perIp)]);
  const record = (reason: string) => deps.audit.record({ type: 'client.auth_failure', outcome: 'failure', clientId, ip, details: { reason } }, deps.clock.now());
  const refuse = async (points: Awaited<ReturnType<typeof take>>) => {
    await record('throttled');
    if (request) request.retryAfterSeconds = Math.max(...points.filter((p) => !p.allowed).map((p) => p.retryAfterSeconds));
    throw new TooManyClientAuthFailures();
  };

  const matches = await compare();
  const now = deps.clock.now();
  if (!matches) {
    // Noted before anything is awaited, so a right secret compared after this one is checked below.
    failures.note(keys, now + Math.max(limits.perClient.windowSeconds, limits.perIp.windowSeconds) * 1000, now);
    // Every wrong secret counts, atomically: of parallel ones, exactly the limit get 401.
    const points = await take();
    if (points.some((p) => !p.allowed)) return refuse(points);
    await record('invalid_secret');
    return false;
  }
  if (!failures.any(keys, now)) return true;
  // Wrong secrets were seen here lately: the right one is only accepted under both limits, and
  // (like a successful sign-in) does not count.
  const points = await take();
  await Promise.all(points.map((p) => p.giveBack()));
  if (points.some((p) => !p.allowed)) return refuse(points);
  return true;
}
