/** Deleting expired rows: the jobs, and the timer that runs them. */
import type { Store } from '../store/index.ts';
import type { Throttle } from '../security/throttle.ts';
import type { Logger } from '../logging.ts';
import type { Clock } from '../clock.ts';

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

export interface Purger {
  purge(): Promise<number>;
  startPurge(intervalMs: number): () => void;
  /** Stops every timer and waits for the runs under way. */
  stop(): Promise<void>;
}

export function createPurger(deps: { store: Store; throttle: Throttle; clock: Clock; log: Logger; auditRetentionDays: () => number }): Purger {
  const { store, throttle, clock, log } = deps;
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<unknown>>();

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
      ['audit_events', () => store.audit.purgeOlderThan(now - deps.auditRetentionDays() * 86_400_000)],
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
    purge,
    startPurge(intervalMs) {
      if (!Number.isFinite(intervalMs) || intervalMs <= 0) throw new RangeError(`startPurge: intervalMs must be a positive number, got ${intervalMs}`);
      let current: Promise<unknown> | undefined;
      const timer = setInterval(() => {
        if (current) return;
        const run = purge()
          .catch((error: unknown) => log.warn({ err: { message: (error as Error).message } }, 'purge failed'))
          .finally(() => {
            current = undefined;
            running.delete(run);
          });
        current = run;
        running.add(run);
      }, intervalMs);
      timer.unref();
      timers.add(timer);
      return () => {
        clearInterval(timer);
        timers.delete(timer);
      };
    },
    async stop() {
      for (const timer of timers) clearInterval(timer);
      timers.clear();
      await Promise.allSettled([...running]);
    },
  };
}
