/**
 * The SSPR limits of the reset flow (`sspr.limits`): resets per day, e-mails, phone calls and texts,
 * security-question attempts, the block that follows exceeding one, and the once-an-hour contact
 * request. Kept per typed user id (normalised), so an unknown id is counted and blocked exactly
 * like a real one, and a real account is the same key however its name is typed. No HTTP here.
 */
import type { Config } from '../../config/schema.ts';
import type { Throttle } from '../../security/throttle.ts';
import { usernameKey } from '../../users/names.ts';
import type { ResetAudit, Where } from './audit.ts';
import { Service } from '../../service.ts';

export type SpendKind = 'email' | 'phone' | 'questions';

export class ResetLimits extends Service<{ throttle: Throttle; config: () => Config; audit: ResetAudit }> {
  #key(kind: string, typed: string): string {
    return `sspr:${kind}:${usernameKey(typed).slice(0, 256)}`;
  }

  /** Whether the typed id is blocked from SSPR now. */
  async blocked(typed: string): Promise<boolean> {
    return (await this.deps.throttle.blockedFor(this.#key('block', typed))) > 0;
  }

  /** Blocks the typed id from SSPR for `sspr.limits.blockHours`, audited with the limit exceeded. */
  async block(typed: string, userId: string | undefined, where: Where, limit: string): Promise<void> {
    await this.deps.throttle.block(this.#key('block', typed), this.deps.config().sspr.limits.blockHours * 3600);
    await this.deps.audit('sspr.blocked', userId, where, 'failure', { limit });
  }

  /** Counts one started reset (`resetsPerDay`); on exceeding it the typed id is blocked. */
  async startReset(typed: string, userId: string | undefined, where: Where): Promise<boolean> {
    const hit = await this.deps.throttle.hit(this.#key('resets', typed), { points: this.deps.config().sspr.limits.resetsPerDay, windowSeconds: 86_400 });
    if (!hit.allowed) await this.block(typed, userId, where, 'resets');
    return hit.allowed;
  }

  /** Counts one costly action; on exceeding its limit the typed id is blocked. */
  async spend(typed: string, kind: SpendKind, userId: string | undefined, where: Where): Promise<boolean> {
    const limits = this.deps.config().sspr.limits;
    const limit = { email: { points: limits.emailsPer10Minutes, windowSeconds: 600 }, phone: { points: limits.phonePerHour, windowSeconds: 3600 }, questions: { points: limits.questionsPerHour, windowSeconds: 3600 } }[kind];
    const hit = await this.deps.throttle.hit(this.#key(kind, typed), limit);
    if (!hit.allowed) await this.block(typed, userId, where, kind);
    return hit.allowed;
  }

  /**
   * After a successful reset or unlock every SSPR counter of the account starts again. A block is no
   * counter: a flow can only finish while there is none, and one set meanwhile stays.
   */
  async resetCounters(typed: string): Promise<void> {
    for (const kind of ['resets', 'email', 'phone', 'questions']) await this.deps.throttle.reset(this.#key(kind, typed));
  }

  /** True for the first contact request of the typed id in an hour (one atomic counter in the shared database). */
  async firstContact(typed: string): Promise<boolean> {
    return (await this.deps.throttle.hit(this.#key('contact', typed), { points: 1, windowSeconds: 3600 })).allowed;
  }
}
