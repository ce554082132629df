/**
 * Throttling of wrong client secrets at the token, introspection and revocation endpoints.
 *
 * oidc-provider checks a secret with `Client#compareClientSecret`, after it found the client and
 * before it does anything for it: that one method is wrapped here. Like a password at sign-in, each
 * check takes a point per client id and per IP address first (so parallel guesses can't all slip
 * under the limit) and gives both back when the secret was right; over either limit the secret is
 * not checked at all and the answer is 429 `invalid_client` with Retry-After. Every failure and
 * every refusal is audited, with the client id and the address, never the secret.
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

async function checked(deps: ClientAuthGuardDeps, request: Request | undefined, clientId: string, compare: () => boolean | Promise<boolean>): Promise<boolean> {
  const ip = request?.ip ?? 'unknown';
  const limits = deps.limits();
  const points = await Promise.all([
    deps.throttle.take(`client-auth:client:${clientId}`, limits.perClient),
    deps.throttle.take(`client-auth:ip:${ip}`, limits.perIp),
  ]);
  const giveBack = () => Promise.all(points.map((p) => p.giveBack()));
  const record = (outcome: 'failure', reason: string) =>
    deps.audit.record({ type: 'client.auth_failure', outcome, clientId, ip, details: { reason } }, deps.clock.now());
  const refused = points.filter((p) => !p.allowed);
  if (refused.length > 0) {
    // Not a checked secret: it doesn't count (the client or address is over the limit anyway).
    await giveBack();
    await record('failure', 'throttled');
    if (request) request.retryAfterSeconds = Math.max(...refused.map((p) => p.retryAfterSeconds));
    throw new TooManyClientAuthFailures();
  }
  const matches = await compare();
  if (matches) await giveBack();
  else await record('failure', 'invalid_secret');
  return matches;
}
