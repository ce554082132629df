/**
 * Throttling with counters in the shared database, so a limit holds across every instance.
 *
 * The counters live in the store (src/store/throttle.ts): each hit is one atomic statement that
 * counts the event and returns the count, so of N concurrent hits on a key with `points` P exactly P
 * are allowed, whichever instance makes them. This file only decides what a count means.
 * Time comes from the injected clock (epoch milliseconds), like every other expiry in the store.
 */
import type { Clock } from '../clock.ts';
import type { ThrottleStore } from '../store/throttle.ts';

export { storedKey } from '../store/throttle.ts';

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

function assertLimit(limit: Limit): void {
  if (!Number.isInteger(limit.points) || limit.points < 1) throw new RangeError(`throttle: points must be a positive integer, got ${limit.points}`);
  if (!Number.isFinite(limit.windowSeconds) || limit.windowSeconds <= 0) throw new RangeError(`throttle: windowSeconds must be positive, got ${limit.windowSeconds}`);
}

export class Throttle {
  readonly #store: ThrottleStore;
  readonly #clock: Clock;

  constructor(store: ThrottleStore, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /**
   * Counts one event for `key` under `limit`; allowed is false once more than `points` events happened
   * in the window. The window (fixed) starts with the first event after the previous one ended. Refused
   * events are counted too. While the key is blocked (block()) every hit is refused.
   */
  async hit(key: string, limit: Limit): Promise<HitResult> {
    return (await this.#count(key, limit)).result;
  }

  /**
   * Like hit(), for an event that is only known to count after the work it guards (e.g. a sign-in,
   * where only failures count): the point is taken before the work, so concurrent callers can never
   * all slip under the limit, and `giveBack()` takes it back when the event turns out not to count.
   * A point is given back only within the window it was taken in.
   */
  async take(key: string, limit: Limit): Promise<HitResult & { giveBack(): Promise<void> }> {
    const { result, windowExpiresAt } = await this.#count(key, limit);
    return { ...result, giveBack: () => this.#store.uncount(key, windowExpiresAt) };
  }

  async #count(key: string, limit: Limit): Promise<{ result: HitResult; windowExpiresAt: number }> {
    assertLimit(limit);
    const now = this.#clock.now();
    const counter = await this.#store.count(key, now, now + limit.windowSeconds * 1000);
    const windowExpiresAt = counter.windowExpiresAt;
    const blockedUntil = counter.blockedUntil ?? 0;
    const over = counter.points > limit.points;
    const blocked = blockedUntil > now;
    if (!over && !blocked) return { result: { allowed: true, remaining: limit.points - counter.points, retryAfterSeconds: 0 }, windowExpiresAt };
    const waitMs = Math.max(over ? windowExpiresAt - now : 0, blocked ? blockedUntil - now : 0);
    const result = {
      allowed: false,
      remaining: blocked ? 0 : Math.max(limit.points - counter.points, 0),
      retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)),
    };
    return { result, windowExpiresAt };
  }

  /** How many events are counted now (without adding): 0 when the window has ended. */
  async peek(key: string, limit: Limit): Promise<number> {
    assertLimit(limit);
    return this.#store.points(key, this.#clock.now());
  }

  /** Forgets a key: its counter and any block on it (e.g. counters reset after a successful reset). */
  async reset(key: string): Promise<void> {
    await this.#store.delete(key);
  }

  /**
   * Blocks a key for `seconds` (e.g. an account blocked from SSPR for 24 h). A block only ever grows:
   * a shorter block leaves a longer one in place; reset() lifts it. The key's counter is kept.
   */
  async block(key: string, seconds: number): Promise<void> {
    if (!Number.isFinite(seconds) || seconds <= 0) throw new RangeError(`throttle: block seconds must be positive, got ${seconds}`);
    await this.#store.block(key, this.#clock.now() + seconds * 1000);
  }

  /** Seconds left of a block (rounded up), or 0. */
  async blockedFor(key: string): Promise<number> {
    const until = await this.#store.blockedUntil(key);
    if (until === null) return 0;
    const left = until - this.#clock.now();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  /** Deletes the rows whose window and block have both ended; returns how many. */
  async purgeExpired(): Promise<number> {
    return this.#store.purgeExpired(this.#clock.now());
  }
}
