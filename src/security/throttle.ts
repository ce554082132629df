/**
 * Throttling with counters in the shared database, so a limit holds across every instance.
 *
 * One row per key in `throttle_counters` (migrations/20261123030000_throttle.ts) holds a fixed-window
 * counter and/or a block. Every hit is a single `INSERT ... ON CONFLICT (key) DO UPDATE ... RETURNING`,
 * atomic on PostgreSQL (the row lock orders concurrent upserts) and on SQLite (one writer at a time),
 * so of N concurrent hits on a key with `points` P exactly P are allowed, whichever instance makes them.
 * Time comes from the injected clock (epoch milliseconds), like every other expiry in the store.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Clock } from '../clock.ts';

export interface Limit {
  /** Events allowed per window. */
  points: number;
  windowSeconds: number;
}

export interface HitResult {
  allowed: boolean;
  /** Events still allowed in the current window (0 while the key is blocked). */
  remaining: number;
  /** With allowed false: seconds until a hit can be allowed again (at least 1); otherwise 0. */
  retryAfterSeconds: number;
}

const TABLE = 'throttle_counters';
/** Keys longer than this are stored as their SHA-256 (the column holds 255 characters). */
const MAX_KEY_LENGTH = 200;
const HASHED = 'sha256:';

interface CounterRow {
  points: number | string;
  window_expires_at: number | string | null;
  blocked_until: number | string | null;
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

function assertLimit(limit: Limit): void {
  if (!Number.isInteger(limit.points) || limit.points < 1) throw new RangeError(`throttle: points must be a positive integer, got ${limit.points}`);
  if (!Number.isFinite(limit.windowSeconds) || limit.windowSeconds <= 0) throw new RangeError(`throttle: windowSeconds must be positive, got ${limit.windowSeconds}`);
}

/**
 * The stored form of a key: the key itself, or `sha256:<hex>` when it is long (or itself starts with
 * `sha256:`, so that a plain key can never equal the hash of another).
 */
export function storedKey(key: string): string {
  if (key.length <= MAX_KEY_LENGTH && !key.startsWith(HASHED)) return key;
  return HASHED + createHash('sha256').update(key, 'utf8').digest('hex');
}

export class Throttle {
  readonly #db: Knex;
  readonly #clock: Clock;

  constructor(db: Knex, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /**
   * Counts one event for `key` under `limit`; allowed is false once more than `points` events happened
   * in the window. The window (fixed) starts with the first event after the previous one ended. Refused
   * events are counted too. While the key is blocked (block()) every hit is refused.
   */
  async hit(key: string, limit: Limit): Promise<HitResult> {
    assertLimit(limit);
    const now = this.#clock.now();
    const windowEnd = now + limit.windowSeconds * 1000;
    const db = this.#db;
    // Every column on the right-hand side refers to the row as it was before this statement.
    const expired = `(${TABLE}.window_expires_at IS NULL OR ${TABLE}.window_expires_at <= ?)`;
    const newWindow = `CASE WHEN ${expired} THEN excluded.window_expires_at ELSE ${TABLE}.window_expires_at END`;
    const rows = (await db(TABLE)
      .insert({ key: storedKey(key), points: 1, window_expires_at: windowEnd, blocked_until: null, expires_at: windowEnd })
      .onConflict('key')
      .merge({
        points: db.raw(`CASE WHEN ${expired} THEN 1 ELSE ${TABLE}.points + 1 END`, [now]),
        window_expires_at: db.raw(newWindow, [now]),
        expires_at: db.raw(
          `CASE WHEN ${TABLE}.blocked_until IS NOT NULL AND ${TABLE}.blocked_until > (${newWindow}) THEN ${TABLE}.blocked_until ELSE (${newWindow}) END`,
          [now, now],
        ),
      })
      .returning(['points', 'window_expires_at', 'blocked_until'])) as CounterRow[];
    const row = rows[0];
    if (!row) throw new Error('throttle: upsert returned no row');

    const points = Number(row.points);
    const windowExpiresAt = num(row.window_expires_at) ?? now;
    const blockedUntil = num(row.blocked_until) ?? 0;
    const over = points > limit.points;
    const blocked = blockedUntil > now;
    if (!over && !blocked) return { allowed: true, remaining: limit.points - points, retryAfterSeconds: 0 };
    const waitMs = Math.max(over ? windowExpiresAt - now : 0, blocked ? blockedUntil - now : 0);
    return {
      allowed: false,
      remaining: blocked ? 0 : Math.max(limit.points - points, 0),
      retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)),
    };
  }

  /** How many events are counted now (without adding): 0 when the window has ended. */
  async peek(key: string, limit: Limit): Promise<number> {
    assertLimit(limit);
    const row = (await this.#db(TABLE).where({ key: storedKey(key) }).first('points', 'window_expires_at')) as
      | Pick<CounterRow, 'points' | 'window_expires_at'>
      | undefined;
    if (!row) return 0;
    const windowExpiresAt = num(row.window_expires_at);
    return windowExpiresAt !== null && windowExpiresAt > this.#clock.now() ? Number(row.points) : 0;
  }

  /** Forgets a key: its counter and any block on it (e.g. counters reset after a successful reset). */
  async reset(key: string): Promise<void> {
    await this.#db(TABLE).where({ key: storedKey(key) }).delete();
  }

  /**
   * Blocks a key for `seconds` (e.g. an account blocked from SSPR for 24 h). A block only ever grows:
   * a shorter block leaves a longer one in place; reset() lifts it. The key's counter is kept.
   */
  async block(key: string, seconds: number): Promise<void> {
    if (!Number.isFinite(seconds) || seconds <= 0) throw new RangeError(`throttle: block seconds must be positive, got ${seconds}`);
    const until = this.#clock.now() + seconds * 1000;
    const db = this.#db;
    await db(TABLE)
      .insert({ key: storedKey(key), points: 0, window_expires_at: null, blocked_until: until, expires_at: until })
      .onConflict('key')
      .merge({
        blocked_until: db.raw(
          `CASE WHEN ${TABLE}.blocked_until IS NOT NULL AND ${TABLE}.blocked_until > excluded.blocked_until THEN ${TABLE}.blocked_until ELSE excluded.blocked_until END`,
        ),
        expires_at: db.raw(`CASE WHEN ${TABLE}.expires_at > excluded.expires_at THEN ${TABLE}.expires_at ELSE excluded.expires_at END`),
      });
  }

  /** Seconds left of a block (rounded up), or 0. */
  async blockedFor(key: string): Promise<number> {
    const row = (await this.#db(TABLE).where({ key: storedKey(key) }).first('blocked_until')) as Pick<CounterRow, 'blocked_until'> | undefined;
    const until = row ? num(row.blocked_until) : null;
    if (until === null) return 0;
    const left = until - this.#clock.now();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  /** Deletes the rows whose window and block have both ended; returns how many. */
  async purgeExpired(): Promise<number> {
    return this.#db(TABLE).where('expires_at', '<=', this.#clock.now()).delete();
  }
}
