/**
 * Throttling counters (`throttle_counters`, migrations/20261123030000_throttle.ts): the only place
 * their SQL lives. One row per key holds a fixed-window counter and/or a block; times are epoch
 * milliseconds from the application clock, passed in by the caller.
 *
 * Every count is a single `INSERT ... ON CONFLICT (key) DO UPDATE ... RETURNING`, atomic on PostgreSQL
 * (the row lock orders concurrent upserts) and on SQLite (one writer at a time), so concurrent hits
 * from any number of instances each see a distinct count.
 */
import { createHash } from 'node:crypto';
import { rowsOf, fixedStatement } from './raw.ts';
import { Repository } from './repository.ts';

const TABLE = 'throttle_counters';
/** Keys longer than this are stored as their SHA-256 (the column holds 255 characters). */
const MAX_KEY_LENGTH = 200;
const HASHED = 'sha256:';

/** A key's counter after a hit. */
export interface CounterState {
  /** Events counted in the current window, this one included. */
  points: number;
  /** End of the current window (epoch ms). */
  windowExpiresAt: number;
  /** The key is blocked until then (epoch ms), or null. */
  blockedUntil: number | null;
}

interface CounterRow {
  points: number | string;
  window_expires_at: number | string | null;
  blocked_until: number | string | null;
}

// Fixed SQL text (raw.ts: fixedStatement): every sign-in counts and gives back a point. Every
// column on the right-hand side of the update refers to the row as it was before this statement.
const EXPIRED = `(${TABLE}.window_expires_at IS NULL OR ${TABLE}.window_expires_at <= ?)`;
const NEW_WINDOW = `CASE WHEN ${EXPIRED} THEN excluded.window_expires_at ELSE ${TABLE}.window_expires_at END`;
/** Bindings: key, window end (twice), now (four times). */
const COUNT =
  `insert into ${TABLE} ("key", points, window_expires_at, blocked_until, expires_at) values (?, 1, ?, null, ?) ` +
  `on conflict ("key") do update set points = CASE WHEN ${EXPIRED} THEN 1 ELSE ${TABLE}.points + 1 END, ` +
  `window_expires_at = ${NEW_WINDOW}, ` +
  `expires_at = CASE WHEN ${TABLE}.blocked_until IS NOT NULL AND ${TABLE}.blocked_until > (${NEW_WINDOW}) THEN ${TABLE}.blocked_until ELSE (${NEW_WINDOW}) END ` +
  'returning points, window_expires_at, blocked_until';
/** Bindings: key, window end. */
const UNCOUNT = `update ${TABLE} set points = points - 1 where "key" = ? and window_expires_at = ? and points > 0`;

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

/**
 * The stored form of a key: the key itself, or `sha256:<hex>` when it is long (or itself starts with
 * `sha256:`, so that a plain key can never equal the hash of another).
 */
export function storedKey(key: string): string {
  if (key.length <= MAX_KEY_LENGTH && !key.startsWith(HASHED)) return key;
  return HASHED + createHash('sha256').update(key, 'utf8').digest('hex');
}

export class ThrottleStore extends Repository {
  /**
   * Counts one event: a window that ended (or none) starts again at 1 and ends at `windowEnd`,
   * otherwise the count grows by one. Returns the counter as this statement left it.
   */
  async count(key: string, now: number, windowEnd: number): Promise<CounterState> {
    const rows = rowsOf<CounterRow>(await fixedStatement(this.db, COUNT, [storedKey(key), windowEnd, windowEnd, now, now, now, now]));
    const row = rows[0];
    if (!row) throw new Error('throttle: upsert returned no row');
    return { points: Number(row.points), windowExpiresAt: num(row.window_expires_at) ?? now, blockedUntil: num(row.blocked_until) };
  }

  /**
   * Takes one counted event back, only while the window it was counted in (ending at `windowExpiresAt`)
   * lasts: an event of an earlier window is never subtracted from a later one.
   */
  async uncount(key: string, windowExpiresAt: number): Promise<void> {
    await fixedStatement(this.db, UNCOUNT, [storedKey(key), windowExpiresAt]);
  }

  /** The count of the window in force at `now` (0 when it ended or there is none). */
  async points(key: string, now: number): Promise<number> {
    const row = (await this.db(TABLE).where({ key: storedKey(key) }).first('points', 'window_expires_at')) as
      | Pick<CounterRow, 'points' | 'window_expires_at'>
      | undefined;
    if (!row) return 0;
    const windowExpiresAt = num(row.window_expires_at);
    return windowExpiresAt !== null && windowExpiresAt > now ? Number(row.points) : 0;
  }

  /** Forgets a key: its counter and any block on it. */
  async delete(key: string): Promise<void> {
    await this.db(TABLE).where({ key: storedKey(key) }).delete();
  }

  /** Blocks a key until `until`, unless it is already blocked for longer; the counter is kept. */
  async block(key: string, until: number): Promise<void> {
    const db = this.db;
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

  /** The end of the key's block (epoch ms), or null. */
  async blockedUntil(key: string): Promise<number | null> {
    const row = (await this.db(TABLE).where({ key: storedKey(key) }).first('blocked_until')) as Pick<CounterRow, 'blocked_until'> | undefined;
    return row ? num(row.blocked_until) : null;
  }

  /** Deletes the rows whose window and block have both ended by `now`; returns how many. */
  async purgeExpired(now: number): Promise<number> {
    return this.db(TABLE).where('expires_at', '<=', now).delete();
  }
}
