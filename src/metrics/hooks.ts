/**
 * The counters the audit trail doesn't see, each taken at the one interface everything goes
 * through: the throttle, the two deliveries and the database connection. Without metrics every
 * function here hands back what it was given.
 */
import type { Knex } from 'knex';
import { DeliveryError, type MailDelivery, type PhoneDelivery } from '../delivery/index.ts';
import { Throttle, type Limit, type HitResult } from '../security/throttle.ts';
import { isDatabaseUnavailable } from '../web/errors.ts';
import type { ThrottleStore } from '../store/throttle.ts';
import type { Clock } from '../clock.ts';
import { oneOf, type Metrics } from './registry.ts';

/** Throttle keys by their fixed leading parts (the rest is an address or account: never a label). */
const LIMITS = ['signin_ip', 'reset_ip', 'mfa_failures', 'sspr_register_email', 'sspr_register_phone', 'sspr_resets', 'sspr_email', 'sspr_phone', 'sspr_questions', 'sspr_contact'] as const;

export function limitOf(key: string): string {
  const [a, b, c] = key.split(':');
  const two = `${a}_${b}`;
  return two === 'sspr_register' ? oneOf(`${two}_${c}`, LIMITS) : oneOf(two, LIMITS);
}

/** A Throttle that counts its refusals by limit. */
class MeteredThrottle extends Throttle {
  readonly #metrics: Metrics;
  constructor(store: ThrottleStore, clock: Clock, metrics: Metrics) {
    super(store, clock);
    this.#metrics = metrics;
  }

  override async hit(key: string, limit: Limit): Promise<HitResult> {
    const result = await super.hit(key, limit);
    if (!result.allowed) this.#metrics.throttleRefusals.inc({ limit: limitOf(key) });
    return result;
  }

  override async take(key: string, limit: Limit): Promise<HitResult & { giveBack(): Promise<void> }> {
    const result = await super.take(key, limit);
    if (!result.allowed) this.#metrics.throttleRefusals.inc({ limit: limitOf(key) });
    return result;
  }
}

export function meteredThrottle(store: ThrottleStore, clock: Clock, metrics: Metrics | undefined): Throttle {
  return metrics ? new MeteredThrottle(store, clock, metrics) : new Throttle(store, clock);
}

const CODE_FLOWS = ['register', 'reset', 'mfa'] as const;
const FAILURES = ['invalid', 'closed', 'unreachable', 'timeout', 'auth', 'rejected', 'error'] as const;

/**
 * Counts what a delivery sends: codes (kinds `register.…`, `reset.…`, `mfa.…`) by channel and flow,
 * and every failed message by channel and reason.
 */
export function meteredDelivery<D extends MailDelivery | PhoneDelivery>(delivery: D, metrics: Metrics | undefined): D {
  if (!metrics) return delivery;
  const send = delivery.send.bind(delivery) as (message: Parameters<D['send']>[0]) => Promise<void>;
  const metered = async (message: Parameters<D['send']>[0]): Promise<void> => {
    const channel = 'channel' in message ? message.channel : 'email';
    try {
      await send(message);
    } catch (error) {
      metrics.deliveryFailures.inc({ channel, reason: error instanceof DeliveryError ? oneOf(error.reason, FAILURES) : 'error' });
      throw error;
    }
    const flow = oneOf(message.kind.split('.')[0], CODE_FLOWS);
    if (flow !== 'other') metrics.codesSent.inc({ channel, flow });
  };
  return { ...delivery, send: metered, close: delivery.close.bind(delivery) } as D;
}

function constraintViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === '23503' || e?.code === 'SQLITE_CONSTRAINT' || /constraint failed/i.test(e?.message ?? '');
}

/** Counts failed statements (knex's query-error) and failed connection attempts (the pool's createFail). */
export function watchDatabase(db: Knex, metrics: Metrics | undefined): void {
  if (!metrics) return;
  db.on('query-error', (error: unknown) => {
    metrics.databaseErrors.inc({ kind: isDatabaseUnavailable(error) ? 'unavailable' : constraintViolation(error) ? 'constraint' : 'query' });
  });
  const pool = (db.client as { pool?: { on(event: string, listener: () => void): void } }).pool;
  pool?.on('createFail', () => metrics.databaseErrors.inc({ kind: 'connect' }));
}
